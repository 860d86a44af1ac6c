"""Time the cluster-map layout on synthetic embeddings: 1,000 / 10,000 / 100,000 photos.

    python tests/benchmarks/bench_layout.py                    # the three sizes
    python tests/benchmarks/bench_layout.py --sizes 10000 --full   # also plain t-SNE of all
    python tests/benchmarks/bench_layout.py --canvas --sizes 10000,100000   # the Qt canvas
    python tests/benchmarks/bench_layout.py --before              # also scikit-learn's, side by side

``--before`` also times the layout as it was before openTSNE (a subclass of scikit-learn's TSNE
calling its private gradient descent), read from the git history (``BEFORE_COMMIT``) into a
temporary folder: the product no longer ships it. Both run in the same process, one after the
other at each size, on the same embeddings.

Embeddings are synthetic but shaped like real ones: EfficientNet-Lite0's 1,280 dimensions,
non-negative (post-ReLU), in a hierarchy of classes (20 super-classes of 10 classes each) with
photo-to-photo noise. It prints, per size: the time of each phase (PCA, t-SNE neighbours and
optimisation, placing, refining), the total, the tidy grid's assignment time, the peak memory
of the process, and a quality figure — the share of each photo's 10 nearest neighbours on the
map that come from its class (measured on up to 5,000 photos) — next to the same figure for
the 10 nearest neighbours in the embedding space itself, the most the map could show.

``--canvas`` times the map canvas (``simdesk.ui.map_view``, offscreen, 1280x800) instead: frame
times while zooming in from the whole map to single photos and while panning, per level of
detail, and the process memory, over a synthetic clustered layout whose thumbnails are real
256x192 JPEGs decoded by the canvas's loader thread.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
BEFORE_COMMIT = "80eaa1bfa523c54d5c40b0070b667917dacd0615"  # the last layout on scikit-learn

import numpy as np  # noqa: E402

from simdesk.core.map.layout import LayoutParams, compute_layout, grid_cells  # noqa: E402


def synthetic(n: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    supers = rng.gamma(0.6, 1.0, (20, dim)).astype(np.float32)
    classes = supers.repeat(10, axis=0) + rng.gamma(0.4, 0.6, (200, dim)).astype(np.float32)
    labels = rng.integers(0, 200, n)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 20000):
        lab = labels[start:start + 20000]
        noise = rng.gamma(0.5, 2.0, (len(lab), dim)).astype(np.float32)
        out[start:start + len(lab)] = classes[lab] + noise
    return out, labels


def agreement(points: np.ndarray, labels: np.ndarray, k: int = 10, limit: int = 5000) -> float:
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(1)
    rows = rng.choice(len(points), min(limit, len(points)), replace=False)
    if points.shape[1] <= 3:
        _, nn = cKDTree(points).query(points[rows], k=k + 1)
    else:  # cosine neighbours in the embedding space
        from simdesk.core.pooling import l2_normalize

        x = l2_normalize(points)
        nn = np.argsort(-(x[rows] @ x.T), axis=1)[:, : k + 1]
    return float((labels[nn[:, 1:]] == labels[rows][:, None]).mean())


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def before_module(tmp: str):
    """simdesk.core.map.layout as of ``BEFORE_COMMIT`` (scikit-learn's t-SNE), imported from git."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{BEFORE_COMMIT}:simdesk/core/map/layout.py"],
                            check=True, capture_output=True, text=True).stdout
    path = Path(tmp) / "layout_sklearn.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("layout_sklearn", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run(n: int, dim: int, params: LayoutParams, reference: bool, impl=None, name: str = "") -> float:
    vectors, labels = synthetic(n, dim)
    marks: dict[str, float] = {}
    start = time.perf_counter()

    def progress(p):
        marks.setdefault(p.phase, time.perf_counter() - start)

    if impl is None:
        coords = compute_layout(vectors, params, progress=progress)
    else:
        coords = impl.compute_layout(vectors, impl.LayoutParams(**{
            k: v for k, v in vars(params).items() if k in impl.LayoutParams.__dataclass_fields__}),
            progress=progress)
    total = time.perf_counter() - start
    order = ["reducing", "affinities", "tsne", "placing", "refining", "done"]
    seen = [ph for ph in order if ph in marks]
    phases = "  ".join(f"{a} {marks[b] - marks[a]:.1f}s" for a, b in zip(seen, seen[1:]))
    t0 = time.perf_counter()
    grid_cells(coords)
    grid_s = time.perf_counter() - t0
    line = (f"{name}{n:>7} photos: layout {total:6.1f} s  ({phases})  grid {grid_s:.1f} s  "
            f"peak {peak_mb():.0f} MB  map 10-NN same class {agreement(coords, labels):.3f}")
    if reference:
        line += f" (embedding {agreement(vectors, labels):.3f})"
    print(line, flush=True)
    return total


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def canvas(n: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import io

    from PIL import Image, ImageDraw
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from simdesk.core.map.cache import MapLayout, MapPhotos
    from simdesk.ui.map_view import MapView

    app = QApplication.instance() or QApplication([])
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(max(n // 500, 3), 2)) * 40
    coords = (centres[rng.integers(0, len(centres), n)] + rng.normal(size=(n, 2)) * 3).astype(np.float32)
    ids = np.arange(1, n + 1, dtype=np.int64)
    layout = MapLayout("bench", 1, ids, coords, LayoutParams(), time.time())
    photos = MapPhotos(ids, [f"/photos/{i}.jpg" for i in ids], ["/photos"] * n,
                       np.full(n, 1.6e9), [int(i).to_bytes(8, "little") for i in ids])
    img = Image.new("RGB", (256, 192), (90, 120, 160))
    ImageDraw.Draw(img).ellipse([60, 30, 200, 170], fill=(230, 180, 60))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    jpeg = buf.getvalue()
    base = rss_mb()
    view = MapView(None, thumbnail_source=lambda chash: jpeg)
    view.resize(1280, 800)
    view.show()
    app.processEvents()
    t0 = time.perf_counter()
    view.set_layout(layout, photos, colours=rng.integers(0, 256, (n, 3)).astype(np.uint8))
    setup = time.perf_counter() - t0
    frames: dict[str, list[float]] = {}

    def frame() -> None:
        t = time.perf_counter()
        view.repaint()
        ms = (time.perf_counter() - t) * 1000
        level = view.last_frame["level"].split()[0]
        frames.setdefault(level, []).append(ms)

    for _ in range(5):
        frame()  # whole map
    # Zoom in on a dense spot, from the whole map to a single photo, in wheel steps.
    target = int(np.argmin(((coords - centres[0]) ** 2).sum(axis=1)))
    view.zoom_to_photo(int(ids[target]), item_px=view.item_size_px(), animate=False)
    steps = int(np.ceil(np.log(400 / view.item_size_px()) / np.log(2 ** 0.25)))
    for _ in range(steps):
        view.zoom_by(2 ** 0.25, QPointF(640, 400))
        frame()
        app.processEvents()  # thumbnails that arrived meanwhile
    # Pan at a thumbnail level where many photos are in view, then at the whole map.
    view.zoom_by(40 / view.item_size_px(), QPointF(640, 400))
    for _ in range(40):
        view.pan_by(25, 10)
        frame()
        app.processEvents()
    view.fit_all(animate=False)
    for _ in range(20):
        view.pan_by(-15, 5)
        frame()
    summary = "  ".join(
        f"{level}: median {np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms ({len(ms)} frames)"
        for level, ms in frames.items())
    print(f"{n:>7} items: set_layout {setup * 1000:.0f} ms  {summary}  memory +{rss_mb() - base:.0f} MB "
          f"(pixmaps {view.pixmap_memory() / 2**20:.0f} MB)", flush=True)
    view.shutdown()
    view.close()
    view.deleteLater()
    app.processEvents()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--full", action="store_true",
                        help="also lay out every photo with t-SNE (no sample) for comparison")
    parser.add_argument("--reference", action="store_true",
                        help="also print the embedding-space neighbour figure (slow at 100k)")
    parser.add_argument("--canvas", action="store_true", help="time the Qt canvas instead")
    parser.add_argument("--before", action="store_true",
                        help="also time the scikit-learn layout of BEFORE_COMMIT, side by side")
    args = parser.parse_args()
    if args.canvas:
        for n in (int(s) for s in args.sizes.split(",")):
            canvas(n)
        return 0
    print(f"{os.cpu_count()} CPUs; t-SNE threads: {os.environ.get('SIMDESK_LAYOUT_THREADS', 'auto')}; "
          f"defaults {LayoutParams()}", flush=True)
    tmp = tempfile.TemporaryDirectory(prefix="simdesk-bench-layout-")
    before = before_module(tmp.name) if args.before else None
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        after_s = run(n, args.dim, LayoutParams(), args.reference, name="openTSNE     " if before else "")
        if before is not None:
            before_s = run(n, args.dim, LayoutParams(), False, before, name="scikit-learn ")
            rows.append((n, before_s, after_s))
        if args.full and n > LayoutParams().sample_size:
            print("  plain t-SNE of all of them:", end=" ", flush=True)
            run(n, args.dim, LayoutParams(sample_size=n), False)
    if rows:
        print("\n| photos | scikit-learn (before) | openTSNE (after) |\n| ---: | ---: | ---: |")
        for n, b, a in rows:
            print(f"| {n:,} | {b:.1f} s | {a:.1f} s |")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
