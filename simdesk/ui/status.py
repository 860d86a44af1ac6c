"""Jobs in the status bar: one widget (what runs, a bar, Cancel) for indexing, the map and the
duplicate scan, and the words for indexing's and the scan's progress and indexing's report."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from simdesk.core.units import format_duration


def progress_text(p) -> str:
    if p.phase == "scanning":
        return f"Scanning… {p.done:,} photos found"
    if p.phase == "done":
        return f"Finishing… {p.done:,}/{p.total:,}"
    return (f"Indexing {p.done:,}/{p.total:,} · {p.rate:.1f} photos/s · "
            f"ETA {format_duration(p.eta_seconds)}")


def report_summary(report) -> str:
    """One line about a finished index run."""
    if report.cancelled:
        return (f"Indexing stopped after {report.embedded + report.reused:,} photos; "
                "Rescan (F5) resumes where it stopped.")
    parts = []
    if report.embedded:
        parts.append(f"indexed {report.embedded:,} photos")
    if report.reused:
        parts.append(f"{report.reused:,} moved or copied")
    if report.removed:
        parts.append(f"{report.removed:,} gone from disk were removed")
    if parts:
        text = "Done: " + ", ".join(parts) + f" in {format_duration(report.seconds)}."
    else:
        text = f"Up to date: {report.found:,} photos found, nothing new."
    failed = len(report.failed) + report.known_failures
    if failed:
        text += f" {failed:,} file{'s' if failed != 1 else ''} could not be indexed (View > Problems)."
    if report.scan_problems:
        n = len(report.scan_problems)
        text += f" {n:,} folder{'s' if n != 1 else ''} or link{'s' if n != 1 else ''} could not be scanned."
    if report.offline_folders:
        text += f" {len(report.offline_folders)} folder(s) offline; their photos were kept."
    return text


class JobStatus(QWidget):
    """One job's progress in the status bar, with Cancel; hidden while idle.

    ``started(text)`` shows it (busy until the first report), ``show_progress(text, done, total)``
    (``total <= 0``: busy) or ``update_progress(fraction, text)`` moves the bar, ``ended()`` hides it. Cancel emits ``cancel_clicked``
    and shows ``stopping_text`` until the job ends (later reports move only the bar)."""

    cancel_clicked = Signal()

    def __init__(self, cancel_tip: str, parent=None, *, bar_width: int = 140,
                 stopping_text: str = "Stopping…"):
        super().__init__(parent)
        self.stopping_text = stopping_text
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(bar_width)
        self.bar.setTextVisible(False)
        self.cancel_button = QToolButton(self)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip(cancel_tip)
        self.cancel_button.clicked.connect(self._cancel)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.setVisible(False)

    @property
    def stopping(self) -> bool:
        return not self.cancel_button.isEnabled()

    def started(self, text: str) -> None:
        self.label.setText(text)
        self.bar.setRange(0, 0)  # busy until the first report
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.setVisible(True)

    def show_progress(self, text: str, done: int = 0, total: int = 0) -> None:
        if not self.stopping:  # the stopping text stays until the job ends
            self.label.setText(text)
        if total <= 0:
            self.bar.setRange(0, 0)  # busy
        else:
            self.bar.setRange(0, total)
            self.bar.setValue(done)

    def update_progress(self, fraction: float, text: str) -> None:
        """Progress as a fraction 0..1 (the bar counts to 1000)."""
        self.show_progress(text, int(round(min(max(fraction, 0.0), 1.0) * 1000)), 1000)

    def ended(self) -> None:
        self.setVisible(False)

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Stopping…")
        self.label.setText(self.stopping_text)
        self.cancel_clicked.emit()


def index_status(parent=None) -> JobStatus:
    """The status-bar widget for indexing."""
    return JobStatus("Stop indexing (Rescan resumes where it stopped)", parent, bar_width=180,
                     stopping_text="Stopping after the current batch…")


def index_progress(p) -> tuple[str, int, int]:
    """Indexing's progress for :meth:`JobStatus.show_progress`: text, done, total (0: busy)."""
    if p.phase == "scanning" or p.total <= 0:
        return progress_text(p), 0, 0
    return progress_text(p), p.done, p.total


_COUNTED_SCAN_PHASES = ("comparing", "verifying", "verifying groups")


def scan_progress(item) -> tuple[str, int, int]:
    """The scan's progress for :meth:`JobStatus.show_progress`: text, done, total (0: busy)."""
    stage, p = item
    if stage == "describe":
        text = (f"Preparing duplicate detection {p.done:,}/{p.total:,} · "
                f"{p.rate:.1f} photos/s · ETA {format_duration(p.eta_seconds)}")
    elif p.phase in _COUNTED_SCAN_PHASES:
        what = "Comparing photos" if p.phase == "comparing" else "Checking candidate copies"
        text = f"{what}… {100 * p.done / max(p.total, 1):.0f}%"
    else:
        text = "Grouping copies…" if p.phase == "grouping" else "Loading…"
    if p.total and (stage == "describe" or p.phase in _COUNTED_SCAN_PHASES):
        return text, p.done, p.total
    return text, 0, 0
