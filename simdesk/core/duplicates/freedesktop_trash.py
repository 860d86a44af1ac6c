"""The freedesktop.org Trash (Linux and the BSDs): where a file's Trash is, its .trashinfo files,
and moving a file in and out of it without ever replacing another.

The Trash is ``$XDG_DATA_HOME/Trash`` for files on the same device as the home trash, else
``$topdir/.Trash/$uid`` (when the administrator made a valid sticky ``.Trash`` there) or
``$topdir/.Trash-$uid`` on the file's own drive. A file is never copied across devices: it is
renamed within its file system, so its bytes are never rewritten. Each move writes its
``.trashinfo`` first, atomically and under a name nobody else holds, so the desktop's own Trash
can show and restore it too.

Other platforms: macOS and Windows have no documented way for a program to put a file in the
Trash *and* take it back out, so simdesk does not move files there (``platform_support()`` says
so; the scan and the review still work, and the user deletes what they choose themselves).

Nothing here knows of the library or its journal (see ``journal``).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes


class TrashError(Exception):
    """Files cannot be moved to the Trash here; the message says why."""


@dataclass(frozen=True)
class TrashSupport:
    can_trash: bool
    can_restore: bool
    message: str


def platform_support() -> TrashSupport:
    """What this platform allows, in words the GUI and the CLI can show as they are."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd", "dragonfly")):
        return TrashSupport(True, True, "Files go to the desktop Trash; Undo puts them back.")
    return TrashSupport(
        False, False,
        f"Moving files to the Trash is not supported on this platform ({sys.platform}): macOS and "
        "Windows give programs no way to take a file back out of the Trash, so simdesk does not "
        "move anything here. Delete the copies you choose yourself.",
    )


# -- the freedesktop trash -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrashDir:
    root: Path  # holds files/ and info/
    topdir: str | None  # None: the home trash (absolute paths in .trashinfo); else the mount point

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def info(self) -> Path:
        return self.root / "info"


def home_trash() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data_home) / "Trash"


def _device_of_nearest(path: Path) -> int:
    """st_dev of ``path``, or of its nearest existing ancestor (the home trash may not exist yet)."""
    for candidate in (path, *path.parents):
        try:
            return os.stat(candidate).st_dev
        except FileNotFoundError:
            continue
    raise TrashError(f"cannot find any part of {path}")


def _mount_point(directory: str) -> str:
    directory = os.path.realpath(directory)
    dev = os.stat(directory).st_dev
    while True:
        parent = os.path.dirname(directory)
        if parent == directory or os.stat(parent).st_dev != dev:
            return directory
        directory = parent


def _make_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise TrashError(f"{path} is not a folder")


