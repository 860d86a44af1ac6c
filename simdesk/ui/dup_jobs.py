"""The duplicate scan as a job: descriptors for the photos that lack them, then the scan.

Runs on its own thread like the indexing job (``Library.store`` is per thread: the job's
connection is closed when its thread ends). Progress: ``("describe", Progress)`` while
descriptors are computed, then ``("compare", Progress)``. The result is a :class:`ScanOutcome`;
a cancelled scan ends with ``cancelled=True`` and no scan (the descriptors computed so far are
kept: the next scan resumes).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from simdesk.core.library import Library
from simdesk.core.progress import Cancelled
from simdesk.ui.tasks import Job


@dataclass
class ScanOutcome:
    scan: Any  # simdesk.core.duplicates.grouping.DuplicateScan, None when cancelled
    cancelled: bool = False
    described: int = 0  # photos given descriptors in this run
    not_described: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


class DuplicateScanJob(Job):
    def __init__(self, library: Library, workers: int | None = None, parent=None):
        super().__init__(parent)
        self.library = library
        self.workers = workers

    def work(self, cancel: threading.Event, progress: Callable[[Any], None]) -> ScanOutcome:
        library = self.library
        outcome = ScanOutcome(None)
        if library.duplicates_missing():
            report = library.prepare_duplicates(progress=lambda p: progress(("describe", p)),
                                                cancel=cancel, workers=self.workers)
            outcome.described = report.computed
            outcome.not_described = list(report.skipped)
            if report.cancelled or cancel.is_set():
                outcome.cancelled = True
                return outcome
        try:
            # The default (verification alone): the page's slider regroups the result at once.
            outcome.scan = library.find_duplicates(
                progress=lambda p: progress(("compare", p)), cancel=cancel, workers=self.workers)
        except Cancelled:
            outcome.cancelled = True
        return outcome

    def thread_exit(self) -> None:
        self.library.close()  # this thread's database connection
