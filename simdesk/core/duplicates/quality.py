"""A cheap sharpness and exposure hint per photo, to pick the best shot of a burst.

Measured on the thumbnail the library already stores (no decode of the photo itself), scaled to
the same longest side (``SIDE``) so that photos of different sizes compare:

* **sharpness**: the variance of the Laplacian of the grey thumbnail (Pech-Pacheco et al. 2000), a
  standard focus measure: a blurred or shaken frame has weaker edges, hence a lower variance. Only
  comparable between shots of one scene (a busy scene scores higher than a plain one).
* **exposure**: the mean grey level (0-255) and the share of pixels clipped to black (< 5) or to
  white (> 250).

About 2.5 ms a photo here (a 256 x 192 thumbnail: JPEG decode and one 3x3 filter; 500 runs on
a shared 2-core machine); computed only for the similar shots the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

SIDE = 256
DARK, LIGHT = 5, 250
CLIPPED = 0.05  # more than this share of clipped pixels reads as under- or over-exposed


@dataclass(frozen=True)
class ShotQuality:
    sharpness: float  # variance of the Laplacian of the grey thumbnail at SIDE px
    brightness: float  # mean grey level, 0-255
    dark: float  # share of pixels below DARK
    light: float  # share of pixels above LIGHT

    @property
    def exposure(self) -> str:
        if self.light > CLIPPED and self.light >= self.dark:
            return "bright (highlights clipped)"
        if self.dark > CLIPPED:
            return "dark (shadows clipped)"
        return "well exposed"


def measure(thumbnail_jpeg: bytes) -> ShotQuality | None:
    """The hint for one stored thumbnail (JPEG bytes); None if it cannot be decoded."""
    import cv2

    grey = cv2.imdecode(np.frombuffer(thumbnail_jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None or grey.size == 0:
        return None
    h, w = grey.shape
    scale = SIDE / max(h, w)
    if abs(scale - 1) > 1e-3:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=1)
    return ShotQuality(float(lap.var()), float(grey.mean()), float((grey < DARK).mean()),
                       float((grey > LIGHT).mean()))


def measure_all(thumbnails: Mapping[bytes, bytes]) -> dict[bytes, ShotQuality]:
    """Hints by content hash for a ``{content hash: thumbnail JPEG}`` mapping."""
    out = {}
    for chash, data in thumbnails.items():
        q = measure(data)
        if q is not None:
            out[chash] = q
    return out
