"""The edited-copies set builder and `simdesk eval duplicates --edited-copies`."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from conftest import TINY_MODEL, draw_photo
from simdesk.cli import main
from simdesk.eval import edited_copies as ec
from simdesk.core.decode import decode_image
from simdesk.eval.duplicates import groups_from_layout, groups_from_truth_file


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def sources(tmp_path):
    folder = tmp_path / "sources"
    for i in range(10):
        draw_photo(folder / ("sub" if i % 2 else "") / f"photo {i}.jpg", seed=i, size=(120, 90),
                   quality=90)
    return folder


SHRINKING = {"resize", "crop", "rotate"}
GROWING = {"upscale", "border"}


def _pixels(img):
    return img.size[0] * img.size[1]


@pytest.mark.parametrize("recipe", ec.RECIPES, ids="+".join)
def test_every_recipe_changes_the_photo_and_writes_a_jpeg(tmp_path, recipe):
    source = draw_photo(tmp_path / "a.png", seed=3, size=(160, 120))
    out = tmp_path / "copy.jpg"
    ec.make_copy(source, recipe, seed=1, out=out, strength="wide")
    with Image.open(out) as copy, Image.open(source) as original:
        assert copy.format == "JPEG"
        assert "exif" not in copy.info  # no metadata unless asked for
        if recipe == ("recompress",):
            assert copy.size == original.size  # same pixels grid, other bytes
        if SHRINKING & set(recipe) and not GROWING & set(recipe):
            assert _pixels(copy) < _pixels(original)
        if GROWING & set(recipe) and not SHRINKING & set(recipe):
            assert _pixels(copy) > _pixels(original)
        if recipe == ("turn",):
            assert copy.size in (original.size, original.size[::-1])
        if not SHRINKING & set(recipe) and not GROWING & set(recipe) and "turn" not in recipe:
            assert copy.size == original.size
    # Deterministic: the same seed gives the same file.
    again = tmp_path / "again.jpg"
    ec.make_copy(source, recipe, seed=1, out=again, strength="wide")
    assert again.read_bytes() == out.read_bytes()


def test_recipes_use_every_family_equally_and_never_combine_conflicting_edits():
    uses = Counter(edit for recipe in ec.RECIPES for edit in recipe if edit in ec.FAMILIES)
    assert set(uses) == set(ec.FAMILIES) and len(set(uses.values())) == 1
    assert {"resize", "recompress", "crop", "recolour", "greyscale", "brighten", "darken", "rotate",
            "turn", "mirror", "blur", "sharpen", "caption", "watermark", "border", "upscale"} <= set(ec.FAMILIES)
    assert max(map(len, [[e for e in r if e in ec.FAMILIES] for r in ec.RECIPES])) == 3
    assert len(set(map(frozenset, ec.RECIPES))) == len(ec.RECIPES)  # no recipe twice
    for recipe in ec.RECIPES:
        assert set(recipe) <= set(ec.EDITS)
        assert not any(conflict <= set(recipe) for conflict in ec.CONFLICTS), recipe
        assert list(recipe) == sorted(recipe, key=ec.APPLY_ORDER.index)  # as an editor applies them


def _array(path):
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float64)


def _copy(tmp_path, source, recipe, seed=1, strength="wide"):
    out = tmp_path / f"{'+'.join(recipe)}-{seed}.jpg"
    ec.make_copy(source, recipe, seed=seed, out=out, strength=strength)
    return _array(out), out


@pytest.fixture
def photo(tmp_path):
    return draw_photo(tmp_path / "photo.png", seed=11, size=(160, 120))


def test_mirror_and_turn_move_the_pixels_and_nothing_else(tmp_path, photo):
    original = _array(photo)
    mirrored, _ = _copy(tmp_path, photo, ("mirror",))
    assert np.abs(mirrored - original[:, ::-1]).mean() < 3  # the flipped original, within JPEG error
    assert np.abs(mirrored - original).mean() > 10
    seen = set()
    for seed in range(12):
        turned, _ = _copy(tmp_path, photo, ("turn",), seed=seed)
        errors = {k: np.abs(turned - np.rot90(original, k)).mean()
                  for k in (1, 2, 3) if np.rot90(original, k).shape == turned.shape}
        k, error = min(errors.items(), key=lambda kv: kv[1])
        assert error < 3
        seen.add(k)
    assert seen == {1, 2, 3}  # 90, 180 and 270 degrees all occur


def test_tone_edits_do_what_they_say(tmp_path, photo):
    original = _array(photo)
    grey, _ = _copy(tmp_path, photo, ("greyscale",))
    assert np.abs(grey - grey.mean(axis=2, keepdims=True)).max() < 4  # no colour left
    assert original.std(axis=2).mean() > 10
    bright, _ = _copy(tmp_path, photo, ("brighten", "highquality"))
    dark, _ = _copy(tmp_path, photo, ("darken",))
    assert bright.mean() > original.mean() + 10 and dark.mean() < original.mean() - 15

    def detail(a):  # high-frequency energy: the mean squared Laplacian of the luminance
        y = a.mean(axis=2)
        return ((4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]) ** 2).mean()

    plain, _ = _copy(tmp_path, photo, ("recompress",))  # no edit, saved as a JPEG
    blurred, _ = _copy(tmp_path, photo, ("blur",))
    sharpened, _ = _copy(tmp_path, photo, ("sharpen",))
    assert plain.shape == original.shape
    assert detail(blurred) < 0.6 * detail(plain) and detail(sharpened) > 1.3 * detail(plain)


def test_overlays_and_frames_cover_part_of_the_photo(tmp_path, photo):
    original = _array(photo)
    for recipe in (("caption",), ("watermark",)):
        for seed in range(4):  # text, logo, top and bottom bands
            edited, _ = _copy(tmp_path, photo, recipe, seed=seed)
            changed = (np.abs(edited - original).max(axis=2) > 40).mean()
            assert 0.005 < changed < 0.5, (recipe, seed, changed)  # marked, the photo still there
    framed, _ = _copy(tmp_path, photo, ("border",))
    h, w = original.shape[:2]
    pad_y, pad_x = (framed.shape[0] - h) // 2, (framed.shape[1] - w) // 2
    assert pad_y >= 2 and pad_y == pad_x
    assert framed[:2].std(axis=(0, 1)).max() < 4  # a plain frame at the edge
    assert np.abs(framed[pad_y + 2:pad_y + h - 2, pad_x + 2:pad_x + w - 2]
                  - original[2:-2, 2:-2]).mean() < 3  # the photo inside it, unchanged


def test_wide_strength_spans_the_range_a_copy_must_be_found_at(tmp_path, photo):
    sides, areas, qualities = [], [], []
    for seed in range(40):
        rng_state = {"strength": ec.STRENGTHS["wide"], "quality": 90}
        with Image.open(photo) as img:
            img = img.convert("RGB")
            sides.append(ec.EDITS["resize"](img, random.Random(seed), rng_state).size[0] / img.size[0])
            cropped = ec.EDITS["crop"](img, random.Random(seed), rng_state)
            areas.append(_pixels(cropped) / _pixels(img))
            ec.EDITS["recompress"](img, random.Random(seed), rng_state)
            qualities.append(rng_state["quality"])
    assert min(sides) < 0.35 and max(sides) <= 0.8  # down to about a quarter of the side
    assert min(qualities) < 25 and min(qualities) >= 15
    assert min(areas) >= 0.69 and max(areas) <= 1


def test_upscaled_and_high_quality_copies_are_bigger_than_the_original(tmp_path):
    source = draw_photo(tmp_path / "camera.jpg", seed=4, size=(200, 150), quality=80)
    with Image.open(source) as img:
        pixels = _pixels(img)
    for seed in range(5):
        _, up = _copy(tmp_path, source, ("upscale",), seed=seed)
        with Image.open(up) as img:
            assert 1.45 * pixels <= _pixels(img) <= 2.05 * pixels
        _, bright = _copy(tmp_path, source, ("brighten", "highquality"), seed=seed)
        assert bright.stat().st_size > source.stat().st_size
        with Image.open(bright) as img:
            assert img.size == (200, 150)


def test_build_writes_groups_distractors_and_truth(sources, tmp_path):
    before = _digests(sources)
    out = tmp_path / "set"
    built = ec.build_edited_copies(sources, out, originals=3, copies=2, distractors=4, seed=5)
    assert _digests(sources) == before  # the sources are only read
    assert len(built.groups) == 3 and all(len(g) == 3 for g in built.groups)
    assert len(built.distractors) == 4 and not built.skipped
    # The folder layout says the same as the groups: one subfolder per group.
    assert sorted(map(sorted, groups_from_layout(out))) == sorted(map(sorted, built.groups))
    truth = json.loads((out / "truth.json").read_text())
    assert truth["groups"] == built.groups and truth["distractors"] == built.distractors
    source_hashes = set(before.values())
    used = set()
    for group in built.groups:
        original, *copies = group
        digest = hashlib.sha256((out / original).read_bytes()).hexdigest()
        assert digest in source_hashes  # originals are byte copies of a source
        used.add(digest)
        for copy in copies:
            assert built.recipes[copy] and hashlib.sha256((out / copy).read_bytes()).hexdigest() != digest
    for name in built.distractors:
        assert "/" not in name
        used.add(hashlib.sha256((out / name).read_bytes()).hexdigest())
    assert len(used) == 7  # every photo drawn once: no original is also a distractor
    # Recipes rotate: the 6 copies use 6 different recipes.
    assert len(set(built.recipes.values())) == 6
    # Same seed, same set.
    ec.build_edited_copies(sources, tmp_path / "again", originals=3, copies=2, distractors=4, seed=5)
    assert _digests(tmp_path / "again") == _digests(out)


def test_build_skips_unreadable_sources_and_serves_originals_first(sources, tmp_path):
    (sources / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (sources / "empty.jpg").write_bytes(b"")
    built = ec.build_edited_copies(sources, tmp_path / "set", originals=12, copies=1, distractors=5)
    # 10 readable photos: all become originals; the broken ones are reported, not fatal.
    assert len(built.groups) == 10 and built.distractors == []
    assert sorted(name for name, _ in built.skipped) == ["broken.jpg", "empty.jpg"]
    assert not [p for p in (tmp_path / "set").iterdir() if p.is_dir() and not any(p.iterdir())]


def test_build_refuses_unsafe_or_impossible_requests(sources, tmp_path):
    with pytest.raises(ValueError, match="outside the source"):
        ec.build_edited_copies(sources, sources / "set")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        ec.build_edited_copies(sources, tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="copies"):
        ec.build_edited_copies(sources, tmp_path / "a", copies=len(ec.RECIPES) + 1)
    with pytest.raises(ValueError, match="not a folder"):
        ec.build_edited_copies(tmp_path / "missing", tmp_path / "b")
    with pytest.raises(ValueError, match="at least one original"):
        ec.build_edited_copies(sources, tmp_path / "c", originals=0)  # would score nothing
    with pytest.raises(ValueError, match="negative"):
        ec.build_edited_copies(sources, tmp_path / "d", distractors=-1)


def test_eval_duplicates_builds_the_set_and_reports_by_edit(models_dir, tiny_model, sources, tmp_path,
                                                             capsys):
    kept = tmp_path / "kept"
    assert main(["eval", "duplicates", str(sources), "--edited-copies", "--originals", "3",
                 "--copies", "2", "--distractors", "3", "--model", TINY_MODEL, "--json",
                 "--keep-set", str(kept)]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout is the report alone
    assert "3 originals x 2 edited copies, 3 distractors" in captured.err
    assert report["photos"] == 3 * 3 + 3 and report["groups"] == 3 and report["true_pairs"] == 3 * 3
    by_edit = report["by_edit"]
    assert sum(row["copies"] for row in by_edit.values()) == 6
    assert all(0 <= row["found"] <= row["copies"] for row in by_edit.values())
    assert (kept / "truth.json").is_file()
    # Plain text, built in a temporary folder that is gone afterwards.
    assert main(["eval", "duplicates", str(sources), "--edited-copies", "--originals", "2",
                 "--copies", "1", "--distractors", "2", "--model", TINY_MODEL]) == 0
    text = capsys.readouterr().out
    assert "2 originals x 1 edited copies, 2 distractors" in text and "by edit:" in text


def test_eval_duplicates_edited_copies_excludes_a_truth_file(models_dir, tiny_model, sources, tmp_path,
                                                              capsys):
    assert main(["eval", "duplicates", str(sources), "--edited-copies", "--truth", str(tmp_path / "t.json"),
                 "--model", TINY_MODEL]) == 1
    assert "exclude each other" in capsys.readouterr().err


def test_a_photo_above_pillows_warning_size_is_still_copied(tmp_path, monkeypatch):
    # Pillow warns above MAX_IMAGE_PIXELS (89 MP: a 100 MP camera photo) and refuses above twice
    # that. Shrunk here so a small photo stands for a big one; warnings are errors in the tests.
    source = draw_photo(tmp_path / "big.jpg", seed=2, size=(120, 90), quality=90)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 120 * 90 - 1)
    ec.make_copy(source, ("resize",), seed=1, out=tmp_path / "copy.jpg", strength="standard")
    assert (tmp_path / "copy.jpg").stat().st_size > 0
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 120 * 90 // 3)  # a bomb: refused
    with pytest.raises(Image.DecompressionBombError):
        ec.make_copy(source, ("resize",), seed=1, out=tmp_path / "bomb.jpg", strength="standard")


def test_every_source_is_used_when_the_counts_add_up(sources, tmp_path):
    # 10 photos: 4 originals and 6 distractors use every one, none dropped between the two.
    built = ec.build_edited_copies(sources, tmp_path / "set", originals=4, copies=1, distractors=6)
    assert len(built.groups) == 4 and len(built.distractors) == 6
    used = {hashlib.sha256((tmp_path / "set" / g[0]).read_bytes()).hexdigest() for g in built.groups}
    used |= {hashlib.sha256((tmp_path / "set" / d).read_bytes()).hexdigest() for d in built.distractors}
    assert used == set(_digests(sources).values())


def _tags(path):
    with Image.open(path) as img:
        exif = img.getexif()
        return {**dict(exif), **dict(exif.get_ifd(0x8769))}, "exif" in img.info


MAKE, MODEL, SOFTWARE, DATETIME_ORIGINAL = 0x010F, 0x0110, 0x0131, 0x9003


def test_camera_originals_carry_camera_exif_and_copies_none_or_an_editors(sources, tmp_path):
    out = tmp_path / "set"
    built = ec.build_edited_copies(sources, out, originals=6, copies=3, distractors=2, seed=3,
                                   camera=True)
    truth = json.loads((out / "truth.json").read_text())
    assert truth["metadata"] == built.metadata and truth["recipes"] == built.recipes
    # The truth file still reads as groups for `simdesk eval duplicates --truth`.
    assert groups_from_truth_file(out / "truth.json", out) == built.groups
    source_pixels = {}
    for path in sorted(sources.rglob("*.jpg")):
        source_pixels[path.read_bytes()[-2000:]] = _array(path)
    kinds = Counter()
    for original, *copies in built.groups:
        tags, _ = _tags(out / original)
        assert built.metadata[original] == "camera"
        assert tags.get(MAKE) and tags.get(MODEL) and tags.get(DATETIME_ORIGINAL) and SOFTWARE not in tags
        # The camera's pixels, byte for byte: only an EXIF block was added to the source JPEG.
        data = (out / original).read_bytes()
        assert np.array_equal(_array(out / original), source_pixels[data[-2000:]])
        taken = decode_image(data, input_size=32).capture_time
        assert taken is not None
        for copy in copies:
            kinds[built.metadata[copy]] += 1
            tags, has_exif = _tags(out / copy)
            if built.metadata[copy] == "none":
                assert not has_exif and not tags
            else:
                assert built.metadata[copy] == "edited"
                assert tags[SOFTWARE] and tags[DATETIME_ORIGINAL] == _tags(out / original)[0][DATETIME_ORIGINAL]
                assert decode_image((out / copy).read_bytes(), input_size=32).capture_time == taken
    assert kinds["none"] >= 6 and kinds["edited"] >= 6  # both kinds, about half each
    times = [decode_image((out / g[0]).read_bytes(), input_size=32).capture_time for g in built.groups]
    assert len(set(times)) == len(times)  # every original another moment
    # Distractors stay byte copies, and without the option nothing carries metadata.
    plain = ec.build_edited_copies(sources, tmp_path / "plain", originals=2, copies=2, distractors=1)
    assert plain.metadata == {} and "metadata" not in json.loads((tmp_path / "plain" / "truth.json").read_text())
    assert not any(_tags(tmp_path / "plain" / m)[1] for g in plain.groups for m in g)


def test_every_recipe_gets_both_kinds_of_copy_metadata(sources, tmp_path):
    # 10 originals x 10 copies: more than two rounds of the recipes.
    built = ec.build_edited_copies(sources, tmp_path / "set", originals=10, copies=10, distractors=0,
                                   camera=True)
    assert len(built.recipes) == 100 > 2 * len(ec.RECIPES)
    kinds: dict[str, set] = {}
    for copy, recipe in built.recipes.items():
        kinds.setdefault(recipe, set()).add(built.metadata[copy])
    assert len(kinds) == len(ec.RECIPES)
    assert all(k == {"none", "edited"} for k in kinds.values())


def test_camera_original_replaces_exif_a_jpeg_had_and_keeps_its_orientation(tmp_path):
    source = tmp_path / "phone.jpg"
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    old = Image.Exif()
    old[SOFTWARE] = "old tool"
    old[0x0112] = 6  # shown turned by 90 degrees
    img.save(source, quality=90, exif=old.tobytes())
    exif = ec.camera_exif(random.Random(1), "2020:01:02 03:04:05")
    ec.write_camera_original(source, tmp_path / "original.jpg", exif)
    tags, _ = _tags(tmp_path / "original.jpg")
    assert SOFTWARE not in tags and tags[0x0112] == 6 and tags[DATETIME_ORIGINAL] == "2020:01:02 03:04:05"
    assert np.array_equal(_array(tmp_path / "original.jpg"), _array(source))
    png = draw_photo(tmp_path / "scan.png", seed=1)
    ec.write_camera_original(png, tmp_path / "from-png.jpg", exif)
    with Image.open(tmp_path / "from-png.jpg") as written:
        assert written.format == "JPEG" and written.getexif()[MAKE]
