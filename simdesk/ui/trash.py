"""Moving photos the user picked to the Trash: the grid's only call that touches the user's files.

It goes through the core trash module, like the duplicate review: each move is journaled first,
Edit > Undo puts the last batch back, and the rules that protect photos hold (never a symbolic
link, never a reference folder, never a file that changed since it was indexed). It never deletes.
Where the platform gives no way to restore (macOS, Windows), nothing moves and the reason is shown.
"""

from __future__ import annotations

from simdesk.core.library import Library
from simdesk.core.duplicates.freedesktop_trash import TrashError


def move_to_trash(library: Library, paths: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Move files to the Trash. Call off the GUI thread (it uses this thread's cache connection).

    Returns ``(moved, failed)``: the paths that went, and ``(path, reason)`` for those that did not.
    """
    try:
        report = library.trash_files(paths)
    except TrashError as exc:
        return [], [(path, str(exc)) for path in paths]
    return [original for original, _ in report.moved], list(report.skipped)
