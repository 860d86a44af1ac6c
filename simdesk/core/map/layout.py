"""The cluster map's layout: photos placed in two dimensions so that similar photos sit together.

The recipe of the seed papers: L2-normalised embeddings, PCA to 50 components, then t-SNE to two
dimensions, with openTSNE's public API (Barnes-Hut gradients below 10,000 points, FFT-accelerated
interpolation above; callbacks every few iterations report progress and cancel). Beyond
``sample_size`` points t-SNE lays out a random sample only, and every other photo is *placed*:
put at the similarity-weighted mean of its nearest sampled neighbours' positions, then moved by
gradient steps of its own t-SNE cost against the fixed sample (repulsion precomputed on a grid by
FFT; ``place_points`` says why not openTSNE's ``transform``). The same placing adds new
photos to a cached map without laying everything out again. On imagenette-val (3,925 photos, 10
classes), t-SNE of 1,500 photos plus placing the other 2,425 keeps 96.5 % of each photo's 10
nearest map neighbours in its class with the scikit-learn layout this replaced (see the README
for today's figure).

``grid_cells`` turns the free layout into a tidy grid that keeps the neighbourhoods: recursive
bisection into blocks of at most ``leaf_size`` photos, then an optimal assignment of photos to the
cells of each block (scipy's ``linear_sum_assignment``).

Everything here works on plain arrays and never imports Qt: the CLI, the PNG export and the
desktop canvas share it. Long steps report progress through a callback and stop when a
``threading.Event`` is set (``simdesk.core.progress.Cancelled`` is raised).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
import numpy as np

from simdesk.core.progress import Progress, ProgressCallback, check

# Bump when the algorithm changes so that cached layouts are recomputed.
LAYOUT_VERSION = 3  # 2: openTSNE; 3: placing by per-point refinement again, not transform()


@dataclass(frozen=True)
class LayoutParams:
    """Everything that shapes a layout; part of the cache key."""

    pca_components: int = 50  # the seed papers: PCA to 50-100 components before t-SNE
    perplexity: float = 30.0
    max_iter: int = 750  # in all: a third (at most 250) exaggerated, then the rest
    early_exaggeration: float = 12.0
    angle: float = 0.5  # Barnes-Hut accuracy/speed trade-off (openTSNE theta)
    sample_size: int = 4000  # above this many photos, t-SNE lays out a sample and places the rest
    neighbors: int = 10  # sampled neighbours a placed photo is put among
    refine_iter: int = 100  # gradient steps of each placed photo against the fixed sample
    seed: int = 0

    def to_json(self) -> str:
        return json.dumps({"version": LAYOUT_VERSION, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "LayoutParams":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class Reporter:
    """Maps phase progress onto one overall fraction (``Progress.fraction``), and checks the cancel.

    Phases: "loading", "reducing", "affinities", "tsne", "placing", "refining", "grid", "colours",
    "rendering", "done"; ``done``/``total`` count the phase's steps, the message is the label.

    ``spans`` gives each phase its share of the bar: {"tsne": (0.1, 0.8), ...}.
    """

    def __init__(self, callback: ProgressCallback | None, cancel: threading.Event | None,
                 spans: dict[str, tuple[float, float]] | None = None):
        self.callback = callback
        self.cancel = cancel
        self.spans = dict(spans or {})

    def check(self) -> None:
        check(self.cancel)

    def __call__(self, phase: str, done: int, total: int, message: str = "") -> None:
        self.check()
        if self.callback is None:
            return
        start, end = self.spans.get(phase, (0.0, 1.0))
        fraction = start + (end - start) * (done / total if total else 1.0)
        self.callback(Progress(phase, done, total, label=message, unit="steps",
                               fraction=float(min(max(fraction, 0.0), 1.0))))


# -- dimension reduction -------------------------------------------------------------------------


def reduce_dimensions(vectors: np.ndarray, n_components: int = 50, seed: int = 0) -> np.ndarray:
    """L2-normalise (cosine geometry, as the similarity search uses) and project with PCA.

    Returns float32 (N, min(n_components, D, N)) features whose Euclidean distances stand in for
    the cosine distances of the embeddings.
    """
    from sklearn.decomposition import PCA

    from simdesk.core.pooling import l2_normalize

    x = l2_normalize(np.asarray(vectors, dtype=np.float32))
    n, dim = x.shape
    x = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)
    components = min(n_components, dim, n)
    if components >= dim or n < 3:
        return np.ascontiguousarray(x, dtype=np.float32)
    solver = "randomized" if components < 0.8 * min(n, dim) and n > 500 else "full"
    pca = PCA(n_components=components, svd_solver=solver, random_state=seed)
    return np.ascontiguousarray(pca.fit_transform(x), dtype=np.float32)


# -- t-SNE ---------------------------------------------------------------------------------------


def _threads_for(n: int) -> int:
    """Threads for openTSNE (its neighbour search and gradients): one for small layouts, half
    the cores for large ones.

    Worker threads that wait for each other are descheduled when other programs share the cores
    (the desktop app itself, an indexing run): on a busy 2-core machine two threads laid out
    5,000 points in 46 s where one took 14 s. Half the cores keeps that from happening on a
    desktop while large machines still gain. ``SIMDESK_LAYOUT_THREADS`` overrides.
    """
    override = os.environ.get("SIMDESK_LAYOUT_THREADS", "").strip()
    if override.isdigit() and int(override) > 0:
        return int(override)
    if n < 2000:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


def _phases(max_iter: int) -> tuple[int, int]:
    """(early-exaggeration iterations, normal iterations) of a run of ``max_iter`` in all."""
    total = max(int(max_iter), 30)
    early = min(250, total // 3)
    return early, total - early


def _callback(report: Reporter, phase: str, total: int, done_before: int = 0):
    """An openTSNE callback that reports progress and raises ``Cancelled`` (it propagates out of
    openTSNE's optimiser, which stops there)."""
    counter = [done_before]

    def callback(iteration, error, embedding) -> bool:
        counter[0] += CALLBACK_EVERY
        report(phase, min(counter[0], total), total)
        return False

    return callback


CALLBACK_EVERY = 10  # iterations between openTSNE callbacks (progress, cancel)
FFT_FROM = 10000  # points from which FFT-interpolated gradients beat Barnes-Hut


def _gradient_method(n: int) -> str:
    """openTSNE's FFT-accelerated interpolation grows linearly with the points but has a fixed
    cost per iteration (its grid): below ``FFT_FROM`` points Barnes-Hut is faster (1,000 points:
    5 s against 23 s on a loaded 2-core machine), the rule openTSNE's own "auto" follows."""
    return "fft" if n >= FFT_FROM else "bh"


def run_tsne(features: np.ndarray, params: LayoutParams = LayoutParams(),
             report: Reporter | None = None) -> np.ndarray:
    """t-SNE of (N, d) features to (N, 2) float32 coordinates (openTSNE: FFT-accelerated
    gradients, PCA initialisation, the learning rate of Belkina et al.)."""
    from openTSNE import TSNE

    report = report or Reporter(None, None)
    n = len(features)
    if n <= 4:  # too few for t-SNE's perplexity: a small spread in PCA order is as good
        return _tiny_layout(features)
    early, rest = _phases(params.max_iter)
    total = early + rest
    report("affinities", 0, 1, "finding neighbours")
    perplexity = float(min(params.perplexity, max((n - 1) / 3.0, 1.0)))
    started = [False]

    def tick(iteration, error, embedding) -> bool:
        if not started[0]:
            started[0] = True
            report("affinities", 1, 1)
        return False

    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        early_exaggeration=params.early_exaggeration,
        early_exaggeration_iter=early,
        n_iter=rest,
        learning_rate="auto",
        initialization="pca",
        metric="euclidean",
        neighbors="exact" if n < 1000 else "auto",
        negative_gradient_method=_gradient_method(n),
        theta=params.angle,
        n_jobs=_threads_for(n),
        random_state=params.seed,
        callbacks=[tick, _callback(report, "tsne", total)],
        callbacks_every_iters=CALLBACK_EVERY,
        verbose=False,
    )
    embedding = tsne.fit(np.asarray(features, dtype=np.float64))
    report("tsne", total, total)
    return np.asarray(embedding, dtype=np.float32)


