"""Moving duplicates to the freedesktop Trash: the rules that protect photos, the journal, undo."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat

import pytest

from conftest import TINY_MODEL, draw_photo
from simdesk.cli import main
from simdesk.core.duplicates import freedesktop_trash, grouping as duplicates, journal
from simdesk.core.store import Store
from simdesk.core.duplicates.freedesktop_trash import TrashError
from simdesk.core.duplicates.journal import TrashPlan


def sha(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def photos(tmp_path):
    """photos/a.jpg and three byte-identical copies of it, plus an unrelated photo."""
    folder = tmp_path / "photos"
    draw_photo(folder / "a.jpg", seed=1, size=(120, 90), quality=90)
    (folder / "album").mkdir()
    for name in ("album/a.jpg", "a copy.jpg", "album/a (2).jpg"):
        shutil.copy2(folder / "a.jpg", folder / name)
    draw_photo(folder / "other.jpg", seed=2, size=(120, 90))
    return folder


@pytest.fixture
def indexed(library, photos, xdg):
    library.add_folder(photos)
    library.index()
    return library


def exact_group(library):
    (group,) = library.duplicate_groups(duplicates.scan(library.store, None, threshold=0.9))
    return group


# -- the round trip ------------------------------------------------------------------------------------------


def test_move_to_trash_then_undo_restores_the_same_bytes_in_the_same_place(indexed, photos, xdg):
    group = exact_group(indexed)
    assert group.keep == str(photos / "a.jpg")
    extras = [m.path for m in group.extras]
    before = {p: (sha(p), os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in extras}
    plan = indexed.plan_trash([group])
    assert plan.files == 3 and plan.summary().startswith("Move 3 files, ")
    report = indexed.trash_duplicates(plan)
    assert sorted(p for p, _ in report.moved) == sorted(extras) and not report.skipped
    for original, where in report.moved:
        assert not os.path.lexists(original)
        assert where.startswith(str(xdg / "files"))
        info = xdg / "info" / (os.path.basename(where) + ".trashinfo")
        text = info.read_text()
        assert text.startswith("[Trash Info]\n")
        assert freedesktop_trash.read_info_path(info) == original
        assert re.search(r"^DeletionDate=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", text, re.M)
        assert indexed.store.photo_by_path(original) is None  # out of the index
    assert "Path=" + str(photos / "a%20copy.jpg") in (xdg / "info" / "a copy.jpg.trashinfo").read_text()
    assert sorted(os.listdir(xdg / "files")) == ["a (2).jpg", "a copy.jpg", "a.jpg"]

    undone = indexed.undo_trash()
    assert undone.batch == report.batch and sorted(undone.restored) == sorted(extras)
    assert not undone.refused
    for path, (digest, mtime, size) in before.items():
        assert sha(path) == digest and os.stat(path).st_mtime_ns == mtime and os.stat(path).st_size == size
        assert indexed.store.photo_by_path(path) is not None  # back in the index
    assert os.listdir(xdg / "files") == [] and os.listdir(xdg / "info") == []
    assert {e.state for e in journal.journal(indexed.store, report.batch)} == {"restored"}
    assert indexed.undo_trash().batch is None  # nothing left to undo


def test_same_name_twice_gets_a_numbered_trash_name(indexed, photos, xdg):
    group = exact_group(indexed)
    plan = indexed.plan_trash([group], {str(photos / "album" / "a.jpg")})
    indexed.trash_duplicates(plan)
    # A second a.jpg (another folder's) gets a numbered name beside the first.
    other_keep = group.with_keep(str(photos / "a copy.jpg"))
    report = indexed.trash_duplicates(indexed.plan_trash([other_keep], {str(photos / "a.jpg")}))
    assert report.moved == [(str(photos / "a.jpg"), str(xdg / "files" / "a.2.jpg"))]
    assert (xdg / "info" / "a.2.jpg.trashinfo").exists()
    draw_photo(photos / "b.jpg", seed=5)
    (xdg / "files" / "b.jpg").write_bytes(b"someone else's")  # a stray file: never replaced
    assert (xdg / "files" / "a.jpg").exists()
    item = journal.TrashItem(str(photos / "b.jpg"), os.stat(photos / "b.jpg").st_size,
                           os.stat(photos / "b.jpg").st_mtime_ns, b"x", "g", group.members)
    report = journal.move_to_trash(indexed.store, TrashPlan([item]))
    assert report.moved[0][1] == str(xdg / "files" / "b.2.jpg")
    assert (xdg / "files" / "b.jpg").read_bytes() == b"someone else's"


def test_odd_file_names_are_percent_encoded_and_round_trip(indexed, photos, xdg):
    odd = os.fsdecode(os.fsencode(str(photos)) + b"/caf\xe9 100%#.jpg")
    shutil.copy2(photos / "a.jpg", odd)
    indexed.index()
    group = exact_group(indexed)
    report = indexed.trash_duplicates(indexed.plan_trash([group], {odd}))
    (moved,) = report.moved
    info = xdg / "info" / (os.path.basename(moved[1]) + ".trashinfo")
    assert "Path=" in info.read_text() and "%E9%20100%25%23.jpg" in info.read_text()
    assert freedesktop_trash.read_info_path(info) == odd
    indexed.undo_trash()
    assert os.path.exists(odd)


# -- the rules that protect photos ------------------------------------------------------------------------------


def test_never_the_last_copy_when_the_kept_one_is_gone(indexed, photos):
    group = exact_group(indexed)
    os.remove(group.keep)
    for other in group.extras[1:]:
        os.remove(other.path)
    plan = indexed.plan_trash([group], {group.extras[0].path})
    report = indexed.trash_duplicates(plan)
    assert report.moved == []
    assert report.skipped == [(group.extras[0].path, "the last remaining copy of its group (the kept "
                                                     "copy is missing or changed)")]
    assert os.path.exists(group.extras[0].path)


def test_ticking_every_copy_still_keeps_one(indexed, photos):
    group = exact_group(indexed)
    plan = indexed.plan_trash([group], {m.path for m in group.members})
    assert group.keep not in [item.path for item in plan.items]
    assert (group.keep, "the last copy of its group is always kept") in plan.skipped
    indexed.trash_duplicates(plan)
    assert os.path.exists(group.keep)


def test_moving_the_extras_one_by_one_stops_at_the_last_copy(indexed, photos):
    group = exact_group(indexed)
    # A plan that thinks only the kept copy survives, while the kept copy changed meanwhile.
    with open(group.keep, "ab") as fh:
        fh.write(b"edited")
    report = indexed.trash_duplicates(indexed.plan_trash([group]))
    assert report.moved == []
    assert {why for _, why in report.skipped} == {
        "the last remaining copy of its group (the kept copy is missing or changed)"}


def test_never_a_file_in_a_reference_folder(indexed, photos):
    indexed.add_reference_folder(photos / "album")
    group = exact_group(indexed)
    album = {str(photos / "album" / "a.jpg"), str(photos / "album" / "a (2).jpg")}
    assert album.isdisjoint({m.path for m in group.extras})
    plan = indexed.plan_trash([group], album | {str(photos / "a copy.jpg")})
    assert sorted(p for p, why in plan.skipped if "reference folder" in why) == sorted(album)
    # Even a plan built without the reference list is refused at the move, by path or real path.
    unsafe = TrashPlan.from_groups([group], album)
    report = indexed.trash_duplicates(unsafe)
    assert report.moved == [] and all("reference folder" in why for _, why in report.skipped)
    link = photos.parent / "via-link"
    os.symlink(photos / "album", link)
    item = journal.TrashItem(str(link / "a.jpg"), os.stat(link / "a.jpg").st_size,
                           os.stat(link / "a.jpg").st_mtime_ns, b"x", "g", group.members)
    report = journal.move_to_trash(indexed.store, TrashPlan([item]), indexed.reference_folders)
    assert report.moved == [] and "reference folder" in report.skipped[0][1]
    assert all(os.path.exists(p) for p in album)


def test_never_through_a_symlink(indexed, photos, tmp_path):
    target = tmp_path / "elsewhere.jpg"
    shutil.copy2(photos / "a.jpg", target)
    link = photos / "link.jpg"
    os.symlink(target, link)
    st = os.stat(link)
    group = exact_group(indexed)
    item = journal.TrashItem(str(link), st.st_size, st.st_mtime_ns, b"x", "g", group.members)
    report = journal.move_to_trash(indexed.store, TrashPlan([item]))
    assert report.moved == []
    assert report.skipped == [(str(link), "a symbolic link: simdesk never deletes through a link")]
    assert os.path.islink(link) and target.exists()


def test_a_link_to_the_file_is_not_another_copy(indexed, photos, tmp_path):
    lone = photos / "lone.jpg"  # in the library: a photo outside it is never moved at all
    draw_photo(lone, seed=9)
    link = photos / "link-to-lone.jpg"
    os.symlink(lone, link)
    st = os.stat(lone)
    survivor = duplicates.Member(1, str(link), st.st_size, st.st_mtime_ns, b"x", 1, 1, None)
    item = journal.TrashItem(str(lone), st.st_size, st.st_mtime_ns, b"x", "g", (survivor,))
    report = journal.move_to_trash(indexed.store, TrashPlan([item]))
    assert report.moved == [] and "last remaining copy" in report.skipped[0][1]
    assert lone.exists()


def test_a_file_changed_since_the_scan_is_skipped(indexed, photos):
    group = exact_group(indexed)
    changed = group.extras[0].path
    with open(changed, "ab") as fh:
        fh.write(b"!")
    report = indexed.trash_duplicates(indexed.plan_trash([group]))
    assert (changed, "changed since the scan (size or modification time differs); scan again") in report.skipped
    assert os.path.exists(changed) and len(report.moved) == 2
    touched = group.extras[1].path
    assert not os.path.exists(touched)


def test_mtime_only_change_is_enough_to_skip(indexed, photos):
    group = exact_group(indexed)
    path = group.extras[0].path
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    report = indexed.trash_duplicates(indexed.plan_trash([group], {path}))
    assert report.moved == [] and "changed since the scan" in report.skipped[0][1]


# -- the journal and crashes -------------------------------------------------------------------------------------


class Crash(BaseException):
    """Stands for the process dying: not caught by the code under test."""


def test_planned_row_is_committed_before_the_move_and_reconciled_after_a_crash(indexed, photos, xdg, monkeypatch):
    group = exact_group(indexed)
    victim = str(photos / "a copy.jpg")
    seen_rows = []

    def crash_instead_of_rename(src, dst):
        # The journal already holds a committed 'planned' row when the file is about to move.
        with Store(indexed.db_path) as other:
            seen_rows.extend(journal.journal(other, state="planned"))
        raise Crash()

    monkeypatch.setattr(journal.os, "rename", crash_instead_of_rename)
    with pytest.raises(Crash):
        indexed.trash_duplicates(indexed.plan_trash([group], {victim}))
    monkeypatch.undo()
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg.parent))  # undo() dropped it: the same Trash again
    (row,) = seen_rows
    assert row.original_path == victim and row.group_key == group.key and row.trashed_path
    assert row.size == os.stat(victim).st_size and row.content_hash == group.kept.content_hash
    assert os.path.exists(row.info_path)  # the .trashinfo was written before the move

    settled = indexed.reconcile_trash()
    assert settled.settled == [(victim, "still in place: the move had not happened")]
    assert not os.path.exists(row.info_path) and os.path.exists(victim)
    (entry,) = journal.journal(indexed.store, row.batch)
    assert entry.state == "failed"
    assert indexed.reconcile_trash().settled == []


def test_crash_right_after_the_move_is_settled_as_trashed(indexed, photos, xdg, monkeypatch):
    group = exact_group(indexed)
    victim = str(photos / "a copy.jpg")
    real_rename = os.rename

    def rename_then_crash(src, dst):
        real_rename(src, dst)
        raise Crash()

    monkeypatch.setattr(journal.os, "rename", rename_then_crash)
    with pytest.raises(Crash):
        indexed.trash_duplicates(indexed.plan_trash([group], {victim}))
    monkeypatch.undo()
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg.parent))  # undo() dropped it: the same Trash again
    assert indexed.store.photo_by_path(victim) is not None  # the index did not hear of it yet
    report = indexed.reconcile_trash()
    assert report.settled == [(victim, "found in the Trash: the move had finished")]
    assert indexed.store.photo_by_path(victim) is None
    undone = indexed.undo_trash()
    assert undone.restored == [victim] and sha(victim) == sha(group.keep)


def test_undo_never_overwrites_a_file_that_came_back(indexed, photos, xdg):
    group = exact_group(indexed)
    victim = str(photos / "a copy.jpg")
    report = indexed.trash_duplicates(indexed.plan_trash([group], {victim}))
    with open(victim, "wb") as fh:
        fh.write(b"a new file with the old name")
    undone = indexed.undo_trash()
    assert undone.restored == []
    assert undone.refused[0][0] == victim and "a file now exists at this path" in undone.refused[0][1]
    with open(victim, "rb") as fh:
        assert fh.read() == b"a new file with the old name"
    assert os.path.exists(report.moved[0][1])  # still in the Trash


def test_undo_is_by_batch_latest_first(indexed, photos, xdg):
    group = exact_group(indexed)
    first = indexed.trash_duplicates(indexed.plan_trash([group], {str(photos / "a copy.jpg")}))
    second = indexed.trash_duplicates(indexed.plan_trash([group], {str(photos / "album" / "a.jpg")}))
    summaries = indexed.trash_batches()
    assert [b.batch for b in summaries] == [second.batch, first.batch]
    assert all(b.trashed == 1 for b in summaries)
    assert indexed.undo_trash().restored == [str(photos / "album" / "a.jpg")]
    assert not os.path.exists(photos / "a copy.jpg")
    assert indexed.undo_trash(first.batch).restored == [str(photos / "a copy.jpg")]
    with pytest.raises(TrashError):
        indexed.undo_trash("no-such-batch")


def test_undo_after_the_trash_was_emptied_says_so(indexed, photos, xdg):
    group = exact_group(indexed)
    report = indexed.trash_duplicates(indexed.plan_trash([group], {str(photos / "a copy.jpg")}))
    os.remove(report.moved[0][1])
    undone = indexed.undo_trash()
    assert undone.refused == [(str(photos / "a copy.jpg"), "no longer in the Trash (emptied?)")]


def test_restore_recreates_a_removed_folder(indexed, photos, xdg):
    group = exact_group(indexed)
    album = [str(photos / "album" / "a.jpg"), str(photos / "album" / "a (2).jpg")]
    indexed.trash_duplicates(indexed.plan_trash([group], set(album)))
    os.rmdir(photos / "album")
    assert sorted(indexed.undo_trash().restored) == sorted(album)
    assert all(os.path.exists(p) for p in album)


# -- trash folders on other drives, other platforms ---------------------------------------------------------------


def test_a_file_on_another_drive_uses_that_drives_trash(indexed, photos, xdg, tmp_path, monkeypatch):
    drive = tmp_path / "drive"
    drive.mkdir()
    shutil.copy2(photos / "a.jpg", drive / "a.jpg")
    indexed.add_folder(drive)  # only library photos ever move
    monkeypatch.setattr(freedesktop_trash, "_device_of_nearest", lambda path: -1)  # home trash: elsewhere
    monkeypatch.setattr(freedesktop_trash, "_mount_point", lambda directory: str(drive))
    group = exact_group(indexed)
    st = os.stat(drive / "a.jpg")
    item = journal.TrashItem(str(drive / "a.jpg"), st.st_size, st.st_mtime_ns, group.kept.content_hash, "g",
                           group.members)
    report = journal.move_to_trash(indexed.store, TrashPlan([item]))
    assert not report.skipped, report.skipped
    user_trash = drive / f".Trash-{os.getuid()}"
    assert report.moved == [(str(drive / "a.jpg"), str(user_trash / "files" / "a.jpg"))]
    assert stat.S_IMODE(os.stat(user_trash).st_mode) == 0o700
    info = (user_trash / "info" / "a.jpg.trashinfo").read_text()
    assert "Path=a.jpg\n" in info  # relative to the drive's top folder
    assert not (xdg / "files").exists() or os.listdir(xdg / "files") == []
    assert journal.undo(indexed.store).restored == [str(drive / "a.jpg")]

    # An administrator-made sticky .Trash is used in preference.
    admin = drive / ".Trash"
    admin.mkdir()
    os.chmod(admin, 0o1777)
    assert freedesktop_trash.trash_dir_for(str(drive / "a.jpg")).root == admin / str(os.getuid())


def test_other_platforms_say_plainly_that_nothing_moves(indexed, monkeypatch):
    monkeypatch.setattr(freedesktop_trash.sys, "platform", "darwin")
    support = freedesktop_trash.platform_support()
    assert not support.can_trash and not support.can_restore and "not supported" in support.message
    with pytest.raises(TrashError, match="not supported"):
        indexed.trash_duplicates(TrashPlan())
    with pytest.raises(TrashError, match="not supported"):
        indexed.undo_trash()


# -- the command line ------------------------------------------------------------------------------------------------


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_trash_extras_asks_first_then_undo(library_dir, tiny_model, photos, xdg, capsys, monkeypatch):
    code, _, err = run(capsys, "index", str(photos), "--model", TINY_MODEL)
    assert code == 0, err
    before = sha(photos / "a copy.jpg")
    # Not a terminal and no --yes: nothing moves.
    code, out, err = run(capsys, "duplicates", "--trash-extras", "--fast", "--threshold", "0.99")
    assert code == 1 and "--yes" in err and "Move 3 files" in err
    assert (photos / "a copy.jpg").exists()
    # A terminal that answers no.
    monkeypatch.setattr("sys.stdin", _Answer("n\n"))
    code, out, err = run(capsys, "duplicates", "--trash-extras", "--fast", "--threshold", "0.99")
    assert code == 0 and "Nothing was moved" in err and (photos / "a copy.jpg").exists()
    monkeypatch.setattr("sys.stdin", _Answer("y\n"))
    code, out, err = run(capsys, "duplicates", "--trash-extras", "--fast", "--threshold", "0.99")
    assert code == 0 and "Moved 3 files" in err and not (photos / "a copy.jpg").exists()
    code, out, err = run(capsys, "undo", "--list")
    assert "3 in the Trash" in out
    code, out, err = run(capsys, "undo")
    assert code == 0 and "Restored 3 files" in out
    assert sha(photos / "a copy.jpg") == before
    code, out, err = run(capsys, "duplicates", "--trash-extras", "--yes", "--fast", "--threshold", "0.99")
    assert code == 0 and "Moved 3 files" in err


class _Answer:
    def __init__(self, text):
        self.text = text

    def isatty(self):
        return True

    def readline(self):
        return self.text


# -- photos the user picks one by one (the grid's Move to Trash) --------------------------------


def test_a_chosen_photo_moves_without_a_copy_and_undo_restores_it(indexed, photos, xdg):
    other = photos / "other.jpg"
    before = sha(other)
    report = indexed.trash_files([str(other)])
    assert [original for original, _ in report.moved] == [str(other)]
    assert not other.exists() and (xdg / "files" / "other.jpg").exists()
    assert indexed.store.photo_by_path(str(other)) is None
    undone = indexed.undo_trash(report.batch)
    assert undone.restored == [str(other)] and sha(other) == before


def test_chosen_photos_keep_the_other_rules(indexed, photos, tmp_path):
    import os

    changed = photos / "a copy.jpg"
    os.utime(changed, ns=(1, 1))  # modified since it was indexed
    link = photos / "link.jpg"
    link.symlink_to(photos / "a.jpg")
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(b"x")
    indexed.add_reference_folder(photos / "album")
    report = indexed.trash_files([str(changed), str(link), str(outside), str(photos / "album" / "a.jpg")])
    assert report.moved == []
    reasons = dict(report.skipped)
    assert "changed" in reasons[str(changed)]
    assert "not in the library" in reasons[str(link)] or "link" in reasons[str(link)]
    assert "not in the library" in reasons[str(outside)]
    assert "reference" in reasons[str(photos / "album" / "a.jpg")]
    assert changed.exists() and link.is_symlink() and outside.exists()


# -- undo checks what it restores, and every path the journal gives back ------------------------------


def _empty_trash(xdg):
    for sub in ("files", "info"):
        for name in os.listdir(xdg / sub):
            os.remove(xdg / sub / name)


@pytest.mark.parametrize("same_size", [False, True])
def test_undo_never_restores_an_unrelated_file_of_the_same_name(indexed, photos, xdg, same_size):
    victim = photos / "a copy.jpg"
    size = victim.stat().st_size
    report = indexed.trash_files([str(victim)])
    _empty_trash(xdg)
    # The file manager trashes an unrelated file that happens to have the same name.
    stranger = b"x" * size if same_size else b"someone else's file"
    (xdg / "files" / "a copy.jpg").write_bytes(stranger)
    (xdg / "info" / "a copy.jpg.trashinfo").write_text("[Trash Info]\nPath=/elsewhere/a%20copy.jpg\n")
    undone = indexed.undo_trash(report.batch)
    assert undone.restored == [] and not victim.exists()
    assert undone.refused[0][0] == str(victim) and "different file" in undone.refused[0][1]
    assert (xdg / "files" / "a copy.jpg").read_bytes() == stranger
    assert (xdg / "info" / "a copy.jpg.trashinfo").exists()


def _set_row(library, batch, **columns):
    sets = ", ".join(f"{name} = ?" for name in columns)
    values = [os.fsencode(str(v)) if v is not None else None for v in columns.values()]
    with library.store.transaction():
        library.store.connection.execute(f"UPDATE trash_journal SET {sets} WHERE batch = ?", (*values, batch))


def test_undo_touches_nothing_a_hand_edited_journal_row_names(indexed, photos, xdg, tmp_path):
    report = indexed.trash_files([str(photos / "other.jpg")])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_bytes(b"not a photo")
    (elsewhere / "keep.trashinfo").write_bytes(b"mine")
    _set_row(indexed, report.batch, trashed_path=elsewhere / "secret.txt",
             info_path=elsewhere / "keep.trashinfo")
    undone = indexed.undo_trash(report.batch)
    assert undone.restored == [] and "outside any Trash" in undone.refused[0][1]
    assert (elsewhere / "secret.txt").read_bytes() == b"not a photo"
    assert (elsewhere / "keep.trashinfo").read_bytes() == b"mine"
    assert not (photos / "other.jpg").exists()


def test_undo_never_restores_outside_the_library(indexed, photos, xdg, tmp_path):
    report = indexed.trash_files([str(photos / "other.jpg")])
    for original in (f"{photos}/../escaped.jpg", tmp_path / "outside" / "other.jpg"):
        _set_row(indexed, report.batch, original_path=original)
        undone = indexed.undo_trash(report.batch)
        assert undone.restored == [] and "not restored" in undone.refused[0][1]
    assert not (tmp_path / "escaped.jpg").exists() and not (tmp_path / "outside").exists()
    assert (xdg / "files" / "other.jpg").exists()


def test_reconcile_never_deletes_an_info_path_outside_the_trash(indexed, photos, xdg, tmp_path):
    victim = photos / "other.jpg"
    st = victim.stat()
    precious = tmp_path / "precious.jpg"
    precious.write_bytes(b"precious")
    with indexed.store.transaction():
        indexed.store.connection.execute(
            "INSERT INTO trash_journal(batch, original_path, trashed_path, info_path, size, mtime_ns, "
            "state, at) VALUES ('b', ?, ?, ?, ?, ?, 'planned', 0)",
            (os.fsencode(str(victim)), os.fsencode(str(xdg / "files" / "other.jpg")),
             os.fsencode(str(precious)), st.st_size, st.st_mtime_ns))
    indexed.reconcile_trash()
    assert precious.read_bytes() == b"precious" and victim.exists()
    assert {e.state for e in journal.journal(indexed.store, "b")} == {"failed"}


def test_only_photos_inside_the_library_folders_are_trashed(indexed, photos, tmp_path):
    outside = tmp_path / "outside.jpg"
    shutil.copy2(photos / "a.jpg", outside)
    st = outside.stat()
    group = exact_group(indexed)
    item = journal.TrashItem(str(outside), st.st_size, st.st_mtime_ns, group.kept.content_hash, group.key,
                           group.members)
    sneaky = journal.TrashItem(f"{photos}/../outside.jpg", st.st_size, st.st_mtime_ns,
                             group.kept.content_hash, group.key, group.members)
    report = journal.move_to_trash(indexed.store, TrashPlan([item, sneaky]))
    assert report.moved == [] and all("not in the library" in why for _, why in report.skipped)
    assert outside.exists()


def test_a_kill_during_undo_leaves_no_orphan_trashinfo_nor_an_unindexed_photo(indexed, photos, xdg, monkeypatch):
    other = photos / "other.jpg"
    report = indexed.trash_files([str(other)])

    def crash(*args):
        raise Crash()

    monkeypatch.setattr(journal, "_reindex", crash)  # dies right after the file went back
    with pytest.raises(Crash):
        indexed.undo_trash(report.batch)
    monkeypatch.setattr(journal, "_reindex", _real_reindex)
    assert other.exists() and (xdg / "info" / "other.jpg.trashinfo").exists()
    undone = indexed.undo_trash(report.batch)  # the next undo finishes the job
    assert undone.restored == [str(other)]
    assert not (xdg / "info" / "other.jpg.trashinfo").exists()
    assert indexed.store.photo_by_path(str(other)) is not None


_real_reindex = journal._reindex
