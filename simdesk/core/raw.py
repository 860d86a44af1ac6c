"""Camera RAW photos, through LibRaw (``rawpy``, the ``raw`` extra), and the video files a photo
folder holds, which are reported, not silently passed over.

A RAW file is recognised by its bytes, so every caller of ``decode_image`` gets it: the magic of
the formats that have one (CR2, RAF, ORF, RW2), else a TIFF layout whose first image is a reduced
preview with the sensor data in sub-images (DNG, NEF, ARW, ...). The camera's embedded JPEG
preview is used where there is one (full-size on most cameras, and fast); else LibRaw develops
the sensor data at half size.
"""

from __future__ import annotations

import io
import struct
from typing import Any

RAW_EXTENSIONS = frozenset({".cr2", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mts", ".m2ts",
                              ".3gp", ".wmv", ".mpg", ".mpeg", ".flv"})
RAW_INSTALL_HINT = "pip install 'simdesk[raw]'"
VIDEO_REASON = "video: not a photo"

_DNG_VERSION, _NEW_SUBFILE_TYPE, _SUB_IFDS = 50706, 254, 330


def _tiff_is_raw(head: bytes) -> bool:
    """A TIFF whose first directory names a DNG version, or is a reduced-size preview with
    sub-images (where cameras put the sensor data)."""
    end = "<" if head[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(end + "I", head, 4)
        (count,) = struct.unpack_from(end + "H", head, offset)
        tags = {}
        for i in range(min(count, 512)):
            tag, kind, _, value = struct.unpack_from(end + "HHII", head, offset + 2 + 12 * i)
            if kind == 3 and end == ">":  # a SHORT sits in the first two bytes of the field
                value >>= 16
            elif kind == 3:
                value &= 0xFFFF
            tags[tag] = value
    except struct.error:
        return False
    return _DNG_VERSION in tags or (tags.get(_NEW_SUBFILE_TYPE) == 1 and _SUB_IFDS in tags)


def raw_kind(data: bytes) -> str | None:
    """'RAW' when ``data`` looks like a camera RAW file, else None."""
    head = bytes(data[:65536])
    if head.startswith(b"FUJIFILMCCD-RAW") or head[:4] in (b"IIRO", b"IIRS", b"MMOR", b"IIU\0"):
        return "RAW"
    if head[:4] in (b"II*\0", b"MM\0*"):
        if head[8:10] == b"CR" or _tiff_is_raw(head):
            return "RAW"
    return None


def rawpy_available() -> bool:
    try:
        import rawpy  # noqa: F401  (pyflakes: only whether it imports)
    except ImportError:
        return False
    return True


def open_raw(data: bytes) -> Any:
    """A PIL image of a RAW file: its embedded preview, else the sensor data developed at half
    size. Raises ImportError without rawpy, rawpy's errors for files LibRaw cannot read."""
    import numpy as np
    import rawpy
    from PIL import Image

    with rawpy.imread(io.BytesIO(data)) as raw:
        try:
            thumb = raw.extract_thumb()
        except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
            thumb = None
        if thumb is not None and thumb.format == rawpy.ThumbFormat.JPEG:
            image = Image.open(io.BytesIO(thumb.data))
            image.load()
        elif thumb is not None and thumb.format == rawpy.ThumbFormat.BITMAP:
            image = Image.fromarray(np.asarray(thumb.data, dtype=np.uint8))
        else:
            image = Image.fromarray(raw.postprocess(use_camera_wb=True, half_size=True, output_bps=8))
    image.format = "RAW"
    return image
