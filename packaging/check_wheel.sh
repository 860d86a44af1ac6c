#!/usr/bin/env bash
# Build the sdist and the wheel with `python -m build`, check both carry the resources, install
# the wheel in a fresh virtual environment, and use it there from outside the source tree:
# `simdesk --version`, the resources through importlib.resources, and the README's first steps
# (install the offline model, index a few photos, find similar ones).
#
#   packaging/check_wheel.sh                  # with python3
#   PYTHON=python3.10 packaging/check_wheel.sh   # the oldest Python simdesk supports
#
# Outputs (not committed): packaging/build/wheelcheck/ (the venvs), packaging/dist/python/ (the
# sdist and the wheel).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PYTHON=${PYTHON:-python3}
WORK=$HERE/build/wheelcheck
DIST=$HERE/dist/python
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

t0=$(date +%s)
rm -rf "$WORK" "$DIST"
mkdir -p "$WORK" "$DIST"

echo "== python -m build (the sdist, then the wheel built from the sdist)"
"$PYTHON" -m venv "$WORK/buildenv"
"$WORK/buildenv/bin/python" -m pip install --quiet build
"$WORK/buildenv/bin/python" -m build --outdir "$DIST" "$ROOT" > "$WORK/build.log" 2>&1 \
    || { tail -30 "$WORK/build.log"; fail "python -m build"; }
wheel=$(ls "$DIST"/simdesk-*.whl)
sdist=$(ls "$DIST"/simdesk-*.tar.gz)
ls -l "$sdist" "$wheel"

echo "== What they hold"
"$WORK/buildenv/bin/python" - "$wheel" "$sdist" "$ROOT/resources" <<'EOF' || fail "resources missing"
import sys, tarfile, zipfile
from pathlib import Path

wheel, sdist, resources = sys.argv[1:]
expected = sorted(str(p.relative_to(resources)) for p in Path(resources).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
in_wheel = set(zipfile.ZipFile(wheel).namelist())
missing = [f for f in expected if f"simdesk/_resources/{f}" not in in_wheel]
assert not missing, f"the wheel lacks {missing}"
stray = sorted({n.split("/")[0] for n in in_wheel} - {"simdesk", Path(wheel).name.split("-py3")[0] + ".dist-info"})
assert not stray, f"the wheel has unexpected top-level entries {stray}"
names = tarfile.open(sdist).getnames()
missing = [f for f in expected if not any(n.endswith(f"/resources/{f}") for n in names)]
assert not missing, f"the sdist lacks {missing}"
print(f"wheel: {len(in_wheel)} files, the {len(expected)} resources under simdesk/_resources/; "
      f"sdist: {len(names)} entries, resources/ included")
EOF

echo "== A fresh virtual environment with the wheel"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet "$wheel"
t1=$(date +%s)

cd "$WORK"  # away from the source tree, so nothing is imported from it
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data XDG_CACHE_HOME=$tmp/cache
export SIMDESK_LIBRARY=$tmp/lib SIMDESK_MODELS_DIR=$tmp/models
export QT_QPA_PLATFORM=offscreen
"$WORK/venv/bin/simdesk" --version
"$WORK/venv/bin/python" - "$WORK/venv" <<'EOF' || fail "resources do not load from the installed wheel"
import sys
from pathlib import Path

from simdesk import resources

venv = Path(sys.argv[1]).resolve()
root = Path(str(resources.files())).resolve()
assert venv in root.parents, f"resources came from {root}, not the installed wheel"
icon = resources.resource(resources.icon_png(256))
assert Path(str(icon)).is_file() and resources.read_bytes(resources.icon_png(256))[:4] == b"\x89PNG"
assert "Icon=io.github.simdesk.Simdesk" in resources.read_text(resources.DESKTOP_FILE)

from PySide6.QtGui import QGuiApplication

app = QGuiApplication([])
icon_sizes = [s.width() for s in resources.app_icon().availableSizes()]
assert icon_sizes == list(resources.ICON_SIZES), icon_sizes
print(f"resources load from {root}; the 256 px icon is {icon}; app icon sizes {icon_sizes}")
EOF

echo "== The README's first steps with the installed command"
"$WORK/venv/bin/python" "$HERE/draw_photos.py" "$tmp/photos"
"$WORK/venv/bin/simdesk" models install efficientnet-lite0
# --model: without it, index uses the default model, ResNet-50, which is a download.
"$WORK/venv/bin/simdesk" index "$tmp/photos" --model efficientnet-lite0
"$WORK/venv/bin/simdesk" similar "$tmp/photos/disc-0.jpg" -k 3
t2=$(date +%s)
echo "== OK: $wheel ($(du -k "$wheel" | cut -f1) KB) with $("$WORK/venv/bin/python" -V);" \
     "build and install $((t1 - t0)) s, checks $((t2 - t1)) s"
