"""ResNet-50 conversion: random torchvision-layout weights, converted by simdesk and run with
onnxruntime, must reproduce PyTorch's outputs for the same weights and input.

``tests/fixtures/resnet50_reference.npz`` holds PyTorch's outputs; it was made once by
``tools/make_resnet50_reference.py``, which draws the same weights and input with the same NumPy
generator (a fingerprint stored beside the outputs proves the two draws still agree).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import pytest

from simdesk.core.models import convert_resnet50 as resnet50_module
from simdesk.core.models.convert_resnet50 import convert_resnet50

ort = pytest.importorskip("onnxruntime")

REFERENCE = Path(__file__).resolve().parent / "fixtures" / "resnet50_reference.npz"
WEIGHT_SEED = 20240501
INPUT_SEED = 7
BATCH = 3

# Tolerances against PyTorch, float32 on both sides, as max |ours - torch| / max |torch|.
# 50 layers of float32 arithmetic, different convolution algorithms and BatchNorm folded into
# the weights on our side gave 4e-7 (logits) to 1.2e-6 (raw feature slice) when measured; 2e-5
# leaves ~17x headroom for other CPUs yet fails on real mistakes: a BatchNorm eps of 1e-3
# instead of 1e-5 alone gives 4e-3, a wrong stride, pad or key mix-up far more.
LOGITS_TOLERANCE = 2e-5
FEATURES_TOLERANCE = 2e-5  # the feature map's spatial mean and a raw slice of it


def random_resnet50_state_dict(seed: int = WEIGHT_SEED) -> dict[str, np.ndarray]:
    """A complete torchvision ResNet-50 state dict with random weights, in torchvision's key order.

    He-normal convolutions and BatchNorm with plausible running statistics keep activations in a
    realistic range through all 16 blocks; the last BN of each block has a small gamma (as trained
    ResNets do) so the residual sum does not blow up. ``tools/make_resnet50_reference.py`` mirrors
    this function draw for draw.
    """
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}

    def conv(key: str, out_channels: int, in_channels: int, kernel: int) -> None:
        fan_in = in_channels * kernel * kernel
        weight = rng.standard_normal((out_channels, in_channels, kernel, kernel))
        state[key] = (weight * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def batch_norm(prefix: str, channels: int, gamma_range=(0.5, 1.5)) -> None:
        state[f"{prefix}.weight"] = rng.uniform(*gamma_range, channels).astype(np.float32)
        state[f"{prefix}.bias"] = rng.normal(0.0, 0.1, channels).astype(np.float32)
        state[f"{prefix}.running_mean"] = rng.normal(0.0, 0.2, channels).astype(np.float32)
        state[f"{prefix}.running_var"] = rng.uniform(0.5, 2.0, channels).astype(np.float32)
        state[f"{prefix}.num_batches_tracked"] = np.array(1000, dtype=np.int64)

    conv("conv1.weight", 64, 3, 7)
    batch_norm("bn1", 64)
    in_channels = 64
    for stage, blocks, width in (
        ("layer1", 3, 64),
        ("layer2", 4, 128),
        ("layer3", 6, 256),
        ("layer4", 3, 512),
    ):
        for index in range(blocks):
            block = f"{stage}.{index}"
            conv(f"{block}.conv1.weight", width, in_channels, 1)
            batch_norm(f"{block}.bn1", width)
            conv(f"{block}.conv2.weight", width, width, 3)
            batch_norm(f"{block}.bn2", width)
            conv(f"{block}.conv3.weight", width * 4, width, 1)
            batch_norm(f"{block}.bn3", width * 4, gamma_range=(0.1, 0.3))
            if index == 0:
                conv(f"{block}.downsample.0.weight", width * 4, in_channels, 1)
                batch_norm(f"{block}.downsample.1", width * 4)
            in_channels = width * 4
    state["fc.weight"] = (rng.standard_normal((1000, 2048)) * 0.02).astype(np.float32)
    state["fc.bias"] = rng.normal(0.0, 0.1, 1000).astype(np.float32)
    return state


def random_input(seed: int = INPUT_SEED, batch: int = BATCH) -> np.ndarray:
    """A fixed batch of 'normalised images': standard normal noise, like a normalised photo."""
    return np.random.default_rng(seed).standard_normal((batch, 3, 224, 224)).astype(np.float32)


def fingerprint(state: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """A few numbers that change if the weight or input draw changes."""
    float_keys = [k for k in state if state[k].dtype == np.float32]
    total = sum(float(np.abs(state[k]).astype(np.float64).sum()) for k in float_keys)
    return np.array([len(state), total, float(images.astype(np.float64).sum())])


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


@pytest.fixture(scope="module")
def state_dict() -> dict[str, np.ndarray]:
    return random_resnet50_state_dict()


@pytest.fixture(scope="module")
def onnx_path(state_dict, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("resnet50") / "resnet50.onnx"
    started = time.perf_counter()
    convert_resnet50(state_dict, path)
    print(f"ResNet-50 conversion took {time.perf_counter() - started:.2f} s")
    return path


@pytest.fixture(scope="module")
def session(onnx_path):
    return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])


def run(session, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features, logits = session.run(["features", "logits"], {"input": images})
    return features, logits


def test_reference_was_made_from_the_same_weights_and_input(state_dict):
    reference = np.load(REFERENCE)
    np.testing.assert_allclose(
        fingerprint(state_dict, random_input()), reference["fingerprint"], rtol=1e-9
    )


def test_outputs_match_pytorch(session):
    reference = np.load(REFERENCE)
    features, logits = run(session, random_input())

    assert features.shape == (BATCH, 2048, 7, 7) and features.dtype == np.float32
    assert logits.shape == (BATCH, 1000) and logits.dtype == np.float32
    errors = {
        "logits": relative_error(logits, reference["logits"]),
        "features spatial mean": relative_error(
            features.mean(axis=(2, 3)), reference["features_spatial_mean"]
        ),
        "features slice": relative_error(features[:, :16], reference["features_first16"]),
    }
    print("relative max abs differences vs PyTorch:", errors)
    assert errors["logits"] < LOGITS_TOLERANCE
    assert errors["features spatial mean"] < FEATURES_TOLERANCE
    assert errors["features slice"] < FEATURES_TOLERANCE
    # The classifier agrees on the winning class too.
    assert list(logits.argmax(axis=1)) == list(reference["logits"].argmax(axis=1))


def test_batch_dimension_is_dynamic(session):
    model_input = session.get_inputs()[0]
    assert model_input.name == "input"
    assert isinstance(model_input.shape[0], str) and model_input.shape[1:] == [3, 224, 224]

    images = random_input()
    features_3, logits_3 = run(session, images)
    features_1, logits_1 = run(session, images[1:2])
    assert features_1.shape == (1, 2048, 7, 7) and logits_1.shape == (1, 1000)
    # The same image gives the same answer alone or in a batch (up to float32 reordering).
    np.testing.assert_allclose(logits_1[0], logits_3[1], rtol=0, atol=1e-5 * np.abs(logits_3).max())
    np.testing.assert_allclose(
        features_1[0], features_3[1], rtol=0, atol=1e-5 * np.abs(features_3).max()
    )


def test_graph_contract(onnx_path):
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model, full_check=True)
    op_types = {node.op_type for node in model.graph.node}
    assert "BatchNormalization" not in op_types
    assert op_types <= {"Conv", "Relu", "MaxPool", "Add", "GlobalAveragePool", "Flatten", "Gemm"}
    assert [o.name for o in model.graph.output] == ["features", "logits"]
    assert {opset.domain: opset.version for opset in model.opset_import} == {"": 17}
    assert not model.graph.input[1:]  # weights are initializers, not inputs
    # Weights were folded, not dropped: one initializer per conv weight and bias, plus fc.
    assert len(model.graph.initializer) == 2 * 53 + 2


def test_preprocessing_constants():
    assert resnet50_module.INPUT_SIZE == 224
    assert resnet50_module.EMBEDDING_SIZE == 2048
    np.testing.assert_allclose(resnet50_module.MEAN, (123.675, 116.28, 103.53))
    np.testing.assert_allclose(resnet50_module.STD, (58.395, 57.12, 57.375))


def test_missing_key_is_named(state_dict, tmp_path):
    broken = dict(state_dict)
    del broken["layer3.2.bn2.running_var"]
    with pytest.raises(ValueError, match=r"missing: layer3\.2\.bn2\.running_var"):
        convert_resnet50(broken, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_misshaped_key_is_named(state_dict, tmp_path):
    broken = dict(state_dict)
    broken["layer2.0.conv2.weight"] = np.zeros((128, 128, 5, 5), dtype=np.float32)
    with pytest.raises(
        ValueError, match=r"wrong shape: layer2\.0\.conv2\.weight \(128, 128, 5, 5\)"
    ):
        convert_resnet50(broken, tmp_path / "out.onnx")


def test_other_networks_are_refused(state_dict, tmp_path):
    # A ResNet-101 has the same keys plus more layer3 blocks: it must not be silently truncated.
    deeper = dict(state_dict)
    deeper["layer3.6.conv1.weight"] = np.zeros((256, 1024, 1, 1), dtype=np.float32)
    with pytest.raises(ValueError, match=r"unexpected: layer3\.6\.conv1\.weight"):
        convert_resnet50(deeper, tmp_path / "out.onnx")
    # And an unrelated state dict gets a message saying what it is not.
    with pytest.raises(ValueError, match="not a torchvision ResNet-50"):
        convert_resnet50({"_conv_stem.weight": np.zeros((32, 3, 3, 3), np.float32)}, tmp_path / "x")
