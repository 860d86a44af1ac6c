"""Running a model with ONNX Runtime: decoded pixels in, one pooled vector per photo out."""

from __future__ import annotations

import os
import threading

import numpy as np

from simdesk.core.models.catalog import ModelError, ModelManifest, install_hint
from simdesk.core.pooling import pool
from simdesk.core.providers import CPU, CUDA, GPU_ENABLE_HINT, Opened, open_session


def choose_providers(preference: str | None = None) -> list[str]:
    """CUDA first when this onnxruntime build has it, then CPU.

    ``preference`` (or $SIMDESK_PROVIDER) may be "cpu" or "cuda" (CUDA or an error, no fallback).
    Having CUDA in the list does not mean it works (no GPU, no driver, CUDA libraries missing):
    ONNX Runtime then falls back to the CPU; Embedder.provider reports what really runs and
    Embedder.fallback why.
    """
    import onnxruntime as ort

    preference = (preference or os.environ.get("SIMDESK_PROVIDER") or "auto").lower()
    available = ort.get_available_providers()
    if preference == "cpu":
        return [CPU]
    if preference == "cuda" and CUDA not in available:
        raise ModelError(f"CUDA was requested but this onnxruntime is the CPU build: {GPU_ENABLE_HINT}")
    return [CUDA, CPU] if CUDA in available else [CPU]


def strict_provider(opened: Opened) -> Opened:
    """$SIMDESK_PROVIDER=cuda means CUDA or nothing: a fallback to the CPU is an error then."""
    if opened.fallback and os.environ.get("SIMDESK_PROVIDER", "").lower() == "cuda":
        raise ModelError(f"CUDA was requested (SIMDESK_PROVIDER=cuda) but cannot run: {opened.fallback}")
    return opened


class Embedder:
    """Embeds batches of decoded photos with one model and one pooling.

    The ONNX Runtime session is created on first use, not at construction, so that building an
    Embedder (e.g. to ask for its size) costs nothing.
    """

    def __init__(self, manifest: ModelManifest, pooling: str = "avg", providers: list[str] | None = None,
                 threads: int | None = None, extra_outputs: tuple[str, ...] = ()):
        self.manifest = manifest
        # Intermediate values the session also returns (e.g. the duplicate descriptors' mid-level
        # map): added as graph outputs, so one forward pass gives them with the feature map.
        self.extra_outputs = tuple(o for o in extra_outputs if o != manifest.feature_output)
        self.pooling = pooling
        self._providers = providers
        self._threads = threads
        self._session = None
        self._opened: Opened | None = None
        self._lock = threading.Lock()
        scale = np.float32(1.0) / np.asarray(manifest.std, dtype=np.float32)
        self._scale = scale.reshape(1, 3, 1, 1)
        self._offset = (-np.asarray(manifest.mean, dtype=np.float32) * scale).reshape(1, 3, 1, 1)

    @property
    def dim(self) -> int:
        return self.manifest.embedding_size

    @property
    def input_size(self) -> int:
        return self.manifest.input_size

    @property
    def provider(self) -> str:
        """The provider that really runs (opens the session)."""
        self.session
        return self._opened.provider

    @property
    def fallback(self) -> str | None:
        """Why CUDA, which this ONNX Runtime offers, is not what runs (None: it is, or was not asked)."""
        self.session
        return self._opened.fallback

    @property
    def session(self):
        with self._lock:
            if self._session is None:
                self._opened = self._open_session()
                self._session = self._opened.session
            return self._session

    def _open_session(self) -> Opened:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self._threads:
            options.intra_op_num_threads = self._threads
        # Quiets ORT's per-node placement warnings; what a CUDA provider that fails to load prints
        # below ORT's logger is caught by open_session.
        options.log_severity_level = 3
        # Idle ORT threads would otherwise spin on the cores the decoding threads need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = self._providers or choose_providers()
        try:
            opened = open_session(self._model_source(), options, providers)
        except Exception as exc:  # ORT raises its own unrelated exception types for bad files
            raise ModelError(
                f"cannot load the model file {self.manifest.onnx_path} ({exc}). "
                f"{install_hint(self.manifest.name, reinstall=True)}"
            ) from exc
        return strict_provider(opened)

    def _model_source(self):
        """The ONNX file's path, or the model's bytes with ``extra_outputs`` added as outputs."""
        if not self.extra_outputs:
            return str(self.manifest.onnx_path)
        import onnx
        from onnx import helper

        model = onnx.load(str(self.manifest.onnx_path))
        have = {o.name for o in model.graph.output}
        for name in self.extra_outputs:
            if name not in have:
                model.graph.output.append(helper.make_empty_tensor_value_info(name))
        return model.SerializeToString()

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 normalised as the manifest says."""
        n, h, w, _ = pixels.shape
        x = np.empty((n, 3, h, w), dtype=np.float32)
        # One pass: the uint8 -> float conversion happens inside the multiply.
        np.multiply(pixels.transpose(0, 3, 1, 2), self._scale, out=x)
        x += self._offset
        return x

    def feature_maps(self, pixels: np.ndarray, outputs: list[str] | None = None) -> list[np.ndarray]:
        session = self.session
        names = outputs or [self.manifest.feature_output]
        return session.run(names, {self.manifest.input_name: self.preprocess(pixels)})

    def embed_with_maps(self, pixels: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``embed`` plus the raw maps of the same forward pass by name: the feature output and
        the ``extra_outputs``."""
        names = [self.manifest.feature_output, *self.extra_outputs]
        maps = self.feature_maps(pixels, names)
        return pool(maps[0], self.pooling), dict(zip(names, maps))

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, D) float32 pooled vectors (not normalised)."""
        if len(pixels) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        (features,) = self.feature_maps(pixels)
        return pool(features, self.pooling)
