"""The near-duplicate scan: groups of byte-identical and near-identical photos, and which to keep.

How a scan works:

1. **Exact copies**: photos with the same content hash (BLAKE2b of the bytes) are certain
   duplicates; no model is needed for them.
2. **Near copies**: every photo's duplicate descriptor (see ``dup_descriptors``: a mid-level CNN
   map, GeM-pooled, upright and turned 90 degrees) is PCA-whitened with a whitening fitted on this
   library, so that what all photos of a kind share counts little and what makes one photo itself
   counts a lot. All pairs are compared with blocked matrix products (tiles of 2048 x 2048, never
   an N x N matrix) and the pairs above a floor are kept: a sparse graph.
3. **Grouping** is complete linkage inside each connected part of that graph: a group is only
   formed if *every* pair of its members passes the threshold. Single linkage (connected
   components) would chain a burst of similar shots, or a series of photos that each differ a little
   from the next, into one group whose ends are not copies of each other; average linkage still
   lets one pair in a group sit far below the threshold. With complete linkage, what the threshold
   promises holds for every pair the user sees in a group. A "not a duplicate" mark (stored by
   content hash in ``dismissed_pairs``) is a cannot-link constraint: such a pair never shares a
   group again, at any threshold. So is a pair whose EXIF capture times differ: two exposures
   (a burst), not a copy and its original.
4. **Keep**: each group proposes the copy to keep by an ordered rule (largest pixel count, then the
   larger file, then the older capture date, then the shorter path, by default), and says why.
   Copies in reference folders are never proposed for removal; if a group has one, a reference copy
   is the one kept.

The result, a :class:`DuplicateScan`, keeps the candidate pairs above the floor, so the GUI's
threshold slider regroups instantly (``scan.groups(threshold)``) without comparing again.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

from simdesk.core.paths import under_any
from simdesk.core.pooling import l2_normalize
from simdesk.core.progress import Progress, ProgressCallback, check
from simdesk.core.store import Store, decode_path, encode_path
from simdesk.core.units import format_bytes

# Calibrated on the near-duplicate benchmark (tests/benchmarks/near_dup_benchmark.py): the lowest
# whitened similarity that keeps pairwise precision >= 0.99 on its 2,844-photo library is 0.52; 0.55
# leaves a margin (grouped precision 0.996 there, 0.976 in a 5,344-photo library, where most of the
# pairs wrongly found are shots of one scene moments apart).
DEFAULT_THRESHOLD = 0.55
# With the library's own vectors instead of duplicate descriptors (`--fast`): calibrated the same way
# (0.76 at 2,844 photos, 0.82 at 5,344).
DEFAULT_THRESHOLD_LIBRARY_VECTORS = 0.80
# The slider's range in the GUI; a scan keeps pairs down to its floor so the slider never rescans.
SLIDER_MIN, SLIDER_MAX = 0.30, 0.95
FLOOR_MARGIN = 0.10  # a scan keeps pairs this far below its threshold

WHITEN_DIMS = 256
WHITEN_MAX_SAMPLES = 20_000
# Shrinkage: every eigenvalue gets this fraction of their mean added before whitening, at least,
# and more in a small library (SMALL_LIBRARY_SHRINKAGE x dims / photos). Whitening fitted on the
# very photos it compares overfits when they are few: in the limit it spreads them evenly, copies
# included. With this rule the calibrated threshold holds from 180 to 2,700 photos (benchmark).
WHITEN_SHRINKAGE = 0.05
SMALL_LIBRARY_SHRINKAGE = 2.0

# A 90-degree turn swaps width and height: turned comparisons only between photos whose aspect ratios
# are each other's inverse within this (log ratio; 0.25 is about 28%, room for a small trim).
ROTATION_ASPECT_TOLERANCE = 0.25

# Capture times this close (seconds) are the same moment; further apart, two different exposures
# (cameras that record fractions of a second tell burst frames apart this way).
SAME_MOMENT_S = 0.01

DENSE_LINKAGE_LIMIT = 3000  # bigger connected parts use the greedy sparse variant

KEEP_CRITERIA = {
    "pixels": "largest pixel count",
    "size": "larger file",
    "oldest": "older capture date",
    "newest": "newer capture date",
    "shortest_path": "shorter path",
}
DEFAULT_KEEP_RULE = ("pixels", "size", "oldest", "shortest_path")


class DuplicateError(Exception):
    """The scan cannot be done as asked; the message says why."""


# -- whitening ---------------------------------------------------------------------------------


@dataclass
class Whitening:
    """PCA-whitening fitted on a library's vectors: centre, rotate, scale each axis to unit variance."""

    mean: np.ndarray  # (D,)
    projection: np.ndarray  # (D, k): eigenvectors scaled by 1 / sqrt(eigenvalue)

    @classmethod
    def fit(cls, vectors: np.ndarray, dims: int = WHITEN_DIMS, max_samples: int = WHITEN_MAX_SAMPLES,
            shrinkage: float = WHITEN_SHRINKAGE, seed: int = 0) -> "Whitening":
        x = np.asarray(vectors)
        if len(x) > max_samples:  # a sample first: no full-size copy of the library's vectors
            rows = np.sort(np.random.default_rng(seed).choice(len(x), max_samples, replace=False))
            x = x[rows]
        x = l2_normalize(x.astype(np.float64))
        mean = x.mean(axis=0)
        centred = x - mean
        cov = centred.T @ centred / max(len(x) - 1, 1)
        values, vecs = np.linalg.eigh(cov)
        mean_value = max(float(np.mean(np.clip(values, 0.0, None))), 1e-12)
        order = np.argsort(values)[::-1][: min(dims, len(values))]
        values, vecs = np.clip(values[order], 0.0, None), vecs[:, order]
        shrinkage = max(shrinkage, SMALL_LIBRARY_SHRINKAGE * len(order) / max(len(x), 1))
        floor = shrinkage * mean_value
        projection = vecs / np.sqrt(values + floor)
        return cls(mean.astype(np.float32), projection.astype(np.float32))

    def apply(self, vectors: np.ndarray, chunk: int = 16384) -> np.ndarray:
        """Whitened, L2-normalised float32 vectors (N, k); works in chunks to bound memory."""
        vectors = np.asarray(vectors)
        out = np.empty((len(vectors), self.projection.shape[1]), dtype=np.float32)
        for start in range(0, len(vectors), chunk):
            part = l2_normalize(vectors[start:start + chunk].astype(np.float32))
            out[start:start + chunk] = l2_normalize((part - self.mean) @ self.projection)
        return out


