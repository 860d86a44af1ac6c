"""The `simdesk` command: everything the app does, scriptable and headless.

One module per group of commands (``index``, ``similar``, ``models``, ``duplicates``, ``map``,
``eval``), the parser in ``parser``, progress and Ctrl-C in ``render``. Heavy modules (NumPy, ONNX
Runtime, the converters) are imported inside the commands that need them, so `simdesk --help`
and `simdesk --version` answer at once. The core's user-facing errors are caught here, once.
"""

from __future__ import annotations

from simdesk.cli.common import (EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_USAGE, CliError,
                                escape_unencodable_output, print_err)
from simdesk.cli.parser import build_parser
from simdesk.core.progress import Cancelled

__all__ = ["main", "build_parser", "CliError", "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "EXIT_CANCELLED"]


def user_errors() -> tuple[type[Exception], ...]:
    """The failures that are the user's to fix: one line each, no traceback. (Imported only when
    something failed, to keep `simdesk --help` light.)"""
    from simdesk.core.duplicates.grouping import DuplicateError
    from simdesk.core.duplicates.freedesktop_trash import TrashError
    from simdesk.core.library import LibraryError
    from simdesk.core.models.catalog import ModelError
    from simdesk.core.store import StoreError

    return CliError, LibraryError, ModelError, DuplicateError, TrashError, StoreError


def cmd_gui(args) -> int:
    import os

    from simdesk.system_libs import preflight

    check = preflight()  # before Qt loads: a missing system library would abort the process
    if check.problem:
        print_err(f"simdesk: {check.problem}")
        return EXIT_ERROR
    if check.platform:
        os.environ["QT_QPA_PLATFORM"] = check.platform
    try:
        from simdesk.ui.app import main as gui_main
    except ImportError as exc:
        print_err(
            f"The simdesk desktop app cannot start: PySide6 (Qt) is not usable here ({exc}).\n"
            "Install it with `pip install PySide6-Essentials`, or use the command line:\n"
            "  simdesk index ~/Pictures        index a folder\n"
            "  simdesk similar PHOTO -k 10     find similar photos\n"
            "  simdesk --help                  everything else"
        )
        return EXIT_ERROR
    return gui_main(library_dir=args.library)


def main(argv: list[str] | None = None) -> int:
    import warnings

    escape_unencodable_output()
    # Pillow warns about odd metadata in real photos (broken EXIF, TIFF tags); the photo is still
    # indexed, and a line per photo would bury the progress bar.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
    args = build_parser().parse_args(argv)
    try:
        return getattr(args, "func", cmd_gui)(args)
    except KeyboardInterrupt:
        print_err("\nAborted.")
        return EXIT_CANCELLED
    except Cancelled as exc:  # Ctrl-C set the job's cancel event; what it finished is kept
        print_err(str(exc) or "Stopped.")
        return EXIT_CANCELLED
    except Exception as exc:
        # Known failure types get one clear line; anything else is a bug and keeps its traceback.
        if isinstance(exc, CliError) or isinstance(exc, user_errors()):
            print_err(f"simdesk: {exc}")
            return EXIT_ERROR
        raise
