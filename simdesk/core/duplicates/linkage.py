"""Complete linkage over a sparse graph of pairs: every pair inside a group passes the threshold.

Single linkage (connected components) would chain a burst of similar shots, or a series of photos
that each differ a little from the next, into one group whose ends are not copies of each other.
Pairs not listed count as dissimilar.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

DENSE_LINKAGE_LIMIT = 3000  # bigger connected parts use the greedy sparse variant

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


def star_groups(n: int, pair_i: np.ndarray, pair_j: np.ndarray, pair_s: np.ndarray,
                apart: Callable[[int, int], bool] = lambda a, b: False) -> list[list[int]]:
    """Groups (of 2+ indices) in which every member is linked to one centre, for verified copies.

    A verified copy pair is one photo twice, so a group need not be a clique: an original's
    mirrored copy and its blurred copy are both copies of it though they may not verify against
    each other (complete linkage would split the original from one of them). Nor can a verified
    pair chain two different photos through a third. Two photos for which ``apart(a, b)`` holds
    (different exposures, "not duplicates") never share a group, linked or not. Greedy: the photo with the most remaining
    links (then the highest total similarity, then the lowest index) takes its linked photos, the
    most similar first, and so on while links remain.
    """
    neighbours: dict[int, dict[int, float]] = {}
    for a, b, s in zip(pair_i.tolist(), pair_j.tolist(), pair_s.tolist()):
        if a != b:
            neighbours.setdefault(a, {})[b] = s
            neighbours.setdefault(b, {})[a] = s
    remaining = set(neighbours)
    groups: list[list[int]] = []

    def strength(node: int):
        links = [s for m, s in neighbours[node].items() if m in remaining]
        return len(links), sum(links), -node

    while remaining:
        centre = max(remaining, key=strength)
        group = [centre]
        for m, _ in sorted(((m, s) for m, s in neighbours[centre].items() if m in remaining),
                           key=lambda item: (-item[1], item[0])):
            if not any(apart(m, g) for g in group):
                group.append(m)
        if len(group) == 1:
            remaining.discard(centre)
            continue
        groups.append(sorted(group))
        remaining.difference_update(group)
        remaining = {node for node in remaining if any(m in remaining for m in neighbours[node])}
    return sorted(groups, key=lambda g: g[0])
