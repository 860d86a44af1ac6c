"""View > Problems: every file that could not be indexed, and why (``simdesk problems``)."""

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
        self.retry_hint = QLabel(
            "Files that failed are not retried until they change; "
            "<code>simdesk index --retry-failed</code> tries them all again.", self)
        self.retry_hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.retry_hint)
        layout.addWidget(buttons)
        self.errors: list = []
        self.resize(860, 480)
        self.restore_geometry(controller.settings)

    def refresh(self) -> None:
        self.summary.setText("Loading…")
        self.controller.load_errors(self._loaded)

    def _loaded(self, errors) -> None:
        self.errors = list(errors)
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        items = []
        for error in self.errors:
            item = QTreeWidgetItem([os.path.basename(error.path), error.reason,
                                    os.path.dirname(error.path)])
            item.setToolTip(0, error.path)
            item.setData(0, Qt.ItemDataRole.UserRole, error.path)
            items.append(item)
        self.tree.addTopLevelItems(items)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        if self.errors:
            self.summary.setText(f"{len(self.errors):,} files could not be indexed:")
        else:
            self.summary.setText("No problems: every photo found could be indexed.")

    def copy_list(self) -> None:
        QGuiApplication.clipboard().setText(
            "\n".join(f"{e.path}: {e.reason}" for e in self.errors))

    def done(self, result: int) -> None:
        self.save_geometry()
        super().done(result)
