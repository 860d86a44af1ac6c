"""Turning a CNN feature map (N, C, H, W) into one vector per photo.

The ONNX models expose the final convolutional feature map, so the pooling is chosen here and can
be changed without converting the model again.
"""

from __future__ import annotations

import numpy as np

GEM_POWER = 3.0  # the usual generalised-mean exponent (Radenovic et al.): between average and max


def average_pool(features: np.ndarray) -> np.ndarray:
    return features.mean(axis=(2, 3))


def max_pool(features: np.ndarray) -> np.ndarray:
    return features.max(axis=(2, 3))


def gem_pool(features: np.ndarray, power: float = GEM_POWER) -> np.ndarray:
    # Feature maps come after a ReLU/ReLU6, so they are >= 0; the clip guards against -0.0 noise.
    clipped = np.clip(features, 1e-6, None)
    return np.power(np.power(clipped, power).mean(axis=(2, 3)), 1.0 / power)


POOLINGS = {"avg": average_pool, "max": max_pool, "gem": gem_pool}


def pool(features: np.ndarray, pooling: str) -> np.ndarray:
    """Pool a (N, C, H, W) map to (N, C); a (N, D) output (a model that pools itself) passes through."""
    if features.ndim == 2:
        return features.astype(np.float32, copy=False)
    if features.ndim != 4:
        raise ValueError(f"expected a (N, C, H, W) feature map, got shape {features.shape}")
    try:
        fn = POOLINGS[pooling]
    except KeyError:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}") from None
    return fn(features.astype(np.float32, copy=False))


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
