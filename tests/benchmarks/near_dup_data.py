"""The near-duplicate benchmark's photo sets: real photos, edited copies of some, and distractors.

Built once into a cache folder (deterministic for a given seed) and reused.

:func:`build_library_sets` (the benchmark's main report): camera originals from ``animals`` and
``imagenette-val`` (equal shares), 3 edited copies of each from every edit family of
``simdesk.eval.edited_copies`` (built by its ``build_edited_copies``, "wide" strength, camera EXIF
on the originals), and distractors from the same folders split into levels, so that libraries of
growing size hold the same groups and more photos with no copy.

:func:`build_set` and :func:`feature_maps` (the descriptor study, ``--descriptors``): the layout of
that set:

* ``originals``: real photos from ``animals`` and ``imagenette-val`` (equal shares).
* ``copies``: each original gets ``copies`` edited copies, each with a different recipe. A recipe is
  one edit or a combination: resize, recompress, crop, recolour, small rotation (straightening),
  90-degree rotation of the pixels, caption. An original and its copies form one group; every pair
  inside a group is a true pair, every other pair a false one.
* ``distractors``: photos from the same folders with no copy, so the same subjects (cats, dogs,
  pandas, the ten Imagenette classes) appear across groups.
"""

from __future__ import annotations

import json
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simdesk.eval.edited_copies import RECIPES, build_edited_copies, make_copy

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"

# -- the set ----------------------------------------------------------------------------------


@dataclass
class Item:
    path: str
    group: int  # -1: a distractor (in no group)
    role: str  # "original", "copy", "distractor"
    recipe: str = ""  # "+"-joined edits, for copies
    source: str = ""  # where the original came from ("animals" or "imagenette-val")


def _photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def build_set(cache: Path, originals: int = 300, copies: int = 3, distractors: int = 1500,
              seed: int = 7, strength: str = "standard") -> list[Item]:
    """The benchmark photo set, built into ``cache`` (or read back if already built there)."""
    key = f"set-{strength}-o{originals}-c{copies}-d{distractors}-s{seed}"
    folder = cache / key
    manifest = folder / "items.json"
    if manifest.is_file():
        return [Item(**row) for row in json.loads(manifest.read_text())]
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    pools = {name: _photos(SHARED / name) for name in ("animals", "imagenette-val")}
    for name, files in pools.items():
        if not files:
            raise SystemExit(f"{SHARED / name} is missing: the benchmark needs ../shared/data")
        rng.shuffle(files)
    per_source = originals // 2
    dis_animals = min(distractors * 2 // 5, len(pools["animals"]) - per_source)
    dis_imagenette = distractors - dis_animals
    chosen_originals = [(p, "animals") for p in pools["animals"][:per_source]] + [
        (p, "imagenette-val") for p in pools["imagenette-val"][: originals - per_source]]
    chosen_distractors = [(p, "animals") for p in pools["animals"][per_source:per_source + dis_animals]] + [
        (p, "imagenette-val") for p in pools["imagenette-val"][originals - per_source:
                                                                originals - per_source + dis_imagenette]]
    # Every recipe is used equally often; an original's copies all use different recipes.
    order = list(range(len(RECIPES)))
    items: list[Item] = []
    jobs = []
    for g, (src, origin) in enumerate(chosen_originals):
        items.append(Item(str(src), g, "original", source=origin))
        for c in range(copies):
            recipe = RECIPES[order[(g * copies + c) % len(order)]]
            out = folder / f"g{g:04d}_copy{c}.jpg"
            jobs.append((src, recipe, seed * 100_003 + g * 10 + c, out, strength))
            items.append(Item(str(out), g, "copy", "+".join(recipe), origin))
    for src, origin in chosen_distractors:
        items.append(Item(str(src), -1, "distractor", source=origin))
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda job: make_copy(*job), jobs))
    manifest.write_text(json.dumps([item.__dict__ for item in items]))
    return items


# -- the sets of the library-size report ------------------------------------------------------------

SOURCES = ("animals", "imagenette-val")
BURSTS = SHARED / "burst-frames"
ROOMS = SHARED / "near-dup-rooms"
# The one byte-identical pair among the same-room shots (two listings of one photo).
IDENTICAL_ROOMS = ("315673741/berlin_315673741_1.jpg", "31567374/berlin_31567374_1.jpg")


@dataclass
class Photo:
    path: str  # absolute
    group: int  # truth group: an original and its copies (or the identical rooms); -1: no copy
    role: str  # "original", "copy", "distractor", "burst", "room"
    recipe: str = ""  # "+"-joined edits, for copies
    metadata: str = ""  # "camera" (originals), "none" or "edited" (copies)
    source: str = ""  # the shared folder it comes from
    level: int = 0  # distractors: the size level that adds it (0: in every library)


@dataclass
class LibrarySets:
    folder: Path
    sets: list[Path]  # the edited-copies sets (groups only): in every library
    levels: list[Path]  # distractor folders; library k holds levels[:k + 1]
    photos: list[Photo]


