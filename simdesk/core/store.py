"""The library cache: one SQLite file holding folders, photos, embeddings, thumbnails and errors.

Everything in it can be rebuilt from the photos themselves, so a damaged file is moved aside and
rebuilt, never patched. Paths are stored as BLOBs of their file-system bytes (``os.fsencode``) so
that non-UTF-8 file names round-trip exactly.

Embeddings and thumbnails are keyed by the file's content hash, not by its path: a photo that is
moved or renamed, or copied byte for byte, keeps its embedding without being decoded again.
Vectors are stored as float16 (half the size; cosine similarities change by < 1e-3).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from simdesk.core.duplicates import facts as duplicate_facts
from simdesk.core.paths import folder_prefix
from simdesk.core.schema import MIGRATIONS
from simdesk.core.sql_batches import in_batches

# "SIMD" in ASCII: tells our database from any other SQLite file.
APPLICATION_ID = 0x53494D44
SCHEMA_VERSION = 7
BUSY_TIMEOUT_MS = 15_000


class StoreError(Exception):
    """The library database cannot be used; the message says why and what to do."""


class ForeignDatabaseError(StoreError):
    """The file is a valid SQLite database that belongs to something else: never touched."""


class DamagedDatabaseError(StoreError):
    """The file is not a readable simdesk database (corrupt, truncated, or not SQLite at all)."""


class NewerSchemaError(StoreError):
    """The library was written by a newer simdesk."""


class DatabaseUnavailableError(StoreError):
    """The database is healthy as far as anyone knows but cannot be used now (busy, disk full,
    read-only, an I/O error): it is left exactly as it is."""


# SQLite's primary result codes that mean the file itself is damaged; every other error (busy,
# locked, full, read-only, I/O, out of memory) says nothing about the file's contents.
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_DAMAGE_WORDS = ("malformed", "not a database", "file is encrypted", "corrupt")


def is_damage(exc: BaseException) -> bool:
    """True when a sqlite3 error says the database file is damaged (not merely unusable now)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    return isinstance(exc, sqlite3.DatabaseError) and any(w in str(exc).lower() for w in _DAMAGE_WORDS)


def unavailable_message(path, exc: BaseException) -> str:
    """What to tell the user when the database cannot be used now, by the kind of error."""
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        why = ("it is in use by another simdesk (or another program) that holds it locked; "
               "wait for that to finish, or close it, and try again")
    elif "full" in low:
        why = "the disk is full; free some space and try again (nothing was lost)"
    elif "readonly" in low or "read-only" in low:
        why = "it cannot be written (a read-only file or drive); check its permissions"
    elif "i/o" in low or "disk" in low:
        why = "the disk reported an input/output error; check the drive and try again"
    else:
        why = "try again"
    return f"cannot use the library database {path} now ({text}): {why}. The file was left as it is."


def encode_path(path: str | os.PathLike) -> bytes:
    return os.fsencode(os.fspath(path))


def decode_path(blob: bytes) -> str:
    return os.fsdecode(blob)


@dataclass(frozen=True)
class PhotoRecord:
    id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: bytes
    width: int | None
    height: int | None
    capture_time: float | None
    folder: str | None = None


@dataclass(frozen=True)
class ErrorRecord:
    path: str
    size: int | None
    mtime_ns: int | None
    reason: str
    at: float


@dataclass(frozen=True)
class EmbeddingSpace:
    """One way of turning photos into vectors: a model file (by hash), a pooling, a resize mode.

    Vectors from different spaces are never compared with each other.
    """

    id: int
    model_name: str
    onnx_sha256: str
    pooling: str
    dim: int
    preprocess: str


_SPACE_COLUMNS = "id, model_name, onnx_sha256, pooling, dim, preprocess"


assert len(MIGRATIONS) == SCHEMA_VERSION


