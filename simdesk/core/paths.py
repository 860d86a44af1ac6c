"""Paths and file contents: the few helpers every stage needs, written once.

``is_under`` answers "is this path inside that folder" (the folder itself counts); ``folder_prefix``
is the same test as a string prefix, for SQL ranges and bulk filters. ``read_file_stable`` reads a
file whole and proves it did not change meanwhile; ``content_hash`` names a photo by its bytes.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Iterable


class ChangedWhileReading(Exception):
    """The file's size or modification time changed while it was read: read it again later."""


def folder_prefix(folder: str) -> str:
    """``folder`` with one trailing separator: a path is strictly inside it iff it starts with this."""
    return folder.rstrip(os.sep) + os.sep


def is_under(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or inside it (both absolute and normalised)."""
    return path == folder or path.startswith(folder_prefix(folder))


def under_any(path: str, folders: Iterable[str]) -> bool:
    return any(is_under(path, os.path.abspath(f)) for f in folders)


def under_any_resolved(path: str, folders: Iterable[str]) -> bool:
    """``under_any`` for the path as written or with every symbolic link resolved, on both
    sides: a folder reached through a link alias is still that folder."""
    folders = list(folders)
    if under_any(os.path.abspath(path), folders):
        return True
    return under_any(os.path.realpath(path), [os.path.realpath(f) for f in folders])


class NotRegularFile(OSError):
    """Not a plain file (a FIFO, a device such as /dev/zero, a socket): never read."""


class FileTooLarge(OSError):
    """Larger than the caller's limit: not read."""


def read_file_stable(path: str, max_bytes: int | None = None) -> tuple[bytes, os.stat_result]:
    """The file's bytes, and its stat; raises ChangedWhileReading if it changed under us.

    Only a regular file is read (NotRegularFile otherwise: a FIFO would block forever, a link to
    /dev/zero never ends), and none larger than ``max_bytes`` (FileTooLarge), checked on the open
    file before anything is read.
    """
    # O_NONBLOCK: opening a FIFO with no writer must not hang (it has no effect on regular files).
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as fh:
        before = os.fstat(fh.fileno())
        if not stat.S_ISREG(before.st_mode):
            raise NotRegularFile(f"not a regular file: {path}")
        if max_bytes is not None and before.st_size > max_bytes:
            raise FileTooLarge(f"file too large ({before.st_size} bytes, limit {max_bytes}): {path}")
        data = fh.read(before.st_size + 1)
        after = os.fstat(fh.fileno())
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
        raise ChangedWhileReading()
    return data, after


def content_hash(data: bytes) -> bytes:
    # 128-bit BLAKE2b: fast, and collisions are not a practical concern at photo-library scale.
    return hashlib.blake2b(data, digest_size=16).digest()


def file_content_hash(path: str, chunk: int = 1 << 20) -> bytes:
    """``content_hash`` of a file's bytes, read in chunks (a file need not fit in memory)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.digest()
