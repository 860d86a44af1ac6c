"""Helpers the tests share: the tiny ONNX model, drawn photos, the shared real data.

A plain module (``from helpers import draw_photo``), not ``conftest``: fixtures live in
conftest.py, plain functions here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TINY_MODEL = "tiny"
TINY_INPUT = 32


def build_tiny_onnx(path: Path, channels: int = 16, seed: int = 0) -> None:
    """A two-layer CNN with fixed random weights: (N,3,32,32) -> features (N,C,8,8), logits (N,10).

    Small enough to build and run in milliseconds, but its features still respond to colour and
    texture, so similar drawings get similar vectors.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.5, (channels, 3, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, channels).astype(np.float32)
    w2 = rng.normal(0, 0.3, (channels, channels, 3, 3)).astype(np.float32)
    b2 = rng.normal(0, 0.1, channels).astype(np.float32)
    fc = rng.normal(0, 0.3, (10, channels)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["features"]),
        helper.make_node("GlobalAveragePool", ["features"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc"], ["logits"], transB=1),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"), (fc, "fc"))]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, TINY_INPUT, TINY_INPUT])],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", channels, 8, 8]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def install_tiny_model(models_dir: Path, name: str = TINY_MODEL, seed: int = 0):
    from simdesk.core.models import catalog as models

    return models._write_model(
        models_dir,
        name,
        lambda out: build_tiny_onnx(out, seed=seed),
        input_size=TINY_INPUT,
        mean=(127.0, 127.0, 127.0),
        std=(128.0, 128.0, 128.0),
        embedding_size=16,
        source="test model",
    )


def draw_photo(path: Path, seed: int, size=(96, 72), fmt: str | None = None, **save_args) -> Path:
    """A distinct drawn 'photo': a colour gradient and a few shapes that depend on the seed."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 256, 3)
    tint = rng.integers(0, 256, 3)
    t = np.linspace(0, 1, w)[None, :, None]
    pixels = (base * (1 - t) + tint * t).repeat(h, axis=0).astype(np.uint8)
    img = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
        x1, y1 = x0 + int(rng.integers(8, w // 2)), y0 + int(rng.integers(8, h // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt, **save_args)
    return path


def shared_data(sub: str) -> Path:
    path = SHARED_DATA / sub
    if not path.is_dir():
        pytest.skip(f"{path} is not present (real photo data lives beside the repository)")
    return path
