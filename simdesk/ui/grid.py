"""The thumbnail grid: a QListView in icon mode with uniform cells, zoom and photo keys."""

from __future__ import annotations

from PySide6.QtCore import QPersistentModelIndex, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QWheelEvent
from PySide6.QtWidgets import QAbstractItemView, QListView

from simdesk.ui.delegate import ThumbnailDelegate
from simdesk.ui.photomodel import PathRole, role_data

ZOOM_STEPS = (64, 96, 128, 160, 200, 256)
DEFAULT_THUMB = 160


class PhotoGrid(QListView):
    """Signals carry paths: ``open_requested`` (Enter, double-click), ``open_many_requested``
    (Enter with several photos selected: those like all of them), ``preview_requested`` (Space),
    ``trash_requested`` (Delete), ``menu_requested(paths, global_pos)`` (right-click),
    ``zoom_requested(+1 | -1)`` (Ctrl+wheel)."""

    open_requested = Signal(str)
    open_many_requested = Signal(list)
    preview_requested = Signal(str)
    trash_requested = Signal(list)
    menu_requested = Signal(list, object)
    zoom_requested = Signal(int)

    def __init__(self, show_similarity: bool = False, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        # Always there, so the width the columns share never changes as rows come and go.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        # Photos can be dragged out as file copies; drops go to the main window.
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setAcceptDrops(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setMouseTracking(True)
        self.delegate = ThumbnailDelegate(DEFAULT_THUMB, show_similarity, self)
        self.setItemDelegate(self.delegate)
        self.set_thumb_size(DEFAULT_THUMB)
        self.activated.connect(self._activated)
        self.customContextMenuRequested.connect(self._context_menu)

    @property
    def thumb_size(self) -> int:
        return self.delegate.thumb_size

    def set_thumb_size(self, size: int) -> None:
        """Zoom; the photo selected (if in view) or else the one at the top stays in view."""
        keep = self._zoom_anchor()
        self.delegate.thumb_size = int(size)
        self._fit_columns()
        cell = self.gridSize()
        self.setIconSize(QSize(size, size))
        self.verticalScrollBar().setSingleStep(max(16, cell.height() // 4))
        if keep is not None:
            self._keep_in_view(keep[0], keep[1], 50)

    def _zoom_anchor(self) -> tuple[QPersistentModelIndex, QAbstractItemView.ScrollHint] | None:
        model = self.model()
        if model is None or not model.rowCount() or not self.isVisible():
            return None
        viewport = self.viewport().rect()
        current = self.currentIndex()
        if current.isValid() and viewport.intersects(self.visualRect(current)):
            return QPersistentModelIndex(current), QAbstractItemView.ScrollHint.PositionAtCenter
        if self.verticalScrollBar().value() == 0:
            return None  # at the top: it stays there
        cell = self.gridSize()
        top = self.indexAt(QPoint(cell.width() // 2, max(0, cell.height() // 2 - 1)))
        if not top.isValid():
            top = self.indexAt(QPoint(cell.width() // 2, cell.height()))
        return (QPersistentModelIndex(top), QAbstractItemView.ScrollHint.PositionAtTop) if top.isValid() else None

    def _keep_in_view(self, index: QPersistentModelIndex, hint, tries: int) -> None:
        """Scroll to ``index`` once the grid has laid it out at the new size (layout is delayed)."""
        if not index.isValid():
            return
        if self.visualRect(self.model().index(index.row(), 0)).isValid() or tries <= 0:
            self.scrollTo(self.model().index(index.row(), 0), hint)
            return
        QTimer.singleShot(5, self, lambda: self._keep_in_view(index, hint, tries - 1))

    def _fit_columns(self) -> None:
        """Share the width between as many whole columns as fit (no ragged right margin)."""
        cell = self.delegate.cell_size(self.fontMetrics())
        # QListView wraps an item whose cell would end at the viewport's last pixel or beyond:
        # columns x cell width must stay below the width, not equal it (at exact multiples the
        # last column wrapped and left a band a cell wide on the right).
        width = max(1, self.viewport().width() - 1)
        columns = max(1, width // (cell.width() + 4))
        size = QSize(max(cell.width() + 4, width // columns), cell.height() + 4)
        if size != self.gridSize():
            self.setGridSize(size)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_columns()

    def selected_paths(self) -> list[str]:
        rows = sorted(index.row() for index in self.selectionModel().selectedIndexes())
        model = self.model()
        paths = [role_data(model.index(row, 0), PathRole) for row in rows]
        if not paths and self.currentIndex().isValid():
            paths = [role_data(self.currentIndex(), PathRole)]
        return paths

    def current_path(self) -> str | None:
        index = self.currentIndex()
        return role_data(index, PathRole) if index.isValid() else None

    def select_first(self) -> None:
        model = self.model()
        if model is not None and model.rowCount() and not self.currentIndex().isValid():
            self.setCurrentIndex(model.index(0, 0))

    # -- input ---------------------------------------------------------------------------------

    def _activated(self, index) -> None:
        path = role_data(index, PathRole)
        if path:
            self.open_requested.emit(path)

    def _context_menu(self, pos) -> None:
        index = self.indexAt(pos)
        if not index.isValid():
            return
        if not self.selectionModel().isSelected(index):
            self.setCurrentIndex(index)
        paths = self.selected_paths()
        if paths:
            self.menu_requested.emit(paths, self.viewport().mapToGlobal(pos))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers():
            paths = self.selected_paths()
            if len(paths) > 1:
                self.open_many_requested.emit(paths)
                event.accept()
                return
        if key == Qt.Key.Key_Space and not event.modifiers():
            path = self.current_path()
            if path:
                self.preview_requested.emit(path)
            event.accept()
            return
        if key == Qt.Key.Key_Delete:
            paths = self.selected_paths()
            if paths:
                self.trash_requested.emit(paths)
            event.accept()
            return
        super().keyPressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta().y()
            if delta:
                self.zoom_requested.emit(1 if delta > 0 else -1)
            event.accept()
            return
        super().wheelEvent(event)


def next_zoom(current: int, step: int) -> int:
    """The next thumbnail size in ZOOM_STEPS from ``current`` (clamped)."""
    sizes = list(ZOOM_STEPS)
    nearest = min(range(len(sizes)), key=lambda i: abs(sizes[i] - current))
    return sizes[max(0, min(len(sizes) - 1, nearest + step))]
