"""Moving duplicate copies to the system Trash, journaled in the library, with undo.

The Trash is the freedesktop.org one (Linux and the BSDs): ``$XDG_DATA_HOME/Trash`` for files on
the same device as the home trash, else ``$topdir/.Trash/$uid`` (when the administrator made a
valid sticky ``.Trash`` there) or ``$topdir/.Trash-$uid`` on the file's own drive. A file is never
copied across devices: it is renamed within its file system, so its bytes are never rewritten.
Each move writes its ``.trashinfo`` first, atomically and under a name nobody else holds, so the
desktop's own Trash can show and restore it too.

Other platforms: macOS and Windows have no documented way for a program to put a file in the
Trash *and* take it back out, so simdesk does not move files there (``platform_support()`` says
so; the scan and the review still work, and the user deletes what they choose themselves).

Rules that protect photos, checked again for every file just before it moves, whatever the plan
said: never the last copy of a group (another copy must still exist, unchanged since the scan, and
be a different file, not a link to this one); never a file in a reference folder (by its path and by
its real path); never a symbolic link (simdesk never deletes through a link); never a file whose
size or modification time differs from the scan's.

The journal (table ``trash_journal``): a ``planned`` row, committed before anything on disk is
touched, records the file, its size, mtime, content hash, its group and where it will go; after the
move the row becomes ``trashed``. If simdesk dies in between, ``reconcile()`` (run at the start of
the next trash, undo or duplicate scan) looks where the file actually is and settles the row. Undo
works by batch (one user action), the latest by default.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence
from urllib.parse import quote, unquote_to_bytes

from simdesk.core.duplicates.grouping import DuplicateGroup, Member
from simdesk.core.paths import file_content_hash, is_under, under_any
from simdesk.core.store import Store, decode_path, encode_path
from simdesk.core.units import format_bytes

PLANNED, TRASHED, RESTORED, FAILED = "planned", "trashed", "restored", "failed"


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


# -- paths read back from the journal ---------------------------------------------------------------
#
# The journal is a file anyone with the user's rights can edit: every path read back from it is
# checked before simdesk moves or deletes anything it names.


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


def original_path_problem(original: str, folders: Iterable[str]) -> str | None:
    """Why a photo must not be moved to or from ``original`` (None: it is inside a library folder)."""
    if not _normalised(original):
        return "not a plain absolute path"
    folders = [os.path.normpath(os.path.abspath(f)) for f in folders]
    if not under_any(original, folders):
        return "outside the library's folders"
    # The entry itself is what moves (never what a link points to); the folders above it must not
    # lead out of the library.
    real = os.path.join(os.path.realpath(os.path.dirname(original)), os.path.basename(original))
    if not under_any(real, [os.path.realpath(f) for f in folders]):
        return "leads outside the library's folders (through a link)"
    return None


# -- the plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrashItem:
    path: str
    size: int
    mtime_ns: int
    content_hash: bytes
    group_key: str
    survivors: tuple[Member, ...]  # the group's copies that stay (with their scanned size and mtime)
    # False for a photo the user chose by itself (the grid's Move to Trash): no copy must remain,
    # but every other rule still holds, and the move is journaled and undoable like the others.
    needs_survivor: bool = True


@dataclass
class TrashPlan:
    items: list[TrashItem] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why), decided from the scan

    @property
    def files(self) -> int:
        return len(self.items)

    @property
    def bytes(self) -> int:
        return sum(item.size for item in self.items)

    def summary(self) -> str:
        """The confirmation line: "Move 37 files, 412.0 MB, to Trash"."""
        noun = "file" if self.files == 1 else "files"
        return f"Move {self.files} {noun}, {format_bytes(self.bytes)}, to Trash"

    @classmethod
    def from_groups(
        cls,
        groups: Sequence[DuplicateGroup],
        selected: Mapping[str, Iterable[str]] | Iterable[str] | None = None,
        reference_folders: Sequence[str] = (),
    ) -> "TrashPlan":
        """What to move: per group, the ticked paths (``selected``: group key -> paths, or one set of
        paths for all groups; ``None``: every group's proposed extras).

        Reference-folder copies are left out, and a group whose every copy is ticked keeps its kept
        copy: a group always keeps at least one.
        """
        plan = cls()
        for group in groups:
            if selected is None:
                ticked = {m.path for m in group.extras}
            elif isinstance(selected, Mapping):
                ticked = set(selected.get(group.key, ()))
            else:
                ticked = set(selected) & set(group.paths)
            if not ticked:
                continue
            members = {m.path: m for m in group.members}
            for path in sorted(ticked - set(members)):
                plan.skipped.append((path, "not in this group"))
            ticked &= set(members)
            for path in sorted(ticked):
                m = members[path]
                if m.reference or under_any(path, reference_folders):
                    plan.skipped.append((path, "in a reference folder: never deleted"))
                    ticked.discard(path)
            if ticked and ticked == set(members):
                plan.skipped.append((group.keep, "the last copy of its group is always kept"))
                ticked.discard(group.keep)
            survivors = tuple(m for m in group.members if m.path not in ticked)
            for path in sorted(ticked):
                m = members[path]
                plan.items.append(TrashItem(m.path, m.size, m.mtime_ns, m.content_hash, group.key, survivors))
        return plan


def plan_for_files(store: Store, paths: Iterable[str], reference_folders: Sequence[str] = ()) -> TrashPlan:
    """A plan for photos the user picked one by one (not duplicates): as they were indexed.

    A file that changed since it was indexed is skipped, so what moves is what the user saw.
    """
    plan = TrashPlan()
    for path in paths:
        record = store.photo_by_path(path)
        if record is None:
            plan.skipped.append((path, "not in the library"))
        elif under_any(path, reference_folders):
            plan.skipped.append((path, "in a reference folder: never deleted"))
        else:
            plan.items.append(TrashItem(path, record.size, record.mtime_ns, record.content_hash,
                                        "chosen", (), needs_survivor=False))
    return plan


# -- the journal -------------------------------------------------------------------------------------


def _journal_insert(store: Store, batch: str, item: TrashItem) -> int:
    with store.transaction():
        cur = store.connection.execute(
            "INSERT INTO trash_journal(batch, original_path, size, mtime_ns, content_hash, group_key, "
            "state, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (batch, encode_path(item.path), item.size, item.mtime_ns, item.content_hash, item.group_key,
             PLANNED, time.time()),
        )
        return int(cur.lastrowid)


def _journal_update(store: Store, row_id: int, **fields) -> None:
    columns = []
    values = []
    for name, value in fields.items():
        if name in ("trashed_path", "info_path", "original_path") and value is not None:
            value = encode_path(value)
        columns.append(f"{name} = ?")
        values.append(value)
    with store.transaction():
        store.connection.execute(f"UPDATE trash_journal SET {', '.join(columns)} WHERE id = ?",
                                 (*values, row_id))


@dataclass(frozen=True)
class JournalEntry:
    id: int
    batch: str
    original_path: str
    trashed_path: str | None
    info_path: str | None
    size: int
    mtime_ns: int
    content_hash: bytes | None
    group_key: str | None
    state: str
    message: str | None
    at: float


def journal(store: Store, batch: str | None = None, state: str | None = None) -> list[JournalEntry]:
    sql = ("SELECT id, batch, original_path, trashed_path, info_path, size, mtime_ns, content_hash, "
           "group_key, state, message, at FROM trash_journal")
    where, args = [], []
    if batch is not None:
        where.append("batch = ?")
        args.append(batch)
    if state is not None:
        where.append("state = ?")
        args.append(state)
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = store.connection.execute(sql + " ORDER BY id", args).fetchall()
    return [
        JournalEntry(r[0], r[1], decode_path(r[2]), decode_path(r[3]) if r[3] is not None else None,
                     decode_path(r[4]) if r[4] is not None else None, r[5], r[6],
                     bytes(r[7]) if r[7] is not None else None, r[8], r[9], r[10], r[11])
        for r in rows
    ]


@dataclass(frozen=True)
class BatchSummary:
    batch: str
    at: float
    trashed: int  # files of this batch still in the Trash (what Undo would restore)
    restored: int
    bytes: int


def batches(store: Store) -> list[BatchSummary]:
    """Every trash action, newest first, for an Undo menu."""
    rows = store.connection.execute(
        "SELECT batch, max(at), sum(state = ?), sum(state = ?), sum(CASE WHEN state = ? THEN size ELSE 0 END) "
        "FROM trash_journal GROUP BY batch ORDER BY max(id) DESC",
        (TRASHED, RESTORED, TRASHED),
    ).fetchall()
    return [BatchSummary(b, at, int(t or 0), int(r or 0), int(n or 0)) for b, at, t, r, n in rows]


# -- moving ------------------------------------------------------------------------------------------


@dataclass
class TrashReport:
    batch: str
    moved: list[tuple[str, str]] = field(default_factory=list)  # (original, where it is now)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    bytes: int = 0


def _real_in_folders(path: str, folders: Sequence[str]) -> bool:
    if under_any(os.path.abspath(path), folders):
        return True
    real = os.path.realpath(path)
    return under_any(real, [os.path.realpath(f) for f in folders])


def _unchanged(st: os.stat_result, size: int, mtime_ns: int) -> bool:
    return st.st_size == size and st.st_mtime_ns == mtime_ns


def _why_not(item: TrashItem, reference_folders: Sequence[str], library_folders: Sequence[str]) -> str | None:
    """Why this file must not move now (None: it may)."""
    path = item.path
    if _real_in_folders(path, reference_folders):
        return "in a reference folder: never deleted"
    outside = original_path_problem(path, library_folders)
    if outside is not None:
        return f"not in the library: {outside}"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "no longer exists"
    except OSError as exc:
        return f"cannot check it: {exc.strerror or exc}"
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link: simdesk never deletes through a link"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if not _unchanged(st, item.size, item.mtime_ns):
        return "changed since the scan (size or modification time differs); scan again"
    if not item.needs_survivor:
        return None
    real = os.path.realpath(path)
    for other in item.survivors:
        try:
            if os.path.realpath(other.path) == real:
                continue  # the same file by another route (a link): not another copy
            ost = os.stat(other.path)
        except OSError:
            continue
        if stat.S_ISREG(ost.st_mode) and _unchanged(ost, other.size, other.mtime_ns):
            return None
    return "the last remaining copy of its group (the kept copy is missing or changed)"


def move_to_trash(store: Store, plan: TrashPlan, reference_folders: Sequence[str] = ()) -> TrashReport:
    """Move the plan's files to the Trash, one journaled step at a time; returns what happened."""
    support = platform_support()
    if not support.can_trash:
        raise TrashError(support.message)
    reconcile(store)
    report = TrashReport(batch=f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}")
    report.skipped.extend(plan.skipped)
    library_folders = list(store.folders())
    for item in plan.items:
        why = _why_not(item, reference_folders, library_folders)
        if why is not None:
            report.skipped.append((item.path, why))
            continue
        # Work on the file's real folder: what moves is this directory entry, nothing a link points to.
        source = os.path.join(os.path.realpath(os.path.dirname(item.path)), os.path.basename(item.path))
        row = _journal_insert(store, report.batch, item)
        created: Path | None = None  # the .trashinfo this move wrote, removed again if it fails
        try:
            trash = trash_dir_for(source)
            content = _info_text(item.path, trash)
            for name in _candidate_names(source):
                target, info = trash.files / name, trash.info / f"{name}.trashinfo"
                if os.path.lexists(target) or os.path.lexists(info):
                    continue
                _journal_update(store, row, trashed_path=str(target), info_path=str(info))
                try:
                    _write_info_exclusive(info, content)
                except FileExistsError:
                    continue
                created = info
                if os.path.lexists(target):  # a stray file under our reserved name: leave it be
                    info.unlink(missing_ok=True)
                    created = None
                    continue
                break
            st = os.lstat(source)  # a last look, just before the move
            if stat.S_ISLNK(st.st_mode) or not _unchanged(st, item.size, item.mtime_ns):
                raise _Skip("changed just before the move; left in place")
            os.rename(source, target)
        except (_Skip, OSError, TrashError) as exc:
            if created is not None:
                created.unlink(missing_ok=True)
            message = str(exc) if isinstance(exc, _Skip) else (
                f"could not be moved: {getattr(exc, 'strerror', None) or exc}")
            _journal_update(store, row, state=FAILED, message=message)
            report.skipped.append((item.path, message))
            continue
        with store.transaction():
            store.connection.execute(
                "UPDATE trash_journal SET state = ?, at = ? WHERE id = ?", (TRASHED, time.time(), row))
            store.delete_photos([item.path])
        report.moved.append((item.path, str(target)))
        report.bytes += item.size
    return report


class _Skip(Exception):
    pass


# -- undo --------------------------------------------------------------------------------------------


@dataclass
class UndoReport:
    batch: str | None
    restored: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (original path, why it stays)
    reindexed: int = 0


def latest_batch(store: Store) -> str | None:
    row = store.connection.execute(
        "SELECT batch FROM trash_journal WHERE state = ? ORDER BY id DESC LIMIT 1", (TRASHED,)
    ).fetchone()
    return row[0] if row else None


def undo(store: Store, batch: str | None = None) -> UndoReport:
    """Put the files of ``batch`` (default: the latest with files still in the Trash) back.

    A file is never put back over one that now exists at its original path: it stays in the Trash
    and the report says so. Restored photos go back into the library index.
    """
    support = platform_support()
    if not support.can_restore:
        raise TrashError(support.message)
    reconcile(store)
    batch = batch or latest_batch(store)
    report = UndoReport(batch)
    if batch is None:
        return report
    entries = journal(store, batch=batch, state=TRASHED)
    if not entries and not journal(store, batch=batch):
        raise TrashError(f"no trash action {batch!r} in this library")
    folders = list(store.folders())
    for entry in entries:
        original, trashed = entry.original_path, entry.trashed_path
        bad = original_path_problem(original, folders) or trashed_path_problem(trashed, entry.info_path)
        if bad is not None:
            # A row simdesk did not write (edited by hand, or damaged): nothing it names is touched.
            report.refused.append((original, f"not restored: {bad}"))
            continue
        if not os.path.lexists(trashed):
            try:
                back = _unchanged(os.stat(original), entry.size, entry.mtime_ns)
            except OSError:
                back = False
            if back:  # put back by hand (the desktop's Trash "Restore"), or by an interrupted undo
                report.reindexed += _reindex(store, original, entry)
                _remove_info(entry.info_path)
                _journal_update(store, entry.id, state=RESTORED, message="restored outside simdesk")
                report.restored.append(original)
            else:
                _journal_update(store, entry.id, state=FAILED, message="no longer in the Trash")
                report.refused.append((original, "no longer in the Trash (emptied?)"))
            continue
        if os.path.lexists(original):
            report.refused.append((original, "a file now exists at this path; the trashed copy stays "
                                             f"in the Trash ({trashed})"))
            continue
        different = _not_the_trashed_file(trashed, entry)
        if different is not None:
            report.refused.append((original, f"{different}; it stays in the Trash ({trashed})"))
            continue
        try:
            os.makedirs(os.path.dirname(original), exist_ok=True)
            _move_no_replace(trashed, original)
        except FileExistsError:
            report.refused.append((original, "a file now exists at this path; the trashed copy stays "
                                             f"in the Trash ({trashed})"))
            continue
        except OSError as exc:
            report.refused.append((original, f"could not be put back: {exc.strerror or exc}"))
            continue
        # Each step below is safe to repeat: a kill between them is finished by the next undo.
        report.reindexed += _reindex(store, original, entry)
        _remove_info(entry.info_path)
        _journal_update(store, entry.id, state=RESTORED, message=None)
        report.restored.append(original)
    return report


def _remove_info(info: str | None) -> None:
    if info is not None and info_path_problem(info) is None:
        Path(info).unlink(missing_ok=True)


def _not_the_trashed_file(trashed: str, entry: JournalEntry) -> str | None:
    """Why the file now at ``trashed`` is not the one this entry moved there (None: it is)."""
    try:
        st = os.lstat(trashed)
    except OSError as exc:
        return f"cannot check the file in the Trash: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        return "the Trash holds something else than a regular file under its name"
    if st.st_size != entry.size:
        return "the Trash holds a different file under its name (the size differs)"
    if entry.content_hash is None:
        return "the journal has no content hash to check the file in the Trash against"
    try:
        if file_content_hash(trashed) != entry.content_hash:
            return "the Trash holds a different file under its name (the content differs)"
    except OSError as exc:
        return f"cannot read the file in the Trash: {exc.strerror or exc}"
    return None


def _reindex(store: Store, path: str, entry: JournalEntry) -> int:
    """Put a restored photo back in the index (its embedding is still stored, keyed by content)."""
    from simdesk.core.decode import DecodeError, decode_image
    from simdesk.core.paths import ChangedWhileReading, content_hash, read_file_stable

    roots = sorted(store.folders().items(), key=lambda item: len(item[0]), reverse=True)
    folder_id = next((fid for root, fid in roots
                      if is_under(path, root)), None)
    if folder_id is None:
        return 0
    try:
        data, st = read_file_stable(path)
    except (OSError, ChangedWhileReading):
        return 0
    chash = content_hash(data)
    details = store.copy_photo_details(chash)
    if details is None:
        try:
            decoded = decode_image(data, input_size=8, thumb_size=8)
        except DecodeError:
            return 0
        details = (decoded.width, decoded.height, decoded.capture_time)
    with store.transaction():
        store.upsert_photo(path, folder_id=folder_id, size=st.st_size, mtime_ns=st.st_mtime_ns,
                           content_hash=chash, width=details[0], height=details[1],
                           capture_time=details[2])
    return 1


# -- after a crash -------------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    settled: list[tuple[str, str]] = field(default_factory=list)  # (path, what was found)


def reconcile(store: Store) -> ReconcileReport:
    """Settle journal rows left ``planned`` by an interrupted move, by looking where the file is."""
    report = ReconcileReport()
    for entry in journal(store, state=PLANNED):
        original, trashed, info = entry.original_path, entry.trashed_path, entry.info_path
        bad = (trashed_path_problem(trashed, info) if trashed is not None else None) or (
            info_path_problem(info) if info is not None else None)
        if bad is not None or not _normalised(original):
            _journal_update(store, entry.id, state=FAILED,
                            message=f"interrupted; the journal row is not one simdesk wrote "
                                    f"({bad or 'odd original path'}); nothing touched")
            report.settled.append((original, "a journal row simdesk did not write; nothing touched"))
            continue
        at_original = os.path.lexists(original)
        in_trash = trashed is not None and os.path.lexists(trashed)
        if in_trash and not at_original:
            with store.transaction():
                store.connection.execute(
                    "UPDATE trash_journal SET state = ?, message = ? WHERE id = ?",
                    (TRASHED, "move finished before an interruption", entry.id))
                store.delete_photos([original])
            report.settled.append((original, "found in the Trash: the move had finished"))
        elif at_original and not in_trash:
            _remove_info(info)
            _journal_update(store, entry.id, state=FAILED,
                            message="interrupted before the move; the file was not moved")
            report.settled.append((original, "still in place: the move had not happened"))
        elif at_original and in_trash:
            _journal_update(store, entry.id, state=FAILED,
                            message=f"interrupted; a file is both in place and at {trashed}; both kept")
            report.settled.append((original, f"found both in place and in the Trash ({trashed}); both kept"))
        else:
            _journal_update(store, entry.id, state=FAILED, message="interrupted; the file is in neither place")
            report.settled.append((original, "found neither in place nor in the Trash"))
    return report
