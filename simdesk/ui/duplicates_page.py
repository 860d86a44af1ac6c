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

This module is the composition: the widgets, the state, the Trash and the compare view. The rest
comes from mixins, one role each: ``dup_grouping`` (the scan, the regroups), ``dup_decisions``
(the user's choices, stored), ``dup_list`` (the cards), ``dup_summary`` (the figures),
``dup_menus`` (sort, filters, presets, menus, reference folders) and ``dup_keys`` (the keys).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
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
from simdesk.core.duplicates import freedesktop_trash as core_trash
from simdesk.ui.controller import AppController, describe_error
from simdesk.ui.dup_cards import GroupCard
from simdesk.ui.dup_compare import CompareDialog
from simdesk.ui.dup_decisions import DuplicateDecisionsMixin
from simdesk.ui.dup_grouping import DuplicateGroupingMixin
from simdesk.ui.dup_jobs import DuplicateScanJob
from simdesk.ui.dup_keys import KEYS, DuplicateKeysMixin
from simdesk.ui.dup_list import PAGE_GROUPS, DuplicateCardListMixin
from simdesk.ui.dup_menus import KIND_FILTERS, SORTS, DuplicateMenusMixin, _under
from simdesk.ui.dup_summary import DuplicateSummaryMixin, report_text
from simdesk.ui.settings import settings_value
from simdesk.ui.status import JobStatus

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


class DuplicatesPage(DuplicateGroupingMixin, DuplicateDecisionsMixin, DuplicateCardListMixin,
                     DuplicateSummaryMixin, DuplicateMenusMixin, DuplicateKeysMixin, QWidget):
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

