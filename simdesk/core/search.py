"""Cosine k-nearest-neighbour search over the library's embeddings, held in memory.

Small libraries: one matrix-vector product over L2-normalised float32 vectors plus a partial
sort, exact. Large ones (``COARSE_FROM`` photos on): a query reads the whole matrix, so it is
memory-bound (100,000 x 2048 floats is 800 MB, ~85 ms here); a first pass over a PCA projection
to ``COARSE_DIMS`` dimensions picks candidates, and the candidates are then scored with the full
vectors. Only a photo whose projection ranks it below the candidate cut can be missed (recall@10
is measured by bench_search.py). Large libraries keep their vectors as bfloat16 (the top half of
each float32), half the memory: 4 GB instead of 8 at a million 2048-d vectors. Candidates are
widened back to float32 and scored there; a similarity is off by at most about 0.002 (typically
1e-4). bfloat16 is ml_dtypes' dtype (a dependency of onnx); NumPy widens float16 several times
slower than it widens bfloat16.

The library fills an index from the store a slice at a time (``from_slices``): the float16 rows
wait, bit for bit, in the index's own array while the centring mean is summed, then become unit
rows in place, so loading holds the index and one slice, not a float32 matrix beside it.
"""

from __future__ import annotations

import sys

import numpy as np
from ml_dtypes import bfloat16

from simdesk.core.pooling import l2_normalize

# Which uint16 of a float32 holds its top half (a bfloat16's bits).
_TOP_HALF = 1 if sys.byteorder == "little" else 0


