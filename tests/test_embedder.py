"""ONNX Runtime provider choice, preprocessing and pooling."""

import numpy as np
import onnxruntime as ort
import pytest

from simdesk.core.embedder import CPU, CUDA, Embedder, choose_providers
from simdesk.core.models.catalog import ModelError
from simdesk.core.pooling import gem_pool, l2_normalize, pool


def test_cpu_only_build_uses_the_cpu(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    monkeypatch.delenv("SIMDESK_PROVIDER", raising=False)
    assert choose_providers() == [CPU]


def test_cuda_build_tries_cuda_first_with_cpu_fallback(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.delenv("SIMDESK_PROVIDER", raising=False)
    assert choose_providers() == [CUDA, CPU]
    monkeypatch.setenv("SIMDESK_PROVIDER", "cpu")
    assert choose_providers() == [CPU]


def test_asking_for_cuda_without_it_explains_the_gpu_build(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    with pytest.raises(ModelError, match=r"simdesk gpu enable"):
        choose_providers("cuda")


def test_reports_the_provider_that_really_runs(tiny_model):
    assert Embedder(tiny_model).provider == CPU


def test_preprocess_normalises_and_transposes(tiny_model):
    emb = Embedder(tiny_model)
    pixels = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    pixels[..., 0] = 255
    x = emb.preprocess(pixels)
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.float32
    assert np.allclose(x[:, 0], (255 - 127) / 128)
    assert np.allclose(x[:, 1:], -127 / 128)


def test_embedding_is_batch_independent(tiny_model):
    emb = Embedder(tiny_model, pooling="gem")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    together = emb.embed(pixels)
    alone = np.concatenate([emb.embed(pixels[i : i + 1]) for i in range(5)])
    assert together.shape == (5, 16)
    assert np.allclose(together, alone, atol=1e-5)


def test_poolings_order_avg_gem_max():
    rng = np.random.default_rng(0)
    features = rng.random((3, 4, 5, 5)).astype(np.float32)
    avg, gem, mx = pool(features, "avg"), pool(features, "gem"), pool(features, "max")
    assert np.all(avg <= gem + 1e-6) and np.all(gem <= mx + 1e-6)
    assert np.allclose(gem_pool(features, power=1.0), avg, atol=1e-5)
    with pytest.raises(ValueError):
        pool(features, "median")
    assert np.allclose(np.linalg.norm(l2_normalize(avg), axis=1), 1.0)


def test_a_file_that_is_not_a_model_gives_a_clear_error(tiny_model):
    tiny_model.onnx_path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load the model file"):
        Embedder(tiny_model).embed(np.zeros((1, 32, 32, 3), np.uint8))
