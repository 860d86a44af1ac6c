"""View > Problems: every file that could not be indexed, and why (``simdesk problems``), the
folders the scan could not read, and a Retry button."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from simdesk.ui.controller import AppController
from simdesk.ui.settings import PersistentGeometry


class ProblemsDialog(PersistentGeometry, QDialog):
    geometry_key = "problems"

    def __init__(self, controller: AppController, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Problems")
        self.summary = QLabel("Loading…", self)
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["File", "Reason", "Folder"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSortingEnabled(True)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.tree.header().resizeSection(0, 240)
        self.tree.header().resizeSection(1, 320)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        copy = QPushButton("Copy list", self)
        copy.clicked.connect(self.copy_list)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        self.retry_button = QPushButton("Retry", self)
        self.retry_button.setToolTip("Index the files that failed again (and look for new ones)")
        self.retry_button.clicked.connect(self.retry)
        buttons.addButton(self.retry_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.retry_hint = QLabel(
            "Files that failed are not tried again until they change; Retry tries them all now "
            "(a file that was being copied, a disk that was not mounted).", self)
        self.retry_hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.retry_hint)
        layout.addWidget(buttons)
        self.errors: list = []
        self.scan_problems: list = []
        self.resize(860, 480)
        self.restore_geometry(controller.settings)
        controller.index_started.connect(self._update_retry)
        controller.index_finished.connect(self._index_ended)
        controller.index_failed.connect(self._index_ended)

    def refresh(self) -> None:
        self.summary.setText("Loading…")
        self._update_retry()
        self.controller.load_errors(self._loaded)

    def retry(self) -> None:
        """Index again, failed files included (``Library.index(retry_failed=True)``)."""
        if self.controller.rescan(retry_failed=True):
            self.summary.setText("Trying the files again…")
        self._update_retry()

    def _update_retry(self) -> None:
        busy = self.controller.indexing
        self.retry_button.setEnabled(not busy)
        self.retry_button.setText("Indexing…" if busy else "Retry")

    def _index_ended(self, _outcome=None) -> None:
        self._update_retry()
        if self.isVisible():
            self.refresh()

    def _loaded(self, found) -> None:
        errors, scan_problems = found
        self.errors = list(errors)
        self.scan_problems = list(scan_problems)
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        items = []
        for problem in self.scan_problems:  # a folder or link the scan could not follow
            item = QTreeWidgetItem([os.path.basename(problem.path.rstrip(os.sep)) + os.sep,
                                    problem.reason, os.path.dirname(problem.path.rstrip(os.sep))])
            item.setToolTip(0, problem.path)
            item.setData(0, Qt.ItemDataRole.UserRole, problem.path)
            items.append(item)
        for error in self.errors:
            item = QTreeWidgetItem([os.path.basename(error.path), error.reason,
                                    os.path.dirname(error.path)])
            item.setToolTip(0, error.path)
            item.setData(0, Qt.ItemDataRole.UserRole, error.path)
            items.append(item)
        self.tree.addTopLevelItems(items)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        parts = []
        if self.errors:
            parts.append(f"{len(self.errors):,} file{'s' if len(self.errors) != 1 else ''} could "
                         "not be indexed")
        if self.scan_problems:
            n = len(self.scan_problems)
            parts.append(f"{n:,} folder{'s' if n != 1 else ''} or link{'s' if n != 1 else ''} "
                         "could not be scanned (last scan)")
        if parts:
            self.summary.setText("; ".join(parts) + ":")
        else:
            self.summary.setText("No problems: every photo found could be indexed.")
        self.retry_button.setVisible(bool(self.errors) or bool(self.scan_problems))

    def copy_list(self) -> None:
        QGuiApplication.clipboard().setText(
            "\n".join(f"{e.path}: {e.reason}" for e in [*self.scan_problems, *self.errors]))

    def done(self, result: int) -> None:
        self.save_geometry()
        super().done(result)
