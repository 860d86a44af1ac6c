"""Per-photo facts the duplicate check needs, keyed by content hash like every embedding.

* ``provenance``: the camera, the editing software and the JPEG quality of the file, which the keep
  rule reads to keep the camera original of a group of copies;
* ``local_features``: the keypoints and small image the copy verification compares (see
  ``verify``), computed from the same decode as the photo's thumbnail;
* ``verdicts``: what the verification said of a pair (by the two content hashes), so that a scan
  again verifies only the pairs it has not seen (a library's first scan pays for all of them).

This module owns these tables (schemas 4 and 7): their migrations and all their SQL are here.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Container, Iterable, Sequence

from simdesk.core.provenance import Provenance
from simdesk.core.sql_batches import in_batches

if TYPE_CHECKING:
    from simdesk.core.store import Store

TABLES = ("provenance", "local_features")


def migrate_to_4(db: sqlite3.Connection) -> None:
    """Provenance and local features for the copy verification of the duplicate scan."""
    db.execute(
        "CREATE TABLE provenance ("
        " content_hash BLOB PRIMARY KEY, camera TEXT, software TEXT, jpeg_quality INTEGER"
        ") WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE local_features (content_hash BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID"
    )


def migrate_to_7(db: sqlite3.Connection) -> None:
    """Verdicts of the copy verification, kept by pair of contents."""
    db.execute(
        "CREATE TABLE verdicts ("
        " hash_a BLOB NOT NULL, hash_b BLOB NOT NULL,"  # hash_a < hash_b
        " version INTEGER NOT NULL, kind TEXT NOT NULL, evidence TEXT NOT NULL,"
        " PRIMARY KEY (hash_a, hash_b)) WITHOUT ROWID"
    )


def cached_verdicts(store: "Store", pairs: Sequence[tuple[bytes, bytes]], version: int,
                    evidence_for: Container[str] | None = None
                    ) -> dict[tuple[bytes, bytes], tuple[str, dict | None]]:
    """Stored ``(kind, evidence)`` of these pairs (each ``(a, b)`` with a < b) at ``version``.

    ``evidence_for``: the kinds whose evidence is wanted (None: all); the others' is None, not
    decoded (most verdicts are "different", whose evidence a scan does not show)."""
    found: dict[tuple[bytes, bytes], tuple[str, dict]] = {}
    wanted = set(pairs)
    by_first: dict[bytes, list[bytes]] = {}
    for a, b in wanted:
        by_first.setdefault(a, []).append(b)
    firsts = list(by_first)
    for chunk, marks in in_batches(firsts):
        rows = store.connection.execute(
            f"SELECT hash_a, hash_b, kind, evidence FROM verdicts WHERE version = ? AND hash_a IN ({marks})",
            [version, *chunk])
        for a, b, kind, evidence in rows:
            key = (bytes(a), bytes(b))
            if key in wanted:
                wanted_evidence = evidence_for is None or kind in evidence_for
                found[key] = (kind, json.loads(evidence) if wanted_evidence else None)
    return found


def put_verdicts(store: "Store", rows: Iterable[tuple[bytes, bytes, str, dict]], version: int) -> None:
    with store.transaction():
        store.connection.executemany(
            "INSERT OR REPLACE INTO verdicts(hash_a, hash_b, version, kind, evidence) VALUES (?, ?, ?, ?, ?)",
            [(a, b, version, kind, json.dumps(evidence)) for a, b, kind, evidence in rows])


def prune(store: "Store") -> None:
    """Drop the facts of contents no photo has any more (inside the caller's transaction)."""
    for table in TABLES:
        store.connection.execute(
            f"DELETE FROM {table} WHERE content_hash NOT IN (SELECT content_hash FROM photos)")
    store.connection.execute(
        "DELETE FROM verdicts WHERE hash_a NOT IN (SELECT content_hash FROM photos) "
        "OR hash_b NOT IN (SELECT content_hash FROM photos)")


def local_features_or_none(image) -> bytes | None:
    """The stored form of a decoded photo's local features, computed from the decode that made its
    thumbnail (one pass per photo). None if OpenCV cannot describe it: the photo is then compared
    without verification."""
    from simdesk.core.duplicates.verify import extract_features

    try:
        return extract_features(image).to_bytes()
    except Exception:  # cv2.error and friends: a photo without features is still indexed
        return None


def put_provenance(store: "Store", content_hash: bytes, provenance: Provenance) -> None:
    store.connection.execute(
        "INSERT OR REPLACE INTO provenance(content_hash, camera, software, jpeg_quality) "
        "VALUES (?, ?, ?, ?)",
        (content_hash, provenance.camera, provenance.software, provenance.jpeg_quality),
    )


def put_local_features(store: "Store", content_hash: bytes, data: bytes) -> None:
    store.connection.execute(
        "INSERT OR REPLACE INTO local_features(content_hash, data) VALUES (?, ?)", (content_hash, data)
    )


def _select(store: "Store", sql: str, hashes: Sequence[bytes]) -> Iterable[tuple]:
    for chunk, marks in in_batches(hashes):
        yield from store.connection.execute(sql.format(marks=marks), chunk)


def provenance_of(store: "Store", hashes: Sequence[bytes]) -> dict[bytes, Provenance]:
    """Known provenance of these photos; photos indexed before schema 4 are left out."""
    rows = _select(store, "SELECT content_hash, camera, software, jpeg_quality FROM provenance "
                          "WHERE content_hash IN ({marks})", hashes)
    return {bytes(h): Provenance(c, s, q) for h, c, s, q in rows}


def local_features_of(store: "Store", hashes: Sequence[bytes]) -> dict[bytes, bytes]:
    rows = _select(store, "SELECT content_hash, data FROM local_features WHERE content_hash IN ({marks})",
                   hashes)
    return {bytes(h): bytes(d) for h, d in rows}


def hashes_with_facts(store: "Store") -> set[bytes]:
    """Photos (by content) that have both their provenance and their local features."""
    rows = store.connection.execute(
        "SELECT p.content_hash FROM provenance p JOIN local_features f USING (content_hash)")
    return {bytes(r[0]) for r in rows}
