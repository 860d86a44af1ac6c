"""Indexing end to end with the tiny test model: incremental rescans, bad files, cancel, crashes."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import textwrap

import numpy as np
import pytest

from conftest import draw_photo
from simdesk.core import indexer


def test_first_index_embeds_every_photo(library, photo_folder):
    library.add_folder(photo_folder)
    report = library.index()
    assert report.found == 7
    assert report.embedded == 7
    assert not report.failed and not report.cancelled
    store = library.store
    assert store.photo_count() == 7
    record = store.photo_by_path(str(photo_folder / "photo_0.jpg"))
    assert (record.width, record.height) == (96, 72)
    assert store.thumbnail(record.content_hash)[:2] == b"\xff\xd8"  # a JPEG


def test_progress_reports_reach_the_total(library, photo_folder):
    library.add_folder(photo_folder)
    seen = []
    library.index(progress=seen.append)
    indexing = [p for p in seen if p.phase != "scanning"]
    assert indexing[-1].phase == "done"
    assert indexing[-1].done == indexing[-1].total == 7
    assert [p.done for p in indexing] == sorted(p.done for p in indexing)


def test_rescan_decodes_nothing_when_nothing_changed(library, photo_folder, monkeypatch):
    library.add_folder(photo_folder)
    library.index()

    def must_not_decode(*args, **kwargs):
        raise AssertionError("an unchanged photo was decoded again")

    monkeypatch.setattr(indexer, "decode_image", must_not_decode)
    report = library.index()
    assert report.unchanged == 7 and report.embedded == 0 and report.removed == 0


def test_moved_file_keeps_its_embedding(library, photo_folder, monkeypatch):
    library.add_folder(photo_folder)
    library.index()
    old = photo_folder / "photo_1.jpg"
    space = library.space()
    before = library.store.embedding_for_hash(library.store.photo_by_path(str(old)).content_hash, space)
    new = photo_folder / "sub" / "renamed photo.jpg"
    os.rename(old, new)
    monkeypatch.setattr(indexer, "decode_image", lambda *a, **k: pytest.fail("decoded a moved file"))
    report = library.index()
    assert (report.reused, report.removed, report.embedded) == (1, 1, 0)
    assert library.store.photo_by_path(str(old)) is None
    moved = library.store.photo_by_path(str(new))
    assert (moved.width, moved.height) == (96, 72)
    assert np.array_equal(library.store.embedding_for_hash(moved.content_hash, space), before)


def test_deleted_and_changed_files(library, photo_folder):
    library.add_folder(photo_folder)
    library.index()
    (photo_folder / "photo_2.jpg").unlink()
    draw_photo(photo_folder / "photo_3.jpg", seed=333, size=(50, 40))
    report = library.index()
    assert report.removed == 1
    assert report.embedded == 1
    assert library.store.photo_by_path(str(photo_folder / "photo_3.jpg")).width == 50
    assert library.store.photo_count() == 6


def make_bad_files(folder):
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is not a photo\n")
    good = draw_photo(folder / "source.jpg", seed=9, size=(300, 200))
    data = good.read_bytes()
    good.unlink()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])


def test_bad_files_are_recorded_and_the_rest_indexed(library, photo_folder, monkeypatch):
    make_bad_files(photo_folder)
    library.add_folder(photo_folder)
    report = library.index()
    assert report.embedded == 7
    failed = {os.path.basename(s.path): s.reason for s in report.failed}
    assert set(failed) == {"empty.jpg", "notes.jpg", "truncated.jpg"}
    assert all(reason for reason in failed.values())
    assert {os.path.basename(e.path) for e in library.store.errors()} == set(failed)

    # Known failures are not decoded again until they change or the user asks.
    calls = []
    real = indexer.decode_image
    monkeypatch.setattr(indexer, "decode_image", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = library.index()
    assert second.known_failures == 3 and not second.failed and calls == []
    third = library.index(retry_failed=True)
    assert len(third.failed) == 3 and len(calls) == 3

    # A fixed file is indexed and leaves the problem list.
    draw_photo(photo_folder / "notes.jpg", seed=5, fmt="JPEG")
    fourth = library.index()
    assert fourth.embedded == 1
    assert "notes.jpg" not in {os.path.basename(e.path) for e in library.store.errors()}


def test_odd_file_names(library, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    names = ["space and 'quote'.jpg", "émoji 📷.png", "new\nline.jpg", "UPPER.JPG"]
    for i, name in enumerate(names):
        draw_photo(folder / name, seed=i, fmt="PNG" if name.endswith("png") else "JPEG")
    raw = os.path.join(os.fsencode(folder), b"caf\xe9.jpg")
    try:
        with open(raw, "wb") as fh:
            fh.write((folder / "UPPER.JPG").read_bytes())
    except OSError:
        pytest.skip("this file system refuses non-UTF-8 names")
    library.add_folder(folder)
    report = library.index()
    assert report.embedded + report.reused == 5 and not report.failed
    assert library.store.photo_by_path(os.fsdecode(raw)) is not None


def test_vanished_and_changing_files_are_retried_later(library, photo_folder, monkeypatch):
    library.add_folder(photo_folder)
    real_scan = indexer.scan_folders

    def scan_then_delete(*args, **kwargs):
        result = real_scan(*args, **kwargs)
        (photo_folder / "photo_4.jpg").unlink()
        return result

    real_fstat = os.fstat
    calls = {"n": 0}

    def fstat_that_sees_a_write(fd):
        st = real_fstat(fd)
        path = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else ""
        if path.endswith("photo_5.jpg"):
            calls["n"] += 1
            if calls["n"] == 2:  # the stat after reading: the file grew meanwhile
                return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid,
                                       st.st_gid, st.st_size + 10, st.st_atime, st.st_mtime, st.st_ctime))
        return st

    if not os.path.exists("/proc/self/fd"):
        pytest.skip("needs /proc to tell which file a descriptor is")
    monkeypatch.setattr(indexer, "scan_folders", scan_then_delete)
    monkeypatch.setattr(indexer.os, "fstat", fstat_that_sees_a_write)
    report = library.index()
    later = {os.path.basename(s.path): s.reason for s in report.retry_later}
    assert set(later) == {"photo_4.jpg", "photo_5.jpg"}
    assert "vanished" in later["photo_4.jpg"] and "changed" in later["photo_5.jpg"]
    assert report.embedded == 5
    assert library.store.errors() == []  # nothing recorded as broken
    monkeypatch.undo()
    assert library.index().embedded == 1  # photo_5 is picked up on the next scan


def test_offline_folder_keeps_its_photos(library, photo_folder, tmp_path):
    library.add_folder(photo_folder)
    library.index()
    parked = tmp_path / "unplugged"
    os.rename(photo_folder, parked)
    report = library.index()
    assert report.offline_folders == [str(photo_folder)]
    assert report.removed == 0
    assert library.store.photo_count() == 7


def test_unreadable_subfolder_keeps_its_photos(library, photo_folder, monkeypatch):
    from simdesk.core.scan import ScanProblem

    library.add_folder(photo_folder)
    library.index()
    real_scan = indexer.scan_folders
    sub = str(photo_folder / "sub")

    def scan_with_locked_subfolder(*args, **kwargs):
        result = real_scan(*args, **kwargs)
        result.files = [f for f in result.files if not f.path.startswith(sub + os.sep)]
        result.problems.append(ScanProblem(sub, "permission denied: cannot list folder"))
        return result

    monkeypatch.setattr(indexer, "scan_folders", scan_with_locked_subfolder)
    report = library.index()
    assert report.removed == 0
    assert library.store.photo_by_path(str(photo_folder / "sub" / "nested.png")) is not None


def test_cancel_stops_promptly_and_a_rerun_resumes(library, tmp_path, monkeypatch):
    folder = tmp_path / "many"
    for i in range(60):
        draw_photo(folder / f"p{i:03d}.jpg", seed=i)
    library.add_folder(folder)
    cancel = threading.Event()
    real_decode = indexer.decode_image
    decoded = []

    def decode_then_cancel(*args, **kwargs):
        decoded.append(1)
        if len(decoded) == 10:
            cancel.set()  # as if the user pressed Cancel while photo 10 was decoding
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(indexer, "decode_image", decode_then_cancel)
    first = library.index(cancel=cancel, batch_size=4, workers=2)
    monkeypatch.undo()
    assert first.cancelled
    assert 10 <= first.embedded < 60
    assert len(decoded) <= 10 + 2  # at most the photos already being decoded finish
    second = library.index()
    assert not second.cancelled
    assert second.unchanged == first.embedded
    assert first.embedded + second.embedded == 60


def test_a_crash_mid_run_loses_at_most_the_batch(library, photo_folder, monkeypatch):
    library.add_folder(photo_folder)
    from simdesk.core.embedder import Embedder

    real_run = Embedder.feature_maps  # what every forward pass of the index goes through
    calls = {"n": 0}

    def run_then_crash(self, pixels, outputs=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return real_run(self, pixels, outputs)

    monkeypatch.setattr(Embedder, "feature_maps", run_then_crash)
    with pytest.raises(RuntimeError):
        library.index(batch_size=3, workers=1)
    assert library.store.photo_count() == 3  # the first batch landed, the second did not
    monkeypatch.undo()
    report = library.index()
    assert report.unchanged == 3 and report.embedded == 4


def test_kill_during_indexing_leaves_a_sound_database(library, library_dir, models_dir, tmp_path):
    folder = tmp_path / "many"
    for i in range(80):
        draw_photo(folder / f"p{i:03d}.jpg", seed=i)
    library.add_folder(folder)
    library.close()
    script = textwrap.dedent(
        """
        import os, signal, sys
        from simdesk.core import indexer
        from simdesk.core.library import Library
        lib = Library(sys.argv[1])
        real_put = lib.store.put_embedding
        written = []
        def put_then_die(*args):
            written.append(1)
            if len(written) == 30:  # in the middle of the fourth batch's transaction
                os.kill(os.getpid(), signal.SIGKILL)
            return real_put(*args)
        lib.store.put_embedding = put_then_die
        lib.index(batch_size=8)
        """
    )
    env = {**os.environ, "SIMDESK_MODELS_DIR": str(models_dir)}
    proc = subprocess.run([sys.executable, "-c", script, str(library_dir)], env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    db = sqlite3.connect(library_dir / "library.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    from simdesk.core.library import Library

    again = Library(library_dir)
    # The batches written before the kill are there; the one being written was rolled back.
    assert 8 <= again.store.photo_count() < 30
    report = again.index()
    assert report.unchanged + report.embedded == 80
    assert again.store.photo_count() == 80
    again.close()


def test_switching_model_reindexes_and_never_mixes(library, photo_folder, models_dir):
    from conftest import install_tiny_model

    library.add_folder(photo_folder)
    library.index()
    install_tiny_model(models_dir, name="tiny2", seed=1)
    library.set_model("tiny2")
    report = library.index()
    assert report.embedded == 7  # new model: every photo embedded again
    assert len(library.search_index()) == 7
    library.set_model("tiny", "avg")
    assert library.index().embedded == 7  # a new pooling is a new space too


def test_unreadable_file_is_recorded_with_its_reason(library, photo_folder, monkeypatch):
    locked = str(photo_folder / "photo_1.jpg")
    real_open = open

    def open_refusing_one(path, *args, **kwargs):
        if str(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    real_os_open = os.open

    def os_open_refusing_one(path, *args, **kwargs):  # read_file_stable opens with os.open
        if str(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", open_refusing_one)
    monkeypatch.setattr(os, "open", os_open_refusing_one)
    library.add_folder(photo_folder)
    report = library.index()
    assert [(s.path, s.reason) for s in report.failed] == [(locked, "permission denied: cannot read the file")]
    assert report.embedded == 6


def test_huge_file_is_not_read(library, photo_folder, monkeypatch):
    big = photo_folder / "movie.jpg"
    with open(big, "wb") as fh:  # sparse: large on paper, nothing on disk
        fh.truncate(2 * 1024 * 1024)
    monkeypatch.setattr(indexer, "MAX_FILE_BYTES", 1024 * 1024)
    real_read = indexer.read_file_stable

    def read_guarded(path, **kwargs):
        assert not path.endswith("movie.jpg"), "the oversized file was read"
        return real_read(path, **kwargs)

    monkeypatch.setattr(indexer, "read_file_stable", read_guarded)
    library.add_folder(photo_folder)
    report = library.index(workers=1)
    failed = {os.path.basename(s.path): s.reason for s in report.failed}
    assert "too large" in failed.pop("movie.jpg")
    assert failed == {} and report.embedded == 7
