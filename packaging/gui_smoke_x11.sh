#!/usr/bin/env bash
# Start the desktop app ($XVFB_APP) on an X display (run under xvfb-run), check its main window
# appears with the WM_CLASS and app id of the desktop entry and with the app icon set, then close
# it as Ctrl-C does. Uses the Qt xcb platform plugin from the bundle. Called by build_linux.sh.
set -euo pipefail
: "${XVFB_APP:?set XVFB_APP to the simdesk binary}"

log=$(mktemp)
"$XVFB_APP" > "$log" 2>&1 &
pid=$!
window=""
for _ in $(seq 1 120); do
    # The main window is the top-level one with WM_CLASS ("simdesk" "simdesk").
    window=$(xwininfo -root -tree 2>/dev/null | awk '/"simdesk": \("simdesk" "simdesk"\)/ && !found {print $1; found = 1}')
    [ -n "$window" ] && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.5
done
if [ -z "$window" ]; then
    kill "$pid" 2> /dev/null || true
    cat "$log"
    echo "FAILED: no simdesk window appeared" >&2
    exit 1
fi
xprop -id "$window" WM_CLASS _NET_WM_NAME _GTK_APPLICATION_ID
# Desktops match the window to io.github.simdesk.Simdesk.desktop (and its icon) by this id.
app_id=$(xprop -id "$window" _GTK_APPLICATION_ID)
[[ $app_id == *'"io.github.simdesk.Simdesk"' ]] || { kill "$pid"; echo "FAILED: app id: $app_id" >&2; exit 1; }
icon=$(xprop -id "$window" _NET_WM_ICON | sed -n 1p)
echo "$icon"
[[ $icon == *"Icon ("* ]] || { kill "$pid"; echo "FAILED: the window has no icon" >&2; exit 1; }
sleep 1
kill -INT "$pid"
status=0
wait "$pid" || status=$?
cat "$log"
[ "$status" = 0 ] || { echo "FAILED: the app exited with $status after Ctrl-C" >&2; exit 1; }
echo "The desktop app started on X11, showed its window with the icon, and closed cleanly."
