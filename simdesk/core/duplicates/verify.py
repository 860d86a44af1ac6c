"""Verifying a candidate pair: one photo and its edited copy, another shot of the scene, or neither.

The duplicate scan (``descriptors``, ``grouping``) proposes pairs by thresholding a similarity of
CNN descriptors. A similarity cannot tell an edited copy from a burst frame or a step to the side,
so each proposed pair can be checked here with local features, pair by pair, with nothing fitted on
the library (a verdict means the same in a library of 50 photos and of 50,000).

Two tests, in order:

1. **Geometry**: RootSIFT keypoints of a small working copy of each photo are matched (ratio test,
   one-to-one), and a similarity transform (scale, rotation, shift) is fitted with RANSAC; the pair
   is matched once as is and once with the second photo mirrored (SIFT descriptors of a mirrored
   patch are a fixed permutation of the original's, so no second extraction is needed). A copy
   needs enough inliers, making a large share of the matches, spread over each photo, at a sane
   scale and a rotation near a multiple of 90 degrees.
2. **Same exposure**: a small grey copy of the second photo is warped onto the first with that
   transform, both are normalised (each on its own: a recoloured, darkened or greyscale copy looks
   the same after normalisation) and compared cell by cell with a local correlation. An edited copy
   differs only where an edit draws on it (a caption band, a frame along the border, a watermark: a
   few changed cells along the border or in one compact patch); another exposure of the scene
   differs where something moved, anywhere, or everywhere a little when the camera moved.

The verdict (:class:`Verdict`) keeps the evidence and a sentence for people. Features are computed
once per photo (:func:`extract_features`) and stored as bytes (:meth:`LocalFeatures.to_bytes`).
"""

from __future__ import annotations

import math
import struct
from dataclasses import asdict, dataclass, field, replace

import cv2
import numpy as np
from PIL import Image

# -- extraction ---------------------------------------------------------------------------------

# Longest side of the working copy keypoints come from: every photo is brought to the same size, so
# a resized copy looks like its original at this size (only softer), and the cost is bounded.
WORK_SIDE = 256
# Keypoints kept per photo (the strongest by detector response): bounds storage and matching cost.
MAX_KEYPOINTS = 200
# RootSIFT components are stored in 4 bits as round(value * this), clipped to 15: nearly every
# component of a unit RootSIFT vector is below 0.3, and the quantised vector keeps its direction.
QUANT_SCALE = 50.0
# Longest side of the grey copy kept for the same-exposure test.
THUMB_SIDE = 96
# JPEG quality the grey copy is stored at: its artefacts are far below what the change test sees.
THUMB_QUALITY = 90

# -- geometry -----------------------------------------------------------------------------------

# Lowe's ratio test: a match counts only if clearly better than the second-best candidate.
RATIO = 0.8
# RANSAC inlier tolerance, in working pixels of the first photo.
RANSAC_PX = 3.0
# A copy's transform has at least this many inliers: fewer can be fitted by chance.
MIN_INLIERS = 8
# ... making at least this share of the one-to-one matches (a different scene leaves most outliers).
MIN_INLIER_RATIO = 0.5
# ... spread over at least this share of each photo (not one small logo or one repeated texture).
MIN_COVERAGE = 0.02
# A copy's inliers sit at most this far (median, in pixels of the smaller photo as decoded, or of
# the working copy when both are larger) from the fitted transform: one photo fits exactly, while
# a step to the side or a moving subject only fits roughly (parallax, deformation).
MAX_RESIDUAL = 0.4
# Scale (of the normalised working copies) outside this range is not an edit a copy gets.
SCALE_RANGE = (0.4, 2.5)
# A copy is turned by a multiple of 90 degrees plus at most this much (straightening a horizon).
MAX_TILT_DEG = 20.0
# Fewer usable keypoints than this in either photo: nothing to verify, the pair is "different".
MIN_KEYPOINTS = 8

# -- same exposure ------------------------------------------------------------------------------