def build_library_sets(cache: Path, originals: int, sizes: list[int], seed: int = 7,
                       strength: str = "wide", camera: bool = True) -> LibrarySets:
    """Edited-copies sets and distractor levels for libraries of ``sizes`` real photos each.

    A size counts the originals and distractors (photos from ``animals`` and ``imagenette-val``);
    copies, burst frames and same-room shots come on top. Read back if already built in ``cache``.
    """
    sizes = sorted(sizes)
    if sizes[0] <= originals:
        raise SystemExit(f"the smallest library ({sizes[0]}) must hold more than the {originals} originals")
    key = f"sets-{strength}-{'camera' if camera else 'plain'}-o{originals}-n{sizes[-1]}-s{seed}"
    folder = (cache / key).resolve()
    manifest = folder / "photos.json"
    levels = [folder / f"more-{k}-{n}" for k, n in enumerate(sizes)]
    sets = [folder / name for name in SOURCES]
    if manifest.is_file():
        return LibrarySets(folder, sets, levels, [Photo(**row) for row in json.loads(manifest.read_text())])
    if folder.exists():
        import shutil

        shutil.rmtree(folder)  # a build that did not finish
    for name in SOURCES:
        if not (SHARED / name).is_dir():
            raise SystemExit(f"{SHARED / name} is missing: the benchmark needs ../shared/data")
    available = {name: sum(1 for p in _photos(SHARED / name)) - originals // len(SOURCES)
                 for name in SOURCES}
    needed = sizes[-1] - originals
    if needed > sum(available.values()):
        raise SystemExit(f"a library of {sizes[-1]} photos needs {needed} distractors; "
                         f"../shared/data has {sum(available.values())}")
    share = {SOURCES[0]: round(needed * available[SOURCES[0]] / sum(available.values()))}
    share[SOURCES[1]] = needed - share[SOURCES[0]]
    photos: list[Photo] = []
    distractors: list[tuple[Path, str]] = []
    for number, name in enumerate(SOURCES):
        per_source = originals // len(SOURCES) + (number < originals % len(SOURCES))
        print(f"building the edited copies of {per_source} photos of {name} ...", flush=True)
        built = build_edited_copies(SHARED / name, folder / name, originals=per_source, copies=3,
                                    distractors=share[name], seed=seed + number, strength=strength,
                                    camera=camera)
        base = len({p.group for p in photos if p.group >= 0})
        for g, (original, *copies) in enumerate(built.groups):
            photos.append(Photo(str(built.folder / original), base + g, "original",
                                metadata=built.metadata.get(original, ""), source=name))
            for copy in copies:
                photos.append(Photo(str(built.folder / copy), base + g, "copy", built.recipes[copy],
                                    built.metadata.get(copy, ""), name))
        distractors += [(built.folder / rel, name) for rel in built.distractors]
    # Distractors of both sources mixed, then cut into levels: library k holds sizes[k] photos.
    random.Random(seed).shuffle(distractors)
    start = 0
    for k, (level, n) in enumerate(zip(levels, sizes)):
        level.mkdir()
        for path, name in distractors[start:n - originals]:
            target = level / path.name
            os.replace(path, target)
            photos.append(Photo(str(target), -1, "distractor", source=name, level=k))
        start = n - originals
    identical_group = max(p.group for p in photos) + 1
    for path in _photos(BURSTS):
        photos.append(Photo(str(path.resolve()), -1, "burst", source=BURSTS.name))
    for path in _photos(ROOMS):
        rel = path.relative_to(ROOMS).as_posix()
        photos.append(Photo(str(path.resolve()), identical_group if rel in IDENTICAL_ROOMS else -1, "room",
                            source=ROOMS.name))
    manifest.write_text(json.dumps([p.__dict__ for p in photos]))
    return LibrarySets(folder, sets, levels, photos)


# -- features ---------------------------------------------------------------------------------

VIEWS = {
    "plain": lambda px: px,
    "flip": lambda px: px[:, :, ::-1],  # mirrored left-right (N, H, W, 3)
    "rot90": lambda px: np.rot90(px, k=1, axes=(1, 2)),
}


def feature_maps(items: list[Item], cache: Path, view: str = "plain", batch: int = 32) -> np.ndarray:
    """(N, C, H, W) float16 feature maps of every photo (in ``view``), computed once and cached."""
    from simdesk.core.models import catalog as models
    from simdesk.core.decode import decode_image
    from simdesk.core.embedder import Embedder

    import hashlib

    digest = hashlib.sha1("\n".join(i.path for i in items).encode()).hexdigest()[:12]
    out = cache / f"maps-{digest}-{view}.npy"
    if out.is_file():
        return np.load(out, mmap_mode="r")
    if not (models.models_dir() / models.OFFLINE_MODEL).is_dir():
        models.install_efficientnet_lite0()
    embedder = Embedder(models.load_model(models.OFFLINE_MODEL), threads=2)

    def decode(path: str) -> np.ndarray:
        return decode_image(Path(path).read_bytes(), input_size=embedder.input_size,
                            resize_mode=embedder.manifest.resize_mode).pixels

    maps = None
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, len(items), batch):
            pixels = np.stack(list(pool.map(decode, [i.path for i in items[start:start + batch]])))
            pixels = np.ascontiguousarray(VIEWS[view](pixels))
            (features,) = embedder.feature_maps(pixels)
            if maps is None:
                maps = np.lib.format.open_memmap(out.with_suffix(".tmp.npy"), mode="w+",
                                                 dtype=np.float16, shape=(len(items), *features.shape[1:]))
            maps[start:start + len(features)] = features
    maps.flush()
    del maps
    os.replace(out.with_suffix(".tmp.npy"), out)
    return np.load(out, mmap_mode="r")
