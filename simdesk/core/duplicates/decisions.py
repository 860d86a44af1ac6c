"""What the user decided about a group of duplicates: the copy to keep, and the Trash ticks.

Decisions are stored per group, keyed by the group's key (a hash of its members' content hashes,
``grouping.group_key``), and per file by path with the content hash the file had when the user
decided. So a decision lasts across restarts and rescans, and lapses by itself when the files
change: a changed file has another content hash, its group another key, and a decision whose
recorded hash no longer matches the file is ignored. "Not duplicates" marks live in
``dismissed`` (cannot-link pairs of contents).

This module owns the ``duplicate_decisions`` table: its migration (schema 5) and all its SQL.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping

from simdesk.core.sql_batches import in_batches

if TYPE_CHECKING:
    from simdesk.core.store import Store

KEEP, TICK, UNTICK = "keep", "tick", "untick"


def migrate_to_5(db: sqlite3.Connection) -> None:
    """Per-group keep choices and Trash ticks of the duplicate review."""
    db.execute(
        "CREATE TABLE duplicate_decisions ("
        " group_key TEXT NOT NULL, path BLOB NOT NULL, content_hash BLOB NOT NULL,"
        " choice TEXT NOT NULL CHECK (choice IN ('keep', 'tick', 'untick')), at REAL NOT NULL,"
        " PRIMARY KEY (group_key, path)"
        ") WITHOUT ROWID"
    )


@dataclass(frozen=True)
class GroupDecision:
    """The user's choices in one group: ``keep`` (a path or None), ``ticks`` (path -> ticked)."""

    keep: str | None = None
    keep_at: float = 0.0  # when the keep choice was made (the latest choice wins across groups)
    ticks: Mapping[str, bool] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.keep is None and not self.ticks


def _encode(path: str) -> bytes:
    from simdesk.core.store import encode_path

    return encode_path(path)


def _decode(blob) -> str:
    from simdesk.core.store import decode_path

    return decode_path(blob)


def decisions_for(store: "Store", groups: Iterable) -> dict[str, GroupDecision]:
    """The stored decisions of these groups (``DuplicateGroup``s), by group key; only decisions
    about files whose content is still what it was when the user decided."""
    groups = list(groups)
    current = {g.key: {m.path: m.content_hash for m in g.members} for g in groups}
    keys = list(current)
    found: dict[str, dict] = {}
    for chunk, marks in in_batches(keys):
        rows = store.connection.execute(
            "SELECT group_key, path, content_hash, choice, at FROM duplicate_decisions "
            f"WHERE group_key IN ({marks})", chunk)
        for key, path_blob, chash, choice, at in rows:
            path = _decode(path_blob)
            if current[key].get(path) != bytes(chash):
                continue  # the file changed (or moved away) since: the decision lapsed
            entry = found.setdefault(key, {"keep": None, "keep_at": 0.0, "ticks": {}})
            if choice == KEEP:
                entry["keep"], entry["keep_at"] = path, float(at)
            else:
                entry["ticks"][path] = choice == TICK
    return {key: GroupDecision(**entry) for key, entry in found.items()}


def record(store: "Store", group, *, keep: str | None = None,
           ticks: Mapping[str, bool] | None = None) -> None:
    """Store a keep choice and/or ticks in ``group`` (a ``DuplicateGroup``), replacing earlier ones
    for the same files; the kept copy is never ticked."""
    hashes = {m.path: m.content_hash for m in group.members}
    now = time.time()
    with store.transaction():
        db = store.connection
        if keep is not None:
            if keep not in hashes:
                raise ValueError(f"{keep} is not in this group")
            db.execute("DELETE FROM duplicate_decisions WHERE group_key = ? AND choice = ?",
                       (group.key, KEEP))
            db.execute("INSERT OR REPLACE INTO duplicate_decisions VALUES (?, ?, ?, ?, ?)",
                       (group.key, _encode(keep), hashes[keep], KEEP, now))
        for path, ticked in (ticks or {}).items():
            if path not in hashes or path == (keep or group.keep):
                continue
            db.execute("INSERT OR REPLACE INTO duplicate_decisions VALUES (?, ?, ?, ?, ?)",
                       (group.key, _encode(path), hashes[path], TICK if ticked else UNTICK, now))


def forget(store: "Store", group_keys: Iterable[str]) -> int:
    """Drop every decision of these groups; returns how many were dropped."""
    keys = list(group_keys)
    with store.transaction():
        before = store.connection.total_changes
        store.connection.executemany("DELETE FROM duplicate_decisions WHERE group_key = ?",
                                     [(k,) for k in keys])
        return store.connection.total_changes - before


def ticked_paths(group, decision: GroupDecision | None, overrides: Mapping[str, bool] | None = None,
                 ) -> set[str]:
    """The copies of ``group`` ticked for the Trash: its proposed extras (none in a group of
    similar shots), changed by the stored ``decision`` and then by ``overrides`` (path -> ticked).
    Never the kept copy nor one in a reference folder."""
    chosen = dict(decision.ticks) if decision is not None else {}
    chosen.update(overrides or {})
    extras = {m.path for m in group.extras}
    return {m.path for m in group.members
            if m.path != group.keep and not m.reference and chosen.get(m.path, m.path in extras)}


def apply_keep(groups: Iterable, decisions: Mapping[str, GroupDecision]) -> list:
    """The groups with the stored keep choices applied (``DuplicateGroup.with_keep``)."""
    out = []
    for group in groups:
        decision = decisions.get(group.key)
        if decision is not None and decision.keep and decision.keep != group.keep:
            group = group.with_keep(decision.keep)
        out.append(group)
    return out
