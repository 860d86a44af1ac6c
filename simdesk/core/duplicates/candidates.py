"""Candidate pairs for the duplicate scan: whitened descriptors compared all against all.

Every photo's duplicate descriptor (see ``descriptors``) is PCA-whitened with a whitening fitted
on this library, so that what all photos of a kind share counts little and what makes one photo
itself counts a lot. All pairs are compared with blocked matrix products (tiles of 2048 x 2048,
never an N x N matrix) and the pairs above a floor are kept: a sparse graph. These are only
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


# -- all pairs above a threshold -----------------------------------------------------------------


def _threshold_tile(tile: np.ndarray, threshold: float, row0: int, col0: int, out: list) -> None:
    rows = np.flatnonzero(tile.max(axis=1) >= threshold)
    if rows.size:
        sub = tile[rows]
        ri, cj = np.nonzero(sub >= threshold)
        out.append(((rows[ri] + row0).astype(np.int64), (cj + col0).astype(np.int64),
                    sub[ri, cj].astype(np.float32)))


# Pairs kept before they are pruned to each photo's most similar (about 16 bytes a pair).
PRUNE_AT = 4_000_000


def top_candidates(i: np.ndarray, j: np.ndarray, s: np.ndarray, per_photo: int) -> np.ndarray:
    """Mask of the pairs that are among the ``per_photo`` most similar of either photo."""
    if len(i) == 0:
        return np.zeros(0, dtype=bool)
    node = np.concatenate([i, j])
    edge = np.concatenate([np.arange(len(i)), np.arange(len(i))])
    order = np.lexsort((-np.concatenate([s, s]), node))
    node, edge = node[order], edge[order]
    starts = np.flatnonzero(np.r_[True, node[1:] != node[:-1]])
    rank = np.arange(len(node)) - np.repeat(starts, np.diff(np.r_[starts, len(node)]))
    keep = np.zeros(len(i), dtype=bool)
    keep[edge[rank < per_photo]] = True
    return keep


def _pruned(found: list, per_photo: int) -> list:
    """``found`` as one piece of the pairs among each photo's most similar, once it is large."""
    if sum(len(piece[0]) for piece in found) <= PRUNE_AT:
        return found
    i, j, s = (np.concatenate([piece[k] for piece in found]) for k in range(3))
    keep = top_candidates(i, j, s, per_photo)
    return [(i[keep], j[keep], s[keep])]


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
    per_photo: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i < j) whose cosine similarity is >= ``threshold``: (i, j, similarity) arrays.

    ``per_photo``: only the pairs among the ``per_photo`` most similar of either photo are needed
    (``top_candidates``); the pairs found are then pruned to those whenever they grow past
    ``PRUNE_AT``, so memory stays bounded at a low threshold in a large library. Pruning a part
    never drops a pair the whole would keep: a pair's rank among a photo's pairs can only be
    better in a part of them.

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
            if per_photo is not None:
                found = _pruned(found, per_photo)
            done += (r1 - r0) * (c1 - c0)
            if progress is not None:
                progress(done, total)
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
                if per_photo is not None:
                    cross = _pruned(cross, per_photo)  # sorted order is a relabelling: still safe
                done += (r1 - r0) * (c1 - c0)
                if progress is not None:
                    progress(done, total)
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
