"""EXIF metadata of an opened Pillow image: capture time and orientation.

Used by :mod:`simdesk.core.decode`; garbled metadata never raises out of here.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from PIL import Image

__all__ = ["read_exif_capture_time"]

_ORIENTATION_TAG = 0x0112
_EXIF_IFD_TAG = 0x8769
_DATETIME_TAG = 0x0132
_DATETIME_ORIGINAL_TAG = 0x9003
_SUBSEC_TIME_TAG = 0x9290
_SUBSEC_TIME_ORIGINAL_TAG = 0x9291


_EXIF_DATETIME_RE = re.compile(
    r"^\s*(\d{4})[:\-./](\d{1,2})[:\-./](\d{1,2})"
    r"(?:[ T]+(\d{1,2})[:.](\d{1,2})(?:[:.](\d{1,2}))?)?"
)


def _parse_exif_datetime(value: Any, subsec: Any = None) -> float | None:
    """'YYYY:MM:DD HH:MM:SS' (+ optional SubSecTime digits) -> POSIX seconds, naive = UTC."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    match = _EXIF_DATETIME_RE.match(value.strip("\x00 "))
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    if year < 1800:  # "0000:00:00 00:00:00" and friends
        return None
    try:
        stamp = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc).timestamp()
    except (ValueError, OverflowError):
        return None
    if subsec is not None:
        if isinstance(subsec, bytes):
            subsec = subsec.decode("ascii", "replace")
        digits = re.match(r"\s*(\d{1,9})", str(subsec).strip("\x00 "))
        if digits:
            stamp += int(digits.group(1)) / 10 ** len(digits.group(1))
    return stamp


def _capture_time_from_exif(exif: Any) -> float | None:
    try:
        sub = exif.get_ifd(_EXIF_IFD_TAG)
    except Exception:
        sub = {}
    candidates = (
        (sub.get(_DATETIME_ORIGINAL_TAG), sub.get(_SUBSEC_TIME_ORIGINAL_TAG)),
        (exif.get(_DATETIME_ORIGINAL_TAG), None),  # misplaced in IFD0 by some writers
        (exif.get(_DATETIME_TAG), sub.get(_SUBSEC_TIME_TAG)),
    )
    for value, subsec in candidates:
        try:
            stamp = _parse_exif_datetime(value, subsec)
        except Exception:
            stamp = None
        if stamp is not None:
            return stamp
    return None


def read_exif_capture_time(img: Image.Image) -> float | None:
    """EXIF DateTimeOriginal (else DateTime) of an opened image as POSIX seconds.

    The EXIF time has no zone; it is read as if it were UTC, so sorting and
    differences are right and the wall-clock value round-trips through
    ``datetime.fromtimestamp(t, timezone.utc)``. Never raises: None if absent
    or garbled.
    """
    try:
        return _capture_time_from_exif(img.getexif())
    except Exception:
        return None


def _orientation(exif: Any) -> int:
    try:
        value = exif.get(_ORIENTATION_TAG, 1)
        if isinstance(value, (tuple, list)):
            value = value[0]
        value = int(value)
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
