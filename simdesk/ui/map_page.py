"""The map page: the cluster-map canvas of the whole library, one folder or a similar-photos
result, with its toolbar (free map or tidy grid, colour by folder or date, fit, recompute, export).

The layout is computed by a :class:`~simdesk.ui.jobs.MapLayoutJob` (``Library.map_layout`` on its
own thread, with progress and Cancel in the status bar); the GUI thread never waits for it. The
page keeps the map it shows: opening the same map again shows it at once, and the library's own
layout cache makes a later open quick too. Photos on the map get the app's photo menu (the one the
grids use), through ``menu_requested``; the main window carries the actions out.
"""

from __future__ import annotations

import dataclasses
import os
from functools import partial

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFileDialog, QLabel, QStackedLayout, QStackedWidget, QVBoxLayout, QWidget

from simdesk.core.progress import Cancelled
from simdesk.ui.controller import AppController, describe_error
from simdesk.ui.jobs import ExportMapJob, MapData, MapLayoutJob
from simdesk.ui.map_toolbar import COLOURINGS, MODE_LABELS, MapToolbar
from simdesk.ui.map_view import MapView
from simdesk.ui.settings import settings_value
from simdesk.ui.status import JobStatus

PHASES = {
    "loading": "reading the photos",
    "reducing": "reducing dimensions",
    "affinities": "finding neighbours",
    "tsne": "t-SNE",
    "placing": "placing photos",
    "refining": "refining",
    "grid": "tidy grid",
    "colours": "reading colours",
    "classes": "naming regions",
    "rendering": "drawing",
    "done": "finishing",
}
GREY = 128


def phase_text(p) -> str:
    """A layout's ``Progress`` as a few words and a percentage."""
    return f"{PHASES.get(p.phase, p.phase)} {p.fraction:.0%}"


def export_size(count: int) -> int:
    """The longer side of an exported whole map: room for readable thumbnails, bounded memory."""
    return int(np.clip(np.sqrt(max(count, 1)) * 48, 1600, 6000))


class MapCanvas(MapView):
    """The canvas as the app uses it: a right click asks for the app's photo menu
    (``menu_requested(photo ids, global pos)``), Delete and Space ask for the Trash and the
    preview, and Esc, Backspace and Alt+Left are left to the page (back to the previous page)."""

    menu_requested = Signal(list, object)
    trash_key = Signal(list)  # photo ids
    preview_key = Signal(int)  # photo id

    def contextMenuEvent(self, event) -> None:
        photo = self.photo_at(QPointF(event.pos()))
        if photo is None:  # as in the grids: no photo under the pointer, no menu
            event.accept()
            return
        if photo not in self.selected_ids():
            self.set_selected_ids([photo])
        self.menu_requested.emit(self.selected_ids(), event.globalPos())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Escape, Qt.Key.Key_Backspace) or (
                key == Qt.Key.Key_Left and mods & Qt.KeyboardModifier.AltModifier):
            event.ignore()  # the page's: back to where the map was opened from
            return
        ids = self.selected_ids()
        if key == Qt.Key.Key_Delete:
            if ids:
                self.trash_key.emit(ids)
            event.accept()
            return
        if key == Qt.Key.Key_Space and not mods:
            if ids:
                self.preview_key.emit(ids[0])
            event.accept()
            return
        super().keyPressEvent(event)