# Gaussian blur (sigma, thumbnail pixels) applied to both grey copies before comparing: evens out
# blur, sharpening, JPEG blocks and resampling between a copy and its original.
COMPARE_SIGMA = 1.0
# Side of a comparison cell, in thumbnail pixels of the first photo.
CELL_PX = 12
# A cell takes part only if at least this share of it is covered by both photos.
CELL_MIN_VALID = 0.6
# After per-image normalisation (zero mean, unit deviation over the overlap), a cell whose deviation
# is below this is flat (sky, wall): its correlation means nothing, only flat-vs-textured counts.
FLAT_STD = 0.15
# Two textured cells are the same if their correlation is at least this.
CELL_NCC = 0.5
# A flat cell and a textured cell differ if the textured one's deviation is this many times the
# flat one's.
FLAT_RATIO = 3.0
# Changed cells along a side are an edit (caption band, frame) if the outermost line of cells there
# is changed along at least this share of its length (a band, not a subject at the edge) ...
BORDER_SPAN = 0.5
# ... and then every changed cell up to this share of the height or width from that side is too.
BORDER_BAND = 0.25
# Changed cells in one compact patch are an edit (watermark, sticker) if its bounding box covers at
# most this share of the compared cells.
PATCH_AREA = 0.08
# A copy leaves at most this share of compared cells changed beyond what edits explain.
MAX_UNEXPLAINED = 0.04
# A copy's aligned grey copies correlate at least this much overall, outside what edits explain.
MIN_NCC = 0.5
# A pair needs at least this many compared cells for the change test to say anything.
MIN_CELLS = 6

# -- another shot -------------------------------------------------------------------------------

# A pair that fails as a copy is still "another shot of the same scene" if a looser fit (a
# homography, which a step to the side needs) has at least this many inliers ...
SHOT_MIN_INLIERS = 12
# ... with this tolerance (working pixels) ...
SHOT_RANSAC_PX = 6.0
# ... making at least this share of the matches.
SHOT_MIN_RATIO = 0.25

# Verdicts are kept in the library by pair (``facts.cached_verdicts``): raise this whenever a
# threshold above or the features change, so that every pair is verified again.
VERDICT_VERSION = 2  # 2: symmetric (a copy confirmed both ways round)

_FORMAT = b"SDLF"
_VERSION = 1
_HEADER = struct.Struct("<4sBIIHHHI")  # magic, version, width, height, work w, work h, n, thumb len


def _mirror_permutation() -> np.ndarray:
    """Index map that turns OpenCV's SIFT descriptor of a patch into that of its mirror image.

    The descriptor is a 4 x 4 grid of 8-bin orientation histograms in the keypoint's own frame;
    mirroring the image flips that frame's rows and reverses the orientation bins.
    """
    r, c, o = np.meshgrid(np.arange(4), np.arange(4), np.arange(8), indexing="ij")
    return (((3 - r) * 4 + c) * 8 + (8 - o) % 8).reshape(-1)


_MIRROR = _mirror_permutation()


