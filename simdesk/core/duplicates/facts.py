"""Per-photo facts the duplicate check needs, keyed by content hash like every embedding.

* ``provenance``: the camera, the editing software and the JPEG quality of the file, which the keep
  rule reads to keep the camera original of a group of copies;
* ``local_features``: the keypoints and small image the copy verification compares (see
  ``verify``), computed from the same decode as the photo's thumbnail.

This module owns both tables (schema 4): their migration and all their SQL are here.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Iterable, Sequence

from simdesk.core.provenance import Provenance

if TYPE_CHECKING:
    from simdesk.core.store import Store

TABLES = ("provenance", "local_features")
_CHUNK = 500  # below SQLite's variable limit


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
    for start in range(0, len(hashes), _CHUNK):
        chunk = list(hashes[start:start + _CHUNK])
        marks = ",".join("?" * len(chunk))
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
