"""An edited-copies set for measuring near-duplicate detection: photos, edited copies, look-alikes.

From a folder of a person's own photos, :func:`build_edited_copies` picks some as *originals*,
writes a few edited copies of each (what photo tools and messengers do to a copy: resize or
upscale, recompress, crop, recolour, greyscale, brighten, darken, straighten, turn, mirror, blur,
sharpen, caption, watermark, frame, or a combination of up to three) and copies others in unchanged
as *distractors* (photos with no copy: the same subjects, other shots).

The set is written in the layout ``simdesk eval duplicates`` reads as ground truth: one subfolder
per group (the original and its copies), distractors directly in the set's folder. A
``truth.json`` beside them says the same thing explicitly and records each copy's recipe.
Originals and distractors are byte copies of the sources; the sources are only read.

With ``camera=True`` an original is what a camera wrote instead: the source's pixels (a JPEG
source byte for byte, with only an EXIF block added) with camera EXIF (Make, Model,
DateTimeOriginal, no Software tag); each copy then either has no EXIF (a messenger, a screenshot)
or keeps the capture time and names the editor in a Software tag. ``truth.json`` then also records
each file's metadata ("camera", "none" or "edited").
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import warnings
from datetime import datetime, timedelta
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from simdesk.core.progress import Progress, ProgressCallback

# The edit families, each used equally often by RECIPES (a set with a multiple of len(RECIPES)
# copies uses every family exactly as often as every other).
FAMILIES: tuple[str, ...] = (
    "resize", "upscale", "recompress", "crop", "recolour", "greyscale", "brighten", "darken",
    "rotate", "turn", "mirror", "blur", "sharpen", "caption", "watermark", "border",
)

# Edits that undo or overwrite each other are never combined.
CONFLICTS: tuple[frozenset[str], ...] = tuple(map(frozenset, (
    ("resize", "upscale"), ("brighten", "darken"), ("greyscale", "recolour"), ("blur", "sharpen"),
    ("caption", "watermark"), ("recompress", "highquality"),
)))

# The order an editor applies a recipe's edits in: geometry, tone, overlays, then the size it is
# exported at and the JPEG quality it is saved with.
APPLY_ORDER: tuple[str, ...] = (
    "crop", "rotate", "turn", "rotate90", "mirror", "recolour", "greyscale", "brighten", "darken",
    "blur", "sharpen", "caption", "watermark", "border", "resize", "upscale", "highquality",
    "recompress",
)


def _recipes() -> list[tuple[str, ...]]:
    """Every family alone, then 16 pairs and 16 triples (family k with k+2; k with k+3 and k+5).

    The shifts give every family two pairs and three triples (six uses in 48 recipes) and no
    conflicting combination. Alone, a brightened copy is saved at quality 95-98 (a bigger file
    than the camera's); an upscaled copy has more pixels than its original.
    """
    n = len(FAMILIES)
    singles = [("brighten", "highquality") if f == "brighten" else (f,) for f in FAMILIES]
    pairs = [(FAMILIES[k], FAMILIES[(k + 2) % n]) for k in range(n)]
    triples = [(FAMILIES[k], FAMILIES[(k + 3) % n], FAMILIES[(k + 5) % n]) for k in range(n)]
    return [tuple(sorted(r, key=APPLY_ORDER.index)) for r in singles + pairs + triples]


RECIPES: list[tuple[str, ...]] = _recipes()

CAPTIONS = [
    "Summer holiday 2019", "Happy birthday Anna!", "© Photo: J. Smith", "Best friends forever",
    "Sunday walk", "For sale - call 555 0134", "Our new family member", "Vacation day 3",
]
WATERMARKS = ["© J. Smith Photography", "SAMPLE", "photo.example.com", "© 2021 Studio Nord", "PROOF"]

# Camera metadata of originals, and what editors write into the copies they save.
CAMERAS = [("Canon", "Canon EOS 80D"), ("NIKON CORPORATION", "NIKON D750"), ("Apple", "iPhone 12"),
           ("SONY", "ILCE-7M3"), ("FUJIFILM", "X-T30"), ("samsung", "SM-G991B")]
EDITORS = ["GIMP 2.10.34", "Adobe Photoshop 24.1 (Windows)", "Adobe Lightroom 7.0", "Snapseed 2.0",
           "Microsoft Photos", "darktable 4.4.2"]


# -- edits ------------------------------------------------------------------------------------


# Edit strengths. "standard": what photo tools and messengers commonly do to a copy (a web or
# e-mail size, quality 30-60, a crop that keeps the subject). "hard": thumbnails a third of the
# size, quality down to 12, crops to half the frame; most copies are still recognisable to a
# person, but the sources are small already (Imagenette photos are 224 px). "wide": the whole
# range a copy must still be found at (down to a quarter of the side, quality down to 15, crops
# keeping 70% of the area or more), for the near-duplicate benchmark.
STRENGTHS = {
    "standard": {"resize": (0.5, 0.8), "quality": (30, 60), "crop_area": (0.65, 0.9),
                 "angle": (3, 10), "band": (0.08, 0.14)},
    "hard": {"resize": (0.35, 0.7), "quality": (12, 35), "crop_area": (0.55, 0.85),
             "angle": (4, 12), "band": (0.10, 0.16)},
    "wide": {"resize": (0.25, 0.8), "quality": (15, 60), "crop_area": (0.70, 0.95),
             "angle": (1, 8), "band": (0.08, 0.14)},
}


def _resize(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    scale = rng.uniform(*state["strength"]["resize"])
    w, h = img.size
    return img.resize((max(16, round(w * scale)), max(16, round(h * scale))), Image.Resampling.LANCZOS)


def _upscale(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    """Enlarged to 1.5-2 times the pixels (an "enhance" or a print size): more pixels, no more detail."""
    side = rng.uniform(1.5, 2.0) ** 0.5
    w, h = img.size
    return img.resize((round(w * side), round(h * side)), Image.Resampling.BICUBIC)


def _recompress(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    state["quality"] = rng.randint(*state["strength"]["quality"])
    return img


def _highquality(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    """Saved at quality 95-98: a bigger file than the camera's for the same pixels."""
    state["quality"] = rng.randint(95, 98)
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
    """A colour look (sepia, saturation, contrast, hue, warm): greyscale and darkening are families of their own."""
    kind = rng.choice(["sepia", "saturate", "contrast", "hue", "warm"])
    if kind == "sepia":
        gray = ImageOps.grayscale(img)
        return ImageOps.colorize(gray, black=(40, 20, 0), white=(255, 235, 200))
    if kind == "saturate":
        return ImageEnhance.Color(img).enhance(rng.uniform(1.5, 2.0))
    if kind == "contrast":
        return ImageEnhance.Contrast(ImageEnhance.Brightness(img).enhance(1.15)).enhance(rng.uniform(1.4, 1.8))
    if kind == "warm":
        r, g, b = img.split()
        return Image.merge("RGB", (r.point(lambda v: min(255, int(v * 1.15) + 8)), g,
                                   b.point(lambda v: int(v * 0.8))))
    hsv = np.array(img.convert("HSV"))
    hsv[..., 0] = (hsv[..., 0].astype(int) + rng.randint(18, 40)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _greyscale(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    return ImageOps.grayscale(img).convert("RGB")


def _brighten(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(rng.uniform(1.2, 1.45))


def _darken(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(rng.uniform(0.55, 0.75))


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


def _turn(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    # Pixels turned (as an editor saves it), not an EXIF orientation tag (the decoder undoes those).
    return img.transpose(rng.choice([Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
                                     Image.Transpose.ROTATE_270]))


def _rotate90(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    # A quarter turn either way (recipes of older sets; "turn" also turns by 180 degrees).
    return img.transpose(rng.choice([Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270]))


def _mirror(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def _blur(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    radius = max(0.8, rng.uniform(0.003, 0.008) * max(img.size))
    return img.filter(ImageFilter.GaussianBlur(radius))


def _sharpen(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    radius = max(1.0, 0.004 * max(img.size))
    return img.filter(ImageFilter.UnsharpMask(radius=radius, percent=rng.randint(150, 250), threshold=2))


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


def _watermark(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    """Semi-transparent text across the photo, or a logo (a ring with initials) in a corner."""
    img = img.convert("RGB")
    w, h = img.size
    alpha = rng.randint(70, 140)
    colour = rng.choice([(255, 255, 255), (0, 0, 0)])
    if rng.random() < 0.5:
        text = rng.choice(WATERMARKS)
        font = ImageFont.load_default(size=max(10, int(w / max(6, len(text)) * 1.3)))
        layer = Image.new("RGBA", (w * 2, h * 2), (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        tw = draw.textlength(text, font=font)
        draw.text(((w * 2 - tw) / 2, h - font.size / 2), text, font=font, fill=(*colour, alpha))
        layer = layer.rotate(rng.uniform(-35, 35), resample=Image.Resampling.BICUBIC)
        overlay = layer.crop((w // 2, h // 2, w // 2 + w, h // 2 + h))
    else:
        overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        d = max(16, int(min(w, h) * rng.uniform(0.15, 0.25)))
        margin = max(2, int(min(w, h) * 0.04))
        x0 = margin if rng.random() < 0.5 else w - margin - d
        y0 = margin if rng.random() < 0.5 else h - margin - d
        draw.ellipse([x0, y0, x0 + d, y0 + d], outline=(*colour, alpha), width=max(2, d // 10))
        font = ImageFont.load_default(size=max(8, d // 3))
        initials = rng.choice(["JS", "SN", "AB", "PH"])
        tw = draw.textlength(initials, font=font)
        draw.text((x0 + (d - tw) / 2, y0 + d / 2 - font.size / 2), initials, font=font, fill=(*colour, alpha))
    return Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")


def _border(img: Image.Image, rng: random.Random, state: dict) -> Image.Image:
    """A frame around the photo (the canvas grows), sometimes with a thin inner line."""
    img = img.convert("RGB")
    width = max(2, int(min(img.size) * rng.uniform(0.03, 0.08)))
    colour = rng.choice([(255, 255, 255), (0, 0, 0), (245, 240, 225), (60, 60, 60)])
    if rng.random() < 0.4:
        inner = tuple(255 - c for c in colour)
        img = ImageOps.expand(img, border=max(1, width // 6), fill=inner)
    return ImageOps.expand(img, border=width, fill=colour)


EDITS = {
    "resize": _resize, "upscale": _upscale, "recompress": _recompress, "highquality": _highquality,
    "crop": _crop, "recolour": _recolour, "greyscale": _greyscale, "brighten": _brighten,
    "darken": _darken, "rotate": _rotate, "turn": _turn, "rotate90": _rotate90, "mirror": _mirror,
    "blur": _blur, "sharpen": _sharpen, "caption": _caption, "watermark": _watermark,
    "border": _border,
}


def camera_exif(rng: random.Random, when: str) -> Image.Exif:
    """EXIF as a camera writes it: Make, Model, DateTime and DateTimeOriginal ``when``, no Software."""
    make, model = rng.choice(CAMERAS)
    exif = Image.Exif()
    exif[0x010F] = make  # Make
    exif[0x0110] = model  # Model
    exif[0x0132] = when  # DateTime
    sub = exif.get_ifd(0x8769)  # the Exif IFD
    sub[0x9003] = when  # DateTimeOriginal
    sub[0x9004] = when  # DateTimeDigitized
    return exif


def edited_exif(camera: Image.Exif, software: str) -> Image.Exif:
    """What an editor saves: the camera's Make, Model and capture time, and its own Software tag."""
    exif = Image.Exif()
    for tag in (0x010F, 0x0110):
        if tag in camera:
            exif[tag] = camera[tag]
    exif[0x0131] = software  # Software
    sub = exif.get_ifd(0x8769)
    original = camera.get_ifd(0x8769).get(0x9003)
    if original:
        sub[0x9003] = original
    return exif


def with_exif(data: bytes, exif: Image.Exif) -> bytes:
    """A JPEG's bytes with ``exif`` as its only EXIF (APP1) segment, right after the start marker.

    The compressed image data is untouched; an EXIF segment the JPEG had is dropped.
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    payload = exif.tobytes()  # "Exif\0\0" + the TIFF structure
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("EXIF block too large")
    kept, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xDA, 0xD9):
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        segment = data[pos:pos + 2 + length]
        if not (data[pos + 1] == 0xE1 and segment[4:10] == b"Exif\x00\x00"):
            kept.append(segment)
        pos += 2 + length
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + b"".join(kept) + data[pos:]


def make_copy(source: Path, recipe: tuple[str, ...], seed: int, out: Path, strength: str,
              exif: Image.Exif | None = None) -> None:
    """Write ``source`` with the edits of ``recipe`` applied, in order, as a JPEG at ``out``.

    ``exif``: metadata to save with the copy (None: none, as messengers strip it).
    """
    rng = random.Random(seed)
    state: dict = {"quality": rng.randint(85, 95), "strength": STRENGTHS[strength]}
    with warnings.catch_warnings():
        # A 100 MP camera photo is not a decompression bomb; twice Pillow's limit still raises.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(source) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
    for edit in recipe:
        img = EDITS[edit](img, rng, state)
    extra = {"exif": exif.tobytes()} if exif is not None else {}
    img.save(out, format="JPEG", quality=state["quality"], **extra)


def write_camera_original(source: Path, out: Path, exif: Image.Exif) -> None:
    """``source`` as a camera would have written it: a JPEG's bytes kept, with ``exif`` added.

    Other formats (PNG, HEIC) are saved as a quality-92 JPEG with ``exif``.
    """
    data = source.read_bytes()
    with Image.open(source) as img:
        orientation = img.getexif().get(0x0112)
    if orientation:  # the camera's own orientation tag stays: it says how to show these pixels
        exif[0x0112] = orientation
    if data[:2] == b"\xff\xd8":
        out.write_bytes(with_exif(data, exif))
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(source) as img:
            img = img.convert("RGB")
    img.save(out, format="JPEG", quality=92, exif=exif.tobytes())


# -- the set ----------------------------------------------------------------------------------


# What a photo that cannot be read or edited raises (Pillow's errors for broken files included).
UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)

CAPTURE_START = datetime(2019, 5, 4, 8, 0, 0)  # originals' capture times start here, hours apart


@dataclass
class EditedCopiesSet:
    folder: Path
    groups: list[list[str]]  # paths relative to ``folder``: an original first, then its copies
    distractors: list[str]
    recipes: dict[str, str] = field(default_factory=dict)  # copy -> "+"-joined edits
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, why)
    # With camera originals: original -> "camera"; copy -> "none" (no EXIF) or "edited" (the
    # capture time kept and a Software tag). Empty otherwise.
    metadata: dict[str, str] = field(default_factory=dict)


def build_edited_copies(source: str | os.PathLike, out: str | os.PathLike, *, originals: int = 100,
                        copies: int = 3, distractors: int = 400, seed: int = 7,
                        strength: str = "standard", camera: bool = False,
                        progress: ProgressCallback | None = None) -> EditedCopiesSet:
    """Write an edited-copies set built from the photos under ``source`` into ``out``.

    ``out`` must be empty or not exist. Photos are drawn at random (``seed``) from ``source``; when
    it holds fewer than ``originals + distractors``, originals are served first. A source that
    cannot be decoded is skipped and reported, and the next photo takes its place. Copies use
    RECIPES in turn, so every recipe (and every edit family) is used equally often. ``camera``:
    originals carry camera EXIF (see the module's description) instead of being byte copies.
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

    def write_group(rel: str) -> tuple[list[str], dict[str, str], dict[str, str]]:
        """The group's members (original first), its copies' recipes and every member's metadata."""
        g = len(result.groups)
        name = f"group{g:04d}"
        (out / name).mkdir()
        metadata: dict[str, str] = {}
        exif = None
        if camera:
            meta_rng = random.Random(seed * 7919 + g)
            taken = CAPTURE_START + timedelta(hours=3 * g, minutes=meta_rng.randint(0, 150),
                                              seconds=meta_rng.randint(0, 59))
            exif = camera_exif(meta_rng, taken.strftime("%Y:%m:%d %H:%M:%S"))
            original = f"{name}/original.jpg"
            write_camera_original(source / rel, out / original, exif)
            metadata[original] = "camera"
        else:
            original = f"{name}/original{Path(rel).suffix.lower()}"
            shutil.copyfile(source / rel, out / original)
        members, recipes = [original], {}
        for c in range(copies):
            turn = g * copies + c
            recipe = RECIPES[turn % len(RECIPES)]  # every recipe used equally often
            member = f"{name}/copy{c}.jpg"
            copy_exif = None
            if camera:
                # Alternating, and flipped every round of the recipes: each recipe gets both.
                edited = (turn + turn // len(RECIPES)) % 2 == 0
                metadata[member] = "edited" if edited else "none"
                if edited:
                    copy_exif = edited_exif(exif, EDITORS[turn % len(EDITORS)])
            make_copy(source / rel, recipe, seed * 100_003 + g * 10 + c, out / member, strength,
                      exif=copy_exif)
            members.append(member)
            recipes[member] = "+".join(recipe)
        return members, recipes, metadata

    candidates = iter(pool)
    # Originals one at a time (each needs its copies); failures move on to the next photo.
    for rel in candidates:
        try:
            members, recipes, metadata = write_group(rel)
        except UNREADABLE as exc:
            shutil.rmtree(out / f"group{len(result.groups):04d}", ignore_errors=True)
            result.skipped.append((rel, str(exc) or type(exc).__name__))
            continue
        result.groups.append(members)
        result.recipes.update(recipes)
        result.metadata.update(metadata)
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
    if camera:
        truth["metadata"] = result.metadata
    (out / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return result
