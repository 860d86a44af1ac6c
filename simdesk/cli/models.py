"""``models``: list, install, import, quantize or remove models; built-in models on first use."""

from __future__ import annotations

from simdesk.cli.common import EXIT_OK, CliError, print_err
from simdesk.cli.render import ProgressRenderer, cancel_on_interrupt
from simdesk.core.progress import Cancelled


def ensure_model(name: str) -> None:
    """Install a built-in model on first use; explain what to do for anything else."""
    from simdesk.core.models import catalog as models

    try:
        models.load_model(name)
        return
    except models.ModelError as exc:
        if name not in (models.DEFAULT_MODEL, models.OFFLINE_MODEL):
            raise
        if (models.models_dir() / name / models.MANIFEST_NAME).is_file():  # damaged: reinstall
            print_err(f"{exc} Reinstalling…")
    install(name)


def install(name: str) -> None:
    from simdesk.core.models import catalog as models

    if name == models.OFFLINE_MODEL:
        print_err(f"Converting the offline model {name} to ONNX…")
        manifest = models.install_efficientnet_lite0()
    elif name == models.DEFAULT_MODEL:
        print_err(f"Downloading the ResNet-50 ImageNet weights (about "
                  f"{models.RESNET50_APPROX_BYTES / 1e6:.0f} MB)…")
        try:
            with cancel_on_interrupt() as cancel, ProgressRenderer() as progress:
                manifest = models.install_resnet50(progress=progress, cancel=cancel)
        except Cancelled:
            raise Cancelled("Stopped. Run the same command again to resume the download.") from None
    else:
        raise CliError(f"unknown model {name!r}: built-in models are "
                       f"{models.DEFAULT_MODEL} and {models.OFFLINE_MODEL}; "
                       "use `simdesk models import FILE` for your own")
    print_err(f"Installed {manifest.name} ({manifest.embedding_size}-d features) in {manifest.directory}")


def cmd_models(args) -> int:
    from simdesk.core.models import catalog as models

    if args.action == "list":
        installed = {m.name: m for m in models.installed_models()}
        print(f"Model files: {models.models_dir()}")
        for name in (models.DEFAULT_MODEL, models.OFFLINE_MODEL):
            state = "installed" if name in installed else "not installed"
            print(f"  {name:<20} {state}{'  (default)' if name == models.DEFAULT_MODEL else ''}")
        for name, manifest in installed.items():
            if name not in (models.DEFAULT_MODEL, models.OFFLINE_MODEL):
                print(f"  {name:<20} installed  ({manifest.source})")
    elif args.action == "install":
        install(args.name)
    elif args.action == "import":
        manifest = models.import_model(args.file, args.name, mean=_triple(args.mean), std=_triple(args.std))
        print(f"Imported {manifest.name} ({manifest.embedding_size}-d) — use it with "
              f"`simdesk index --model {manifest.name}`")
    elif args.action == "quantize":
        from simdesk.core.decode import IMAGE_EXTENSIONS
        from simdesk.core.models.quantize import quantize_model
        from simdesk.core.scan import scan_folders

        found = scan_folders([args.photos], IMAGE_EXTENSIONS).files
        if not found:
            raise CliError(f"no photos found in {args.photos} to calibrate on")
        step = max(1, len(found) // args.count)
        calibration = [f.path for f in found[::step]][: args.count]
        with ProgressRenderer() as progress:
            manifest = quantize_model(args.name, calibration, progress=progress)
        print(f"Created {manifest.name}; use it with `simdesk index --model {manifest.name}`")
    elif args.action == "remove":
        if not models.remove_model(args.name):
            raise CliError(f"model {args.name!r} is not installed")
        print(f"Removed {args.name}")
    else:
        raise AssertionError(args.action)
    return EXIT_OK


def _triple(text: str | None):
    if not text:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise CliError(f"expected three comma-separated numbers, got {text!r}") from None
    if len(values) != 3:
        raise CliError(f"expected three comma-separated numbers, got {text!r}")
    return values