# -- all pairs above a threshold -----------------------------------------------------------------


def _threshold_tile(tile: np.ndarray, threshold: float, row0: int, col0: int, out: list) -> None:
    rows = np.flatnonzero(tile.max(axis=1) >= threshold)
    if rows.size:
        sub = tile[rows]
        ri, cj = np.nonzero(sub >= threshold)
        out.append(((rows[ri] + row0).astype(np.int64), (cj + col0).astype(np.int64),
                    sub[ri, cj].astype(np.float32)))


def similar_pairs(
    vectors: np.ndarray,
    threshold: float,
    rotated: np.ndarray | None = None,
    aspects: np.ndarray | None = None,
    *,
    aspect_tolerance: float = ROTATION_ASPECT_TOLERANCE,
    block: int = 2048,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i < j) whose cosine similarity is >= ``threshold``: (i, j, similarity) arrays.

    ``vectors`` must be L2-normalised rows. With ``rotated`` (the same photos turned 90 degrees,
    normalised the same way), a pair's similarity is the best of upright-upright and either photo
    upright against the other turned, so a copy rotated by 90 or 270 degrees matches. A turned copy
    has its width and height swapped, so with ``aspects`` (width / height of each photo) the turned
    comparison only runs between photos whose aspect ratios are each other's inverse within
    ``aspect_tolerance`` (in log ratio): a landscape photo is compared turned with portrait and
    square photos only, which skips most of that work in a real library.

    All pairs by blocked matrix products: memory stays at a few ``block x block`` tiles whatever N.
    """
    n = len(vectors)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    # Upright against upright: the upper triangle, tile by tile.
    starts = list(range(0, n, block))
    cross_cols = 0
    if rotated is not None:
        rotated = np.ascontiguousarray(rotated, dtype=np.float32)
        if rotated.shape != vectors.shape:
            raise ValueError("rotated vectors must have the shape of the upright ones")
        log_aspect = (np.log(np.clip(np.asarray(aspects, dtype=np.float64), 1e-3, 1e3))
                      if aspects is not None else np.zeros(n))
        order = np.argsort(log_aspect, kind="stable")
        sorted_la = log_aspect[order]
        up_sorted, rot_sorted = vectors[order], rotated[order]
        ranges = []
        for r0 in starts:
            r1 = min(n, r0 + block)
            lo, hi = sorted_la[r0], sorted_la[r1 - 1]
            c_start = int(np.searchsorted(sorted_la, -hi - aspect_tolerance, side="left"))
            c_end = int(np.searchsorted(sorted_la, -lo + aspect_tolerance, side="right"))
            ranges.append((r0, r1, c_start, c_end))
            cross_cols += (r1 - r0) * max(0, c_end - c_start)
    total = sum((n - r0) * min(block, n - r0) for r0 in starts) + cross_cols
    done = 0
    for r0 in starts:
        r1 = min(n, r0 + block)
        rows_up = vectors[r0:r1]
        for c0 in range(r0, n, block):
            check(cancel)
            c1 = min(n, c0 + block)
            tile = rows_up @ vectors[c0:c1].T
            if c0 == r0:  # the diagonal tile: only j > i
                tile[np.tril_indices(r1 - r0, 0, c1 - c0)] = -np.inf
            _threshold_tile(tile, threshold, r0, c0, found)
            done += (r1 - r0) * (c1 - c0)
            if progress is not None:
                progress(Progress("comparing", done, total, unit="pairs"))
    # Upright against turned, for aspect-compatible pairs, in both directions (the full matrix).
    if rotated is not None:
        cross: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for r0, r1, c_start, c_end in ranges:
            rows_up = up_sorted[r0:r1]
            for c0 in range(c_start, c_end, block):
                check(cancel)
                c1 = min(c_end, c0 + block)
                tile = rows_up @ rot_sorted[c0:c1].T
                row_la, col_la = sorted_la[r0:r1], sorted_la[c0:c1]
                if (row_la[-1] + col_la[-1] > aspect_tolerance
                        or row_la[0] + col_la[0] < -aspect_tolerance):  # a tile straddling the edge
                    tile[np.abs(row_la[:, None] + col_la[None, :]) > aspect_tolerance] = -np.inf
                _threshold_tile(tile, threshold, r0, c0, cross)
                done += (r1 - r0) * (c1 - c0)
                if progress is not None:
                    progress(Progress("comparing", done, total, unit="pairs"))
        for i, j, s in cross:
            i, j = order[i], order[j]
            keep = i != j
            found.append((np.minimum(i, j)[keep], np.maximum(i, j)[keep], s[keep]))
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, dtype=np.float32)
    pi = np.concatenate([f[0] for f in found])
    pj = np.concatenate([f[1] for f in found])
    ps = np.minimum(np.concatenate([f[2] for f in found]), 1.0)
    if rotated is not None:  # a pair found more than once keeps its best similarity
        key = pi * n + pj
        order = np.lexsort((-ps, key))
        key, pi, pj, ps = key[order], pi[order], pj[order], ps[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        pi, pj, ps = pi[first], pj[first], ps[first]
    return pi, pj, ps


# -- complete linkage ----------------------------------------------------------------------------


def complete_linkage(
    n: int,
    pair_i: np.ndarray,
    pair_j: np.ndarray,
    pair_s: np.ndarray,
    threshold: float,
) -> list[list[int]]:
    """Groups (of 2+ indices) in which every pair has a listed similarity >= ``threshold``.

    Pairs not listed count as dissimilar (the caller lists every pair above its floor, and leaves
    out pairs that must never be grouped). Exact complete linkage (SciPy) inside each connected
    part of the graph; parts over ``DENSE_LINKAGE_LIMIT`` photos use a greedy variant that merges
    along the strongest pairs, under the same every-pair rule.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    keep = pair_s >= threshold
    pi, pj, ps = pair_i[keep], pair_j[keep], pair_s[keep]
    if len(pi) == 0:
        return []
    graph = coo_matrix((np.ones(len(pi), dtype=np.int8), (pi, pj)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    edge_label = labels[pi]
    order = np.argsort(edge_label, kind="stable")
    pi, pj, ps, edge_label = pi[order], pj[order], ps[order], edge_label[order]
    bounds = np.flatnonzero(np.diff(edge_label)) + 1
    groups: list[list[int]] = []
    for ei, ej, es in zip(np.split(pi, bounds), np.split(pj, bounds), np.split(ps, bounds)):
        nodes = np.unique(np.concatenate([ei, ej]))
        if len(nodes) == 2:
            groups.append([int(nodes[0]), int(nodes[1])])
        elif len(nodes) <= DENSE_LINKAGE_LIMIT:
            groups.extend(_dense_complete_linkage(nodes, ei, ej, es, threshold))
        else:
            groups.extend(_greedy_complete_linkage(ei, ej, es))
    return sorted((sorted(g) for g in groups), key=lambda g: g[0])


def _dense_complete_linkage(nodes, ei, ej, es, threshold) -> list[list[int]]:
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    m = len(nodes)
    local = {int(v): k for k, v in enumerate(nodes)}
    dist = np.full((m, m), 3.0)  # "not listed": farther than any cosine distance (max 2)
    a = np.fromiter((local[int(v)] for v in ei), dtype=np.int64, count=len(ei))
    b = np.fromiter((local[int(v)] for v in ej), dtype=np.int64, count=len(ej))
    d = np.clip(1.0 - es.astype(np.float64), 0.0, 2.0)
    dist[a, b] = d
    dist[b, a] = d
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="complete")
    labels = fcluster(tree, t=1.0 - threshold + 1e-6, criterion="distance")
    groups: dict[int, list[int]] = {}
    for k, label in enumerate(labels):
        groups.setdefault(int(label), []).append(int(nodes[k]))
    return [g for g in groups.values() if len(g) > 1]


def _greedy_complete_linkage(ei, ej, es) -> list[list[int]]:
    neighbours: dict[int, set[int]] = {}
    for a, b in zip(ei.tolist(), ej.tolist()):
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    cluster_of: dict[int, int] = {v: v for v in neighbours}
    members: dict[int, list[int]] = {v: [v] for v in neighbours}
    for k in np.argsort(-es, kind="stable"):
        ca, cb = cluster_of[int(ei[k])], cluster_of[int(ej[k])]
        if ca == cb:
            continue
        small, big = (ca, cb) if len(members[ca]) <= len(members[cb]) else (cb, ca)
        if all(members[big][0] in neighbours[x] and neighbours[x].issuperset(members[big])
               for x in members[small]):
            for x in members[small]:
                cluster_of[x] = big
            members[big].extend(members.pop(small))
    return [sorted(g) for g in members.values() if len(g) > 1]


# -- groups and the keep rule ---------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    photo_id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: bytes
    width: int | None
    height: int | None
    capture_time: float | None
    reference: bool = False  # in a reference folder: never moved
    similarity: float = 1.0  # to the kept copy (1.0 for it and for byte-identical copies)

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    @property
    def folder(self) -> str:
        return os.path.dirname(self.path)

    @property
    def date(self) -> float:
        """Capture time when the photo has one, else the file's modification time."""
        return self.capture_time if self.capture_time is not None else self.mtime_ns / 1e9


def parse_keep_rule(rule: str | Sequence[str] | None) -> tuple[str, ...]:
    if rule is None:
        return DEFAULT_KEEP_RULE
    items = [r.strip() for r in (rule.split(",") if isinstance(rule, str) else rule) if r.strip()]
    unknown = [r for r in items if r not in KEEP_CRITERIA]
    if unknown or not items:
        raise DuplicateError(
            f"unknown keep rule {', '.join(unknown) or '(empty)'}: use a comma-separated order of "
            f"{', '.join(KEEP_CRITERIA)}"
        )
    if "oldest" in items and "newest" in items:
        raise DuplicateError("a keep rule cannot ask for both the oldest and the newest copy")
    return tuple(dict.fromkeys(items))


def _criterion_key(member: Member, criterion: str):
    if criterion == "pixels":
        return -member.pixels
    if criterion == "size":
        return -member.size
    if criterion == "oldest":
        return member.date
    if criterion == "newest":
        return -member.date
    if criterion == "shortest_path":
        return len(member.path)
    raise AssertionError(criterion)


def _describe(member: Member, criterion: str) -> str:
    if criterion == "pixels":
        return f"{member.width}x{member.height}" if member.pixels else "size unknown"
    if criterion == "size":
        return format_bytes(member.size)
    if criterion in ("oldest", "newest"):
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(member.date))
        return when if member.capture_time is not None else f"no capture date; file time {when}"
    return member.path


