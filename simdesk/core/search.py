"""Exact cosine k-nearest-neighbour search over the library's embeddings, held in memory.

One matrix-vector product over L2-normalised float32 vectors plus a partial sort: exact, and
faster than scikit-learn's brute-force NearestNeighbors at photo-library sizes.
"""

from __future__ import annotations

import numpy as np

from simdesk.core.pooling import l2_normalize


class EmbeddingIndex:
    """Vectors of many photos, searchable by cosine similarity.

    Parameters
    ----------
    ids : (N,) int array
        Photo ids, one per row of ``vectors``.
    vectors : (N, D) float array
        Embeddings; normalised here, so callers can pass raw pooled vectors.
    center : bool
        Subtract the collection's mean direction before comparing. What every photo of a
        collection shares then stops counting as similarity: on imagenette-val mAP rises from
        0.820 to 0.851, on animals from 0.875 to 0.920 (EfficientNet-Lite0, avg pooling). Only
        applied from ``MIN_TO_CENTER`` photos on: the mean of a handful is not a stable estimate.
    """

    MIN_TO_CENTER = 32

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, center: bool = False):
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors must have the same length")
        self.ids = np.asarray(ids, dtype=np.int64)
        unit = l2_normalize(np.asarray(vectors, dtype=np.float32))
        self.mean_ = None
        if center and len(unit) >= self.MIN_TO_CENTER:
            self.mean_ = unit.mean(axis=0)
            unit = l2_normalize(unit - self.mean_)
        self.vectors = np.ascontiguousarray(unit)

    def transform(self, vector: np.ndarray) -> np.ndarray:
        """A raw vector (e.g. of a photo outside the library) as this index compares it."""
        unit = l2_normalize(np.asarray(vector, dtype=np.float32).reshape(-1))
        return unit if self.mean_ is None else l2_normalize(unit - self.mean_)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def vector_of(self, photo_id: int) -> np.ndarray | None:
        rows = np.flatnonzero(self.ids == photo_id)
        return self.vectors[rows[0]] if len(rows) else None

    def query(self, vector: np.ndarray, k: int, exclude_ids: tuple[int, ...] = (),
              transformed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar photos: (ids, cosine similarities), most similar first.

        ``vector`` is a raw embedding, or one from ``vector_of``/``transform`` if ``transformed``.
        """
        if k <= 0 or len(self) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise ValueError(f"query has {query.shape[0]} dimensions, the index {self.dim}")
        if not transformed:
            query = self.transform(query)
        sims = self.vectors @ query
        if exclude_ids:
            sims[np.isin(self.ids, exclude_ids)] = -np.inf
        k = min(k, int(np.isfinite(sims).sum()))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        # Stable order: by similarity, then by id, so equal scores come out the same every time.
        order = np.lexsort((self.ids[top], -sims[top]))
        top = top[order]
        return self.ids[top], np.clip(sims[top], -1.0, 1.0)
