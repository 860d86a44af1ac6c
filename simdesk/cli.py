"""The `simdesk` command: everything the app does, scriptable and headless.

Heavy modules (NumPy, ONNX Runtime, the converters) are imported inside the commands that need
them, so `simdesk --help` and `simdesk --version` answer at once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager

from simdesk import __version__
from simdesk.core.units import format_bytes as _fmt_bytes
from simdesk.core.units import format_duration as _fmt_duration

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


class CliError(Exception):
    """A failure to report as one clear line, without a traceback."""


def _print_err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ProgressPrinter:
    """A one-line progress bar on a terminal; an occasional plain line otherwise (logs, CI)."""

    def __init__(self, stream=None, width: int = 28):
        self.stream = stream or sys.stderr
        self.width = width
        self.is_tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_plain = 0.0
        self._drawn = False

    def _emit(self, line: str, final: bool = False) -> None:
        if self.is_tty:
            columns = 100
            try:
                columns = os.get_terminal_size(self.stream.fileno()).columns
            except (OSError, ValueError):
                pass
            self.stream.write("\r" + line[: columns - 1].ljust(columns - 1))
            self._drawn = True
            if final:
                self.stream.write("\n")
                self._drawn = False
        else:
            now = time.monotonic()
            if final or now - self._last_plain >= 5.0:
                self._last_plain = now
                self.stream.write(line + "\n")
        self.stream.flush()

    def index_progress(self, p) -> None:
        if p.phase == "scanning":
            self._emit(f"Scanning… {p.done} photos found  {os.path.basename(p.current)}")
            return
        total = max(p.total, 1)
        filled = int(self.width * p.done / total)
        bar = "#" * filled + "-" * (self.width - filled)
        line = (
            f"[{bar}] {p.done}/{p.total}  {p.rate:.1f} photos/s  ETA {_fmt_duration(p.eta_seconds)}"
        )
        if p.current:
            line += f"  {os.path.basename(p.current)!s}"
        self._emit(line, final=p.phase == "done")

    def status(self, line: str) -> None:
        """A progress line of free text (redrawn in place on a terminal)."""
        self._emit(line)

    def bytes_progress(self, label: str):
        def callback(done: int, total: int | None) -> None:
            if total:
                filled = int(self.width * done / total)
                bar = "#" * filled + "-" * (self.width - filled)
                self._emit(f"{label} [{bar}] {_fmt_bytes(done)} / {_fmt_bytes(total)}",
                           final=done >= total)
            else:
                self._emit(f"{label} {_fmt_bytes(done)}")

        return callback

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


@contextmanager
def cancel_on_interrupt():
    """First Ctrl-C asks the work to stop cleanly; a second one aborts at once."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        _print_err("\nStopping after the current batch… (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


# -- commands ---------------------------------------------------------------------------------


def _library(args):
    from simdesk.core.library import Library

    library = Library(args.library)
    return library


def _show_notices(library) -> None:
    for notice in library.notices:
        _print_err(f"note: {notice}")
    library.notices.clear()


def _ensure_model(name: str, printer: ProgressPrinter) -> None:
    """Install a built-in model on first use; explain what to do for anything else."""
    from simdesk.core.models import catalog as models

    try:
        models.load_model(name)
        return
    except models.ModelError as exc:
        if name not in (models.DEFAULT_MODEL, models.OFFLINE_MODEL):
            raise CliError(str(exc)) from None
        is_installed = (models.models_dir() / name / models.MANIFEST_NAME).is_file()
        if is_installed:  # damaged: say so, reinstall below
            _print_err(f"{exc} Reinstalling…")
    _install(name, printer)


def _install(name: str, printer: ProgressPrinter) -> None:
    from simdesk.core.models import catalog as models

    if name == models.OFFLINE_MODEL:
        _print_err(f"Converting the offline model {name} to ONNX…")
        manifest = models.install_efficientnet_lite0()
    elif name == models.DEFAULT_MODEL:
        _print_err(f"Downloading the ResNet-50 ImageNet weights (about "
                   f"{models.RESNET50_APPROX_BYTES / 1e6:.0f} MB)…")
        with cancel_on_interrupt() as cancel:
            try:
                manifest = models.install_resnet50(
                    progress=printer.bytes_progress("resnet50"), cancel=cancel
                )
            except models.ModelError as exc:
                printer.finish()
                raise CliError(str(exc)) from None
        printer.finish()
    else:
        raise CliError(f"unknown model {name!r}: built-in models are "
                       f"{models.DEFAULT_MODEL} and {models.OFFLINE_MODEL}; "
                       "use `simdesk models import FILE` for your own")
    _print_err(f"Installed {manifest.name} ({manifest.embedding_size}-d features) in {manifest.directory}")


def cmd_index(args) -> int:
    from simdesk.core.library import LibraryError

    library = _library(args)
    _show_notices(library)
    for folder in args.folders:
        try:
            added = library.add_folder(folder)
        except LibraryError as exc:
            raise CliError(str(exc)) from None
        _print_err(f"Library folder: {added}")
    if not args.model and not library.model_chosen:
        args.model = _first_model_choice()
    if args.model or args.pooling:
        library.set_model(args.model, args.pooling)
    printer = ProgressPrinter()
    _ensure_model(library.model_name, printer)
    embedder = library.embedder()
    _print_err(f"Model {library.model_name} ({library.pooling} pooling) on {embedder.provider}")
    with cancel_on_interrupt() as cancel:
        try:
            report = library.index(progress=printer.index_progress, cancel=cancel,
                                   retry_failed=args.retry_failed, workers=args.workers,
                                   batch_size=args.batch_size)
        except LibraryError as exc:
            raise CliError(str(exc)) from None
    printer.finish()
    _print_index_report(report)
    return EXIT_CANCELLED if report.cancelled else EXIT_OK


def _first_model_choice() -> str:
    """A new library's model: ResNet-50, unless only the offline model is installed."""
    from simdesk.core.models import catalog as models

    installed = {m.name for m in models.installed_models()}
    if models.DEFAULT_MODEL not in installed and models.OFFLINE_MODEL in installed:
        _print_err(f"Using the installed offline model {models.OFFLINE_MODEL} "
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
        took = f"{report.seconds:.1f} s" if report.seconds < 60 else _fmt_duration(report.seconds)
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
    _print_err("\n".join(lines))


def cmd_similar(args) -> int:
    from simdesk.core.library import LibraryError
    from simdesk.core.models.catalog import ModelError

    library = _library(args)
    _show_notices(library)
    try:
        result = library.similar(args.query, k=args.k)
    except (LibraryError, ModelError) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(_json_text(result.to_json()))
        return EXIT_OK
    where = "in the library" if result.in_library else "not in the library: embedded on the fly"
    print(f"Most similar to {result.query} ({where}; {result.model}, {result.pooling}):")
    for rank, match in enumerate(result.matches, 1):
        print(f"{rank:>4}  {match.similarity:.3f}  {match.path}")
    if not result.matches:
        print("  (no other photos in the library)")
    return EXIT_OK


def cmd_status(args) -> int:
    library = _library(args)
    status = library.status()
    if args.json:
        print(_json_text(status.__dict__))
        return EXIT_OK
    print(f"Library:   {status.directory}")
    print(f"Database:  {_fmt_bytes(status.database_bytes)}")
    print(f"Model:     {status.model} ({status.pooling} pooling)")
    print(f"Photos:    {status.photos} known, {status.embedded} indexed with this model")
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
    library = _library(args)
    _show_notices(library)
    errors = library.store.errors()
    if args.json:
        print(_json_text([{"path": e.path, "reason": e.reason} for e in errors]))
        return EXIT_OK
    for error in errors:
        print(f"{error.path}: {error.reason}")
    if not errors:
        print("No problems: every photo found could be indexed.")
    return EXIT_OK


def cmd_folders(args) -> int:
    from simdesk.core.library import LibraryError

    library = _library(args)
    _show_notices(library)
    if args.action == "add":
        for folder in args.paths:
            try:
                print(f"added {library.add_folder(folder)}")
            except LibraryError as exc:
                raise CliError(str(exc)) from None
    elif args.action == "remove":
        for folder in args.paths:
            if library.remove_folder(folder):
                print(f"removed {os.path.abspath(folder)} (its photos are untouched on disk)")
            else:
                raise CliError(f"{os.path.abspath(folder)} is not a library folder")
    else:
        for folder in library.folders:
            print(folder)
    return EXIT_OK


def cmd_models(args) -> int:
    from simdesk.core.models import catalog as models

    printer = ProgressPrinter()
    if args.action == "list":
        installed = {m.name: m for m in models.installed_models()}
        print(f"Model files: {models.models_dir()}")
        for name in (models.DEFAULT_MODEL, models.OFFLINE_MODEL):
            state = "installed" if name in installed else "not installed"
            print(f"  {name:<20} {state}{'  (default)' if name == models.DEFAULT_MODEL else ''}")
        for name, manifest in installed.items():
            if name not in (models.DEFAULT_MODEL, models.OFFLINE_MODEL):
                print(f"  {name:<20} installed  ({manifest.source})")
        return EXIT_OK
    if args.action == "install":
        _install(args.name, printer)
        return EXIT_OK
    if args.action == "import":
        try:
            manifest = models.import_model(
                args.file, args.name, mean=_triple(args.mean), std=_triple(args.std)
            )
        except models.ModelError as exc:
            raise CliError(str(exc)) from None
        print(f"Imported {manifest.name} ({manifest.embedding_size}-d) — use it with "
              f"`simdesk index --model {manifest.name}`")
        return EXIT_OK
    if args.action == "quantize":
        from simdesk.core.decode import IMAGE_EXTENSIONS
        from simdesk.core.scan import scan_folders

        found = scan_folders([args.photos], IMAGE_EXTENSIONS).files
        if not found:
            raise CliError(f"no photos found in {args.photos} to calibrate on")
        step = max(1, len(found) // args.count)
        calibration = [f.path for f in found[::step]][: args.count]
        try:
            from simdesk.core.models.quantize import quantize_model

            manifest = quantize_model(args.name, calibration, progress=_count_progress(printer))
        except models.ModelError as exc:
            raise CliError(str(exc)) from None
        printer.finish()
        print(f"Created {manifest.name}; use it with `simdesk index --model {manifest.name}`")
        return EXIT_OK
    if args.action == "remove":
        if not models.remove_model(args.name):
            raise CliError(f"model {args.name!r} is not installed")
        print(f"Removed {args.name}")
        return EXIT_OK
    raise AssertionError(args.action)


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


def cmd_eval(args) -> int:
    from simdesk.core.embedder import Embedder
    from simdesk.eval.retrieval import evaluate_retrieval

    printer = ProgressPrinter()
    _ensure_model(args.model, printer)
    from simdesk.core.models.catalog import load_model

    manifest = load_model(args.model)
    if args.resize:
        manifest.resize_mode = args.resize
    embedder = Embedder(manifest)
    try:
        report = evaluate_retrieval(
            embedder, args.folder,
            progress=_count_progress(printer),
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    printer.finish()
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(f"{report['model']} ({report['resize']}): {report['photos']} photos in "
          f"{len(report['classes'])} classes; relevant = same class, query excluded")
    if report["skipped"]:
        print(f"({report['skipped']} files could not be decoded and were left out)")
    print(f"{'pooling':<18} {'P@1':>6} {'P@10':>6} {'mAP':>6}")
    for name, scores in report["results"].items():
        print(f"{name:<18} {scores['P@1']:6.3f} {scores['P@10']:6.3f} {scores['mAP']:6.3f}")
    return EXIT_OK


@contextmanager
def _edited_copies_set(args, printer: ProgressPrinter):
    """(folder to score, recipes): DIR itself, or an edited-copies set built from DIR's photos."""
    if not args.edited_copies:
        yield args.folder, None
        return
    from simdesk.eval.edited_copies import build_edited_copies

    with tempfile.TemporaryDirectory(prefix="simdesk-edited-") as tmp:
        out = args.keep_set or os.path.join(tmp, "set")

        def progress(done: int, total: int) -> None:
            printer.status(f"Building the edited-copies set… {done}/{total} photos")

        built = build_edited_copies(args.folder, out, originals=args.originals, copies=args.copies,
                                    distractors=args.distractors, seed=args.seed,
                                    strength=args.strength, progress=progress)
        printer.finish()
        # With --json, stdout carries the report alone: the summary goes to stderr.
        print(f"Edited-copies set from {os.path.abspath(args.folder)}: {len(built.groups)} originals "
              f"x {args.copies} edited copies, {len(built.distractors)} distractors"
              + (f" (in {out})" if args.keep_set else ""), file=sys.stderr if args.json else sys.stdout)
        for source, why in built.skipped:
            _print_err(f"skipped {source}: {why}")
        yield str(built.folder), built.recipes


def cmd_eval_duplicates(args) -> int:
    from simdesk.eval.duplicates import evaluate_duplicates, format_report, plot_report

    printer = ProgressPrinter()
    _ensure_model(args.model, printer)
    if args.edited_copies and args.truth:
        raise CliError("--truth and --edited-copies exclude each other: the set built brings its own truth")
    try:
        with _edited_copies_set(args, printer) as (folder, recipes):
            report = evaluate_duplicates(folder, truth_file=args.truth, model=args.model,
                                         progress=printer.index_progress, recipes=recipes,
                                         describe_progress=_dup_progress(printer, "Describing"))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    printer.finish()
    if args.plot:
        plot_report(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(format_report(report))
    if args.plot:
        print(f"precision-recall curve: {args.plot}")
    return EXIT_OK


def _count_progress(printer: ProgressPrinter):
    start = time.monotonic()

    def callback(done: int, total: int) -> None:
        elapsed = max(time.monotonic() - start, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate else None
        printer._emit(f"embedding {done}/{total}  {rate:.1f} photos/s  ETA {_fmt_duration(eta)}",
                      final=done >= total)

    return callback


def cmd_map(args) -> int:
    from simdesk.core.map.layout import LayoutCancelled
    from simdesk.core.map.cache import MapScope
    from simdesk.core.library import LibraryError
    from simdesk.core.models.catalog import ModelError

    library = _library(args)
    _show_notices(library)
    printer = ProgressPrinter()
    start = time.monotonic()
    labels = {"loading": "Reading embeddings", "reducing": "PCA", "affinities": "Neighbours",
              "tsne": "t-SNE", "placing": "Placing", "refining": "Refining", "colours": "Colours",
              "rendering": "Drawing", "grid": "Grid", "done": "Done"}

    def progress(p) -> None:
        filled = int(printer.width * p.fraction)
        bar = "#" * filled + "-" * (printer.width - filled)
        printer._emit(f"[{bar}] {labels.get(p.phase, p.phase)} {p.done}/{p.total}  "
                      f"{_fmt_duration(time.monotonic() - start)}")

    if args.folder:
        scope = MapScope.folder(args.folder)
    else:
        scope = MapScope.all()
    with cancel_on_interrupt() as cancel:
        try:
            layout = library.map_layout(scope, recompute=args.recompute, progress=progress,
                                        cancel=cancel)
            if len(layout) == 0:
                raise CliError(f"no indexed photos in {scope.describe()} (model "
                               f"{library.model_name}, {library.pooling}): run `simdesk index`")
            how = {"cache": "cached layout", "computed": "laid out",
                   "updated": f"cached layout, {layout.added} placed, {layout.removed} dropped"}
            laid = f"{len(layout)} photos ({how[layout.source]}, {_fmt_duration(time.monotonic() - start)})"
            result = library.export_map(
                args.out, layout, mode="grid" if args.grid else "tsne", size=args.size,
                colour_by=args.colour_by, style=args.style, tile=args.tile,
                title=args.title, progress=progress, cancel=cancel)
        except LayoutCancelled:
            printer.finish()
            _print_err("Stopped; nothing was written.")
            return EXIT_CANCELLED
        except (LibraryError, ModelError) as exc:
            printer.finish()
            raise CliError(str(exc)) from None
    printer.finish()
    shown = f"{result.drawn} drawn" if result.drawn < result.total else "all drawn"
    _print_err(f"Map of {laid}: {result.path} ({result.width}x{result.height} px, {result.mode}, "
               f"{result.style} of {result.tile} px, {shown}).")
    return EXIT_OK


# -- duplicates ---------------------------------------------------------------------------------


def _fmt_date(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(seconds)) if seconds is not None else "no date"


def _dup_progress(printer: ProgressPrinter, label: str):
    def callback(p) -> None:
        total = max(p.total, 1)
        filled = int(printer.width * p.done / total)
        bar = "#" * filled + "-" * (printer.width - filled)
        line = f"{label} [{bar}] {p.done}/{p.total}"
        if getattr(p, "rate", None):
            line += f"  {p.rate:.1f} photos/s  ETA {_fmt_duration(p.eta_seconds)}"
        printer._emit(line, final=p.done >= p.total)

    return callback


def _scan_progress(printer: ProgressPrinter):
    def callback(p) -> None:
        if p.phase == "comparing":
            total = max(p.total, 1)
            filled = int(printer.width * p.done / total)
            bar = "#" * filled + "-" * (printer.width - filled)
            printer._emit(f"Comparing [{bar}] {100 * p.done / total:.0f}%")

    return callback


def _ask(question: str) -> bool:
    """A yes/no question on the terminal; anything but yes is no."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _print_groups(scan, groups, threshold: float) -> None:
    near = sum(1 for g in groups if g.kind == "near")
    print(f"{len(groups)} duplicate groups ({len(groups) - near} byte-identical, {near} near) among "
          f"{len(scan.photos)} photos; threshold {threshold:.2f}, {scan.model}, {scan.descriptor}.")
    for number, group in enumerate(groups, 1):
        kind = "byte-identical copies" if group.kind == "exact" else "near-duplicates"
        print(f"\nGroup {number}: {len(group.members)} {kind}, {_fmt_bytes(group.reclaimable_bytes)} "
              f"to reclaim")
        for member in group.members:
            if member.path == group.keep:
                role, note = "keep ", f"  <- {group.reason}"
            elif member.reference:
                role, note = "ref  ", "  (reference folder: never deleted)"
            else:
                same = "identical" if member.content_hash == group.kept.content_hash else f"{member.similarity:.2f}"
                role, note = "extra", f"  similarity {same}"
            dims = f"{member.width}x{member.height}" if member.pixels else "?x?"
            print(f"  {role} {member.path}  {dims}  {_fmt_bytes(member.size)}  {_fmt_date(member.capture_time)}{note}")


def _print_trash_report(report) -> None:
    moved = len(report.moved)
    lines = [f"Moved {moved} file{'s' if moved != 1 else ''}, {_fmt_bytes(report.bytes)}, to the Trash."]
    for path, why in report.skipped:
        lines.append(f"skipped {path}: {why}")
    if moved:
        lines.append(f"Undo with `simdesk undo` (batch {report.batch}).")
    _print_err("\n".join(lines))


def cmd_duplicates(args) -> int:
    from simdesk.core.duplicates.grouping import DuplicateError
    from simdesk.core.library import LibraryError
    from simdesk.core.models.catalog import ModelError
    from simdesk.core.duplicates.freedesktop_trash import TrashError, platform_support

    library = _library(args)
    _show_notices(library)
    for path, what in library.reconcile_trash().settled:
        _print_err(f"note: an interrupted move to the Trash was settled: {path}: {what}")
    printer = ProgressPrinter()
    rotations = not args.no_rotations
    try:
        if args.keep_rule:
            library.set_duplicate_keep_rule(args.keep_rule)
        if not args.fast:
            _ensure_model(library.model_name, printer)
            missing = library.duplicates_missing(rotations)
            if missing:
                _print_err(f"Preparing duplicate detection for {missing} photos (once per photo)…")
                with cancel_on_interrupt() as cancel:
                    report = library.prepare_duplicates(
                        rotations=rotations, progress=_dup_progress(printer, "Describing"), cancel=cancel)
                printer.finish()
                for path, why in report.skipped:
                    _print_err(f"not compared {path}: {why}")
                if report.cancelled:
                    _print_err("Stopped. Run the same command again to resume.")
                    return EXIT_CANCELLED
        with cancel_on_interrupt() as cancel:
            try:
                scan = library.find_duplicates(args.threshold, fast=args.fast, rotations=rotations,
                                               progress=_scan_progress(printer), cancel=cancel)
            except InterruptedError:
                printer.finish()
                _print_err("Stopped.")
                return EXIT_CANCELLED
        printer.finish()
        groups = library.duplicate_groups(scan)
    except (LibraryError, ModelError, DuplicateError) as exc:
        printer.finish()
        raise CliError(str(exc)) from None
    if args.json:
        print(_json_text({"threshold": scan.threshold, "model": scan.model,
                          "groups": [g.to_json() for g in groups]}))
    else:
        _print_groups(scan, groups, scan.threshold)
    if scan.not_compared:
        _print_err(f"note: {scan.not_compared} photos have no duplicate descriptor yet; only their "
                   "byte-identical copies were looked for.")
    plan = library.plan_trash(groups)
    if not args.trash_extras:
        if not args.json and plan.files:
            copies = "extra copy" if plan.files == 1 else "extra copies"
            print(f"\n{plan.files} {copies}, {_fmt_bytes(plan.bytes)}: run with --trash-extras "
                  "to move them to the Trash (you will be asked first; `simdesk undo` puts them back).")
        return EXIT_OK
    support = platform_support()
    if not support.can_trash:
        raise CliError(support.message)
    for path, why in plan.skipped:
        _print_err(f"not moving {path}: {why}")
    if not plan.files:
        _print_err("Nothing to move to the Trash.")
        return EXIT_OK
    if not args.yes:
        if not sys.stdin or not sys.stdin.isatty():
            raise CliError(f"{plan.summary()}? Not without confirmation: run in a terminal, or add --yes")
        if not _ask(f"{plan.summary()}?"):
            _print_err("Nothing was moved.")
            return EXIT_OK
    try:
        report = library.trash_duplicates(plan)
    except TrashError as exc:
        raise CliError(str(exc)) from None
    _print_trash_report(report)
    return EXIT_OK


def cmd_undo(args) -> int:
    from simdesk.core.duplicates.freedesktop_trash import TrashError

    library = _library(args)
    _show_notices(library)
    if args.list:
        batches = library.trash_batches()
        if not batches:
            print("Nothing was moved to the Trash from this library.")
        for b in batches:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(b.at))
            print(f"{b.batch}  {when}  {b.trashed} in the Trash ({_fmt_bytes(b.bytes)}), {b.restored} restored")
        return EXIT_OK
    try:
        report = library.undo_trash(args.batch)
    except TrashError as exc:
        raise CliError(str(exc)) from None
    if report.batch is None:
        print("Nothing to undo: no files from this library are in the Trash.")
        return EXIT_OK
    print(f"Restored {len(report.restored)} file{'s' if len(report.restored) != 1 else ''} "
          f"(batch {report.batch}).")
    for path in report.restored:
        print(f"  {path}")
    for path, why in report.refused:
        _print_err(f"not restored {path}: {why}")
    return EXIT_ERROR if report.refused else EXIT_OK


def cmd_reference(args) -> int:
    from simdesk.core.library import LibraryError

    library = _library(args)
    _show_notices(library)
    if args.action == "add":
        for folder in args.paths:
            try:
                print(f"reference folder: {library.add_reference_folder(folder)} (never deleted from)")
            except LibraryError as exc:
                raise CliError(str(exc)) from None
    elif args.action == "remove":
        for folder in args.paths:
            if not library.remove_reference_folder(folder):
                raise CliError(f"{os.path.abspath(folder)} is not a reference folder")
            print(f"no longer a reference folder: {os.path.abspath(folder)}")
    else:
        for folder in library.reference_folders:
            print(folder)
    return EXIT_OK


def cmd_not_duplicates(args) -> int:
    from simdesk.core.library import LibraryError

    library = _library(args)
    _show_notices(library)
    try:
        added = library.dismiss_duplicates(args.photos)
    except LibraryError as exc:
        raise CliError(str(exc)) from None
    print(f"Marked {len(args.photos)} photos as not duplicates of each other ({added} new marks).")
    return EXIT_OK


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError("the threshold is a similarity between 0 and 1")
    return value


def _add_duplicate_commands(sub) -> None:
    # No simdesk.core imports here: building the parser must stay instant (`simdesk --help`).
    p = sub.add_parser("duplicates", help="find byte-identical and near-duplicate photos; "
                                          "optionally move the extra copies to the Trash")
    p.add_argument("--threshold", type=_threshold, default=None,
                   help="similarity from which photos count as copies (default: the calibrated "
                        "value, shown with the results; higher: only closer copies)")
    p.add_argument("--json", action="store_true",
                   help='print {"threshold", "model", "groups": [{"keep", "paths"}]}')
    p.add_argument("--keep-rule", metavar="RULE",
                   help="which copy to keep, as an order of criteria, saved for next time "
                        "(default pixels,size,oldest,shortest_path; also newest)")
    p.add_argument("--trash-extras", action="store_true",
                   help="move every group's extra copies to the Trash (asks first)")
    p.add_argument("--yes", action="store_true", help="with --trash-extras: do not ask")
    p.add_argument("--fast", action="store_true",
                   help="compare the library's own vectors (no preparation; finds fewer edited copies)")
    p.add_argument("--no-rotations", action="store_true",
                   help="do not look for copies turned by 90 degrees (prepares and compares faster)")
    p.set_defaults(func=cmd_duplicates)

    p = sub.add_parser("undo", help="put back the files the last --trash-extras moved to the Trash")
    p.add_argument("--batch", help="which trash action to undo (see --list; default: the latest)")
    p.add_argument("--list", action="store_true", help="list the trash actions of this library")
    p.set_defaults(func=cmd_undo)

    p = sub.add_parser("reference", help="list, add or remove reference folders (never deleted from)")
    p.add_argument("action", nargs="?", choices=("list", "add", "remove"), default="list")
    p.add_argument("paths", nargs="*", metavar="FOLDER")
    p.set_defaults(func=cmd_reference)

    p = sub.add_parser("not-duplicates", help="mark photos as not duplicates of each other, for good")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.set_defaults(func=cmd_not_duplicates)


def cmd_gui(args) -> int:
    try:
        from simdesk.ui.app import main as gui_main
    except ImportError as exc:
        _print_err(
            f"The simdesk desktop app cannot start: PySide6 (Qt) is not usable here ({exc}).\n"
            "Install it with `pip install PySide6-Essentials`, or use the command line:\n"
            "  simdesk index ~/Pictures        index a folder\n"
            "  simdesk similar PHOTO -k 10     find similar photos\n"
            "  simdesk --help                  everything else"
        )
        return EXIT_ERROR
    return gui_main(library_dir=args.library)


# -- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simdesk",
        description="Find similar photos in your collection with a CNN. "
        "With no command, starts the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"simdesk {__version__}")
    parser.add_argument("--library", metavar="DIR", default=None,
                        help="library folder (default: $SIMDESK_LIBRARY, else the user data folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="add folders and index their photos (Ctrl-C stops; rerun resumes)")
    p.add_argument("folders", nargs="*", metavar="FOLDER", help="folders to add to the library first")
    p.add_argument("--model", help="model to index with (resnet50, efficientnet-lite0, or an imported one)")
    p.add_argument("--pooling", choices=("gem", "avg", "max"), help="how feature maps become vectors")
    p.add_argument("--retry-failed", action="store_true", help="try files that failed before again")
    p.add_argument("--workers", type=int, default=None, help="decoding threads (default: CPU count)")
    p.add_argument("--batch-size", type=int, default=16, help="photos per inference batch")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("similar", help="photos most similar to a photo (in the library or not)")
    p.add_argument("query", metavar="PHOTO")
    p.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("status", help="library size, model, and what was skipped")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("problems", help="files that could not be indexed, and why")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_problems)

    p = sub.add_parser("folders", help="list, add or remove library folders")
    p.add_argument("action", nargs="?", choices=("list", "add", "remove"), default="list")
    p.add_argument("paths", nargs="*", metavar="FOLDER")
    p.set_defaults(func=cmd_folders)

    p = sub.add_parser("models", help="list, install, import or remove models")
    msub = p.add_subparsers(dest="action", metavar="ACTION")
    msub.required = True
    msub.add_parser("list", help="installed and available models")
    m = msub.add_parser("install", help="install a built-in model")
    m.add_argument("name", choices=("resnet50", "efficientnet-lite0"))
    m = msub.add_parser("import", help="import your own .pth (ResNet-50 layout) or .onnx")
    m.add_argument("file")
    m.add_argument("--name", help="name for the model (default: from the file name)")
    m.add_argument("--mean", help="input mean per channel on 0..255, e.g. 123.7,116.3,103.5")
    m.add_argument("--std", help="input std per channel on 0..255, e.g. 58.4,57.1,57.4")
    m = msub.add_parser("quantize", help="make a faster int8 copy of a model, calibrated on photos")
    m.add_argument("name")
    m.add_argument("photos", metavar="FOLDER", help="photos like your library's, to calibrate on")
    m.add_argument("--count", type=int, default=200, help="how many photos to calibrate on")
    m = msub.add_parser("remove", help="delete an installed model's files")
    m.add_argument("name")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("eval", help="measure quality on labelled photos")
    esub = p.add_subparsers(dest="eval_kind", metavar="KIND")
    esub.required = True
    e = esub.add_parser("retrieval", help="precision@1/@10 and mAP per pooling on DIR/<class>/*")
    e.add_argument("folder", metavar="DIR", help="a folder with one subfolder per class")
    e.add_argument("--model", default="efficientnet-lite0")
    e.add_argument("--resize", choices=("squash", "center_crop"), help="override the resize mode")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)
    e = esub.add_parser(
        "duplicates", help="near-duplicate precision/recall/F1 over thresholds on a folder with known copies",
        description="Index DIR into a temporary library, scan it for duplicates and score the pairs. "
                    "Truth: --truth FILE (JSON {\"groups\": [[path, ...], ...]}, paths relative to DIR; "
                    "photos in no group have no copy), or else the folder layout: every subfolder of DIR "
                    "is one group of copies, photos directly in DIR have no copy. Or --edited-copies: "
                    "build the set from DIR's photos (originals, their edited copies, distractors).")
    e.add_argument("folder", metavar="DIR",
                   help="photos with known copies (or, with --edited-copies, photos to make copies of)")
    e.add_argument("--truth", metavar="FILE", help="JSON file with the groups of copies")
    e.add_argument("--edited-copies", action="store_true",
                   help="build the benchmark from DIR's photos: pick originals, write edited copies of "
                        "each (resize, recompress, crop, recolour, straighten, turn, caption, or a "
                        "combination) beside look-alike photos without copies, then score it; DIR is "
                        "only read")
    e.add_argument("--originals", type=int, default=100, metavar="N", help="with --edited-copies (100)")
    e.add_argument("--copies", type=int, default=3, metavar="N", help="edited copies per original (3)")
    e.add_argument("--distractors", type=int, default=400, metavar="N",
                   help="photos without copies, with --edited-copies (400)")
    e.add_argument("--strength", choices=("standard", "hard"), default="standard",
                   help="how strong the edits are (standard: web sizes, quality 30-60, crops keeping "
                        "the subject)")
    e.add_argument("--seed", type=int, default=7, help="which photos and edits (the set is reproducible)")
    e.add_argument("--keep-set", metavar="OUT", help="write the built set here and keep it "
                                                       "(an empty or new folder)")
    e.add_argument("--model", default="efficientnet-lite0")
    e.add_argument("--plot", metavar="PNG", help="draw the precision-recall curve into this PNG")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval_duplicates)

    p = sub.add_parser("map", help="draw the cluster map (similar photos together) into a PNG")
    p.add_argument("--out", required=True, metavar="PNG", help="where to write the picture")
    p.add_argument("--folder", metavar="DIR", help="only the photos under this folder")
    p.add_argument("--grid", action="store_true", help="a tidy grid that keeps the neighbourhoods")
    p.add_argument("--colour-by", "--color-by", dest="colour_by", choices=("folder", "date"),
                   help="frame each photo in the colour of its folder or of its date")
    p.add_argument("--style", choices=("auto", "thumbnails", "dots"), default="auto",
                   help="thumbnails, or dots in each photo's average colour (auto: by tile size)")
    p.add_argument("--size", type=int, default=2400, help="longer side of the map in pixels")
    p.add_argument("--tile", type=int, default=None, help="thumbnail size in pixels (default: fit)")
    p.add_argument("--title", default=None, help="a line of text above the map")
    p.add_argument("--recompute", action="store_true",
                   help="lay out every photo afresh instead of reusing the cached layout")
    p.set_defaults(func=cmd_map)
    _add_duplicate_commands(sub)
    return parser


def _escape_unencodable_output() -> None:
    """File names need not be UTF-8: a name the terminal's encoding cannot show is written with
    backslash escapes (caf\\udce9.jpg) instead of ending the command in UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass


def _json_text(data) -> str:
    """JSON for stdout: readable non-ASCII where the output can encode it, else plain ASCII with
    JSON's own \\u escapes (valid JSON, and json.loads gives back the exact name)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return json.dumps(data, indent=2, ensure_ascii=True)
    return text


def main(argv: list[str] | None = None) -> int:
    import warnings

    _escape_unencodable_output()
    # Pillow warns about odd metadata in real photos (broken EXIF, TIFF tags); the photo is still
    # indexed, and a line per photo would bury the progress bar.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", cmd_gui)
    try:
        return func(args)
    except CliError as exc:
        _print_err(f"simdesk: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _print_err("\nAborted.")
        return EXIT_CANCELLED
    except Exception as exc:
        # Known failure types get one clear line; anything else is a bug and keeps its traceback.
        from simdesk.core.models.catalog import ModelError
        from simdesk.core.store import StoreError

        if isinstance(exc, (ModelError, StoreError)):
            _print_err(f"simdesk: {exc}")
            return EXIT_ERROR
        raise
