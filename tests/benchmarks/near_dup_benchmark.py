"""Near-duplicate detection quality: edited copies of real photos among photos of the same subjects.

    python tests/benchmarks/near_dup_benchmark.py [--strength standard|hard] [--cache DIR] [--more]

The photo set (``near_dup_data.py``): 300 originals (150 from ``animals``, 150 from
``imagenette-val``), 3 edited copies of each (resize, recompress, crop, recolour, small rotation,
90-degree rotation, caption, alone and combined; every recipe equally often), and 1,500 distractors
from the same folders (the same cats, dogs, pandas and Imagenette classes, no copy). A true pair is
two photos of one group (an original and a copy, or two copies); every other pair is false.
The burst frames (``../shared/data/burst-frames``) and ``near-dup-rooms`` sit in the same library.

Everything runs through simdesk's own code: a temporary ``Library`` indexes the folder
(``Library.index``), computes the duplicate descriptors (``Library.prepare_duplicates``) and scans
(``Library.find_duplicates``); the table of alternatives re-scores the same stored vectors (and,
for the last-layer poolings, ``decode_image`` + ``Embedder.feature_maps`` + ``pooling``) with the
engine's ``Whitening`` and ``similar_pairs``. Decoded features and the library are cached in
``--cache`` (default: a folder under the system temp dir), so a second run takes seconds.

Printed: pairwise precision, recall and F1 at the default threshold (raw pairs and after complete-
linkage grouping), recall at precision >= 0.99 for each descriptor option, a two-fold check of the
calibrated threshold, recall by edit, small libraries, and how burst frames and same-room shots
are treated at several slider positions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from near_dup_data import SHARED, build_set, feature_maps  # noqa: E402

from simdesk.core.duplicates import grouping as duplicates  # noqa: E402
from simdesk.core.models import catalog as models  # noqa: E402
from simdesk.eval import duplicates as eval_duplicates  # noqa: E402
from simdesk.core.duplicates.descriptors import descriptor_spaces  # noqa: E402
from simdesk.core.duplicates.grouping import Whitening, similar_pairs  # noqa: E402
from simdesk.core.library import Library  # noqa: E402
from simdesk.core.pooling import l2_normalize, pool  # noqa: E402


# -- metrics ----------------------------------------------------------------------------------------


class PairTruth:
    """Which of all pairs of the set are true, and per-pair labels for breakdowns."""

    def __init__(self, groups: np.ndarray):
        self.n = len(groups)
        self.groups = groups
        counts = np.bincount(groups[groups >= 0])
        self.positives = int((counts * (counts - 1) // 2).sum())

    def is_true(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return (self.groups[i] == self.groups[j]) & (self.groups[i] >= 0)


def all_pair_scores(a: np.ndarray, r: np.ndarray | None, aspects: np.ndarray | None):
    """Every pair's similarity exactly as the scan computes it (all pairs: threshold -inf)."""
    return similar_pairs(a, -2.0, r, aspects)  # cosines are >= -1: every pair


def curve(truth: PairTruth, i, j, s):
    """Precision and recall at every distinct similarity, highest first: (thresholds, precision, recall)."""
    return eval_duplicates.pr_curve(s, truth.is_true(i, j), truth.positives)


def recall_at_precision(truth: PairTruth, i, j, s, precision: float = 0.99) -> tuple[float, float]:
    """(best recall with precision >= ``precision``, the threshold that gives it)."""
    # Equal scores are one cut (a threshold cannot split them): see eval_duplicates.pr_curve.
    return eval_duplicates.recall_at_precision(s, truth.is_true(i, j), truth.positives, precision)


def prf_at(truth: PairTruth, i, j, s, threshold: float) -> tuple[float, float, float]:
    return eval_duplicates.prf_at(s, truth.is_true(i, j), truth.positives, threshold)


def grouped_prf(truth: PairTruth, groups_of_items: list[list[int]]) -> tuple[float, float, float]:
    tp = found = 0
    for g in groups_of_items:
        g = np.array(g)
        if len(g) < 2:
            continue
        a, b = np.triu_indices(len(g), 1)
        found += len(a)
        tp += int(truth.is_true(g[a], g[b]).sum())
    p = tp / found if found else 1.0
    r = tp / truth.positives
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


