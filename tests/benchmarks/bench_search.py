"""Similar-photo query latency and recall: simdesk's EmbeddingIndex vs scikit-learn brute force.

    python tests/benchmarks/bench_search.py [--data clustered|real-spectrum] [--sizes 10000 100000]
                                            [--queries 30] [--no-sklearn]

The index is built as the app builds it (``Library.search_index``: centred, automatic mode: exact
below 30,000 photos, PCA candidates + exact re-scoring above). Two kinds of query, as the app
makes them: a library photo (right-click > Find Similar; the photo itself excluded), and a new
photo from the same collection that is not in the library (an image dropped on the window).

Vectors (a million real photos are not at hand):
  * ``clustered``: 2048-d (ResNet-50's size), non-negative like pooled ReLU features, in clusters
    of about 100 (a centre plus independent per-dimension noise);
  * ``real-spectrum``: Gaussian with the mean and covariance of real embeddings (EfficientNet-Lite0
    of ../shared/data/imagenette-val, 1280-d, computed in a scratch library first), so the variance
    is spread over the dimensions as a real CNN spreads it.

Prints the median latency of one k=10 query, recall@10 against exact float32 search over the
same centred unit vectors (the app's large-library index keeps bfloat16), and the ratio to
scikit-learn NearestNeighbors(algorithm="brute", metric="cosine") measured in the same run. 1,000,000 photos need about 18 GB of memory
(``--sizes 1000000``; ``--no-sklearn`` skips the slow baseline).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from simdesk.core.search import EmbeddingIndex

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def clustered_embeddings(n: int, dim: int = 2048, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.gamma(1.0, 1.0, (max(n // 100, 10), dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 50_000):  # in slices: keeps the temporary arrays small
        stop = min(start + 50_000, n)
        labels = rng.integers(0, len(centres), stop - start)
        noise = rng.gamma(1.0, 0.5, (stop - start, dim)).astype(np.float32)
        out[start:stop] = centres[labels] + noise
    return out


def real_embeddings(folder: Path = SHARED / "imagenette-val") -> np.ndarray:
    """Unit vectors of real photos, by the app's own indexer (offline model, avg pooling)."""
    from simdesk.core.models import catalog as models
    from simdesk.core.library import Library

    if not folder.is_dir():
        raise SystemExit(f"{folder} is missing: --data real-spectrum needs ../shared/data")
    if not (models.models_dir() / models.OFFLINE_MODEL).is_dir():
        models.install_efficientnet_lite0()
    with tempfile.TemporaryDirectory(prefix="simdesk-bench-search-") as tmp:
        library = Library(tmp)
        try:
            library.set_model(models.OFFLINE_MODEL, "avg")
            library.add_folder(folder)
            library.index()
            _, vectors = library.store.load_embeddings(library.space())
        finally:
            library.close()
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def real_spectrum_embeddings(n: int, real: np.ndarray, seed: int = 0) -> np.ndarray:
    """Gaussian vectors with the mean and covariance of ``real``."""
    mean = real.mean(axis=0)
    _, singular, axes = np.linalg.svd(real - mean, full_matrices=False)
    spread = (singular / np.sqrt(len(real) - 1)).astype(np.float32)  # std along each axis
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    for start in range(0, n, 50_000):
        stop = min(start + 50_000, n)
        z = rng.standard_normal((stop - start, len(spread)), dtype=np.float32)
        out[start:stop] = mean + (z * spread) @ axes.astype(np.float32)
    return out


def timed_queries(index: EmbeddingIndex, queries: list[tuple[np.ndarray, tuple, bool]]):
    """(median ms, answers) of ``index.query(vector, 10)`` for each (vector, exclude, transformed)."""
    times, answers = [], []
    for vector, exclude, transformed in queries:
        start = time.perf_counter()
        answers.append(set(index.query(vector, 10, exclude_ids=exclude, transformed=transformed)[0]))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), answers


def exact_answers(index: EmbeddingIndex, queries) -> list[set]:
    """The true top 10 of every query: all vectors scored in float32, a slice at a time."""
    q = np.stack([v if transformed else index.transform(v) for v, _, transformed in queries]).T
    best_s = np.full((q.shape[1], 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((q.shape[1], 0), dtype=np.int64)
    for start in range(0, len(index), 50_000):
        sims = (index.unit_vectors(start, start + 50_000) @ q).T  # (queries, rows)
        for row, (_, exclude, _) in enumerate(queries):
            for photo in exclude:
                if start <= photo < start + sims.shape[1]:
                    sims[row, photo - start] = -np.inf
        best_s = np.concatenate([best_s, sims], axis=1)
        best_i = np.concatenate([best_i, np.broadcast_to(index.ids[start : start + sims.shape[1]],
                                                         sims.shape)], axis=1)
        keep = np.argpartition(-best_s, 9, axis=1)[:, :10]
        best_s = np.take_along_axis(best_s, keep, axis=1)
        best_i = np.take_along_axis(best_i, keep, axis=1)
    return [set(row.tolist()) for row in best_i]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("clustered", "real-spectrum"), default="clustered")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=30, help="of each kind")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the baseline (large sizes)")
    args = parser.parse_args()
    real = real_embeddings() if args.data == "real-spectrum" else None

    print(f"{args.data} vectors; recall@10 against exact search, library-photo / new-photo queries")
    print(f"{'photos':>9} {'dim':>5} {'stored':>8} {'simdesk ms':>11} {'recall@10':>12} "
          f"{'sklearn ms':>11} {'speed-up':>9}")
    for n in args.sizes:
        q = args.queries
        if real is None:
            vectors = clustered_embeddings(n + q)
        else:
            vectors = real_spectrum_embeddings(n + q, real)
        new_photos = vectors[n:].copy()
        index = EmbeddingIndex(np.arange(n), vectors[:n], center=True)  # as Library.search_index
        del vectors  # the index holds its own normalised copy; keep the peak memory down
        rng = np.random.default_rng(7)
        picks = rng.choice(n, q, replace=False)
        queries = [(index.vector_of(p), (int(p),), True) for p in picks]  # as Library.similar does
        queries += [(v, (), False) for v in new_photos]
        ours, answers = timed_queries(index, queries)
        truth = exact_answers(index, queries)
        recall = [len(a & t) / 10 for a, t in zip(answers, truth)]
        recalls = f"{np.mean(recall[:q]):.3f}/{np.mean(recall[q:]):.3f}"
        row = f"{n:>9} {index.dim:>5} {index.storage:>8} {ours:>11.1f} {recalls:>12}"
        if args.no_sklearn:
            print(f"{row} {'-':>11} {'-':>9}", flush=True)
            del index
            continue
        from sklearn.neighbors import NearestNeighbors

        # scikit-learn on the same centred unit vectors in float32, new-photo queries transformed
        # alike. From 500,000 photos a query takes seconds: 5 of each kind are timed.
        knn = NearestNeighbors(n_neighbors=10, algorithm="brute", metric="cosine").fit(index.unit_vectors())
        plain = [index.transform(v) if not t else v for v, _, t in queries]
        if n >= 500_000:
            plain = plain[:5] + plain[q:q + 5]
        times = []
        for vector in plain:
            start = time.perf_counter()
            knn.kneighbors(vector[None, :], 11)  # 11: the app's answer excludes the photo itself
            times.append((time.perf_counter() - start) * 1000)
        theirs = statistics.median(times)
        print(f"{row} {theirs:>11.1f} {theirs / ours:>8.1f}x", flush=True)
        del knn, index


if __name__ == "__main__":
    main()
