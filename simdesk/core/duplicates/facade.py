"""The duplicates and Trash part of ``Library`` (see simdesk.core.library): reference folders, the
keep rule, the duplicate scan, the user's decisions and the journaled Trash moves.
"""

from __future__ import annotations

import os
import threading

import numpy as np


class DuplicatesFacade:
    """Mixed into ``Library``: uses its ``store``, ``_settings``, ``_write_settings``, ``manifest``,
    ``_current_manifest``, ``_space_for``, ``model_name`` and ``pooling``."""

    # -- duplicates --

    @property
    def reference_folders(self) -> list[str]:
        """Folders whose photos are never proposed for, nor moved to, the Trash."""
        return list(self._settings.reference_folders)

    def add_reference_folder(self, folder: str | os.PathLike) -> str:
        from simdesk.core.library import LibraryError  # not at the top: library.py imports this module

        path = os.path.abspath(os.fspath(folder))
        if not os.path.isdir(path):
            raise LibraryError(f"{path} is not a folder")
        folders = self.reference_folders
        if path not in folders:
            self._settings.reference_folders = folders + [path]
            self._write_settings()
        return path

    def remove_reference_folder(self, folder: str | os.PathLike) -> bool:
        path = os.path.abspath(os.fspath(folder))
        folders = self.reference_folders
        if path not in folders:
            return False
        folders.remove(path)
        self._settings.reference_folders = folders
        self._write_settings()
        return True

    @property
    def duplicate_keep_rule(self) -> tuple[str, ...]:
        """The order of criteria that picks the copy to keep (see duplicates.KEEP_CRITERIA)."""
        from simdesk.core.duplicates.grouping import DuplicateError, parse_keep_rule

        try:
            return parse_keep_rule(self._settings.duplicate_keep_rule)
        except DuplicateError:
            return parse_keep_rule(None)

    def set_duplicate_keep_rule(self, rule) -> tuple[str, ...]:
        from simdesk.core.duplicates.grouping import DuplicateError, parse_keep_rule
        from simdesk.core.library import LibraryError

        try:
            parsed = parse_keep_rule(rule)
        except DuplicateError as exc:
            raise LibraryError(str(exc)) from None
        self._settings.duplicate_keep_rule = list(parsed)
        self._write_settings()
        return parsed

    def duplicate_descriptor_model(self):
        """The model cut at its mid-level layer, for duplicate descriptors (loads the ONNX file)."""
        from simdesk.core.duplicates.descriptors import descriptor_model

        return descriptor_model(self.manifest())

    def prepare_duplicates(self, *, rotations: bool = True, progress=None,
                           cancel: threading.Event | None = None, workers: int | None = None):
        """Compute the duplicate descriptors photos lack (once per photo; resumable). A report."""
        from simdesk.core.duplicates.descriptors import update_descriptors

        return update_descriptors(self.store, self.duplicate_descriptor_model(), rotations=rotations,
                                  progress=progress, cancel=cancel, workers=workers)

    def duplicates_missing(self, rotations: bool = True) -> int:
        """How many photos still need duplicate descriptors (``prepare_duplicates`` computes them)."""
        from simdesk.core.duplicates.descriptors import missing_descriptors

        return missing_descriptors(self.store, self.duplicate_descriptor_model().spec, rotations)

    def find_duplicates(self, threshold: float | None = None, *, fast: bool = False,
                        rotations: bool = True, progress=None, cancel: threading.Event | None = None,
                        workers: int | None = None):
        """Scan for duplicate groups; a ``DuplicateScan`` (``scan.groups(...)`` lists them).

        Uses the duplicate descriptors and local features (``prepare_duplicates`` computes what
        photos lack; photos without them are only checked for identical copies, or compared
        unverified). ``fast``: the library's own vectors, unverified (no preparation, fewer
        edited copies found). ``threshold`` None: verification alone decides.
        """
        from simdesk.core.duplicates import grouping as duplicates
        from simdesk.core.duplicates.descriptors import descriptor_spaces

        self.reconcile_trash()
        store = self.store
        if fast:
            space = self._space_for(self._current_manifest(verify=False), self.pooling)
            descriptor = f"library vectors ({self.pooling} pooling), whitened, not verified"
            return duplicates.scan(store, lambda: (*store.load_embeddings(space), None), threshold=threshold,
                                   verify=False, model=self.model_name, descriptor=descriptor,
                                   progress=progress, cancel=cancel, workers=workers)
        model = self.duplicate_descriptor_model()
        spaces = descriptor_spaces(store, model.spec)

        def load():
            # Loaded inside the scan, one raw matrix at a time (100,000 photos: 270 MB each).
            ids, upright = store.load_embeddings(spaces["upright"])

            def turned():
                """Turned views aligned with ``ids``; a photo without one is compared upright only."""
                rot_ids, rot = store.load_embeddings(spaces["rot90"])
                if np.array_equal(rot_ids, ids):
                    return rot
                aligned = store.load_embeddings(spaces["upright"])[1]
                _, a, b = np.intersect1d(ids, rot_ids, assume_unique=True, return_indices=True)
                aligned[a] = rot[b]
                return aligned

            return ids, upright, turned if rotations else None

        descriptor = (f"{model.spec.layer} GeM, whitened"
                      + (", upright and turned 90 degrees" if rotations else "")
                      + "; verified on local features")
        return duplicates.scan(store, load, threshold=threshold, model=self.model_name,
                               descriptor=descriptor, progress=progress, cancel=cancel, workers=workers)

    def duplicate_groups(self, scan, threshold: float | None = None, keep_rule=None,
                         separate_shots: bool = True):
        """``scan.groups`` with this library's keep rule and reference folders."""
        return scan.groups(threshold, keep_rule=keep_rule or self.duplicate_keep_rule,
                           reference_folders=self.reference_folders, separate_shots=separate_shots)

    def duplicate_decisions(self, groups):
        """The user's stored keep choices and ticks for these groups, by group key
        (``decisions.GroupDecision``; lapsed where a file changed since)."""
        from simdesk.core.duplicates.decisions import decisions_for

        return decisions_for(self.store, groups)

    def record_duplicate_decision(self, group, *, keep: str | None = None, ticks=None) -> None:
        """Store the copy to keep and/or the ticks (path -> bool) chosen in ``group``."""
        from simdesk.core.duplicates.decisions import record

        record(self.store, group, keep=keep, ticks=ticks)

    def dismiss_duplicates(self, paths) -> int:
        """Mark these library photos as "not a duplicate" of each other, for good."""
        from simdesk.core.duplicates.dismissed import NotInLibraryError, dismiss, hashes_of
        from simdesk.core.library import LibraryError

        try:
            hashes = hashes_of(self.store, [os.fspath(p) for p in paths])
        except NotInLibraryError as exc:
            raise LibraryError(str(exc)) from None
        return dismiss(self.store, hashes)

    def plan_trash(self, groups, selected=None):
        """A ``TrashPlan`` of the ticked copies (None: every group's proposed extras)."""
        from simdesk.core.duplicates.journal import TrashPlan

        return TrashPlan.from_groups(groups, selected, self.reference_folders)

    def trash_duplicates(self, plan):
        """Move the plan's files to the Trash, journaled; a ``TrashReport`` (its batch undoes it)."""
        from simdesk.core.duplicates.journal import move_to_trash

        return move_to_trash(self.store, plan, self.reference_folders)

    def trash_files(self, paths):
        """Move photos the user picked to the Trash, journaled and undoable; a ``TrashReport``."""
        from simdesk.core.duplicates.journal import move_to_trash, plan_for_files

        plan = plan_for_files(self.store, paths, self.reference_folders)
        return move_to_trash(self.store, plan, self.reference_folders)

    def undo_trash(self, batch: str | None = None):
        """Put back the files of a trash action (default: the latest); an ``UndoReport``."""
        from simdesk.core.duplicates.journal import undo

        return undo(self.store, batch)

    def trash_batches(self):
        from simdesk.core.duplicates.journal_store import batches

        return batches(self.store)

    def reconcile_trash(self):
        """Settle trash moves a crash interrupted (call at start-up); a ``ReconcileReport``."""
        from simdesk.core.duplicates.journal import reconcile

        return reconcile(self.store)
