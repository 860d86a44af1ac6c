"""Candidate pairs for the duplicate scan: whitened descriptors compared all against all.

Every photo's duplicate descriptor (see ``descriptors``) is PCA-whitened with a whitening fitted
on this library, so that what all photos of a kind share counts little and what makes one photo
itself counts a lot. All pairs are compared with blocked matrix products (tiles of 2048 x 2048,
never an N x N matrix); each photo keeps its few most similar above a floor (``nearest_pairs``),
updated tile by tile, so a low floor costs no more than a high one: a sparse graph. These are only
candidates: the verification (``verify``) decides which are copies, so the whitening's dependence
on the library changes which pairs are looked at, not what is accepted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from simdesk.core.pooling import l2_normalize
from simdesk.core.progress import check

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


# -- the tiles of all pairs -------------------------------------------------------------------------


def _upright_tiles(vectors, block, cancel):
    """Upright against upright: the upper triangle, tile by tile (the diagonal tile: j > i only)."""
    n = len(vectors)
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        rows_up = vectors[r0:r1]
        for c0 in range(r0, n, block):
            check(cancel)
            c1 = min(n, c0 + block)
            tile = rows_up @ vectors[c0:c1].T
            if c0 == r0:
                tile[np.tril_indices(r1 - r0, 0, c1 - c0)] = -np.inf
            yield tile, np.arange(r0, r1), np.arange(c0, c1)


def _turned_ranges(sorted_la, n, block, aspect_tolerance):
    """For each block of rows (photos sorted by log aspect), the columns whose aspect is its inverse."""
    ranges = []
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        lo, hi = sorted_la[r0], sorted_la[r1 - 1]
        c_start = int(np.searchsorted(sorted_la, -hi - aspect_tolerance, side="left"))
        c_end = int(np.searchsorted(sorted_la, -lo + aspect_tolerance, side="right"))
        ranges.append((r0, r1, c_start, c_end))
    return ranges


def _turned_tiles(up_sorted, rot_sorted, sorted_la, order, ranges, block, aspect_tolerance, cancel):
    """Upright against turned, for aspect-compatible pairs, in both directions (the full matrix);
    a photo is never compared with itself turned."""
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
            same = np.arange(max(r0, c0), min(r1, c1))
            tile[same - r0, same - c0] = -np.inf
            yield tile, order[r0:r1], order[c0:c1]


def _all_tiles(vectors, rotated, aspects, aspect_tolerance, block, cancel, progress):
    """Every comparison the scan makes, as (tile of similarities, row photos, column photos).

    An entry is one comparison of the pair (row, column): its similarity is the best of them. Left
    out (-inf): the lower triangle of upright tiles, turned comparisons between photos whose aspect
    ratios are not each other's inverse, a photo against itself. Memory: a tile at a time.
    """
    n = len(vectors)
    tiles = [_upright_tiles(vectors, block, cancel)]
    total = sum((n - r0) * min(block, n - r0) for r0 in range(0, n, block))
    if rotated is not None:
        if rotated.shape != vectors.shape:
            raise ValueError("rotated vectors must have the shape of the upright ones")
        log_aspect = (np.log(np.clip(np.asarray(aspects, dtype=np.float64), 1e-3, 1e3))
                      if aspects is not None else np.zeros(n))
        order = np.argsort(log_aspect, kind="stable")
        sorted_la = log_aspect[order]
        ranges = _turned_ranges(sorted_la, n, block, aspect_tolerance)
        total += sum((r1 - r0) * max(0, c_end - c_start) for r0, r1, c_start, c_end in ranges)
        tiles.append(_turned_tiles(vectors[order], rotated[order], sorted_la, order, ranges, block,
                                   aspect_tolerance, cancel))
    done = 0
    for tile, rows, cols in (t for part in tiles for t in part):
        yield tile, rows, cols
        done += tile.size
        if progress is not None:
            progress(done, total)


def _prepared(vectors, rotated):
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if rotated is not None:
        rotated = np.ascontiguousarray(rotated, dtype=np.float32)
    return vectors, rotated


def _no_pairs():
    empty = np.zeros(0, dtype=np.int64)
    return empty, empty.copy(), np.zeros(0, dtype=np.float32)


# -- all pairs above a threshold -----------------------------------------------------------------


def similar_pairs(
    vectors: np.ndarray,
    threshold: float,
    rotated: np.ndarray | None = None,
    aspects: np.ndarray | None = None,
    *,
    aspect_tolerance: float = ROTATION_ASPECT_TOLERANCE,
    block: int = 2048,
    cancel: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i < j) whose cosine similarity is >= ``threshold``: (i, j, similarity) arrays.

    ``vectors`` must be L2-normalised rows. With ``rotated`` (the same photos turned 90 degrees,
    normalised the same way), a pair's similarity is the best of upright-upright and either photo
    upright against the other turned, so a copy rotated by 90 or 270 degrees matches. A turned copy
    has its width and height swapped, so with ``aspects`` (width / height of each photo) the turned
    comparison only runs between photos whose aspect ratios are each other's inverse within
    ``aspect_tolerance`` (in log ratio): a landscape photo is compared turned with portrait and
    square photos only, which skips most of that work in a real library.

    All pairs by blocked matrix products: memory stays at a few ``block x block`` tiles plus the
    pairs found, whatever N. The duplicate scan wants each photo's nearest instead: ``nearest_pairs``.
    """
    vectors, rotated = _prepared(vectors, rotated)
    found = [pairs_in_tile(tile, rows, cols, threshold)
             for tile, rows, cols in _all_tiles(vectors, rotated, aspects, aspect_tolerance, block, cancel, progress)]
    found = [f for f in found if len(f[0])]
    if not found:
        return _no_pairs()
    pi, pj, ps = (np.concatenate([f[k] for f in found]) for k in range(3))
    ps = np.minimum(ps, 1.0)
    if rotated is not None:  # a pair found more than once keeps its best similarity
        pi, pj, ps = best_of_each_pair(pi, pj, ps, len(vectors))
    return pi, pj, ps


