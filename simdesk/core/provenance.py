"""Where a photo's file came from: the camera that took it, the program that last saved it, and
the JPEG quality it was saved at. Read once while decoding (the EXIF is already parsed then).

The duplicate scan uses this to keep the camera original of a group of copies: a copy exported by
an editor usually says so in EXIF Software, and a copy saved at a higher JPEG quality than the
original is bigger without holding more of the picture, so file size only counts between copies
saved at the same quality.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_MAKE_TAG = 0x010F
_MODEL_TAG = 0x0110
_SOFTWARE_TAG = 0x0131

# Programs that re-save photos. Cameras and phones write their firmware in the same tag
# ("Ver.1.00", "iOS 17.1", "HDR+ 1.0.5"), so only a known editor or converter marks an edited file.
_EDITORS = re.compile(
    r"photoshop|lightroom|gimp|snapseed|picasa|paint\.net|acdsee|affinity|darktable|rawtherapee|"
    r"digikam|pixelmator|capture one|luminar|photoscape|photos? (?:editor|viewer)|imagemagick|"
    r"microsoft photos|windows photo|google photos|apple photos|"
    r"graphicsmagick|irfanview|xnview|fotor|canva|photopea|krita|shotwell|gthumb|paintshop|"
    r"corel|photodirector|inpixio|facetune|vsco|lightzone|on1 |dxo|picsart|instagram|"
    r"polarr|pillow|python|libvips|squoosh|mozjpeg|jpegoptim|guetzli|preview",
    re.IGNORECASE,
)

# The IJG standard luminance table (natural order) that JPEG encoders scale by quality.
_STD_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)


def _scaled_table_sum(quality: int) -> int:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return sum(min(255, max(1, (v * scale + 50) // 100)) for v in _STD_LUMINANCE)


_TABLE_SUMS = {q: _scaled_table_sum(q) for q in range(1, 101)}


@dataclass(frozen=True)
class Provenance:
    camera: str | None = None  # "Make Model" from EXIF, when the file names a camera
    software: str | None = None  # EXIF Software, as written
    jpeg_quality: int | None = None  # 1..100 estimated from the quantisation tables; None if not JPEG

    @property
    def edited(self) -> bool:
        """The file says a known editor saved it."""
        return bool(self.software and _EDITORS.search(self.software))

    @property
    def camera_original(self) -> bool:
        """The file names a camera and no editor: as the camera wrote it, as far as it says."""
        return self.camera is not None and not self.edited


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.strip("\x00 \t\r\n")
    return value[:120] or None


def jpeg_quality(img: Any) -> int | None:
    """The IJG quality whose luminance table is closest to the file's (sums compared: the sum is
    monotonic in quality and does not depend on the order Pillow lists the table in)."""
    tables = getattr(img, "quantization", None)
    if not tables:
        return None
    try:
        luminance = tables[min(tables)]
        total = int(sum(int(v) for v in luminance))
    except (TypeError, ValueError):
        return None
    if len(luminance) != 64:
        return None
    return min(_TABLE_SUMS, key=lambda q: (abs(_TABLE_SUMS[q] - total), -q))


def read_provenance(img: Any, exif: Any) -> Provenance:
    """Never raises: fields it cannot read are None."""
    try:
        make, model = _text(exif.get(_MAKE_TAG)), _text(exif.get(_MODEL_TAG))
        software = _text(exif.get(_SOFTWARE_TAG))
    except Exception:
        make = model = software = None
    camera = None
    if make or model:
        # Many makers repeat the make in the model ("Canon" + "Canon EOS 80D").
        camera = model if make and model and model.lower().startswith(make.lower()) else \
            " ".join(p for p in (make, model) if p)
    quality = jpeg_quality(img) if getattr(img, "format", None) in ("JPEG", "MPO") else None
    return Provenance(camera, software, quality)
