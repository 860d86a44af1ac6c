"""The near-duplicate benchmark's photo set: real photos, edited copies of some, and distractors.

Built once into a cache folder (deterministic for a given seed) and reused; the feature maps of
every photo are cached beside it, computed with simdesk's own decoder and embedder.

Layout of the set:

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

from simdesk.eval.edited_copies import RECIPES, make_copy

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
