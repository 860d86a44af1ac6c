"""The indexing progress shown in the status bar: done/total, photos per second, ETA, Cancel."""

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
        text += f" {failed:,} files could not be indexed (View > Problems)."
    if report.offline_folders:
        text += f" {len(report.offline_folders)} folder(s) offline; their photos were kept."
    return text


class IndexStatus(QWidget):
    """Hidden while idle. ``cancel_clicked`` asks the app to stop indexing."""

    cancel_clicked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(180)
        self.bar.setTextVisible(False)
        self.cancel_button = QToolButton(self)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop indexing (Rescan resumes where it stopped)")
        self.cancel_button.clicked.connect(self._cancel)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.setVisible(False)

    def started(self) -> None:
        self.label.setText("Scanning…")
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.setVisible(True)

    def update_progress(self, p) -> None:
        self.label.setText(progress_text(p))
        if p.phase == "scanning" or p.total <= 0:
            self.bar.setRange(0, 0)  # busy
        else:
            self.bar.setRange(0, p.total)
            self.bar.setValue(p.done)

    def ended(self) -> None:
        self.setVisible(False)

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Stopping…")
        self.label.setText("Stopping after the current batch…")
        self.cancel_clicked.emit()
