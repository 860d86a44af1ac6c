"""The library cache's schema: the migrations that bring a database from one version to the next.

``MIGRATIONS[n]`` brings a database from version n to n + 1 (``simdesk.core.store`` runs them and
holds ``SCHEMA_VERSION``).
"""

from __future__ import annotations

import sqlite3

from simdesk.core.duplicates import decisions as duplicate_decisions
from simdesk.core.duplicates import facts as duplicate_facts


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, which would break the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _migrate_to_1(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE folders (
            id INTEGER PRIMARY KEY,
            path BLOB NOT NULL UNIQUE,
            added_at REAL NOT NULL
        );
        CREATE TABLE photos (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: layouts and the GUI keep ids
            path BLOB NOT NULL UNIQUE,
            folder_id INTEGER REFERENCES folders(id) ON DELETE CASCADE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            content_hash BLOB NOT NULL,
            width INTEGER,
            height INTEGER,
            capture_time REAL,
            indexed_at REAL NOT NULL
        );
        CREATE INDEX photos_by_hash ON photos(content_hash);
        CREATE INDEX photos_by_folder ON photos(folder_id);
        CREATE TABLE spaces (
            id INTEGER PRIMARY KEY,
            model_name TEXT NOT NULL,
            onnx_sha256 TEXT NOT NULL,
            pooling TEXT NOT NULL,
            dim INTEGER NOT NULL,
            preprocess TEXT NOT NULL,
            UNIQUE (onnx_sha256, pooling, preprocess)
        );
        CREATE TABLE embeddings (
            content_hash BLOB NOT NULL,
            space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
            vector BLOB NOT NULL,
            PRIMARY KEY (content_hash, space_id)
        ) WITHOUT ROWID;
        CREATE TABLE thumbnails (
            content_hash BLOB PRIMARY KEY,
            jpeg BLOB NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE errors (
            path BLOB PRIMARY KEY,
            size INTEGER,
            mtime_ns INTEGER,
            reason TEXT NOT NULL,
            at REAL NOT NULL
        );
        """
    )


def _migrate_to_2(db: sqlite3.Connection) -> None:
    """Tables for the duplicate scan (dismissed pairs, the trash journal) and the cluster map."""
    _run_script(
        db,
        """
        CREATE TABLE dismissed_pairs (
            hash_a BLOB NOT NULL,  -- content hashes, hash_a < hash_b: survives moves and renames
            hash_b BLOB NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (hash_a, hash_b)
        ) WITHOUT ROWID;
        CREATE TABLE trash_journal (
            id INTEGER PRIMARY KEY,
            batch TEXT NOT NULL,          -- one user action ("Move 37 files to Trash") = one batch
            original_path BLOB NOT NULL,
            trashed_path BLOB,            -- where the file went, once known
            info_path BLOB,               -- the freedesktop .trashinfo file, if any
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            content_hash BLOB,
            group_key TEXT,
            state TEXT NOT NULL,          -- planned, trashed, restored, failed
            message TEXT,
            at REAL NOT NULL
        );
        CREATE INDEX trash_journal_by_batch ON trash_journal(batch);
        CREATE TABLE layouts (
            key TEXT PRIMARY KEY,         -- what was laid out: space, scope and parameters
            space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
            created_at REAL NOT NULL,
            photo_ids BLOB NOT NULL,      -- int64 array
            coords BLOB NOT NULL,         -- float32 (N, 2) array
            params TEXT NOT NULL          -- JSON
        );
        """,
    )


def _migrate_to_3(db: sqlite3.Connection) -> None:
    """Each photo's average colour, so the map's far-out dots are coloured from the start.

    Computed once, when a map first needs it (about 70 s at 100,000 photos here), then kept. A
    table of its own, not a column of ``thumbnails``: reading a column stored after a JPEG blob
    walks the blob's overflow pages (2 s instead of 0.1 s for 100,000 colours). Keyed by content
    hash like the thumbnail it comes from, so it cannot go stale.
    """
    db.execute("CREATE TABLE colours (content_hash BLOB PRIMARY KEY, rgb INTEGER NOT NULL) WITHOUT ROWID")


# MIGRATIONS[n] brings a database from version n to n + 1. Append, never edit. A feature's own
# tables are migrated by the module that owns their SQL.
def _migrate_to_6(db: sqlite3.Connection) -> None:
    from simdesk.core.map.cache import migrate_to_6  # the map's classes table (imports the store)

    migrate_to_6(db)


MIGRATIONS = [_migrate_to_1, _migrate_to_2, _migrate_to_3, duplicate_facts.migrate_to_4,
              duplicate_decisions.migrate_to_5, _migrate_to_6, duplicate_facts.migrate_to_7]
