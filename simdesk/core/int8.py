"""int8 by default, guarded: a library created on a CPU gets an int8 copy of its model, kept only
if it agrees with the fp32 model on the library's own photos.

When a library is indexed for the first time (none of its photos has a vector yet), on a CPU:

1. the first ``SAMPLE_PHOTOS`` photos of its folders (in path order) are decoded once;
2. the model is quantised (ONNX Runtime static QDQ: u8 activations, s8 per-channel weights),
   calibrated on the first ``CALIBRATION_PHOTOS`` of them; the copy lives in the library's own
   folder (``models/``), so no other library's calibration can ever replace it;
3. both models embed the whole sample (search vectors and both duplicate descriptors), and the
   check compares them: the mean cosine of the search vectors, the overlap of each photo's
   top-10 similar list, the mean cosine of the duplicate descriptors and the candidate pairs of
   the duplicate scan (whitened descriptors above the scan's floor) must agree;
4. int8 is kept only if every figure passes; either way the decision and its figures are kept in
   the library's settings and shown by ``simdesk status``.

Every photo of a library is then embedded with the one model file the decision chose (embedding
spaces are keyed by the ONNX file's SHA-256, so nothing can mix). On a GPU (CUDA) the library keeps
fp32. A library that already has vectors (indexed before) keeps its model. A library with fewer
than ``MIN_PHOTOS`` photos is indexed in fp32 and decided on a later run, once it has enough; its
few photos are then embedded again (at most ``REEMBED_LIMIT``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simdesk.core.pooling import l2_normalize

CALIBRATION_PHOTOS = 64
SAMPLE_PHOTOS = 128  # calibration photos plus as many held out; the check runs on all of them
MIN_PHOTOS = 100  # below this the library is indexed in fp32 and decided later
REEMBED_LIMIT = 256  # a library with more fp32 vectors than this keeps fp32 (indexed before)

# What "agree" means. The top-10 overlap and the pair agreement are the quality bars; the
# cosines catch a model whose vectors drift without reordering a small sample.
MIN_MEAN_COSINE = 0.95
MIN_TOP10_OVERLAP = 0.90
MIN_DESCRIPTOR_COSINE = 0.95
MIN_PAIR_AGREEMENT = 0.90  # Jaccard of the candidate pair sets (1.0 when both are empty)


@dataclass
class Int8Check:
    photos: int
    mean_cosine: float
    top10_overlap: float
    descriptor_cosine: float
    pairs_fp32: int
    pairs_int8: int
    pair_agreement: float

    @property
    def passed(self) -> bool:
        return (self.mean_cosine >= MIN_MEAN_COSINE and self.top10_overlap >= MIN_TOP10_OVERLAP
                and self.descriptor_cosine >= MIN_DESCRIPTOR_COSINE
                and self.pair_agreement >= MIN_PAIR_AGREEMENT)

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}

    def describe(self) -> str:
        return (f"{self.photos} photos: vectors cosine {self.mean_cosine:.4f}, top-10 overlap "
                f"{self.top10_overlap:.3f}, descriptors cosine {self.descriptor_cosine:.4f}, "
                f"duplicate candidate pairs {self.pairs_fp32} fp32 / {self.pairs_int8} int8 "
                f"(agreement {self.pair_agreement:.2f})")


def disabled_by_environment() -> bool:
    return os.environ.get("SIMDESK_INT8", "").strip().lower() in ("0", "off", "no", "false")


def outputs(manifest, pooling: str, pixels: np.ndarray, batch: int = 16):
    """(search vectors, upright descriptors, turned descriptors) of ``pixels`` with one model."""
    from simdesk.core.duplicates.descriptors import IndexingDescriptors
    from simdesk.core.embedder import Embedder

    descriptors = IndexingDescriptors(manifest)
    embedder = Embedder(manifest, pooling=pooling,
                        extra_outputs=(descriptors.extra_output,) if descriptors.extra_output else ())
    vectors, upright, turned = [], [], []
    for start in range(0, len(pixels), batch):
        part = pixels[start:start + batch]
        v, maps = embedder.embed_with_maps(part)
        u, t = descriptors.compute(part, maps)
        vectors.append(v), upright.append(u), turned.append(t)
    return np.concatenate(vectors), np.concatenate(upright), np.concatenate(turned)


def _top10(vectors: np.ndarray) -> list[set[int]]:
    from simdesk.core.search import EmbeddingIndex

    ids = np.arange(len(vectors))
    index = EmbeddingIndex(ids, vectors, center=True)  # compared as the library compares them
    k = min(10, len(vectors) - 1)
    return [set(index.query(index.vector_of(i), k, exclude_ids=(i,), transformed=True)[0].tolist())
            for i in ids]


def _candidate_pairs(whitening, upright: np.ndarray) -> set[tuple[int, int]]:
    from simdesk.core.duplicates.grouping import CANDIDATE_FLOOR

    white = whitening.apply(upright)
    sims = white @ white.T
    i, j = np.nonzero(np.triu(sims >= CANDIDATE_FLOOR, k=1))
    return set(zip(i.tolist(), j.tolist()))


def compare(fp32, int8) -> Int8Check:
    """How well the int8 outputs agree with the fp32 ones on the same photos."""
    from simdesk.core.duplicates.candidates import Whitening

    def cosine(a, b):
        return float(np.mean(np.sum(l2_normalize(a) * l2_normalize(b), axis=1)))

    (v32, u32, t32), (v8, u8, t8) = fp32, int8
    lists32, lists8 = _top10(v32), _top10(v8)
    overlap = float(np.mean([len(a & b) / max(len(a), 1) for a, b in zip(lists32, lists8)]))
    whitening = Whitening.fit(u32)  # one whitening for both: the same library, the same yardstick
    pairs32, pairs8 = _candidate_pairs(whitening, u32), _candidate_pairs(whitening, u8)
    union = pairs32 | pairs8
    agreement = len(pairs32 & pairs8) / len(union) if union else 1.0
    return Int8Check(len(v32), cosine(v32, v8), overlap, min(cosine(u32, u8), cosine(t32, t8)),
                     len(pairs32), len(pairs8), agreement)


def build_and_check(source, pooling: str, pixels: np.ndarray, directory: Path,
                    name: str) -> tuple[object, Int8Check]:
    """Quantise ``source`` on the first photos of ``pixels``, then check it on all of them."""
    from simdesk.core.models.quantize import quantize_on_pixels

    quantized = quantize_on_pixels(source, pixels[:CALIBRATION_PHOTOS], directory, name)
    check = compare(outputs(source, pooling, pixels), outputs(quantized, pooling, pixels))
    return quantized, check