def pairs_in_tile(tile: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (i < j, similarity) entries of one tile of similarities at or above ``threshold``."""
    hit = np.flatnonzero(tile.max(axis=1) >= threshold)
    if not hit.size:
        return _no_pairs()
    sub = tile[hit]
    ri, cj = np.nonzero(sub >= threshold)
    a, b = rows[hit[ri]], cols[cj]
    return np.minimum(a, b), np.maximum(a, b), sub[ri, cj].astype(np.float32)


def best_of_each_pair(pi: np.ndarray, pj: np.ndarray, ps: np.ndarray,
                      n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pair once, with its best similarity, ordered by (i, j) (``n``: the photo count)."""
    key = pi * n + pj
    order = np.lexsort((-ps, key))
    key, pi, pj, ps = key[order], pi[order], pj[order], ps[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return pi[first], pj[first], ps[first]


# -- each photo's nearest ------------------------------------------------------------------------


def _hits(tile: np.ndarray, bound: np.ndarray, k: int, axis: int, scratch: np.ndarray):
    """Flat indexes (into ``tile``) of the entries that may enter the ``k`` nearest of their photo
    along ``axis`` (1: the row's photo, 0: the column's): at least that photo's bound, and among
    its ``k`` best in this tile (ties included: the final ranking breaks them)."""
    h, w = tile.shape
    bound = bound[:, None] if axis == 1 else bound[None, :]
    hit = np.greater_equal(tile, bound, out=scratch[:h * w].reshape(h, w))  # no allocation a tile
    flat = np.flatnonzero(hit)
    owner = flat // w if axis == 1 else flat % w
    busy = np.flatnonzero(np.bincount(owner, minlength=tile.shape[1 - axis]) > k)
    if not busy.size:
        return flat
    # A low bound (a photo seen little so far): keep only its k best in this tile.
    part = tile[busy] if axis == 1 else tile[:, busy].T
    kth = np.minimum(np.partition(part, part.shape[1] - k, axis=1)[:, -k], 1.0)  # ranked capped at 1
    cut = np.full(tile.shape[1 - axis], -np.inf, dtype=np.float32)
    cut[busy] = kth
    return flat[tile.ravel()[flat] >= cut[owner]]


class _NearestSoFar:
    """Each photo's ``k`` most similar photos among the comparisons offered so far: (N, k) scores,
    best first, and the other photo (-1: an empty place).

    A photo's candidates rank by similarity, then ties as the scan always ranked them: the photos
    after it (by index) before those before it, each in index order. A pair offered more than once
    (upright and turned) counts at its best. Whatever a tile holds below a photo's ``k``-th score so
    far (or the floor) can never enter its list, so each tile gives up only a few entries.
    """

    def __init__(self, n: int, k: int, floor: float):
        self.n, self.k, self.floor = n, k, floor
        self.score = np.full((n, k), -np.inf, dtype=np.float32)
        self.other = np.full((n, k), -1, dtype=np.int64)
        self.bound = np.full(n, floor, dtype=np.float32)
        self._scratch = np.empty(0, dtype=bool)

    def offer_tile(self, tile: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
        if self._scratch.size < tile.size:
            self._scratch = np.empty(tile.size, dtype=bool)
        by_row = _hits(tile, self.bound[rows], self.k, 1, self._scratch)
        by_col = _hits(tile, self.bound[cols], self.k, 0, self._scratch)
        w = tile.shape[1]
        node = np.concatenate([rows[by_row // w], cols[by_col % w]])
        other = np.concatenate([cols[by_row % w], rows[by_col // w]])
        self._merge(node, other, tile.ravel()[np.concatenate([by_row, by_col])])

    def _merge(self, node: np.ndarray, other: np.ndarray, score: np.ndarray) -> None:
        if not len(node):
            return
        touched = np.unique(node)
        held = self.other[touched].ravel() >= 0
        node = np.concatenate([np.repeat(touched, self.k)[held], node])
        other = np.concatenate([self.other[touched].ravel()[held], other])
        score = np.concatenate([self.score[touched].ravel()[held], np.minimum(score, 1.0)])
        best = np.lexsort((-score, other, node))  # each (photo, other) at its best similarity
        node, other, score = node[best], other[best], score[best]
        first = np.r_[True, (node[1:] != node[:-1]) | (other[1:] != other[:-1])]
        node, other, score = node[first], other[first], score[first]
        ranked = np.lexsort((other, other < node, -score, node))
        node, other, score = node[ranked], other[ranked], score[ranked]
        starts = np.flatnonzero(np.r_[True, node[1:] != node[:-1]])
        rank = np.arange(len(node)) - np.repeat(starts, np.diff(np.r_[starts, len(node)]))
        kept = rank < self.k
        self.score[touched], self.other[touched] = -np.inf, -1
        self.score[node[kept], rank[kept]] = score[kept]
        self.other[node[kept], rank[kept]] = other[kept]
        self.bound[touched] = np.maximum(self.score[touched, -1], self.floor)

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pairs in anyone's list, (i < j) in order, each once."""
        node = np.repeat(np.arange(self.n), self.k)
        other, score = self.other.ravel(), self.score.ravel()
        held = other >= 0
        i, j = np.minimum(node, other)[held], np.maximum(node, other)[held]
        _, first = np.unique(i * self.n + j, return_index=True)
        return i[first], j[first], score[held][first]


def nearest_pairs(
    vectors: np.ndarray,
    floor: float,
    per_photo: int,
    rotated: np.ndarray | None = None,
    aspects: np.ndarray | None = None,
    *,
    aspect_tolerance: float = ROTATION_ASPECT_TOLERANCE,
    block: int = 2048,
    cancel: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs (i < j) among the ``per_photo`` most similar of either photo, with similarity >=
    ``floor``: (i, j, similarity) arrays, ordered by (i, j). Similarities as ``similar_pairs``
    measures them (turned views, aspects, capped at 1); ties rank as ``_NearestSoFar`` says.

    The same tiles as ``similar_pairs``, but each tile only updates every photo's running list of
    its nearest, so neither time nor memory grows with how many pairs pass a low floor: memory is
    a tile plus (N, per_photo) arrays.
    """
    vectors, rotated = _prepared(vectors, rotated)
    if per_photo < 1 or len(vectors) < 2:
        return _no_pairs()
    nearest = _NearestSoFar(len(vectors), per_photo, floor)
    for tile, rows, cols in _all_tiles(vectors, rotated, aspects, aspect_tolerance, block, cancel, progress):
        nearest.offer_tile(tile, rows, cols)
    return nearest.pairs()
