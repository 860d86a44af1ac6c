"""The SQL of the trash journal (table ``trash_journal``, created by store.py's migration 2).

The one place that reads or writes that table; ``journal`` decides what to write. Paths are
stored as BLOBs of their file-system bytes, like every path in the cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from simdesk.core.store import Store, decode_path, encode_path

PLANNED, TRASHED, RESTORED, FAILED = "planned", "trashed", "restored", "failed"

_PATH_COLUMNS = ("trashed_path", "info_path", "original_path")
_COLUMNS = ("id, batch, original_path, trashed_path, info_path, size, mtime_ns, content_hash, "
            "group_key, state, message, at")


@dataclass(frozen=True)
class JournalEntry:
    id: int
    batch: str
    original_path: str
    trashed_path: str | None
    info_path: str | None
    size: int
    mtime_ns: int
    content_hash: bytes | None
    group_key: str | None
    state: str
    message: str | None
    at: float


@dataclass(frozen=True)
class BatchSummary:
    batch: str
    at: float
    trashed: int  # files of this batch still in the Trash (what Undo would restore)
    restored: int
    bytes: int


def insert_planned(store: Store, batch: str, path: str, size: int, mtime_ns: int, content_hash: bytes,
                   group_key: str) -> int:
    """A ``planned`` row, committed before anything on disk is touched; its id."""
    with store.transaction():
        cur = store.connection.execute(
            "INSERT INTO trash_journal(batch, original_path, size, mtime_ns, content_hash, group_key, "
            "state, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (batch, encode_path(path), size, mtime_ns, content_hash, group_key, PLANNED, time.time()),
        )
        return int(cur.lastrowid)


def update(store: Store, row_id: int, **fields) -> None:
    columns = []
    values = []
    for name, value in fields.items():
        if name in _PATH_COLUMNS and value is not None:
            value = encode_path(value)
        columns.append(f"{name} = ?")
        values.append(value)
    with store.transaction():
        store.connection.execute(f"UPDATE trash_journal SET {', '.join(columns)} WHERE id = ?",
                                 (*values, row_id))


def mark_trashed(store: Store, row_id: int, original: str, message: str | None = None) -> None:
    """The move is done: the row says so and the photo leaves the index, in one transaction."""
    with store.transaction():
        if message is None:
            store.connection.execute("UPDATE trash_journal SET state = ?, at = ? WHERE id = ?",
                                     (TRASHED, time.time(), row_id))
        else:
            store.connection.execute("UPDATE trash_journal SET state = ?, message = ? WHERE id = ?",
                                     (TRASHED, message, row_id))
        store.delete_photos([original])


def journal(store: Store, batch: str | None = None, state: str | None = None) -> list[JournalEntry]:
    sql = f"SELECT {_COLUMNS} FROM trash_journal"
    where, args = [], []
    if batch is not None:
        where.append("batch = ?")
        args.append(batch)
    if state is not None:
        where.append("state = ?")
        args.append(state)
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = store.connection.execute(sql + " ORDER BY id", args).fetchall()
    return [
        JournalEntry(r[0], r[1], decode_path(r[2]), decode_path(r[3]) if r[3] is not None else None,
                     decode_path(r[4]) if r[4] is not None else None, r[5], r[6],
                     bytes(r[7]) if r[7] is not None else None, r[8], r[9], r[10], r[11])
        for r in rows
    ]


def batches(store: Store) -> list[BatchSummary]:
    """Every trash action, newest first, for an Undo menu."""
    rows = store.connection.execute(
        "SELECT batch, max(at), sum(state = ?), sum(state = ?), sum(CASE WHEN state = ? THEN size ELSE 0 END) "
        "FROM trash_journal GROUP BY batch ORDER BY max(id) DESC",
        (TRASHED, RESTORED, TRASHED),
    ).fetchall()
    return [BatchSummary(b, at, int(t or 0), int(r or 0), int(n or 0)) for b, at, t, r, n in rows]


def latest_batch(store: Store) -> str | None:
    """The newest batch with files still in the Trash."""
    row = store.connection.execute(
        "SELECT batch FROM trash_journal WHERE state = ? ORDER BY id DESC LIMIT 1", (TRASHED,)
    ).fetchone()
    return row[0] if row else None
