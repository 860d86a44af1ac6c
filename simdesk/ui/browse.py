"""Browsing: the folder tree on the left, the thumbnail grid of all photos or of one folder.

The grid stays put while indexing adds photos: each reload is anchored on the photo at the top of
the view, which keeps its place on screen; the folder chosen and that photo are restored at start.
"""

from __future__ import annotations

import os
import time

import numpy as np

from PySide6.QtCore import QByteArray, QItemSelection, QItemSelectionModel, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from simdesk.core.paths import is_under
from simdesk.ui.controller import AppController
from simdesk.ui.grid import PhotoGrid
from simdesk.ui.photomodel import PhotoListing, PhotoListModel
from simdesk.ui.settings import settings_value

ORDERS = (("date", "Date"), ("name", "Name"), ("folder", "Folder"))
RELOAD_WHILE_INDEXING_S = 4.0  # the grid fills in while a long index runs
ANCHOR_WAIT_S = 3.0  # how long a reload waits for the grid to lay out the anchor photo
FOLDER_ROLE = Qt.ItemDataRole.UserRole  # the sidebar item's folder ("" for All photos)


class FolderTree(QTreeWidget):
    """The sidebar: "All photos", then each library folder with every folder below it that holds
    photos, and the number of photos in each (subfolders included). Updated in place, so what
    the user expanded and selected stays while indexing adds folders."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderHidden(True)
        self.setUniformRowHeights(True)
        self.setExpandsOnDoubleClick(True)
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.items: dict[str, QTreeWidgetItem] = {}  # folder path -> item
        self.everything = self._new_item("", "All photos")  # "" not None: see photomodel.role_data
        self.everything.setToolTip(0, "Every photo of the library")
        del self.items[""]
        self.addTopLevelItem(self.everything)

    def item_for(self, folder: str | None) -> QTreeWidgetItem | None:
        return self.everything if not folder else self.items.get(folder)

    def set_roots(self, roots: list[str], offline: set[str]) -> None:
        """The library folders, at once (their subfolders come with :meth:`set_tree`)."""
        for gone in [p for p, item in self.items.items() if item.parent() is None and p not in roots]:
            self._remove(gone)
        for position, root in enumerate(roots, 1):
            item = self.items.get(root)
            if item is None:
                item = self._new_item(root, os.path.basename(root.rstrip(os.sep)) or root)
                self.insertTopLevelItem(position, item)
                item.setExpanded(True)
            name = os.path.basename(root.rstrip(os.sep)) or root
            item.setText(0, name + ("  (offline)" if root in offline else ""))
            item.setToolTip(0, root + ("\n(offline: not found on disk)" if root in offline else ""))

    def set_tree(self, trees, offline: set[str]) -> None:
        """``trees``: ``folders.FolderNode`` per library folder (``Library.folder_tree``)."""
        self.set_roots([t.path for t in trees], offline)
        wanted = {node.path for tree in trees for node in tree.walk()}
        for gone in [p for p in self.items if p not in wanted]:
            self._remove(gone)  # (a no-op for one gone with its parent already)
        for tree in trees:
            stack = [(tree, None, 0)]
            while stack:  # parents first; a new item goes where its name sorts among its siblings
                node, parent, position = stack.pop()
                item = self.items.get(node.path)
                if item is None:
                    item = self._new_item(node.path, node.name)
                    parent.insertChild(position, item)
                self._set_count(item, node.count)
                stack.extend((child, item, i) for i, child in reversed(list(enumerate(node.children))))
        self._set_count(self.everything, sum(t.count for t in trees))

    def _new_item(self, path: str, name: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem([name, ""])
        item.setData(0, FOLDER_ROLE, path)
        item.setToolTip(0, path)
        item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setForeground(1, self.palette().brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        self.items[path] = item
        return item

    def _set_count(self, item: QTreeWidgetItem, count: int) -> None:
        text = f"{count:,}"
        if item.text(1) != text:
            item.setText(1, text)

    def _remove(self, path: str) -> None:
        item = self.items.get(path)
        if item is None:
            return
        stack = [item]
        while stack:  # forget the item and everything below it
            current = stack.pop()
            self.items.pop(current.data(0, FOLDER_ROLE), None)
            stack.extend(current.child(i) for i in range(current.childCount()))
        parent = item.parent()
        if parent is None:
            self.takeTopLevelItem(self.indexOfTopLevelItem(item))
        else:
            parent.removeChild(item)


class BrowseView(QWidget):
    """``add_folder_requested`` and ``remove_folder_requested(path)`` are for the main window."""

    add_folder_requested = Signal()
    remove_folder_requested = Signal(str)
    reference_folder_toggled = Signal(str, bool)  # (folder, never trash from it)
    listing_loaded = Signal()
    tree_loaded = Signal()
    folder_changed = Signal()

    def __init__(self, controller: AppController, parent=None):
        super().__init__(parent)
        self.controller = controller
        settings = controller.settings
        self.order = settings_value(settings, "view/order", "date", str)
        if self.order not in dict(ORDERS):
            self.order = "date"
        # Where the user was last time: the folder (if still in the library) and the photo at
        # the top of the grid, with how far its cell's top was below the view's top.
        saved = settings_value(settings, "browse/folder", "", str)
        self.folder: str | None = saved if saved and any(
            is_under(saved, root) for root in controller.folders) else None
        top = settings_value(settings, "browse/top_photo", "", str)
        self._pending_anchor: tuple[str, int] | None = (
            (top, settings_value(settings, "browse/top_offset", 0, int)) if top else None)
        self._task = None
        self._tree_task = None
        self._task_keeps = False  # the pending listing keeps the position (not a new folder/order)
        self._anchor: tuple[str, int, float] | None = None  # (path, offset, deadline) being restored
        self._held: tuple[str, int, int] | None = None  # (path, offset, scroll value) restored last
        self._last_reload = 0.0
        self.loaded_once = False

        self.sidebar = FolderTree(self)
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
        top_bar = QHBoxLayout()
        top_bar.setContentsMargins(4, 0, 4, 0)
        top_bar.addWidget(self.count_label, 1)
        top_bar.addWidget(QLabel("Sort by", self))
        top_bar.addWidget(self.sort_combo)

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
        right_layout.addLayout(top_bar)
        right_layout.addWidget(self.stack, 1)

        self.splitter = QSplitter(self)
        self.splitter.addWidget(side)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([220, 800])
        state = settings.value("browse/splitter", QByteArray())
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.splitter.restoreState(state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self._anchor_timer = QTimer(self)  # retries the anchor while the grid lays out
        self._anchor_timer.setSingleShot(True)
        self._anchor_timer.setInterval(5)
        self._anchor_timer.timeout.connect(self._scroll_to_anchor)
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.timeout.connect(self._photos_changed)
        controller.folders_changed.connect(self.refresh_folders)
        controller.photos_changed.connect(self._photos_changed)
        controller.photos_removed.connect(self._photos_removed)
        controller.index_progress.connect(self._index_progress)
        controller.index_started.connect(self._update_count)
        controller.index_finished.connect(lambda _report: self._update_count())
        controller.index_failed.connect(lambda _message: self._update_count())
        self.refresh_folders()

    # -- folders -------------------------------------------------------------------------------

    def _offline(self) -> set[str]:
        return set(getattr(self.controller.last_report, "offline_folders", None) or [])

    def refresh_folders(self) -> None:
        """The library folders at once, then the folders below them (read on a worker)."""
        self.sidebar.blockSignals(True)
        self.sidebar.set_roots(self.controller.folders, self._offline())
        self.sidebar.blockSignals(False)
        if self.folder is not None and not any(is_under(self.folder, r) for r in self.controller.folders):
            self._set_folder(None)  # its library folder was removed
        else:
            self._select_item(self.folder)
        self._update_count()
        self._load_tree()

    def _load_tree(self) -> None:
        if self._tree_task is not None:
            self._tree_task.cancel()
        self._tree_task = self.controller.load_folder_tree(self._tree_loaded)

    def _tree_loaded(self, trees) -> None:
        self._tree_task = None
        self.sidebar.blockSignals(True)
        self.sidebar.set_tree(trees, self._offline())
        self.sidebar.blockSignals(False)
        if (self.folder is not None and self.sidebar.item_for(self.folder) is None
                and not self.controller.indexing):
            self._set_folder(None)  # no photos there any more
        else:
            self._select_item(self.folder)
        self.tree_loaded.emit()

    def _select_item(self, folder: str | None) -> None:
        item = self.sidebar.item_for(folder)
        if item is not None and self.sidebar.currentItem() is not item:
            self.sidebar.blockSignals(True)
            self.sidebar.setCurrentItem(item)
            parent = item.parent()
            while parent is not None:
                parent.setExpanded(True)
                parent = parent.parent()
            self.sidebar.blockSignals(False)

    def _folder_chosen(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        if item is None:
            return
        self._set_folder(item.data(0, FOLDER_ROLE) or None)

    def _set_folder(self, folder: str | None) -> None:
        changed = folder != self.folder
        self.folder = folder
        self._select_item(folder)
        if changed:
            self.controller.settings.setValue("browse/folder", folder or "")
            self._pending_anchor = None
            self.reload()
            self.folder_changed.emit()

    def select_folder(self, folder: str | None) -> None:
        """Show this folder's photos (None: all), as if chosen in the sidebar."""
        self._set_folder(folder or None)

    def _sidebar_menu(self, pos) -> None:
        item = self.sidebar.itemAt(pos)
        menu = QMenu(self)
        menu.addAction("Add folder…").triggered.connect(self.add_folder_requested)
        folder = item.data(0, FOLDER_ROLE) if item is not None else None
        if folder and folder in self.controller.folders:
            menu.addAction("Remove from library…").triggered.connect(
                lambda: self.remove_folder_requested.emit(folder))
        if folder:  # any folder of the tree can be a reference folder
            reference = menu.addAction("Reference Folder (Never Trash)")
            reference.setCheckable(True)
            reference.setChecked(folder in self.controller.library.reference_folders)
            reference.toggled.connect(lambda on: self.reference_folder_toggled.emit(folder, on))
        if item is not None and item.childCount():
            menu.addSeparator()
            menu.addAction("Expand all").triggered.connect(lambda: self._expand(item, True))
            menu.addAction("Collapse all").triggered.connect(lambda: self._expand(item, False))
        menu.popup(self.sidebar.viewport().mapToGlobal(pos))

    def _expand(self, item: QTreeWidgetItem, expanded: bool) -> None:
        stack = [item]
        while stack:
            current = stack.pop()
            current.setExpanded(expanded)
            stack.extend(current.child(i) for i in range(current.childCount()))

    # -- the grid ------------------------------------------------------------------------------

    def set_order(self, order: str) -> None:
        if order == self.order:
            return
        self.order = order
        self.controller.settings.setValue("view/order", order)
        index = [k for k, _ in ORDERS].index(order)
        if self.sort_combo.currentIndex() != index:
            self.sort_combo.setCurrentIndex(index)
        self._pending_anchor = None
        self.reload()

    def reload(self, keep_position: bool = False) -> None:
        """Fetch the listing on a worker; the grid keeps showing the old one until it lands."""
        self._reload_timer.stop()
        if self._task is not None:
            self._task.cancel()
            # a reload that replaces one for another folder or order is one too: it starts at the top
            keep_position = keep_position and self._task_keeps
        self._task_keeps = keep_position
        self._last_reload = time.monotonic()
        folder, order = self.folder, self.order
        self._task = self.controller.load_listing(
            folder, order, lambda listing: self._listing_loaded(listing, folder, order, keep_position))

    def _photos_changed(self) -> None:
        """Indexing added or removed photos: the grid (where it is) and the folder counts."""
        self.reload(keep_position=True)
        self._load_tree()

    def top_photo(self) -> tuple[str, int] | None:
        """The photo at the top left of the view and how far its cell's top is below the view's
        top (0 or less: partly scrolled out), or None when nothing is laid out."""
        listing = self.model.listing
        if not len(listing):
            return None
        cell = self.grid.gridSize()
        if cell.width() <= 0 or cell.height() <= 0:
            return None
        columns = max(1, self.grid.viewport().width() // cell.width())
        scroll = self.grid.verticalScrollBar().value()
        row = min(len(listing) - 1, (scroll // cell.height()) * columns)
        rect = self.grid.visualRect(self.model.index(row, 0))
        if not rect.isValid():
            return None
        return listing.paths[row], rect.top()

    def _listing_loaded(self, listing: PhotoListing, folder, order, keep_position: bool) -> None:
        self._task = None
        if (folder, order) != (self.folder, self.order):
            return  # a listing for a folder or order no longer shown
        anchor = self._pending_anchor
        selected_ids: list[int] = []
        current_id = None
        if keep_position and self.loaded_once:
            # The photo held last time, while the user has not scrolled since: the top-left photo
            # changes as rows reflow around photos added above, and holding a new one each time
            # would let the view drift a few photos per reload.
            held = self._held
            if held is not None and held[2] == self.grid.verticalScrollBar().value():
                anchor = held[:2]
            else:
                anchor = self.top_photo() or anchor
            ids = self.model.listing.ids
            for span in self.grid.selectionModel().selection():  # ranges: quick for Ctrl+A too
                selected_ids.extend(int(i) for i in ids[span.top():span.bottom() + 1])
            index = self.grid.currentIndex()
            if index.isValid():
                current_id = int(ids[index.row()])
        self.controller.thumbnails.forget_queue()
        steady = anchor is not None and len(self.model.listing) > 0
        if steady:  # no frame at the top of the new listing before it is scrolled back
            self.grid.setUpdatesEnabled(False)
        self.model.set_listing(listing)
        self._restore_selection(selected_ids, current_id)
        self._pending_anchor = None
        self._held = None
        self.loaded_once = True
        self._update_count()  # (shows the grid: it lays out at its real size)
        self._anchor = None if anchor is None else (*anchor, time.monotonic() + ANCHOR_WAIT_S)
        if anchor is None and not keep_position:
            self.grid.scrollToTop()  # another folder or order: its start (a reset keeps the value)
        self._scroll_to_anchor()
        self.listing_loaded.emit()

    def _restore_selection(self, selected_ids: list[int], current_id: int | None) -> None:
        if not selected_ids and current_id is None:
            return
        selection = QItemSelection()
        rows = np.flatnonzero(np.isin(self.model.listing.ids, np.asarray(selected_ids, dtype=np.int64)))
        if len(rows):  # one range per run of consecutive rows
            breaks = np.flatnonzero(np.diff(rows) != 1)
            for first, last in zip(np.r_[rows[0], rows[breaks + 1]], np.r_[rows[breaks], rows[-1]]):
                selection.select(self.model.index(int(first), 0), self.model.index(int(last), 0))
        model = self.grid.selectionModel()
        model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        row = self.model.row_of_id(current_id) if current_id is not None else None
        if row is not None:
            model.setCurrentIndex(self.model.index(row, 0), QItemSelectionModel.SelectionFlag.NoUpdate)

    def _scroll_to_anchor(self) -> None:
        """Scroll so the anchor photo's cell is where it was; the grid lays out in batches, so
        wait (on the event loop) until the photo has a place and the range reaches it."""
        if self._anchor is None:
            self.grid.setUpdatesEnabled(True)
            return
        path, offset, deadline = self._anchor
        row = self.model.row_of_path(path)
        done = row is None  # the photo is gone: nothing to hold on to
        if not done:
            index = self.model.index(row, 0)
            rect = self.grid.visualRect(index)
            if rect.isValid():  # laid out
                if rect.top() != offset:
                    bar = self.grid.verticalScrollBar()
                    bar.setValue(bar.value() + rect.top() - offset)  # clamped while the range grows
                done = self.grid.visualRect(index).top() == offset
        if done or time.monotonic() > deadline:
            self._anchor = None
            if done and row is not None:
                self._held = (path, offset, self.grid.verticalScrollBar().value())
            self.grid.setUpdatesEnabled(True)
            return
        self._anchor_timer.start()

    def _update_count(self) -> None:
        n = len(self.model.listing)
        where = (f"in {os.path.basename(self.folder.rstrip(os.sep)) or self.folder}" if self.folder
                 else "in the library")
        self.count_label.setText(f"{n:,} photo{'s' if n != 1 else ''} {where}")
        if n:
            self.stack.setCurrentWidget(self.grid)
            return
        if not self.loaded_once:
            text = "Loading…"
        elif not self.controller.folders and not self.controller.adding_folders:
            text = "No folders yet: use File > Add Folder… or drop a folder here."
        elif self.controller.indexing or self.controller.adding_folders:
            text = "Indexing… photos appear here as they are indexed."
        else:
            text = "No photos here yet. Rescan (F5) looks for new ones."
        self.empty_label.setText(text)
        self.stack.setCurrentWidget(self.empty_label)

    def _photos_removed(self, paths: list) -> None:
        if self.model.remove_paths(paths):
            self._update_count()
            self._load_tree()

    def _index_progress(self, progress) -> None:
        if progress.phase != "indexing" or progress.done == 0:
            return
        due = self._last_reload + RELOAD_WHILE_INDEXING_S - time.monotonic()
        if not self._reload_timer.isActive():
            self._reload_timer.start(max(0, int(due * 1000)))

    def save_state(self) -> None:
        settings = self.controller.settings
        settings.setValue("browse/splitter", self.splitter.saveState())
        settings.setValue("browse/folder", self.folder or "")
        top = self.top_photo() if self.loaded_once else self._pending_anchor
        settings.setValue("browse/top_photo", top[0] if top else "")
        settings.setValue("browse/top_offset", int(top[1]) if top else 0)

    def sizeHint(self) -> QSize:
        return QSize(1100, 720)