class EmbeddingIndex:
    """Vectors of many photos, searchable by cosine similarity.

    Parameters
    ----------
    ids : (N,) int array
        Photo ids, one per row of ``vectors``.
    vectors : (N, D) float array
        Embeddings; normalised here, so callers can pass raw pooled vectors.
    coarse : bool or None
        Rank candidates on a PCA projection first (see the module docstring); None decides by
        size.
    center : bool
        Subtract the collection's mean direction before comparing. What every photo of a
        collection shares then stops counting as similarity: on imagenette-val mAP rises from
        0.820 to 0.851, on animals from 0.875 to 0.920 (EfficientNet-Lite0, avg pooling). Only
        applied from ``MIN_TO_CENTER`` photos on: the mean of a handful is not a stable estimate.
    """

    MIN_TO_CENTER = 32
    # Query expansion (``query(expand=n)``): from this many photos searched on; with fewer, the
    # n nearest are a large share of everything and averaging them blurs the query.
    MIN_TO_EXPAND = 32
    # ... and the nearest photos that keep their place at the top, in their order: ranked by
    # expansion alone, the other shot of the same room (near-dup-rooms mixed into animals) came
    # first for 17 % of the photos instead of 78 %; keeping 5 costs nothing in P@30.
    EXPAND_KEEPS = 5
    COARSE_FROM = 30_000
    COARSE_DIMS = 128
    # Candidates scored with the full vectors: 2 % of the library. Measured on real embeddings
    # (imagenette-val and animals, EfficientNet-Lite0, 128 dimensions), 2 % keeps recall@10 at
    # 1.000; 1 % gave 0.996.
    CANDIDATE_SHARE = 0.02
    PCA_SAMPLE = 20_000
    # Rows per step when a pass over all vectors needs float32 temporaries: a few of this many
    # rows at once, small next to the index itself.
    SLICE_ROWS = 8192
    # Candidates widened at a time: 8 MB of float32 at 2048 dimensions. Blocks that stay in the
    # cache re-score faster than 32 MB ones (bench_search.py --cut-before times both).
    RESCORE_ROWS = 1024
    # The candidates' cut: estimated on every 16th approximate score, set to let through about
    # a tenth more rows than asked for (the estimate's spread is a few percent at a million).
    CUT_SAMPLE_STRIDE = 16
    CUT_MARGIN = 1.1

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, center: bool = False,
                 coarse: bool | None = None):
        ids, vectors = np.asarray(ids), np.asarray(vectors)
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors must have the same length")
        step = self.SLICE_ROWS

        def matrix_slices():
            return ((ids[s : s + step], vectors[s : s + step]) for s in range(0, len(ids), step))

        self._build(len(vectors), vectors.shape[1], matrix_slices, center, coarse)

    @classmethod
    def from_slices(cls, count: int, dim: int, read_slices, center: bool = False,
                    coarse: bool | None = None) -> "EmbeddingIndex":
        """An index filled straight from slices of rows, e.g. the store's float16 vectors a few
        thousand at a time: nothing but the index and one slice is ever held.

        ``read_slices()`` returns an iterable of (ids, raw vectors) pairs, ``count`` rows of
        ``dim`` in all. It is called once, or a second time where the raw rows cannot wait
        inside the index's own array while the mean is computed (float32 rows going to
        bfloat16 storage); the second reading must give the same rows.
        """
        index = cls.__new__(cls)
        index._build(count, dim, read_slices, center, coarse)
        return index

    def _build(self, count: int, dim: int, read_slices, center: bool, coarse: bool | None) -> None:
        if coarse is None:  # automatic: only where a full scan is slow
            coarse = count >= self.COARSE_FROM
        coarse = coarse and dim > self.COARSE_DIMS and count > self.COARSE_DIMS
        self.mean_ = None
        self._half = bool(coarse)  # stored as bfloat16
        self.ids = np.empty(count, dtype=np.int64)
        self._data = np.empty((count, dim), dtype=bfloat16 if self._half else np.float32)
        raw = self._source_rows(read_slices())
        if center and count >= self.MIN_TO_CENTER:
            # The mean must be known before any row is centred: a first pass sums the unit rows
            # and leaves the raw ones in the index's array, the second turns them into unit rows.
            self.mean_, stashed = self._mean_of_unit_rows(raw)
            raw = self._stashed_rows() if stashed else self._source_rows(read_slices())
        self._write_unit_rows(raw)
        self._coarse = None
        if coarse:
            self._build_coarse()

    def _source_rows(self, slices):
        """(start row, raw rows) of each slice, its ids written down; the slices must add up."""
        start = 0
        for ids, rows in slices:
            stop = start + len(rows)
            if len(ids) != len(rows) or stop > len(self) or rows.shape[1:] != (self.dim,):
                raise ValueError(f"slices do not fit an index of {len(self)} x {self.dim}")
            self.ids[start:stop] = ids
            yield start, rows
            start = stop
        if start != len(self):
            raise ValueError(f"slices brought {start} rows, the index has {len(self)}")

    def _mean_of_unit_rows(self, raw) -> tuple[np.ndarray, bool]:
        """The mean of the L2-normalised rows; and whether every raw row was kept (stashed) in
        the index's array on the way, so that they need not be read again."""
        total = np.zeros(self.dim, dtype=np.float64)
        stashed = True
        for start, rows in raw:
            total += l2_normalize(rows.astype(np.float32)).sum(axis=0, dtype=np.float64)
            stashed = self._stash(start, rows) and stashed
        return (total / len(self)).astype(np.float32), stashed

    def _stash(self, start: int, rows: np.ndarray) -> bool:
        """Keep raw rows where their unit rows will go, where they fit without loss: float32
        storage holds whatever astype(float32) makes of them; bfloat16 storage holds the bits of
        float16 rows (the store's), both 16 bits wide."""
        stop = start + len(rows)
        if not self._half:
            self._data[start:stop] = rows
        elif rows.dtype == np.float16:
            self._data[start:stop].view(np.uint16)[:] = rows.view(np.uint16)
        else:
            return False
        return True

    def _stashed_rows(self):
        """The rows ``_stash`` kept, a slice at a time, as they came."""
        for start in range(0, len(self), self.SLICE_ROWS):
            rows = self._data[start : start + self.SLICE_ROWS]
            yield start, rows.view(np.float16) if self._half else rows

    def _write_unit_rows(self, raw) -> None:
        """Each slice of raw rows L2-normalised (and centred) into the index's array.

        Slice-sized float32 temporaries only: at a million 2048-d vectors the whole-array way
        (cast, normalise, subtract, normalise again) would hold three 8 GB copies at once.
        """
        for start, rows in raw:
            part = l2_normalize(rows.astype(np.float32))  # a copy: ``rows`` may be the stash
            if self.mean_ is not None:
                part = l2_normalize(part - self.mean_)
            self._data[start : start + len(part)] = part  # rounds to nearest even when bfloat16

    @property
    def storage(self) -> str:
        return "bfloat16" if self._half else "float32"

    def unit_vectors(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``start:stop`` as the index compares them (unit length, centred), in float32."""
        return self._widen(self._data[start:stop])

    def _widen(self, stored: np.ndarray) -> np.ndarray:
        """Stored rows as float32."""
        return stored.astype(np.float32) if self._half else stored

    def _rows_as_float32(self):
        """The vectors a slice at a time, as float32: (start, array) pairs."""
        for start in range(0, len(self), self.SLICE_ROWS):
            yield start, self.unit_vectors(start, start + self.SLICE_ROWS)

    def _scores(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Similarities of the stored ``rows`` to ``query``, in float32.

        bfloat16 rows are widened a block at a time by copying their bits into the top halves of
        a zeroed float32 block (a bfloat16 is the top half of a float32): the same values as
        astype, but at a million photos it cut re-scoring the 20,000 candidates by a fifth.
        """
        if not self._half:
            return self._data[rows] @ query
        out = np.empty(len(rows), dtype=np.float32)
        block = np.zeros((max(1, min(self.RESCORE_ROWS, len(rows))), self.dim), dtype=np.float32)
        top_halves = block.view(np.uint16)[:, _TOP_HALF::2]
        stored = self._data.view(np.uint16)
        for start in range(0, len(rows), len(block)):
            part = rows[start : start + len(block)]
            top_halves[: len(part)] = stored[part]
            out[start : start + len(part)] = block[: len(part)] @ query
        return out

    def _dot_all(self, query: np.ndarray) -> np.ndarray:
        if not self._half:
            return self._data @ query
        out = np.empty(len(self), dtype=np.float32)
        for start, part in self._rows_as_float32():
            out[start : start + len(part)] = part @ query
        return out

    def _build_coarse(self) -> None:
        """Fit PCA on a sample; keep the projection and each vector's dot with the mean.

        v . q = p(v) . p(q) + v . m + (q . m - m . m) + residual, where p projects (x - m) on
        the top axes. The last bracket is the same for every v, so ranking by the first two
        terms approximates ranking by v . q.
        """
        rng = np.random.default_rng(0)
        sample = self._data
        if len(sample) > self.PCA_SAMPLE:
            sample = sample[np.sort(rng.choice(len(sample), self.PCA_SAMPLE, replace=False))]
        sample = self._widen(sample)
        mean = sample.mean(axis=0)
        _, _, vt = np.linalg.svd(sample - mean, full_matrices=False)
        axes = np.ascontiguousarray(vt[: self.COARSE_DIMS]).astype(np.float32)
        projected = np.empty((len(self), len(axes)), dtype=np.float32)
        dot_mean = np.empty(len(self), dtype=np.float32)
        for start, chunk in self._rows_as_float32():  # a slice at a time: no big temporaries
            projected[start : start + len(chunk)] = (chunk - mean) @ axes.T
            dot_mean[start : start + len(chunk)] = chunk @ mean
        self._coarse = (mean.astype(np.float32), axes, projected, dot_mean)

    def _candidates(self, query: np.ndarray, count: int) -> np.ndarray:
        """Rows whose approximate score is among the ``count`` best, and a few more (sorted).

        The cut is the score a little below the ``count``-th best, estimated on every
        ``CUT_SAMPLE_STRIDE``-th row: one comparison per row instead of a partition of them all
        (bench_search.py --cut-before times both). Every row of the exact top
        ``count`` is kept, since fewer than ``count`` above the cut falls back to the partition.
        """
        mean, axes, projected, dot_mean = self._coarse
        approx = projected @ (axes @ (query - mean))
        approx += dot_mean
        if count >= len(approx):
            return np.arange(len(approx))
        sample = approx[:: self.CUT_SAMPLE_STRIDE]
        above = int(count * self.CUT_MARGIN / self.CUT_SAMPLE_STRIDE)
        if 0 < above < len(sample):
            cut = np.partition(sample, len(sample) - above)[len(sample) - above]
            rows = np.flatnonzero(approx >= cut)
            if len(rows) >= count:
                return rows
        return np.sort(np.argpartition(-approx, count - 1)[:count])

    def _expanded(self, query: np.ndarray, rows: np.ndarray, sims: np.ndarray, n: int) -> np.ndarray:
        """The ranking score of ``rows`` with query expansion (``sims``: their direct similarity,
        -inf for the excluded, who stay out of the expansion and the results): the larger of the
        direct and the expanded cosine, the ``EXPAND_KEEPS`` nearest first whatever it is."""
        n = min(n, int(np.isfinite(sims).sum()))
        if n <= 0:
            return sims
        top = np.argpartition(-sims, n - 1)[:n]
        # the same expansion ``simdesk eval retrieval`` measures (alpha 0: plain average)
        expanded = expand_queries(query[np.newaxis], sims[top][np.newaxis],
                                  self._widen(self._data[rows[top]]), n)[0]
        if len(rows) < len(self):
            again = self._scores(rows, expanded)
        else:
            again = self._dot_all(expanded)
        score = np.where(np.isfinite(sims), np.maximum(sims, again), sims)
        keep = min(self.EXPAND_KEEPS, n)
        nearest = top[np.argsort(-sims[top], kind="stable")[:keep]]
        score[nearest] = 3.0 + sims[nearest]  # above any cosine, in their own order
        return score

    def transform(self, vector: np.ndarray) -> np.ndarray:
        """A raw vector (e.g. of a photo outside the library) as this index compares it."""
        unit = l2_normalize(np.asarray(vector, dtype=np.float32).reshape(-1))
        return unit if self.mean_ is None else l2_normalize(unit - self.mean_)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return self._data.shape[1]

    def vector_of(self, photo_id: int) -> np.ndarray | None:
        rows = np.flatnonzero(self.ids == photo_id)
        return self.unit_vectors(rows[0], rows[0] + 1)[0].copy() if len(rows) else None

    def query(self, vector: np.ndarray, k: int, exclude_ids: tuple[int, ...] = (),
              transformed: bool = False, *, min_similarity: float | None = None,
              only_ids=None, expand: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar photos: (ids, cosine similarities), most similar first.

        ``vector`` is a raw embedding, or one from ``vector_of``/``transform`` if ``transformed``.
        ``min_similarity``: leave out photos less similar than this (fewer than ``k`` then).
        ``only_ids``: search among these photos only (e.g. one folder's); exact, every one of
        them is scored. ``expand``: rank with average query expansion over this many nearest
        photos (from ``MIN_TO_EXPAND`` photos searched on): the ``EXPAND_KEEPS`` nearest come
        first, in their order, then the others by the larger of their cosine to the query and to
        the query averaged with its ``expand`` nearest. The similarities returned are still the
        cosines to the query (then not always decreasing), and ``min_similarity`` applies to
        them. P@30 rises from 0.953 to 0.969 on imagenette-val, from 0.975 to 0.985 on animals
        (``simdesk eval retrieval``, ``avg+centre+qe10max5``).
        """
        empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if k <= 0 or len(self) == 0:
            return empty
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise ValueError(f"query has {query.shape[0]} dimensions, the index {self.dim}")
        if not transformed:
            query = self.transform(query)
        if only_ids is not None:
            rows = np.flatnonzero(np.isin(self.ids, np.asarray(list(only_ids), dtype=np.int64)))
            if not len(rows):
                return empty
        elif self._coarse is not None:
            count = max(20 * k, 2000, int(len(self) * self.CANDIDATE_SHARE)) + len(exclude_ids)
            rows = self._candidates(query, count)
        else:
            rows = np.arange(len(self))
        if len(rows) < len(self):
            sims = self._scores(rows, query)
        else:
            sims = self._dot_all(query)
        ids = self.ids[rows]
        if exclude_ids:
            sims[np.isin(ids, exclude_ids)] = -np.inf
        score = sims
        if expand > 0 and len(rows) >= self.MIN_TO_EXPAND:
            score = self._expanded(query, rows, sims, expand)
        if min_similarity is not None:
            score = np.where(sims < np.float32(min_similarity), -np.inf, score)
        k = min(k, int(np.isfinite(score).sum()))
        if k == 0:
            return empty
        top = np.argpartition(-score, k - 1)[:k] if k < len(score) else np.arange(len(score))
        top = top[np.isfinite(score[top])]
        # Stable order: by score, then by id, so equal scores come out the same every time.
        top = top[np.lexsort((ids[top], -score[top]))]
        return ids[top], np.clip(sims[top], -1.0, 1.0)


def expand_queries(queries: np.ndarray, sims: np.ndarray, vectors: np.ndarray, n: int,
                   alpha: float = 0.0) -> np.ndarray:
    """Query expansion: each query averaged with its ``n`` most similar rows of ``vectors``.

    ``queries`` (B, D) unit vectors, ``sims`` (B, N) their similarities to ``vectors`` (N, D),
    with rows that must not take part (the query itself) at ``-inf``. ``alpha`` 0 weighs the
    neighbours like the query (average query expansion); above 0 each by ``similarity ** alpha``
    (alpha-QE). Returns the expanded queries, unit length.
    """
    queries = np.asarray(queries, dtype=np.float32).reshape(len(sims), -1)
    n = min(int(n), sims.shape[1])
    if n <= 0:
        return queries
    top = np.argpartition(-sims, n - 1, axis=1)[:, :n]
    top_sims = np.take_along_axis(sims, top, axis=1)
    weights = np.where(np.isfinite(top_sims), 1.0, 0.0).astype(np.float32)
    if alpha:
        weights *= np.clip(np.nan_to_num(top_sims, neginf=0.0), 0.0, 1.0) ** alpha
    expanded = queries + np.einsum("bn,bnd->bd", weights, vectors[top])
    return l2_normalize(expanded)
