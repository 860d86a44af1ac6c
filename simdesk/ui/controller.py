"""The application object: owns the library, the worker pools and the indexing job.

Widgets never touch the library's database or the model themselves; they ask this object, which
runs the work off the GUI thread and answers through callbacks and signals on the GUI thread.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, QSettings, Signal

from simdesk.core.library import Library, LibraryError, SimilarResult
from simdesk.core.paths import is_under
from simdesk.ui.jobs import IndexJob
from simdesk.ui.photomodel import PhotoListing
from simdesk.ui.tasks import Job, Task, TaskPool
from simdesk.ui.thumbnails import ThumbnailLoader
from simdesk.ui.trash import move_to_trash


@dataclass
class SimilarOutcome:
    result: SimilarResult
    listing: PhotoListing
    query_hash: bytes | None  # the query's thumbnail in the cache, when it is a library photo
    library_size: int
    query_id: int | None = None  # the query's photo id, when it is a library photo
    query_ids: list[int] = field(default_factory=list)  # the ids of every query that is one
    searched: int = 0  # how many photos the query was compared with (the scope's, queries left out)


@dataclass
class TrashOutcome:
    moved: list[str]
    failed: list[tuple[str, str]]


def describe_error(exc: BaseException) -> str:
    """One line for the user; known failures carry their own message."""
    from simdesk.core.models.catalog import ModelError
    from simdesk.core.store import StoreError

    if isinstance(exc, (LibraryError, ModelError, StoreError)):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return f"{type(exc).__name__}: {exc}"


class AppController(QObject):
    folders_changed = Signal()
    photos_changed = Signal()  # indexing changed the cache: grids reload
    photos_removed = Signal(list)  # paths moved to the Trash: grids drop them
    index_started = Signal()
    index_progress = Signal(object)  # simdesk.core.progress.Progress
    index_finished = Signal(object)  # IndexReport
    index_failed = Signal(str)
    notice = Signal(str)  # something to tell the user (the main window's message bar)
    model_changed = Signal(str)

    def __init__(self, library: Library, settings: QSettings, *, index_workers: int | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.library = library
        self.settings = settings
        self.index_workers = index_workers
        # Reads (grid listings, problems, images) and the similar-photo queries each get their
        # own pool so a slow query never holds up the grid; writes go one at a time.
        self.reads = TaskPool("reads", 2, on_thread_exit=library.close, parent=self)
        self.queries = TaskPool("queries", 1, on_thread_exit=library.close, parent=self)
        self.writes = TaskPool("writes", 1, on_thread_exit=library.close, parent=self)
        self.thumbnails = ThumbnailLoader(library.thumbnails, on_thread_exit=library.close, parent=self)
        self.index_job: IndexJob | None = None
        self.jobs: set[Job] = set()  # other long jobs (the map's), stopped on shutdown
        self.last_report = None
        self._rescan_again = False
        self._retry_again = False  # the queued rescan retries failed files too
        self.adding_folders = 0  # add_folders calls not finished yet (the grid says "Indexing…")
        self._after_index: list[Callable[[], None]] = []
        self._search_lock = threading.Lock()
        self._search_index = None
        self._search_generation = 0
        self._closed = False

    # -- library facts (in memory: safe on the GUI thread) -------------------------------------

    @property
    def folders(self) -> list[str]:
        return self.library.folders

    @property
    def indexing(self) -> bool:
        return self.index_job is not None and self.index_job.running

    def take_notices(self) -> None:
        """Pass on what the library wants the user told (a rebuilt cache, unreadable settings)."""
        while self.library.notices:
            self.notice.emit(self.library.notices.pop(0))

    # -- reads ---------------------------------------------------------------------------------

    def load_listing(self, folder: str | None, order: str, on_result, on_error=None) -> Task:
        def work() -> PhotoListing:
            return PhotoListing.from_browse(self.library.browse(folder, order))

        def done(listing: PhotoListing) -> None:
            self.take_notices()
            on_result(listing)

        return self.reads.run(work, on_result=done, on_error=on_error or self._report_error)

    def load_folder_tree(self, on_result, on_error=None) -> Task:
        """The folders with photos (``Library.folder_tree``), for the sidebar."""
        return self.reads.run(self.library.folder_tree, on_result=on_result,
                              on_error=on_error or self._report_error)

    def load_errors(self, on_result, on_error=None) -> Task:
        """``(files that could not be indexed, folders and links the last scan could not follow)``,
        both as the cache keeps them (so they survive a restart)."""
        def work():
            store = self.library.store
            scan = store.scan_problems()
            folders = {e.path for e in scan}
            return [e for e in store.errors() if e.path not in folders], scan

        return self.reads.run(work, on_result=on_result, on_error=on_error or self._report_error)

    def load_image(self, path: str, max_side: int, fallback_hash: bytes | None, on_result) -> Task:
        """The photo scaled to fit ``max_side`` (a QImage), else its cached thumbnail, else None."""
        from simdesk.ui.images import decode_thumbnail, load_image

        def work():
            image = load_image(path, max_side)
            if image is None and fallback_hash is not None:
                jpeg = self.library.thumbnails([fallback_hash]).get(fallback_hash)
                image = decode_thumbnail(jpeg, max_side) if jpeg else None
            return image

        return self.reads.run(work, on_result=on_result, on_error=self._report_error)

    def check_model(self, on_result: Callable[[str | None], None]) -> Task:
        """``on_result(None)`` if the library's model is usable, else the reason it is not."""
        from simdesk.core.models.catalog import ModelError

        def work() -> str | None:
            try:
                self.library.check_model()
            except ModelError as exc:
                return str(exc)
            return None

        return self.reads.run(work, on_result=on_result, on_error=self._report_error)

    # -- similar photos ------------------------------------------------------------------------

    def similar(self, path, k: int, on_result, on_error, *, min_similarity: float | None = None,
                folder: str | None = None) -> Task:
        """The ``k`` photos most similar to ``path`` (a library photo or any image file), or to
        several (a list: their mean direction), at least ``min_similarity`` similar, under
        ``folder`` (None: everywhere)."""
        paths = [path] if isinstance(path, str) else list(path)

        def work() -> SimilarOutcome:
            index = self._current_search_index()
            result = self.library.similar_to_many(paths, k, index=index, min_similarity=min_similarity,
                                                  folder=folder)
            ids = [m.photo_id for m in result.matches]
            hashes = self.library.photo_hashes(ids)
            store = self.library.store
            records = [store.photo_by_path(q) for q in result.queries]
            record = records[0]
            query_ids = [r.id for r in records if r is not None and index.vector_of(r.id) is not None]
            scope = len(index) if folder is None else len(store.browse_photos(folder, "folder")[0])
            listing = PhotoListing(
                ids=np.asarray(ids, dtype=np.int64),
                paths=[m.path for m in result.matches],
                hashes=[hashes.get(i) for i in ids],
                similarities=np.asarray([m.similarity for m in result.matches], dtype=np.float32),
            )
            in_scope = sum(1 for r in records if r is not None and r.id in query_ids
                           and (folder is None or is_under(r.path, folder)))
            return SimilarOutcome(result, listing, record.content_hash if record else None, len(index),
                                  record.id if record is not None and result.in_library else None,
                                  query_ids, max(0, scope - in_scope))

        return self.queries.run(work, on_result=on_result, on_error=on_error)

    def _current_search_index(self):
        """The in-memory search index, built on first use and after the cache changed."""
        with self._search_lock:
            if self._search_index is not None:
                return self._search_index
            generation = self._search_generation
        index = self.library.search_index()
        with self._search_lock:
            if generation == self._search_generation:
                self._search_index = index
        return index

    def invalidate_search(self) -> None:
        with self._search_lock:
            self._search_index = None
            self._search_generation += 1

    # -- writes --------------------------------------------------------------------------------

    def add_folders(self, paths: list[str], rescan: bool = True) -> Task:
        def work():
            added, problems = [], []
            for path in paths:
                try:
                    added.append(self.library.add_folder(path))
                except LibraryError as exc:
                    problems.append(str(exc))
            return added, problems

        def failed(exc: BaseException) -> None:
            self.adding_folders -= 1
            self._report_error(exc)

        def done(outcome) -> None:
            self.adding_folders -= 1
            added, problems = outcome
            for problem in problems:
                self.notice.emit(problem)
            self.folders_changed.emit()  # (also when none was added: the grid's message changes)
            if added and rescan:
                self.rescan()

        self.adding_folders += 1
        return self.writes.run(work, on_result=done, on_error=failed)

    def remove_folder(self, path: str) -> None:
        """Forget a folder's photos (files untouched). Stops indexing first: the running scan would
        otherwise write photos of a folder that no longer exists."""
        def work():
            return self.library.remove_folder(path)

        def done(_removed) -> None:
            self.invalidate_search()
            self.folders_changed.emit()
            self.photos_changed.emit()

        def go() -> None:
            self.writes.run(work, on_result=done, on_error=self._report_error)

        if self.indexing:
            self._after_index.append(go)
            self._rescan_again = True
            self.index_job.cancel()
        else:
            go()

    def set_model(self, name: str, on_done: Callable[[], None] | None = None) -> Task:
        def done(_):
            self.invalidate_search()
            self.model_changed.emit(name)
            if on_done is not None:
                on_done()

        return self.writes.run(self.library.set_model, name, on_result=done,
                               on_error=self._report_error)

    def trash(self, paths: list[str], on_result: Callable[[TrashOutcome], None] | None = None) -> Task:
        """Move files to the system Trash and drop them from the cache (never deletes)."""
        def work() -> TrashOutcome:
            # Journaled and undoable; the moved photos leave the index (their vectors stay for undo).
            moved, failed = move_to_trash(self.library, paths)
            return TrashOutcome(moved, failed)

        def done(outcome: TrashOutcome) -> None:
            if outcome.moved:
                self.invalidate_search()
                self.photos_removed.emit(outcome.moved)
            for path, reason in outcome.failed:
                self.notice.emit(f"{os.path.basename(path)}: {reason}")
            if on_result is not None:
                on_result(outcome)

        return self.writes.run(work, on_result=done, on_error=self._report_error)

    # -- indexing ------------------------------------------------------------------------------

    def rescan(self, retry_failed: bool = False) -> bool:
        """Index new, changed and deleted files in the background. False if there is nothing to do.
        ``retry_failed``: also try again the files that failed before (View > Problems, Retry)."""
        if self._closed or not self.library.folders:
            return False
        if self.indexing:
            self._rescan_again = True
            self._retry_again = self._retry_again or retry_failed
            return True
        retry_failed = retry_failed or self._retry_again
        self._retry_again = False
        job = IndexJob(self.library, workers=self.index_workers, retry_failed=retry_failed, parent=self)
        job.progress.connect(self.index_progress)
        job.succeeded.connect(self._index_succeeded)
        job.failed.connect(self._index_failed)
        job.ended.connect(self._index_ended)
        self.index_job = job
        self._rescan_again = False
        job.start()
        self.index_started.emit()
        return True

    def cancel_index(self) -> None:
        self._rescan_again = False
        if self.indexing:
            self.index_job.cancel()

    def _index_succeeded(self, report) -> None:
        self.last_report = report
        if report.embedded or report.reused or report.removed:
            self.invalidate_search()
        self.take_notices()
        self.index_finished.emit(report)
        self.photos_changed.emit()

    def _index_failed(self, exc) -> None:
        self._rescan_again = False
        self.index_failed.emit(describe_error(exc))

    def _index_ended(self) -> None:
        job, self.index_job = self.index_job, None
        if job is not None:
            job.deleteLater()
        pending, self._after_index = self._after_index, []
        for fn in pending:
            fn()
        if self._rescan_again and not self._closed:
            if pending:  # run the rescan after the queued writes (same one-thread pool)
                self.writes.run(lambda: None, on_result=lambda _: self.rescan())
            else:
                self.rescan()

    # -- other long jobs -----------------------------------------------------------------------

    def start_job(self, job: Job) -> Job:
        """Start a :class:`~simdesk.ui.tasks.Job` (connect to its signals first); shutdown
        cancels it. It is deleted after ``ended``."""
        if self._closed:
            return job
        if job.parent() is None:
            job.setParent(self)
        self.jobs.add(job)
        job.ended.connect(lambda: self._job_ended(job))
        job.start()
        return job

    def _job_ended(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.discard(job)
            job.deleteLater()

    # -- errors, shutdown ----------------------------------------------------------------------

    def _report_error(self, exc: BaseException) -> None:
        from simdesk.core.models.catalog import ModelError
        from simdesk.core.store import StoreError

        if isinstance(exc, (LibraryError, ModelError, StoreError, OSError)):
            self.notice.emit(describe_error(exc))
        else:
            raise exc

    def shutdown(self) -> None:
        """Stop indexing (a cancelled run resumes next time) and the workers; then close."""
        if self._closed:
            return
        self._closed = True
        if self.index_job is not None:
            self.index_job.cancel()
            self.index_job.wait(30)
        for job in list(self.jobs):
            job.cancel()
        for job in list(self.jobs):
            job.wait(10)
        self.thumbnails.shutdown()
        for pool in (self.reads, self.queries, self.writes):
            pool.shutdown()
        self.settings.sync()
        self.library.close()
