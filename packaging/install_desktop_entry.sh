#!/usr/bin/env bash
# Put simdesk in the desktop's application menu, with its icon: installs the desktop entry, the
# icons and the AppStream metainfo under a data folder (default: yours, ~/.local/share).
#
#   install_desktop_entry.sh [--data-dir DIR] [--exec PATH] [--uninstall]
#
# --exec: the simdesk to start. Default: the app next to this script when it lies in the
# PyInstaller bundle (packaging/dist/simdesk/), else `simdesk` as found on PATH (a pip install),
# else the source tree's .venv/bin/simdesk (the README's install).
# Distribution packagers install resources/ into /usr/share themselves (see packaging/README.md).
set -euo pipefail

APP_ID=io.github.simdesk.Simdesk
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
EXEC=""
UNINSTALL=0
while [ $# -gt 0 ]; do
    case $1 in
        --data-dir) DATA=$2; shift 2 ;;
        --exec) EXEC=$2; shift 2 ;;
        --uninstall) UNINSTALL=1; shift ;;
        *) echo "usage: $0 [--data-dir DIR] [--exec PATH] [--uninstall]" >&2; exit 2 ;;
    esac
done

if [ -d "$HERE/_internal/simdesk/_resources" ]; then  # inside the bundle
    RES=$HERE/_internal/simdesk/_resources
    : "${EXEC:=$HERE/simdesk}"
else  # packaging/ in the source tree
    RES=$(dirname "$HERE")/resources
    # simdesk on PATH (an activated venv, pipx), else the source tree's own .venv: the entry
    # holds the absolute path, so the menu starts it without activating anything.
    : "${EXEC:=$(command -v simdesk || true)}"
    [ -n "$EXEC" ] || [ ! -x "$(dirname "$HERE")/.venv/bin/simdesk" ] || EXEC=$(dirname "$HERE")/.venv/bin/simdesk
fi
[ -f "$RES/$APP_ID.desktop" ] || { echo "no simdesk resources in $RES" >&2; exit 1; }

refresh() {
    if command -v update-desktop-database > /dev/null; then
        update-desktop-database -q "$DATA/applications" || true
    fi
    if command -v gtk-update-icon-cache > /dev/null && [ -f "$DATA/icons/hicolor/index.theme" ]; then
        gtk-update-icon-cache -q -t -f "$DATA/icons/hicolor" || true
    fi
}

icons=$(cd "$RES/icons" && find hicolor -name "$APP_ID.*" | sort)
if [ "$UNINSTALL" = 1 ]; then
    rm -f "$DATA/applications/$APP_ID.desktop" "$DATA/metainfo/$APP_ID.metainfo.xml"
    for icon in $icons; do rm -f "$DATA/icons/$icon"; done
    refresh
    echo "Removed simdesk's desktop entry, icons and metainfo from $DATA"
    exit 0
fi

[ -n "$EXEC" ] || { echo "simdesk is not on PATH: give its path with --exec" >&2; exit 1; }
[ -x "$EXEC" ] || EXEC=$(command -v "$EXEC") || { echo "cannot run $EXEC" >&2; exit 1; }
EXEC=$(cd "$(dirname "$EXEC")" && pwd)/$(basename "$EXEC")  # absolute: the menu has no venv on PATH
case $EXEC in
    *[\"\`\$\\]*) echo "the path $EXEC has characters a desktop entry cannot hold" >&2; exit 1 ;;
    *[[:space:]]*) exec_line="Exec=\"$EXEC\"" ;;
    *) exec_line="Exec=$EXEC" ;;
esac

mkdir -p "$DATA/applications" "$DATA/metainfo"
sed "s|^Exec=.*|$exec_line|" "$RES/$APP_ID.desktop" > "$DATA/applications/$APP_ID.desktop"
cp "$RES/$APP_ID.metainfo.xml" "$DATA/metainfo/"
for icon in $icons; do
    mkdir -p "$DATA/icons/$(dirname "$icon")"
    cp "$RES/icons/$icon" "$DATA/icons/$icon"
done
refresh
echo "Installed simdesk's desktop entry ($exec_line), icons and metainfo under $DATA"
