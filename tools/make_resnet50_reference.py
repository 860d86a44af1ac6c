"""Make tests/fixtures/resnet50_reference.npz: PyTorch's ResNet-50 outputs for fixed random weights.

Run once, with PyTorch installed in a separate environment (simdesk itself never needs torch):

    python3 -m venv /work/torchvenv && /work/torchvenv/bin/pip install torch numpy
    /work/torchvenv/bin/python tools/make_resnet50_reference.py

The weights and the input are drawn with NumPy exactly as ``random_resnet50_state_dict`` and
``random_input`` in tests/test_convert_resnet50.py draw them (same seeds, same order of draws);
the saved fingerprint lets the test prove that the two draws still agree. The network is
torchvision's ResNet-50 written out in plain ``torch.nn`` with torchvision's module names (so
``load_state_dict(strict=True)`` checks every key), because torchvision's wheels are tied to
specific torch builds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "resnet50_reference.npz"
WEIGHT_SEED = 20240501
INPUT_SEED = 7
BATCH = 3


# --- the same draws as tests/test_convert_resnet50.py -------------------------------------------


def random_resnet50_state_dict(seed: int = WEIGHT_SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}

    def conv(key, out_channels, in_channels, kernel):
        fan_in = in_channels * kernel * kernel
        weight = rng.standard_normal((out_channels, in_channels, kernel, kernel))
        state[key] = (weight * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def batch_norm(prefix, channels, gamma_range=(0.5, 1.5)):
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
    return np.random.default_rng(seed).standard_normal((batch, 3, 224, 224)).astype(np.float32)


def fingerprint(state: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    float_keys = [k for k in state if state[k].dtype == np.float32]
    total = sum(float(np.abs(state[k]).astype(np.float64).sum()) for k in float_keys)
    return np.array([len(state), total, float(images.astype(np.float64).sum())])


# --- torchvision's ResNet-50, module for module -------------------------------------------------


class Bottleneck(nn.Module):
    """torchvision.models.resnet.Bottleneck (v1.5: the stride sits on the 3x3 convolution)."""

    def __init__(self, in_channels: int, width: int, stride: int, project: bool) -> None:
        super().__init__()
        out_channels = width * 4
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if project:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = 64
        for name, blocks, width, stride in (
            ("layer1", 3, 64, 1),
            ("layer2", 4, 128, 2),
            ("layer3", 6, 256, 2),
            ("layer4", 3, 512, 2),
        ):
            layers = []
            for index in range(blocks):
                layers.append(
                    Bottleneck(in_channels, width, stride if index == 0 else 1, index == 0)
                )
                in_channels = width * 4
            setattr(self, name, nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        features = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        logits = self.fc(torch.flatten(self.avgpool(features), 1))
        return features, logits


def main() -> None:
    state = random_resnet50_state_dict()
    images = random_input()
    model = ResNet50().eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    torch.backends.mkldnn.enabled = False  # plain reference kernels
    with torch.no_grad():
        features, logits = model(torch.from_numpy(images))
    features, logits = features.numpy(), logits.numpy()
    np.savez_compressed(
        OUT,
        fingerprint=fingerprint(state, images),
        logits=logits,
        features_spatial_mean=features.mean(axis=(2, 3)),
        features_first16=features[:, :16],
    )
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes); torch {torch.__version__}")
    print(f"logits: max |x| {np.abs(logits).max():.3f}, top-1 {logits.argmax(axis=1)}")
    print(
        f"features: max {features.max():.3f}, mean {features.mean():.4f}, "
        f"zero fraction {(features == 0).mean():.2f}"
    )


if __name__ == "__main__":
    main()
