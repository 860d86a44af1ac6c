"""The CPU fallback on a machine without a usable GPU, with the GPU build's behaviour faked: it
offers CUDA, a session asked for CUDA runs on the CPU and writes loader errors to fd 2."""

import json
import os
import sys

import onnxruntime as ort
import pytest

from conftest import TINY_MODEL
from simdesk.cli import main
from simdesk.core import providers
from simdesk.core.embedder import CPU, CUDA, Embedder
from simdesk.core.models.catalog import ModelError

SPAM = (b"2026-01-01 10:00:00.000 [E:onnxruntime:Default, provider_bridge_ort.cc:2195 "
        b"TryGetProviderInfo_CUDA] Failed to load library libonnxruntime_providers_cuda.so with error: "
        b"libcublasLt.so.13: cannot open shared object file: No such file or directory\n"
        b"[W:onnxruntime:Default, onnxruntime_pybind_state.cc:1057] Failed to create CUDAExecutionProvider.\n")
RealSession = ort.InferenceSession


class CpuOnlyGpuBuild:
    """What onnxruntime-gpu does on a CPU-only machine: CUDA offered, the CPU used, stderr spam."""

    def __init__(self, model, sess_options=None, providers=None):
        self.asked = providers
        if CUDA in (providers or []):
            os.write(2, SPAM)
        self._real = RealSession(model, sess_options=sess_options, providers=[CPU])

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture
def gpu_build_without_gpu(monkeypatch):
    monkeypatch.delenv("SIMDESK_PROVIDER", raising=False)
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["TensorrtExecutionProvider", CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", CpuOnlyGpuBuild)
    monkeypatch.setattr(ort, "preload_dlls", lambda *a, **k: os.write(2, b"preload warning\n"), raising=False)
    monkeypatch.setattr(providers, "_preloaded", False)
    monkeypatch.setattr(providers, "_said", set())


def test_the_fallback_is_seen_and_its_reason_kept_and_the_spam_swallowed(tiny_model, gpu_build_without_gpu,
                                                                          capfd):
    embedder = Embedder(tiny_model)
    assert embedder.provider == CPU
    assert "libcublasLt.so.13 was not found" in embedder.fallback
    assert "simdesk gpu enable" in embedder.fallback
    out, err = capfd.readouterr()
    assert "onnxruntime" not in err and "preload" not in err and out == ""


def test_cuda_required_is_an_error_not_a_fallback(tiny_model, gpu_build_without_gpu, monkeypatch):
    monkeypatch.setenv("SIMDESK_PROVIDER", "cuda")
    with pytest.raises(ModelError, match="libcublasLt"):
        Embedder(tiny_model).provider


def test_index_says_the_fallback_once_in_one_line(library_dir, tiny_model, photo_folder,
                                                  gpu_build_without_gpu, capfd):
    assert main(["index", str(photo_folder), "--model", TINY_MODEL]) == 0
    out, err = capfd.readouterr()
    assert f"on {CPU}" in err
    notes = [line for line in err.splitlines() if "not the GPU" in line]
    assert notes == ["note: running on the CPU, not the GPU: the CUDA library libcublasLt.so.13 was not "
                     "found (`simdesk gpu enable` installs ONNX Runtime's GPU build with its CUDA libraries)."]
    assert "onnxruntime:Default" not in err
    assert main(["index", "--model", TINY_MODEL]) == 0  # the same process: not said again
    assert "not the GPU" not in capfd.readouterr().err


def test_status_and_gpu_check_say_what_runs(library_dir, gpu_build_without_gpu, capfd):
    assert main(["status"]) == 0
    out, err = capfd.readouterr()
    assert "Runs on:   CPU (CPUExecutionProvider): the CUDA library libcublasLt.so.13" in out
    assert "onnxruntime:Default" not in out + err
    assert main(["gpu", "check", "--require-cuda"]) == 1
    assert main(["gpu", "--json"]) == 0
    data = json.loads(capfd.readouterr().out.split("\n", 2)[-1])
    assert data["provider"] == CPU and "libcublasLt" in data["reason"]


def test_the_cpu_build_says_how_to_get_the_gpu_one(monkeypatch, capsys):
    monkeypatch.delenv("SIMDESK_PROVIDER", raising=False)
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    assert main(["gpu"]) == 0
    assert "CPU build (`simdesk gpu enable`" in capsys.readouterr().out


@pytest.mark.parametrize("caught, reason", [
    ("cudaErrorNoDevice: no CUDA-capable device is detected", "no NVIDIA GPU was found"),
    ("CUDA driver version is insufficient for CUDA runtime version", "driver is too old"),
    ("", "could not start CUDA on this machine"),
    ("2026-01-01 10:00:00.0 [E:onnxruntime:Default, x.cc:1 f] something odd\n", "CUDA: something odd"),
])
def test_fallback_reasons(caught, reason):
    assert reason in providers.fallback_reason(caught)


def test_gpu_enable_swaps_the_builds_in_this_environment(monkeypatch, capsys):
    import subprocess

    calls = []

    class Done:
        returncode = 0

    monkeypatch.setattr(subprocess, "run", lambda command, **kw: calls.append(command) or Done())
    assert main(["gpu", "enable"]) == 0
    pip = [c[3:] for c in calls if c[:3] == [sys.executable, "-m", "pip"]]
    assert pip[0][0] == "download" and pip[0][-1] == "onnxruntime-gpu[cuda,cudnn]>=1.20"
    assert pip[1] == ["uninstall", "--yes", "onnxruntime", "onnxruntime-gpu"]
    assert pip[2][:2] == ["install", "--no-index"] and pip[2][-1] == "onnxruntime-gpu[cuda,cudnn]>=1.20"
    assert calls[-1] == [sys.executable, "-m", "simdesk", "gpu", "check", "--require-cuda"]
