"""Salvage: what a damaged library cache still holds that cannot be recomputed, read back out."""

from __future__ import annotations

import os
import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simdesk.core.store import Store


# -- salvage --------------------------------------------------------------------------------------
#
# What the cache holds that cannot be recomputed from the photos: the trash journal (the only way
# back for trashed files), the "not duplicates" marks, the folders, and the settings copy in meta.
SALVAGED_TABLES = {
    "trash_journal": ("id, batch, original_path, trashed_path, info_path, size, mtime_ns, content_hash, "
                      "group_key, state, message, at", "id"),
    "dismissed_pairs": ("hash_a, hash_b, at", "hash_a, hash_b"),
    "folders": ("path, added_at", "path"),
    "meta": ("key, value", "key"),
}


def salvage(path: str | os.PathLike) -> dict[str, list[tuple]]:
    """Every row of ``SALVAGED_TABLES`` SQLite can still read from a damaged database file.

    Each table is read forwards and then backwards by its key, so rows on both sides of a damaged
    page are kept. Never writes to the file.
    """
    found: dict[str, list[tuple]] = {}
    try:
        db = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error:
        return found
    try:
        for table, (columns, key) in SALVAGED_TABLES.items():
            rows: dict[tuple, tuple] = {}
            for order in ("ASC", "DESC"):
                keys = ", ".join(f"{k.strip()} {order}" for k in key.split(","))
                try:
                    for row in db.execute(f"SELECT {columns} FROM {table} ORDER BY {keys}"):
                        n = len(key.split(","))
                        rows.setdefault(tuple(row[:n]) if table != "trash_journal" else (row[0],), row)
                except sqlite3.Error:
                    continue
            if rows:
                found[table] = list(rows.values())
    finally:
        db.close()
    return found


def restore_salvage(store: "Store", found: dict[str, list[tuple]]) -> dict[str, int]:
    """Put salvaged rows into a fresh database; returns how many rows of each table went back."""
    counts: dict[str, int] = {}
    with store.transaction():
        for table, rows in found.items():
            columns = SALVAGED_TABLES[table][0]
            marks = ", ".join("?" * len(columns.split(",")))
            before = store.connection.total_changes
            store.connection.executemany(f"INSERT OR IGNORE INTO {table}({columns}) VALUES ({marks})", rows)
            counts[table] = store.connection.total_changes - before
    return counts
