"""Where two photos differ: a difference image after aligning one onto the other.

The alignment is the copy verification's own (``verify``): local features of both pictures, their
one-to-one matches, a similarity transform (scale, rotation, shift, optionally mirrored) fitted by
RANSAC. The second picture is warped onto the first, both are normalised to the same mean and
contrast (a recoloured copy is not "different everywhere"), lightly blurred (JPEG noise), and their
absolute difference is drawn in red over a dimmed grey copy of the first. When no transform fits
(too few matching points), the two are only resized to the same size and compared as they are:
``Difference.aligned`` says which, ``Difference.method`` says it in words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDE = 1024  # longest side the comparison runs at
MIN_ALIGN_INLIERS = 8
BLUR_SIGMA = 1.2
# Normalised differences (in standard deviations) below DIFF_FROM are not drawn (resampling and
# JPEG noise); from there they turn red, fully at DIFF_FULL; above CHANGED a pixel counts as changed.
DIFF_FROM, DIFF_FULL = 0.35, 1.0
CHANGED = 0.6


@dataclass(frozen=True)
class Difference:
    image: np.ndarray  # H x W x 3 uint8 RGB, the first photo's shape at SIDE
    aligned: bool
    method: str  # in words: how the two were put on top of each other
    inliers: int  # matched points that agree with the transform (0 without one)
    changed_fraction: float  # share of the compared area that differs
    matrix: np.ndarray | None = None  # 2 x 3: pixels of the second (at SIDE) -> pixels of the first
    mirrored: bool = False  # the second is mirrored before ``matrix``


def _small(rgb: np.ndarray, side: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    s = side / max(h, w)
    if s >= 1:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _alignment(a: np.ndarray, b: np.ndarray):
    """(pixel matrix b -> a, mirrored, inliers), or None if no transform holds enough points."""
    from simdesk.core.duplicates import verify

    fa, fb = verify.extract_features(a), verify.extract_features(b)
    if len(fa.points) < 3 or len(fb.points) < 3:
        return None
    ra, rb = verify._unit(fa.descriptors), verify._unit(fb.descriptors)
    best = max((verify._fit(fa, fb, ra, rb, m) for m in (False, True)), key=lambda f: f.inliers)
    if best.matrix is None or best.inliers < MIN_ALIGN_INLIERS:
        return None
    # The fit maps b's normalised coordinates (units of its longest side, x flipped if mirrored)
    # to a's; in pixels (centres at +0.5): a = la/lb * L b + (la/lb * L (0.5, 0.5) + la t) - 0.5.
    la, lb = max(a.shape[:2]), max(b.shape[:2])
    lin, t = best.matrix[:, :2], best.matrix[:, 2]
    out = np.empty((2, 3))
    out[:, :2] = lin * la / lb
    out[:, 2] = (lin @ np.array([0.5 / lb, 0.5 / lb]) + t) * la - 0.5
    return out, best.mirrored, best.inliers


def _normalised(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    vals = x[mask]
    if vals.size == 0:
        return x * 0
    return (x - float(vals.mean())) / max(float(vals.std()), 1e-3)


def difference(a_rgb: np.ndarray, b_rgb: np.ndarray, side: int = SIDE) -> Difference:
    """Where ``b`` differs from ``a`` (two H x W x 3 uint8 RGB arrays, as decoded)."""
    import cv2

    a, b = _small(a_rgb, side), _small(b_rgb, side)
    h, w = a.shape[:2]
    found = _alignment(a, b)
    gb = _grey(b)
    if found is not None:
        matrix, mirrored, inliers = found
        if mirrored:
            gb = np.ascontiguousarray(gb[:, ::-1])
        warped = cv2.warpAffine(gb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inside = cv2.warpAffine(np.ones(gb.shape, np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
        turn = (" (mirrored)" if mirrored else "")
        method = (f"aligned on {inliers} matched points{turn}: red where the pictures differ after "
                  "alignment; grey outside the second picture")
    else:
        warped = cv2.resize(gb, (w, h), interpolation=cv2.INTER_AREA)
        inside = np.ones((h, w), bool)
        matrix, inliers, mirrored = None, 0, False
        method = ("no alignment found (too few matching points): the two resized to the same size "
                  "and compared as they are")
    ga = _grey(a)
    # A smaller copy enlarged onto the first lacks its fine detail: compare at the coarser of the
    # two resolutions (the blur grows with the enlargement), or every texture reads as a change.
    enlarged = float(np.hypot(matrix[0, 0], matrix[1, 0])) if matrix is not None else max(w / b.shape[1], 1.0)
    sigma = BLUR_SIGMA * max(1.0, enlarged)
    k = max(3, int(sigma * 6) | 1)
    na = cv2.GaussianBlur(_normalised(ga, inside), (k, k), sigma)
    nb = cv2.GaussianBlur(_normalised(warped, inside), (k, k), sigma)
    diff = np.abs(na - nb) * inside
    strength = np.clip((diff - DIFF_FROM) / (DIFF_FULL - DIFF_FROM), 0, 1)
    base = (ga * 0.45 + 40)[..., None].repeat(3, axis=2)
    red = np.array([255.0, 30.0, 30.0])
    image = base * (1 - strength[..., None]) + red * strength[..., None]
    image[~inside] = (base[~inside] * 0.5)
    changed = float((diff > CHANGED)[inside].mean()) if inside.any() else 1.0
    return Difference(np.clip(image, 0, 255).astype(np.uint8), found is not None, method, int(inliers),
                      changed, matrix, mirrored)
