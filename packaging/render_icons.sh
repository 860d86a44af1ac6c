#!/bin/sh
# Render the app icon's PNG sizes from the SVG (needs rsvg-convert: Debian's librsvg2-bin).
# The PNGs are committed, so this only needs running after the SVG changes.
set -eu
cd "$(dirname "$0")/../resources/icons/hicolor"
APP_ID=io.github.simdesk.Simdesk
for size in 16 24 32 48 64 128 256 512; do
    mkdir -p "${size}x${size}/apps"
    rsvg-convert --width "$size" --height "$size" "scalable/apps/$APP_ID.svg" \
        --output "${size}x${size}/apps/$APP_ID.png"
done
ls -l ./*/apps/"$APP_ID".png
