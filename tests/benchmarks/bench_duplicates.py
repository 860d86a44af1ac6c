"""Speed and memory of a full duplicate scan at 10,000 and 100,000 photos (synthetic descriptors).

    python tests/benchmarks/bench_duplicates.py [--sizes 10000 100000] [--no-rotations]
    python tests/benchmarks/bench_duplicates.py --compare-only [--before] [--sizes ...]

For each size, a throw-away library is filled with that many photos: 672-d descriptors in both
views (upright and turned), float16 in SQLite exactly as ``prepare_duplicates`` stores them, drawn
from a low-rank non-negative model so that whitening has structure to remove, with 1% of the photos
in planted groups of 2-4 edited copies and aspect ratios 70% 4:3, 20% 3:4, 5% 16:9, 5% 1:1. Then a
fresh process runs ``Library.find_duplicates`` + ``duplicate_groups`` (load from SQLite, fit the
whitening, all pairs by blocked products, complete linkage, keep rules) and reports wall time per
phase, peak RSS of that process and the peak of NumPy's allocations (tracemalloc), and how many
planted groups came back. An N x N float32 matrix would be 40 GB at 100,000 photos; the scan's
working set is a few 2048 x 2048 tiles.

The verification runs for real: every synthetic photo gets the stored local features of one of 300
real photos of ../shared/data/animals (drawn shapes when that is absent), a planted copy those of
its group's first photo, so each candidate pair costs what a real pair costs (unrelated photos are
verified as different, planted copies as copies).

``--compare-only`` times the candidate phase alone (each photo's nearest, ``nearest_pairs``) on the
same descriptors, generated in memory; ``--before`` also runs the former candidate phase (every
pair above the floor collected, then pruned to each photo's nearest) on the same vectors, and
says whether both found the same pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _feature_pool(count: int = 300) -> list[bytes]:
    """Stored local features of real photos (or drawn ones without ../shared/data)."""
    from PIL import Image

    from simdesk.core.duplicates.verify import extract_features

    animals = Path(__file__).resolve().parents[3] / "shared" / "data" / "animals"
    files = sorted(animals.rglob("*.jpg"))[:count]
    if files:
        return [extract_features(Image.open(f).convert("RGB")).to_bytes() for f in files]
    rng = np.random.default_rng(1)
    return [extract_features(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)).to_bytes()
            for _ in range(count)]


def _group_start(index: int, n_groups: int) -> int | None:
    """The first photo of the planted group ``index`` belongs to (None: not in one)."""
    start = index - index % 250
    size = 2 + (start // 250) % 3
    return start if start // 250 < n_groups and index - start < size else None


def build(directory: Path, n: int, seed: int = 0) -> None:
    from simdesk.core.models import catalog as models
    from simdesk.core.duplicates import facts
    from simdesk.core.duplicates.descriptors import descriptor_spaces
    from simdesk.core.library import Library
    from simdesk.core.provenance import Provenance

    library = Library(directory / "library")
    library.set_model(models.OFFLINE_MODEL)
    photos = directory / "photos"
    photos.mkdir(exist_ok=True)
    library.add_folder(photos)
    store = library.store
    spec = library.duplicate_descriptor_model().spec
    spaces = descriptor_spaces(store, spec)
    rng = np.random.default_rng(seed)
    pool = _feature_pool()
    folder_id = store.folders()[str(photos)]
    n_groups = n // 250  # about 1% of photos in groups of 2-4
    aspects, chunks = _descriptors(rng, n, spec.dim)
    for k, up, rot in chunks:
        m = len(up)
        with store.transaction():
            for row in range(m):
                chash = int(k + row).to_bytes(16, "big")
                first = _group_start(k + row, n_groups)
                facts.put_local_features(store, chash, pool[(first if first is not None else k + row) % len(pool)])
                facts.put_provenance(store, chash, Provenance())
                w, h = aspects[k + row]
                store.upsert_photo(str(photos / f"p{k + row:07d}.jpg"), folder_id=folder_id,
                                   size=1_000_000 + row, mtime_ns=row, content_hash=chash,
                                   width=int(w), height=int(h), capture_time=None)
                store.put_embedding(chash, spaces["upright"].id, up[row])
                store.put_embedding(chash, spaces["rot90"].id, rot[row])
    library.close()


def _descriptors(rng, n: int, d: int, chunk: int = 5000):
    """(width, height) of each photo, and (first photo, upright, turned) descriptor chunks."""
    rank = 48
    basis = np.abs(rng.standard_normal((rank, d))).astype(np.float32)
    aspects = rng.choice([(4000, 3000), (3000, 4000), (1920, 1080), (2000, 2000)], size=n,
                         p=[0.7, 0.2, 0.05, 0.05])
    n_groups = n // 250

    def chunks():
        for k in range(0, n, chunk):
            m = min(chunk, n - k)
            weights = np.abs(rng.standard_normal((m, rank))).astype(np.float32)
            up = weights @ basis + 0.3 * np.abs(rng.standard_normal((m, d))).astype(np.float32)
            weights = np.abs(rng.standard_normal((m, rank))).astype(np.float32)  # turned: unrelated
            rot = weights @ basis + 0.3 * np.abs(rng.standard_normal((m, d))).astype(np.float32)
            for g in range(k, k + m):
                if g % 250 < 1 and g // 250 < n_groups:  # start of a planted group
                    size = 2 + (g // 250) % 3
                    for c in range(1, size):
                        if g + c - k < m:
                            up[g + c - k] = up[g - k] * rng.uniform(0.9, 1.1, d).astype(np.float32)
            yield k, up, rot

    return aspects, chunks()


def scan(directory: Path, rotations: bool) -> dict:
    import resource
    import tracemalloc

    from simdesk.core.library import Library

    library = Library(directory / "library")
    library.duplicate_descriptor_model()  # load the model first: not part of the scan
    first: dict[str, float] = {}  # when each phase began

    def progress(p) -> None:
        first.setdefault(p.phase, time.perf_counter())

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    result = library.find_duplicates(rotations=rotations, progress=progress)
    scanned = time.perf_counter()
    groups = library.duplicate_groups(result)
    done = time.perf_counter()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    planted = sum(1 for g in groups if len(g.members) >= 2 and g.kind != "similar_shot")
    again = time.perf_counter()
    library.find_duplicates(rotations=rotations)  # verdicts kept by the first scan: none verified again
    rescan = time.perf_counter() - again
    t_load, t_cmp, t_ver, t_grp = (first.get(k, scanned) for k in ("loading", "comparing", "verifying", "grouping"))
    t_ver = min(t_ver, t_grp)
    return {
        "phases": f"read {t_load - start:.1f} s, whiten {t_cmp - t_load:.1f} s, "
                  f"compare {t_ver - t_cmp:.1f} s, verify {t_grp - t_ver:.1f} s, group {done - t_grp:.1f} s",
        "photos": len(result.photos),
        "seconds_scan": scanned - start,
        "seconds_grouping": done - scanned,
        "seconds_total": done - start,
        "seconds_rescan": rescan,
        "pairs_kept": int(len(result.pair_i)),
        "groups": planted,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_scan_mb": base_rss / 1024,
        "numpy_peak_mb": peak / 1e6,
    }


# -- the candidate phase alone ---------------------------------------------------------------------


def _top_candidates(i, j, s, per_photo):
    """Before: the pairs among either photo's ``per_photo`` best, picked from all pairs found (the
    former rule, kept once, as the tests' reference)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_duplicates import old_top_candidates

    return old_top_candidates(i, j, s, per_photo)


