"""Find photo files under the library folders.

The walk is iterative (no recursion limit), deterministic (entries sorted by
name within each folder; a folder's files come before its subfolders), and
never raises for file-system trouble: unreadable folders, broken symlinks and
symlink loops are collected as ScanProblem entries for the UI to show.

Each file is reported once, even when it is reachable twice (overlapping
roots, a symlinked folder, a symlink to a file): files are de-duplicated by
real path and folders by (st_dev, st_ino). The reported path is the path the
walk reached the file by (absolute, not symlink-resolved), so the user sees
the folder they chose.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, Iterable

__all__ = ["FoundFile", "ScanProblem", "ScanResult", "scan_folders"]

# Folders that only hold deleted or machine-generated files. Skipped even with
# skip_hidden=False. (Synology's @eaDir is full of JPEG thumbnails.)
ALWAYS_SKIPPED_FOLDERS = frozenset(
    {".Trash", ".Trashes", "$RECYCLE.BIN", "System Volume Information", "@eaDir"}
)
# Per-user trash folders on removable drives: ".Trash-1000".
TRASH_FOLDER_PREFIX = ".Trash-"

# How many folder entries to process between two looks at the cancel event.
CANCEL_CHECK_EVERY = 256

PERMISSION_DENIED_LIST = "permission denied: cannot list folder"
PERMISSION_DENIED_ENTRY = "permission denied: cannot access"
PERMISSION_DENIED_FILES = "permission denied: cannot read files in folder"
SYMLINK_LOOP = "symlink loop skipped"
FOLDER_MISSING = "folder does not exist"
BROKEN_SYMLINK = "broken symlink"
NOT_A_PHOTO_OR_FOLDER = "not a folder or a photo file"


@dataclass(frozen=True)
class FoundFile:
    # Absolute (os.path.abspath) path as reached by the walk, symlinks not resolved.
    # Undecodable bytes in names survive as surrogate escapes (os.fsencode restores them).
    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ScanProblem:
    path: str
    reason: str


@dataclass
class ScanResult:
    files: list[FoundFile] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    cancelled: bool = False


@dataclass
class _Folder:
    """A folder waiting to be listed."""

    path: str  # as reached by the walk
    real_path: str  # symlinks resolved; used to build files' real paths cheaply
    key: tuple[int, int]  # (st_dev, st_ino)
    parent: _Folder | None  # to tell a symlink loop (ancestor) from a mere second route

    def has_ancestor_or_self(self, key: tuple[int, int]) -> bool:
        folder: _Folder | None = self
        while folder is not None:
            if folder.key == key:
                return True
            folder = folder.parent
        return False


def normalise_extensions(extensions: Collection[str]) -> frozenset[str]:
    """``["JPG", ".heic"]`` -> ``{".jpg", ".heic"}``."""
    if isinstance(extensions, str):  # a lone ".jpg" would otherwise be split into characters
        extensions = [extensions]
    return frozenset("." + ext.lower().lstrip(".") for ext in extensions if ext.strip("."))


def is_skipped_folder_name(name: str, skip_hidden: bool) -> bool:
    if name in ALWAYS_SKIPPED_FOLDERS or name.startswith(TRASH_FOLDER_PREFIX):
        return True
    return skip_hidden and name.startswith(".")


def scan_folders(
    roots: Iterable[str | Path],
    extensions: Collection[str],
    *,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int, str], None] | None = None,
    follow_symlinks: bool = True,
    skip_hidden: bool = True,
) -> ScanResult:
    """Walk ``roots`` and return the files whose extension is in ``extensions``.

    ``extensions`` may be given with or without the dot, in any case.
    ``on_progress(files_found_so_far, folder)`` is called once after each
    folder is listed. ``cancel`` is checked between folders and every few
    hundred entries; a cancelled scan returns what it found so far with
    ``cancelled=True``. With ``follow_symlinks=False`` symlinks (to files or
    folders) are ignored silently. A root is never skipped for being hidden;
    a root that is itself a photo file is reported as a single file.
    """
    walker = _Walker(normalise_extensions(extensions), cancel, follow_symlinks, skip_hidden)
    for root in roots:
        if walker.cancelled():
            break
        walker.add_root(os.path.abspath(os.fsdecode(os.fspath(root))))
        while walker.pending and not walker.cancelled():
            folder = walker.pending.pop()
            walker.list_folder(folder)
            if on_progress is not None and not walker.result.cancelled:
                on_progress(len(walker.result.files), folder.path)
    return walker.result


class _Walker:
    def __init__(
        self,
        extensions: frozenset[str],
        cancel: threading.Event | None,
        follow_symlinks: bool,
        skip_hidden: bool,
    ) -> None:
        self.extensions = extensions
        self.cancel = cancel
        self.follow_symlinks = follow_symlinks
        self.skip_hidden = skip_hidden
        self.result = ScanResult()
        self.pending: list[_Folder] = []  # a stack: depth-first, in sorted order
        self.visited_folders: set[tuple[int, int]] = set()
        self.seen_real_paths: set[str] = set()
        self.folders_with_unreadable_files: set[str] = set()

    def cancelled(self) -> bool:
        if self.cancel is not None and self.cancel.is_set():
            self.result.cancelled = True
        return self.result.cancelled

    def problem(self, path: str, reason: str) -> None:
        self.result.problems.append(ScanProblem(path, reason))

    def has_wanted_extension(self, name: str) -> bool:
        return os.path.splitext(name)[1].lower() in self.extensions

    def add_file(self, path: str, real_path: str, info: os.stat_result) -> None:
        if real_path in self.seen_real_paths:
            return
        self.seen_real_paths.add(real_path)
        self.result.files.append(FoundFile(path, info.st_size, info.st_mtime_ns))

    def add_root(self, root: str) -> None:
        try:
            info = os.stat(root)
        except FileNotFoundError:
            self.problem(root, BROKEN_SYMLINK if os.path.islink(root) else FOLDER_MISSING)
            return
        except NotADirectoryError:  # a path "through" a file, e.g. photo.jpg/sub
            self.problem(root, FOLDER_MISSING)
            return
        except PermissionError:
            self.problem(root, "permission denied: cannot open folder")
            return
        except OSError as error:
            self.problem(root, _describe(error, "cannot open folder"))
            return

        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            # Already visited: the same folder given twice, or inside an earlier root.
            if key not in self.visited_folders:
                self.visited_folders.add(key)
                self.pending.append(_Folder(root, os.path.realpath(root), key, None))
        elif stat.S_ISREG(info.st_mode) and self.has_wanted_extension(root):
            self.add_file(root, os.path.realpath(root), info)
        else:
            self.problem(root, NOT_A_PHOTO_OR_FOLDER)

    def list_folder(self, folder: _Folder) -> None:
        try:
            with os.scandir(folder.path) as iterator:
                entries = sorted(iterator, key=lambda entry: entry.name)
        except PermissionError:
            self.problem(folder.path, PERMISSION_DENIED_LIST)
            return
        except (FileNotFoundError, NotADirectoryError):
            return  # deleted or replaced while we were scanning: nothing to report
        except OSError as error:
            self.problem(folder.path, _describe(error, "cannot list folder"))
            return

        subfolders: list[_Folder] = []
        for index, entry in enumerate(entries):
            if index % CANCEL_CHECK_EVERY == 0 and index and self.cancelled():
                return
            subfolder = self.visit_entry(entry, folder)
            if subfolder is not None:
                subfolders.append(subfolder)
        # Reversed so the stack pops them in name order.
        self.pending.extend(reversed(subfolders))

    def visit_entry(self, entry: os.DirEntry[str], folder: _Folder) -> _Folder | None:
        """Record a file or problem for ``entry``; return it if it is a folder to descend into."""
        name = entry.name
        if self.skip_hidden and name.startswith("."):
            return None
        is_symlink = entry.is_symlink()  # from the listing on most systems; no stat
        if is_symlink and not self.follow_symlinks:
            return None
        try:
            is_dir = entry.is_dir()  # follows symlinks; False for a broken one
        except OSError as error:  # e.g. ELOOP: a symlink that points at itself
            self.report_entry_error(entry.path, error, is_symlink, folder)
            return None

        if is_dir:
            if is_skipped_folder_name(name, self.skip_hidden):
                return None
            return self.new_subfolder(entry, folder, is_symlink)

        if not (is_symlink or self.has_wanted_extension(name)):
            return None  # not a photo: do not pay for a stat
        try:
            info = entry.stat()
        except OSError as error:
            self.report_entry_error(entry.path, error, is_symlink, folder)
            return None
        if stat.S_ISREG(info.st_mode) and self.has_wanted_extension(name):
            self.add_file(entry.path, _real_path(entry, folder, is_symlink), info)
        return None

    def new_subfolder(
        self, entry: os.DirEntry[str], parent: _Folder, is_symlink: bool
    ) -> _Folder | None:
        try:
            # os.stat, not entry.stat(): on Windows DirEntry.stat() leaves st_ino/st_dev zero.
            info = os.stat(entry.path)
        except OSError as error:
            self.report_entry_error(entry.path, error, is_symlink, parent)
            return None
        key = (info.st_dev, info.st_ino)
        if key in self.visited_folders:
            if parent.has_ancestor_or_self(key):
                # Each folder is listed once, so each looping link is reported once.
                self.problem(entry.path, SYMLINK_LOOP)
            # Otherwise a second route to a folder already scanned (or queued): skip quietly.
            return None
        self.visited_folders.add(key)
        return _Folder(entry.path, _real_path(entry, parent, is_symlink), key, parent)

    def report_entry_error(
        self, path: str, error: OSError, is_symlink: bool, folder: _Folder
    ) -> None:
        if isinstance(error, FileNotFoundError):
            if is_symlink:
                self.problem(path, BROKEN_SYMLINK)
            # else: deleted between listing and stat; not a problem
        elif error.errno == errno.ELOOP:
            self.problem(path, SYMLINK_LOOP)
        elif isinstance(error, PermissionError) and not is_symlink:
            # A folder that can be listed but not entered (r without x) fails every
            # file the same way: report the folder once instead of each file.
            if folder.path not in self.folders_with_unreadable_files:
                self.folders_with_unreadable_files.add(folder.path)
                self.problem(folder.path, PERMISSION_DENIED_FILES)
        elif isinstance(error, PermissionError):
            self.problem(path, PERMISSION_DENIED_ENTRY)
        else:
            self.problem(path, _describe(error, "cannot read"))


def _real_path(entry: os.DirEntry[str], folder: _Folder, is_symlink: bool) -> str:
    """Symlink-free path of ``entry``; only symlinks pay for os.path.realpath."""
    if is_symlink:
        return os.path.realpath(entry.path)
    return os.path.join(folder.real_path, entry.name)


def _describe(error: OSError, what: str) -> str:
    detail = error.strerror or type(error).__name__
    return f"{what}: {detail[0].lower()}{detail[1:]}"
