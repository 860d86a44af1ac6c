"""Pair verification: edited copies verify as copies, other shots and unrelated photos do not.

Scenes are drawn here (random shapes over a noise texture), not real photos; the figures on real
photos come from tests/benchmarks/verify_tuning.py.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from simdesk.core.duplicates.verify import LocalFeatures, Verdict, extract_features, verify_pair


def _shapes(rng: np.random.Generator, w: int, h: int, n: int) -> list[tuple]:
    out = []
    for _ in range(n):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.02, 0.08) * w
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        out.append((rng.choice(["ellipse", "rect", "tri"]), x, y, r, colour))
    return out


def _draw(shapes, w: int, h: int, seed: int, moved: tuple | None = None) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.normal(128, 40, (h // 8, w // 8, 3)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for kind, x, y, r, colour in shapes + ([moved] if moved else []):
        box = [x - r, y - r, x + r, y + r]
        if kind == "ellipse":
            draw.ellipse(box, fill=colour, outline=(0, 0, 0))
        elif kind == "rect":
            draw.rectangle(box, fill=colour, outline=(255, 255, 255))
        else:
            draw.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=colour)
    grain = np.random.default_rng(seed + 1).normal(0, 10, (h, w, 1))
    return Image.fromarray((np.asarray(img) + grain).clip(0, 255).astype(np.uint8))


W, H = 480, 360


def scene(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return _draw(_shapes(rng, W, H, 60), W, H, seed)


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _caption(img: Image.Image) -> Image.Image:
    img = img.copy()
    w, h = img.size
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, int(h * 0.88), w, h], fill=(0, 0, 0))
    draw.text((10, int(h * 0.9)), "Summer holiday 2019", fill=(255, 255, 255),
              font=ImageFont.load_default(size=int(h * 0.07)))
    return img


EDITS = {
    "resized": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "recompressed": lambda im: _jpeg(im, 20),
    "cropped": lambda im: im.crop((40, 30, 40 + int(W * 0.85), 30 + int(H * 0.85))),
    "recoloured": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "rotated90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "mirrored": ImageOps.mirror,
    "captioned": _caption,
    "blurred": lambda im: im.filter(ImageFilter.GaussianBlur(1.5)),
    "combined": lambda im: _jpeg(ImageOps.mirror(im).resize((300, 225)), 40),
}


@pytest.fixture(scope="module")
def original() -> LocalFeatures:
    return extract_features(scene(0))


@pytest.mark.parametrize("edit", list(EDITS))
def test_edited_copy_verifies_as_copy(original, edit):
    copy = extract_features(EDITS[edit](scene(0)))
    v = verify_pair(original, copy)
    assert v.kind == "copy", v
    assert v.inliers >= 8 and v.reason.startswith("same photo")
    # And the other way round.
    assert verify_pair(copy, original).kind == "copy"


def test_evidence_describes_the_edit(original):
    v = verify_pair(original, extract_features(EDITS["mirrored"](scene(0))))
    assert v.mirrored and "mirrored" in v.reason
    v = verify_pair(original, extract_features(EDITS["rotated90"](scene(0))))
    assert abs(abs(v.rotation_deg) - 90) < 3 and "turned" in v.reason
    v = verify_pair(original, extract_features(EDITS["resized"](scene(0))))
    assert v.scale == pytest.approx(2.0, rel=0.1) and "2.0x smaller" in v.reason
    parsed = json.loads(json.dumps(v.to_json()))  # JSON-ready: survives a round trip
    assert parsed["kind"] == "copy" and parsed["inliers"] == v.inliers


def test_moved_object_is_another_shot(original):
    rng = np.random.default_rng(0)
    shapes = _shapes(rng, W, H, 60)
    # A large subject that stands in one place in the first shot and elsewhere in the second.
    first = _draw(shapes, W, H, 0, moved=("ellipse", 120, 120, 70, (230, 40, 40)))
    second = _draw(shapes, W, H, 0, moved=("ellipse", 340, 230, 70, (230, 40, 40)))
    v = verify_pair(extract_features(first), extract_features(second))
    assert v.kind == "similar_shot", v


def test_step_to_the_side_is_another_shot():
    import cv2

    a = np.asarray(scene(3))
    src = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
    dst = np.float32([[30, 10], [W - 5, 35], [W - 25, H - 20], [8, H - 5]])
    b = cv2.warpPerspective(a, cv2.getPerspectiveTransform(src, dst), (W, H),
                            borderMode=cv2.BORDER_REFLECT)
    v = verify_pair(extract_features(a), extract_features(b))
    assert v.kind == "similar_shot", v


def test_unrelated_scene_is_different(original):
    v = verify_pair(original, extract_features(scene(1)))
    assert v.kind == "different", v


def _features_as_defined(image: Image.Image) -> bytes:
    """The stored features' definition: detect, keep the strongest per location, then compute()
    descriptors for the kept keypoints alone (what extraction did before it shared one pyramid)."""
    from simdesk.core.duplicates import verify

    work = verify._resize_long(verify._grey(image), verify.WORK_SIDE)
    kps = verify._sift().detect(work, None)
    resp = np.array([k.response for k in kps], np.float32)
    xy = np.array([k.pt for k in kps], np.float32)
    keep = np.argsort(-resp, kind="stable")
    _, first = np.unique(np.round(xy[keep]).astype(np.int32), axis=0, return_index=True)
    keep = keep[np.sort(first)][:verify.MAX_KEYPOINTS]
    kept, raw = verify._sift().compute(work, [kps[i] for i in keep])
    h, w = work.shape
    pts = (np.array([k.pt for k in kept], np.float32) + 0.5) / max(h, w)
    desc = np.clip(np.round(verify._rootsift(raw) * verify.QUANT_SCALE), 0, 15).astype(np.uint8)
    thumb = verify._resize_long(work, verify.THUMB_SIDE)
    return LocalFeatures(image.width, image.height, w, h, pts, desc, thumb).to_bytes()


@pytest.mark.parametrize("blur", [0, 4])
def test_features_are_byte_for_byte_their_definition(blur):
    # Stored features and kept verdicts stay valid across the shared-pyramid extraction. Blurred
    # hard, no kept keypoint comes from the upsampled octave: the path that recomputes them.
    from simdesk.core.duplicates.verify import _octave, _sift, _grey, _resize_long

    image = scene(3).filter(ImageFilter.GaussianBlur(blur)) if blur else scene(3)
    octaves = {_octave(k) for k in _sift().detect(_resize_long(_grey(image), 256), None)}
    assert (-1 in octaves) == (blur == 0)
    assert extract_features(image).to_bytes() == _features_as_defined(image)


def test_bytes_round_trip(original):
    data = original.to_bytes()
    assert len(data) < 20_000
    back = LocalFeatures.from_bytes(data)
    assert (back.width, back.height) == (original.width, original.height)
    assert np.array_equal(back.descriptors, original.descriptors)
    assert np.allclose(back.points, original.points, atol=1e-4)
    assert back.thumb.shape == original.thumb.shape
    assert verify_pair(original, back).kind == "copy"
    with pytest.raises(ValueError):
        LocalFeatures.from_bytes(b"XXXX" + data[4:])
    with pytest.raises(ValueError):
        LocalFeatures.from_bytes(data[:-5])


@pytest.mark.parametrize("image", [
    Image.new("RGB", (400, 300), (128, 128, 128)),
    Image.new("RGB", (1, 1), (10, 20, 30)),
    np.zeros((3, 500, 3), np.uint8),
])
def test_degenerate_images_are_different(original, image):
    f = extract_features(image)
    assert LocalFeatures.from_bytes(f.to_bytes()).points.shape == f.points.shape
    for v in (verify_pair(original, f), verify_pair(f, original), verify_pair(f, f)):
        assert isinstance(v, Verdict) and v.kind == "different"


def test_panorama_and_array_input(original):
    pano = np.concatenate([np.asarray(scene(s)) for s in (4, 5, 6, 7)], axis=1)[:200]  # 1920 x 200
    f = extract_features(pano)
    assert f.width == 1920 and f.height == 200
    v = verify_pair(f, original)
    assert v.kind in ("different", "similar_shot", "copy")
    crop = extract_features(pano[:, 100:1820])  # 90% of the width
    assert verify_pair(f, crop).kind == "copy"
    assert verify_pair(f, f).kind == "copy"


def test_the_verdict_does_not_depend_on_which_photo_comes_first(original):
    """The scan meets a pair's photos in the order they were indexed, which threads decide."""
    rng = np.random.default_rng(0)
    shapes = _shapes(rng, W, H, 60)
    moved = (extract_features(_draw(shapes, W, H, 0, moved=("ellipse", 120, 120, 70, (230, 40, 40)))),
             extract_features(_draw(shapes, W, H, 0, moved=("ellipse", 340, 230, 70, (230, 40, 40)))))
    pairs = [(original, extract_features(EDITS[edit](scene(0)))) for edit in EDITS]
    pairs += [moved, (original, extract_features(scene(1)))]
    kinds = set()
    for a, b in pairs:
        forth, back = verify_pair(a, b), verify_pair(b, a)
        assert forth.to_json() == back.to_json()
        kinds.add(forth.kind)
    assert kinds == {"copy", "similar_shot", "different"}


def test_a_copy_one_way_round_only_is_another_shot(original, monkeypatch):
    from simdesk.core.duplicates import verify

    copy = extract_features(EDITS["resized"](scene(0)))
    real = verify._verify_directed

    def copy_one_way(a, b):  # as RANSAC on a burst frame pair can happen to fit one way
        verdict = real(a, b)
        return verdict if a is original else replace(verdict, kind="different", reason="too few")

    monkeypatch.setattr(verify, "_verify_directed", copy_one_way)
    v = verify_pair(copy, original)
    assert v.kind == "similar_shot" and "one way round" in v.reason and "too few" in v.reason
    monkeypatch.setattr(verify, "_verify_directed", real)
    assert verify_pair(copy, original).kind == "copy"
