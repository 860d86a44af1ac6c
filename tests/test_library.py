"""The library facade: settings, similar-photo queries, status, a damaged cache, model problems."""

import json
import os

import pytest
from PIL import Image

from conftest import draw_photo
from simdesk.core.library import Library, LibraryError
from simdesk.core.models.catalog import ModelError


def indexed(library, folder):
    library.add_folder(folder)
    report = library.index()
    assert not report.failed
    return library


def test_similar_finds_an_edited_copy_first(library, photo_folder, tmp_path):
    indexed(library, photo_folder)
    # A smaller, recompressed copy of photo 3, outside the library.
    copy = tmp_path / "outside" / "copy.jpg"
    copy.parent.mkdir()
    Image.open(photo_folder / "photo_3.jpg").resize((60, 45)).save(copy, quality=70)
    result = library.similar(copy, k=3)
    assert not result.in_library
    assert os.path.basename(result.matches[0].path) == "photo_3.jpg"
    assert result.matches[0].similarity > result.matches[1].similarity
    assert len(result.matches) == 3


def test_similar_to_a_library_photo_excludes_itself(library, photo_folder):
    indexed(library, photo_folder)
    query = str(photo_folder / "photo_0.jpg")
    result = library.similar(query, k=50)
    assert result.in_library
    assert query not in [m.path for m in result.matches]
    assert len(result.matches) == 6
    sims = [m.similarity for m in result.matches]
    assert sims == sorted(sims, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in sims)


def test_byte_identical_copy_scores_one(library, photo_folder):
    (photo_folder / "dup.jpg").write_bytes((photo_folder / "photo_2.jpg").read_bytes())
    indexed(library, photo_folder)
    result = library.similar(photo_folder / "photo_2.jpg", k=1)
    assert result.matches[0].path == str(photo_folder / "dup.jpg")
    assert result.matches[0].similarity == pytest.approx(1.0, abs=1e-3)


def test_json_shape(library, photo_folder):
    indexed(library, photo_folder)
    data = library.similar(photo_folder / "photo_1.jpg", k=2).to_json()
    assert set(data) == {"query", "model", "results"}
    assert data["model"] == "tiny"
    assert [set(r) for r in data["results"]] == [{"path", "similarity"}] * 2


def test_query_that_is_not_an_image_says_why(library, photo_folder, tmp_path):
    indexed(library, photo_folder)
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    with pytest.raises(LibraryError, match="cannot use"):
        library.similar(bad)
    with pytest.raises(LibraryError, match="does not exist"):
        library.similar(tmp_path / "missing.jpg")


def test_query_before_indexing_says_what_to_do(library, tmp_path):
    photo = draw_photo(tmp_path / "q.jpg", seed=1)
    with pytest.raises(LibraryError, match="simdesk index"):
        library.similar(photo)


def test_settings_persist(library_dir, tiny_model, photo_folder):
    lib = Library(library_dir)
    lib.set_model("tiny", "max")
    lib.add_folder(photo_folder)
    lib.close()
    again = Library(library_dir)
    assert (again.model_name, again.pooling, again.folders) == ("tiny", "max", [str(photo_folder)])
    again.close()


def test_removing_a_folder_forgets_its_photos_but_not_the_files(library, photo_folder):
    indexed(library, photo_folder)
    assert library.remove_folder(photo_folder)
    assert library.store.photo_count() == 0
    assert (photo_folder / "photo_0.jpg").exists()


