"""Shared set-up of the fault-injection scripts: an isolated library, the tiny test model, photos."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from conftest import TINY_MODEL, draw_photo, install_tiny_model  # noqa: E402


class Sandbox:
    """A temporary HOME of its own: library, models, photos and the Trash (XDG_DATA_HOME)."""

    def __init__(self, keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="simdesk-faults-"))
        self.keep = keep
        self.library = self.root / "library"
        self.models = self.root / "models"
        self.photos = self.root / "photos"
        self.trash = self.root / "xdg" / "Trash"
        self.env = {**os.environ, "SIMDESK_LIBRARY": str(self.library), "SIMDESK_MODELS_DIR": str(self.models),
                    "XDG_DATA_HOME": str(self.root / "xdg"), "PYTHONHASHSEED": "0",
                    "OMP_NUM_THREADS": "1",
                    # Like a terminal under LC_ALL=en_US.UTF-8: a name that is not UTF-8 cannot be
                    # printed as it is (the C locale would silently surrogate-escape it).
                    "PYTHONIOENCODING": "utf-8:strict"}
        os.environ.update({k: self.env[k] for k in ("SIMDESK_LIBRARY", "SIMDESK_MODELS_DIR", "XDG_DATA_HOME")})
        install_tiny_model(self.models)

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def draw(self, count: int, copies: int = 0) -> None:
        """``count`` distinct photos, and ``copies`` byte-identical copies of the first few."""
        for i in range(count):
            draw_photo(self.photos / f"p{i // 10}" / f"photo_{i}.jpg", seed=i, quality=90)
        for i in range(copies):
            src = self.photos / "p0" / f"photo_{i % max(1, min(count, 5))}.jpg"
            dst = self.photos / "copies" / f"copy_{i}.jpg"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)

    def cli(self, *args: str) -> list[str]:
        # Not -m simdesk.cli: the same call works whether cli is a module or a package.
        return [sys.executable, "-c", "import sys; from simdesk.cli import main; sys.exit(main(sys.argv[1:]))",
                *args]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(self.cli(*args), env=self.env, capture_output=True, text=True,
                              timeout=timeout, errors="replace")

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.cli(*args), env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    # -- checks ------------------------------------------------------------------------------

    def integrity(self) -> str:
        db_path = self.library / "library.db"
        if not db_path.exists():
            return "ok"
        db = sqlite3.connect(db_path)
        try:
            return db.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            db.close()

    def photo_count(self) -> int:
        db = sqlite3.connect(self.library / "library.db")
        try:
            return db.execute("SELECT count(*) FROM photos").fetchone()[0]
        finally:
            db.close()


def sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def files_under(folder: Path) -> dict[str, str]:
    """path -> sha256 of every regular file under ``folder``."""
    found = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                found[str(path)] = sha256(path)
    return found
