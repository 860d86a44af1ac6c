"""Small helpers for writing CNN inference graphs as ONNX, on top of ``onnx.helper``.

The converters in ``convert_*.py`` describe a network layer by layer with :class:`GraphBuilder`;
batch normalisation is folded into the preceding convolution here, so the graphs hold only Conv,
activations, adds, pooling and one Gemm -- the operators every ONNX Runtime build runs fast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET_VERSION = 17
# IR version 8 is the oldest that carries opset 17; keeping it low lets older onnxruntime
# releases (>= 1.14) load the file.
IR_VERSION = 8


@dataclass(frozen=True)
class BatchNorm:
    """The inference-time parameters of one BatchNorm2d layer."""

    weight: np.ndarray  # gamma
    bias: np.ndarray  # beta
    running_mean: np.ndarray
    running_var: np.ndarray
    eps: float

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, np.ndarray], prefix: str, eps: float):
        """The BatchNorm stored under ``prefix`` (e.g. ``"layer1.0.bn1"``) in a state dict."""
        return cls(
            weight=state_dict[f"{prefix}.weight"],
            bias=state_dict[f"{prefix}.bias"],
            running_mean=state_dict[f"{prefix}.running_mean"],
            running_var=state_dict[f"{prefix}.running_var"],
            eps=eps,
        )


def fold_batch_norm(
    conv_weight: np.ndarray, conv_bias: np.ndarray | None, batch_norm: BatchNorm
) -> tuple[np.ndarray, np.ndarray]:
    """Weight and bias of one convolution equal to ``batch_norm(conv(x))`` at inference.

    BN computes ``(y - mean) * gamma / sqrt(var + eps) + beta``: a per-output-channel scale and
    shift, which can be moved into the convolution's weight and bias. Computed in float64 so the
    folding itself adds no rounding error beyond the final cast to float32.
    """
    scale = batch_norm.weight.astype(np.float64) / np.sqrt(
        batch_norm.running_var.astype(np.float64) + batch_norm.eps
    )
    bias = np.zeros(conv_weight.shape[0]) if conv_bias is None else conv_bias.astype(np.float64)
    folded_weight = conv_weight.astype(np.float64) * scale.reshape(-1, 1, 1, 1)
    folded_bias = (bias - batch_norm.running_mean) * scale + batch_norm.bias
    return folded_weight.astype(np.float32), folded_bias.astype(np.float32)


def checked_weights(
    state_dict: Mapping[str, np.ndarray], expected_shapes: Mapping[str, tuple], network: str
) -> dict[str, np.ndarray]:
    """The float32 weights of ``state_dict``, once its keys and shapes are exactly as expected.

    ``num_batches_tracked`` (BatchNorm's training counter) is ignored. Any other extra key is an
    error too, not only a missing one: it means another network (a ResNet-101 has more blocks, a
    full EfficientNet has squeeze-excite weights) that must not be silently converted as this one.

    Raises:
        ValueError: naming the missing, mis-shaped and unexpected keys (the first few of each).
    """
    weights = {
        key: value for key, value in state_dict.items() if not key.endswith("num_batches_tracked")
    }
    missing = [key for key in expected_shapes if key not in weights]
    misshaped = [
        f"{key} {tuple(np.shape(weights[key]))} (expected {shape})"
        for key, shape in expected_shapes.items()
        if key in weights and tuple(np.shape(weights[key])) != tuple(shape)
    ]
    unexpected = [key for key in weights if key not in expected_shapes]
    problems = []
    for label, keys in (
        ("missing", missing),
        ("wrong shape", misshaped),
        ("unexpected", unexpected),
    ):
        if keys:
            shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise ValueError(f"not {network} state dict -- " + "; ".join(problems))
    return {key: np.asarray(value, dtype=np.float32) for key, value in weights.items()}


def tf_same_padding(input_size: int, kernel_size: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow "SAME" padding along one axis: (pad_begin, pad_end, output_size).

    TF pads so that the output has ``ceil(input / stride)`` elements, putting the odd extra pixel
    at the end (bottom/right) -- unlike PyTorch's symmetric ``padding=k // 2``. For a fixed input
    size this is a static, possibly asymmetric pad that ONNX Conv's ``pads`` can express.
    """
    output_size = math.ceil(input_size / stride)
    total = max((output_size - 1) * stride + kernel_size - input_size, 0)
    return total // 2, total - total // 2, output_size


class GraphBuilder:
    """Accumulates nodes and initializers, then makes an opset-17 :class:`onnx.ModelProto`.

    Every method that adds a node returns the name of its output, so layers chain naturally::

        x = builder.conv_bn(x, weight, bn, name="conv1", stride=2, pads=(3, 3, 3, 3))
        x = builder.relu(x, name="relu")
    """

    def __init__(self, graph_name: str) -> None:
        self.graph_name = graph_name
        self._nodes: list[onnx.NodeProto] = []
        self._initializers: list[onnx.TensorProto] = []
        # ONNX keeps node names and value (tensor) names in separate namespaces.
        self._node_names: set[str] = set()
        self._value_names: set[str] = set()

    # --- bookkeeping ---------------------------------------------------------------------------

    @staticmethod
    def _unique(name: str, used: set[str]) -> str:
        candidate, counter = name, 1
        while candidate in used:
            counter += 1
            candidate = f"{name}_{counter}"
        used.add(candidate)
        return candidate

    def reserve_value_name(self, name: str) -> str:
        """Claim a value name (the graph input's) so that no node output takes it."""
        self._value_names.add(name)
        return name

    def initializer(self, name: str, array: np.ndarray) -> str:
        """Add a constant tensor (a weight) to the graph; returns its name."""
        name = self._unique(name, self._value_names)
        self._initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op_type: str, inputs: list[str], name: str, output: str | None = None, **attrs):
        """Add one node with a single output (named ``output`` or after the node)."""
        node_name = self._unique(name, self._node_names)
        if output is None:
            output_name = self._unique(node_name, self._value_names)
        elif output in self._value_names:  # a caller-chosen name is part of a contract: no renaming
            raise ValueError(f"the value name {output!r} is already used in the graph")
        else:
            output_name = self.reserve_value_name(output)
        self._nodes.append(
            helper.make_node(op_type, inputs, [output_name], name=node_name, **attrs)
        )
        return output_name

    # --- layers ---------------------------------------------------------------------------------

    def conv(
        self,
        x: str,
        weight: np.ndarray,
        bias: np.ndarray | None,
        *,
        name: str,
        stride: int = 1,
        pads: tuple[int, int, int, int] = (0, 0, 0, 0),
        group: int = 1,
        output: str | None = None,
    ) -> str:
        """A 2-D convolution. ``pads`` is ONNX order: (top, left, bottom, right)."""
        inputs = [x, self.initializer(f"{name}.weight", weight.astype(np.float32))]
        if bias is not None:
            inputs.append(self.initializer(f"{name}.bias", bias.astype(np.float32)))
        return self.node(
            "Conv",
            inputs,
            name,
            output,
            kernel_shape=list(weight.shape[2:]),
            strides=[stride, stride],
            pads=list(pads),
            group=group,
        )

    def conv_bn(
        self,
        x: str,
        weight: np.ndarray,
        batch_norm: BatchNorm,
        *,
        name: str,
        conv_bias: np.ndarray | None = None,
        **conv_options,
    ) -> str:
        """A convolution followed by batch norm, emitted as one Conv with the BN folded in."""
        folded_weight, folded_bias = fold_batch_norm(weight, conv_bias, batch_norm)
        return self.conv(x, folded_weight, folded_bias, name=name, **conv_options)

    def relu(self, x: str, *, name: str, output: str | None = None) -> str:
        return self.node("Relu", [x], name, output)

    def relu6(self, x: str, *, name: str, output: str | None = None) -> str:
        """min(max(x, 0), 6): Clip with its bounds as inputs (opset >= 11)."""
        low = self._shared_scalar("relu6.min", 0.0)
        high = self._shared_scalar("relu6.max", 6.0)
        return self.node("Clip", [x, low, high], name, output)

    def add(self, a: str, b: str, *, name: str, output: str | None = None) -> str:
        return self.node("Add", [a, b], name, output)

    def max_pool(self, x: str, *, name: str, kernel: int, stride: int, pads: tuple) -> str:
        return self.node(
            "MaxPool",
            [x],
            name,
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=list(pads),
        )

    def global_average_pool_flat(self, x: str, *, name: str) -> str:
        """[N, C, H, W] -> [N, C]: the mean over all spatial positions."""
        pooled = self.node("GlobalAveragePool", [x], name)
        return self.node("Flatten", [pooled], f"{name}.flatten", axis=1)

    def linear(
        self, x: str, weight: np.ndarray, bias: np.ndarray, *, name: str, output: str | None = None
    ) -> str:
        """A fully connected layer with PyTorch's [out, in] weight layout: x @ W.T + b."""
        weight_name = self.initializer(f"{name}.weight", weight.astype(np.float32))
        bias_name = self.initializer(f"{name}.bias", bias.astype(np.float32))
        return self.node("Gemm", [x, weight_name, bias_name], name, output, transB=1)

    def _shared_scalar(self, name: str, value: float) -> str:
        if name not in self._value_names:
            self._value_names.add(name)
            self._initializers.append(
                numpy_helper.from_array(np.array(value, dtype=np.float32), name)
            )
        return name

    # --- the model ------------------------------------------------------------------------------

    def build(
        self,
        *,
        input_name: str,
        input_shape: list,
        outputs: Mapping[str, list],
        doc_string: str = "",
    ) -> onnx.ModelProto:
        """The finished model; shapes may hold strings for symbolic dimensions (e.g. "batch")."""
        graph = helper.make_graph(
            self._nodes,
            self.graph_name,
            inputs=[helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)],
            outputs=[
                helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
                for name, shape in outputs.items()
            ],
            initializer=self._initializers,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET_VERSION)],
            producer_name="simdesk",
            doc_string=doc_string,
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model
