"""Near-duplicate detection quality: edited copies of real photos among photos of the same subjects.

    python tests/benchmarks/near_dup_benchmark.py [--quick] [--sizes 500,1000,2500,5000]
                                                  [--originals N] [--no-camera] [--json FILE]
    python tests/benchmarks/near_dup_benchmark.py --descriptors [--strength standard|hard] [--more]

The main report uses simdesk's public API only: ``Library(...).index()``,
``prepare_duplicates()``, ``find_duplicates()`` and ``duplicate_groups(scan[, threshold])``, so it
runs unchanged before and after a rework of the scan. Its sets (``near_dup_data.py``): camera
originals from ``animals`` and ``imagenette-val`` (equal shares; camera EXIF, see
``simdesk.eval.edited_copies``), 3 edited copies of each from every edit family of
``edited_copies.RECIPES`` (each family equally often: keep the originals per folder a multiple of
16), and other photos of the same folders with no copy, so that libraries of 500 to 5,000 real
photos hold the same groups among more look-alikes. The burst frames (``burst-frames``: 120
consecutive frames, no two are copies) and the same-room shots (``near-dup-rooms``: similar shots,
except one byte-identical pair) are indexed into every library as negatives.

Reported per library size and per edit family: recall at the default threshold (a copy in an
offered group with its original), precision at the default (of every pair in offered groups),
recall at pair precision >= 0.99 (the best over a sweep of ``duplicate_groups(scan, t)`` from the
scan's floor, ``--sweep-step`` apart), the share of groups that keep the original, and the pairs of
different shots offered for the Trash (``offered(group)``: kinds "identical", "copy", "exact",
"near"; never "similar_shot"). Libraries grow from one another (a copy of the smaller library's
folder plus the photos a size adds), so each photo is embedded once; sets and libraries are cached
in ``--cache`` (default: a folder under the system temp dir) and a second run takes seconds.
``--quick``: 64 originals, libraries of 500 and 1,000 photos (about a minute or two on 2 cores).

``--descriptors``: the older descriptor study instead (300 originals with the earlier recipes'
strengths, 1,500 distractors): descriptor alternatives re-scored with the engine's internals
(``Whitening``, ``similar_pairs``, ``pooling``), a two-fold check of the calibrated threshold,
recall by edit, small libraries, and burst frames and same-room shots at several slider positions.
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
from near_dup_data import (BURSTS, IDENTICAL_ROOMS, ROOMS, SHARED, LibrarySets,  # noqa: E402
                           build_library_sets, build_set, feature_maps)

from simdesk.core.duplicates import grouping as duplicates  # noqa: E402
from simdesk.core.library import Library  # noqa: E402
from simdesk.core.models import catalog as models  # noqa: E402
from simdesk.eval import duplicates as eval_duplicates  # noqa: E402
from simdesk.eval.edited_copies import FAMILIES  # noqa: E402

try:  # the descriptor study (--descriptors) re-scores with the engine's internals
    from simdesk.core.duplicates.descriptors import descriptor_spaces  # noqa: E402
    from simdesk.core.duplicates.grouping import Whitening, similar_pairs  # noqa: E402
    from simdesk.core.pooling import l2_normalize, pool  # noqa: E402
except ImportError as exc:  # the main report uses the public API only and runs without them
    INTERNALS_MISSING: ImportError | None = exc
else:
    INTERNALS_MISSING = None


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


def descriptor_study(args) -> int:
    """The descriptor study (``--descriptors``): alternatives re-scored with the engine's internals."""
    if INTERNALS_MISSING is not None:
        raise SystemExit(f"the descriptor study needs the engine's internals: {INTERNALS_MISSING}")
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


# -- the library-size report (public API only) ------------------------------------------------------

OFFERED_KINDS = {"identical", "copy", "exact", "near"}  # "similar_shot" groups are never offered
QUICK = {"originals": 64, "sizes": [500, 1000]}
FULL = {"originals": 160, "sizes": [500, 1000, 2500, 5000]}
TARGET_PRECISION = 0.99


def offered(group) -> bool:
    """Whether the app offers the group's extras for the Trash (before and after the group kinds)."""
    return group.kind in OFFERED_KINDS


