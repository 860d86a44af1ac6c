"""Similar-photo query latency: simdesk's EmbeddingIndex vs scikit-learn's brute-force search.

    python tests/benchmarks/bench_search.py [--dim 2048] [--sizes 10000 100000] [--queries 30]

Synthetic embeddings (clustered, non-negative like pooled ReLU features). Prints the median
latency of one query for k=10 as the app builds the index (exact below 30,000 photos, PCA
candidates + exact re-scoring above), its recall@10 against exact search, the exact search's
latency, and the ratio to scikit-learn NearestNeighbors(algorithm="brute", metric="cosine")
measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from simdesk.core.search import EmbeddingIndex


def synthetic_embeddings(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.gamma(1.0, 1.0, (max(n // 100, 10), dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 50_000):  # in slices: keeps the temporary arrays small
        stop = min(start + 50_000, n)
        labels = rng.integers(0, len(centres), stop - start)
        noise = rng.gamma(1.0, 0.5, (stop - start, dim)).astype(np.float32)
        out[start:stop] = centres[labels] + noise
    return out


def median_ms(fn, queries) -> float:
    times = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--no-sklearn", action="store_true", help="skip the baseline (large sizes)")
    args = parser.parse_args()
    from sklearn.neighbors import NearestNeighbors

    print(f"{'photos':>9} {'dim':>5} {'simdesk ms':>11} {'recall@10':>10} {'exact ms':>9} "
          f"{'sklearn ms':>11} {'speed-up':>9}")
    for n in args.sizes:
        vectors = synthetic_embeddings(n, args.dim)
        index = EmbeddingIndex(np.arange(n), vectors)  # as the app builds it: automatic mode
        if args.no_sklearn:
            del vectors  # the index holds its own normalised copy; keep the peak memory down
        # Queries: perturbed library photos (a similar-photo query has near neighbours).
        rng = np.random.default_rng(7)
        picks = rng.choice(n, args.queries, replace=False)
        queries = index.vectors[picks] + rng.normal(0, 0.02, (args.queries, args.dim)).astype(np.float32)
        ours = median_ms(lambda q: index.query(q, 10), queries)
        coarse, index._coarse = index._coarse, None  # the same index, searched exhaustively
        exact = median_ms(lambda q: index.query(q, 10), queries)
        truth = [set(index.query(q, 10)[0]) for q in queries]
        index._coarse = coarse
        recall = np.mean([len(set(index.query(q, 10)[0]) & t) / 10 for q, t in zip(queries, truth)])
        row = f"{n:>9} {args.dim:>5} {ours:>11.1f} {recall:>10.3f} {exact:>9.1f}"
        if args.no_sklearn:
            print(f"{row} {'-':>11} {'-':>9}")
            continue
        knn = NearestNeighbors(n_neighbors=10, algorithm="brute", metric="cosine").fit(vectors)
        theirs = median_ms(lambda q: knn.kneighbors(q[None, :], 10), queries)
        # Same answers? (ties aside, the top-10 sets must agree)
        their_ids = knn.kneighbors(queries[0][None, :], 10)[1][0]
        agree = len(truth[0] & set(their_ids)) / 10  # truth: the exhaustive search's answers
        print(f"{row} {theirs:>11.1f} {theirs / ours:>8.1f}x  (exact vs sklearn top-10 agree {agree:.0%})")
        del knn, index, vectors


if __name__ == "__main__":
    main()
