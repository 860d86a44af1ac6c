""""Not duplicates" marks: pairs of photos (by content hash) the user said are not copies.

A mark is a cannot-link constraint: such a pair never shares a group again. This module owns the
SQL of the ``dismissed_pairs`` table (created by schema 2).
"""

from __future__ import annotations

import os
import time
from typing import Sequence

from simdesk.core.store import Store, encode_path


class NotInLibraryError(LookupError):
    """A path named by the user is not a photo of the library."""

def pair_key(a: bytes, b: bytes) -> tuple[bytes, bytes]:
    return (a, b) if a <= b else (b, a)


def dismissed_pairs(store: Store) -> set[tuple[bytes, bytes]]:
    rows = store.connection.execute("SELECT hash_a, hash_b FROM dismissed_pairs")
    return {(bytes(a), bytes(b)) for a, b in rows}


def dismiss(store: Store, content_hashes: Sequence[bytes]) -> int:
    """Mark every pair among these photos (by content hash) as "not a duplicate"; returns new marks.

    A photo listed twice with the same hash (byte-identical copies the user wants to keep) stores
    (h, h): identical copies of it are then not reported either.
    """
    hashes = list(content_hashes)
    pairs = set()
    for x in range(len(hashes)):
        for y in range(x + 1, len(hashes)):
            pairs.add(pair_key(hashes[x], hashes[y]))
    now = time.time()
    with store.transaction():
        before = store.connection.total_changes
        store.connection.executemany(
            "INSERT OR IGNORE INTO dismissed_pairs(hash_a, hash_b, at) VALUES (?, ?, ?)",
            [(a, b, now) for a, b in sorted(pairs)],
        )
        return store.connection.total_changes - before


def undismiss(store: Store, content_hashes: Sequence[bytes]) -> int:
    hashes = list(content_hashes)
    pairs = {pair_key(hashes[x], hashes[y]) for x in range(len(hashes)) for y in range(x + 1, len(hashes))}
    with store.transaction():
        before = store.connection.total_changes
        store.connection.executemany(
            "DELETE FROM dismissed_pairs WHERE hash_a = ? AND hash_b = ?", sorted(pairs))
        return store.connection.total_changes - before


def hashes_of(store: Store, paths: Sequence[str]) -> list[bytes]:
    """Content hashes of library photos by path; NotInLibraryError names any path not in the library."""
    found = []
    for path in paths:
        row = store.connection.execute(
            "SELECT content_hash FROM photos WHERE path = ?", (encode_path(os.path.abspath(path)),)
        ).fetchone()
        if row is None:
            raise NotInLibraryError(f"{path} is not a photo of this library")
        found.append(bytes(row[0]))
    return found