def choose_keep(members: Sequence[Member], rule: Sequence[str] = DEFAULT_KEEP_RULE) -> tuple[Member, str]:
    """The member to keep by ``rule`` and the reason, in words ("largest pixel count (4000x3000)")."""
    pool = [m for m in members if m.reference] or list(members)
    ranked = sorted(pool, key=lambda m: tuple(_criterion_key(m, c) for c in rule) + (m.path,))
    best = ranked[0]
    prefix = "in a reference folder; " if best.reference and len(pool) < len(members) else ""
    if len(ranked) == 1:
        return best, "in a reference folder (never deleted)" if best.reference else "the only copy"
    runner_up = ranked[1]
    for criterion in rule:
        if _criterion_key(best, criterion) != _criterion_key(runner_up, criterion):
            detail = "" if criterion == "shortest_path" else f" ({_describe(best, criterion)})"
            return best, f"{prefix}{KEEP_CRITERIA[criterion]}{detail}"
    return best, f"{prefix}first by name (the copies tie on {', '.join(KEEP_CRITERIA[c] for c in rule)})"


@dataclass(frozen=True)
class DuplicateGroup:
    """Copies of one photo. ``members[0]`` is the one to keep; the others follow by similarity."""

    key: str  # stable id: a hash of the members' content hashes (journaled with each move)
    kind: str  # "exact": all byte-identical; "near": at least one edited copy
    members: tuple[Member, ...]
    keep: str  # path of the copy to keep
    reason: str  # why that one
    similarity: float  # the lowest similarity between any two members
    pair_similarity: tuple[tuple[float, ...], ...] = field(repr=False, default=())  # aligned with members

    @property
    def kept(self) -> Member:
        return next(m for m in self.members if m.path == self.keep)

    @property
    def extras(self) -> list[Member]:
        """The copies proposed for the Trash: not the kept one, none from a reference folder."""
        return [m for m in self.members if m.path != self.keep and not m.reference]

    @property
    def reclaimable_bytes(self) -> int:
        return sum(m.size for m in self.extras)

    @property
    def paths(self) -> list[str]:
        return [m.path for m in self.members]

    def with_keep(self, path: str) -> "DuplicateGroup":
        """The same group with another copy kept (the user's choice); similarities re-based on it."""
        index = next((k for k, m in enumerate(self.members) if m.path == path), None)
        if index is None:
            raise DuplicateError(f"{path} is not in this group")
        return _assemble(self.key, self.kind, list(self.members), self.pair_similarity, index,
                         "chosen by you")

    def to_json(self) -> dict:
        return {"keep": self.keep, "paths": self.paths}


