"""The cluster map canvas: every photo of a layout, zoomable from the whole collection to one photo.

A custom ``QWidget`` rather than a ``QGraphicsScene``: 100,000 scene items cost seconds to build
and hundreds of megabytes, while here a frame is a few NumPy operations over the positions plus
at most ``MAX_PIXMAPS`` pixmaps. Levels of detail, by the on-screen size of a photo:

- dots: far out (or with too many photos in view) each photo is a dot or small square in its
  average colour (or its folder/date colour), rasterised with NumPy into one image per frame;
- thumbnails: closer in, each visible photo is a pixmap at the smallest of 32, 128 or 256 pixels
  that covers it, loaded off the GUI thread from the library's thumbnail cache by a
  :class:`~simdesk.ui.thumbnails.ThumbnailLoader` (the grids' loader), so they sharpen as they
  grow; until a pixmap arrives the photo shows as a square of its colour.

Where the photos are, the zoom, pan, selection and hit testing live in
:class:`~simdesk.ui.map_state.MapState` (no Qt); this module paints it and handles input. The
view shows a layout computed elsewhere (``set_layout``; the app computes it with
:class:`simdesk.ui.jobs.MapLayoutJob`), and its colours once they are read (``set_colours``).

Mouse and keys: wheel or pinch zooms around the pointer, ``+``/``-`` zoom, ``0``/Home fits all,
dragging or the arrow keys pan, a click selects (Ctrl toggles, Shift adds), Shift- or Ctrl-drag
selects a rectangle, in lasso mode (``set_lasso_mode``, L) a drag selects what it encircles,
Escape clears, Ctrl+A selects all, a double click activates a photo. Region captions
(``set_region_labels``, from :mod:`simdesk.core.map.labels`) are drawn at a fixed text size,
the coarse regions far out and finer ones closer in.
Hovering shows a larger preview and the file name; the context menu offers similar photos, open,
show in folder and move to Trash as signals for the app to carry out.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QMenu, QWidget

from simdesk.core.map.cache import MapLayout, MapPhotos
from simdesk.ui.images import decode_square_thumbnail
from simdesk.ui.map_captions import paint_region_labels
from simdesk.ui.map_state import MapState
from simdesk.ui.thumbnails import ThumbnailLoader

BACKGROUND = QColor(22, 22, 26)
SELECTED = QColor(255, 200, 40)
HIGHLIGHT = QColor(80, 220, 255)
LEVELS = (32, 128, 256)  # thumbnail pixmap sizes; 256 is the size the library stores
DOT_MAX_PX = 12  # photos smaller than this on screen are drawn as dots
MAX_PIXMAPS = 2000  # more photos in view than this: dots, to keep frames fast
PIXMAP_CACHE_BYTES = 192 * 1024 * 1024


class MapView(QWidget):
    """The zoomable cluster map of a :class:`~simdesk.core.library.Library`. ``state`` is what
    it shows (:class:`~simdesk.ui.map_state.MapState`)."""

    selectionChanged = Signal(list)  # photo ids
    photoActivated = Signal(int)  # photo id (double click, Enter)
    similarRequested = Signal(int)  # photo id
    openRequested = Signal(list)  # paths
    showInFolderRequested = Signal(str)  # path
    trashRequested = Signal(list)  # photo ids
    lassoModeChanged = Signal(bool)

    def __init__(self, library=None, parent=None, *, mode: str = "tsne",
                 thumbnail_source: Callable[[bytes], bytes | None] | None = None):
        super().__init__(parent)
        self.library = library
        self._thumbnail_source = thumbnail_source
        self.state = MapState(mode, viewport=lambda: (self.width(), self.height()))
        self._hover: int | None = None
        self._press: QPointF | None = None
        self._press_offset = np.zeros(2)
        self._band: QRectF | None = None
        self._lasso: list[QPointF] | None = None
        self.lasso_mode = False
        self._labels: dict[str, list] = {}  # mode -> [RegionLabel]
        self.show_labels = True
        self._highlight: int | None = None  # a row shown by "Show on map"
        self.drawn_labels: list[str] = []  # the captions of the last frame
        self._dragging = False
        self._thumbs: ThumbnailLoader | None = None
        self._status = ""
        self.last_frame = {"ms": 0.0, "level": "none", "visible": 0}
        self._anim: tuple | None = None
        self._anim_timer = QTimer(self)
        self._anim_timer.setInterval(15)
        self._anim_timer.timeout.connect(self._animate)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAttribute(Qt.WidgetAttribute.WA_AcceptTouchEvents)
        self.grabGesture(Qt.GestureType.PinchGesture)
        self.setMinimumSize(200, 150)

    def sizeHint(self) -> QSize:
        return QSize(900, 700)

    # -- showing a layout ----------------------------------------------------------------------

    def set_colours(self, colours: np.ndarray) -> None:
        """The shown layout's average colours ((N, 3) uint8, rows as its photo ids), once known."""
        self.state.set_avg_colours(colours)
        self.update()

    def set_layout(self, layout: MapLayout, photos: MapPhotos | None = None,
                   colours: np.ndarray | None = None) -> None:
        """Show this layout. ``photos`` (paths, folders...) is read from the library if not
        given; ``colours`` (N,3) uint8 average colours, grey until known."""
        if photos is None and self.library is not None:
            photos = self.library.map_photos(layout.photo_ids)
        self._hover = None
        self._highlight = None
        self._labels = {}
        self._clear_pixmaps()
        self._status = "" if len(layout) else "No photos to show: index a folder first."
        self.state.set_layout(layout, photos, colours)
        self.update()
        self._ensure_loader()

    def map_layout(self) -> MapLayout | None:
        """The layout shown (None before the first)."""
        return self.state.layout

    @property
    def photo_ids(self) -> np.ndarray:
        layout = self.state.layout
        return layout.photo_ids if layout is not None else np.zeros(0, dtype=np.int64)

    # -- mode and colours ----------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self.state.mode

    def set_mode(self, mode: str) -> None:
        """"tsne" (the free map) or "grid" (the tidy grid); keeps the view on the same photos."""
        self.state.set_mode(mode)
        self.update()

    @property
    def colour_by(self) -> str | None:
        return self.state.colour_by

    def set_colour_by(self, what: str | None) -> None:
        """None (each photo's own colour), "folder" or "date": frames and dots in that colour."""
        self.state.set_colour_by(what)
        self.update()

    def legend(self) -> list[tuple[tuple[int, int, int], str]]:
        """(colour, label) pairs for the current colouring, for the app to show."""
        return self.state.legend()

    # -- region captions, highlight ----------------------------------------------------------

    def set_region_labels(self, labels: dict) -> None:
        """Captions per mode: {"tsne": [RegionLabel], "grid": [...]} in the unit box of each."""
        self._labels = dict(labels)
        self.update()

    def region_labels(self, mode: str | None = None) -> list:
        return list(self._labels.get(mode or self.mode, []))

    def set_show_labels(self, show: bool) -> None:
        self.show_labels = bool(show)
        self.update()

    def highlight_photo(self, photo_id: int, item_px: float = 160.0, animate: bool = True) -> bool:
        """Centre one photo, select it and ring it ("Show on map"); False if it is not here."""
        layout = self.state.layout
        row = layout.row_of(photo_id) if layout is not None else None
        if row is None:
            return False
        self._set_selection({row})
        self._highlight = row
        self.zoom_to_photo(photo_id, item_px=item_px, animate=animate)
        self.update()
        return True

    def highlighted_id(self) -> int | None:
        if self._highlight is None or self.state.layout is None:
            return None
        return int(self.state.layout.photo_ids[self._highlight])

    # -- zoom and pan --------------------------------------------------------------------------

    def item_size_px(self) -> float:
        """How big one photo is on screen now, in pixels."""
        return self.state.item_size_px()

    def screen_positions(self) -> np.ndarray:
        """(N, 2) widget coordinates of every photo's centre."""
        return self.state.screen_positions()

    def fit_all(self, animate: bool = True) -> None:
        """Show the whole map."""
        self._go_to(*self.state.fit_params(), animate)
        self.state.fitted = True

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the point under ``anchor`` (default: the centre) in place."""
        self.state.zoom_by(factor, None if anchor is None else (anchor.x(), anchor.y()))
        self._anim = None
        self._anim_timer.stop()
        self.update()

    def pan_by(self, dx: float, dy: float) -> None:
        self.state.pan_by(dx, dy)
        self.update()

    def zoom_to_photo(self, photo_id: int, item_px: float = 300.0, animate: bool = True) -> None:
        """Centre one photo at about ``item_px`` pixels."""
        layout = self.state.layout
        row = layout.row_of(photo_id) if layout is not None else None
        if row is not None:
            self._go_to(*self.state.view_of_row(row, item_px), animate)

    def _go_to(self, scale: float, offset: np.ndarray, animate: bool, ms: float = 180.0) -> None:
        if animate and self.isVisible():
            state = self.state
            self._anim = (time.monotonic(), ms / 1000, (state.scale, state.offset.copy()), (scale, offset))
            self._anim_timer.start()
        else:
            self.state.scale, self.state.offset = scale, offset
            self.update()

    def _animate(self) -> None:
        if self._anim is None:
            self._anim_timer.stop()
            return
        t0, dur, start, end = self._anim
        t = min(1.0, (time.monotonic() - t0) / dur)
        self.state.scale, self.state.offset = self.state.between(start, end, 1 - (1 - t) ** 3)
        if t >= 1.0:
            (self.state.scale, self.state.offset), self._anim = end, None
            self._anim_timer.stop()
        self.update()

    def resizeEvent(self, event) -> None:
        old = event.oldSize()
        fit_before = self.state.was_fitted_for((old.width(), old.height()))
        super().resizeEvent(event)
        if fit_before or not self.state.fitted:
            self.fit_all(animate=False)

    # -- hit testing and selection -------------------------------------------------------------

    def photo_at(self, point: QPointF) -> int | None:
        """The photo id under a widget point, or None."""
        row = self._row_at(point)
        return int(self.state.layout.photo_ids[row]) if row is not None else None

    def _row_at(self, point: QPointF) -> int | None:
        return self.state.row_at(point.x(), point.y())

    def selected_ids(self) -> list[int]:
        return self.state.selected_ids()

    def set_selected_ids(self, photo_ids) -> None:
        self._set_selection(self.state.rows_of(photo_ids))

    def _set_selection(self, rows: set[int]) -> None:
        if rows != self.state.selected:
            self.state.selected = set(rows)
            self.update()
            self.selectionChanged.emit(self.selected_ids())

    def set_lasso_mode(self, on: bool) -> None:
        """In lasso mode a left drag selects the photos it encircles (Shift adds) instead of
        panning."""
        self.lasso_mode = bool(on)
        self.setCursor(Qt.CursorShape.CrossCursor) if on else self.unsetCursor()

    def select_polygon(self, points, add: bool = False) -> None:
        """Select the photos whose centres lie inside a polygon of widget points."""
        pts = [(p.x(), p.y()) if isinstance(p, (QPointF, QPoint)) else tuple(p) for p in points]
        rows = self.state.rows_in_polygon(pts)
        self._set_selection(self.state.selected | rows if add else rows)

    def select_rect(self, rect: QRectF, add: bool = False) -> None:
        """Select the photos whose centres lie in a widget rectangle."""
        if len(self.state.pos) == 0:
            return
        r = rect.normalized()
        rows = self.state.rows_in_rect(r.left(), r.top(), r.right(), r.bottom())
        self._set_selection(self.state.selected | rows if add else rows)

    # -- events --------------------------------------------------------------------------------

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if delta == 0:
            delta = event.pixelDelta().y() * 2
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier and event.angleDelta().x() == 0:
            self.pan_by(0, delta / 2)  # Shift+wheel pans (no horizontal wheel on most mice)
        else:
            self.zoom_by(2.0 ** (delta / 480.0), event.position())
        event.accept()

    def event(self, event) -> bool:
        etype = event.type()
        if etype == event.Type.NativeGesture:  # touchpad pinch (macOS, Wayland)
            if event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
                self.zoom_by(1.0 + event.value(), event.position())
                return True
        if etype == event.Type.Gesture:
            pinch = event.gesture(Qt.GestureType.PinchGesture)
            if pinch is not None:
                self.zoom_by(pinch.scaleFactor(), self.mapFromGlobal(pinch.centerPoint().toPoint()).toPointF())
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        key, mods = event.key(), event.modifiers()
        step = 60.0
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.5)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom_by(1 / 1.5)
        elif key in (Qt.Key.Key_0, Qt.Key.Key_Home):
            self.fit_all()
        elif key == Qt.Key.Key_Left:
            self.pan_by(step, 0)
        elif key == Qt.Key.Key_Right:
            self.pan_by(-step, 0)
        elif key == Qt.Key.Key_Up:
            self.pan_by(0, step)
        elif key == Qt.Key.Key_Down:
            self.pan_by(0, -step)
        elif key == Qt.Key.Key_Escape:
            self._highlight = None
            self._set_selection(set())
        elif key == Qt.Key.Key_L and not mods:
            self.set_lasso_mode(not self.lasso_mode)
            self.lassoModeChanged.emit(self.lasso_mode)
        elif key == Qt.Key.Key_A and mods & Qt.KeyboardModifier.ControlModifier:
            self._set_selection(set(range(len(self.state.pos))))
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and len(self.state.selected) == 1:
            self.photoActivated.emit(self.selected_ids()[0])
        else:
            super().keyPressEvent(event)

    def mousePressEvent(self, event) -> None:
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._press = event.position()
            self._press_offset = self.state.offset.copy()
            self._dragging = False
            mods = event.modifiers()
            if event.button() == Qt.MouseButton.LeftButton and self.lasso_mode:
                self._lasso = [self._press]
            elif event.button() == Qt.MouseButton.LeftButton and mods & (
                    Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier):
                self._band = QRectF(self._press, self._press)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        if self._press is not None:
            moved = pos - self._press
            if abs(moved.x()) + abs(moved.y()) > 4:
                self._dragging = True
            if self._lasso is not None:
                if not self._lasso or (abs(pos.x() - self._lasso[-1].x())
                                       + abs(pos.y() - self._lasso[-1].y())) >= 2:
                    self._lasso.append(pos)
            elif self._band is not None:
                self._band = QRectF(self._press, pos)
            elif self._dragging:
                self.state.offset = self._press_offset + np.array([moved.x(), moved.y()])
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
            self.update()
            return
        row = self._row_at(pos)
        if row != self._hover:
            self._hover = row
            self.update()
        elif row is not None:
            self.update()  # the preview follows the pointer

    def mouseReleaseEvent(self, event) -> None:
        if self._press is None:
            return super().mouseReleaseEvent(event)
        mods = event.modifiers()
        if self._lasso is not None and self._dragging and len(self._lasso) >= 3:
            self.select_polygon(self._lasso, add=bool(mods & Qt.KeyboardModifier.ShiftModifier))
        elif self._band is not None and self._dragging:
            self.select_rect(self._band, add=bool(mods & Qt.KeyboardModifier.ShiftModifier))
        elif not self._dragging and event.button() == Qt.MouseButton.LeftButton:
            row = self._row_at(event.position())
            if mods & Qt.KeyboardModifier.ControlModifier:
                if row is not None:
                    self._set_selection(self.state.selected ^ {row})
            elif mods & Qt.KeyboardModifier.ShiftModifier:
                if row is not None:
                    self._set_selection(self.state.selected | {row})
            else:
                self._set_selection({row} if row is not None else set())
        self._press, self._band, self._lasso, self._dragging = None, None, None, False
        self.set_lasso_mode(self.lasso_mode)  # its cursor
        self.update()

    def mouseDoubleClickEvent(self, event) -> None:
        row = self._row_at(event.position())
        if row is not None:
            self._set_selection({row})
            self.photoActivated.emit(int(self.state.layout.photo_ids[row]))

    def leaveEvent(self, event) -> None:
        self._hover = None
        self.update()
        super().leaveEvent(event)

    def contextMenuEvent(self, event) -> None:
        menu = self.context_menu(event.pos())
        if menu is not None:
            menu.exec(event.globalPos())

    def context_menu(self, point) -> QMenu | None:
        """The menu for a right click at ``point`` (selects the photo there first)."""
        row = self._row_at(QPointF(point))
        if row is not None and row not in self.state.selected:
            self._set_selection({row})
        rows = sorted(self.state.selected)
        if not rows:
            return None
        ids = self.selected_ids()
        paths = self.state.paths(rows)
        menu = QMenu(self)
        similar = menu.addAction("Similar photos")
        similar.setEnabled(len(ids) == 1)
        similar.triggered.connect(lambda: self.similarRequested.emit(ids[0]))
        menu.addAction("Open" if len(paths) == 1 else f"Open {len(paths)} photos",
                       lambda: self.openRequested.emit(paths))
        show = menu.addAction("Show in folder")
        show.setEnabled(bool(paths))
        show.triggered.connect(lambda: self.showInFolderRequested.emit(paths[0]))
        menu.addSeparator()
        menu.addAction("Move to Trash" if len(ids) == 1 else f"Move {len(ids)} photos to Trash",
                       lambda: self.trashRequested.emit(ids))
        return menu

    # -- painting ------------------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        start = time.perf_counter()
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        n = len(self.state.pos)
        if n == 0:
            painter.setPen(QColor(200, 200, 205))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._status or "No map yet.")
            painter.end()
            return
        size = self.item_size_px()
        screen = self.screen_positions()
        visible = self.state.visible_rows(margin=size / 2 + 2)
        if size < DOT_MAX_PX or len(visible) > MAX_PIXMAPS:
            level = "dots"
            self._paint_dots(painter, screen, visible, size)
        else:
            level = self._paint_thumbnails(painter, screen, visible, size)
        self._paint_selection(painter, screen, visible, size)
        paint_region_labels(self, painter, size)
        if self._lasso is not None and len(self._lasso) > 1:
            path = QPainterPath()
            path.addPolygon(QPolygonF(self._lasso))
            path.closeSubpath()
            painter.setPen(QPen(SELECTED, 1.5, Qt.PenStyle.DashLine))
            painter.setBrush(QColor(255, 200, 40, 40))
            painter.drawPath(path)
        if self._band is not None:
            painter.setPen(QPen(SELECTED, 1, Qt.PenStyle.DashLine))
            painter.setBrush(QColor(255, 200, 40, 40))
            painter.drawRect(self._band.normalized())
        if self._hover is not None and self._band is None and not self._dragging:
            self._paint_preview(painter, screen[self._hover], self._hover)
        painter.end()
        self.last_frame = {"ms": (time.perf_counter() - start) * 1000, "level": level,
                           "visible": int(len(visible))}

    def _paint_dots(self, painter: QPainter, screen: np.ndarray, rows: np.ndarray, size: float) -> None:
        """All visible photos as dots, rasterised with NumPy into one image."""
        w, h = self.width(), self.height()
        # Written straight into the QImage's pixels (QImage over a NumPy buffer upsets PySide's
        # reference counting).
        image = QImage(w, h, QImage.Format.Format_RGB32)
        buf = np.frombuffer(image.bits(), dtype=np.uint32).reshape(h, image.bytesPerLine() // 4)[:, :w]
        buf[:] = 0xFF000000 | (BACKGROUND.red() << 16) | (BACKGROUND.green() << 8) | BACKGROUND.blue()
        d = int(np.clip(round(size * 0.9), 1, DOT_MAX_PX))
        if len(rows) > 20000:
            d = min(d, 4)
        xy = np.floor(screen[rows] - d / 2 + 0.5).astype(np.int64)
        colours = self.state.colours32[rows]
        r = (d - 1) / 2
        for dy in range(d):
            for dx in range(d):
                if d > 3 and (dx - r) ** 2 + (dy - r) ** 2 > (r + 0.5) ** 2:
                    continue  # round dots once they are big enough to look round
                x, y = xy[:, 0] + dx, xy[:, 1] + dy
                ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
                buf[y[ok], x[ok]] = colours[ok]
        del buf
        painter.drawImage(0, 0, image)

    def _paint_thumbnails(self, painter: QPainter, screen: np.ndarray, rows: np.ndarray, size: float) -> str:
        level = next((lv for lv in LEVELS if lv >= size * self.devicePixelRatioF()), LEVELS[-1])
        s = max(1, int(round(size)))
        border = max(1, s // 16) if self.state.colour_by else 0
        inner = max(1, s - 2 * border)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, s < level)
        xs = np.rint(screen[rows, 0] - s / 2).astype(np.int64).tolist()
        ys = np.rint(screen[rows, 1] - s / 2).astype(np.int64).tolist()
        thumbs = self._thumbs
        if thumbs is not None:
            thumbs.set_display_side(level)
        hashes = self.state.photos.content_hashes if self.state.photos is not None else None
        colours = self.state.colours
        want = []
        for row, x, y in zip(rows.tolist(), xs, ys):
            chash = hashes[row] if hashes is not None else None
            pixmap = None
            if thumbs is not None and chash is not None:
                pixmap = thumbs.cache.get(chash)
                if thumbs.wants(chash, pixmap):
                    want.append(row)  # drawn smaller (or as a square) until it comes
            if border or pixmap is None:
                c = colours[row]
                colour = QColor(int(c[0]), int(c[1]), int(c[2]))
                painter.fillRect(x, y, s, s, colour)
            if pixmap is not None:
                painter.drawPixmap(x + border, y + border, inner, inner, pixmap)
        self._request(want)
        return f"thumbnails {level}px"

    def _request(self, rows: list[int]) -> None:
        if not rows or self._thumbs is None or self.state.photos is None:
            return
        self._thumbs.forget_queue()
        hashes = self.state.photos.content_hashes
        # Requests are served newest first: queue the far ones first so the centre comes first.
        c = np.array([self.width() / 2, self.height() / 2])
        screen = self.screen_positions()[rows]
        order = np.argsort(-((screen - c) ** 2).sum(axis=1))
        for i in order:
            self._thumbs.request(hashes[rows[int(i)]])

    def _paint_selection(self, painter: QPainter, screen: np.ndarray, visible: np.ndarray, size: float) -> None:
        if not self.state.selected:
            return
        selected = np.fromiter(self.state.selected, dtype=np.int64, count=len(self.state.selected))
        rows = selected[np.isin(selected, visible)].tolist()
        s = max(size, 6.0)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(SELECTED, 2 if s < 40 else 3))
        for row in rows[:5000]:
            painter.drawRect(QRectF(screen[row, 0] - s / 2 - 1, screen[row, 1] - s / 2 - 1, s + 2, s + 2))
        if self._highlight is not None and self._highlight in self.state.selected:
            r = max(s, 16.0) * 0.75 + 6
            painter.setPen(QPen(HIGHLIGHT, 3))
            c = QPointF(screen[self._highlight, 0], screen[self._highlight, 1])
            painter.drawEllipse(c, r, r)

    def _paint_preview(self, painter: QPainter, at: np.ndarray, row: int) -> None:
        """A larger preview and the file name beside the pointer."""
        side = 256
        chash = self.state.photos.content_hashes[row] if self.state.photos is not None else None
        pm = self._thumbs.get(chash, side) if self._thumbs is not None and chash else None
        name = os.path.basename(self.state.photos.paths[row]) if self.state.photos is not None else str(row)
        show = min(side, max(96, int(self.item_size_px() * 1.8)))
        if self.item_size_px() >= side:
            show = 0  # the photo is already big on screen: just the name
        x = int(at[0] + self.item_size_px() / 2 + 12)
        y = int(at[1] - show / 2)
        box_w = max(show, painter.fontMetrics().horizontalAdvance(name) + 12)
        box_h = show + 24
        if x + box_w > self.width():
            x = int(at[0] - self.item_size_px() / 2 - 12 - box_w)
        y = int(np.clip(y, 4, max(4, self.height() - box_h - 4)))
        painter.fillRect(x - 4, y - 4, box_w + 8, box_h + 8, QColor(0, 0, 0, 200))
        if show:
            if pm is not None:
                painter.drawPixmap(QRect(x, y, show, show), pm)
            else:
                c = self.state.colours[row]
                painter.fillRect(x, y, show, show, QColor(int(c[0]), int(c[1]), int(c[2])))
        painter.setPen(QColor(235, 235, 240))
        painter.drawText(QRect(x, y + show + 2, box_w, 20), Qt.AlignmentFlag.AlignLeft, name)

    # -- thumbnails ----------------------------------------------------------------------------

    def _ensure_loader(self) -> None:
        if self._thumbs is not None:
            return
        if self._thumbnail_source is not None:
            source = self._thumbnail_source

            def fetch(hashes: list[bytes]) -> dict[bytes, bytes]:
                return {h: data for h in hashes if (data := source(h))}

            close = None
        elif self.library is not None:
            fetch, close = self.library.thumbnails, self.library.close  # the loader thread's connection
        else:
            return
        self._thumbs = ThumbnailLoader(fetch, budget_bytes=PIXMAP_CACHE_BYTES,
                                       decode=decode_square_thumbnail, on_thread_exit=close,
                                       parent=self)
        self._thumbs.loaded.connect(self._thumbs_loaded)

    def _thumbs_loaded(self, _hashes: list) -> None:
        if self.state.layout is not None:
            self.update()

    def _clear_pixmaps(self) -> None:
        if self._thumbs is not None:
            self._thumbs.forget_queue()
            self._thumbs.clear()

    def pixmap_memory(self) -> int:
        """Bytes held by cached thumbnail pixmaps."""
        return self._thumbs.cache.bytes if self._thumbs is not None else 0

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the worker threads (the app calls this when the view goes away)."""
        if self._thumbs is not None:
            self._thumbs.shutdown()
            self._thumbs = None

    # -- export --------------------------------------------------------------------------------

    def export_view(self, path: str | os.PathLike, scale: float = 1.0) -> QSize:
        """Save what the view shows now as a PNG (``scale`` 2 for a sharper, larger picture)."""
        size = QSize(int(self.width() * scale), int(self.height() * scale))
        image = QImage(size, QImage.Format.Format_RGB32)
        image.fill(BACKGROUND)
        painter = QPainter(image)
        painter.scale(scale, scale)
        self.render(painter, QPoint(0, 0))
        painter.end()
        if not image.save(os.fspath(path), "PNG"):
            raise OSError(f"cannot write {path}")
        return size

    def export_map(self, path: str | os.PathLike, size: int = 2400, **options):
        """Save the whole map (not just the view) as a PNG, in the current mode and colouring;
        a :class:`~simdesk.core.map.render.RenderResult`. Runs in the calling thread."""
        if self.library is None or self.state.layout is None:
            raise RuntimeError("no map to export")
        return self.library.export_map(path, self.state.layout, mode=self.state.mode, size=size,
                                       colour_by=self.state.colour_by, **options)
