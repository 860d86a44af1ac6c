"""The core must stay usable headless: importing any of it must never pull in Qt."""

import pkgutil
import subprocess
import sys

import simdesk.core
import simdesk.eval


def test_core_imports_with_qt_blocked():
    modules = [m.name for m in pkgutil.walk_packages(simdesk.core.__path__, "simdesk.core.")]
    modules += [m.name for m in pkgutil.walk_packages(simdesk.eval.__path__, "simdesk.eval.")]
    assert {"simdesk.core.indexer", "simdesk.core.duplicates.grouping", "simdesk.eval.retrieval"} <= set(modules)
    code = (
        "import sys\n"
        "class BlockQt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6'):\n"
        "            raise ImportError('Qt is blocked: the core must not import it')\n"
        "sys.meta_path.insert(0, BlockQt())\n"
        f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
        "import simdesk.cli\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