def _assemble(key: str, kind: str, members: list[Member], sims, keep_index: int, reason: str
              ) -> DuplicateGroup:
    keep_sims = sims[keep_index]
    updated = [replace(m, similarity=float(keep_sims[k])) for k, m in enumerate(members)]
    order = sorted(range(len(members)),
                   key=lambda k: (k != keep_index, -updated[k].similarity, updated[k].path))
    lowest = min(min(row) for row in sims) if len(members) > 1 else 1.0
    return DuplicateGroup(
        key=key,
        kind=kind,
        members=tuple(updated[k] for k in order),
        keep=members[keep_index].path,
        reason=reason,
        similarity=float(lowest),
        pair_similarity=tuple(tuple(sims[a][b] for b in order) for a in order),
    )


def group_key(hashes: Iterable[bytes]) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for h in sorted(hashes):
        digest.update(h)
    return digest.hexdigest()


# -- dismissed pairs ("not a duplicate") ----------------------------------------------------------


def _pair(a: bytes, b: bytes) -> tuple[bytes, bytes]:
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
            pairs.add(_pair(hashes[x], hashes[y]))
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
    pairs = {_pair(hashes[x], hashes[y]) for x in range(len(hashes)) for y in range(x + 1, len(hashes))}
    with store.transaction():
        before = store.connection.total_changes
        store.connection.executemany(
            "DELETE FROM dismissed_pairs WHERE hash_a = ? AND hash_b = ?", sorted(pairs))
        return store.connection.total_changes - before


