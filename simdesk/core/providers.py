"""Which ONNX Runtime provider runs: CUDA when the GPU build is installed and works, else the CPU,
said once, in one line, with the reason.

ONNX Runtime's GPU build lists CUDA among its providers even on a machine without a GPU or without
the CUDA libraries; a session asked for CUDA then runs on the CPU and prints its loader errors
straight to file descriptor 2 (below Python, and whatever its log level). So sessions asking for
CUDA are opened with fd 2 caught, the real provider is read back from the session, and the caught
text becomes the one-line reason.
"""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
GPU_ENABLE_HINT = "`simdesk gpu enable` installs ONNX Runtime's GPU build with its CUDA libraries"

_fd_lock = threading.Lock()
_preloaded = False
_said: set[str] = set()


@contextmanager
def caught_stderr():
    """Everything written to file descriptor 2 inside the block, as ``box[0]`` afterwards."""
    box = [""]
    with _fd_lock:
        try:
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - a closed or odd sys.stderr must not stop the session
            pass
        saved = os.dup(2)
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield box
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                box[0] = sink.read().decode("utf-8", "replace")


def preload_cuda_libraries() -> None:
    """``onnxruntime.preload_dlls()``, once: loads the CUDA and cuDNN libraries that the
    ``nvidia-*`` wheels (onnxruntime-gpu's cuda and cudnn extras) put in site-packages."""
    global _preloaded
    if _preloaded:
        return
    _preloaded = True
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        try:
            preload()
        except Exception:  # noqa: BLE001 - the session creation that follows says what is wrong
            pass


def fallback_reason(caught: str) -> str:
    """One short line from ONNX Runtime's caught stderr: why CUDA did not start."""
    text = caught or ""
    libraries = re.findall(r"([\w.+-]+\.so[.\d]*): cannot open shared object file", text)
    libraries = [name for name in libraries if "onnxruntime_providers" not in name]
    if libraries:
        return f"the CUDA library {libraries[0]} was not found ({GPU_ENABLE_HINT})"
    lowered = text.lower()
    if "no cuda-capable device" in lowered or "cudaerrornodevice" in lowered:
        return "no NVIDIA GPU was found"
    if "driver version is insufficient" in lowered or "cudaerrorinsufficientdriver" in lowered:
        return "the NVIDIA driver is too old for this ONNX Runtime's CUDA; update the driver"
    for line in text.splitlines():
        line = re.sub(r"^[\d\-: .]+\[[EW]:onnxruntime:[^\]]*\]\s*", "", line.strip())
        if line:
            return f"ONNX Runtime could not start CUDA: {line[:160]}"
    return "ONNX Runtime could not start CUDA on this machine"


@dataclass
class Opened:
    session: object
    provider: str  # what really runs
    fallback: str | None = None  # why CUDA, asked for, is not what runs


def open_session(model, options, providers: list[str]) -> Opened:
    """An InferenceSession on ``providers``; with CUDA among them, opened quietly and checked."""
    import onnxruntime as ort

    if CUDA not in providers:
        session = ort.InferenceSession(model, sess_options=options, providers=providers)
        return Opened(session, session.get_providers()[0])
    printed = io.StringIO()  # preload_dlls() reports what it could not load with print()
    with caught_stderr() as caught, redirect_stdout(printed), redirect_stderr(printed):
        preload_cuda_libraries()
        session = ort.InferenceSession(model, sess_options=options, providers=providers)
    provider = session.get_providers()[0]
    return Opened(session, provider,
                  None if provider == CUDA else fallback_reason(caught[0] + printed.getvalue()))


def say_once(line: str) -> str | None:
    """``line`` the first time it is asked for in this process, else None."""
    if line in _said:
        return None
    _said.add(line)
    return line


def fallback_line(reason: str) -> str:
    return f"note: running on the CPU, not the GPU: {reason}."


def distributions() -> dict[str, str]:
    """The installed ONNX Runtime distributions and their versions (they share one module)."""
    from importlib import metadata

    found = {}
    for name in ("onnxruntime", "onnxruntime-gpu"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def _probe_model() -> bytes:
    """A one-convolution ONNX model, for proving that a provider runs."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 32, 32])], [weight])
    # IR 8: readable by every ONNX Runtime simdesk supports (newer onnx writes newer IRs).
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8).SerializeToString()


@dataclass
class ComputeStatus:
    provider: str  # what a session runs on here
    reason: str | None  # why not CUDA (None: CUDA runs)
    distributions: dict[str, str]
    available: list[str]

    def line(self) -> str:
        if self.provider == CUDA:
            return "GPU (CUDAExecutionProvider)"
        return f"CPU (CPUExecutionProvider): {self.reason}"


def compute_status() -> ComputeStatus:
    """What runs here, proven with a tiny session when this ONNX Runtime offers CUDA."""
    import numpy as np
    import onnxruntime as ort

    installed = distributions()
    available = list(ort.get_available_providers())
    if os.environ.get("SIMDESK_PROVIDER", "").lower() == "cpu":
        return ComputeStatus(CPU, "SIMDESK_PROVIDER=cpu", installed, available)
    both = "onnxruntime" in installed and "onnxruntime-gpu" in installed
    if CUDA not in available:
        reason = (("both onnxruntime and onnxruntime-gpu are installed and the CPU build's files won "
                   "(a pip install after `simdesk gpu enable` does this); run `simdesk gpu enable` again")
                  if both else f"this ONNX Runtime is the CPU build ({GPU_ENABLE_HINT})")
        return ComputeStatus(CPU, reason, installed, available)
    opened = open_session(_probe_model(), ort.SessionOptions(), [CUDA, CPU])
    reason = opened.fallback
    if reason is None:
        try:
            opened.session.run(None, {"x": np.zeros((1, 3, 32, 32), np.float32)})
        except Exception as exc:  # noqa: BLE001 - a GPU that opens but cannot run
            return ComputeStatus(CPU, f"a CUDA session opened but could not run: {exc}", installed, available)
    return ComputeStatus(opened.provider, reason, installed, available)
