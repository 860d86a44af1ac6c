"""The duplicates page: groups of copies side by side, what to keep, the extras to the Trash, Undo.

A thin layer over ``Library``: the scan runs as a job on its own thread (``dup_jobs``), the
threshold slider regroups the scan's pairs on a read worker (``Library.duplicate_groups``: no new
comparison), and the moves, the undo and "Not duplicates" go through the app's one-at-a-time
write worker. The GUI thread only builds the plan (``Library.plan_trash``, cheap) and the widgets.

What the user chose survives a regroup: unticked copies (by path) and the copy kept per group
(by path: a kept copy stays kept when the threshold changes the group around it).
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from simdesk.core.duplicates import grouping as core_duplicates
from simdesk.core.duplicates.dismissed import dismissed_pairs
from simdesk.core.duplicates import freedesktop_trash as core_trash
from simdesk.ui.controller import AppController, describe_error
from simdesk.ui.dup_cards import GroupCard
from simdesk.ui.dup_jobs import DuplicateScanJob, ScanOutcome
from simdesk.ui.settings import settings_value
from simdesk.ui.status import JobStatus, scan_progress
from simdesk.core.units import format_bytes

PAGE_GROUPS = 50  # groups built at a time ("Show more" adds the next ones)
REGROUP_DELAY_MS = 120

# The keep-rule chooser: words for the user, the criteria order for the core.
KEEP_RULES = (
    ("the camera original", ("original", "oldest", "pixels", "size", "shortest_path")),
    ("the largest picture", ("pixels", "size", "oldest", "shortest_path")),
    ("the largest file", ("size", "pixels", "oldest", "shortest_path")),
    ("the oldest", ("oldest", "pixels", "size", "shortest_path")),
    ("the newest", ("newest", "pixels", "size", "shortest_path")),
    ("the shortest path", ("shortest_path", "pixels", "size", "oldest")),
)


def confirm_move(parent: QWidget, plan, groups: int) -> bool:
    """Ask before moving (tests replace this function)."""
    text = f"{plan.summary()}?"
    detail = (f"The extra copies ticked in {groups:,} group{'s' if groups != 1 else ''} go to the "
              "desktop Trash; the copy kept in each group stays. Edit > Undo (Ctrl+Z) puts them back.")
    if plan.skipped:
        detail += f"\n\n{len(plan.skipped):,} ticked file(s) will not move (reference folders, last copies)."
    box = QMessageBox(QMessageBox.Icon.Question, "Move to Trash", text,
                      QMessageBox.StandardButton.Cancel, parent)
    move = box.addButton("Move to Trash", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.setInformativeText(detail)
    box.exec()
    return box.clickedButton() is move


def report_text(report) -> str:
    """What a move did, in words: the count, then every skipped file and why."""
    moved = len(report.moved)
    lines = [f"Moved {moved:,} file{'s' if moved != 1 else ''}, {format_bytes(report.bytes)}, to the Trash."
             + (" Edit > Undo (Ctrl+Z) puts them back." if moved else "")]
    if report.skipped:
        lines.append(f"{len(report.skipped):,} not moved:")
        for path, why in report.skipped[:20]:
            lines.append(f"• {path}: {why}")
        if len(report.skipped) > 20:
            lines.append(f"… and {len(report.skipped) - 20:,} more.")
    return "\n".join(lines)


class DuplicatesPage(QWidget):
    """Find Duplicates: ``open()`` scans (once; "Scan again" rescans). Esc or Back: ``closed``."""

    closed = Signal()
    scan_finished = Signal()  # a scan ended (found, cancelled or failed)
    groups_shown = Signal()  # groups (re)built after a scan, a regroup or a dismissal
    moved = Signal(object)  # TrashReport
    undone = Signal(object)  # UndoReport

    def __init__(self, controller: AppController, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.library = controller.library
        self.scan = None
        self.groups: list = []  # as the core made them, with the user's keep choices applied
        self.job: DuplicateScanJob | None = None
        self.unticked: set[str] = set()
        self.ticked_in: set[str] = set()  # similar shots the user ticked (none is by default)
        self.chosen_keep: dict[str, int] = {}  # path -> when chosen (the latest wins)
        self.gone: set[str] = set()  # moved to the Trash since the scan
        self.shown = PAGE_GROUPS
        self.last_report = None
        self.error: str | None = None
        self._generation = 0
        self._busy_moving = False
        self._undo_batch = None
        self.support = core_trash.platform_support()

        self.status_widget = JobStatus("Stop the duplicate scan (descriptors computed so far are kept)",
                                       self, bar_width=160)
        self.status_widget.cancel_clicked.connect(self.cancel_scan)

        self.undo_action = QAction("&Undo Move to Trash", self)
        self.undo_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
        self.undo_action.setStatusTip("Put back the files of the last move to the Trash")
        self.undo_action.setEnabled(False)
        self.undo_action.triggered.connect(self.undo)

        # Header: back, title, summary, scan again.
        self.back_button = QToolButton(self)
        self.back_button.setText("← Back")
        self.back_button.setToolTip("Back to all photos (Esc)")
        self.back_button.clicked.connect(self.closed)
        title = QLabel("Duplicates", self)
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        title.setFont(font)
        self.summary = QLabel(self)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.summary.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.rescan_button = QPushButton("Scan Again", self)
        self.rescan_button.setToolTip("Look for duplicates again (new photos, changed folders)")
        self.rescan_button.clicked.connect(self.start_scan)
        header = QHBoxLayout()
        header.addWidget(self.back_button)
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(self.summary, 1)
        header.addWidget(self.rescan_button)

        # Controls: threshold slider, keep rule, the move button.
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(round(core_duplicates.SLIDER_MIN * 100), round(core_duplicates.SLIDER_MAX * 100))
        # A new key: the old "duplicates/threshold" meant an unverified similarity cut (0.55).
        saved = settings_value(controller.settings, "duplicates/min_similarity",
                               core_duplicates.DEFAULT_THRESHOLD, float)
        self.slider.setValue(round(saved * 100))
        self.slider.setPageStep(5)
        self.slider.setFixedWidth(220)
        self.slider.setToolTip("Copies are verified on their pixels. Move right to list only copies "
                               "that are also this alike (leftmost, the default: every verified copy)")
        self.slider_value = QLabel(self)
        self.slider_value.setMinimumWidth(self.fontMetrics().horizontalAdvance("0.00 ") + 4)
        self.slider.valueChanged.connect(self._slider_moved)
        self.keep_combo = QComboBox(self)
        for label, rule in KEEP_RULES:
            self.keep_combo.addItem(label, list(rule))
        current_rule = tuple(self.library.duplicate_keep_rule)
        index = next((k for k, (_, rule) in enumerate(KEEP_RULES) if rule == current_rule), None)
        if index is None:
            self.keep_combo.addItem("custom: " + ", ".join(current_rule), list(current_rule))
            index = self.keep_combo.count() - 1
        self.keep_combo.setCurrentIndex(index)
        self.keep_combo.setToolTip("Which copy of each group is proposed to keep (you can pick "
                                   "another per group)")
        self.keep_combo.currentIndexChanged.connect(self._keep_rule_changed)
        self.move_button = QPushButton(self)
        self.move_button.setDefault(True)
        self.move_button.clicked.connect(self.move_to_trash)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Similarity threshold", self))
        controls.addWidget(self.slider)
        controls.addWidget(self.slider_value)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Keep", self))
        controls.addWidget(self.keep_combo)
        controls.addStretch(1)
        controls.addWidget(self.move_button)

        # Plain messages: the platform's limits, what the last move did.
        self.platform_note = QLabel(self.support.message, self)
        self.platform_note.setWordWrap(True)
        self.platform_note.setTextFormat(Qt.TextFormat.PlainText)
        self.platform_note.setStyleSheet("background: #fff4ce; border: 1px solid #e0c060; color: #3b2f00; "
                                         "padding: 6px;")
        self.platform_note.setVisible(not self.support.can_trash)
        self.report_label = QLabel(self)
        self.report_label.setWordWrap(True)
        self.report_label.setTextFormat(Qt.TextFormat.PlainText)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_label.setStyleSheet("background: #e8f4ea; border: 1px solid #9cc9a6; color: #143d1f; "
                                        "padding: 6px;")
        self.report_label.setVisible(False)

        # The groups.
        self.container = QWidget(self)
        self.group_layout = QVBoxLayout(self.container)
        self.group_layout.setContentsMargins(0, 0, 6, 0)
        self.group_layout.setSpacing(10)
        self.group_layout.addStretch(1)
        self.placeholder = QLabel(self.container)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setTextFormat(Qt.TextFormat.PlainText)
        self.group_layout.insertWidget(0, self.placeholder)
        self.more_button = QPushButton(self.container)
        self.more_button.clicked.connect(self._show_more)
        self.group_layout.insertWidget(1, self.more_button)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(self.container)
        self.cards: list[GroupCard] = []

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(controls)
        layout.addWidget(self.platform_note)
        layout.addWidget(self.report_label)
        layout.addWidget(self.scroll, 1)

        self._regroup_timer = QTimer(self)
        self._regroup_timer.setSingleShot(True)
        self._regroup_timer.setInterval(REGROUP_DELAY_MS)
        self._regroup_timer.timeout.connect(self.regroup)
        controller.thumbnails.loaded.connect(self._thumbnails_loaded)
        self._slider_moved(self.slider.value(), regroup=False)
        self._render()
        self.check_trash()

    # -- state --------------------------------------------------------------------------------------

    @property
    def threshold(self) -> float:
        return self.slider.value() / 100.0

    @property
    def keep_rule(self) -> tuple[str, ...]:
        return tuple(self.keep_combo.currentData())

    @property
    def scanning(self) -> bool:
        return self.job is not None and self.job.running

    def visible_members(self, group) -> list:
        return [m for m in group.members if m.path not in self.gone]

    def visible_groups(self) -> list:
        return [g for g in self.groups if len(self.visible_members(g)) >= 2]

    def ticked(self, group) -> set[str]:
        proposed = {m.path for m in group.extras if m.path not in self.unticked}
        chosen = {m.path for m in group.members
                  if m.path in self.ticked_in and m.path != group.keep and not m.reference}
        return (proposed | chosen) - self.gone

    def plan(self):
        """The move the button would make now (``Library.plan_trash`` of the ticked copies)."""
        groups = self.visible_groups()
        return self.library.plan_trash(groups, {g.key: self.ticked(g) for g in groups})

    # -- scanning ------------------------------------------------------------------------------------

    def open(self) -> None:
        """Show the page; the first time (or after a failed or cancelled scan), scan."""
        if self.scan is None and not self.scanning:
            self.start_scan()

    def start_scan(self) -> None:
        if self.scanning:
            return
        self.error = None
        job = DuplicateScanJob(self.library, workers=self.controller.index_workers, parent=self)
        job.progress.connect(lambda item: self.status_widget.show_progress(*scan_progress(item)))
        job.succeeded.connect(self._scanned)
        job.failed.connect(self._scan_failed)
        job.ended.connect(self._scan_ended)
        self.job = job
        self.rescan_button.setEnabled(False)
        self.status_widget.started("Looking for duplicates…")
        self.controller.start_job(job)  # the controller stops it when the app closes
        self._render()

    def cancel_scan(self) -> None:
        if self.scanning:
            self.job.cancel()

    def _scanned(self, outcome: ScanOutcome) -> None:
        if outcome.cancelled:
            if self.scan is None:
                self.error = "The scan was cancelled. Scan Again resumes where it stopped."
            self._status_message("Duplicate scan cancelled.")
            return
        self.scan = outcome.scan
        self.gone.clear()
        for path, why in outcome.not_described[:5]:
            self.controller.notice.emit(f"Not compared for near-duplicates: {path}: {why}")
        self.regroup()

    def _scan_failed(self, exc: BaseException) -> None:
        self.error = f"Cannot look for duplicates: {describe_error(exc)}"

    def _scan_ended(self) -> None:
        self.job = None  # the controller deletes it
        self.status_widget.ended()
        self.rescan_button.setEnabled(True)
        if self.scan is None:
            self._render()
        self.scan_finished.emit()

    # -- regrouping ----------------------------------------------------------------------------------

    def _slider_moved(self, value: int, regroup: bool = True) -> None:
        self.slider_value.setText(f"{value / 100:.2f}")
        if regroup:
            self.controller.settings.setValue("duplicates/min_similarity", value / 100)
            if self.scan is not None:
                self._regroup_timer.start()

    def _keep_rule_changed(self, _index: int) -> None:
        rule = self.keep_rule
        self.controller.writes.run(self.library.set_duplicate_keep_rule, list(rule),
                                   on_error=self.controller._report_error)
        if self.scan is not None:
            self.regroup()

    def regroup(self) -> None:
        """Group the scan's pairs again at the slider's threshold, on a worker (no new comparison)."""
        if self.scan is None:
            return
        self._regroup_timer.stop()
        self._generation += 1
        generation, scan, threshold, rule = self._generation, self.scan, self.threshold, self.keep_rule
        self.controller.reads.run(
            self.library.duplicate_groups, scan, threshold, rule,
            on_result=lambda groups: self._grouped(generation, groups),
            on_error=lambda exc: self._regroup_failed(generation, exc))

    def _grouped(self, generation: int, groups: list) -> None:
        if generation != self._generation:
            return  # the slider moved on meanwhile
        result = []
        for group in groups:
            chosen = [m.path for m in group.members if m.path in self.chosen_keep]
            if chosen:
                path = max(chosen, key=self.chosen_keep.__getitem__)
                if path != group.keep:
                    group = group.with_keep(path)
            result.append(group)
        self.groups = result
        self.shown = PAGE_GROUPS
        self._render()
        self.groups_shown.emit()

    def _regroup_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self.error = f"Cannot group the copies: {describe_error(exc)}"
            self._render()
            self.groups_shown.emit()

    # -- the user's choices ----------------------------------------------------------------------------

    def choose_keep(self, group, path: str) -> None:
        for m in group.members:
            self.chosen_keep.pop(m.path, None)
        self.chosen_keep[path] = len(self.chosen_keep) + int(time.monotonic() * 1000)
        self.unticked.discard(path)
        self.ticked_in.discard(path)
        new = group.with_keep(path)
        self.groups = [new if g.key == group.key else g for g in self.groups]
        for k, card in enumerate(self.cards):
            if card.group.key == group.key:
                self._replace_card(k, new)
                break
        self._update_summary()

    def set_ticked(self, path: str, ticked: bool) -> None:
        if ticked:
            self.unticked.discard(path)
            self.ticked_in.add(path)
        else:
            self.unticked.add(path)
            self.ticked_in.discard(path)
        self._update_summary()

    def dismiss(self, group) -> None:
        """"Not duplicates": stored for good; the group disappears now and on every later scan."""
        paths = [m.path for m in self.visible_members(group)]
        self.groups = [g for g in self.groups if g.key != group.key]
        self._render()
        scan = self.scan

        def work():
            self.library.dismiss_duplicates(paths)
            if scan is not None:  # the scan's cannot-links, so a regroup keeps them apart too
                scan.dismissed = dismissed_pairs(self.library.store)

        self.controller.writes.run(work, on_result=lambda _: self.regroup(),
                                   on_error=self.controller._report_error)

    # -- the Trash ------------------------------------------------------------------------------------

    def move_to_trash(self) -> None:
        if not self.support.can_trash or self._busy_moving:
            return
        plan = self.plan()
        if not plan.files:
            return
        groups = len({item.group_key for item in plan.items})
        if not confirm_move(self, plan, groups):
            return
        self._busy_moving = True
        self._update_summary()
        self.controller.writes.run(self.library.trash_duplicates, plan, on_result=self._moved,
                                   on_error=self._trash_failed)

    def _moved(self, report) -> None:
        self._busy_moving = False
        self.last_report = report
        moved = [original for original, _ in report.moved]
        self.gone.update(moved)
        if moved:
            self.controller.invalidate_search()
            self.controller.photos_removed.emit(moved)
        self.report_label.setText(report_text(report))
        self.report_label.setVisible(True)
        self._render()
        self.check_trash()
        self.moved.emit(report)

    def _trash_failed(self, exc: BaseException) -> None:
        self._busy_moving = False
        self._update_summary()
        message = str(exc) if isinstance(exc, core_trash.TrashError) else describe_error(exc)
        self.report_label.setText(f"Nothing was moved: {message}")
        self.report_label.setVisible(True)

    def undo(self) -> None:
        """Edit > Undo: put back the files of the last move (``Library.undo_trash``)."""
        if not self.support.can_restore:
            self.controller.notice.emit(self.support.message)
            return
        self.undo_action.setEnabled(False)
        self.controller.writes.run(self.library.undo_trash, on_result=self._undone,
                                   on_error=self._trash_failed)

    def _undone(self, report) -> None:
        restored = report.restored
        self.gone.difference_update(restored)
        if restored:
            self.controller.invalidate_search()
            self.controller.photos_changed.emit()
        if report.batch is None:
            text = "Nothing to undo: no files from this library are in the Trash."
        else:
            text = f"Put back {len(restored):,} file{'s' if len(restored) != 1 else ''} from the Trash."
            for path, why in report.refused[:20]:
                text += f"\n• not restored {path}: {why}"
        self.report_label.setText(text)
        self.report_label.setVisible(True)
        self._status_message(text.splitlines()[0])
        self._render()
        self.check_trash()
        self.undone.emit(report)

    def check_trash(self) -> None:
        """Settle moves a crash interrupted, and see whether there is a move to undo (a write)."""
        def work():
            settled = self.library.reconcile_trash().settled
            latest = next((b for b in self.library.trash_batches() if b.trashed), None)
            return settled, latest

        def done(result) -> None:
            settled, latest = result
            for path, what in settled:
                self.controller.notice.emit(f"An interrupted move to the Trash was settled: {path}: {what}")
            self._undo_batch = latest
            can = latest is not None and self.support.can_restore
            self.undo_action.setEnabled(can)
            self.undo_action.setText(
                f"&Undo Move to Trash ({latest.trashed:,} file{'s' if latest.trashed != 1 else ''})"
                if can else "&Undo Move to Trash")

        self.controller.writes.run(work, on_result=done, on_error=self.controller._report_error)

    # -- widgets ----------------------------------------------------------------------------------------

    def _clear_cards(self) -> None:
        for card in self.cards:
            self.group_layout.removeWidget(card)
            card.hide()
            card.deleteLater()
        self.cards = []

    def _make_card(self, number: int, group) -> GroupCard:
        card = GroupCard(number, group, self.visible_members(group), self.ticked(group), self.container)
        card.keep_chosen.connect(self.choose_keep)
        card.tick_changed.connect(self.set_ticked)
        card.dismiss_requested.connect(self.dismiss)
        card.show_thumbnails(self.controller.thumbnails)
        return card

    def _replace_card(self, k: int, group) -> None:
        old = self.cards[k]
        position = self.group_layout.indexOf(old)
        new = self._make_card(k + 1, group)
        self.group_layout.insertWidget(position, new)
        self.group_layout.removeWidget(old)
        old.hide()
        old.deleteLater()
        self.cards[k] = new

    def _render(self) -> None:
        self._clear_cards()
        groups = self.visible_groups()
        for number, group in enumerate(groups[: self.shown], 1):
            card = self._make_card(number, group)
            self.group_layout.insertWidget(len(self.cards), card)
            self.cards.append(card)
        rest = len(groups) - len(self.cards)
        self.more_button.setText(f"Show {min(rest, PAGE_GROUPS):,} more groups ({rest:,} not shown)")
        self.more_button.setVisible(rest > 0)
        self.group_layout.removeWidget(self.placeholder)
        self.group_layout.insertWidget(len(self.cards), self.placeholder)
        self.group_layout.removeWidget(self.more_button)
        self.group_layout.insertWidget(len(self.cards) + 1, self.more_button)
        if self.error:
            self.placeholder.setText(self.error)
        elif self.scanning and self.scan is None:
            self.placeholder.setText("Looking for copies of the same photo… (progress in the status bar)")
        elif self.scan is None:
            self.placeholder.setText("Find Duplicates looks for byte-identical and edited copies of "
                                     "your photos.")
        elif not groups:
            self.placeholder.setText(
                ("No copies found." if self.threshold <= self.slider.minimum() / 100 else
                 f"No copies at similarity {self.threshold:.2f}: move the slider left to see every "
                 "verified copy."))
        else:
            self.placeholder.setText("")
        self.placeholder.setVisible(bool(self.placeholder.text()))
        self._update_summary()

    def _show_more(self) -> None:
        self.shown += PAGE_GROUPS
        self._render()

    def _update_summary(self) -> None:
        groups = self.visible_groups()
        if self.scan is None:
            self.summary.setText("")
        else:
            photos = sum(len(self.visible_members(g)) for g in groups)
            self.summary.setText(
                f"{len(groups):,} group{'s' if len(groups) != 1 else ''} of copies ({photos:,} photos) "
                f"among {len(self.scan.photos):,} photos · {self.scan.model}"
                + (f" · {self.scan.not_compared:,} not compared yet" if self.scan.not_compared else ""))
        plan = self.plan() if groups else None
        if plan is not None and plan.files:
            self.move_button.setText(plan.summary())
        else:
            self.move_button.setText("Move to Trash")
        can = self.support.can_trash and plan is not None and plan.files > 0 and not self._busy_moving
        self.move_button.setEnabled(can)
        self.move_button.setToolTip(self.support.message if not self.support.can_trash else
                                    "Move the ticked copies to the desktop Trash (asks first)")

    def _thumbnails_loaded(self, hashes: list) -> None:
        if not self.cards or not self.isVisible():
            return
        wanted = set(hashes)
        for card in self.cards:
            card.show_thumbnails(self.controller.thumbnails, only=wanted)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        for card in self.cards:  # thumbnails that arrived while the page was hidden
            card.show_thumbnails(self.controller.thumbnails)

    def _status_message(self, text: str) -> None:
        window = self.window()
        if hasattr(window, "statusBar"):
            window.statusBar().showMessage(text, 8000)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.closed.emit()
            event.accept()
            return
        super().keyPressEvent(event)
