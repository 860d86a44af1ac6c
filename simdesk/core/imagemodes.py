"""Pillow mode conversion: any image mode to 8-bit RGB, for :mod:`simdesk.core.decode`."""

from __future__ import annotations

import numpy as np
from PIL import Image


def _composite_on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba.convert("RGB"), (0, 0), rgba.getchannel("A"))
    return background


def _high_bit_depth_to_l(img: Image.Image) -> Image.Image:
    """I;16*, I and F greyscale to 8-bit L by scaling, not clipping.

    (``convert("L")`` clips: every 16-bit value above 255 becomes white.)
    16-bit data is scaled by its full range 0..65535; I and F data outside
    the usual ranges are min-max stretched.
    """
    arr = np.asarray(img)
    if arr.dtype.kind in "ui":
        lo = int(arr.min()) if arr.size else 0
        hi = int(arr.max()) if arr.size else 0
        if lo >= 0 and hi <= 65535:
            out = (arr.astype(np.uint16, copy=False) >> 8).astype(np.uint8)
        else:
            span = max(hi - lo, 1)
            out = ((arr.astype(np.float64) - lo) * (255.0 / span) + 0.5).astype(np.uint8)
    else:
        arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        lo = float(arr.min()) if arr.size else 0.0
        hi = float(arr.max()) if arr.size else 0.0
        if lo >= 0.0 and hi <= 1.0:
            scaled = arr * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            scaled = arr
        elif lo >= 0.0 and hi <= 65535.0:
            scaled = arr / 257.0
        else:
            scaled = (arr - lo) * (255.0 / max(hi - lo, 1e-12))
        out = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(out))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparency is composited onto white."""
    mode = img.mode
    has_trns = "transparency" in img.info
    if mode == "RGB":
        return _composite_on_white(img.convert("RGBA")) if has_trns else img
    if mode == "La":  # premultiplied; Pillow has no direct La -> RGBA conversion
        img, mode = img.convert("LA"), "LA"
    if mode in ("RGBA", "LA", "PA", "RGBa"):
        return _composite_on_white(img if mode == "RGBA" else img.convert("RGBA"))
    if mode in ("P", "L") and has_trns:
        return _composite_on_white(img.convert("RGBA"))
    if mode == "P" and img.palette is not None and img.palette.mode == "RGBA":
        return _composite_on_white(img.convert("RGBA"))
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _high_bit_depth_to_l(img).convert("RGB")
    # L, 1, P, CMYK (Pillow already undoes Adobe's inverted CMYK), YCbCr, LAB, HSV
    return img.convert("RGB")