def _valid_user_trash(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()


def trash_dir_for(path: str) -> TrashDir:
    """The trash a file goes to: the home trash on the home device, else one on the file's drive."""
    uid = os.getuid()
    file_dev = os.lstat(path).st_dev
    home = home_trash()
    if file_dev == _device_of_nearest(home):
        trash = TrashDir(home, None)
        for sub in (trash.files, trash.info):
            _make_private_dir(sub)
        return trash
    top = _mount_point(os.path.dirname(path))
    admin = Path(top) / ".Trash"
    try:
        st = os.lstat(admin)
        admin_ok = stat.S_ISDIR(st.st_mode) and bool(st.st_mode & stat.S_ISVTX)
    except FileNotFoundError:
        admin_ok = False
    candidates = ([admin / str(uid)] if admin_ok else []) + [Path(top) / f".Trash-{uid}"]
    for root in candidates:
        try:
            if not root.exists():
                root.mkdir(mode=0o700)
            if not _valid_user_trash(root):
                continue
            trash = TrashDir(root, top)
            for sub in (trash.files, trash.info):
                _make_private_dir(sub)
            return trash
        except OSError:
            continue
    raise TrashError(
        f"cannot make a Trash folder on the drive of {path} ({top} is not writable); "
        "simdesk never copies photos across drives to trash them"
    )


def _info_text(original: str, trash: TrashDir) -> bytes:
    shown = original if trash.topdir is None else os.path.relpath(original, trash.topdir)
    encoded = quote(os.fsencode(shown), safe="/")
    return (f"[Trash Info]\nPath={encoded}\n"
            f"DeletionDate={time.strftime('%Y-%m-%dT%H:%M:%S')}\n").encode("ascii")


def read_info_path(info_path: str | os.PathLike, trash_topdir: str | None = None) -> str:
    """The original path a .trashinfo file records."""
    for line in Path(info_path).read_bytes().decode("ascii", "replace").splitlines():
        if line.startswith("Path="):
            value = os.fsdecode(unquote_to_bytes(line[5:].strip()))
            return value if os.path.isabs(value) or trash_topdir is None else os.path.join(trash_topdir, value)
    raise TrashError(f"{info_path} has no Path line")


def _create_synced(path: Path, content: bytes) -> None:
    """Create ``path`` (FileExistsError if it exists), write ``content`` and sync it to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_info_exclusive(info_path: Path, content: bytes) -> None:
    """Create ``info_path`` with ``content``, atomically, failing with FileExistsError if it exists.

    Written to a temporary name, synced, then hard-linked into place (link() never replaces), so a
    reader never sees a half-written file. File systems without hard links (FAT drives) get an
    O_EXCL create instead.
    """
    tmp = info_path.with_name(f".{info_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    _create_synced(tmp, content)
    try:
        os.link(tmp, info_path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
        _create_synced(info_path, content)
    finally:
        tmp.unlink(missing_ok=True)


def _candidate_names(original: str):
    base = os.path.basename(original)
    stem, ext = os.path.splitext(base)
    yield base
    n = 2
    while True:
        yield f"{stem}.{n}{ext}"
        n += 1


def _move_no_replace(src: str, dst: str) -> None:
    """Move ``src`` to ``dst`` on the same file system; never replaces an existing ``dst``."""
    try:
        os.link(src, dst, follow_symlinks=False)  # EEXIST if dst exists: nothing is replaced
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "destination exists", dst) from None
        os.rename(src, dst)
        return
    try:
        os.unlink(src)
    except OSError:
        os.unlink(dst)  # undo the link: the file stays where it was
        raise


# -- recognising the spec's places (for paths read back from a journal) ------------------------------


def _normalised(path: str | None) -> bool:
    return bool(path) and os.path.isabs(path) and os.path.normpath(path) == path


def _is_trash_root(root: str) -> bool:
    """A folder the spec puts a Trash in: the home trash, ``$top/.Trash/$uid`` or ``$top/.Trash-$uid``."""
    uid = str(os.getuid())
    if root == os.path.normpath(os.path.abspath(home_trash())):
        return True
    name, parent = os.path.basename(root), os.path.dirname(root)
    try:
        if name == f".Trash-{uid}":
            return _mount_point(parent) == os.path.realpath(parent)
        if name == uid and os.path.basename(parent) == ".Trash":
            top = os.path.dirname(parent)
            return _mount_point(top) == os.path.realpath(top)
    except OSError:
        return False
    return False


def trashed_path_problem(trashed: str | None, info: str | None) -> str | None:
    """Why a journal's (trashed file, .trashinfo) pair is not one simdesk could have written (None: fine).

    The file must lie directly in a Trash's ``files/`` folder, its info file be the matching
    ``info/NAME.trashinfo`` of that same Trash.
    """
    if not _normalised(trashed):
        return "the journal's Trash path is not a plain absolute path"
    files_dir = os.path.dirname(trashed)
    root = os.path.dirname(files_dir)
    if os.path.basename(files_dir) != "files" or not _is_trash_root(root):
        return "the journal names a place outside any Trash folder"
    if info is not None and info != os.path.join(root, "info", os.path.basename(trashed) + ".trashinfo"):
        return "the journal's .trashinfo path does not belong to the trashed file"
    return None


def info_path_problem(info: str | None) -> str | None:
    """Why a journal's .trashinfo path must not be deleted (None: it is a Trash's info file)."""
    if not _normalised(info) or not info.endswith(".trashinfo"):
        return "not a .trashinfo file"
    info_dir = os.path.dirname(info)
    if os.path.basename(info_dir) != "info" or not _is_trash_root(os.path.dirname(info_dir)):
        return "not in a Trash's info folder"
    return None
