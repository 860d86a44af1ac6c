"""Moving photos to the system Trash: the GUI's only call that touches the user's files.

Kept in this one function on purpose: the core trash module (a journal with undo, being written
for the duplicates feature) will replace its body. It never deletes: a file that cannot be moved
to the Trash stays where it is and is reported.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QFile


def move_to_trash(paths: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Move files to the Trash (``QFile.moveToTrash``). Safe to call off the GUI thread.

    Returns ``(moved, failed)``: the paths that went, and ``(path, reason)`` for those that did not.
    """
    moved: list[str] = []
    failed: list[tuple[str, str]] = []
    for path in paths:
        if not os.path.lexists(path):
            failed.append((path, "the file is gone already"))
            continue
        file = QFile(path)
        if file.moveToTrash():
            moved.append(path)
        else:
            reason = file.errorString() or "unknown error"
            failed.append((path, f"could not move it to the Trash ({reason}); it was left in place"))
    return moved, failed
