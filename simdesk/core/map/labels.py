"""Captions for the cluster map's regions: the ImageNet class most of a region's photos get.

The offline model (EfficientNet-Lite0) has an ImageNet classifier head (its ``logits`` output).
Each photo's top class (``cache.photo_classes``, stored in the library) names the regions of the
map: the map's photos are grouped into regions at a few sizes (k-means on their map positions:
about 250, 60 and 15 photos a region), and a region whose photos mostly get one class (at least
``MIN_SHARE`` of them) is captioned with it, "tabby cat" or "giant panda"; when two classes share
a region about equally it gets both ("tabby cat / tiger cat"). Neighbouring regions of one level
with the same caption are merged, so a large cluster has one caption far out and finer ones
closer in (PixPlot's hotspots). The canvas draws the level whose regions suit the zoom.

The class names are ImageNet-1k's WordNet lemmas in ``resources/imagenet_classes.txt`` (one line
per class in the models' output order: synset id, tab, the lemmas), written from the list the
``timm`` package ships (Apache-2.0). No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CLASSES_FILE = "imagenet_classes.txt"
NUM_CLASSES = 1000
TOP_K = 3  # classes kept per photo
MIN_SHARE = 0.35  # a region is named when at least this share of its photos get the class
MIN_PHOTOS = 4  # smaller regions are not named
REGION_SIZES = (250, 60, 15)  # photos per region, coarse to fine


@lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 1,000 ImageNet class names, readable: "tabby cat", "giant panda", "golden retriever"."""
    from simdesk.resources import files

    text = files().joinpath(CLASSES_FILE).read_text(encoding="utf-8")
    names = tuple(readable(line.split("\t", 1)[1]) for line in text.splitlines() if "\t" in line)
    if len(names) != NUM_CLASSES:
        raise ValueError(f"{CLASSES_FILE}: expected {NUM_CLASSES} classes, found {len(names)}")
    return names


def readable(lemmas: str) -> str:
    """One name from a WordNet lemma list: the first, or a longer lemma that contains the first
    ("tabby, tabby cat" -> "tabby cat"; "giant panda, panda, ..." -> "giant panda")."""
    parts = [p.strip() for p in lemmas.split(",") if p.strip()]
    first = parts[0]
    for other in parts[1:3]:
        words = other.split()
        if first in words and len(words) == 2:
            return other
    return first


def top_classes(logits: np.ndarray, k: int = TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """(classes (N, k) int16, probabilities (N, k) float16) of (N, 1000) logits, best first."""
    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 2 or logits.shape[1] < k:
        raise ValueError(f"expected (N, >= {k}) logits, got {logits.shape}")
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    top = np.argsort(-p, axis=1)[:, :k]
    return top.astype(np.int16), np.take_along_axis(p, top, axis=1).astype(np.float16)


@dataclass(frozen=True)
class RegionLabel:
    """A caption: ``text`` at (x, y) in the map's unit box, for regions of level ``level``
    (0 coarsest), ``radius`` the region's typical radius there, over ``count`` photos of which
    ``share`` get the class."""

    level: int
    x: float
    y: float
    text: str
    count: int
    share: float
    radius: float


def region_labels(positions: np.ndarray, classes: np.ndarray, *, names=None,
                  sizes=REGION_SIZES, seed: int = 0) -> list[RegionLabel]:
    """Captions for the regions of a map. ``positions`` (N, 2) in the unit box; ``classes`` (N,)
    each photo's top class (-1: unknown). Coarse levels first, larger regions first in a level."""
    positions = np.asarray(positions, dtype=np.float64)
    classes = np.asarray(classes, dtype=np.int64)
    names = names or class_names()
    n = len(positions)
    known = classes >= 0
    if n < MIN_PHOTOS or known.sum() < MIN_PHOTOS:
        return []
    out: list[RegionLabel] = []
    seen_k = set()
    for level, size in enumerate(sizes):
        k = int(np.clip(round(n / size), 1, n // 2))
        if k in seen_k:
            continue
        seen_k.add(k)
        assign = _regions(positions, k, seed)
        area = np.prod(np.maximum(positions.max(axis=0) - positions.min(axis=0), 1e-6))
        radius = float(np.sqrt(area / k / np.pi))
        regions = []
        for r in range(k):
            members = np.flatnonzero(assign == r)
            text, share = _caption(classes[members], names)
            if text is None or len(members) < MIN_PHOTOS:
                continue
            regions.append((text, members, share))
        for text, members, share in _merge(regions, positions, 2.2 * radius):
            centre = positions[members].mean(axis=0)
            medoid = members[np.argmin(((positions[members] - centre) ** 2).sum(axis=1))]
            out.append(RegionLabel(level, float(positions[medoid, 0]), float(positions[medoid, 1]),
                                   text, int(len(members)), float(share), radius))
    out.sort(key=lambda r: (r.level, -r.count))
    return out


def _regions(positions: np.ndarray, k: int, seed: int) -> np.ndarray:
    if k <= 1:
        return np.zeros(len(positions), dtype=np.int64)
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if len(positions) > 20000:
        km = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
    else:
        km = KMeans(n_clusters=k, random_state=seed, n_init=2)
    return km.fit_predict(positions).astype(np.int64)


def _caption(member_classes: np.ndarray, names) -> tuple[str | None, float]:
    known = member_classes[member_classes >= 0]
    if len(known) == 0:
        return None, 0.0
    values, counts = np.unique(known, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    first = counts[order[0]] / len(member_classes)
    if first < MIN_SHARE:
        return None, float(first)
    text = names[int(values[order[0]])]
    if len(order) > 1:
        second = counts[order[1]] / len(member_classes)
        if second >= 0.6 * first and second >= 0.2:
            text = f"{text} / {names[int(values[order[1]])]}"
            first += second
    return text, float(first)


def _merge(regions, positions, reach: float):
    """Regions of one level with the same caption (the same classes, in either order) and centres
    within ``reach``: one region."""
    centres = [positions[m].mean(axis=0) for _, m, _ in regions]
    parent = list(range(len(regions)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(regions)):
        for j in range(i + 1, len(regions)):
            if (same_classes(regions[i][0], regions[j][0])
                    and np.linalg.norm(centres[i] - centres[j]) <= reach):
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(regions)):
        groups.setdefault(find(i), []).append(i)
    merged = []
    for members in groups.values():
        idx = np.concatenate([regions[i][1] for i in members])
        share = sum(regions[i][2] * len(regions[i][1]) for i in members) / len(idx)
        largest = max(members, key=lambda i: len(regions[i][1]))  # its order of the two names
        merged.append((regions[largest][0], idx, share))
    return merged


def same_classes(a: str, b: str) -> bool:
    """Whether two captions name the same classes ("tabby cat / Egyptian cat" is "Egyptian cat /
    tabby cat")."""
    return set(a.split(" / ")) == set(b.split(" / "))
