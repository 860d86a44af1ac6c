import os
import sqlite3

import numpy as np
import pytest

from simdesk.core.store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    DamagedDatabaseError,
    ForeignDatabaseError,
    NewerSchemaError,
    Store,
)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "library.db") as s:
        yield s


def add_photo(store, path, chash=b"h" * 16, folder=None, size=10, mtime=1):
    store.upsert_photo(path, folder_id=folder, size=size, mtime_ns=mtime, content_hash=chash,
                       width=4, height=3, capture_time=None)


def test_new_database_is_marked_and_in_wal_mode(tmp_path):
    Store(tmp_path / "library.db").close()
    db = sqlite3.connect(tmp_path / "library.db")
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_data(tmp_path):
    with Store(tmp_path / "library.db") as s:
        fid = s.add_folder("/photos")
        add_photo(s, "/photos/a.jpg", folder=fid)
    with Store(tmp_path / "library.db") as s:
        assert s.folders() == {"/photos": fid}
        assert s.photo_by_path("/photos/a.jpg").width == 4


def test_non_utf8_paths_round_trip(store):
    weird = os.fsdecode(b"/photos/caf\xe9 \n\xff.jpg")
    add_photo(store, weird)
    assert weird in store.photo_states()
    assert store.photo_by_path(weird).path == weird


def test_garbage_file_is_reported_damaged(tmp_path):
    path = tmp_path / "library.db"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(DamagedDatabaseError):
        Store(path)


def test_foreign_sqlite_database_is_refused_and_untouched(tmp_path):
    path = tmp_path / "library.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE accounts (name TEXT)")
    db.execute("INSERT INTO accounts VALUES ('keep me')")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(ForeignDatabaseError):
        Store(path)
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "library.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(NewerSchemaError):
        Store(path)


def test_embeddings_are_shared_by_content_hash(store):
    space = store.ensure_space("m", "sha", "gem", 4, "squash")
    add_photo(store, "/a.jpg", chash=b"1" * 16)
    add_photo(store, "/copy-of-a.jpg", chash=b"1" * 16)
    add_photo(store, "/b.jpg", chash=b"2" * 16)
    store.put_embedding(b"1" * 16, space.id, np.array([1, 0, 0, 0], np.float32))
    ids, matrix = store.load_embeddings(space)
    assert len(ids) == 2  # b.jpg has no vector yet
    assert np.allclose(matrix, [[1, 0, 0, 0], [1, 0, 0, 0]])
    assert store.count_embedded(space.id) == 2


def test_spaces_keep_models_apart(store):
    a = store.ensure_space("m1", "sha-1", "gem", 2, "squash")
    b = store.ensure_space("m2", "sha-2", "gem", 2, "squash")
    c = store.ensure_space("m1", "sha-1", "avg", 2, "squash")
    d = store.ensure_space("m1", "sha-1", "gem", 2, "center_crop")
    assert len({a.id, b.id, c.id, d.id}) == 4
    assert store.ensure_space("m1", "sha-1", "gem", 2, "squash") == a
    add_photo(store, "/a.jpg")
    store.put_embedding(b"h" * 16, a.id, np.ones(2, np.float32))
    assert store.count_embedded(a.id) == 1
    assert store.count_embedded(b.id) == 0


def test_rolled_back_transaction_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            add_photo(store, "/a.jpg")
            raise RuntimeError("crash in the middle of a batch")
    assert store.photo_count() == 0


def test_removing_a_folder_forgets_its_photos(store):
    fid = store.add_folder("/photos")
    add_photo(store, "/photos/a.jpg", folder=fid)
    assert store.remove_folder("/photos")
    assert store.photo_count() == 0


def test_error_replaces_photo_and_photo_clears_error(store):
    add_photo(store, "/a.jpg")
    store.record_error("/a.jpg", 5, 6, "truncated")
    assert store.photo_count() == 0
    assert [e.reason for e in store.errors()] == ["truncated"]
    add_photo(store, "/a.jpg")
    assert store.errors() == []


def test_prune_orphans_drops_unreferenced_vectors_and_thumbnails(store):
    space = store.ensure_space("m", "sha", "gem", 2, "squash")
    add_photo(store, "/a.jpg", chash=b"1" * 16)
    for h in (b"1" * 16, b"2" * 16):
        store.put_embedding(h, space.id, np.ones(2, np.float32))
        store.put_thumbnail(h, b"jpeg")
    store.prune_orphans()
    assert store.hashes_with_embedding(space.id) == {b"1" * 16}
    assert store.thumbnail(b"2" * 16) is None


def test_two_connections_can_work_at_once(tmp_path):
    # The GUI reads while an indexing worker writes: WAL plus a busy timeout make that work.
    writer, reader = Store(tmp_path / "library.db"), Store(tmp_path / "library.db")
    with writer.transaction():
        add_photo(writer, "/a.jpg")
        assert reader.photo_count() == 0  # the reader sees the last committed state, unblocked
    assert reader.photo_count() == 1
    writer.close()
    reader.close()


def test_version_1_database_is_migrated_keeping_its_data(tmp_path):
    from simdesk.core import schema

    path = tmp_path / "library.db"
    db = sqlite3.connect(path, isolation_level=None)
    schema._migrate_to_1(db)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO photos(path, size, mtime_ns, content_hash, indexed_at) "
               "VALUES (x'2f612e6a7067', 1, 1, x'00', 0)")
    db.close()
    with Store(path) as s:
        assert s.photo_count() == 1
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"dismissed_pairs", "trash_journal", "layouts"} <= tables
    db.close()


