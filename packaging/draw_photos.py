"""Draw a few small test photos for the smoke test: red discs and blue stripes, in two groups
that any image model tells apart; one disc as HEIC too when pillow-heif is installed.
Usage: python draw_photos.py FOLDER"""

import sys
from pathlib import Path

from PIL import Image, ImageDraw


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        image = Image.new("RGB", (320, 240), (250, 246, 230))
        draw = ImageDraw.Draw(image)
        r = 50 + 12 * i
        draw.ellipse((160 - r + 8 * i, 120 - r, 160 + r + 8 * i, 120 + r), fill=(210, 30 + 10 * i, 40))
        image.save(out / f"disc-{i}.jpg", quality=90)
    for i in range(4):
        image = Image.new("RGB", (320, 240), (20, 40, 120))
        draw = ImageDraw.Draw(image)
        for x in range(-240, 320, 28 + 4 * i):
            draw.line((x, 240, x + 240, 0), fill=(120, 200, 255), width=9)
        image.save(out / f"stripes-{i}.png")
    try:
        import pillow_heif
    except ImportError:
        return
    pillow_heif.register_heif_opener()
    Image.open(out / "disc-3.jpg").rotate(5, fillcolor=(250, 246, 230)).save(out / "disc-4.heic")


if __name__ == "__main__":
    main(sys.argv[1])
