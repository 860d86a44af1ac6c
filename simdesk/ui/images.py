"""Decoding photos and thumbnails into ``QImage`` on worker threads, without holding the GIL.

``QImage.fromData`` and ``QImageReader.read`` keep Python's GIL for the whole decode (a 12 MP
JPEG: about 200 ms in which the GUI thread cannot run a line of Python). Pillow releases the GIL
while it decodes and resizes, so the pixels are made with Pillow and only copied into a
``QImage`` (in the layout ``QPixmap.fromImage`` takes without converting).
"""

from __future__ import annotations

import io
import os

from PIL import Image, ImageOps
from PySide6.QtGui import QImage


def pil_to_qimage(img: Image.Image) -> QImage:
    if img.mode != "RGB":
        img = img.convert("RGB")
    raw = img.tobytes("raw", "BGRX")  # = QImage.Format_RGB32 on little- and big-endian alike
    width, height = img.size
    return QImage(raw, width, height, 4 * width, QImage.Format.Format_RGB32).copy()


def decode(source: bytes | str | os.PathLike, max_side: int, upright: bool = True) -> QImage | None:
    """An image file's pixels scaled to fit a ``max_side`` square (never enlarged); None if it
    cannot be decoded. ``upright`` applies the EXIF orientation. Safe on any thread."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            img.draft("RGB", (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
            if upright:
                img = ImageOps.exif_transpose(img)
            img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
            return pil_to_qimage(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, MemoryError):
        return None


def load_image(path: str, max_side: int) -> QImage | None:
    """The photo at ``path``, upright and scaled to fit ``max_side``; None if unreadable.

    Read like the indexer reads (a regular file within its size limit), so a dropped FIFO or a
    link to /dev/zero never hangs nor fills memory.
    """
    from simdesk.core.indexer import MAX_FILE_BYTES
    from simdesk.core.paths import ChangedWhileReading, read_file_stable

    try:
        data, _ = read_file_stable(path, max_bytes=MAX_FILE_BYTES)
    except (OSError, ChangedWhileReading):
        return None
    return decode(data, max_side)


def decode_thumbnail(data: bytes, max_side: int) -> QImage | None:
    """A cached JPEG thumbnail (already upright) scaled to fit ``max_side``."""
    return decode(data, max_side, upright=False)


def decode_square_thumbnail(data: bytes, side: int) -> QImage | None:
    """A cached JPEG thumbnail cropped to its centre square and at most ``side`` pixels (the map
    draws photos as squares)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (side, side))
            img = img.convert("RGB")
            w, h = img.size
            s = min(w, h)
            img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            if s > side:
                img = img.resize((side, side), Image.Resampling.LANCZOS)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, MemoryError):
        return None
    return pil_to_qimage(img)
