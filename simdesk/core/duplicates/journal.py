"""Moving photos to the Trash, journaled in the library, with undo and crash recovery.

Rules that protect photos, checked again for every file just before it moves, whatever the plan
said: never a file outside the library's folders; never the last copy of a group (another copy
must still exist, unchanged since the scan, and be a different file, not a link to this one);
never a file in a reference folder (by its path and by its real path); never a symbolic link
(simdesk never deletes through a link); never a file whose size or modification time differs from
the scan's.

The journal (table ``trash_journal``, its SQL in ``journal_store``): a ``planned`` row, committed
before anything on disk is touched, records the file, its size, mtime, content hash, its group and
where it will go; after the move the row becomes ``trashed``. If simdesk dies in between,
``reconcile()`` (run at the start of the next trash, undo or duplicate scan) looks where the file
actually is and settles the row. Undo works by batch (one user action), the latest by default, and
puts a file back only when the Trash still holds the very bytes it took (size and content hash).

Every path read back from the journal is validated first (it is a file anyone with the user's
rights can edit): trashed files only directly in a Trash's ``files/``, info files only in its
``info/`` with the ``.trashinfo`` suffix, originals normalised and inside a library folder.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from simdesk.core.duplicates import journal_store
from simdesk.core.duplicates.freedesktop_trash import (
    TrashError,
    _candidate_names,
    _info_text,
    _move_no_replace,
    _normalised,
    _write_info_exclusive,
    info_path_problem,
    platform_support,
    trash_dir_for,
    trashed_path_problem,
)
from simdesk.core.duplicates.grouping import DuplicateGroup, Member
from simdesk.core.duplicates.journal_store import (
    FAILED,
    PLANNED,
    RESTORED,
    TRASHED,
    JournalEntry,
    journal,
    latest_batch,
)
from simdesk.core.paths import file_content_hash, is_under, under_any, under_any_resolved
from simdesk.core.store import Store
from simdesk.core.units import format_bytes


# -- the library's folders --------------------------------------------------------------------------


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


# -- moving ------------------------------------------------------------------------------------------


@dataclass
class TrashReport:
    batch: str
    moved: list[tuple[str, str]] = field(default_factory=list)  # (original, where it is now)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    bytes: int = 0


def _unchanged(st: os.stat_result, size: int, mtime_ns: int) -> bool:
    return st.st_size == size and st.st_mtime_ns == mtime_ns


def _why_not(item: TrashItem, reference_folders: Sequence[str], library_folders: Sequence[str]) -> str | None:
    """Why this file must not move now (None: it may)."""
    path = item.path
    if under_any_resolved(path, reference_folders):
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
        row = journal_store.insert_planned(store, report.batch, item.path, item.size, item.mtime_ns,
                                           item.content_hash, item.group_key)
        created: Path | None = None  # the .trashinfo this move wrote, removed again if it fails
        try:
            trash = trash_dir_for(source)
            content = _info_text(item.path, trash)
            for name in _candidate_names(source):
                target, info = trash.files / name, trash.info / f"{name}.trashinfo"
                if os.path.lexists(target) or os.path.lexists(info):
                    continue
                journal_store.update(store, row, trashed_path=str(target), info_path=str(info))
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
            journal_store.update(store, row, state=FAILED, message=message)
            report.skipped.append((item.path, message))
            continue
        journal_store.mark_trashed(store, row, item.path)
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
                journal_store.update(store, entry.id, state=RESTORED, message="restored outside simdesk")
                report.restored.append(original)
            else:
                journal_store.update(store, entry.id, state=FAILED, message="no longer in the Trash")
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
        journal_store.update(store, entry.id, state=RESTORED, message=None)
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
            journal_store.update(store, entry.id, state=FAILED,
                            message=f"interrupted; the journal row is not one simdesk wrote "
                                    f"({bad or 'odd original path'}); nothing touched")
            report.settled.append((original, "a journal row simdesk did not write; nothing touched"))
            continue
        at_original = os.path.lexists(original)
        in_trash = trashed is not None and os.path.lexists(trashed)
        if in_trash and not at_original:
            journal_store.mark_trashed(store, entry.id, original, "move finished before an interruption")
            report.settled.append((original, "found in the Trash: the move had finished"))
        elif at_original and not in_trash:
            _remove_info(info)
            journal_store.update(store, entry.id, state=FAILED,
                            message="interrupted before the move; the file was not moved")
            report.settled.append((original, "still in place: the move had not happened"))
        elif at_original and in_trash:
            journal_store.update(store, entry.id, state=FAILED,
                            message=f"interrupted; a file is both in place and at {trashed}; both kept")
            report.settled.append((original, f"found both in place and in the Trash ({trashed}); both kept"))
        else:
            journal_store.update(store, entry.id, state=FAILED, message="interrupted; the file is in neither place")
            report.settled.append((original, "found neither in place nor in the Trash"))
    return report
