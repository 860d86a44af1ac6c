"""An edited-copies set for measuring near-duplicate detection: photos, edited copies, look-alikes.

From a folder of a person's own photos, :func:`build_edited_copies` picks some as *originals*,
writes a few edited copies of each (what photo tools and messengers do to a copy: resize,
recompress, crop, recolour, straighten, turn by 90 degrees, caption, or a combination) and copies
others in unchanged as *distractors* (photos with no copy: the same subjects, other shots).

The set is written in the layout ``simdesk eval duplicates`` reads as ground truth: one subfolder
per group (the original and its copies), distractors directly in the set's folder. A
``truth.json`` beside them says the same thing explicitly and records each copy's recipe.
Originals and distractors are byte copies of the sources; the sources are only read.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from simdesk.core.progress import Progress, ProgressCallback

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
    """Write ``source`` with the edits of ``recipe`` applied, in order, as a JPEG at ``out``."""
    rng = random.Random(seed)
    state: dict = {"quality": rng.randint(85, 95), "strength": STRENGTHS[strength]}
    with warnings.catch_warnings():
        # A 100 MP camera photo is not a decompression bomb; twice Pillow's limit still raises.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(source) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
    for edit in recipe:
        img = EDITS[edit](img, rng, state)
    img.save(out, format="JPEG", quality=state["quality"])


# -- the set ----------------------------------------------------------------------------------


# What a photo that cannot be read or edited raises (Pillow's errors for broken files included).
UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


@dataclass
class EditedCopiesSet:
    folder: Path
    groups: list[list[str]]  # paths relative to ``folder``: an original first, then its copies
    distractors: list[str]
    recipes: dict[str, str] = field(default_factory=dict)  # copy -> "+"-joined edits
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, why)


def build_edited_copies(source: str | os.PathLike, out: str | os.PathLike, *, originals: int = 100,
                        copies: int = 3, distractors: int = 400, seed: int = 7,
                        strength: str = "standard",
                        progress: ProgressCallback | None = None) -> EditedCopiesSet:
    """Write an edited-copies set built from the photos under ``source`` into ``out``.

    ``out`` must be empty or not exist. Photos are drawn at random (``seed``) from ``source``; when
    it holds fewer than ``originals + distractors``, originals are served first. A source that
    cannot be decoded is skipped and reported, and the next photo takes its place.
    """
    from simdesk.core.decode import heif_available
    from simdesk.eval.duplicates import photos_in

    if originals < 1 or distractors < 0:
        raise ValueError("an edited-copies set needs at least one original, and no negative count")
    if copies < 1 or copies > len(RECIPES):
        raise ValueError(f"copies must be between 1 and {len(RECIPES)}")
    if strength not in STRENGTHS:
        raise ValueError(f"strength must be one of {', '.join(STRENGTHS)}")
    source, out = Path(source).resolve(), Path(out).resolve()
    if not source.is_dir():
        raise ValueError(f"{source} is not a folder")
    if out == source or source in out.parents:
        raise ValueError("the set must be written outside the source folder")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty")
    heif_available()  # lets Pillow open HEIC originals when pillow-heif is installed
    pool = photos_in(source)
    if len(pool) < 2:
        raise ValueError(f"{source} needs at least two photos")
    rng = random.Random(seed)
    rng.shuffle(pool)
    out.mkdir(parents=True, exist_ok=True)
    result = EditedCopiesSet(out, [], [])
    total = originals + distractors

    def report() -> None:
        if progress:
            progress(Progress("building", len(result.groups) + len(result.distractors), total))

    def write_group(rel: str) -> tuple[list[str], dict[str, str]]:
        """The group's members (original first) and its copies' recipes."""
        g = len(result.groups)
        name = f"group{g:04d}"
        suffix = Path(rel).suffix.lower()
        (out / name).mkdir()
        original = f"{name}/original{suffix}"
        shutil.copyfile(source / rel, out / original)
        members, recipes = [original], {}
        for c in range(copies):
            recipe = RECIPES[(g * copies + c) % len(RECIPES)]  # every recipe used equally often
            member = f"{name}/copy{c}.jpg"
            make_copy(source / rel, recipe, seed * 100_003 + g * 10 + c, out / member, strength)
            members.append(member)
            recipes[member] = "+".join(recipe)
        return members, recipes

    candidates = iter(pool)
    # Originals one at a time (each needs its copies); failures move on to the next photo.
    for rel in candidates:
        try:
            members, recipes = write_group(rel)
        except UNREADABLE as exc:
            shutil.rmtree(out / f"group{len(result.groups):04d}", ignore_errors=True)
            result.skipped.append((rel, str(exc) or type(exc).__name__))
            continue
        result.groups.append(members)
        result.recipes.update(recipes)
        report()
        if len(result.groups) >= originals:
            break
    # Then the distractors, from the photos no original was drawn from.
    for rel in candidates if distractors else ():
        # Flattened name: distractors sit directly in the set's folder (no group).
        target = f"other{len(result.distractors):05d}_{Path(rel).name}"
        try:
            shutil.copyfile(source / rel, out / target)
        except OSError as exc:
            result.skipped.append((rel, str(exc)))
            continue
        result.distractors.append(target)
        report()
        if len(result.distractors) >= distractors:
            break
    truth = {"groups": result.groups, "distractors": result.distractors, "recipes": result.recipes,
             "source": str(source), "seed": seed, "strength": strength}
    (out / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return result
