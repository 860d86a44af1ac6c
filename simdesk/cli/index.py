"""``index``, ``status``, ``problems`` and ``folders``: the library and what is in it."""

from __future__ import annotations


from simdesk.cli.common import (EXIT_CANCELLED, EXIT_OK, edit_folders, json_text, open_library, print_err,
                                say_fallback)
from simdesk.cli.models import ensure_model
from simdesk.cli.render import ProgressRenderer, cancel_on_interrupt
from simdesk.core.units import format_bytes, format_duration


def cmd_index(args) -> int:
    library = open_library(args)
    for folder in args.folders:
        print_err(f"Library folder: {library.add_folder(folder)}")
    name = args.model or (None if _model_settled(library) else _first_model_choice())
    if name:
        # Installed (or downloaded) before it is saved: a failed download leaves the library as
        # it was, and the next run chooses again (e.g. the offline model installed meanwhile).
        ensure_model(name)
    if name or args.pooling:
        library.set_model(name, args.pooling)
    ensure_model(library.model_name)
    embedder = library.embedder()
    print_err(f"Model {library.model_name} ({library.pooling} pooling) on {embedder.provider}")
    say_fallback(embedder.fallback)
    with cancel_on_interrupt() as cancel, ProgressRenderer() as progress:
        report = library.index(progress=progress, cancel=cancel, retry_failed=args.retry_failed,
                               workers=args.workers, batch_size=args.batch_size)
    _print_index_report(report)
    return EXIT_CANCELLED if report.cancelled else EXIT_OK


def _model_settled(library) -> bool:
    """Whether the library's model is its own choice. Not so for a library that never indexed a
    photo and names ResNet-50, not installed, while the offline model is: an older simdesk saved
    the choice before the download that then failed."""
    from simdesk.core.models import catalog as models

    if not library.model_chosen:
        return False
    if library.model_name != models.DEFAULT_MODEL or library.store.photo_count():
        return True
    installed = {m.name for m in models.installed_models()}
    return models.DEFAULT_MODEL in installed or models.OFFLINE_MODEL not in installed


def _first_model_choice() -> str:
    """A new library's model: ResNet-50, unless only the offline model is installed."""
    from simdesk.core.models import catalog as models

    installed = {m.name for m in models.installed_models()}
    if models.DEFAULT_MODEL not in installed and models.OFFLINE_MODEL in installed:
        print_err(f"Using the installed offline model {models.OFFLINE_MODEL} "
                  f"(`--model {models.DEFAULT_MODEL}` to download and use ResNet-50 instead).")
        return models.OFFLINE_MODEL
    return models.DEFAULT_MODEL


def _print_index_report(report) -> None:
    lines = [
        f"{report.found} photos found: {report.embedded} indexed, {report.reused} moved or copied "
        f"(kept their embedding), {report.unchanged} unchanged, {report.removed} removed "
        f"from the index.",
    ]
    if report.embedded + report.reused:
        took = f"{report.seconds:.1f} s" if report.seconds < 60 else format_duration(report.seconds)
        lines.append(f"{report.rate:.1f} photos/s over {took}.")
    for skipped in report.failed:
        lines.append(f"skipped {skipped.path}: {skipped.reason}")
    for skipped in report.retry_later:
        lines.append(f"not yet {skipped.path}: {skipped.reason}")
    for problem in report.scan_problems:
        lines.append(f"problem {problem.path}: {problem.reason}")
    for folder in report.offline_folders:
        lines.append(f"offline {folder}: folder not found (unplugged drive?); its photos were kept")
    if report.known_failures:
        lines.append(f"{report.known_failures} files that failed before were not retried "
                     "(see `simdesk problems`; `--retry-failed` tries them again).")
    if report.cancelled:
        lines.append("Stopped. Run the same command again to resume.")
    print_err("\n".join(lines))


def cmd_status(args) -> int:
    from simdesk.core.providers import compute_status

    status = open_library(args, notices=False).status()
    compute = compute_status()
    if args.json:
        print(json_text({**status.__dict__, "provider": compute.provider, "provider_note": compute.reason}))
        return EXIT_OK
    print(f"Library:   {status.directory}")
    print(f"Database:  {format_bytes(status.database_bytes)}")
    print(f"Model:     {status.model} ({status.pooling} pooling)")
    if status.precision:
        print(f"Precision: {status.precision}")
    print(f"Photos:    {status.photos} known, {status.embedded} indexed with this model")
    print(f"Runs on:   {compute.line()}")
    print("Folders:" + ("" if status.folders else "   none yet (simdesk index FOLDER)"))
    for folder in status.folders:
        flag = "  (offline)" if folder in status.offline_folders else ""
        print(f"  {folder}{flag}")
    skipped = sum(status.skipped_by_reason.values())
    if skipped:
        print(f"Skipped:   {skipped} files (simdesk problems lists them)")
        for reason, count in status.skipped_by_reason.items():
            print(f"  {count:>6}  {reason}")
    for notice in status.notices:
        print(f"note: {notice}")
    return EXIT_OK


def cmd_problems(args) -> int:
    errors = open_library(args).store.errors()
    if args.json:
        print(json_text([{"path": e.path, "reason": e.reason} for e in errors]))
        return EXIT_OK
    for error in errors:
        print(f"{error.path}: {error.reason}")
    if not errors:
        print("No problems: every photo found could be indexed.")
    return EXIT_OK


def cmd_folders(args) -> int:
    return edit_folders(args, "folder", "a library folder", added="added {}",
                        removed="removed {} (its photos are untouched on disk)")