# -- the scan -------------------------------------------------------------------------------------


def all_photos(store: Store) -> list[Member]:
    rows = store.connection.execute(
        "SELECT id, path, size, mtime_ns, content_hash, width, height, capture_time "
        "FROM photos ORDER BY id"
    ).fetchall()
    return [Member(r[0], decode_path(r[1]), r[2], r[3], bytes(r[4]), r[5], r[6], r[7]) for r in rows]


@dataclass
class DuplicateScan:
    """Candidate pairs of one scan; ``groups(threshold)`` groups them at any threshold >= ``floor``."""

    photos: list[Member]
    pair_i: np.ndarray  # indexes into photos, i < j
    pair_j: np.ndarray
    pair_s: np.ndarray
    floor: float
    threshold: float  # the one asked for (the default groups() uses)
    model: str
    descriptor: str  # what the similarities were measured on, for reports
    dismissed: set[tuple[bytes, bytes]]
    not_compared: int = 0  # photos without a descriptor: only exact copies of them are found
    seconds: float = 0.0

    def groups(
        self,
        threshold: float | None = None,
        *,
        keep_rule: Sequence[str] = DEFAULT_KEEP_RULE,
        reference_folders: Sequence[str] = (),
        separate_shots: bool = True,
    ) -> list[DuplicateGroup]:
        """Duplicate groups at ``threshold``, largest reclaimable size first.

        ``separate_shots``: two photos whose capture times (EXIF) are both known and differ are
        different exposures (a burst, a series), never copies of each other; a whole number of
        quarter hours apart counts as the same moment (a time-zone fix in an editor). Copies made by
        editing keep the original's capture time or have none.
        """
        threshold = self.threshold if threshold is None else float(threshold)
        if threshold < self.floor - 1e-9:
            raise DuplicateError(
                f"this scan kept pairs down to {self.floor:.2f}; scan again for threshold {threshold:.2f}"
            )
        keep_rule = parse_keep_rule(keep_rule)
        hashes = [p.content_hash for p in self.photos]
        allowed = np.ones(len(self.pair_i), dtype=bool)
        if self.dismissed:  # only pairs between photos named in some mark need a look
            marked = {h for pair in self.dismissed for h in pair}
            involved = np.fromiter((h in marked for h in hashes), dtype=bool, count=len(hashes))
            for k in np.flatnonzero(involved[self.pair_i] & involved[self.pair_j]):
                a, b = int(self.pair_i[k]), int(self.pair_j[k])
                allowed[k] = _pair(hashes[a], hashes[b]) not in self.dismissed
        if separate_shots and len(self.pair_i):
            when = np.array([np.nan if p.capture_time is None else p.capture_time for p in self.photos])
            gap = np.abs(when[self.pair_i] - when[self.pair_j])
            off = np.abs(gap - np.round(gap / 900.0) * 900.0)  # distance to a whole quarter hour
            different = np.isfinite(gap) & (gap > SAME_MOMENT_S) & (off > SAME_MOMENT_S)
            allowed &= ~different
        pi, pj, ps = self.pair_i[allowed], self.pair_j[allowed], self.pair_s[allowed]
        clusters = complete_linkage(len(self.photos), pi, pj, ps, threshold)
        cluster_of = np.full(len(self.photos), -1, dtype=np.int64)
        for number, cluster in enumerate(clusters):
            cluster_of[cluster] = number
        inside = (cluster_of[pi] >= 0) & (cluster_of[pi] == cluster_of[pj]) & (ps >= threshold)
        lookup = {(int(a), int(b)): float(s) for a, b, s in zip(pi[inside], pj[inside], ps[inside])}
        result = []
        for cluster in clusters:
            members = [replace(self.photos[k], reference=under_any(self.photos[k].path, reference_folders))
                       for k in cluster]
            sims = [[1.0 if a == b else lookup[(min(a, b), max(a, b))] for b in cluster] for a in cluster]
            keep, reason = choose_keep(members, keep_rule)
            kind = "exact" if len({m.content_hash for m in members}) == 1 else "near"
            result.append(_assemble(group_key(m.content_hash for m in members), kind, members, sims,
                                    members.index(keep), reason))
        result.sort(key=lambda g: (-g.reclaimable_bytes, g.keep))
        return result