def _tiny_layout(features: np.ndarray) -> np.ndarray:
    n = len(features)
    out = np.zeros((n, 2), dtype=np.float32)
    if n >= 2:
        angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
        out[:, 0], out[:, 1] = np.cos(angles), np.sin(angles)
    return out


# -- placing points among an existing layout -----------------------------------------------------


def nearest_neighbors(queries: np.ndarray, reference: np.ndarray, k: int,
                      report: Reporter | None = None, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest reference rows of each query row: (indices (M,k), squared distances (M,k)),
    nearest first. Chunked matrix products, so 100,000 queries against 5,000 references take a
    few seconds and bounded memory."""
    m, k = len(queries), min(k, len(reference))
    idx = np.empty((m, k), dtype=np.int64)
    dist = np.empty((m, k), dtype=np.float32)
    ref = np.asarray(reference, dtype=np.float32)
    ref_sq = (ref * ref).sum(axis=1)
    for start in range(0, m, chunk):
        if report is not None:
            report("placing", start, m)
        q = np.asarray(queries[start:start + chunk], dtype=np.float32)
        d2 = (q * q).sum(axis=1)[:, None] + ref_sq[None, :] - 2.0 * (q @ ref.T)
        np.maximum(d2, 0.0, out=d2)
        if k < len(ref):
            part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(len(ref)), (len(q), len(ref))).copy()
        pd = np.take_along_axis(d2, part, axis=1)
        order = np.argsort(pd, axis=1, kind="stable")
        idx[start:start + len(q)] = np.take_along_axis(part, order, axis=1)
        dist[start:start + len(q)] = np.take_along_axis(pd, order, axis=1)
    return idx, dist


def _neighbor_weights(d2: np.ndarray) -> np.ndarray:
    """Gaussian weights over each row's neighbours, bandwidth from the row's own distances (the
    spirit of t-SNE's perplexity calibration, without the binary search)."""
    rel = d2 - d2[:, :1]
    scale = rel.mean(axis=1, keepdims=True)
    scale = np.where(scale > 1e-12, scale, 1.0)
    w = np.exp(-rel / scale)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def place_points(ref_features: np.ndarray, ref_coords: np.ndarray, new_features: np.ndarray, *,
                 k: int = 10, refine_iter: int = 100, seed: int = 0,
                 report: Reporter | None = None) -> np.ndarray:
    """Positions for new points in an existing layout, from their nearest reference points.

    Each new point starts at the weighted mean of its ``k`` nearest reference points' positions
    (nearest in feature space), with a small jitter so that points sharing neighbours do not
    stack; then ``refine_iter`` gradient steps of t-SNE's cost for that point alone against the
    fixed reference (attraction to its neighbours, repulsion from the reference's density)
    settle points whose neighbours straddle two clusters into one of them.

    Not openTSNE's ``TSNEEmbedding.transform``: measured on the synthetic benchmark (10,000
    photos, a 4,000 sample) it kept 0.736-0.739 of each photo's 10 map neighbours in its class
    in 1.7-2.8 s (50-100 iterations, exaggeration 1-1.5, learning rate 0.1-1), against 0.805 in
    1.3 s here: its repulsion is normalised over all new points at once, so a point caught
    between two clusters is hardly pushed into either.
    """
    ref_coords = np.asarray(ref_coords, dtype=np.float32)
    m = len(new_features)
    if m == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if len(ref_coords) == 0:
        return _tiny_layout(new_features) if m > 1 else np.zeros((1, 2), dtype=np.float32)
    idx, d2 = nearest_neighbors(new_features, ref_features, k, report)
    w = _neighbor_weights(d2)
    neigh = ref_coords[idx]  # (M, k, 2)
    pos = (w[:, :, None] * neigh).sum(axis=1)
    spacing = _typical_spacing(ref_coords)
    spread = np.sqrt((w * ((neigh - pos[:, None, :]) ** 2).sum(axis=2)).sum(axis=1))
    jitter_scale = np.minimum(0.5 * spread, spacing)[:, None]
    rng = np.random.default_rng(seed)
    pos = pos + rng.standard_normal(pos.shape).astype(np.float32) * jitter_scale
    if report is not None:
        report("placing", m, m)
    if refine_iter > 0 and len(ref_coords) >= 5:
        pos = _refine(pos, idx, w, ref_coords, refine_iter, report)
    return pos.astype(np.float32)


def _typical_spacing(coords: np.ndarray) -> float:
    """Median distance from a layout point to its nearest other point."""
    if len(coords) < 2:
        return 1.0
    from scipy.spatial import cKDTree

    sample = coords if len(coords) <= 20000 else coords[:: len(coords) // 20000 + 1]
    d, _ = cKDTree(coords).query(sample, k=2)
    value = float(np.median(d[:, 1]))
    return value if value > 0 else 1.0


def _refine(pos: np.ndarray, idx: np.ndarray, w: np.ndarray, ref: np.ndarray, iterations: int,
            report: Reporter | None) -> np.ndarray:
    """Minimise each placed point's t-SNE cost against the fixed reference layout.

    For a point y with affinities p_j (the weights) to its reference neighbours, the gradient is
    4 [sum_j p_j q_j (y - y_j) - sum_all q_j^2 (y - y_j) / Z], q_j = 1 / (1 + |y - y_j|^2),
    Z = sum_all q_j. The reference is fixed, so the repulsion sums are fields over the plane:
    computed once on a grid by FFT convolution of the reference density with the kernels, and
    read back by bilinear interpolation at every step (O(M k) a step, whatever the reference size).
    """
    from scipy.signal import fftconvolve

    lo = ref.min(axis=0) - 5.0
    hi = ref.max(axis=0) + 5.0
    cells = int(min(512, max(64, np.ceil((hi - lo).max() / 0.5))))
    h = float((hi - lo).max() / (cells - 1))
    shape = (cells, cells)
    density = _deposit(ref, lo, h, shape)
    r = (np.arange(-(cells - 1), cells) * h).astype(np.float64)
    dx, dy = np.meshgrid(r, r, indexing="ij")
    q = 1.0 / (1.0 + dx * dx + dy * dy)
    z_field = fftconvolve(density, q, mode="valid")
    fx = fftconvolve(density, q * q * dx, mode="valid")  # sum_j q_j^2 (x - x_j) at each node
    fy = fftconvolve(density, q * q * dy, mode="valid")
    # "valid" of a (C,C) signal with a (2C-1,2C-1) kernel is (C,C), aligned so node i sees offsets
    # grid_i - grid_j: the convolution flips the kernel, so x - x_j = +r.
    neigh = ref[idx]  # (M, k, 2)
    gains = np.ones_like(pos)
    update = np.zeros_like(pos)
    lr = 0.5 * max(h, 0.1) * 4.0
    for step in range(iterations):
        if report is not None and step % 10 == 0:
            report("refining", step, iterations)
        diff = pos[:, None, :] - neigh
        qa = 1.0 / (1.0 + (diff * diff).sum(axis=2))
        attract = ((w * qa)[:, :, None] * diff).sum(axis=1)
        zi = np.maximum(_interp(z_field, pos, lo, h), 1e-12)
        rep = np.stack([_interp(fx, pos, lo, h), _interp(fy, pos, lo, h)], axis=1) / zi[:, None]
        grad = 4.0 * (attract - rep)
        inc = update * grad < 0
        gains = np.where(inc, gains + 0.2, gains * 0.8)
        np.clip(gains, 0.01, None, out=gains)
        momentum = 0.5 if step < iterations // 4 else 0.8
        update = momentum * update - lr * gains * grad
        pos = np.clip(pos + update, lo, hi)
    if report is not None:
        report("refining", iterations, iterations)
    return pos


def _deposit(points: np.ndarray, lo: np.ndarray, h: float, shape: tuple[int, int]) -> np.ndarray:
    """Cloud-in-cell: spread each point's unit mass over its four nearest grid nodes."""
    g = (points - lo) / h
    i0 = np.clip(np.floor(g).astype(np.int64), 0, np.array(shape) - 2)
    t = np.clip(g - i0, 0.0, 1.0)
    grid = np.zeros(shape, dtype=np.float64)
    for ox in (0, 1):
        for oy in (0, 1):
            wx = t[:, 0] if ox else 1.0 - t[:, 0]
            wy = t[:, 1] if oy else 1.0 - t[:, 1]
            np.add.at(grid, (i0[:, 0] + ox, i0[:, 1] + oy), wx * wy)
    return grid


def _interp(field: np.ndarray, points: np.ndarray, lo: np.ndarray, h: float) -> np.ndarray:
    g = (points - lo) / h
    i0 = np.clip(np.floor(g).astype(np.int64), 0, np.array(field.shape) - 2)
    t = np.clip(g - i0, 0.0, 1.0)
    a = field[i0[:, 0], i0[:, 1]]
    b = field[i0[:, 0] + 1, i0[:, 1]]
    c = field[i0[:, 0], i0[:, 1] + 1]
    d = field[i0[:, 0] + 1, i0[:, 1] + 1]
    tx, ty = t[:, 0], t[:, 1]
    return (a * (1 - tx) * (1 - ty) + b * tx * (1 - ty) + c * (1 - tx) * ty + d * tx * ty).astype(np.float32)


# -- the whole layout ----------------------------------------------------------------------------


def compute_layout(vectors: np.ndarray, params: LayoutParams = LayoutParams(), *,
                   progress: ProgressCallback | None = None,
                   cancel: threading.Event | None = None,
                   report: Reporter | None = None) -> np.ndarray:
    """(N, 2) float32 map coordinates of N embeddings (rows of ``vectors``), in their order."""
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    report = report or Reporter(progress, cancel)
    sampled = n > params.sample_size
    if not report.spans:
        tsne_end = 0.8 if sampled else 0.97
        report.spans.update({
            "reducing": (0.0, 0.05), "affinities": (0.05, 0.1), "tsne": (0.1, tsne_end),
            "placing": (tsne_end, tsne_end + 0.05), "refining": (tsne_end + 0.05, 0.99),
        })
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    report("reducing", 0, 1, f"PCA of {n} embeddings")
    features = reduce_dimensions(vectors, params.pca_components, params.seed)
    report("reducing", 1, 1)
    if not sampled:
        coords = run_tsne(features, params, report)
    else:
        rng = np.random.default_rng(params.seed)
        sample = np.sort(rng.choice(n, params.sample_size, replace=False))
        rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
        coords = np.empty((n, 2), dtype=np.float32)
        coords[sample] = run_tsne(features[sample], params, report)
        coords[rest] = place_points(features[sample], coords[sample], features[rest],
                                    k=params.neighbors, refine_iter=params.refine_iter,
                                    seed=params.seed, report=report)
    report("done", 1, 1)
    return coords


# -- the tidy grid -------------------------------------------------------------------------------


def grid_shape(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """(columns, rows) of a grid holding ``n`` cells with about this width/height ratio."""
    if n <= 0:
        return 0, 0
    aspect = float(min(max(aspect, 0.25), 4.0))
    cols = max(1, int(np.ceil(np.sqrt(n * aspect))))
    rows = int(np.ceil(n / cols))
    return cols, rows


def grid_cells(coords: np.ndarray, *, aspect: float | None = None, leaf_size: int | None = None,
               report: Reporter | None = None) -> tuple[np.ndarray, int, int]:
    """Assign each point a distinct cell of a grid, keeping neighbours together.

    Returns (cells (N, 2) int32 as (column, row), columns, rows). Rows grow downwards as on a
    screen, so a point high on the free map (large y) lands in a low row number. Blocks of at most
    ``leaf_size`` points are assigned optimally (minimum total squared distance between points
    and cell centres, scipy's linear_sum_assignment); larger sets are first split in two along
    the longer side at the matching rank, recursively. The default leaf size is 1,024 up to
    4,096 points and 256 above: on 20,000 points that is 0.3 s instead of 4.9 s, for a mean grid
    distance to the 8 nearest map neighbours of 2.46 cells instead of 2.41.
    """
    coords = np.asarray(coords, dtype=np.float64)
    n = len(coords)
    if leaf_size is None:
        leaf_size = 1024 if n <= 4096 else 256
    if n == 0:
        return np.zeros((0, 2), dtype=np.int32), 0, 0
    span = coords.max(axis=0) - coords.min(axis=0)
    if aspect is None:
        aspect = float(span[0] / span[1]) if span[1] > 0 and span[0] > 0 else 1.0
    cols, rows = grid_shape(n, aspect)
    pts = coords.copy()
    pts[:, 1] = -pts[:, 1]  # screen rows go down
    out = np.zeros((n, 2), dtype=np.int32)
    blocks = [(np.arange(n), 0, 0, cols, rows)]
    done = 0
    while blocks:
        idx, x0, y0, w, h = blocks.pop()
        m = len(idx)
        if m == 0:
            continue
        if m <= leaf_size or w * h <= leaf_size:
            out[idx] = _assign_block(pts[idx], x0, y0, w, h)
            done += m
            if report is not None:
                report("grid", done, n)
            continue
        vertical = w >= h  # split the columns (a vertical cut) when the block is wide
        axis = 0 if vertical else 1
        length = w if vertical else h
        first = length // 2
        other = h if vertical else w
        c1, c2 = first * other, (length - first) * other
        n1 = int(round(m * c1 / (c1 + c2)))
        n1 = min(max(n1, m - c2), c1)
        order = np.argsort(pts[idx, axis], kind="stable")
        a, b = idx[order[:n1]], idx[order[n1:]]
        if vertical:
            blocks += [(a, x0, y0, first, h), (b, x0 + first, y0, w - first, h)]
        else:
            blocks += [(a, x0, y0, w, first), (b, x0, y0 + first, w, h - first)]
    return out, cols, rows


def _assign_block(pts: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment

    gx, gy = np.meshgrid(np.arange(w), np.arange(h), indexing="ij")
    cells = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    scale = np.where(hi > lo, hi - lo, 1.0)
    # Points fill the block: stretch their bounding box onto the block's cell centres.
    norm = (pts - lo) / scale * np.array([max(w - 1, 0), max(h - 1, 0)], dtype=np.float64)
    cost = ((norm[:, None, :] - cells[None, :, :]) ** 2).sum(axis=2)
    rows_, cols_ = linear_sum_assignment(cost)
    result = np.zeros((len(pts), 2), dtype=np.int32)
    result[rows_] = cells[cols_].astype(np.int32) + np.array([x0, y0], dtype=np.int32)
    return result