def test_version_2_database_gains_a_colour_table_keeping_thumbnails(tmp_path):
    from simdesk.core import schema

    path = tmp_path / "library.db"
    db = sqlite3.connect(path, isolation_level=None)
    schema._migrate_to_1(db)
    schema._migrate_to_2(db)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO thumbnails(content_hash, jpeg) VALUES (x'01', x'ffd8ffd9')")
    db.close()
    with Store(path) as s:
        assert s.thumbnail(b"\x01") == b"\xff\xd8\xff\xd9"
        assert s.thumbnail_colours([b"\x01"]) == {}  # not computed yet
        with s.transaction():
            s.set_thumbnail_colours({b"\x01": 0x102030})
        assert s.thumbnail_colours([b"\x01", b"\x02"]) == {b"\x01": 0x102030}


def test_photo_ids_are_never_reused(store):
    add_photo(store, "/a.jpg")
    add_photo(store, "/b.jpg")
    last = store.photo_by_path("/b.jpg").id
    store.delete_photos(["/b.jpg"])
    add_photo(store, "/c.jpg")
    assert store.photo_by_path("/c.jpg").id > last


def _embedded_store(store, n, dim=8, seed=0):
    """``n`` photos with float16 vectors (photo 2 a byte copy of photo 1, photo 3 without one)."""
    space = store.ensure_space("m", "sha", "avg", dim, "squash")
    vectors = np.random.default_rng(seed).gamma(1.0, 1.0, (n, dim)).astype(np.float32)
    with store.transaction():
        for i in range(n):
            chash = b"%015d" % (1 if i == 2 else i) + b"h"
            add_photo(store, f"/p/{i}.jpg", chash=chash)
            if i not in (2, 3):
                store.put_embedding(chash, space.id, vectors[i])
    return space


def test_embedding_slices_give_every_row_of_load_embeddings_in_order(store):
    space = _embedded_store(store, 50)
    ids, matrix = store.load_embeddings(space)
    assert len(ids) == 49 and store.count_embedded(space.id) == 49  # the copy counts, 3 has none
    parts = list(store.embedding_slices(space, rows=16))  # 49 = 16 + 16 + 16 + 1
    assert [len(p[0]) for p in parts] == [16, 16, 16, 1]
    assert all(p[1].dtype == np.float16 for p in parts)
    assert np.array_equal(np.concatenate([p[0] for p in parts]), ids)
    assert np.array_equal(np.concatenate([p[1] for p in parts]).astype(np.float32), matrix)


def test_search_index_from_the_store_equals_the_one_from_the_loaded_matrix(store, monkeypatch):
    from simdesk.core.library import load_search_index
    from simdesk.core.search import EmbeddingIndex

    space = _embedded_store(store, 120, dim=16)
    monkeypatch.setattr(Store, "EMBEDDING_SLICE_ROWS", 7)  # 119 rows: the last slice is short
    index = load_search_index(store, space)
    ids, matrix = store.load_embeddings(space)
    whole = EmbeddingIndex(ids, matrix, center=True)
    assert np.array_equal(index.ids, ids) and index.mean_ is not None
    assert np.array_equal(index.unit_vectors(), whole.unit_vectors())
    got, want = index.query(matrix[5], 10), whole.query(matrix[5], 10)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_search_index_of_an_empty_space(store):
    from simdesk.core.library import load_search_index

    space = store.ensure_space("m", "sha", "avg", 8, "squash")
    index = load_search_index(store, space)
    assert len(index) == 0 and index.dim == 8


def test_a_snapshot_keeps_the_count_and_the_rows_together_while_another_connection_writes(store, tmp_path):
    space = _embedded_store(store, 10)
    with store.snapshot():
        count = store.count_embedded(space.id)
        with Store(tmp_path / "library.db", check=False) as writer:
            add_photo(writer, "/p/new.jpg", chash=b"n" * 16)
            writer.put_embedding(b"n" * 16, space.id, np.ones(8, np.float32))
        assert sum(len(ids) for ids, _ in store.embedding_slices(space)) == count
    assert store.count_embedded(space.id) == count + 1  # seen once the snapshot ends


def test_lookups_of_more_photos_than_one_statement_takes(store, monkeypatch):
    # Long lists go to SQLite a batch at a time; a small batch makes the test cross several.
    from simdesk.core import sql_batches

    monkeypatch.setattr(sql_batches, "IN_BATCH", 7)
    hashes = [bytes([i]) * 16 for i in range(30)]
    with store.transaction():
        for i, h in enumerate(hashes):
            add_photo(store, f"/p/{i}.jpg", chash=h)
            store.put_thumbnail(h, b"jpeg%d" % i)
        store.set_thumbnail_colours({h: i for i, h in enumerate(hashes)})
    ids = [r.id for r in store.photos_by_ids(range(1, 100)).values()]
    assert len(ids) == 30
    assert sorted(store.photos_by_ids(ids)) == sorted(ids)
    assert store.thumbnails_for(hashes[3:25]) == {h: b"jpeg%d" % (i + 3) for i, h in enumerate(hashes[3:25])}
    assert store.thumbnail_colours(hashes) == {h: i for i, h in enumerate(hashes)}
    batches = list(sql_batches.in_batches(range(30)))
    assert [len(b) for b, _ in batches] == [7, 7, 7, 7, 2]
    assert all(marks.count("?") == len(b) for b, marks in batches)