@dataclass(frozen=True, eq=False)
class LocalFeatures:
    """What one photo needs for verification: keypoints, their descriptors, a small grey copy."""

    width: int  # of the photo as decoded
    height: int
    work_width: int  # of the working copy keypoints come from
    work_height: int
    points: np.ndarray  # (n, 2) float32: keypoint x, y in units of the working copy's longest side
    descriptors: np.ndarray  # (n, 128) uint8 in 0..15: RootSIFT quantised (QUANT_SCALE)
    thumb: np.ndarray  # (h, w) uint8 grey copy, longest side THUMB_SIDE

    @property
    def extent(self) -> tuple[float, float]:
        """Width and height of the working copy in units of its longest side."""
        side = max(self.work_width, self.work_height, 1)
        return self.work_width / side, self.work_height / side

    def to_bytes(self) -> bytes:
        n = len(self.points)
        ok, jpeg = cv2.imencode(".jpg", self.thumb, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
        thumb = jpeg.tobytes() if ok and self.thumb.size else b""
        coords = np.clip(np.round(self.points * 65535), 0, 65535).astype("<u2")
        return b"".join([
            _HEADER.pack(_FORMAT, _VERSION, self.width, self.height, self.work_width,
                         self.work_height, n, len(thumb)),
            coords.tobytes(), _pack4(self.descriptors), thumb,
        ])

    @classmethod
    def from_bytes(cls, data: bytes) -> "LocalFeatures":
        magic, version, w, h, ww, wh, n, tlen = _HEADER.unpack_from(data, 0)
        if magic != _FORMAT or version != _VERSION:
            raise ValueError("not simdesk local features of a known version")
        pos = _HEADER.size
        coords = np.frombuffer(data, "<u2", 2 * n, pos).reshape(n, 2)
        pos += 4 * n
        desc = _unpack4(np.frombuffer(data, np.uint8, 64 * n, pos)).reshape(n, 128)
        pos += 64 * n
        if len(data) != pos + tlen:
            raise ValueError("truncated or padded local features")
        thumb = np.zeros((0, 0), np.uint8)
        if tlen:
            thumb = cv2.imdecode(np.frombuffer(data, np.uint8, tlen, pos), cv2.IMREAD_GRAYSCALE)
        return cls(w, h, ww, wh, coords.astype(np.float32) / 65535, desc, thumb)


def _pack4(desc: np.ndarray) -> bytes:
    d = np.ascontiguousarray(desc, np.uint8).reshape(-1, 64, 2)
    return (d[..., 0] | (d[..., 1] << 4)).astype(np.uint8).tobytes()


def _unpack4(packed: np.ndarray) -> np.ndarray:
    out = np.empty((packed.size, 2), np.uint8)
    out[:, 0], out[:, 1] = packed & 15, packed >> 4
    return out.reshape(-1)


def _grey(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        arr = np.asarray(image)
    else:
        arr = np.asarray(image)
    if arr.ndim == 3:
        if arr.shape[2] == 4:
            arr = arr[..., :3]
        arr = cv2.cvtColor(np.ascontiguousarray(arr, np.uint8), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(arr, np.uint8)


def _resize_long(grey: np.ndarray, side: int) -> np.ndarray:
    h, w = grey.shape
    s = side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(grey, size, interpolation=interp)


_SIFT = None


def _sift():
    global _SIFT
    if _SIFT is None:
        _SIFT = cv2.SIFT_create(nfeatures=MAX_KEYPOINTS * 2)
    return _SIFT


def _octave(keypoint) -> int:
    """The pyramid octave OpenCV's SIFT packed into a keypoint (-1: the upsampled one)."""
    octave = keypoint.octave & 255
    return octave - 256 if octave >= 128 else octave


def extract_features(image) -> LocalFeatures:
    """Local features of a whole photo (a PIL image or an H x W x 3 uint8 RGB array, as decoded)."""
    grey = _grey(image)
    h, w = grey.shape[:2]
    if h == 0 or w == 0:
        return LocalFeatures(w, h, 0, 0, np.zeros((0, 2), np.float32),
                             np.zeros((0, 128), np.uint8), np.zeros((0, 0), np.uint8))
    work = _resize_long(grey, WORK_SIDE)
    wh, ww = work.shape
    kps, raw = _sift().detectAndCompute(work, None) if min(wh, ww) >= 16 else ((), None)
    pts, desc = np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8)
    if kps:
        resp = np.array([k.response for k in kps], np.float32)
        xy = np.array([k.pt for k in kps], np.float32)
        keep = np.argsort(-resp, kind="stable")
        # One descriptor per location: OpenCV repeats a keypoint for each dominant orientation.
        _, first = np.unique(np.round(xy[keep]).astype(np.int32), axis=0, return_index=True)
        keep = keep[np.sort(first)][:MAX_KEYPOINTS]
        kept = [kps[i] for i in keep]
        if raw is None or min(_octave(k) for k in kept) >= 0:
            # The stored features were defined by compute() on the kept keypoints alone, which
            # starts its pyramid at their lowest octave. When none comes from the upsampled
            # octave, that pyramid differs from detection's, so those descriptors are recomputed:
            # the features stay byte for byte what they were (kept verdicts stay valid).
            kept, raw = _sift().compute(work, kept)
        else:
            raw = raw[keep]  # one pyramid for detection and description, not two
        if raw is not None and len(kept):
            pts = (np.array([k.pt for k in kept], np.float32) + 0.5) / max(wh, ww)
            desc = np.clip(np.round(_rootsift(raw) * QUANT_SCALE), 0, 15).astype(np.uint8)
    thumb = _resize_long(work, THUMB_SIDE) if max(wh, ww) > THUMB_SIDE else work.copy()
    return LocalFeatures(w, h, ww, wh, pts.astype(np.float32), desc, thumb)


# -- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify_pair` decided, and the evidence it decided on."""

    kind: str  # "copy" | "similar_shot" | "different"
    reason: str
    inliers: int = 0
    matches: int = 0
    inlier_ratio: float = 0.0
    coverage_a: float = 0.0
    coverage_b: float = 0.0
    scale: float = 0.0  # pixels of a per pixel of b, in the photos as decoded
    rotation_deg: float = 0.0
    residual_px: float = 0.0  # median distance of inliers from the fitted transform, working pixels
    mirrored: bool = False
    ncc: float = 0.0
    changed_fraction: float = 0.0  # share of compared cells that differ after alignment
    unexplained_fraction: float = 0.0  # ... not explained by a border band or one compact patch
    cells: int = 0

    def to_json(self) -> dict:
        """The evidence as a JSON-ready dict (floats rounded), as every to_json of the core."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _rootsift(desc: np.ndarray) -> np.ndarray:
    """RootSIFT (Arandjelovic and Zisserman 2012): square root of the L1-normalised descriptor."""
    d = desc.astype(np.float32)
    d /= d.sum(axis=1, keepdims=True) + 1e-7
    return np.sqrt(d)


def _unit(desc: np.ndarray) -> np.ndarray:
    d = desc.astype(np.float32)
    return d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-7)


def _mutual_matches(da: np.ndarray, db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matches passing the ratio test: indices into a and into b."""
    sim = da @ db.T  # unit vectors: squared distance = 2 - 2 * sim
    if sim.shape[1] < 2:
        return np.zeros(0, int), np.zeros(0, int)
    rows = np.arange(len(da))
    # The best and second-best similarity of each row: a max, then a max with the best hidden
    # (several times cheaper than a partial sort). A tie for best fails the ratio test anyway.
    best = np.argmax(sim, axis=1)
    s0 = sim[rows, best]
    sim[rows, best] = -np.inf
    s1 = sim.max(axis=1)
    sim[rows, best] = s0
    d_best = np.sqrt(np.maximum(2 - 2 * s0, 0))
    d_second = np.sqrt(np.maximum(2 - 2 * s1, 0))
    ok = d_best < RATIO * d_second
    ok &= np.argmax(sim, axis=0)[best] == rows  # mutual best
    return rows[ok], best[ok]


def _hull_area(pts: np.ndarray) -> float:
    if len(pts) < 3:
        return 0.0
    return float(cv2.contourArea(cv2.convexHull(pts.astype(np.float32))))


@dataclass
class _Fit:
    mirrored: bool
    ia: np.ndarray
    ib: np.ndarray
    matrix: np.ndarray | None = None  # 2 x 3, b's (possibly mirrored) normalised coords -> a's
    inlier: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def inliers(self) -> int:
        return int(self.inlier.sum())


def _b_points(b: LocalFeatures, mirrored: bool) -> np.ndarray:
    pts = b.points.copy()
    if mirrored:
        pts[:, 0] = b.extent[0] - pts[:, 0]
    return pts


def _fit(a: LocalFeatures, b: LocalFeatures, ra, rb, mirrored: bool) -> _Fit:
    ia, ib = _mutual_matches(ra, rb[:, _MIRROR] if mirrored else rb)
    fit = _Fit(mirrored, ia, ib)
    if len(ia) < 3:
        return fit
    src = _b_points(b, mirrored)[ib] * WORK_SIDE
    dst = a.points[ia] * WORK_SIDE
    m, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                         ransacReprojThreshold=RANSAC_PX, maxIters=2000,
                                         confidence=0.995, refineIters=10)
    if m is not None and inl is not None:
        m = m.astype(np.float64)
        m[:, 2] /= WORK_SIDE
        fit.matrix, fit.inlier = m, inl.ravel().astype(bool)
    return fit


def _thumb_matrix(m: np.ndarray, a: LocalFeatures, b: LocalFeatures) -> np.ndarray:
    """The normalised-coordinate transform ``m`` (b -> a) in thumbnail pixels."""
    la, lb = max(a.thumb.shape), max(b.thumb.shape)
    lin = m[:, :2]
    t = m[:, 2]
    out = np.empty((2, 3))
    out[:, :2] = lin * la / lb
    out[:, 2] = (lin @ np.array([0.5 / lb, 0.5 / lb]) + t) * la - 0.5
    return out


def _normalise(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    vals = img[mask]
    mu, sd = float(vals.mean()), float(vals.std())
    return (img - mu) / max(sd, 1e-3)


def _cell_sums(x: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    return np.add.reduceat(np.add.reduceat(x, ys[:-1], axis=0), xs[:-1], axis=1)


def _change_map(a: LocalFeatures, b: LocalFeatures, m: np.ndarray, mirrored: bool):
    """Cell-by-cell comparison of the aligned grey copies.

    Returns (changed grid, valid grid, per-cell sums for the overall correlation).
    """
    empty = np.zeros((0, 0), bool)
    ta = a.thumb.astype(np.float32)
    tb = b.thumb[:, ::-1] if mirrored else b.thumb
    tb = np.ascontiguousarray(tb, np.float32)
    if ta.size == 0 or tb.size == 0:
        return empty, empty, None
    mt = _thumb_matrix(m, a, b)
    h, w = ta.shape
    k = max(3, int(COMPARE_SIGMA * 6) | 1)
    ta = cv2.GaussianBlur(ta, (k, k), COMPARE_SIGMA)
    tb = cv2.GaussianBlur(tb, (k, k), COMPARE_SIGMA)
    warped = cv2.warpAffine(tb, mt, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.ones(tb.shape, np.uint8), mt, (w, h), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    inside = inside.astype(bool)
    if inside.sum() < CELL_PX * CELL_PX:
        return empty, empty, None
    msk = inside.astype(np.float32)
    na, nb = _normalise(ta, inside) * msk, _normalise(warped, inside) * msk
    gy, gx = max(1, round(h / CELL_PX)), max(1, round(w / CELL_PX))
    ys = np.linspace(0, h, gy + 1).round().astype(int)
    xs = np.linspace(0, w, gx + 1).round().astype(int)
    sums = np.stack([_cell_sums(v, ys, xs) for v in (msk, na, nb, na * na, nb * nb, na * nb)])
    n, sa, sb, saa, sbb, sab = sums
    area = np.diff(ys)[:, None] * np.diff(xs)[None, :]
    valid = n >= CELL_MIN_VALID * area
    nn = np.maximum(n, 1)
    va = np.maximum(saa / nn - (sa / nn) ** 2, 0)
    vb = np.maximum(sbb / nn - (sb / nn) ** 2, 0)
    cov = sab / nn - sa * sb / nn**2
    sda, sdb = np.sqrt(va), np.sqrt(vb)
    lo, hi = np.minimum(sda, sdb), np.maximum(sda, sdb)
    both_flat = hi < FLAT_STD
    one_flat = (lo < FLAT_STD) & ~both_flat
    corr = cov / np.maximum(sda * sdb, 1e-9)
    changed = np.where(one_flat, hi > FLAT_RATIO * np.maximum(lo, FLAT_STD / 2), corr < CELL_NCC)
    changed &= valid & ~both_flat
    return changed, valid, sums


def _overall_ncc(sums: np.ndarray, keep: np.ndarray) -> float:
    """Correlation of the aligned grey copies over the cells in ``keep``."""
    n, sa, sb, saa, sbb, sab = (float(v[keep].sum()) for v in sums)
    if n < 2:
        return 0.0
    va, vb = saa / n - (sa / n) ** 2, sbb / n - (sb / n) ** 2
    return float((sab / n - sa * sb / n**2) / max(math.sqrt(max(va * vb, 0)), 1e-9))


def _explain(changed: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Which changed cells an edit explains (bands along the border, one compact patch), and how."""
    explained = np.zeros_like(changed)
    if not changed.any():
        return explained, []
    how: list[str] = []
    rows = np.flatnonzero(valid.any(axis=1))
    cols = np.flatnonzero(valid.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    dr = max(1, math.ceil(BORDER_BAND * (r1 - r0)))
    dc = max(1, math.ceil(BORDER_BAND * (c1 - c0)))
    # Each side: if its outermost line of cells is changed along much of its length, everything
    # changed within the band's depth there is that edit (a caption band, a frame, a border).
    sides = [(slice(r0, r0 + 1), slice(c0, c1), slice(r0, r0 + dr), slice(c0, c1)),
             (slice(r1 - 1, r1), slice(c0, c1), slice(r1 - dr, r1), slice(c0, c1)),
             (slice(r0, r1), slice(c0, c0 + 1), slice(r0, r1), slice(c0, c0 + dc)),
             (slice(r0, r1), slice(c1 - 1, c1), slice(r0, r1), slice(c1 - dc, c1))]
    for oy, ox, by, bx in sides:
        line_valid = valid[oy, ox].sum()
        if line_valid and changed[oy, ox].sum() >= BORDER_SPAN * line_valid:
            explained[by, bx] |= changed[by, bx]
    if explained.any():
        how.append("border")
    rest = changed & ~explained
    if rest.any():
        n_lab, labels = cv2.connectedComponents(rest.astype(np.uint8), connectivity=8)
        comps = sorted((labels == lab for lab in range(1, n_lab)), key=lambda c: -int(c.sum()))
        ys, xs = np.nonzero(comps[0])
        if (np.ptp(ys) + 1) * (np.ptp(xs) + 1) <= PATCH_AREA * valid.sum():
            explained |= comps[0]
            how.append("patch")
    return explained, how


def _different(reason: str, **kw) -> Verdict:
    return Verdict("different", reason, **kw)


def verify_pair(a: LocalFeatures, b: LocalFeatures) -> Verdict:
    """Is one photo an edited copy of the other ("copy"), another shot of its scene, or unrelated?

    The same verdict whichever photo comes first: the fit is made in one direction (RANSAC's
    samples and the change map depend on it), and a pair's photos reach the scan in an order
    that depends on which finished indexing first. So the photo with more pixels is the
    reference (ties: a fixed order of the features), and a copy is confirmed the other way round
    as well: lining up as a copy one way only makes the pair another shot of the scene, shown
    but never ticked for the Trash (held-out bursts: 1 of 354 frame pairs accepted as a copy
    one way, 0 both ways).
    """
    if not _reference_first(a, b):
        a, b = b, a
    verdict = _verify_directed(a, b)
    if verdict.kind != "copy":
        return verdict
    back = _verify_directed(b, a)
    if back.kind == "copy":
        return verdict
    return replace(verdict, kind="similar_shot",
                   reason=f"the same scene, but a copy only one way round ({back.reason}): another shot")


def _reference_first(a: LocalFeatures, b: LocalFeatures) -> bool:
    """Whether ``a`` is the reference of the pair: more pixels, or on a tie the larger features
    (compared only then: every candidate pair goes through here)."""
    size_a, size_b = (a.width * a.height, a.width, a.height), (b.width * b.height, b.width, b.height)
    if size_a != size_b:
        return size_a > size_b
    return (a.points.tobytes(), a.descriptors.tobytes()) >= (b.points.tobytes(), b.descriptors.tobytes())


def _verify_directed(a: LocalFeatures, b: LocalFeatures) -> Verdict:
    """Is ``b`` an edited copy of ``a`` ("copy"), another shot of its scene, or unrelated?"""
    if len(a.points) < MIN_KEYPOINTS or len(b.points) < MIN_KEYPOINTS:
        return _different("too little detail to compare")
    ra, rb = _unit(a.descriptors), _unit(b.descriptors)
    fits = [_fit(a, b, ra, rb, False), _fit(a, b, ra, rb, True)]
    best = max(fits, key=lambda f: f.inliers)
    matches = len(best.ia)
    if best.matrix is None or best.inliers < 3:
        return _different(f"nothing in common ({matches} point matches, no consistent layout)",
                          matches=matches)
    m, inl = best.matrix, best.inlier
    sx = math.hypot(m[0, 0], m[1, 0])
    rot = math.degrees(math.atan2(m[1, 0], m[0, 0]))
    pixel_scale = sx * max(a.width, a.height) / max(b.width, b.height, 1)
    ratio = best.inliers / max(matches, 1)
    ea, eb = a.extent, b.extent
    pa = a.points[best.ia[inl]]
    pb = _b_points(b, best.mirrored)[best.ib[inl]]
    cov_a = _hull_area(pa) / max(ea[0] * ea[1], 1e-9)
    cov_b = _hull_area(pb) / max(eb[0] * eb[1], 1e-9)
    tilt = abs((rot + 45) % 90 - 45)
    proj = pb @ m[:, :2].T + m[:, 2]
    residual = float(np.median(np.linalg.norm(proj - pa, axis=1))) * WORK_SIDE
    ev = dict(residual_px=residual, inliers=best.inliers, matches=matches, inlier_ratio=ratio, coverage_a=cov_a,
              coverage_b=cov_b, scale=pixel_scale, rotation_deg=rot, mirrored=best.mirrored)
    geometric = (best.inliers >= MIN_INLIERS and ratio >= MIN_INLIER_RATIO
                 and min(cov_a, cov_b) >= MIN_COVERAGE and SCALE_RANGE[0] <= sx <= SCALE_RANGE[1]
                 and tilt <= MAX_TILT_DEG)
    if not geometric:
        return _shot_or_different(a, b, ra, rb, best, ev)
    finest = min(max(a.width, a.height), max(b.width, b.height), WORK_SIDE)
    if residual * finest / WORK_SIDE > MAX_RESIDUAL:
        return Verdict("similar_shot", f"the same scene ({best.inliers} matched points), but they "
                       "line up only roughly, as from another viewpoint or moment: another shot",
                       **ev)
    changed, valid, sums = _change_map(a, b, m, best.mirrored)
    cells = int(valid.sum())
    if cells < MIN_CELLS:
        return Verdict("different", "too little overlap to compare the pictures", **ev)
    n_changed = int(changed.sum())
    explained_cells, explained = _explain(changed, valid)
    left = n_changed - int(explained_cells.sum())
    ncc = _overall_ncc(sums, valid & ~explained_cells)
    ev.update(ncc=ncc, cells=cells, changed_fraction=n_changed / cells,
              unexplained_fraction=left / cells)
    if left / cells > MAX_UNEXPLAINED or ncc < MIN_NCC:
        pct = round(100 * n_changed / cells)
        return Verdict("similar_shot", f"the same scene, but {pct}% of the picture changed after "
                       "alignment: another shot", **ev)
    return Verdict("copy", _copy_reason(best, pixel_scale, rot, explained, ev), **ev)


def _copy_reason(fit: _Fit, scale: float, rot: float, explained: list[str], ev: dict) -> str:
    parts = [f"same photo: {fit.inliers} matched points"]
    if scale > 1.1:
        parts.append(f"{scale:.1f}x smaller")
    elif scale < 1 / 1.1:
        parts.append(f"{1 / scale:.1f}x larger")
    turn = round(rot / 90) * 90 % 360
    if turn:
        parts.append(f"turned {turn} degrees")
    tilt = rot - round(rot / 90) * 90
    if abs(tilt) >= 1:
        parts.append(f"rotated {abs(tilt):.0f} degrees")
    if fit.mirrored:
        parts.append("mirrored")
    if min(ev["coverage_a"], ev["coverage_b"]) < 0.5 * max(ev["coverage_a"], ev["coverage_b"]):
        parts.append("cropped")
    if "border" in explained:
        parts.append("drawn on along the border (caption or frame)")
    if "patch" in explained:
        parts.append("a small area drawn over")
    return ", ".join(parts)


def _shot_or_different(a, b, ra, rb, best: _Fit, ev: dict) -> Verdict:
    """Not a copy's geometry: another shot of the scene if a homography still fits many points."""
    ia, ib = best.ia, best.ib
    if len(ia) >= SHOT_MIN_INLIERS:
        src = _b_points(b, best.mirrored)[ib] * WORK_SIDE
        dst = a.points[ia] * WORK_SIDE
        hmat, inl = cv2.findHomography(src, dst, cv2.RANSAC, SHOT_RANSAC_PX, maxIters=2000,
                                       confidence=0.995)
        if hmat is not None and inl is not None:
            n = int(inl.sum())
            if n >= SHOT_MIN_INLIERS and n / len(ia) >= SHOT_MIN_RATIO:
                return Verdict("similar_shot", f"the same scene from another viewpoint ({n} matched "
                               "points, but no single edit lines them up): another shot", **ev)
    return _different(f"not the same photo ({ev['inliers']} of {len(ia)} matched points agree)",
                      **ev)
