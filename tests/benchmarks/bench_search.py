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

faiss-cpu, where importable, is measured on the same centred unit vectors and queries: IndexFlatIP
(exact) and IndexIVFFlat (nlist = sqrt(N)) with the smallest nprobe whose recall@10 reaches
simdesk's. It is not a dependency of simdesk; install it beside the benchmark only:

    pip install --no-deps --target /tmp/bench-faiss faiss-cpu
    PYTHONPATH=.:/tmp/bench-faiss python tests/benchmarks/bench_search.py

``--cut-before`` also times every query with the candidates cut by a full partition of the
approximate scores and re-scored 4,096 rows a block (the code before the sampled cut),
interleaved with today's on the same index, with both recalls.

``--rescoring-before`` also times every query with the candidates re-scored as before issue 17
(one astype of all of them), interleaved with today's on the same index.

Loading memory (``--load-memory``): writes a library database of N clustered float16 vectors
(the product's Store), then loads it in a child process each way and prints the child's peak
resident memory (ru_maxrss) and time: "before", the code before issue 17 (every blob fetched, one
float32 matrix, then the index's copy), and "now", the product's ``load_search_index`` (slices
straight into the index). ``--store PATH`` keeps the database for another run.

    python tests/benchmarks/bench_search.py --load-memory --sizes 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simdesk.core.search import EmbeddingIndex

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def clustered_slices(n: int, dim: int = 2048, seed: int = 0, rows: int = 50_000):
    """``clustered_embeddings(n)`` a slice of ``rows`` at a time (the same vectors)."""
    rng = np.random.default_rng(seed)
    centres = rng.gamma(1.0, 1.0, (max(n // 100, 10), dim)).astype(np.float32)
    for start in range(0, n, rows):  # in slices: keeps the temporary arrays small
        stop = min(start + rows, n)
        labels = rng.integers(0, len(centres), stop - start)
        noise = rng.gamma(1.0, 0.5, (stop - start, dim)).astype(np.float32)
        yield centres[labels] + noise


def clustered_embeddings(n: int, dim: int = 2048, seed: int = 0) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    start = 0
    for part in clustered_slices(n, dim, seed):
        out[start : start + len(part)] = part
        start += len(part)
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


def astype_rescoring(index: EmbeddingIndex, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Candidates re-scored as before issue 17: every one widened by astype, then one product."""
    return index._widen(index._data[rows]) @ query


def rescoring_before_after(index: EmbeddingIndex, queries) -> tuple[float, float]:
    """Median ms of ``query`` with the re-scoring before issue 17 and now, interleaved query by
    query on this one index so that both see the same load."""
    now = index._scores
    before, after = [], []
    for vector, exclude, transformed in queries:
        for scores, times in ((lambda rows, q: astype_rescoring(index, rows, q), before), (now, after)):
            index._scores = scores
            start = time.perf_counter()
            index.query(vector, 10, exclude_ids=exclude, transformed=transformed)
            times.append((time.perf_counter() - start) * 1000)
    index._scores = now
    return statistics.median(before), statistics.median(after)


def partition_candidates(index: EmbeddingIndex, query: np.ndarray, count: int) -> np.ndarray:
    """The candidates as cut before the sampled cut: a partition of every approximate score."""
    mean, axes, projected, dot_mean = index._coarse
    approx = projected @ (axes @ (query - mean)) + dot_mean
    return np.sort(np.argpartition(-approx, count - 1)[:count])


def cut_before_after(index: EmbeddingIndex, queries) -> tuple[float, float, list, list]:
    """Median ms and answers of ``query`` with the candidates cut by a full partition and
    re-scored 4,096 rows a block (as at 93b127e), and now, interleaved query by query."""
    rows_now = index.RESCORE_ROWS
    times = {False: [], True: []}
    answers = {False: [], True: []}
    for vector, exclude, transformed in queries:
        for now in (False, True):
            if now:
                index.__dict__.pop("_candidates", None)
                index.RESCORE_ROWS = rows_now
            else:
                index._candidates = lambda q, c: partition_candidates(index, q, c)
                index.RESCORE_ROWS = 4096
            start = time.perf_counter()
            got = index.query(vector, 10, exclude_ids=exclude, transformed=transformed)[0]
            times[now].append((time.perf_counter() - start) * 1000)
            answers[now].append(set(got))
    index.__dict__.pop("_candidates", None)
    index.RESCORE_ROWS = rows_now
    return statistics.median(times[False]), statistics.median(times[True]), answers[False], answers[True]


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


# -- faiss-cpu (optional, installed beside the benchmark only) --------------------------------


def import_faiss():
    try:
        import faiss
    except ImportError:
        print("faiss-cpu is not importable: its columns are skipped (pip install --no-deps "
              "--target /tmp/bench-faiss faiss-cpu, then PYTHONPATH=.:/tmp/bench-faiss)")
        return None
    return faiss


def faiss_flat(faiss, index: EmbeddingIndex):
    """IndexFlatIP over the index's unit vectors, filled a slice at a time into storage sized once
    (adding slices would grow it by doubling, briefly 1.5-2x its 8 GB at a million photos)."""
    flat = faiss.IndexFlatIP(index.dim)
    flat.codes.resize(len(index) * index.dim * 4)
    stored = faiss.rev_swig_ptr(flat.codes.data(), flat.codes.size()).view(np.float32)
    stored = stored.reshape(len(index), index.dim)
    for start in range(0, len(index), 50_000):
        stored[start : start + 50_000] = index.unit_vectors(start, start + 50_000)
    flat.ntotal = len(index)
    return flat


def faiss_ivf(faiss, index: EmbeddingIndex):
    """IndexIVFFlat, nlist = sqrt(N), trained on 40 points a list (faiss's own minimum is 39)."""
    nlist = int(np.sqrt(len(index)))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(index.dim), index.dim, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(1)
    sample = np.sort(rng.choice(len(index), min(len(index), 40 * nlist), replace=False))
    ivf.train(np.stack([index.unit_vectors(row, row + 1)[0] for row in sample]))
    for start in range(0, len(index), 50_000):
        ivf.add(index.unit_vectors(start, start + 50_000))
    return ivf


def faiss_queries(searcher, vectors: list[np.ndarray], excludes: list[tuple]):
    """(median ms, answers) of one-vector k=10 searches, the excluded photo dropped."""
    times, answers = [], []
    for vector, exclude in zip(vectors, excludes):
        start = time.perf_counter()
        _, found = searcher.search(vector[None, :], 11)
        times.append((time.perf_counter() - start) * 1000)
        answers.append(set([int(i) for i in found[0] if i not in exclude and i >= 0][:10]))
    return statistics.median(times), answers


def mean_recall(answers, truth) -> float:
    return float(np.mean([len(a & t) / 10 for a, t in zip(answers, truth)]))


def faiss_columns(faiss, index: EmbeddingIndex, queries, truth, target: float) -> str:
    """Flat and IVF latency (ms) and the IVF's nprobe and recall, on the app's queries."""
    vectors = [v if t else index.transform(v) for v, _, t in queries]
    excludes = [e for _, e, _ in queries]
    flat = faiss_flat(faiss, index)
    flat_ms, flat_answers = faiss_queries(flat, vectors, excludes)
    del flat
    flat_recall = mean_recall(flat_answers, truth)
    started = time.perf_counter()
    ivf = faiss_ivf(faiss, index)
    built = time.perf_counter() - started
    for nprobe in (1, 2, 4, 8, 16, 32, 64, 128, 256):  # the smallest reaching simdesk's recall
        ivf.nprobe = nprobe
        ivf_ms, answers = faiss_queries(ivf, vectors, excludes)
        ivf_recall = mean_recall(answers, truth)
        if ivf_recall >= target or nprobe >= ivf.nlist:
            break
    return (f"{flat_ms:>9.1f} {flat_recall:>6.3f} {ivf_ms:>8.1f} {nprobe:>6} {ivf_recall:>6.3f} "
            f"{built:>7.0f}s")


# -- loading memory --------------------------------------------------------------------------


def write_store(path: Path, n: int, dim: int = 2048) -> None:
    """A library database with ``n`` photos and their float16 vectors, through the Store."""
    from simdesk.core.store import Store

    with Store(path) as store:
        space = store.ensure_space("bench", "bench-sha", "avg", dim, "squash")
        if store.count_embedded(space.id) == n:
            return
        start = 0
        for part in clustered_slices(n, dim, rows=10_000):
            with store.transaction():
                for i, vector in enumerate(part, start):
                    chash = i.to_bytes(16, "big")
                    store.upsert_photo(f"/bench/{i}.jpg", folder_id=None, size=1, mtime_ns=1,
                                       content_hash=chash, width=1, height=1, capture_time=None)
                    store.put_embedding(chash, space.id, vector)
            start += len(part)


def load_the_old_way(store, space) -> EmbeddingIndex:
    """Library.search_index before issue 17: every row fetched, one float32 matrix, the index's copy."""
    rows = store.connection.execute(
        "SELECT p.id, e.vector FROM photos p JOIN embeddings e "
        "ON e.content_hash = p.content_hash AND e.space_id = ? ORDER BY p.id", (space.id,)).fetchall()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    matrix = np.empty((len(rows), space.dim), dtype=np.float32)
    for i, (_, blob) in enumerate(rows):
        matrix[i] = np.frombuffer(blob, dtype="<f2")
    del rows  # load_embeddings returned here
    return EmbeddingIndex(ids, matrix, center=True)


def child_load(way: str, path: str) -> None:
    """Load the database one way and print what it took, as JSON (run in a fresh process)."""
    import hashlib

    from simdesk.core.library import load_search_index
    from simdesk.core.store import Store

    with Store(path, check=False) as store:
        space = store.ensure_space("bench", "bench-sha", "avg", 2048, "squash")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        started = time.perf_counter()
        index = (load_the_old_way if way == "before" else load_search_index)(store, space)
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    digest = hashlib.sha1(index._data.view(np.uint8).reshape(-1)).hexdigest()[:12]
    print(json.dumps({"seconds": seconds, "peak": peak, "at_start": before, "rows": len(index),
                      "index_bytes": index._data.nbytes, "storage": index.storage, "sha1": digest}))


def measure_loading(sizes: list[int], store_path: str | None) -> None:
    print("loading the search index from a library database, 2048-d float16 vectors; "
          "peak = the child's ru_maxrss")
    print(f"{'photos':>9} {'way':>7} {'seconds':>8} {'peak GB':>8} {'index GB':>9} {'unit rows sha1':>15}")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="simdesk-bench-load-") as tmp:
            path = Path(store_path or Path(tmp) / "library.db")
            if store_path and n != sizes[0]:
                path = path.with_name(f"{path.stem}-{n}{path.suffix}")
            started = time.perf_counter()
            write_store(path, n)
            print(f"{n:>9} (database written or found in {time.perf_counter() - started:.0f} s: "
                  f"{path.stat().st_size / 1e9:.1f} GB)", flush=True)
            for way in ("before", "now"):
                out = subprocess.run([sys.executable, __file__, "--child-load", way, str(path)],
                                     check=True, capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(f"{n:>9} {way:>7} {r['seconds']:>8.1f} {r['peak'] / 2**30:>8.2f} "
                      f"{r['index_bytes'] / 2**30:>9.2f} {r['sha1']:>15}", flush=True)


# -- query latency ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("clustered", "real-spectrum"), default="clustered")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=30, help="of each kind")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the baseline (large sizes)")
    parser.add_argument("--no-faiss", action="store_true", help="skip faiss-cpu even if importable")
    parser.add_argument("--load-memory", action="store_true",
                        help="measure loading from a database instead of queries")
    parser.add_argument("--store", help="with --load-memory: keep (or reuse) the database here")
    parser.add_argument("--rescoring-before", action="store_true",
                        help="also time queries with the candidates re-scored as before issue 17")
    parser.add_argument("--cut-before", action="store_true",
                        help="also time queries with the candidates cut by a full partition and "
                             "re-scored in 4,096-row blocks, as before the sampled cut")
    parser.add_argument("--child-load", nargs=2, metavar=("WAY", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_load:
        return child_load(*args.child_load)
    if args.load_memory:
        return measure_loading(args.sizes, args.store)
    faiss = None if args.no_faiss else import_faiss()
    real = real_embeddings() if args.data == "real-spectrum" else None

    print(f"{args.data} vectors; recall@10 against exact search, library-photo / new-photo queries")
    header = (f"{'photos':>9} {'dim':>5} {'stored':>8} {'simdesk ms':>11} {'recall@10':>12} "
              f"{'sklearn ms':>11} {'speed-up':>9}")
    if faiss is not None:
        header += (f" {'flatIP ms':>9} {'recall':>6} {'IVF ms':>8} {'nprobe':>6} {'recall':>6} "
                   f"{'IVF built':>8}")
    print(header)
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
        if args.rescoring_before:
            before, after = rescoring_before_after(index, queries)
            print(f"{n:>9}: re-scoring as before {before:.1f} ms, now {after:.1f} ms "
                  f"(interleaved, ratio {after / before:.2f})", flush=True)
        truth = exact_answers(index, queries)
        if args.cut_before:
            before, after, got_before, got_after = cut_before_after(index, queries)
            r_before = np.mean([len(a & t) / 10 for a, t in zip(got_before, truth)])
            r_after = np.mean([len(a & t) / 10 for a, t in zip(got_after, truth)])
            print(f"{n:>9}: partition cut + 4096-row blocks {before:.1f} ms (recall {r_before:.3f}), "
                  f"now {after:.1f} ms (recall {r_after:.3f}); interleaved, ratio {after / before:.2f}",
                  flush=True)
        recall = [len(a & t) / 10 for a, t in zip(answers, truth)]
        recalls = f"{np.mean(recall[:q]):.3f}/{np.mean(recall[q:]):.3f}"
        row = f"{n:>9} {index.dim:>5} {index.storage:>8} {ours:>11.1f} {recalls:>12}"
        if args.no_sklearn:
            row += f" {'-':>11} {'-':>9}"
        else:
            theirs = sklearn_ms(index, queries, q)
            row += f" {theirs:>11.1f} {theirs / ours:>8.1f}x"
        if faiss is not None:
            row += " " + faiss_columns(faiss, index, queries, truth, float(np.mean(recall)))
        print(row, flush=True)
        del index


def sklearn_ms(index: EmbeddingIndex, queries, q: int) -> float:
    """Median ms of scikit-learn brute force on the same centred unit vectors in float32, new-photo
    queries transformed alike. From 500,000 photos a query takes seconds: 5 of each kind are timed."""
    from sklearn.neighbors import NearestNeighbors

    knn = NearestNeighbors(n_neighbors=10, algorithm="brute", metric="cosine").fit(index.unit_vectors())
    plain = [index.transform(v) if not t else v for v, _, t in queries]
    if len(index) >= 500_000:
        plain = plain[:5] + plain[q:q + 5]
    times = []
    for vector in plain:
        start = time.perf_counter()
        knn.kneighbors(vector[None, :], 11)  # 11: the app's answer excludes the photo itself
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
