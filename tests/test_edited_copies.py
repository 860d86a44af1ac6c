"""The edited-copies set builder and `simdesk eval duplicates --edited-copies`."""

from __future__ import annotations

import hashlib
import json

import pytest
from PIL import Image

from conftest import TINY_MODEL, draw_photo
from simdesk.cli import main
from simdesk.eval import edited_copies as ec
from simdesk.eval.duplicates import groups_from_layout


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


@pytest.mark.parametrize("recipe", ec.RECIPES, ids="+".join)
def test_every_recipe_changes_the_photo_and_writes_a_jpeg(tmp_path, recipe):
    source = draw_photo(tmp_path / "a.png", seed=3, size=(160, 120))
    out = tmp_path / "copy.jpg"
    ec.make_copy(source, recipe, seed=1, out=out, strength="standard")
    with Image.open(out) as copy, Image.open(source) as original:
        assert copy.format == "JPEG"
        if recipe == ("recompress",):
            assert copy.size == original.size  # same pixels grid, other bytes
        if "resize" in recipe or "crop" in recipe or "rotate" in recipe:
            assert copy.size[0] * copy.size[1] < original.size[0] * original.size[1]
        if "rotate90" in recipe and len(recipe) == 1:
            assert copy.size == (original.size[1], original.size[0])
    # Deterministic: the same seed gives the same file.
    again = tmp_path / "again.jpg"
    ec.make_copy(source, recipe, seed=1, out=again, strength="standard")
    assert again.read_bytes() == out.read_bytes()


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
