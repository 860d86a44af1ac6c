"""The duplicates page: groups of copies side by side, what to keep, the extras to the Trash, Undo.

A thin layer over ``Library``: the scan runs as a job on its own thread (``dup_jobs``), the
threshold slider regroups the scan's pairs on a read worker (``Library.duplicate_groups``: no new
comparison), and the moves, the undo and "Not duplicates" go through the app's one-at-a-time
write worker. The GUI thread only builds the plan (``Library.plan_trash``, cheap) and the widgets.

What the user chose survives a regroup: ticks (by path) and the copy kept per group (by path: a
kept copy stays kept when the threshold changes the group around it). It is also stored in the
library (``Library.record_duplicate_decision``, per group key), so it survives a restart and a
rescan until the files change.

Keys (``KEYS``; F1 or ? lists them): the current group and copy are highlighted; acting on a group
never moves the view (the next group takes its place), and the keyboard focus stays on the page.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QMenu,
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

from simdesk.core.duplicates import decisions as core_decisions
from simdesk.core.duplicates import grouping as core_duplicates
from simdesk.core.duplicates.dismissed import dismissed_pairs
from simdesk.core.duplicates import freedesktop_trash as core_trash
from simdesk.ui.controller import AppController, describe_error
from simdesk.ui.dup_cards import GroupCard
from simdesk.ui.dup_compare import CompareDialog
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


# Every key of the page: (name, key sequences, what it does). The help overlay lists them.
KEYS = (
    ("next_group", ("N", "Down"), "Next group"),
    ("previous_group", ("P", "Up"), "Previous group"),
    ("next_member", ("Right",), "Next copy in the group"),
    ("previous_member", ("Left",), "Previous copy in the group"),
    ("compare", ("Space", "Return", "Enter"), "Compare this copy with the kept one (full size)"),
    ("keep", ("K",), "Keep this copy (the others of the group are proposed for the Trash)"),
    ("tick", ("X",), "Tick or untick this copy for the Trash"),
    ("trash_rest", ("T",), "Keep this copy and move the rest of the group to the Trash (asks first)"),
    ("dismiss", ("D",), "Not duplicates: never group these photos again"),
    ("skip", ("S",), "Skip: on to the next group, deciding nothing"),
    ("help", ("F1", "?"), "Show or hide these keys"),
)
OTHER_KEYS = (("Ctrl+Z", "Undo the last move to the Trash"), ("Esc", "Back to all photos"))

SORTS = (
    ("bytes", "bytes to free"),
    ("similarity", "similarity (least alike first)"),
    ("folder", "folder"),
    ("date", "date (newest first)"),
    ("kind", "kind"),
)
KIND_FILTERS = (("", "all kinds"), ("identical", "identical files"), ("copy", "edited copies"),
                ("similar_shot", "similar shots"))


def _group_sort_key(order: str):
    def freeable(g):
        return -sum(m.size for m in g.members if m.path != g.keep and not m.reference)

    return {
        "bytes": lambda g: (freeable(g), g.keep),
        "similarity": lambda g: (g.similarity, g.keep),
        "folder": lambda g: (g.kept.folder, g.keep),
        "date": lambda g: (-g.kept.date, g.keep),
        "kind": lambda g: (core_duplicates.KINDS.index(g.kind), freeable(g), g.keep),
    }[order]


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


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
        self.ticks: dict[str, bool] = {}  # path -> ticked, where the user changed the proposal
        self.chosen_keep: dict[str, float] = {}  # path -> when chosen (the latest wins)
        self.order: list[str] = []  # group keys in the order shown (stable while the user acts)
        self.current_key: str | None = None  # the group the keys act on
        self.current_member = 0  # ... and its copy (an index into its visible members)
        self.quality: dict[bytes, object] = {}  # content hash -> ShotQuality (similar shots)
        self.compare_dialog: CompareDialog | None = None
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
        self.move_button.clicked.connect(lambda: self.move_to_trash())
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Similarity threshold", self))
        controls.addWidget(self.slider)
        controls.addWidget(self.slider_value)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Keep", self))
        controls.addWidget(self.keep_combo)
        controls.addStretch(1)
        controls.addWidget(self.move_button)

        self.sort_combo = QComboBox(self)
        for key, label in SORTS:
            self.sort_combo.addItem(label, key)
        saved_sort = settings_value(controller.settings, "duplicates/sort", "bytes", str)
        self.sort_combo.setCurrentIndex(max(0, [k for k, _ in SORTS].index(saved_sort)
                                            if saved_sort in dict(SORTS) else 0))
        self.sort_combo.currentIndexChanged.connect(self._view_changed)
        self.kind_combo = QComboBox(self)
        for key, label in KIND_FILTERS:
            self.kind_combo.addItem(label, key)
        self.kind_combo.currentIndexChanged.connect(self._view_changed)
        self.folder_combo = QComboBox(self)
        self.folder_combo.addItem("all folders", "")
        self.folder_combo.setMinimumContentsLength(18)
        self.folder_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.folder_combo.currentIndexChanged.connect(self._view_changed)
        self.select_button = QToolButton(self)
        self.select_button.setText("Select")
        self.select_button.setToolTip("Tick or keep copies in every group shown at once")
        self.select_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.select_menu = QMenu(self)
        self.select_menu.aboutToShow.connect(self._fill_select_menu)
        self.select_button.setMenu(self.select_menu)
        self.reference_button = QToolButton(self)
        self.reference_button.setText("Reference folders")
        self.reference_button.setToolTip("Folders whose photos are never moved to the Trash")
        self.reference_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.reference_menu = QMenu(self)
        self.reference_menu.aboutToShow.connect(self._fill_reference_menu)
        self.reference_button.setMenu(self.reference_menu)
        self.help_button = QToolButton(self)
        self.help_button.setText("Keys (F1)")
        self.help_button.clicked.connect(self.toggle_help)
        for widget in (self.select_button, self.reference_button, self.help_button):
            widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        view_row = QHBoxLayout()
        view_row.addWidget(QLabel("Sort by", self))
        view_row.addWidget(self.sort_combo)
        view_row.addSpacing(12)
        view_row.addWidget(QLabel("Show", self))
        view_row.addWidget(self.kind_combo)
        view_row.addWidget(QLabel("in", self))
        view_row.addWidget(self.folder_combo)
        view_row.addSpacing(12)
        view_row.addWidget(self.select_button)
        view_row.addWidget(self.reference_button)
        view_row.addStretch(1)
        view_row.addWidget(self.help_button)

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
        self.scroll.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFocusProxy(self.scroll)
        self.cards: list[GroupCard] = []
        self.section_label = QLabel(self.container)  # heads the similar shots
        self.section_label.setTextFormat(Qt.TextFormat.PlainText)
        self.section_label.setWordWrap(True)
        font = self.section_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.section_label.setFont(font)
        self.section_label.setVisible(False)

        self.help_overlay = QLabel(self)
        self.help_overlay.setTextFormat(Qt.TextFormat.RichText)
        self.help_overlay.setStyleSheet("background: rgba(30, 30, 30, 235); color: white; padding: 18px; "
                                        "border-radius: 8px;")
        self.help_overlay.setText(self._help_html())
        self.help_overlay.setVisible(False)
        self.key_actions: dict[str, QAction] = {}
        for name, keys, text in KEYS:
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(getattr(self, f"key_{name}"))
            self.addAction(action)
            self.key_actions[name] = action

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(controls)
        layout.addLayout(view_row)
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

    def live_groups(self) -> list:
        """Every group that still has two copies, in the order shown, whatever the filters."""
        by_key = {g.key: g for g in self.groups}
        ordered = [by_key[k] for k in self.order if k in by_key]
        return [g for g in ordered if len(self.visible_members(g)) >= 2]

    def visible_groups(self) -> list:
        """The groups shown: live, passing the kind and folder filters, in the order shown."""
        kind, folder = self.kind_combo.currentData(), self.folder_combo.currentData()
        return [g for g in self.live_groups()
                if (not kind or g.kind == kind)
                and (not folder or any(_under(m.path, folder) for m in self.visible_members(g)))]

    def group(self, key: str):
        return next((g for g in self.groups if g.key == key), None)

    def ticked(self, group) -> set[str]:
        return core_decisions.ticked_paths(group, None, self.ticks) - self.gone

    def plan(self, groups=None):
        """The move the button would make now (``Library.plan_trash`` of the ticked copies)."""
        groups = self.visible_groups() if groups is None else groups
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

    def regroup(self, refresh: bool = False) -> None:
        """Group the scan's pairs again at the slider's threshold, on a worker (no new comparison),
        with the decisions stored for the groups. ``refresh``: after a change of the user's (a
        dismissal, a reference folder): the groups keep their order and the view its place."""
        if self.scan is None:
            return
        self._regroup_timer.stop()
        self._generation += 1
        generation, scan, threshold, rule = self._generation, self.scan, self.threshold, self.keep_rule
        library = self.library

        def work():
            groups = library.duplicate_groups(scan, threshold, rule)
            return groups, library.duplicate_decisions(groups)

        self.controller.reads.run(
            work, on_result=lambda result: self._grouped(generation, *result, refresh=refresh),
            on_error=lambda exc: self._regroup_failed(generation, exc))

    def _grouped(self, generation: int, groups: list, decisions: dict, refresh: bool = False) -> None:
        if generation != self._generation:
            return  # the slider moved on meanwhile
        for decision in decisions.values():  # stored choices; this session's own come first
            for path, on in decision.ticks.items():
                self.ticks.setdefault(path, on)
            if decision.keep and decision.keep not in self.chosen_keep:
                self.chosen_keep[decision.keep] = decision.keep_at
        result = []
        for group in groups:
            chosen = [m.path for m in group.members if m.path in self.chosen_keep]
            if chosen:
                path = max(chosen, key=self.chosen_keep.__getitem__)
                if path != group.keep:
                    group = group.with_keep(path)
            result.append(group)
        self.groups = result
        self._resort(keep_order=refresh)
        self._fill_folder_combo()
        if not refresh:
            self.shown = PAGE_GROUPS
        self._render(preserve_view=refresh)
        self._measure_shots()
        self.groups_shown.emit()

    def _resort(self, keep_order: bool = False) -> None:
        """The order shown: groups of copies, then similar shots, each by the chosen sort.
        ``keep_order``: groups already listed keep their place, new ones come after them."""
        key = _group_sort_key(self.sort_combo.currentData())
        copies = sorted((g for g in self.groups if g.kind != "similar_shot"), key=key)
        shots = sorted((g for g in self.groups if g.kind == "similar_shot"), key=key)
        fresh = [g.key for g in copies + shots]
        if keep_order:
            known = set(fresh)
            kept = [k for k in self.order if k in known]
            listed = set(kept)
            fresh = kept + [k for k in fresh if k not in listed]
        self.order = fresh

    def _view_changed(self, _index: int = 0) -> None:
        """Sort or filter changed: the list is laid out again from the top."""
        self.controller.settings.setValue("duplicates/sort", self.sort_combo.currentData())
        self._resort()
        self.shown = PAGE_GROUPS
        self._render()
        self.scroll.verticalScrollBar().setValue(0)
        self._refocus()

    def _fill_folder_combo(self) -> None:
        current = self.folder_combo.currentData()
        folders = sorted({m.folder for g in self.groups for m in g.members})
        self.folder_combo.blockSignals(True)
        self.folder_combo.clear()
        self.folder_combo.addItem("all folders", "")
        for folder in folders:
            self.folder_combo.addItem(folder, folder)
            self.folder_combo.setItemData(self.folder_combo.count() - 1, folder, Qt.ItemDataRole.ToolTipRole)
        index = self.folder_combo.findData(current) if current else 0
        self.folder_combo.setCurrentIndex(max(index, 0))
        self.folder_combo.blockSignals(False)

    def _measure_shots(self) -> None:
        """The sharpness and exposure hints of the similar shots, from their stored thumbnails."""
        from simdesk.core.duplicates.quality import measure_all

        wanted = sorted({m.content_hash for g in self.groups if g.kind == "similar_shot"
                         for m in g.members} - set(self.quality))
        if not wanted:
            return
        library = self.library

        def done(found: dict) -> None:
            self.quality.update(found)
            for card in self.cards:
                if card.group.kind == "similar_shot":
                    self._show_hints(card)

        self.controller.reads.run(lambda: measure_all(library.thumbnails(wanted)), on_result=done,
                                  on_error=self.controller._report_error)

    def _show_hints(self, card: GroupCard) -> None:
        known = {c.member.content_hash: self.quality.get(c.member.content_hash) for c in card.cards}
        values = [q.sharpness for q in known.values() if q is not None]
        best = max(values) if values else None
        for c in card.cards:
            q = known.get(c.member.content_hash)
            if q is None:
                continue
            top = best is not None and len(values) > 1 and q.sharpness == best
            c.show_hint(f"{'sharpest · ' if top else ''}sharpness {q.sharpness:,.0f} · {q.exposure}",
                        "Measured on the stored thumbnail (256 px): the variance of its Laplacian (higher "
                        "is sharper; compare shots of one scene only), the mean brightness "
                        f"{q.brightness:.0f}/255, {100 * q.dark:.0f}% black and {100 * q.light:.0f}% "
                        "white pixels")

    def _regroup_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self.error = f"Cannot group the copies: {describe_error(exc)}"
            self._render()
            self.groups_shown.emit()

    # -- the user's choices ----------------------------------------------------------------------------

    def _store_decision(self, group, keep: str | None = None, ticks: dict | None = None) -> None:
        self.controller.writes.run(self.library.record_duplicate_decision, group, keep=keep, ticks=ticks,
                                   on_error=self.controller._report_error)

    def choose_keep(self, group, path: str, store: bool = True) -> None:
        group = self.group(group.key) or group
        for m in group.members:
            self.chosen_keep.pop(m.path, None)
        self.chosen_keep[path] = time.time()
        self.ticks.pop(path, None)
        new = group.with_keep(path) if path != group.keep else group
        self.groups = [new if g.key == group.key else g for g in self.groups]
        for k, card in enumerate(self.cards):
            if card.group.key == group.key:
                self._replace_card(k, new)
                break
        if store:
            self._store_decision(new, keep=path)
        self._update_summary()
        self._update_compare(new)

    def set_ticked(self, group, path: str, ticked: bool, store: bool = True) -> None:
        group = self.group(group.key) or group
        if path == group.keep:
            return
        self.ticks[path] = ticked
        card = self.card(group.key)
        if card is not None:
            box = card.card(path)
            if box is not None and box.tick.isChecked() != ticked and box.tick.isEnabled():
                box.tick.blockSignals(True)
                box.tick.setChecked(ticked)
                box.tick.blockSignals(False)
            card.update_figures(self.ticked(group))
        if store:
            self._store_decision(group, ticks={path: ticked})
        self._update_summary()
        self._update_compare(group)

    def set_ticks(self, changes: dict) -> None:
        """Ticks in several groups at once (the presets): ``{group key: {path: ticked}}``."""
        for key, ticks in changes.items():
            self.ticks.update(ticks)
        groups = {g.key: g for g in self.groups}
        work = [(groups[k], t) for k, t in changes.items() if k in groups and t]

        def store():
            for group, ticks in work:
                self.library.record_duplicate_decision(group, ticks=ticks)

        self.controller.writes.run(store, on_error=self.controller._report_error)
        for card in self.cards:
            if card.group.key in changes:
                for box in card.cards:
                    if box.tick.isEnabled():
                        box.tick.blockSignals(True)
                        box.tick.setChecked(box.member.path in self.ticked(card.group))
                        box.tick.blockSignals(False)
                card.update_figures(self.ticked(card.group))
        self._update_summary()

    def dismiss(self, group) -> None:
        """"Not duplicates": stored for good; the group disappears now and on every later scan;
        the next group takes its place on the screen."""
        paths = [m.path for m in self.visible_members(group)]
        self._leave_group(group.key)
        self.groups = [g for g in self.groups if g.key != group.key]
        self._render(preserve_view=True)
        scan = self.scan

        def work():
            self.library.dismiss_duplicates(paths)
            if scan is not None:  # the scan's cannot-links, so a regroup keeps them apart too
                scan.dismissed = dismissed_pairs(self.library.store)

        self.controller.writes.run(work, on_result=lambda _: self.regroup(refresh=True),
                                   on_error=self.controller._report_error)
        self._refocus()

    # -- the Trash ------------------------------------------------------------------------------------

    def move_to_trash(self, groups=None) -> None:
        """Move the ticked copies (of ``groups``, else of every group shown), after asking."""
        if not self.support.can_trash or self._busy_moving:
            return
        plan = self.plan(groups)
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
        current = self.group(self.current_key) if self.current_key else None
        if current is not None and len(self.visible_members(current)) < 2:
            self._leave_group(current.key)
        if moved:
            self.controller.invalidate_search()
            self.controller.photos_removed.emit(moved)
        self.report_label.setText(report_text(report))
        self.report_label.setVisible(True)
        self._render(preserve_view=True)
        self.check_trash()
        self.moved.emit(report)
        self._refocus()

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
        self._render(preserve_view=True)
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
        card.compare_requested.connect(self._compare_clicked)
        card.menu_requested.connect(self.member_menu)
        card.show_thumbnails(self.controller.thumbnails)
        if group.kind == "similar_shot":
            self._show_hints(card)
        if group.key == self.current_key:
            card.set_current(True, self.current_member)
        return card

    def card(self, key: str) -> GroupCard | None:
        return next((c for c in self.cards if c.group.key == key), None)

    def _replace_card(self, k: int, group) -> None:
        old = self.cards[k]
        position = self.group_layout.indexOf(old)
        new = self._make_card(k + 1, group)
        self.group_layout.insertWidget(position, new)
        new.setVisible(self.container.isVisible())
        self.group_layout.removeWidget(old)
        old.hide()
        old.deleteLater()
        self.cards[k] = new

    def _render(self, preserve_view: bool = False) -> None:
        """Build the cards of the groups shown. ``preserve_view``: the first group on the screen
        (or, if it went, the one after it) stays where it was."""
        anchor = self._anchor() if preserve_view else None
        self._clear_cards()
        groups = self.visible_groups()
        self.group_layout.removeWidget(self.section_label)
        self.section_label.setVisible(False)
        for number, group in enumerate(groups[: self.shown], 1):
            if group.kind == "similar_shot" and self.section_label.isHidden():
                shots = sum(1 for g in groups if g.kind == "similar_shot")
                self.section_label.setText(
                    f"Similar shots · {shots:,} group{'s' if shots != 1 else ''}: different exposures of "
                    "one scene, nothing is ticked — pick the best of each burst (K), tick the others (X) "
                    "if you want them gone")
                self.group_layout.insertWidget(len(self.cards), self.section_label)
                self.section_label.setVisible(True)
            card = self._make_card(number, group)
            self.group_layout.insertWidget(len(self.cards) + int(not self.section_label.isHidden()), card)
            card.setVisible(self.container.isVisible())  # now, not on a posted event: laid out at once
            self.cards.append(card)
        if self.current_key is not None and self.card(self.current_key) is None:
            self.current_key = None
        rest = len(groups) - len(self.cards)
        self.more_button.setText(f"Show {min(rest, PAGE_GROUPS):,} more groups ({rest:,} not shown)")
        self.more_button.setVisible(rest > 0)
        end = len(self.cards) + int(not self.section_label.isHidden())
        self.group_layout.removeWidget(self.placeholder)
        self.group_layout.insertWidget(end, self.placeholder)
        self.group_layout.removeWidget(self.more_button)
        self.group_layout.insertWidget(end + 1, self.more_button)
        if self.error:
            self.placeholder.setText(self.error)
        elif self.scanning and self.scan is None:
            self.placeholder.setText("Looking for copies of the same photo… (progress in the status bar)")
        elif self.scan is None:
            self.placeholder.setText("Find Duplicates looks for byte-identical and edited copies of "
                                     "your photos.")
        elif not groups and self.live_groups():
            self.placeholder.setText("No group matches the filters (Show … in …).")
        elif not groups:
            self.placeholder.setText(
                ("No copies found." if self.threshold <= self.slider.minimum() / 100 else
                 f"No copies at similarity {self.threshold:.2f}: move the slider left to see every "
                 "verified copy."))
        else:
            self.placeholder.setText("")
        self.placeholder.setVisible(bool(self.placeholder.text()))
        self._update_summary()
        if anchor is not None:
            self._restore_anchor(anchor)

    def _anchor(self):
        """The first group on the screen, and the groups after it, with its offset from the top."""
        top = self.scroll.verticalScrollBar().value()
        for k, card in enumerate(self.cards):
            if card.geometry().bottom() >= top:
                return [c.group.key for c in self.cards[k:]], card.geometry().top() - top
        return None

    def _settle_layout(self) -> None:
        """Lay the new cards out now (the scroll area resizes its widget on a posted event)."""
        QApplication.sendPostedEvents(self.container, QEvent.Type.LayoutRequest)
        self.group_layout.activate()
        QApplication.sendPostedEvents(self.container, QEvent.Type.LayoutRequest)

    def _restore_anchor(self, anchor) -> None:
        keys, offset = anchor
        cards = {c.group.key: c for c in self.cards}
        target = next((cards[k] for k in keys if k in cards), None)
        if target is None:
            return
        self._settle_layout()
        self.scroll.verticalScrollBar().setValue(target.geometry().top() - offset)

    def _show_more(self) -> None:
        self.shown += PAGE_GROUPS
        self._render(preserve_view=True)

    def _update_summary(self) -> None:
        groups = self.visible_groups()
        if self.scan is None:
            self.summary.setText("")
        else:
            live = self.live_groups()
            copies = [g for g in live if g.kind != "similar_shot"]
            shots = len(live) - len(copies)
            photos = sum(len(self.visible_members(g)) for g in copies)
            library_photos = len(self.scan.photos) - len(self.gone)
            plan = self.plan(live) if live else None
            freed = f" · {format_bytes(plan.bytes)} to free" if plan is not None and plan.files else ""
            shown = (f" · showing {len(groups):,}" if len(groups) != len(live) else "")
            self.summary.setText(
                f"{len(copies):,} group{'s' if len(copies) != 1 else ''} of copies ({photos:,} photos)"
                + (f", {shots:,} of similar shots" if shots else "")
                + f" among {library_photos:,} photos{freed}{shown} · {self.scan.model}"
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
            if self.help_overlay.isVisible():
                self.help_overlay.hide()
            else:
                self.closed.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    # -- the keyboard flow ---------------------------------------------------------------------------

    def _refocus(self) -> None:
        """Keep the keyboard on the page after an action (a rebuilt card took its focus along)."""
        if not self.isVisible():
            return
        focus = QApplication.focusWidget()
        if focus is None or not self.isAncestorOf(focus) or not focus.isVisible():
            self.scroll.setFocus(Qt.FocusReason.OtherFocusReason)

    def current_group(self):
        """The group the keys act on (the first shown until the user moves)."""
        if self.current_key is None and self.cards:
            self._set_current(self.cards[0].group.key, 0, scroll=False)
        card = self.card(self.current_key) if self.current_key else None
        return card.group if card is not None else None

    def current_path(self) -> str | None:
        group = self.current_group()
        if group is None:
            return None
        members = self.visible_members(group)
        return members[min(self.current_member, len(members) - 1)].path

    def _set_current(self, key: str | None, member: int = 0, scroll: bool = True) -> None:
        old = self.card(self.current_key) if self.current_key else None
        if old is not None:
            old.set_current(False)
        self.current_key, self.current_member = key, member
        card = self.card(key) if key else None
        if card is not None:
            card.set_current(True, member)
            if scroll:
                self._settle_layout()
                self.scroll.ensureWidgetVisible(card.cards[member] if member < len(card.cards) else card, 20, 20)

    def _leave_group(self, key: str) -> None:
        """``key`` is going away: the group after it (else before it) becomes the current one."""
        if key != self.current_key:
            return
        keys = [c.group.key for c in self.cards]
        if key not in keys:
            self.current_key = None
            return
        k = keys.index(key)
        rest = keys[k + 1:] or keys[:k][-1:]
        self.current_key, self.current_member = (rest[0] if rest else None), 0

    def _step_group(self, delta: int) -> None:
        if self.current_group() is None:
            return
        keys = [c.group.key for c in self.cards]
        k = keys.index(self.current_key) + delta
        if k >= len(keys) and len(keys) < len(self.visible_groups()):
            self._show_more()
            keys = [c.group.key for c in self.cards]
        if 0 <= k < len(keys):
            self._set_current(keys[k], 0)

    def key_next_group(self) -> None:
        self._step_group(1)

    def key_previous_group(self) -> None:
        self._step_group(-1)

    def key_skip(self) -> None:
        self._step_group(1)

    def _step_member(self, delta: int) -> None:
        group = self.current_group()
        if group is None:
            return
        n = len(self.visible_members(group))
        self._set_current(self.current_key, (self.current_member + delta) % n)

    def key_next_member(self) -> None:
        self._step_member(1)

    def key_previous_member(self) -> None:
        self._step_member(-1)

    def key_keep(self) -> None:
        group, path = self.current_group(), self.current_path()
        if group is not None and path != group.keep:
            self.choose_keep(group, path)
            members = [m.path for m in self.visible_members(self.group(group.key))]
            self._set_current(group.key, members.index(path), scroll=False)  # the same photo
        self._refocus()

    def key_tick(self) -> None:
        group, path = self.current_group(), self.current_path()
        if group is None:
            return
        member = next(m for m in group.members if m.path == path)
        if path != group.keep and not member.reference:
            self.set_ticked(group, path, path not in self.ticked(group))
        self._refocus()

    def key_trash_rest(self) -> None:
        """Keep the current copy, tick every other one, and move them (this group only)."""
        group, path = self.current_group(), self.current_path()
        if group is None:
            return
        if path != group.keep:
            self.choose_keep(group, path)
            group = self.group(group.key)
        others = {m.path: True for m in self.visible_members(group) if m.path != group.keep and not m.reference}
        if others:
            self.set_ticks({group.key: others})
        self.move_to_trash([group])
        self._refocus()

    def key_dismiss(self) -> None:
        group = self.current_group()
        if group is not None:
            self.dismiss(group)

    def key_compare(self) -> None:
        group, path = self.current_group(), self.current_path()
        if group is not None:
            self.compare(group, path)

    def key_help(self) -> None:
        self.toggle_help()

    def _help_html(self) -> str:
        rows = "".join(f"<tr><td style='padding-right:18px'><b>{' / '.join(keys)}</b></td><td>{text}</td></tr>"
                       for _, keys, text in KEYS)
        rows += "".join(f"<tr><td><b>{k}</b></td><td>{t}</td></tr>" for k, t in OTHER_KEYS)
        return (f"<h3>Keys of the duplicates page</h3><table>{rows}</table>"
                "<p>In the compare view: ←/→ the other copies, S side by side, F flip, D difference, "
                "+/− zoom, 0 fit, 1 actual pixels, K keep, Esc close.</p><p>F1, ? or Esc hides this.</p>")

    def toggle_help(self) -> None:
        if self.help_overlay.isVisible():
            self.help_overlay.hide()
        else:
            self.help_overlay.adjustSize()
            self._place_help()
            self.help_overlay.show()
            self.help_overlay.raise_()
        self._refocus()

    def _place_help(self) -> None:
        size = self.help_overlay.sizeHint()
        self.help_overlay.setGeometry(max(0, (self.width() - size.width()) // 2),
                                      max(0, (self.height() - size.height()) // 2), size.width(), size.height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.help_overlay.isVisible():
            self._place_help()

    # -- compare ---------------------------------------------------------------------------------------

    def _compare_clicked(self, group, path: str) -> None:
        members = [m.path for m in self.visible_members(group)]
        if path in members:
            self._set_current(group.key, members.index(path), scroll=False)
        self.compare(group, path)

    def compare(self, group, path: str | None = None) -> CompareDialog:
        """The compare view of ``group``: its kept copy beside ``path`` (or the next copy)."""
        if self.compare_dialog is None:
            self.compare_dialog = CompareDialog(self.controller, self)
            self.compare_dialog.keep_requested.connect(self._keep_from_compare)
        group = self.group(group.key) or group
        visible = self._visible_group(group)
        self.compare_dialog.compare(visible, self.ticked(group), path)
        return self.compare_dialog

    def _visible_group(self, group):
        """The group as the compare view shows it: without the copies already moved away."""
        from dataclasses import replace

        keep = [k for k, m in enumerate(group.members) if m.path not in self.gone]
        if len(keep) == len(group.members):
            return group
        return replace(group, members=tuple(group.members[k] for k in keep),
                       evidence=tuple(group.evidence[k] for k in keep) if group.evidence else ())

    def _keep_from_compare(self, key: str, path: str) -> None:
        group = self.group(key)
        if group is not None:
            self.choose_keep(group, path)

    def _update_compare(self, group) -> None:
        if self.compare_dialog is not None and self.compare_dialog.isVisible():
            self.compare_dialog.update_group(self._visible_group(group), self.ticked(group))

    # -- context menu, presets, reference folders ------------------------------------------------------

    def member_menu(self, group, path: str, pos: QPoint) -> QMenu:
        group = self.group(group.key) or group
        member = next(m for m in group.members if m.path == path)
        menu = QMenu(self)
        menu.addAction("Compare…", lambda: self._compare_clicked(group, path))
        keep = menu.addAction("Keep This Copy", lambda: self.choose_keep(group, path))
        keep.setEnabled(path != group.keep)
        ticked = path in self.ticked(group)
        tick = menu.addAction("Untick (Do Not Trash)" if ticked else "Tick for the Trash",
                              lambda: self.set_ticked(group, path, not ticked))
        tick.setEnabled(path != group.keep and not member.reference)
        menu.addSeparator()
        reference = menu.addAction("Reference Folder (Never Trash)")
        reference.setCheckable(True)
        reference.setChecked(member.reference)
        folder = member.folder
        reference.setToolTip(folder)
        reference.toggled.connect(lambda on: self.set_reference_folder(folder, on))
        menu.addAction("Not Duplicates", lambda: self.dismiss(group))
        menu.popup(pos)
        return menu

    def _folders_shown(self) -> list[str]:
        return sorted({m.folder for g in self.visible_groups() for m in self.visible_members(g)})

    def _preset_groups(self) -> list:
        """The groups a preset acts on: those shown; similar shots only when only they are shown."""
        only_shots = self.kind_combo.currentData() == "similar_shot"
        return [g for g in self.visible_groups() if only_shots or g.kind != "similar_shot"]

    def _tickable(self, group) -> list:
        return [m for m in self.visible_members(group) if m.path != group.keep and not m.reference]

    def _fill_select_menu(self) -> None:
        menu = self.select_menu
        menu.clear()
        menu.addAction("All but the Kept Copy", lambda: self.preset("all_but_kept"))
        by_folder = menu.addMenu("Everything in Folder")
        keep_folder = menu.addMenu("Keep the Copies in Folder")
        for folder in self._folders_shown():
            by_folder.addAction(folder, lambda f=folder: self.preset("folder", f))
            keep_folder.addAction(folder, lambda f=folder: self.preset("keep_folder", f))
        menu.addAction("Keep the Oldest, Tick the Rest", lambda: self.preset("oldest"))
        menu.addAction("Keep the Newest, Tick the Rest", lambda: self.preset("newest"))
        menu.addSeparator()
        menu.addAction("Invert", lambda: self.preset("invert"))
        menu.addAction("Clear", lambda: self.preset("clear"))

    def preset(self, name: str, folder: str | None = None) -> None:
        """Tick (or keep) copies in every group shown (similar shots only when only they are shown)."""
        changes: dict[str, dict[str, bool]] = {}
        for group in self._preset_groups():
            if name in ("keep_folder", "oldest", "newest"):
                members = self.visible_members(group)
                if name == "keep_folder":
                    inside = [m for m in members if _under(m.path, folder)]
                    if not inside or any(m.path == group.keep for m in inside):
                        continue
                    choice = inside[0]
                else:
                    pick = min if name == "oldest" else max
                    choice = pick(members, key=lambda m: (m.date, m.path))
                if choice.path != group.keep:
                    self.choose_keep(group, choice.path)
                    group = self.group(group.key)
                if name == "keep_folder":
                    continue
            ticked = self.ticked(group)
            tickable = self._tickable(group)
            if name in ("all_but_kept", "oldest", "newest"):
                wanted = {m.path: True for m in tickable}
            elif name == "folder":
                wanted = {m.path: True for m in tickable if _under(m.path, folder)}
            elif name == "invert":
                wanted = {m.path: m.path not in ticked for m in tickable}
            elif name == "clear":
                wanted = {m.path: False for m in tickable}
            else:
                raise ValueError(name)
            changes[group.key] = wanted
        if changes:
            self.set_ticks(changes)
        self._refocus()

    def _fill_reference_menu(self) -> None:
        menu = self.reference_menu
        menu.clear()
        current = set(self.library.reference_folders)
        for folder in sorted(current | set(self._folders_shown())):
            action = menu.addAction(folder)
            action.setCheckable(True)
            action.setChecked(folder in current)
            action.setToolTip("Never move photos from this folder to the Trash")
            action.toggled.connect(lambda on, f=folder: self.set_reference_folder(f, on))
        if menu.isEmpty():
            menu.addAction("No folder yet: scan first").setEnabled(False)

    def set_reference_folder(self, folder: str, on: bool) -> None:
        """Make ``folder`` a reference folder (its photos are never trashed), or no longer one."""
        change = self.library.add_reference_folder if on else self.library.remove_reference_folder

        def done(_):
            self._status_message(f"{folder}: {'a reference folder, never trashed' if on else 'no longer a reference folder'}")
            self.regroup(refresh=True)

        self.controller.writes.run(change, folder, on_result=done, on_error=self.controller._report_error)
