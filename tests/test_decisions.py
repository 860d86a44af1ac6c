"""Review decisions that last (keep choices and ticks per group), the difference view, the shot
hint, and the command line's --group, --interactive and --csv."""

from __future__ import annotations

import csv
import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from conftest import TINY_MODEL, draw_photo
from simdesk.cli import main
from simdesk.core.duplicates import decisions, grouping as duplicates
from simdesk.core.duplicates.difference import difference
from simdesk.core.duplicates.quality import measure
from simdesk.core.store import MIGRATIONS, SCHEMA_VERSION, Store


@pytest.fixture
def photos(tmp_path):
    """a.jpg with two byte-identical copies, b.jpg with one, and an unrelated photo."""
    folder = tmp_path / "photos"
    draw_photo(folder / "a.jpg", seed=1, size=(120, 90), quality=90)
    draw_photo(folder / "b.jpg", seed=5, size=(120, 90), quality=90)
    (folder / "album").mkdir()
    for name in ("album/a.jpg", "a copy.jpg"):
        shutil.copy2(folder / "a.jpg", folder / name)
    shutil.copy2(folder / "b.jpg", folder / "b copy.jpg")
    draw_photo(folder / "other.jpg", seed=2, size=(120, 90))
    return folder


@pytest.fixture
def indexed(library, photos, xdg):
    library.add_folder(photos)
    library.index()
    return library


def groups_of(library):
    return library.duplicate_groups(duplicates.scan(library.store, None, threshold=0.9))


def test_schema_5_is_the_decisions_table(tmp_path):
    with Store(tmp_path / "x.db") as store:
        assert SCHEMA_VERSION >= 5  # 5 is decisions'; later features append after it
        assert MIGRATIONS[4] is decisions.migrate_to_5
        tables = {r[0] for r in store.connection.execute("SELECT name FROM sqlite_master")}
        assert "duplicate_decisions" in tables


def test_decisions_survive_a_reopen_and_lapse_when_a_file_changes(indexed, photos, library_dir):
    group = next(g for g in groups_of(indexed) if str(photos / "a.jpg") in g.paths)
    copy, album = str(photos / "a copy.jpg"), str(photos / "album" / "a.jpg")
    assert group.keep == str(photos / "a.jpg")
    indexed.record_duplicate_decision(group, keep=copy)
    kept = group.with_keep(copy)
    indexed.record_duplicate_decision(kept, ticks={album: False, copy: True})  # the kept one: ignored
    indexed.close()

    from simdesk.core.library import Library

    again = Library(library_dir)
    groups = groups_of(again)
    found = again.duplicate_decisions(groups)
    decision = found[group.key]
    assert decision.keep == copy and decision.ticks == {album: False}
    (applied,) = [g for g in decisions.apply_keep(groups, found) if g.key == group.key]
    assert applied.keep == copy and applied.reason == "chosen by you"
    assert decisions.ticked_paths(applied, decision) == {str(photos / "a.jpg")}

    # The user's copy changes: its group has another key, the old decisions no longer apply.
    draw_photo(photos / "a copy.jpg", seed=9, size=(120, 90), quality=90)
    again.index()
    groups = groups_of(again)
    assert group.key not in {g.key for g in groups}
    assert not again.duplicate_decisions(groups)
    again.close()


def test_ticked_paths_never_the_kept_or_a_reference_copy_and_nothing_for_similar_shots(indexed, photos):
    group = next(g for g in groups_of(indexed) if str(photos / "a.jpg") in g.paths)
    everything = {m.path: True for m in group.members}
    assert decisions.ticked_paths(group, None, everything) == set(everything) - {group.keep}
    from dataclasses import replace

    shots = replace(group, kind="similar_shot")
    assert decisions.ticked_paths(shots, None) == set()  # nothing ticked by default