def scan(
    store: Store,
    vectors,
    *,
    threshold: float,
    floor: float | None = None,
    model: str = "",
    descriptor: str = "",
    whiten: bool = True,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> DuplicateScan:
    """Find candidate pairs among the library's photos.

    ``vectors`` is (photo ids, upright vectors, rotated vectors or None), raw (not normalised), or
    a function that returns that tuple; the rotated vectors may themselves be a function that loads
    them (aligned with the ids). With loaders, only one raw matrix is in memory at a time.
    ``None`` finds byte-identical copies only. Progress phases: "loading", "comparing" (pairs),
    "grouping". Setting ``cancel`` raises ``Cancelled``. Pairs are kept down to ``floor`` (default:
    the threshold minus ``FLOOR_MARGIN``, not below the slider's minimum).
    """
    started = time.monotonic()
    if not -1.0 <= threshold <= 1.0:
        raise DuplicateError(f"the threshold is a similarity between -1 and 1, not {threshold}")
    floor = min(threshold, max(SLIDER_MIN, threshold - FLOOR_MARGIN)) if floor is None else min(floor, threshold)
    floor = round(floor, 6)
    photos = all_photos(store)
    index_of = {p.photo_id: k for k, p in enumerate(photos)}
    pieces_i, pieces_j, pieces_s = [], [], []

    # Byte-identical copies, from the hashes alone.
    by_hash: dict[bytes, list[int]] = {}
    for k, p in enumerate(photos):
        by_hash.setdefault(p.content_hash, []).append(k)
    for ks in by_hash.values():
        for x in range(len(ks)):
            for y in range(x + 1, len(ks)):
                pieces_i.append(np.array([ks[x]]))
                pieces_j.append(np.array([ks[y]]))
                pieces_s.append(np.array([1.0], dtype=np.float32))

    not_compared = len(photos)
    if callable(vectors):
        vectors = vectors()
    if vectors is not None and len(vectors[0]) > 1:
        ids, upright, rotated = vectors
        del vectors  # with a loader, the raw matrices are freed as soon as they are whitened
        # One row per distinct content among the library's photos: byte-identical copies are
        # already paired above; rows of photos no longer in the library are dropped.
        seen: dict[bytes, int] = {}
        rows_list = []
        for k, i in enumerate(ids.tolist()):
            r = index_of.get(int(i))
            if r is not None and photos[r].content_hash not in seen:
                seen[photos[r].content_hash] = k
                rows_list.append(r)
        take = np.fromiter(seen.values(), dtype=np.int64, count=len(seen))
        rows = np.array(rows_list, dtype=np.int64)
        covered = {photos[r].content_hash for r in rows_list}
        not_compared = sum(1 for p in photos if p.content_hash not in covered)
        whole = len(take) == len(ids) and bool(np.all(take == np.arange(len(ids))))
        if not whole:
            upright = upright[take]
        if progress:
            progress(Progress("loading", 0, len(rows)))
        whitening = Whitening.fit(upright) if whiten else None

        def prepared(raw: np.ndarray) -> np.ndarray:
            return whitening.apply(raw) if whitening is not None else l2_normalize(raw.astype(np.float32))

        a = prepared(upright)
        del upright
        r = None
        if rotated is not None:
            if callable(rotated):  # loaded only now, to hold one raw matrix at a time
                rotated = rotated()
            r = prepared(rotated if whole else rotated[take])
            del rotated
        aspects = np.array([(photos[k].width or 1) / (photos[k].height or 1) for k in rows.tolist()])
        li, lj, ls = similar_pairs(a, floor, r, aspects, cancel=cancel, progress=progress)
        # Map back to photos, and give each byte-identical copy the pairs of its content.
        gi, gj = rows[li], rows[lj]
        pieces_i.append(gi)
        pieces_j.append(gj)
        pieces_s.append(ls)
        copies = {k: ks for ks in by_hash.values() if len(ks) > 1 for k in ks}
        if copies and len(gi):
            extra_i, extra_j, extra_s = [], [], []
            for a_, b_, s_ in zip(gi.tolist(), gj.tolist(), ls.tolist()):
                for x in copies.get(a_, [a_]):
                    for y in copies.get(b_, [b_]):
                        if (x, y) != (a_, b_):
                            extra_i.append(x)
                            extra_j.append(y)
                            extra_s.append(s_)
            pieces_i.append(np.array(extra_i, dtype=np.int64))
            pieces_j.append(np.array(extra_j, dtype=np.int64))
            pieces_s.append(np.array(extra_s, dtype=np.float32))
    if progress:
        progress(Progress("grouping", 0, 1))
    if pieces_i:
        pi = np.concatenate(pieces_i).astype(np.int64)
        pj = np.concatenate(pieces_j).astype(np.int64)
        ps = np.concatenate(pieces_s).astype(np.float32)
        lo, hi = np.minimum(pi, pj), np.maximum(pi, pj)
    else:
        lo = hi = np.zeros(0, dtype=np.int64)
        ps = np.zeros(0, dtype=np.float32)
    return DuplicateScan(
        photos=photos, pair_i=lo, pair_j=hi, pair_s=ps, floor=floor, threshold=threshold,
        model=model, descriptor=descriptor, dismissed=dismissed_pairs(store),
        not_compared=not_compared, seconds=time.monotonic() - started,
    )


def hashes_of(store: Store, paths: Sequence[str]) -> list[bytes]:
    """Content hashes of library photos by path; DuplicateError names any path not in the library."""
    found = []
    for path in paths:
        row = store.connection.execute(
            "SELECT content_hash FROM photos WHERE path = ?", (encode_path(os.path.abspath(path)),)
        ).fetchone()
        if row is None:
            raise DuplicateError(f"{path} is not a photo of this library")
        found.append(bytes(row[0]))
    return found
