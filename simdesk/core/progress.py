"""One progress value and one cancel, for every long job of the core.

Every job (scanning, indexing, downloading, duplicate descriptors, the duplicate scan, the map
layout) reports ``Progress`` values through one callback type and stops through one
``threading.Event``: setting it makes the job raise ``Cancelled`` at its next check. Indexing and
the duplicate descriptors instead return their partial report with ``cancelled=True`` (what they
wrote is kept; a rerun resumes). The CLI renders ``Progress`` with one renderer, the GUI with
one job-status widget.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Progress:
    phase: str  # what the job is doing now, in words a status line can show ("indexing")
    done: int  # units done in this phase
    total: int | None  # units in this phase; None when not known (a download without a size)
    rate: float = 0.0  # units per second in this run, 0 when not measured
    eta_seconds: float | None = None
    label: str = ""  # the current item or a short message
    fraction: float | None = None  # of the whole job, 0..1, when the job has several phases
    unit: str = "photos"  # what done and total count: "photos", "bytes", "pairs", "steps"

    @property
    def overall(self) -> float | None:
        """The share of the whole job done, 0..1 (None when nothing says)."""
        if self.fraction is not None:
            return self.fraction
        if self.total:
            return min(1.0, self.done / self.total)
        return None


ProgressCallback = Callable[[Progress], None]


class Cancelled(Exception):
    """The job was cancelled through its cancel event; what it finished is kept."""


def check(cancel: threading.Event | None) -> None:
    """Raise ``Cancelled`` if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()