def size_libraries(cache: Path, built: LibrarySets, sizes: list[int]):
    """One library per size, each grown from the previous one (a copy of its folder plus a level).

    Yields (size, library). Only the photos a level adds are
    embedded and described; a library already built in ``cache`` is reused as it is.
    """
    import shutil

    previous = None
    for k, size in enumerate(sizes):
        lib_dir = built.folder / f"library-{size}"
        done = lib_dir / "benchmark-ready"
        if not done.is_file():
            shutil.rmtree(lib_dir, ignore_errors=True)
            if previous is not None:
                shutil.copytree(previous, lib_dir)  # closed: no write-ahead log left behind
                (lib_dir / done.name).unlink()  # this one still has a level to index
        library = Library(lib_dir)
        seconds = 0.0
        if not done.is_file():
            if library.model_name != models.OFFLINE_MODEL or not library.model_chosen:
                library.set_model(models.OFFLINE_MODEL)
            for folder in (*built.sets, BURSTS, ROOMS, built.levels[k]):
                library.add_folder(folder)
            start = time.perf_counter()
            report = library.index(workers=2)
            prep = library.prepare_duplicates(workers=2)
            seconds = time.perf_counter() - start
            print(f"library of {size}: embedded {report.embedded} photos and described {prep.computed} "
                  f"in {seconds:.0f} s", flush=True)
            library.close()
            done.write_text("indexed and prepared\\n")
            library = Library(lib_dir)
        yield size, library
        library.close()
        previous = lib_dir


def groups_at(library: Library, scan, threshold: float | None):
    """The scan's groups at ``threshold`` (None: the default), as the app lists them."""
    return library.duplicate_groups(scan) if threshold is None else library.duplicate_groups(scan, threshold)


class Truth:
    """The set's photos by path, with what a group of them should and should not hold."""

    def __init__(self, photos):
        self.by_path = {os.path.realpath(p.path): p for p in photos}
        self.original_of = {p.group: os.path.realpath(p.path) for p in photos if p.role == "original"}

    def photo(self, path: str):
        return self.by_path.get(os.path.realpath(path))

    def same(self, a, b) -> bool:
        return a is not None and b is not None and a.group >= 0 and a.group == b.group


def families_of(photo) -> set[str]:
    return set(photo.recipe.split("+")) & set(FAMILIES) if photo.recipe else set()


def larger_than_original(photo, original) -> bool:
    """A copy with more pixels or more bytes than its original (the keep rule must not prefer it)."""
    from PIL import Image

    with Image.open(photo.path) as a, Image.open(original.path) as b:
        more_pixels = a.size[0] * a.size[1] > b.size[0] * b.size[1]
    return more_pixels or os.path.getsize(photo.path) > os.path.getsize(original.path)


def score_groups(groups, truth: Truth) -> dict:
    """Pair counts of one grouping: what is offered, what is true, which copies sit with their original."""
    found_pairs = true_found = 0
    copy_pairs: dict[str, list[int]] = {}  # copy path -> [offered pairs it is in, true ones]
    with_original: dict[str, tuple[bool, bool, str]] = {}  # copy path -> (offered, grouped, kept path)
    burst = rooms = other_false = wrong_extras = 0
    identical_offered = False
    for group in groups:
        members = [truth.photo(m.path) for m in group.members]
        kept = truth.photo(group.keep)
        paths = [os.path.realpath(m.path) for m in group.members]
        is_offered = offered(group)
        for px in members:
            if px is not None and px.role == "copy" and truth.original_of.get(px.group) in paths:
                with_original[os.path.realpath(px.path)] = (is_offered, True, os.path.realpath(group.keep))
        if not is_offered:
            continue
        for extra in group.extras:
            if not truth.same(truth.photo(extra.path), kept):
                wrong_extras += 1
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                a, b = members[x], members[y]
                true = truth.same(a, b)
                found_pairs += 1
                true_found += true
                for p in (a, b):
                    if p is not None and p.role == "copy":
                        row = copy_pairs.setdefault(os.path.realpath(p.path), [0, 0])
                        row[0] += 1
                        row[1] += true
                if true and a.role == "room":
                    identical_offered = True
                elif not true:
                    roles = {a.role if a else "?", b.role if b else "?"}
                    if roles == {"burst"}:
                        burst += 1
                    elif roles == {"room"}:
                        rooms += 1
                    else:
                        other_false += 1
    return {"found": found_pairs, "true": true_found, "copy_pairs": copy_pairs,
            "with_original": with_original, "burst": burst, "rooms": rooms, "other_false": other_false,
            "wrong_extras": wrong_extras, "identical_offered": identical_offered}


def copy_recall(score: dict, copies: list, pick=lambda c: True) -> tuple[float, int]:
    chosen = [c for c in copies if pick(c)]
    if not chosen:
        return float("nan"), 0
    hits = sum(1 for c in chosen if score["with_original"].get(os.path.realpath(c.path), (False,))[0])
    return hits / len(chosen), len(chosen)


