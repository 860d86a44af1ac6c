"""The cache under faults: busy, full and I/O errors leave it alone; real damage is detected, the
file moved aside and rebuilt, and what cannot be recomputed (the trash journal) salvaged."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from simdesk.core import store as store_module
from simdesk.core.library import Library
from simdesk.core.store import DatabaseUnavailableError, StoreError


@pytest.fixture
def trashed(library_dir, tiny_model, photo_folder, xdg):
    """A library with one photo in the Trash (a journal row undo needs), closed."""
    lib = Library(library_dir)
    lib.set_model("tiny")
    lib.add_folder(photo_folder)
    lib.index()
    victim = str(photo_folder / "photo_0.jpg")
    with open(victim, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    report = lib.trash_files([victim])
    assert report.moved
    lib.close()
    return victim, digest


def _sha(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _files_state(library_dir):
    return sorted(p.name for p in library_dir.iterdir())


def test_a_locked_database_is_left_alone(library_dir, trashed, monkeypatch):
    victim, digest = trashed
    db_path = library_dir / "library.db"
    with sqlite3.connect(db_path, isolation_level=None) as db:
        db.execute("PRAGMA journal_mode = DELETE")  # a reader must wait for an exclusive writer
    before = _sha(db_path)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 100)
    lib = Library(library_dir)
    try:
        with pytest.raises(DatabaseUnavailableError, match="locked"):
            lib.store
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not list(library_dir.glob("library.db.damaged-*")) and _sha(db_path) == before
    assert lib.undo_trash().restored == [victim] and _sha(victim) == digest
    lib.close()


@pytest.mark.parametrize("error", ["database or disk is full", "disk I/O error",
                                   "attempt to write a readonly database"])
def test_full_read_only_and_io_errors_leave_the_database_alone(library_dir, trashed, monkeypatch, error):
    victim, digest = trashed
    real = store_module.Store._check_readable

    def failing(db):
        raise sqlite3.OperationalError(error)

    monkeypatch.setattr(store_module.Store, "_check_readable", staticmethod(failing))
    lib = Library(library_dir)
    with pytest.raises(DatabaseUnavailableError, match="left as it is") as info:
        lib.store
    assert isinstance(info.value, StoreError)
    assert not list(library_dir.glob("library.db.damaged-*"))
    monkeypatch.setattr(store_module.Store, "_check_readable", staticmethod(real))
    # Once the disk has room again, undo still knows the trashed photo.
    again = Library(library_dir)
    assert again.undo_trash().restored == [victim] and _sha(victim) == digest
    again.close()


def _overwrite_root_pages(db_path, tables):
    with sqlite3.connect(db_path) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        roots = [db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (t,)).fetchone()[0]
                 for t in tables]
    db.close()
    rng = __import__("random").Random(7)
    with open(db_path, "r+b") as fh:
        for root in roots:
            fh.seek((root - 1) * page_size)
            fh.write(bytes(rng.randrange(256) for _ in range(page_size)))


def test_damage_inside_the_file_is_detected_and_the_journal_salvaged(library_dir, trashed, photo_folder):
    victim, digest = trashed
    db_path = library_dir / "library.db"
    assert not (library_dir / "library.db-wal").exists() or (library_dir / "library.db-wal").stat().st_size == 0
    _overwrite_root_pages(db_path, ["photos", "embeddings"])
    with sqlite3.connect(db_path) as db:  # really damaged: SQLite says so
        with pytest.raises(sqlite3.DatabaseError, match="malformed"):
            db.execute("SELECT * FROM photos").fetchall()
    db.close()
    lib = Library(library_dir)
    assert lib.store.photo_count() == 0
    assert any("damaged" in n and "moved to" in n and "1 trash journal entry" in n for n in lib.notices)
    assert list(library_dir.glob("library.db.damaged-*"))
    assert lib.folders == [str(photo_folder)]
    assert lib.undo_trash().restored == [victim] and _sha(victim) == digest
    assert lib.index().embedded == 7  # rebuilt (the restored photo went back in at undo)
    lib.close()


# -- settings.json damaged: a last good copy, then the cache; never a photo row dropped ---------------


def _library_with_settings(library_dir, photo_folder, tmp_path):
    lib = Library(library_dir)
    lib.set_model("tiny")
    lib.add_folder(photo_folder)
    reference = tmp_path / "reference"
    reference.mkdir()
    lib.add_reference_folder(reference)
    lib.index()
    photos = lib.store.photo_count()
    lib.close()
    return photos, str(reference)


@pytest.mark.parametrize("damage", ["broken", "both broken", "deleted", "wrong shape"])
def test_a_damaged_settings_file_never_empties_the_library(library_dir, tiny_model, photo_folder, tmp_path,
                                                           damage):
    photos, reference = _library_with_settings(library_dir, photo_folder, tmp_path)
    settings = library_dir / "settings.json"
    if damage == "deleted":
        settings.unlink()
        (library_dir / "settings.json.bak").unlink()
    else:
        settings.write_text('{"folders": 3}' if damage == "wrong shape" else "{broken")
    if damage == "both broken":
        (library_dir / "settings.json.bak").write_text("{also broken")
    lib = Library(library_dir)
    status = lib.status()
    assert status.folders == [str(photo_folder)] and status.photos == photos
    assert lib.reference_folders == [reference] and lib.model_name == "tiny"
    assert lib.notices
    lib.close()
    again = Library(library_dir)  # and the settings were written back whole
    assert again.folders == [str(photo_folder)] and again.store.photo_count() == photos
    again.close()


def test_settings_rebuilt_from_the_folder_list_when_no_copy_is_left(library_dir, tiny_model, photo_folder,
                                                                    tmp_path):
    photos, _ = _library_with_settings(library_dir, photo_folder, tmp_path)
    with sqlite3.connect(library_dir / "library.db") as db:
        db.execute("DELETE FROM meta")
    db.close()
    (library_dir / "settings.json").write_text("{broken")
    (library_dir / "settings.json.bak").unlink()
    lib = Library(library_dir)
    assert lib.folders == [str(photo_folder)] and lib.store.photo_count() == photos
    assert any("folder list" in n for n in lib.notices)
    lib.close()
