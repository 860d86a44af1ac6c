"""Browsing: the library folders on the left, the thumbnail grid of all photos or one folder."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QByteArray, QItemSelectionModel, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from simdesk.ui.controller import AppController
from simdesk.ui.grid import PhotoGrid
from simdesk.ui.photomodel import PhotoListing, PhotoListModel
from simdesk.ui.settings import settings_value

ORDERS = (("date", "Date"), ("name", "Name"), ("folder", "Folder"))
RELOAD_WHILE_INDEXING_S = 4.0  # the grid fills in while a long index runs


class BrowseView(QWidget):
    """``add_folder_requested`` and ``remove_folder_requested(path)`` are for the main window."""

    add_folder_requested = Signal()
    remove_folder_requested = Signal(str)
    reference_folder_toggled = Signal(str, bool)  # (folder, never trash from it)
    listing_loaded = Signal()

    def __init__(self, controller: AppController, parent=None):
        super().__init__(parent)
        self.controller = controller
        settings = controller.settings
        self.order = settings_value(settings, "view/order", "date", str)
        if self.order not in dict(ORDERS):
            self.order = "date"
        self.folder: str | None = None
        self._task = None
        self._last_reload = 0.0
        self.loaded_once = False

        self.sidebar = QListWidget(self)
        self.sidebar.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.sidebar.customContextMenuRequested.connect(self._sidebar_menu)
        self.sidebar.currentItemChanged.connect(self._folder_chosen)
        self.sidebar.setMinimumWidth(160)
        add_button = QToolButton(self)
        add_button.setText("Add folder…")
        add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        add_button.clicked.connect(self.add_folder_requested)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(QLabel("Library", side))
        side_layout.addWidget(self.sidebar, 1)
        side_layout.addWidget(add_button)

        self.count_label = QLabel(self)
        self.sort_combo = QComboBox(self)
        for key, label in ORDERS:
            self.sort_combo.addItem(label, key)
        self.sort_combo.setCurrentIndex([k for k, _ in ORDERS].index(self.order))
        self.sort_combo.currentIndexChanged.connect(
            lambda _: self.set_order(self.sort_combo.currentData()))
        top = QHBoxLayout()
        top.setContentsMargins(4, 0, 4, 0)
        top.addWidget(self.count_label, 1)
        top.addWidget(QLabel("Sort by", self))
        top.addWidget(self.sort_combo)

        self.model = PhotoListModel(controller.thumbnails, self)
        self.grid = PhotoGrid(parent=self)
        self.grid.setModel(self.model)
        self.empty_label = QLabel(self)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.empty_label)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(top)
        right_layout.addWidget(self.stack, 1)

        self.splitter = QSplitter(self)
        self.splitter.addWidget(side)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([200, 800])
        state = settings.value("browse/splitter", QByteArray())
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.splitter.restoreState(state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.timeout.connect(lambda: self.reload(keep_position=True))
        controller.folders_changed.connect(self.refresh_folders)
        controller.photos_changed.connect(lambda: self.reload(keep_position=True))
        controller.photos_removed.connect(self._photos_removed)
        controller.index_progress.connect(self._index_progress)
        self.refresh_folders()

    # -- folders -------------------------------------------------------------------------------

    def refresh_folders(self) -> None:
        offline = set(getattr(self.controller.last_report, "offline_folders", None) or [])
        self.sidebar.blockSignals(True)
        self.sidebar.clear()
        everything = QListWidgetItem("All photos")
        everything.setData(Qt.ItemDataRole.UserRole, "")  # not None: see photomodel.role_data
        self.sidebar.addItem(everything)
        current = everything
        for folder in self.controller.folders:
            name = os.path.basename(folder.rstrip(os.sep)) or folder
            item = QListWidgetItem(name + ("  (offline)" if folder in offline else ""))
            item.setToolTip(folder)
            item.setData(Qt.ItemDataRole.UserRole, folder)
            self.sidebar.addItem(item)
            if folder == self.folder:
                current = item
        self.sidebar.setCurrentItem(current)
        self.sidebar.blockSignals(False)
        if current is everything and self.folder is not None:
            self.folder = None
            self.reload()

    def _folder_chosen(self, item: QListWidgetItem | None, _previous=None) -> None:
        if item is None:
            return
        self.folder = item.data(Qt.ItemDataRole.UserRole) or None
        self.reload()

    def select_folder(self, folder: str | None) -> None:
        for row in range(self.sidebar.count()):
            item = self.sidebar.item(row)
            if (item.data(Qt.ItemDataRole.UserRole) or None) == folder:
                self.sidebar.setCurrentItem(item)
                return

    def _sidebar_menu(self, pos) -> None:
        item = self.sidebar.itemAt(pos)
        menu = QMenu(self)
        menu.addAction("Add folder…").triggered.connect(self.add_folder_requested)
        folder = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if folder:
            menu.addAction("Remove from library…").triggered.connect(
                lambda: self.remove_folder_requested.emit(folder))
            reference = menu.addAction("Reference Folder (Never Trash)")
            reference.setCheckable(True)
            reference.setChecked(folder in self.controller.library.reference_folders)
            reference.toggled.connect(lambda on: self.reference_folder_toggled.emit(folder, on))
        menu.popup(self.sidebar.viewport().mapToGlobal(pos))

    # -- the grid ------------------------------------------------------------------------------

    def set_order(self, order: str) -> None:
        if order == self.order:
            return
        self.order = order
        self.controller.settings.setValue("view/order", order)
        index = [k for k, _ in ORDERS].index(order)
        if self.sort_combo.currentIndex() != index:
            self.sort_combo.setCurrentIndex(index)
        self.reload()

    def reload(self, keep_position: bool = False) -> None:
        """Fetch the listing on a worker; the grid keeps showing the old one until it lands."""
        self._reload_timer.stop()
        if self._task is not None:
            self._task.cancel()
        self._last_reload = time.monotonic()
        folder, order = self.folder, self.order
        self._task = self.controller.load_listing(
            folder, order, lambda listing: self._listing_loaded(listing, keep_position))

    def _listing_loaded(self, listing: PhotoListing, keep_position: bool) -> None:
        self._task = None
        current_id = None
        scroll = 0
        if keep_position:
            index = self.grid.currentIndex()
            if index.isValid():
                current_id = int(self.model.listing.ids[index.row()])
            scroll = self.grid.verticalScrollBar().value()
        self.controller.thumbnails.forget_queue()
        self.model.set_listing(listing)
        if current_id is not None:
            row = self.model.row_of_id(current_id)
            if row is not None:
                self.grid.selectionModel().setCurrentIndex(
                    self.model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
        if keep_position and scroll:
            QTimer.singleShot(0, lambda: self.grid.verticalScrollBar().setValue(scroll))
        self._update_count()
        self.loaded_once = True
        self.listing_loaded.emit()

    def _update_count(self) -> None:
        n = len(self.model.listing)
        where = "in this folder" if self.folder else "in the library"
        self.count_label.setText(f"{n:,} photo{'s' if n != 1 else ''} {where}")
        if n:
            self.stack.setCurrentWidget(self.grid)
        else:
            if not self.controller.folders:
                text = "No folders yet: use File > Add Folder… or drop a folder here."
            elif self.controller.indexing:
                text = "Indexing… photos appear here as they are indexed."
            else:
                text = "No photos here yet. Rescan (F5) looks for new ones."
            self.empty_label.setText(text)
            self.stack.setCurrentWidget(self.empty_label)

    def _photos_removed(self, paths: list) -> None:
        if self.model.remove_paths(paths):
            self._update_count()

    def _index_progress(self, progress) -> None:
        if progress.phase != "indexing" or progress.done == 0:
            return
        due = self._last_reload + RELOAD_WHILE_INDEXING_S - time.monotonic()
        if not self._reload_timer.isActive():
            self._reload_timer.start(max(0, int(due * 1000)))

    def save_state(self) -> None:
        self.controller.settings.setValue("browse/splitter", self.splitter.saveState())

    def sizeHint(self) -> QSize:
        return QSize(1100, 720)
