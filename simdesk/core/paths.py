"""Paths and file contents: the few helpers every stage needs, written once.

``is_under`` answers "is this path inside that folder" (the folder itself counts); ``folder_prefix``
is the same test as a string prefix, for SQL ranges and bulk filters. ``read_file_stable`` reads a
file whole and proves it did not change meanwhile; ``content_hash`` names a photo by its bytes.
"""

from __future__ import annotations

import hashlib
import os
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


def read_file_stable(path: str) -> tuple[bytes, os.stat_result]:
    """The file's bytes, and its stat; raises ChangedWhileReading if it changed under us."""
    with open(path, "rb") as fh:
        before = os.fstat(fh.fileno())
        data = fh.read()
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
