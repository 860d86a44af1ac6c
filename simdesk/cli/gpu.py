"""``gpu``: what runs here, and the one command that puts ONNX Runtime's GPU build in place.

``onnxruntime`` and ``onnxruntime-gpu`` install the same Python module, so an extra next to the
CPU build cannot work: the GPU build has to replace it, in simdesk's own environment (the
interpreter running this command). Its ``cuda`` and ``cudnn`` extras bring NVIDIA's CUDA and
cuDNN libraries as wheels, so only the NVIDIA driver is needed on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys

from simdesk.cli.common import EXIT_ERROR, EXIT_OK, CliError, print_err

GPU_REQUIREMENT = "onnxruntime-gpu[cuda,cudnn]>=1.20"
CPU_REQUIREMENT = "onnxruntime>=1.17"


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", *args]
    print_err("$ " + " ".join(command))
    if subprocess.run(command).returncode != 0:
        raise CliError(f"pip failed: {' '.join(args)}")


def _check_in_new_interpreter(require_cuda: bool) -> int:
    """`simdesk gpu check` in a fresh interpreter: this one still has the old module loaded."""
    command = [sys.executable, "-m", "simdesk", "gpu", "check"] + (["--require-cuda"] if require_cuda else [])
    return subprocess.run(command).returncode


def _swap(requirement: str, fallback: str) -> None:
    """Replace both ONNX Runtime builds by ``requirement``. Downloaded first, so a network failure
    leaves the installed build alone; should the install itself fail, ``fallback`` goes back."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="simdesk-onnxruntime-") as wheels:
        _pip("download", "--quiet", "--dest", wheels, requirement)
        _pip("uninstall", "--yes", "onnxruntime", "onnxruntime-gpu")
        try:
            _pip("install", "--no-index", "--find-links", wheels, requirement)
        except CliError:
            _pip("install", "--find-links", wheels, fallback)
            raise


def cmd_gpu(args) -> int:
    if args.action in ("enable", "disable") and getattr(sys, "frozen", False):
        raise CliError("this simdesk is the app bundle, which carries the CPU ONNX Runtime; install "
                       "simdesk with pip (README: Install) to use a GPU")
    if args.action == "enable":
        print_err("Replacing ONNX Runtime's CPU build with its GPU build and NVIDIA's CUDA and cuDNN "
                  "libraries (a 256 MB wheel plus NVIDIA's, several hundred MB more; only the NVIDIA driver is needed on the machine)…")
        _swap(GPU_REQUIREMENT, CPU_REQUIREMENT)
        code = _check_in_new_interpreter(require_cuda=True)
        if code != EXIT_OK:
            print_err("The GPU build is installed but CUDA does not run here (see above); simdesk uses "
                      "the CPU. `simdesk gpu disable` puts the smaller CPU build back.")
        return code
    if args.action == "disable":
        _swap(CPU_REQUIREMENT, GPU_REQUIREMENT)
        return _check_in_new_interpreter(require_cuda=False)
    return _check(args)


def _check(args) -> int:
    from simdesk.core.providers import CUDA, compute_status

    status = compute_status()
    if args.json:
        print(json.dumps(status.__dict__, indent=2))
    else:
        installed = ", ".join(f"{n} {v}" for n, v in status.distributions.items()) or "no onnxruntime"
        print(f"ONNX Runtime: {installed}; providers offered: {', '.join(status.available)}")
        print(f"Runs on:      {status.line()}")
    if args.require_cuda and status.provider != CUDA:
        return EXIT_ERROR
    return EXIT_OK