class MapPage(QWidget):
    """``show_scope(scope, title)`` shows the map of a ``layout_cache.MapScope``; Esc or Back
    emits ``closed``. The photo signals carry paths, like the grids'."""

    closed = Signal()
    similar_requested = Signal(str)
    preview_requested = Signal(str)
    menu_requested = Signal(list, object)  # paths, global position
    open_requested = Signal(list)
    show_in_folder_requested = Signal(str)
    trash_requested = Signal(list)  # paths
    status_message = Signal(str)  # for the status bar
    map_shown = Signal()  # a layout is on the canvas (or the scope has no photos)
    map_failed = Signal(str)  # "cancelled", or why not
    exported = Signal(str)  # the PNG's path

    def __init__(self, controller: AppController, parent=None):
        super().__init__(parent)
        self.controller = controller
        settings = controller.settings
        self.params = None  # LayoutParams for new layouts; None: the library's defaults
        self.scope = None
        self.title_text = ""
        self.data: MapData | None = None  # what the canvas shows
        self.job: MapLayoutJob | None = None
        self.export_job: ExportMapJob | None = None
        self._select: tuple[int, ...] = ()
        self._highlight: int | None = None  # a photo to centre once its map is shown
        self._stale = False
        self._paths_by_id: dict[int, str] = {}
        mode = settings_value(settings, "map/mode", "tsne", str)
        self.mode = mode if mode in dict(MODE_LABELS) else "tsne"
        colour = settings_value(settings, "map/colour_by", "", str)
        colour = colour if colour in dict(COLOURINGS) else ""

        # -- the toolbar
        bar = self.toolbar = MapToolbar(self.mode, colour, self)
        bar.back_button.clicked.connect(self.close_page)
        for key, action in bar.mode_actions.items():
            action.triggered.connect(partial(self.set_mode, key))
        bar.colour_combo.currentIndexChanged.connect(
            lambda _: self.set_colour_by(bar.colour_combo.currentData() or None))
        bar.fit_action.triggered.connect(lambda: self.canvas.fit_all())
        bar.labels_action.toggled.connect(self.set_show_labels)
        bar.lasso_action.toggled.connect(lambda on: self.canvas.set_lasso_mode(on))
        bar.recompute_action.triggered.connect(self.recompute)
        bar.export_view_action.triggered.connect(self.export_view)
        bar.export_map_action.triggered.connect(self.export_map)

        # -- the canvas, or a line saying why there is none yet
        self.canvas = MapCanvas(controller.library, self, mode=self.mode)
        self.canvas.set_colour_by(colour or None)
        show_labels = settings_value(settings, "map/labels", True, bool)
        self.canvas.set_show_labels(show_labels)
        bar.labels_action.setChecked(show_labels)
        self.canvas.lassoModeChanged.connect(bar.lasso_action.setChecked)
        self.placeholder = QLabel(self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAutoFillBackground(True)  # covers the canvas
        self.placeholder.setStyleSheet("QLabel { background: rgb(22, 22, 26); color: rgb(200, 200, 205); }")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.placeholder)
        # Both always laid out, the current one on top: a canvas that gets its layout while the
        # placeholder shows has its real size, so "fit all" fits the window (a page of a
        # QStackedWidget in the default mode is not resized while it is hidden).
        self.stack.layout().setStackingMode(QStackedLayout.StackingMode.StackAll)
        self.stack.setCurrentWidget(self.placeholder)

        layout = QVBoxLayout(self)
        layout.addWidget(bar)
        layout.addWidget(self.stack, 1)

        # -- progress in the status bar (the main window adds these widgets there)
        self.layout_status = JobStatus("Stop laying out the map", self)
        self.layout_status.cancel_clicked.connect(self.cancel)
        self.export_status = JobStatus("Stop exporting the map", self)
        self.export_status.cancel_clicked.connect(self.cancel_export)

        canvas = self.canvas
        canvas.menu_requested.connect(lambda ids, pos: self.menu_requested.emit(self.paths(ids), pos))
        canvas.photoActivated.connect(self._similar)
        canvas.similarRequested.connect(self._similar)
        canvas.openRequested.connect(self.open_requested)
        canvas.showInFolderRequested.connect(self.show_in_folder_requested)
        canvas.trashRequested.connect(lambda ids: self.trash_requested.emit(self.paths(ids)))
        canvas.trash_key.connect(lambda ids: self.trash_requested.emit(self.paths(ids)))
        canvas.preview_key.connect(self._preview)
        canvas.selectionChanged.connect(lambda _ids: self._update_info())
        controller.photos_changed.connect(self._library_changed)
        controller.photos_removed.connect(self._library_changed)
        controller.model_changed.connect(self._library_changed)
        self._update_actions()

    # -- what is shown -------------------------------------------------------------------------

    def show_scope(self, scope, title: str, select=(), highlight: int | None = None) -> None:
        """Show the map of ``scope``: at once if it is the one shown (and the library has not
        changed since), else laid out (or read from the library's cache) on a worker.
        ``select``: photo ids to select once it is shown (a similar-photos query);
        ``highlight``: a photo to centre, select and ring ("Show on map")."""
        self.title_text = title
        self._select = tuple(int(i) for i in select)
        self._highlight = None if highlight is None else int(highlight)
        current = (self.scope == scope and self.job is not None) or (
            self.data is not None and self.data.scope == scope and not self._stale)
        self.scope = scope
        if not current:
            self._start(recompute=False)
            return
        if self.data is not None and self.data.scope == scope:  # (else: its job is running)
            if len(self.data.layout):
                self.stack.setCurrentWidget(self.canvas)
                if self._select:
                    self.canvas.set_selected_ids(self._select)
                self._apply_highlight()
            else:
                self._show_placeholder(self._empty_text())
        self._update_header()

    def recompute(self) -> None:
        """Lay the shown map out afresh (the old one stays in view meanwhile)."""
        if self.scope is not None:
            self._start(recompute=True)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def has_map(self) -> bool:
        return self.scope is not None

    def is_busy(self) -> bool:
        return self.job is not None

    def paths(self, photo_ids) -> list[str]:
        return [p for p in (self._paths_by_id.get(int(i)) for i in photo_ids) if p]

    def _showing(self) -> bool:
        """The canvas shows a layout of the current scope."""
        return (self.data is not None and self.data.scope == self.scope and len(self.data.layout) > 0
                and self.stack.currentWidget() is self.canvas)

    def _start(self, recompute: bool) -> None:
        if self.job is not None:
            self.job.cancel()  # its late signals are ignored: it is no longer self.job
        job = MapLayoutJob(self.controller.library, self.scope, params=self.params,
                           recompute=recompute, grid=self.mode == "grid")
        job.progress.connect(partial(self._progress, job))
        job.layout_ready.connect(partial(self._layout_ready, job))
        job.succeeded.connect(partial(self._coloured, job))
        job.failed.connect(partial(self._failed, job))
        job.ended.connect(partial(self._ended, job))
        self.job = job
        self._stale = False
        if not self._showing():
            self._show_placeholder(f"Laying out the map of {self._what()}…")
        self.layout_status.started("Laying out the map…")
        self._update_header()
        self.controller.start_job(job)

    def _empty_text(self) -> str:
        if not self.controller.folders:
            return "No folders yet: use File > Add Folder… first."
        return f"No photos of {self._what()} are indexed with the current model yet."

    def _what(self) -> str:
        title = self.title_text
        return title[len("Map of "):] if title.startswith("Map of ") else (title or "the library")

    def _progress(self, job: MapLayoutJob, p) -> None:
        if job is not self.job:
            return
        self.layout_status.update_progress(p.fraction, f"Map: {phase_text(p)}")
        if self.stack.currentWidget() is self.placeholder:
            self.placeholder.setText(f"Laying out the map of {self._what()}…\n\n{phase_text(p)}")

    def _layout_ready(self, job: MapLayoutJob, data: MapData) -> None:
        if job is not self.job:
            return
        data = dataclasses.replace(data)  # the job's thread still holds the one it sent
        old = self.data
        layout = data.layout
        self._paths_by_id = dict(zip((int(i) for i in data.photos.photo_ids), data.photos.paths))
        if len(layout) == 0:
            self.data = data
            self._show_placeholder(self._empty_text())
            self._update_header()
            self.map_shown.emit()
            return
        same_scope = old is not None and old.scope == data.scope and len(old.layout) > 0
        if same_scope and _same_layout(old, data):
            # Nothing moved (a rescan that found nothing, a cache hit): keep the view as it is.
            data.layout, data.colours = old.layout, old.colours
            data.classes, data.labels, data.no_labels = old.classes, old.labels, old.no_labels
            data.gridded = data.gridded or old.gridded
            self.data = data
        else:
            view = self._view_state() if same_scope and self.stack.currentWidget() is self.canvas else None
            need_grid = self.mode == "grid" and not data.gridded
            if need_grid:
                self.canvas.set_mode("tsne")  # until the grid is computed, off this thread
            self.canvas.set_layout(layout, data.photos, _carry_colours(old, data) if same_scope else None)
            self.data = data
            if view is not None:
                self._restore_view(view)
            elif self._select:
                self.canvas.set_selected_ids(self._select)
            if need_grid:
                self._compute_grid(layout)
            elif self.canvas.mode != self.mode:
                self.canvas.set_mode(self.mode)
        self.stack.setCurrentWidget(self.canvas)
        self._apply_highlight()
        self._update_header()
        if self.isVisible():
            self.canvas.setFocus()
        self.map_shown.emit()

    def _apply_highlight(self) -> None:
        if self._highlight is not None and self.canvas.highlight_photo(
                self._highlight, animate=self.isVisible()):
            self._highlight = None

    def _coloured(self, job: MapLayoutJob, data: MapData) -> None:
        if job is not self.job or self.data is None or data.colours is None:
            return
        if np.array_equal(self.data.layout.photo_ids, data.layout.photo_ids):
            self.data.colours = data.colours
            self.data.classes, self.data.labels = data.classes, data.labels
            self.data.no_labels = data.no_labels
            if self.canvas.map_layout() is self.data.layout:
                self.canvas.set_colours(data.colours)
                self.canvas.set_region_labels(data.labels or {})
            self._update_info()

    def _failed(self, job: MapLayoutJob, exc: BaseException) -> None:
        if job is not self.job:
            return
        if isinstance(exc, Cancelled):
            why = "cancelled"
            if self._showing():
                self.status_message.emit("Map: cancelled.")
            else:
                self._show_placeholder("The map was cancelled.\n\nRecompute layout (or View > Map) "
                                       "lays it out again.")
        else:
            why = describe_error(exc)
            if self._showing():
                self.status_message.emit(f"Cannot lay out the map: {why}")
            else:
                self._show_placeholder(f"Cannot lay out the map: {why}")
        self.map_failed.emit(why)

    def _ended(self, job: MapLayoutJob) -> None:
        if job is not self.job:
            return
        self.job = None
        self.layout_status.ended()
        self._update_header()

    def _show_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.stack.setCurrentWidget(self.placeholder)
        self._update_actions()

    def _library_changed(self, *_args) -> None:
        """Photos came, went or changed: the map is updated (photos placed or dropped, seldom laid
        out afresh: see ``layout_cache``) now if it is in view, else when it is next opened."""
        if self.scope is None:
            return
        self._stale = True
        if self.isVisible():
            self._start(recompute=False)

    # -- keeping the view when the same map is updated -----------------------------------------

    def _whole_map_in_view(self) -> bool:
        screen = self.canvas.screen_positions()
        w, h = self.canvas.width(), self.canvas.height()
        return bool(((screen[:, 0] >= 0) & (screen[:, 0] <= w)
                     & (screen[:, 1] >= 0) & (screen[:, 1] <= h)).all())

    def _view_state(self):
        ids = self.canvas.photo_ids
        if not len(ids):
            return None
        screen = self.canvas.screen_positions()
        w, h = self.canvas.width(), self.canvas.height()
        centre = int(np.argmin(((screen - (w / 2, h / 2)) ** 2).sum(axis=1)))
        return (self._whole_map_in_view(), int(ids[centre]), self.canvas.item_size_px(),
                self.canvas.selected_ids())

    def _restore_view(self, view) -> None:
        whole, centre, item_px, selected = view
        if not whole:
            self.canvas.zoom_to_photo(centre, item_px=item_px, animate=False)
        self.canvas.set_selected_ids(selected)

    # -- mode, colours -------------------------------------------------------------------------

    def set_mode(self, mode: str, _checked=None) -> None:
        """"tsne" (free map) or "grid" (tidy grid). The grid is computed once per layout, on a
        worker."""
        if mode not in dict(MODE_LABELS):
            raise ValueError(f"unknown map mode {mode!r}")
        self.mode = mode
        self.toolbar.mode_actions[mode].setChecked(True)
        self.controller.settings.setValue("map/mode", mode)
        if self.job is not None:
            self.job.grid = mode == "grid"  # read by the job once the layout is known
        layout = self.canvas.map_layout()
        if mode == "grid" and layout is not None and len(layout) and not (
                self.data is not None and self.data.layout is layout and self.data.gridded):
            self._compute_grid(layout)
            return
        self._switch_canvas(mode)

    def _switch_canvas(self, mode: str) -> None:
        """The canvas keeps the photo in the middle; a view of the whole map stays whole."""
        whole = self.canvas.map_layout() is not None and self._whole_map_in_view()
        self.canvas.set_mode(mode)
        if whole:
            self.canvas.fit_all(animate=False)

    def _compute_grid(self, layout) -> None:
        self.status_message.emit("Arranging the tidy grid…")
        self.controller.reads.run(layout.grid, on_result=lambda _: self._grid_ready(layout))

    def _grid_ready(self, layout) -> None:
        if self.data is None or self.data.layout is not layout:
            return
        self.data.gridded = True
        self.status_message.emit("")
        data = self.data
        if data.classes is not None and data.labels is not None and "grid" not in data.labels:
            from simdesk.core.map.labels import region_labels

            classes = data.classes
            self.controller.reads.run(
                lambda: region_labels(layout.positions("grid"), classes),
                on_result=lambda labels: self._grid_labels(layout, labels))
        if self.mode == "grid" and self.canvas.map_layout() is layout:
            self._switch_canvas("grid")

    def _grid_labels(self, layout, labels) -> None:
        if self.data is None or self.data.layout is not layout or self.data.labels is None:
            return
        self.data.labels = {**self.data.labels, "grid": labels}
        if self.canvas.map_layout() is layout:
            self.canvas.set_region_labels(self.data.labels)

    def set_show_labels(self, show: bool) -> None:
        """Region captions on or off (kept in the settings)."""
        self.canvas.set_show_labels(show)
        if self.toolbar.labels_action.isChecked() != bool(show):
            self.toolbar.labels_action.setChecked(bool(show))
        self.controller.settings.setValue("map/labels", bool(show))

    def set_colour_by(self, what: str | None) -> None:
        """None (each photo's own colours), "folder" or "date"."""
        self.canvas.set_colour_by(what)
        index = [k for k, _ in COLOURINGS].index(what or "")
        if self.toolbar.colour_combo.currentIndex() != index:
            self.toolbar.colour_combo.setCurrentIndex(index)
        self.controller.settings.setValue("map/colour_by", what or "")
        self._update_legend()

    # -- header --------------------------------------------------------------------------------

    def _update_header(self) -> None:
        self.toolbar.title.setText(self.title_text)
        self._update_info()
        self._update_legend()
        self._update_actions()

    def _update_info(self) -> None:
        data = self.data
        if data is None or data.scope != self.scope:
            self.toolbar.info.setText("Laying out…" if self.job is not None else "")
            return
        layout = data.layout
        n = len(layout)
        parts = [f"{n:,} photo{'s' if n != 1 else ''}"]
        if layout.source == "cache" and layout.reused_from:
            parts.append(f"same photos as the map of {layout.reused_from}: its layout reused")
        elif layout.source == "cache":
            parts.append("layout kept in the library")
        elif layout.source == "updated":
            changes = []
            if layout.added:
                changes.append(f"{layout.added:,} new placed")
            if layout.removed:
                changes.append(f"{layout.removed:,} gone dropped")
            parts.append(", ".join(changes) or "layout updated")
        elif n:
            parts.append(f"laid out in {data.seconds:.1f} s")
        selected = len(self.canvas.selected_ids()) if self.canvas.map_layout() is layout else 0
        if selected:
            parts.append(f"{selected:,} selected")
        if data.no_labels:
            parts.append(data.no_labels)
        elif data.labels is not None and not data.labels.get(self.canvas.mode, [1]):
            parts.append("no region dense and alike enough to name")
        if self.job is not None:
            parts.append("updating…")
        self.toolbar.info.setText(" · ".join(parts))

    def _update_legend(self) -> None:
        entries = self.canvas.legend() if self.canvas.map_layout() is not None else []
        self.toolbar.show_legend(entries, self.canvas.colour_by)

    def _update_actions(self) -> None:
        shown = self.stack.currentWidget() is self.canvas and self.canvas.map_layout() is not None
        self.toolbar.fit_action.setEnabled(shown)
        self.toolbar.export_view_action.setEnabled(shown)
        self.toolbar.export_map_action.setEnabled(shown and self.export_job is None)
        self.toolbar.recompute_action.setEnabled(self.scope is not None)

    # -- photos --------------------------------------------------------------------------------

    def _similar(self, photo_id: int) -> None:
        paths = self.paths([photo_id])
        if paths:
            self.similar_requested.emit(paths[0])

    def _preview(self, photo_id: int) -> None:
        paths = self.paths([photo_id])
        if paths:
            self.preview_requested.emit(paths[0])

    # -- export --------------------------------------------------------------------------------

    def _ask_png(self, caption: str, name: str) -> str | None:
        settings = self.controller.settings
        folder = settings_value(settings, "map/export_dir", os.path.expanduser("~"), str)
        path, _ = QFileDialog.getSaveFileName(self, caption, os.path.join(folder, name),
                                              "PNG images (*.png)")
        if not path:
            return None
        if not path.lower().endswith(".png"):
            path += ".png"
        settings.setValue("map/export_dir", os.path.dirname(path))
        return path

    def export_view(self) -> None:
        """Save what the canvas shows now as a PNG (at the screen's pixel density)."""
        if not self.toolbar.export_view_action.isEnabled():
            return
        path = self._ask_png("Export the view as PNG", "simdesk-map-view.png")
        if path is None:
            return
        try:
            size = self.canvas.export_view(path, scale=max(1.0, self.devicePixelRatioF()))
        except OSError as exc:
            self.status_message.emit(f"Cannot save {path}: {describe_error(exc)}")
            return
        self.status_message.emit(f"Saved {path} ({size.width()}×{size.height()})")
        self.exported.emit(path)

    def export_map(self) -> None:
        """Draw the whole map (not just the view) into a PNG, on a worker, in the shown mode and
        colouring."""
        data = self.data
        if not self.toolbar.export_map_action.isEnabled() or data is None or not len(data.layout):
            return
        path = self._ask_png("Export the whole map as PNG", "simdesk-map.png")
        if path is None:
            return
        n = len(data.layout)
        job = ExportMapJob(self.controller.library, path, data.layout, mode=self.canvas.mode,
                           colour_by=self.canvas.colour_by, size=export_size(n),
                           title=f"{self.title_text} ({n:,} photos)")
        job.progress.connect(lambda p: self.export_status.update_progress(p.fraction, f"Export: {phase_text(p)}"))
        job.succeeded.connect(partial(self._export_done, path))
        job.failed.connect(self._export_failed)
        job.ended.connect(self._export_ended)
        self.export_job = job
        self.export_status.started("Exporting the map…")
        self._update_actions()
        self.controller.start_job(job)

    def cancel_export(self) -> None:
        if self.export_job is not None:
            self.export_job.cancel()

    def _export_done(self, path: str, result) -> None:
        self.status_message.emit(f"Saved {path} ({result.width}×{result.height}, "
                                 f"{result.drawn:,} of {result.total:,} photos drawn)")
        self.exported.emit(path)

    def _export_failed(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self.status_message.emit("Export cancelled.")
        else:
            self.status_message.emit(f"Cannot export the map: {describe_error(exc)}")

    def _export_ended(self) -> None:
        self.export_job = None
        self.export_status.ended()
        self._update_actions()

    # -- keys, shutdown ------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Escape, Qt.Key.Key_Backspace) or (
                key == Qt.Key.Key_Left and mods & Qt.KeyboardModifier.AltModifier):
            self.close_page()
            event.accept()
            return
        super().keyPressEvent(event)

    def close_page(self) -> None:
        """Back to the previous page. A layout in progress goes on (its Cancel stays in the
        status bar) and is shown when the map is opened again."""
        self.closed.emit()

    def shutdown(self) -> None:
        self.cancel()
        self.cancel_export()
        self.canvas.shutdown()


def _same_layout(old: MapData, new: MapData) -> bool:
    a, b = old.layout, new.layout
    return (np.array_equal(a.photo_ids, b.photo_ids) and np.array_equal(a.coords, b.coords)
            and old.photos.paths == new.photos.paths)


def _carry_colours(old: MapData | None, new: MapData) -> np.ndarray | None:
    """The colours already known for the photos still on an updated map (grey for new ones)."""
    if old is None or old.colours is None or not len(old.layout):
        return None
    old_ids, new_ids = old.layout.photo_ids, new.layout.photo_ids
    at = np.clip(np.searchsorted(old_ids, new_ids), 0, len(old_ids) - 1)
    found = old_ids[at] == new_ids
    colours = np.full((len(new_ids), 3), GREY, dtype=np.uint8)
    colours[found] = old.colours[at[found]]
    return colours