def test_damaged_database_is_moved_aside_and_rebuilt(library_dir, tiny_model, photo_folder):
    lib = Library(library_dir)
    lib.set_model("tiny")
    lib.add_folder(photo_folder)
    lib.index()
    lib.close()
    db = library_dir / "library.db"
    for suffix in ("-wal", "-shm"):
        (library_dir / f"library.db{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"\x00garbage" * 1000)
    again = Library(library_dir)
    assert again.store.photo_count() == 0
    assert any("moved to" in n for n in again.notices)
    assert list(library_dir.glob("library.db.damaged-*"))  # kept, not deleted
    assert again.folders == [str(photo_folder)]  # the user's folders survive in settings.json
    assert again.index().embedded == 7
    again.close()


def test_unreadable_settings_fall_back_to_defaults(library_dir):
    library_dir.mkdir(parents=True)
    (library_dir / "settings.json").write_text("{not json")
    lib = Library(library_dir)
    assert lib.folders == []
    assert lib.notices and list(library_dir.glob("settings.json.damaged-*"))
    lib.close()


def test_missing_model_is_explained(library_dir, models_dir):
    lib = Library(library_dir)
    with pytest.raises(ModelError, match="simdesk models install"):
        lib.embedder()
    lib.close()


def test_damaged_model_file_is_detected(library, photo_folder, tiny_model):
    data = bytearray(tiny_model.onnx_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tiny_model.onnx_path.write_bytes(bytes(data))
    library.add_folder(photo_folder)
    with pytest.raises(ModelError, match="damaged"):
        library.index()


def test_missing_model_file_is_detected(library, photo_folder, tiny_model):
    tiny_model.onnx_path.unlink()
    with pytest.raises(ModelError, match="missing"):
        library.embedder()


def test_status_counts_and_reasons(library, photo_folder):
    (photo_folder / "empty.jpg").write_bytes(b"")
    indexed_report = None
    library.add_folder(photo_folder)
    indexed_report = library.index()
    assert len(indexed_report.failed) == 1
    status = library.status()
    assert status.photos == 7 and status.embedded == 7
    assert sum(status.skipped_by_reason.values()) == 1
    assert status.folders == [str(photo_folder)]
    json.dumps(status.__dict__)  # serialisable for `simdesk status --json`


# -- a query file gets the indexer's checks (14.5) -------------------------------------------


def _query_kinds(tmp_path):
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.jpg"
    zero.symlink_to("/dev/zero")
    sparse = tmp_path / "sparse.jpg"
    with open(sparse, "wb") as fh:
        fh.truncate(2 << 30)  # 2 GiB, no blocks on disk
    return {"not a regular file": [fifo, zero], "too large": [sparse]}


def test_similar_to_a_fifo_a_device_or_a_huge_file_says_why_at_once(library, photo_folder, tmp_path):
    import threading

    indexed(library, photo_folder)
    for reason, paths in _query_kinds(tmp_path).items():
        for path in paths:
            outcome = []
            worker = threading.Thread(target=lambda: outcome.append(_try(library, path)), daemon=True)
            worker.start()
            worker.join(10)
            if worker.is_alive():  # unblock the FIFO, then fail
                with open(path, "wb"):
                    pass
                pytest.fail(f"similar({path.name}) hung")
            assert reason in outcome[0], outcome


def _try(library, path):
    try:
        library.similar(path)
    except LibraryError as exc:
        return str(exc)
    except MemoryError:
        return "MemoryError"
    return "no error"


# -- the normalisation is part of the embedding space (14.10) ---------------------------------


def test_another_mean_and_std_is_another_embedding_space(library, photo_folder, tiny_model):
    from simdesk.core.models.catalog import MANIFEST_NAME

    indexed(library, photo_folder)
    first = library.space()
    manifest = library.manifest()
    manifest.mean, manifest.std = (0.0, 0.0, 0.0), (255.0, 255.0, 255.0)
    (manifest.directory / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    library._embedders.clear()
    assert library.space().id != first.id
    report = library.index()
    assert report.embedded == 7  # embedded again in the new space, not "unchanged"
    query = photo_folder / "photo_3.jpg"
    assert library.similar(query).matches[0].path != str(query)  # itself is excluded...
    assert library.similar(query).in_library  # ...because it is found in the new space


def test_a_space_stored_before_the_normalisation_was_recorded_is_adopted(library, photo_folder):
    indexed(library, photo_folder)
    space = library.space()
    manifest = library.manifest()
    with library.store.transaction():  # as an older simdesk stored it: the bare resize mode
        library.store.connection.execute("UPDATE spaces SET preprocess = ? WHERE id = ?",
                                         (manifest.resize_mode, space.id))
    assert library.space().id == space.id
    assert library.index().embedded == 0


def test_a_full_disk_during_index_says_what_happened_and_resumes(library, photo_folder, monkeypatch):
    import sqlite3

    from simdesk.core.store import Store

    library.add_folder(photo_folder)
    real = Store.upsert_photo
    calls = []

    def full_after_three(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "upsert_photo", full_after_three)
    with pytest.raises(LibraryError, match="disk is full.*run `simdesk index` again"):
        library.index(batch_size=1, workers=1)
    monkeypatch.setattr(Store, "upsert_photo", real)
    report = library.index()
    assert library.store.photo_count() == 7 and not report.failed


def test_scan_problems_are_listed_with_the_other_problems(library, photo_folder, tmp_path):
    (photo_folder / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    indexed(library, photo_folder)
    listed = {os.path.basename(e.path): e.reason for e in library.store.errors()}
    assert "dangling.jpg" in listed
    (photo_folder / "dangling.jpg").unlink()
    library.index()
    assert "dangling.jpg" not in {os.path.basename(e.path) for e in library.store.errors()}