# -- the library ------------------------------------------------------------------------------------


def link_photos(items, folder: Path) -> list[str]:
    """One library folder for the whole set: symlinks to the shared photos, the copies themselves."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, item in enumerate(items):
        link = folder / f"{k:05d}_{Path(item.path).name}"
        if not link.exists():
            link.symlink_to(item.path)
        paths.append(str(link))
    return paths


def build_library(cache: Path, items, strength: str) -> tuple[Library, list[str]]:
    lib_dir = cache / f"library-{strength}"
    photos = cache / f"photos-{strength}"
    paths = link_photos(items, photos / "set")
    library = Library(lib_dir)
    if library.model_name != models.OFFLINE_MODEL:
        library.set_model(models.OFFLINE_MODEL)
    for folder in (photos, SHARED / "burst-frames", SHARED / "near-dup-rooms"):
        library.add_folder(folder)
    start = time.perf_counter()
    report = library.index(workers=2)
    if report.embedded:
        print(f"indexed {report.embedded} photos in {time.perf_counter() - start:.0f} s", flush=True)
    start = time.perf_counter()
    prep = library.prepare_duplicates(workers=2)
    if prep.computed:
        print(f"duplicate descriptors for {prep.computed} photos in {time.perf_counter() - start:.0f} s",
              flush=True)
    return library, paths


def stored(library: Library, space, paths: list[str]) -> np.ndarray:
    """Stored vectors of the given photos, in the given order."""
    ids, vectors = library.store.load_embeddings(space)
    row = {int(i): k for k, i in enumerate(ids)}
    out = []
    for path in paths:
        record = library.store.photo_by_path(path)
        out.append(vectors[row[record.id]])
    return np.stack(out)


# -- the report -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strength", choices=("standard", "hard"), default="standard")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "simdesk-neardup")
    parser.add_argument("--distractors", type=int, default=1500,
                        help="photos with no copy (default 1500; up to about 4000)")
    parser.add_argument("--more", action="store_true",
                        help="also mirrored-view averaging and regional (R-MAC) descriptors of the last "
                             "layer (one more pass of the model)")
    args = parser.parse_args()
    cache = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SIMDESK_MODELS_DIR", str(cache / "models"))
    if not (models.models_dir() / models.OFFLINE_MODEL).is_dir():
        models.install_efficientnet_lite0()

    items = build_set(cache, strength=args.strength, distractors=args.distractors)
    truth = PairTruth(np.array([it.group for it in items]))
    key = args.strength if args.distractors == 1500 else f"{args.strength}-d{args.distractors}"
    library, paths = build_library(cache, items, key)
    store = library.store
    model = library.duplicate_descriptor_model()
    spaces = descriptor_spaces(store, model.spec)
    records = [store.photo_by_path(p) for p in paths]
    aspects = np.array([(r.width or 1) / (r.height or 1) for r in records])
    # The whitening is fitted on the whole library (set, bursts, rooms), as a scan does.
    everything_up = store.load_embeddings(spaces["upright"])[1]
    up = stored(library, spaces["upright"], paths)
    rot = stored(library, spaces["rot90"], paths)
    lib_space = library._space_for(library.manifest(), library.pooling)
    lib_all = store.load_embeddings(lib_space)[1]
    lib_vec = stored(library, lib_space, paths)

    print(f"\n{args.strength} edits: {len(items)} photos, {truth.positives} true pairs, "
          f"{truth.n * (truth.n - 1) // 2} pairs in all; model {models.OFFLINE_MODEL}, "
          f"{library.manifest().resize_mode}\n")

    rows = []

    def option(name: str, a, r=None, asp=None, note=""):
        i, j, s = all_pair_scores(a, r, asp)
        rec, thr = recall_at_precision(truth, i, j, s)
        _, prec, recs = curve(truth, i, j, s)
        best_f1 = float(np.max(2 * prec * recs / np.maximum(prec + recs, 1e-12)))
        rows.append((name, rec, thr, best_f1, note))
        print(f"  {name:<52} R@P0.99 {rec:.3f} (at {thr:.3f})  best F1 {best_f1:.3f}", flush=True)
        return i, j, s

    def whitened(fit_on, *views, dims=duplicates.WHITEN_DIMS):
        w = Whitening.fit(fit_on, dims=dims)
        return [w.apply(v) for v in views]

    print("Descriptor options (pairwise, all pairs of the set):")
    option("last layer, avg (library vector), cosine", l2_normalize(lib_vec))
    (a,) = whitened(lib_all, lib_vec)
    option("last layer, avg, PCA-whitened 256 (--fast)", a)
    maps = feature_maps(items, cache, "plain")
    for pooling in ("gem", "max"):
        pooled = np.concatenate([pool(np.asarray(maps[k:k + 256], dtype=np.float32), pooling)
                                 for k in range(0, len(maps), 256)])
        option(f"last layer, {pooling}, cosine", l2_normalize(pooled))
        (a,) = whitened(pooled, pooled)
        option(f"last layer, {pooling}, PCA-whitened 256", a)
    if args.more:
        flip = feature_maps(items, cache, "flip")
        avg_flip = np.concatenate([pool(np.asarray(flip[k:k + 256], dtype=np.float32), "avg")
                                   for k in range(0, len(flip), 256)])
        mirrored = l2_normalize(lib_vec) + l2_normalize(avg_flip)
        (a,) = whitened(mirrored, mirrored)
        option("last layer, avg + mirrored view, PCA-whitened 256", a)
        regional = np.concatenate([_rmac(np.asarray(maps[k:k + 256], dtype=np.float32))
                                   for k in range(0, len(maps), 256)])
        (a,) = whitened(regional, regional)
        option("last layer, R-MAC (regional max), PCA-whitened 256", a)
    option(f"mid level ({model.spec.layer}), GeM, cosine", l2_normalize(up))
    for dims in (128, 256, 384):
        (a,) = whitened(everything_up, up, dims=dims)
        option(f"mid level, GeM, PCA-whitened {dims}", a)
    for dims in (128, 256, 384):
        a, r = whitened(everything_up, up, rot, dims=dims)
        pick = " (default)" if dims == duplicates.WHITEN_DIMS else ""
        option(f"mid level, GeM, whitened {dims}, + turned view{pick}", a, r, aspects)
    a, r = whitened(everything_up, up, rot)
    i, j, s = all_pair_scores(a, r, aspects)

    # Threshold: calibrated as the lowest that keeps precision >= 0.99, two-fold by group parity.
    print("\nCalibration (default descriptor), two folds by group parity, distractors split alike:")
    parity = np.where(truth.groups >= 0, truth.groups % 2, np.arange(truth.n) % 2)
    for fold in (0, 1):
        cal = (parity[i] == fold) & (parity[j] == fold)
        test = (parity[i] == 1 - fold) & (parity[j] == 1 - fold)
        sub = PairTruth(np.where(parity == fold, truth.groups, -1))
        rec, thr = recall_at_precision(sub, i[cal], j[cal], s[cal])
        held = PairTruth(np.where(parity == 1 - fold, truth.groups, -1))
        p, r_, f = prf_at(held, i[test], j[test], s[test], thr)
        print(f"  fold {fold}: threshold {thr:.3f} (recall {rec:.3f}); on the other fold: "
              f"precision {p:.3f} recall {r_:.3f} F1 {f:.3f}")
    default = duplicates.DEFAULT_THRESHOLD
    p, r_, f = prf_at(truth, i, j, s, default)
    print(f"\nAt the default threshold {default:.2f}:")
    print(f"  pairs above the threshold:      precision {p:.3f}  recall {r_:.3f}  F1 {f:.3f}")

    # The engine itself: scan the library, group with complete linkage, read the groups back.
    start = time.perf_counter()
    scan = library.find_duplicates(floor=duplicates.SLIDER_MIN)  # keeps pairs for every slider position
    groups = library.duplicate_groups(scan)
    seconds = time.perf_counter() - start
    item_of = {path: k for k, path in enumerate(paths)}
    grouped = [[item_of[m.path] for m in g.members if m.path in item_of] for g in groups]
    gp, gr, gf = grouped_prf(truth, grouped)
    print(f"  after grouping (the scan's output): precision {gp:.3f}  recall {gr:.3f}  F1 {gf:.3f}  "
          f"({len(groups)} groups, scan {seconds:.1f} s for {len(scan.photos)} photos)")
    for t in (0.40, 0.45, 0.50, 0.60, 0.70):
        if t < scan.floor:
            continue
        at_t = [[item_of[m.path] for m in g.members if m.path in item_of]
                for g in library.duplicate_groups(scan, t)]
        gp, gr, gf = grouped_prf(truth, at_t)
        print(f"  grouped at {t:.2f}: precision {gp:.3f}  recall {gr:.3f}  F1 {gf:.3f}")

    # Recall by edit at the default threshold (pairs that involve a copy made with that recipe).
    print("\nRecall by edit at the default threshold (raw pairs that involve such a copy):")
    recipes = np.array([it.recipe or it.role for it in items])
    true = truth.is_true(i, j)
    hit = s >= default
    for recipe in sorted({it.recipe for it in items if it.recipe}):
        m = true & ((recipes[i] == recipe) | (recipes[j] == recipe))
        print(f"  {recipe:<40} {hit[m].mean():.3f}  ({m.sum()} pairs)")

    # Small libraries: the whitening is fitted on what the library holds.
    print("\nSmaller libraries (whitening fitted on the subset; default threshold):")
    rng = np.random.default_rng(1)
    distractors = np.flatnonzero(truth.groups < 0)
    for n_groups, n_distractors in ((20, 100), (60, 300), (150, 750)):
        if n_groups > truth.groups.max() + 1 or n_distractors > len(distractors):
            continue  # a smaller set (--distractors, --originals) has no room for this size
        chosen_groups = rng.choice(truth.groups.max() + 1, n_groups, replace=False)
        keep = np.isin(truth.groups, chosen_groups)
        keep[rng.choice(distractors, n_distractors, replace=False)] = True
        idx = np.flatnonzero(keep)
        a_s, r_s = whitened(up[idx], up[idx], rot[idx])
        sub = PairTruth(truth.groups[idx])
        si, sj, ss = all_pair_scores(a_s, r_s, aspects[idx])
        p, r_, f = prf_at(sub, si, sj, ss, default)
        rec, thr = recall_at_precision(sub, si, sj, ss)
        print(f"  {len(idx):>5} photos: precision {p:.3f} recall {r_:.3f} F1 {f:.3f}; "
              f"R@P0.99 {rec:.3f} at {thr:.3f}")

    # Burst frames and same-room shots: similar photos, not copies.
    print("\nBurst frames (120 consecutive frames, potatoes on a belt) and same-room shots:")
    bursts = sorted(m for m in range(len(scan.photos))
                    if scan.photos[m].path.startswith(str(SHARED / "burst-frames")))
    for t in (0.40, 0.50, 0.55, 0.60, 0.70, 0.80, 0.90):
        if t < scan.floor:
            continue
        gs = library.duplicate_groups(scan, t)
        in_burst = [g for g in gs if any(m.path.startswith(str(SHARED / "burst-frames")) for m in g.members)]
        sizes = sorted((len(g.members) for g in in_burst), reverse=True)
        frames = sum(sizes)
        in_rooms = [g for g in gs if any(m.path.startswith(str(SHARED / "near-dup-rooms")) for m in g.members)]
        room_exact = sum(1 for g in in_rooms if g.kind == "exact")
        print(f"  threshold {t:.2f}: {frames}/{len(bursts)} burst frames in {len(in_burst)} groups "
              f"(largest {sizes[0] if sizes else 0}); rooms: {len(in_rooms)} groups "
              f"({room_exact} byte-identical)")
    return 0


def _rmac(maps: np.ndarray, levels: int = 3) -> np.ndarray:
    """R-MAC-style regional descriptor: max over square regions at 3 scales, each L2-normalised, summed."""
    _, _, h, w = maps.shape
    side0 = min(h, w)
    regions = [(0, 0, side0)]
    for level in range(2, levels + 1):
        side = int(np.ceil(2 * side0 / (level + 1)))
        ys = np.linspace(0, h - side, level).round().astype(int)
        xs = np.linspace(0, w - side, level).round().astype(int)
        regions += [(y, x, side) for y in ys for x in xs]
    total = np.zeros(maps.shape[:2], dtype=np.float32)
    for y, x, side in regions:
        total += l2_normalize(maps[:, :, y:y + side, x:x + side].max(axis=(2, 3)))
    return total


if __name__ == "__main__":
    sys.exit(main())
