"""Retrieval quality measures: precision@k and mean average precision over labelled photos."""

from __future__ import annotations

import numpy as np

from simdesk.core.pooling import l2_normalize


def retrieval_scores(vectors: np.ndarray, labels: np.ndarray, ks: tuple[int, ...] = (1, 10),
                     block: int = 512) -> dict[str, float]:
    """Every photo queries all the others; "relevant" means the same label. The query is excluded.

    Computed in blocks of queries so memory stays at block x N, not N x N.
    """
    vectors = l2_normalize(np.asarray(vectors, dtype=np.float32))
    labels = np.asarray(labels)
    n = len(vectors)
    precision = {k: 0.0 for k in ks}
    average_precision = 0.0
    for start in range(0, n, block):
        stop = min(start + block, n)
        sims = vectors[start:stop] @ vectors.T
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
