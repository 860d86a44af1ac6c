"""Retrieval quality measures: precision@k and mean average precision over labelled photos."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from simdesk.core.pooling import l2_normalize
from simdesk.core.progress import Progress, ProgressCallback


def retrieval_scores(vectors: np.ndarray, labels: np.ndarray, ks: tuple[int, ...] = (1, 10, 30),
                     block: int = 512, expand: tuple[int, float] | None = None,
                     keep_direct: bool = False, keep_first: int = 0) -> dict[str, float]:
    """Every photo queries all the others; "relevant" means the same label. The query is excluded.

    ``expand``: ``(n, alpha)``, each query is first expanded with its ``n`` nearest photos
    (:func:`simdesk.core.search.expand_queries`). ``keep_direct``: a photo scores the larger of
    its similarity to the query and to the expanded query (what ``EmbeddingIndex.query`` does
    with ``expand``), and ``keep_first`` nearest photos keep their place at the top (as it does
    with ``EXPAND_KEEPS``).
    Computed in blocks of queries so memory stays at block x N, not N x N.
    """
    from simdesk.core.search import expand_queries

    vectors = l2_normalize(np.asarray(vectors, dtype=np.float32))
    labels = np.asarray(labels)
    n = len(vectors)
    precision = {k: 0.0 for k in ks}
    average_precision = 0.0
    for start in range(0, n, block):
        stop = min(start + block, n)
        sims = vectors[start:stop] @ vectors.T
        if expand is not None:
            sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
            queries = expand_queries(vectors[start:stop], sims, vectors, *expand)
            direct = sims
            sims = np.maximum(direct, queries @ vectors.T) if keep_direct else queries @ vectors.T
            if keep_first:
                rows = np.arange(stop - start)[:, None]
                nearest = np.argpartition(-direct, keep_first - 1, axis=1)[:, :keep_first]
                sims[rows, nearest] = 3.0 + direct[rows, nearest]
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # never find yourself
        order = np.argsort(-sims, axis=1, kind="stable")[:, : n - 1]
        relevant = labels[order] == labels[start:stop, None]
        for k in ks:
            precision[k] += relevant[:, :k].mean(axis=1).sum()
        hits = np.cumsum(relevant, axis=1)
        ranks = np.arange(1, n)
        totals = np.maximum(relevant.sum(axis=1), 1)
        average_precision += ((hits / ranks) * relevant).sum(axis=1).__truediv__(totals).sum()
    scores = {f"P@{k}": precision[k] / n for k in ks}
    scores["mAP"] = average_precision / n
    return scores


# -- evaluating a model on a labelled folder ---------------------------------------------------


def labelled_photos(root: str | os.PathLike) -> tuple[list[Path], np.ndarray, list[str]]:
    """Photos of a folder with one subfolder per class: (paths, label per photo, class names)."""
    from simdesk.core.decode import IMAGE_EXTENSIONS

    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((root / name).rglob("*")):
            if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
                paths.append(path)
                labels.append(label)
    if len(classes) < 2 or not paths:
        raise ValueError(f"{root} needs at least two class subfolders with photos")
    return paths, np.array(labels), classes


def embed_with_every_pooling(embedder, paths: list[Path], *, batch_size: int = 32,
                             progress: ProgressCallback | None = None
                             ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Decode and run the model once; pool the same feature maps every way simdesk offers.

    Uses the indexer's decoder and the embedder, so it measures what the app does. Returns the
    pooled vectors per pooling and a mask of the photos that decoded.
    """
    from simdesk.core.decode import DecodeError, decode_image
    from simdesk.core.pooling import POOLINGS, pool

    def decode(path: Path):
        try:
            return decode_image(path.read_bytes(), input_size=embedder.input_size,
                                resize_mode=embedder.manifest.resize_mode).pixels
        except (DecodeError, OSError):
            return None

    pooled: dict[str, list[np.ndarray]] = {name: [] for name in POOLINGS}
    ok = np.zeros(len(paths), dtype=bool)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as workers:
        for start in range(0, len(paths), batch_size):
            decoded = list(workers.map(decode, paths[start : start + batch_size]))
            good = [i for i, d in enumerate(decoded) if d is not None]
            ok[[start + i for i in good]] = True
            if good:
                (features,) = embedder.feature_maps(np.stack([decoded[i] for i in good]))
                for name in POOLINGS:
                    pooled[name].append(pool(features, name))
            if progress:
                progress(Progress("embedding", min(start + batch_size, len(paths)), len(paths)))
    dim = embedder.dim
    return {n: np.concatenate(p) if p else np.zeros((0, dim), np.float32) for n, p in pooled.items()}, ok


def centre_and_project(vectors: np.ndarray, dims: int | None = None) -> np.ndarray:
    """L2-normalise, subtract the collection's mean, optionally keep the top ``dims`` principal axes.

    Whitening (dividing by the singular values) was tried too and cut imagenette-val mAP to
    0.31-0.72: it blows up the noisy low-variance axes, so it is not offered.
    """
    x = l2_normalize(np.asarray(vectors, dtype=np.float64))
    x = x - x.mean(axis=0)
    if dims is not None:
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        x = x @ vt[: min(dims, len(vt))].T
    return l2_normalize(x.astype(np.float32))


QUERY_EXPANSIONS = ((1, 0.0), (3, 0.0), (5, 0.0), (10, 0.0), (20, 0.0), (5, 3.0), (10, 3.0), (30, 3.0))


def evaluate_retrieval(embedder, root, *, progress=None, pca_dims: int = 64) -> dict:
    """precision@1, @10, @30 and mAP of each pooling, of avg with centring / PCA and with query
    expansion, on a folder."""
    paths, labels, classes = labelled_photos(root)
    vectors, ok = embed_with_every_pooling(embedder, paths, progress=progress)
    labels = labels[ok]
    results = {name: retrieval_scores(v, labels) for name, v in vectors.items()}
    # "avg+centre" is what `simdesk similar` does (EmbeddingIndex(center=True)).
    centred = centre_and_project(vectors["avg"])
    results["avg+centre"] = retrieval_scores(centred, labels)
    # Query expansion on top of it: the query averaged with its n nearest photos (average QE,
    # alpha 0), or with them weighted by similarity**alpha (alpha-QE, Radenovic et al. 2018).
    for n_expand, alpha in QUERY_EXPANSIONS:
        results[f"avg+centre+qe{n_expand}" + (f"a{alpha:g}" if alpha else "")] = retrieval_scores(
            centred, labels, expand=(n_expand, alpha))
    # ... and the larger of the direct and the expanded similarity, the 5 nearest kept first
    # (what `similar` does: EmbeddingIndex.query(expand=10), EXPAND_KEEPS)
    for n_expand in (5, 10):
        results[f"avg+centre+qe{n_expand}max"] = retrieval_scores(
            centred, labels, expand=(n_expand, 0.0), keep_direct=True)
    from simdesk.core.search import EmbeddingIndex

    results["avg+centre+qe10max5"] = retrieval_scores(
        centred, labels, expand=(10, 0.0), keep_direct=True, keep_first=EmbeddingIndex.EXPAND_KEEPS)
    results[f"avg+centre+pca{pca_dims}"] = retrieval_scores(
        centre_and_project(vectors["avg"], pca_dims), labels
    )
    return {
        "model": embedder.manifest.name,
        "photos": int(ok.sum()),
        "skipped": int((~ok).sum()),
        "classes": classes,
        "resize": embedder.manifest.resize_mode,
        "results": results,
    }
