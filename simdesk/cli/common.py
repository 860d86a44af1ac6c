"""What every command shares: exit codes, the one user-facing error, the library and its notices."""

from __future__ import annotations

import json
import os
import sys

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


class CliError(Exception):
    """A failure to report as one clear line, without a traceback (``main`` prints it)."""


def print_err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def say_fallback(reason: str | None) -> None:
    """The CPU fallback, once per run, in one line with its reason."""
    from simdesk.core.providers import fallback_line, say_once

    line = say_once(fallback_line(reason)) if reason else None
    if line:
        print_err(line)


def open_library(args, notices: bool = True):
    """The library of ``--library`` (or the default one), its notices shown on stderr."""
    from simdesk.core.library import Library

    library = Library(args.library)
    if notices:
        for notice in library.notices:
            print_err(f"note: {notice}")
        library.notices.clear()
    return library


def edit_folders(args, name: str, what: str, added: str, removed: str) -> int:
    """``list``/``add``/``remove`` of one kind of folder: ``library.add_<name>``,
    ``remove_<name>`` and ``<name>s``; ``added``/``removed`` format the line printed per folder."""
    library = open_library(args)
    if args.action == "add":
        for folder in args.paths:
            print(added.format(getattr(library, f"add_{name}")(folder)))
    elif args.action == "remove":
        for folder in args.paths:
            path = os.path.abspath(folder)
            if not getattr(library, f"remove_{name}")(folder):
                raise CliError(f"{path} is not {what}")
            print(removed.format(path))
    else:
        for folder in getattr(library, f"{name}s"):
            print(folder)
    return EXIT_OK


def escape_unencodable_output() -> None:
    """File names need not be UTF-8: a name the terminal's encoding cannot show is written with
    backslash escapes (caf\\udce9.jpg) instead of ending the command in UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass


def json_text(data) -> str:
    """JSON for stdout: readable non-ASCII where the output can encode it, else plain ASCII with
    JSON's own \\u escapes (valid JSON, and json.loads gives back the exact name)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return json.dumps(data, indent=2, ensure_ascii=True)
    return text