def report_size(size: int, library: Library, truth: Truth, photos, sweep_step: float) -> dict:
    start = time.perf_counter()
    scan = library.find_duplicates()  # the default; groups_at() regroups it at any threshold >= its floor
    scan_seconds = time.perf_counter() - start
    in_library = {os.path.realpath(m.path) for m in scan.photos}
    copies = [p for p in photos if p.role == "copy" and os.path.realpath(p.path) in in_library]
    originals = {p.group: p for p in photos if p.role == "original"}
    start = time.perf_counter()
    default_groups = groups_at(library, scan, None)
    group_seconds = time.perf_counter() - start
    default = score_groups(default_groups, truth)
    # The sweep: every threshold the scan can group at, in steps; pair precision over all offered pairs.
    thresholds = np.round(np.arange(np.ceil(scan.floor / sweep_step) * sweep_step, 1.0 + 1e-9, sweep_step), 4)
    best = None  # (recall, threshold, score)
    best_set = None  # the same with precision over the edited-copies set's pairs only (no bursts, rooms)
    for t in thresholds:
        try:
            score = score_groups(groups_at(library, scan, float(t)), truth)
        except Exception as exc:  # a scan that cannot group at this threshold
            print(f"  (no groups at {t:.2f}: {exc})", flush=True)
            continue
        precision = score["true"] / score["found"] if score["found"] else 1.0
        recall, _ = copy_recall(score, copies)
        if precision >= TARGET_PRECISION and (best is None or recall > best[0]):
            best = (recall, float(t), score)
        set_found = score["found"] - score["burst"] - score["rooms"] - score["identical_offered"]
        set_precision = (score["true"] - score["identical_offered"]) / set_found if set_found else 1.0
        if set_precision >= TARGET_PRECISION and (best_set is None or recall > best_set[0]):
            best_set = (recall, float(t))
    larger = {c.path for c in copies if larger_than_original(c, originals[c.group])}
    rows = {}

    def row(name: str, pick):
        rec, n = copy_recall(default, copies, pick)
        if not n:
            return
        # Precision: of the offered pairs these copies are in (a pair of two such copies counts twice).
        pairs = [default["copy_pairs"].get(os.path.realpath(c.path), [0, 0]) for c in copies if pick(c)]
        found, true = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        precision = true / found if found else float("nan")
        r99 = copy_recall(best[2], copies, pick)[0] if best else 0.0
        grouped = [c for c in copies if pick(c) and os.path.realpath(c.path) in default["with_original"]]
        kept = sum(1 for c in grouped
                   if default["with_original"][os.path.realpath(c.path)][2]
                   == os.path.realpath(originals[c.group].path))
        rows[name] = {"copies": n, "recall": rec, "precision": precision, "recall_p99": r99,
                      "grouped_with_original": len(grouped),
                      "original_kept": kept / len(grouped) if grouped else float("nan")}

    for fam in FAMILIES:
        row(fam, lambda c, fam=fam: fam in families_of(c))
    row("(one edit)", lambda c: len(families_of(c)) == 1)
    row("(two edits)", lambda c: len(families_of(c)) == 2)
    row("(three edits)", lambda c: len(families_of(c)) == 3)
    row("(no EXIF)", lambda c: c.metadata == "none")
    row("(editor EXIF)", lambda c: c.metadata == "edited")
    row("(larger than the original)", lambda c: c.path in larger)
    row("(all copies)", lambda c: True)
    precision = default["true"] / default["found"] if default["found"] else 1.0
    groups_with_original = {}
    for c in copies:
        hit = default["with_original"].get(os.path.realpath(c.path))
        if hit:
            groups_with_original[c.group] = hit[2] == os.path.realpath(originals[c.group].path)
    bursts = sum(1 for m in scan.photos if os.path.realpath(m.path).startswith(str(BURSTS.resolve())))
    return {
        "size": size, "photos": len(scan.photos), "copies": len(copies), "larger": len(larger),
        "floor": scan.floor, "default_threshold": scan.threshold,
        "recall": copy_recall(default, copies)[0], "precision": precision,
        "pairs_offered": default["found"],
        "recall_p99": best[0] if best else 0.0, "threshold_p99": best[1] if best else float("nan"),
        "recall_p99_set": best_set[0] if best_set else 0.0,
        "threshold_p99_set": best_set[1] if best_set else float("nan"),
        "groups_keeping_original": (sum(groups_with_original.values()) / len(groups_with_original)
                                    if groups_with_original else float("nan")),
        "groups_with_original": len(groups_with_original),
        "burst_pairs": default["burst"], "room_pairs": default["rooms"], "other_false": default["other_false"],
        "wrong_extras": default["wrong_extras"], "identical_rooms_offered": default["identical_offered"],
        "bursts": bursts, "kinds": sorted({g.kind for g in default_groups}),
        "scan_s": scan_seconds, "group_s": group_seconds, "families": rows,
    }


def _f(v: float, digits: int = 3) -> str:
    return "–" if v != v else f"{v:.{digits}f}"