def textured(seed: int, size=(480, 360)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (size[1] // 8, size[0] // 8)).astype(np.float32)
    noise = np.asarray(Image.fromarray(noise).resize(size, Image.Resampling.BICUBIC))
    base = np.linspace(40, 200, size[0])[None, :, None] + np.zeros((size[1], 1, 3))
    return np.clip(base + 50 * noise[..., None], 0, 255).astype(np.uint8)


def test_difference_after_alignment_finds_the_patch_drawn_on_a_resized_copy():
    a = textured(1)
    copy = Image.fromarray(a).resize((240, 180))
    ImageDraw.Draw(copy).rectangle((150, 20, 200, 60), fill=(255, 255, 0))
    result = difference(a, np.asarray(copy))
    assert result.aligned and result.inliers >= 8 and "aligned on" in result.method
    assert result.image.shape == a.shape
    red = (result.image[..., 0].astype(int) - result.image[..., 1]) > 120
    patch = red[50:110, 310:390].mean()  # the patch, in the original's pixels (x2)
    assert patch > 0.5 and red.mean() < 0.2
    unrelated = difference(a, textured(2))
    assert not unrelated.aligned and "no alignment" in unrelated.method


def test_the_sharpness_hint_prefers_the_sharp_shot():
    sharp = Image.fromarray(textured(3))
    blurred = sharp.filter(ImageFilter.GaussianBlur(3))

    def jpeg(img):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        return buf.getvalue()

    assert measure(jpeg(sharp)).sharpness > 2 * measure(jpeg(blurred)).sharpness
    dark = measure(jpeg(Image.new("RGB", (100, 80), (2, 2, 2))))
    assert dark.exposure.startswith("dark")


# -- the command line ----------------------------------------------------------------------------------------


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class _Answers:
    def __init__(self, *lines):
        self.lines = list(lines)

    def isatty(self):
        return True

    def readline(self):
        return self.lines.pop(0) if self.lines else ""


def test_cli_csv_group_ids_and_trash_extras_of_one_group(library_dir, tiny_model, photos, xdg, capsys):
    code, _, err = run(capsys, "index", str(photos), "--model", TINY_MODEL)
    assert code == 0, err
    code, out, err = run(capsys, "duplicates", "--fast", "--threshold", "0.99", "--csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["path"] for r in rows} == {str(photos / n) for n in
                                         ("a.jpg", "album/a.jpg", "a copy.jpg", "b.jpg", "b copy.jpg")}
    assert {r["role"] for r in rows} == {"keep", "extra"}
    b_id = next(r["group_id"] for r in rows if r["path"] == str(photos / "b.jpg"))
    code, out, _ = run(capsys, "duplicates", "--fast", "--threshold", "0.99")
    assert f"[{b_id}]" in out
    code, _, err = run(capsys, "duplicates", "--fast", "--threshold", "0.99", "--json", "--csv")
    assert code != 0 and "choose one" in err
    code, _, err = run(capsys, "duplicates", "--fast", "--group", b_id)
    assert code != 0 and "add --trash-extras" in err
    code, _, err = run(capsys, "duplicates", "--fast", "--trash-extras", "--yes", "--group", "feedfacefeedface")
    assert code != 0 and "no group feedfacefeedface" in err
    code, _, err = run(capsys, "duplicates", "--fast", "--threshold", "0.99", "--trash-extras", "--yes",
                       "--group", b_id)
    assert code == 0 and "Moved 1 file" in err, err
    assert not (photos / "b copy.jpg").exists() and (photos / "a copy.jpg").exists()


def test_cli_interactive_asks_group_by_group(library_dir, tiny_model, photos, xdg, capsys, monkeypatch):
    code, _, err = run(capsys, "index", str(photos), "--model", TINY_MODEL)
    assert code == 0, err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    code, _, err = run(capsys, "duplicates", "--fast", "--trash-extras", "--interactive")
    assert code != 0 and "terminal" in err
    # Group 1 is a.jpg's (2 extras: the largest to free). Keep copy 2 there, then yes; no to b.
    monkeypatch.setattr("sys.stdin", _Answers("k 2\n", "y\n", "n\n"))
    code, out, err = run(capsys, "duplicates", "--fast", "--threshold", "0.99", "--trash-extras", "-i")
    assert code == 0 and "Moved 2 files" in err, err
    remaining = {p for p in (str(photos / n) for n in ("a.jpg", "album/a.jpg", "a copy.jpg")) if os.path.exists(p)}
    assert len(remaining) == 1  # the copy chosen with "k 2"
    assert (photos / "b copy.jpg").exists() and (photos / "b.jpg").exists()
    assert "Group 1 of 2" in err and "Group 2 of 2" in err