def _candidates_before(a, floor, per_photo, r, aspects, prune_at=4_000_000):
    """The candidate phase as it was: every pair above the floor collected over the same tiles, the
    collection pruned to each photo's best whenever it passed ``prune_at``, then pruned once more."""
    from simdesk.core.duplicates import candidates

    found = []
    tiles = candidates._all_tiles(a, r, aspects, candidates.ROTATION_ASPECT_TOLERANCE, 2048, None, None)
    for tile, rows, cols in tiles:
        found.append(candidates.pairs_in_tile(tile, rows, cols, floor))
        if sum(len(f[0]) for f in found) > prune_at:
            i, j, s = (np.concatenate([f[k] for f in found]) for k in range(3))
            keep = _top_candidates(i, j, s, per_photo)
            found = [(i[keep], j[keep], s[keep])]
    i, j, s = (np.concatenate([f[k] for f in found]) for k in range(3))
    # a pair found upright and turned: its best
    i, j, s = candidates.best_of_each_pair(i, j, np.minimum(s, 1.0), len(a))
    keep = _top_candidates(i, j, s, per_photo)
    return i[keep], j[keep], s[keep]


def compare_only(n: int, rotations: bool, before: bool) -> None:
    """The candidate phase on the descriptors ``build`` stores (float16 round trip), whitened as
    the scan whitens them; with ``before``, the former candidate phase on the same vectors too."""
    from simdesk.core.duplicates.candidates import Whitening, nearest_pairs
    from simdesk.core.duplicates.grouping import CANDIDATE_FLOOR, CANDIDATES_PER_PHOTO

    aspects, chunks = _descriptors(np.random.default_rng(0), n, 672)  # build()'s model: 672-d
    up, rot = (np.concatenate(x).astype(np.float16) for x in zip(*((u, t) for _, u, t in chunks)))
    start = time.perf_counter()
    whitening = Whitening.fit(up)
    a, r = whitening.apply(up), (whitening.apply(rot) if rotations else None)
    ratio = aspects[:, 0] / aspects[:, 1]
    whitened = time.perf_counter()
    new = nearest_pairs(a, CANDIDATE_FLOOR, CANDIDATES_PER_PHOTO, r, ratio)
    took = time.perf_counter() - whitened
    line = f"{n:>7} photos: whiten {whitened - start:.1f} s, candidates {took:.1f} s ({len(new[0])} pairs)"
    if before:
        started = time.perf_counter()
        old = _candidates_before(a, CANDIDATE_FLOOR, CANDIDATES_PER_PHOTO, r, ratio)
        old_took = time.perf_counter() - started
        same = set(zip(*(x.tolist() for x in new[:2]))) == set(zip(*(x.tolist() for x in old[:2])))
        line += (f"; before {old_took:.1f} s ({len(old[0])} pairs): {old_took / took:.1f}x; "
                 f"same pairs: {same}")
    print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--no-rotations", action="store_true")
    parser.add_argument("--compare-only", action="store_true",
                        help="time the candidate phase alone, on the same descriptors, no library")
    parser.add_argument("--before", action="store_true",
                        help="with --compare-only: the former candidate phase too, in the same run")
    parser.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare_only:
        print(f"CPU cores: {os.cpu_count()}; rotations: {'off' if args.no_rotations else 'on'}")
        for n in args.sizes:
            compare_only(n, rotations=not args.no_rotations, before=args.before)
        return 0
    if args._child:
        what, directory = args._child
        if what == "build":
            build(Path(directory), int(os.environ["BENCH_N"]))
            return 0
        print(json.dumps(scan(Path(directory), rotations=not args.no_rotations)))
        return 0
    work = Path(tempfile.mkdtemp(prefix="simdesk-bench-dups-"))
    os.environ.setdefault("SIMDESK_MODELS_DIR", str(work / "models"))
    from simdesk.core.models import catalog as models

    models.install_efficientnet_lite0()
    print(f"CPU cores: {os.cpu_count()}; rotations: {'off' if args.no_rotations else 'on'}")
    for n in args.sizes:
        directory = work / f"n{n}"
        directory.mkdir()
        start = time.perf_counter()
        env = {**os.environ, "BENCH_N": str(n)}
        subprocess.run([sys.executable, __file__, "--_child", "build", str(directory)], check=True, env=env)
        built = time.perf_counter() - start
        flags = ["--no-rotations"] if args.no_rotations else []
        out = subprocess.run([sys.executable, __file__, *flags, "--_child", "scan", str(directory)],
                             check=True, env=env, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        db_mb = (directory / "library" / "library.db").stat().st_size / 1e6
        print(f"{r['photos']:>7} photos: scan {r['seconds_scan']:.1f} s + grouping {r['seconds_grouping']:.1f} s "
              f"= {r['seconds_total']:.1f} s (again, verdicts kept: {r['seconds_rescan']:.1f} s); "
              f"{r['pairs_kept']} candidate pairs, {r['groups']} groups; "
              f"peak RSS {r['peak_rss_mb']:.0f} MB ({r['rss_before_scan_mb']:.0f} MB before the scan), "
              f"NumPy peak {r['numpy_peak_mb']:.0f} MB; database {db_mb:.0f} MB (built in {built:.0f} s)\n"
              f"         ({r['phases']})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
