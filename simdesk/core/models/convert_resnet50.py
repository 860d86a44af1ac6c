"""Convert torchvision ResNet-50 weights (a state dict of NumPy arrays) to an ONNX graph.

The graph follows torchvision's ``resnet50`` (the "v1.5" layout, stride on the 3x3 convolution of
each bottleneck) in eval mode, with every BatchNorm folded into its convolution:

    input [batch, 3, 224, 224]  (already normalised with MEAN / STD below)
    -> features [batch, 2048, 7, 7]  (layer4 output, after its final ReLU)
    -> logits   [batch, 1000]        (global average pool + fc)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import onnx

from simdesk.core.models.onnx_build import BatchNorm, GraphBuilder, checked_weights

INPUT_SIZE = 224
# ImageNet statistics on the 0..255 pixel scale: input = (pixel - MEAN) / STD per channel (RGB).
MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
EMBEDDING_SIZE = 2048
NUM_CLASSES = 1000

_BN_EPS = 1e-5  # torch.nn.BatchNorm2d's default, which torchvision uses
# (name, number of bottleneck blocks, bottleneck width, stride of the first block)
_STAGES = (
    ("layer1", 3, 64, 1),
    ("layer2", 4, 128, 2),
    ("layer3", 6, 256, 2),
    ("layer4", 3, 512, 2),
)
_EXPANSION = 4  # a bottleneck's output has 4x its width in channels


def _batch_norm_shapes(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{p}": (channels,) for p in ("weight", "bias", "running_mean", "running_var")}


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every float tensor of a torchvision ResNet-50 state dict and its shape."""
    shapes = {"conv1.weight": (64, 3, 7, 7), **_batch_norm_shapes("bn1", 64)}
    in_channels = 64
    for stage, blocks, width, _stride in _STAGES:
        out_channels = width * _EXPANSION
        for index in range(blocks):
            block = f"{stage}.{index}"
            shapes[f"{block}.conv1.weight"] = (width, in_channels, 1, 1)
            shapes.update(_batch_norm_shapes(f"{block}.bn1", width))
            shapes[f"{block}.conv2.weight"] = (width, width, 3, 3)
            shapes.update(_batch_norm_shapes(f"{block}.bn2", width))
            shapes[f"{block}.conv3.weight"] = (out_channels, width, 1, 1)
            shapes.update(_batch_norm_shapes(f"{block}.bn3", out_channels))
            if index == 0:  # the first block changes channels (and maybe size): projection
                shapes[f"{block}.downsample.0.weight"] = (out_channels, in_channels, 1, 1)
                shapes.update(_batch_norm_shapes(f"{block}.downsample.1", out_channels))
            in_channels = out_channels
    shapes["fc.weight"] = (NUM_CLASSES, in_channels)
    shapes["fc.bias"] = (NUM_CLASSES,)
    return shapes


def build_resnet50(state_dict: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """The ONNX model for a torchvision ResNet-50 state dict (see the module docstring)."""
    weights = checked_weights(state_dict, expected_shapes(), "a torchvision ResNet-50")

    def bn(prefix: str) -> BatchNorm:
        return BatchNorm.from_state_dict(weights, prefix, _BN_EPS)

    graph = GraphBuilder("resnet50")
    x = graph.reserve_value_name("input")
    x = graph.conv_bn(x, weights["conv1.weight"], bn("bn1"), name="conv1", stride=2, pads=(3,) * 4)
    x = graph.relu(x, name="relu")
    x = graph.max_pool(x, name="maxpool", kernel=3, stride=2, pads=(1,) * 4)

    for stage, blocks, _width, first_stride in _STAGES:
        for index in range(blocks):
            block = f"{stage}.{index}"
            is_last_block = stage == "layer4" and index == blocks - 1
            stride = first_stride if index == 0 else 1
            identity = x
            y = graph.conv_bn(
                x, weights[f"{block}.conv1.weight"], bn(f"{block}.bn1"), name=f"{block}.conv1"
            )
            y = graph.relu(y, name=f"{block}.relu1")
            y = graph.conv_bn(
                y,
                weights[f"{block}.conv2.weight"],
                bn(f"{block}.bn2"),
                name=f"{block}.conv2",
                stride=stride,
                pads=(1,) * 4,
            )
            y = graph.relu(y, name=f"{block}.relu2")
            y = graph.conv_bn(
                y, weights[f"{block}.conv3.weight"], bn(f"{block}.bn3"), name=f"{block}.conv3"
            )
            if index == 0:
                identity = graph.conv_bn(
                    x,
                    weights[f"{block}.downsample.0.weight"],
                    bn(f"{block}.downsample.1"),
                    name=f"{block}.downsample",
                    stride=stride,
                )
            y = graph.add(y, identity, name=f"{block}.add")
            x = graph.relu(y, name=f"{block}.relu", output="features" if is_last_block else None)

    pooled = graph.global_average_pool_flat(x, name="avgpool")
    graph.linear(pooled, weights["fc.weight"], weights["fc.bias"], name="fc", output="logits")
    return graph.build(
        input_name="input",
        input_shape=["batch", 3, INPUT_SIZE, INPUT_SIZE],
        outputs={"features": ["batch", EMBEDDING_SIZE, 7, 7], "logits": ["batch", NUM_CLASSES]},
        doc_string="torchvision ResNet-50 (BatchNorm folded); converted by simdesk",
    )


def convert_resnet50(state_dict: Mapping[str, np.ndarray], out_path: str | os.PathLike) -> None:
    """Write the ONNX model for a torchvision ResNet-50 state dict to ``out_path``.

    Raises:
        ValueError: the state dict is not a ResNet-50 (the message names the offending keys).
    """
    onnx.save(build_resnet50(state_dict), os.fspath(out_path))