def print_report(results: list[dict], args) -> None:
    print("\n## Near-duplicates by library size\n")
    print(f"Originals x 3 copies among other photos of `animals` and `imagenette-val` (size = originals + "
          f"photos with no copy), plus {results[0]['bursts']} burst frames and the 24 same-room shots. "
          f"Recall: copies grouped with their original in an offered group at the default threshold. "
          f"Precision: of all pairs in offered groups. R@P{TARGET_PRECISION}: the best recall over the "
          f"thresholds {args.sweep_step:g} apart from the scan's floor whose pair precision is >= "
          f"{TARGET_PRECISION}; \"without similar shots\": the same with the precision of the pairs that "
          f"involve no burst frame or room shot (what the negatives cost). Kept: groups with an original "
          f"and its copy that keep the original.\n")
    print("| size | photos | copies | default | recall | precision | pairs offered | R@P0.99 | at | "
          "R@P0.99 without similar shots | at | original kept | burst pairs offered | room pairs offered | other false pairs | photos wrongly "
          "offered | identical rooms offered | scan s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:--:|---:|")
    for r in results:
        print(f"| {r['size']} | {r['photos']} | {r['copies']} | {r['default_threshold']:.2f} | "
              f"{_f(r['recall'])} | {_f(r['precision'])} | {r['pairs_offered']} | {_f(r['recall_p99'])} | "
              f"{_f(r['threshold_p99'], 2)} | {_f(r['recall_p99_set'])} | {_f(r['threshold_p99_set'], 2)} | "
              f"{_f(r['groups_keeping_original'])} "
              f"({r['groups_with_original']}) | {r['burst_pairs']} | {r['room_pairs']} | {r['other_false']} | "
              f"{r['wrong_extras']} | {'yes' if r['identical_rooms_offered'] else 'no'} | "
              f"{r['scan_s'] + r['group_s']:.1f} |")
    print(f"\nGroup kinds seen: {', '.join(sorted({k for r in results for k in r['kinds']}))}. "
          f"Copies larger than their original (pixels or bytes): {results[0]['larger']} of "
          f"{results[0]['copies']}.")
    for r in results:
        print(f"\n### {r['size']} photos: by edit family (a copy counts for every family in its recipe)\n")
        print("| family | copies | recall | precision | R@P0.99 | original kept |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, row in r["families"].items():
            print(f"| {name} | {row['copies']} | {_f(row['recall'])} | {_f(row['precision'])} | "
                  f"{_f(row['recall_p99'])} | {_f(row['original_kept'])} ({row['grouped_with_original']}) |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['originals']} originals, libraries of {QUICK['sizes']} photos "
                             "(a few minutes on 2 cores)")
    parser.add_argument("--originals", type=int, help=f"default {FULL['originals']}")
    parser.add_argument("--sizes", type=lambda v: [int(x) for x in v.split(",")],
                        help=f"library sizes, comma-separated (default {','.join(map(str, FULL['sizes']))})")
    parser.add_argument("--no-camera", action="store_true",
                        help="originals as byte copies of the shared photos (no camera EXIF)")
    parser.add_argument("--sweep-step", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "simdesk-neardup")
    study = parser.add_argument_group("the descriptor study (--descriptors; the engine's internals)")
    study.add_argument("--descriptors", action="store_true",
                       help="instead: descriptor alternatives on the older 1,800-photo set (also "
                            "chosen by any option of the study, as its command lines were before)")
    study.add_argument("--strength", choices=("standard", "hard"))
    study.add_argument("--distractors", type=int,
                       help="photos with no copy (default 1500; up to about 4000)")
    study.add_argument("--more", action="store_true",
                       help="also mirrored-view averaging and regional (R-MAC) descriptors of the last "
                            "layer (one more pass of the model)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SIMDESK_MODELS_DIR", str(args.cache / "models"))
    if not (models.models_dir() / models.OFFLINE_MODEL).is_dir():
        models.install_efficientnet_lite0()
    if args.descriptors or args.strength or args.distractors is not None or args.more:
        args.strength = args.strength or "standard"
        args.distractors = 1500 if args.distractors is None else args.distractors
        return descriptor_study(args)
    preset = QUICK if args.quick else FULL
    originals = args.originals or preset["originals"]
    sizes = sorted(args.sizes or preset["sizes"])
    started = time.perf_counter()
    built = build_library_sets(args.cache, originals, sizes, seed=args.seed, camera=not args.no_camera)
    truth = Truth(built.photos)
    results = []
    for size, library in size_libraries(args.cache, built, sizes):
        results.append(report_size(size, library, truth, built.photos, args.sweep_step))
    print_report(results, args)
    print(f"\n({time.perf_counter() - started:.0f} s in all; model {models.OFFLINE_MODEL}; cache {built.folder})")
    if args.json:
        import json

        args.json.write_text(json.dumps(results, indent=1, default=float))
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