class Store:
    """A connection to one library database. Use one Store per thread."""

    def __init__(self, db_path: str | os.PathLike, *, check: bool = True):
        """``check``: walk every table once on opening, so damage shows now (see _check_readable);
        a program opening one library from many threads checks on the first open only."""
        self.path = Path(db_path)
        self._check = check
        self._db = self._connect()

    # -- opening -------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        is_new = not self.path.exists() or self.path.stat().st_size == 0
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open library database {self.path}: {exc}") from exc
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if not is_new and app_id != APPLICATION_ID:
                has_tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if has_tables:
                    db.close()
                    raise ForeignDatabaseError(
                        f"{self.path} is a SQLite database of another program; simdesk will not "
                        "touch it. Point --library at another folder."
                    )
            if version > SCHEMA_VERSION:
                db.close()
                raise NewerSchemaError(
                    f"{self.path} was written by a newer simdesk (schema {version}, this one "
                    f"knows {SCHEMA_VERSION}); upgrade simdesk to use this library."
                )
            # WAL lets the GUI read while the CLI (or an indexing worker) writes.
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            self._migrate(db, version)
            if self._check:
                self._check_readable(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            if not is_damage(exc):
                raise DatabaseUnavailableError(unavailable_message(self.path, exc)) from exc
            raise DamagedDatabaseError(
                f"{self.path} is damaged or not a simdesk library ({exc})."
            ) from exc
        return db

    @staticmethod
    def _check_readable(db: sqlite3.Connection) -> None:
        """Walk every table's b-tree once (``count(*)`` reads its pages but no large values), so
        damage inside the file shows when it is opened, not as a traceback in the middle of a command.

        Raises sqlite3.DatabaseError ("database disk image is malformed") on damage.
        """
        rows = db.execute("SELECT type, name, tbl_name FROM sqlite_master "
                          "WHERE type IN ('table', 'index') AND rootpage > 0").fetchall()
        for kind, name, table in rows:
            how = "NOT INDEXED" if kind == "table" else f'INDEXED BY "{name}"'
            db.execute(f'SELECT count(*) FROM "{table}" {how}').fetchone()

    @staticmethod
    def _migrate(db: sqlite3.Connection, version: int) -> None:
        while version < SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while we waited for the lock.
                current = db.execute("PRAGMA user_version").fetchone()[0]
                if current == version:
                    MIGRATIONS[version](db)
                    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    db.execute(f"PRAGMA user_version = {version + 1}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            version = db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for feature modules that own their tables (duplicates, layouts).

        Autocommit mode: wrap writes in ``store.transaction()``.
        """
        return self._db

    def transaction(self) -> "_Transaction":
        """A write transaction: ``with store.transaction(): ...`` commits at the end or rolls back."""
        return _Transaction(self._db)

    # -- settings ------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- folders -------------------------------------------------------------------------------

    def add_folder(self, path: str) -> int:
        self._db.execute(
            "INSERT OR IGNORE INTO folders(path, added_at) VALUES (?, ?)",
            (encode_path(path), time.time()),
        )
        return self._db.execute(
            "SELECT id FROM folders WHERE path = ?", (encode_path(path),)
        ).fetchone()[0]

    def remove_folder(self, path: str) -> bool:
        """Forget a folder and its photos' records (the photos on disk are not touched)."""
        with self.transaction():
            cur = self._db.execute("DELETE FROM folders WHERE path = ?", (encode_path(path),))
        return cur.rowcount > 0

    def folders(self) -> dict[str, int]:
        rows = self._db.execute("SELECT path, id FROM folders ORDER BY path").fetchall()
        return {decode_path(p): i for p, i in rows}

    # -- photos --------------------------------------------------------------------------------

    def photo_states(self) -> dict[str, tuple[int, int, bytes]]:
        """path -> (size, mtime_ns, content_hash) of every known photo, for incremental rescans."""
        rows = self._db.execute("SELECT path, size, mtime_ns, content_hash FROM photos")
        return {decode_path(p): (s, m, h) for p, s, m, h in rows}

    def upsert_photo(
        self,
        path: str,
        *,
        folder_id: int | None,
        size: int,
        mtime_ns: int,
        content_hash: bytes,
        width: int | None,
        height: int | None,
        capture_time: float | None,
    ) -> None:
        blob = encode_path(path)
        self._db.execute(
            """
            INSERT INTO photos(path, folder_id, size, mtime_ns, content_hash, width, height,
                               capture_time, indexed_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(path) DO UPDATE SET
                folder_id = excluded.folder_id, size = excluded.size,
                mtime_ns = excluded.mtime_ns, content_hash = excluded.content_hash,
                width = excluded.width, height = excluded.height,
                capture_time = excluded.capture_time, indexed_at = excluded.indexed_at
            """,
            (blob, folder_id, size, mtime_ns, content_hash, width, height, capture_time, time.time()),
        )
        self._db.execute("DELETE FROM errors WHERE path = ?", (blob,))

    def copy_photo_details(self, content_hash: bytes) -> tuple[int | None, int | None, float | None] | None:
        """(width, height, capture_time) of any known photo with these bytes, for moved files."""
        return self._db.execute(
            "SELECT width, height, capture_time FROM photos WHERE content_hash = ? LIMIT 1",
            (content_hash,),
        ).fetchone()

    def delete_photos(self, paths: Iterable[str]) -> int:
        blobs = [(encode_path(p),) for p in paths]
        self._db.executemany("DELETE FROM photos WHERE path = ?", blobs)
        self._db.executemany("DELETE FROM errors WHERE path = ?", blobs)
        return len(blobs)

    def photo_count(self) -> int:
        return self._db.execute("SELECT count(*) FROM photos").fetchone()[0]

    def photo_by_path(self, path: str) -> PhotoRecord | None:
        row = self._db.execute(
            "SELECT id, path, size, mtime_ns, content_hash, width, height, capture_time "
            "FROM photos WHERE path = ?",
            (encode_path(path),),
        ).fetchone()
        return self._photo(row) if row else None

    def photos_by_ids(self, ids: Sequence[int]) -> dict[int, PhotoRecord]:
        found: dict[int, PhotoRecord] = {}
        ids = [int(i) for i in ids]
        for chunk, marks in in_batches(ids):
            rows = self._db.execute(
                "SELECT id, path, size, mtime_ns, content_hash, width, height, capture_time "
                f"FROM photos WHERE id IN ({marks})",
                chunk,
            )
            for row in rows:
                found[row[0]] = self._photo(row)
        return found

    @staticmethod
    def _photo(row) -> PhotoRecord:
        pid, path, size, mtime, chash, w, h, ctime = row
        return PhotoRecord(pid, decode_path(path), size, mtime, chash, w, h, ctime)

    # -- errors --------------------------------------------------------------------------------

    def record_error(self, path: str, size: int | None, mtime_ns: int | None, reason: str) -> None:
        blob = encode_path(path)
        self._db.execute("DELETE FROM photos WHERE path = ?", (blob,))
        self._db.execute(
            "INSERT OR REPLACE INTO errors(path, size, mtime_ns, reason, at) VALUES (?, ?, ?, ?, ?)",
            (blob, size, mtime_ns, reason, time.time()),
        )

    def error_states(self) -> dict[str, tuple[int | None, int | None]]:
        rows = self._db.execute("SELECT path, size, mtime_ns FROM errors")
        return {decode_path(p): (s, m) for p, s, m in rows}

    def errors(self) -> list[ErrorRecord]:
        """Files that could not be indexed, and the last scan's problems (unreadable folders,
        symlink loops, broken links), by path."""
        rows = self._db.execute("SELECT path, size, mtime_ns, reason, at FROM errors ORDER BY path")
        found = [ErrorRecord(decode_path(p), s, m, r, a) for p, s, m, r, a in rows]
        known = {e.path for e in found}
        found += [e for e in self.scan_problems() if e.path not in known]
        return sorted(found, key=lambda e: encode_path(e.path))

    def set_scan_problems(self, problems: Iterable[tuple[str, str]]) -> None:
        """Keep the latest scan's (path, reason) problems (replacing the previous scan's)."""
        now = time.time()
        data = [[encode_path(path).hex(), reason, now] for path, reason in problems]
        self.set_meta("scan_problems", json.dumps(data))

    def scan_problems(self) -> list[ErrorRecord]:
        try:
            data = json.loads(self.get_meta("scan_problems") or "[]")
            return [ErrorRecord(decode_path(bytes.fromhex(h)), None, None, str(r), float(a))
                    for h, r, a in data]
        except (ValueError, TypeError):
            return []

    def clear_errors(self) -> None:
        self._db.execute("DELETE FROM errors")

    # -- embedding spaces and vectors ----------------------------------------------------------

    def ensure_space(self, model_name: str, onnx_sha256: str, pooling: str, dim: int,
                     preprocess: str) -> EmbeddingSpace:
        """The space of these settings, created if new.

        ``preprocess`` is ``"<resize mode>;mean=...;std=..."``. A space stored by an older simdesk
        under the bare resize mode (its normalisation unrecorded) is adopted under the full key
        the first time it is asked for, so an upgrade re-embeds nothing.
        """
        legacy = preprocess.split(";", 1)[0]
        if legacy != preprocess:
            with self.transaction():
                taken = self._db.execute(
                    "SELECT 1 FROM spaces WHERE onnx_sha256 = ? AND pooling = ? AND preprocess = ?",
                    (onnx_sha256, pooling, preprocess)).fetchone()
                if taken is None:
                    self._db.execute(
                        "UPDATE spaces SET preprocess = ? "
                        "WHERE onnx_sha256 = ? AND pooling = ? AND preprocess = ?",
                        (preprocess, onnx_sha256, pooling, legacy))
        self._db.execute(
            "INSERT OR IGNORE INTO spaces(model_name, onnx_sha256, pooling, dim, preprocess) "
            "VALUES (?, ?, ?, ?, ?)",
            (model_name, onnx_sha256, pooling, dim, preprocess),
        )
        row = self._db.execute(
            f"SELECT {_SPACE_COLUMNS} FROM spaces "
            "WHERE onnx_sha256 = ? AND pooling = ? AND preprocess = ?",
            (onnx_sha256, pooling, preprocess),
        ).fetchone()
        space = EmbeddingSpace(*row)
        if space.dim != dim:
            raise StoreError(
                f"embedding size changed for {model_name}/{pooling}: {space.dim} != {dim}"
            )
        return space

    def space(self, space_id: int) -> EmbeddingSpace | None:
        row = self._db.execute(
            f"SELECT {_SPACE_COLUMNS} FROM spaces WHERE id = ?", (space_id,)
        ).fetchone()
        return EmbeddingSpace(*row) if row else None

    def hashes_with_embedding(self, space_id: int) -> set[bytes]:
        rows = self._db.execute("SELECT content_hash FROM embeddings WHERE space_id = ?", (space_id,))
        return {r[0] for r in rows}

    def hashes_reusable(self, space_id: int) -> set[bytes]:
        """Hashes with a vector in this space, a thumbnail, and a photo row to copy details from."""
        rows = self._db.execute(
            "SELECT DISTINCT p.content_hash FROM photos p "
            "JOIN embeddings e ON e.content_hash = p.content_hash AND e.space_id = ? "
            "JOIN thumbnails t ON t.content_hash = p.content_hash",
            (space_id,),
        )
        return {r[0] for r in rows}

    def put_embedding(self, content_hash: bytes, space_id: int, vector: np.ndarray) -> None:
        data = np.ascontiguousarray(vector, dtype="<f2").tobytes()
        self._db.execute(
            "INSERT OR REPLACE INTO embeddings(content_hash, space_id, vector) VALUES (?, ?, ?)",
            (content_hash, space_id, data),
        )

    def embedding_for_hash(self, content_hash: bytes, space: EmbeddingSpace) -> np.ndarray | None:
        row = self._db.execute(
            "SELECT vector FROM embeddings WHERE content_hash = ? AND space_id = ?",
            (content_hash, space.id),
        ).fetchone()
        return np.frombuffer(row[0], dtype="<f2").astype(np.float32) if row else None

    def load_embeddings(self, space: EmbeddingSpace) -> tuple[np.ndarray, np.ndarray]:
        """(photo ids, float32 matrix) of every photo with a vector in this space.

        Byte-identical copies share one stored vector but each gets its own row here. Read in
        slices into the one matrix: no list of every blob beside it.
        """
        with self.snapshot():
            count = self.count_embedded(space.id)
            ids = np.empty(count, dtype=np.int64)
            matrix = np.empty((count, space.dim), dtype=np.float32)
            start = 0
            for part_ids, part in self.embedding_slices(space):
                stop = start + len(part)
                ids[start:stop], matrix[start:stop] = part_ids, part  # the snapshot: never past count
                start = stop
        return ids, matrix

    # Rows per slice: 16 MB of float16 at 2048 dimensions, and SQLite's per-call overhead is small
    # next to that.
    EMBEDDING_SLICE_ROWS = 4096

    def embedding_slices(self, space: EmbeddingSpace, rows: int | None = None):
        """(photo ids, float16 matrix) pairs, ``rows`` photos at a time in id order: every photo
        with a vector in this space, as ``load_embeddings`` has them. Read inside ``snapshot()``
        where the count (``count_embedded``) must match."""
        rows = rows or self.EMBEDDING_SLICE_ROWS
        cursor = self._db.execute(
            "SELECT p.id, e.vector FROM photos p JOIN embeddings e "
            "ON e.content_hash = p.content_hash AND e.space_id = ? ORDER BY p.id",
            (space.id,),
        )
        expected = space.dim * 2
        while batch := cursor.fetchmany(rows):
            blobs = [blob for _, blob in batch]
            if any(len(blob) != expected for blob in blobs):
                raise DamagedDatabaseError(f"an embedding in {self.path} has the wrong size")
            ids = np.fromiter((photo_id for photo_id, _ in batch), dtype=np.int64, count=len(batch))
            yield ids, np.frombuffer(b"".join(blobs), dtype="<f2").reshape(len(batch), space.dim)

    @contextlib.contextmanager
    def snapshot(self):
        """Reads that all see one state of the database (a count, then the rows it counted),
        whatever other connections write meanwhile (WAL keeps the old pages for this reader).
        Inside a transaction already: that one is the snapshot."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")  # nothing written: only ends the read

    def count_embedded(self, space_id: int) -> int:
        return self._db.execute(
            "SELECT count(*) FROM photos p JOIN embeddings e "
            "ON e.content_hash = p.content_hash AND e.space_id = ?",
            (space_id,),
        ).fetchone()[0]

    def prune_orphans(self) -> None:
        """Drop vectors, thumbnails, colours and duplicate facts no photo refers to any more."""
        with self.transaction():
            self._db.execute(
                "DELETE FROM embeddings WHERE content_hash NOT IN (SELECT content_hash FROM photos)"
            )
            self._db.execute(
                "DELETE FROM thumbnails WHERE content_hash NOT IN (SELECT content_hash FROM photos)"
            )
            self._db.execute(
                "DELETE FROM colours WHERE content_hash NOT IN (SELECT content_hash FROM photos)"
            )
            duplicate_facts.prune(self)

    # -- thumbnails ----------------------------------------------------------------------------

    def put_thumbnail(self, content_hash: bytes, jpeg: bytes) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO thumbnails(content_hash, jpeg) VALUES (?, ?)", (content_hash, jpeg)
        )

    def has_thumbnail(self, content_hash: bytes) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM thumbnails WHERE content_hash = ?", (content_hash,)
            ).fetchone()
            is not None
        )

    def thumbnail_colours(self, content_hashes: list[bytes]) -> dict[bytes, int]:
        """Stored average colours (0xRRGGBB) of these photos' thumbnails; unknown ones left out."""
        found: dict[bytes, int] = {}
        for chunk, marks in in_batches(content_hashes):
            found.update(self._db.execute(
                f"SELECT content_hash, rgb FROM colours WHERE content_hash IN ({marks})",
                chunk,
            ).fetchall())
        return found

    def set_thumbnail_colours(self, colours: dict[bytes, int]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO colours(content_hash, rgb) VALUES (?, ?)",
                             list(colours.items()))

    def thumbnail(self, content_hash: bytes) -> bytes | None:
        row = self._db.execute(
            "SELECT jpeg FROM thumbnails WHERE content_hash = ?", (content_hash,)
        ).fetchone()
        return row[0] if row else None

    # -- browsing (GUI) --

    def browse_photos(
        self, folder: str | None = None, order: str = "date"
    ) -> tuple[np.ndarray, list[str], list[bytes], np.ndarray]:
        """Every photo, or those under one folder, sorted for a thumbnail grid.

        Returns parallel ``(ids, paths, content_hashes, times)``: ``ids`` int64, ``times``
        float64 POSIX seconds (the capture time, else the file's modification time).
        ``order``: ``"date"`` (newest first), ``"name"`` (file name, case-insensitive, then
        path) or ``"folder"`` (full path, so a folder's photos stay together).
        """
        if order not in ("date", "name", "folder"):
            raise ValueError(f"order must be 'date', 'name' or 'folder', not {order!r}")
        sql = (
            "SELECT id, path, content_hash, COALESCE(capture_time, mtime_ns / 1e9) AS t "
            "FROM photos"
        )
        params: tuple = ()
        if folder is not None:
            # A path-prefix range on the BLOB (memcmp order) uses the UNIQUE index on path and
            # includes photos of nested library folders, which belong to the inner folder.
            prefix = encode_path(folder_prefix(folder))
            upper = prefix[:-1] + bytes([prefix[-1] + 1])
            sql += " WHERE path >= ? AND path < ?"
            params = (prefix, upper)
        if order == "date":
            sql += " ORDER BY t DESC, path"
        elif order == "folder":
            sql += " ORDER BY path"
        rows = self._db.execute(sql, params).fetchall()
        paths = [decode_path(r[1]) for r in rows]
        if order == "name":
            keys = [(os.path.basename(p).casefold(), p) for p in paths]
            perm = sorted(range(len(rows)), key=keys.__getitem__)
            rows = [rows[i] for i in perm]
            paths = [paths[i] for i in perm]
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        times = np.fromiter((r[3] for r in rows), dtype=np.float64, count=len(rows))
        return ids, paths, [r[2] for r in rows], times

    def thumbnails_for(self, content_hashes: Sequence[bytes]) -> dict[bytes, bytes]:
        """JPEG thumbnails of many photos at once: content hash -> JPEG bytes (missing ones left out)."""
        found: dict[bytes, bytes] = {}
        for chunk, marks in in_batches(content_hashes):
            rows = self._db.execute(
                f"SELECT content_hash, jpeg FROM thumbnails WHERE content_hash IN ({marks})", chunk
            )
            found.update(rows)
        return found


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self._outer = False

    def __enter__(self) -> None:
        # Nested use joins the outer transaction.
        self._outer = not self._db.in_transaction
        if self._outer:
            self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._outer:
            return
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
