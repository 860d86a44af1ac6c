"""The similar-photos view: the query photo (or photos) and the ranked results, each with its
similarity, narrowed by a minimum similarity and a scope (the folder chosen, or everywhere)."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from simdesk.core.library import QUERY_EXPANSION
from simdesk.core.search import EmbeddingIndex
from simdesk.ui.controller import AppController, SimilarOutcome, describe_error
from simdesk.ui.grid import PhotoGrid
from simdesk.ui.photomodel import PhotoListing, PhotoListModel
from simdesk.ui.settings import settings_value

QUERY_SIDE = 300
DEFAULT_K = 30
DEFAULT_MIN = 0  # hundredths: the slider's 0 is "no minimum"


def names(paths: list[str], most: int = 3) -> str:
    """``a.jpg``, ``a.jpg and b.jpg``, ``a.jpg, b.jpg and 3 more``."""
    shown = [os.path.basename(p) for p in paths[:most]]
    if len(paths) > most:
        return f"{', '.join(shown)} and {len(paths) - most} more"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


class SimilarView(QWidget):
    """``show_query(path)`` runs a query, ``show_queries(paths)`` one with several photos (their
    mean direction); hopping to a result's similar photos pushes the previous query on a history
    that Back (Backspace, Alt+Left) walks; Esc closes the view (``closed``). ``set_folder`` tells
    it the folder chosen in the sidebar, which the scope box offers."""

    closed = Signal()
    results_shown = Signal()
    map_requested = Signal()  # "Show on map": the main window opens the map of these results

    def __init__(self, controller: AppController, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.history: list[list[str]] = []
        self.queries: list[str] = []
        self.query: str | None = None  # the first of the queries
        self.folder: str | None = None  # the sidebar's folder, offered as the scope
        self.outcome: SimilarOutcome | None = None
        self.error: str | None = None
        self._task = None
        self._image_task = None
        self._mosaic_tasks: list = []

        self.back_button = QToolButton(self)
        self.back_button.setText("← Back")
        self.back_button.setToolTip("Back to the previous query, or to browsing (Esc closes)")
        self.back_button.clicked.connect(self.back)
        self.title = QLabel(self)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        self.k_spin = QSpinBox(self)
        self.k_spin.setRange(1, 1000)
        self.k_spin.setValue(settings_value(controller.settings, "similar/k", DEFAULT_K, int))
        self.k_spin.setSuffix(" results")
        self.k_spin.setToolTip("How many similar photos to show")
        self.k_spin.valueChanged.connect(self._k_changed)
        self.map_button = QToolButton(self)
        self.map_button.setText("Show on map")
        self.map_button.setToolTip("These photos and the query on the cluster map (Ctrl+M)")
        self.map_button.setEnabled(False)
        self.map_button.clicked.connect(self.map_requested)
        settings = controller.settings
        self.min_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.min_slider.setRange(0, 100)
        self.min_slider.setSingleStep(1)
        self.min_slider.setPageStep(5)
        self.min_slider.setFixedWidth(160)
        self.min_slider.setValue(max(0, min(100, settings_value(settings, "similar/min", DEFAULT_MIN, int))))
        self.min_slider.setToolTip("Only photos at least this similar to the query (left end: any)")
        self.min_slider.valueChanged.connect(self._min_changed)
        self.min_label = QLabel(self)
        self.min_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("0.00") + 8)
        self.scope_combo = QComboBox(self)
        self.scope_combo.setToolTip("Search the folder chosen in the sidebar, or the whole library")
        self._scope_choice = settings_value(settings, "similar/scope", "folder", str)
        self.scope_combo.activated.connect(self._scope_chosen)
        header = QHBoxLayout()
        header.addWidget(self.back_button)
        header.addWidget(self.title, 1)
        header.addWidget(self.map_button)
        header.addWidget(QLabel("At least", self))
        header.addWidget(self.min_slider)
        header.addWidget(self.min_label)
        header.addWidget(self.scope_combo)
        header.addWidget(QLabel("Show", self))
        header.addWidget(self.k_spin)
        self._show_min()
        self._fill_scopes()

        self.query_image = QLabel(self)
        self.query_image.setFixedSize(QUERY_SIDE, QUERY_SIDE)
        self.query_image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.query_image.setStyleSheet("background: palette(base); border: 1px solid palette(mid);")
        self.query_path = QLabel(self)
        self.query_path.setWordWrap(True)
        self.query_path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.query_path.setMaximumWidth(QUERY_SIDE)
        self.query_note = QLabel(self)
        self.query_note.setWordWrap(True)
        self.query_note.setMaximumWidth(QUERY_SIDE)
        self.query_note.setEnabled(False)
        left = QVBoxLayout()
        self.query_heading = QLabel("Query photo", self)
        left.addWidget(self.query_heading)
        left.addWidget(self.query_image)
        left.addWidget(self.query_path)
        left.addWidget(self.query_note)
        left.addStretch(1)

        self.model = PhotoListModel(controller.thumbnails, self)
        self.grid = PhotoGrid(show_similarity=True, parent=self)
        self.grid.setModel(self.model)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        right = QVBoxLayout()
        right.addWidget(self.status)
        right.addWidget(self.grid, 1)

        body = QHBoxLayout()
        body.addLayout(left)
        body.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(body, 1)

        self._k_timer = QTimer(self)
        self._k_timer.setSingleShot(True)
        self._k_timer.setInterval(300)
        self._k_timer.timeout.connect(self.rerun)
        controller.photos_removed.connect(self._photos_removed)

    # -- narrowing -----------------------------------------------------------------------------

    @property
    def min_similarity(self) -> float | None:
        value = self.min_slider.value()
        return value / 100 if value > 0 else None

    def _show_min(self) -> None:
        value = self.min_similarity
        self.min_label.setText("any" if value is None else f"{value:.2f}")

    def _min_changed(self, value: int) -> None:
        self.controller.settings.setValue("similar/min", value)
        self._show_min()
        self._k_timer.start()

    @property
    def scope(self) -> str | None:
        """The folder searched, or None for the whole library."""
        return self.scope_combo.currentData() or None

    def set_folder(self, folder: str | None) -> None:
        """The folder chosen in the sidebar (None: all photos); the scope box offers it."""
        if folder != self.folder:
            self.folder = folder
            self._fill_scopes()

    def _fill_scopes(self) -> None:
        combo = self.scope_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("Whole library", "")
        if self.folder:
            name = os.path.basename(self.folder.rstrip(os.sep)) or self.folder
            combo.addItem(f"In {name}", self.folder)
            combo.setItemData(1, self.folder, Qt.ItemDataRole.ToolTipRole)
            if self._scope_choice == "folder":
                combo.setCurrentIndex(1)
        combo.setEnabled(combo.count() > 1)
        combo.blockSignals(False)

    def _scope_chosen(self, _index: int) -> None:
        self._scope_choice = "folder" if self.scope else "library"
        self.controller.settings.setValue("similar/scope", self._scope_choice)
        self.rerun()

    # -- queries -------------------------------------------------------------------------------

    def show_query(self, path: str, push_history: bool = True) -> None:
        self.show_queries([path], push_history)

    def show_queries(self, paths: list[str], push_history: bool = True) -> None:
        """The photos most like all of ``paths`` (one or several)."""
        paths = list(dict.fromkeys(paths))
        if push_history and self.queries and self.queries != paths:
            self.history.append(self.queries)
        self.queries = paths
        self.query = paths[0]
        self.outcome = None
        self.error = None
        self.title.setText(f"Photos similar to {names(paths)}")
        self.query_path.setText("\n".join(paths[:5]) + (f"\n… {len(paths) - 5} more" if len(paths) > 5 else ""))
        self.query_note.setText("")
        self.query_image.setPixmap(QPixmap())
        self.query_image.setText("Loading…")
        self.status.setText("Searching…")
        self.map_button.setEnabled(False)
        self.model.set_listing(PhotoListing())
        self.query_heading.setText("Query photo" if len(paths) == 1 else f"Query: {len(paths)} photos")
        if len(paths) == 1:
            self._load_query_image(paths[0], None)
        else:
            self._load_mosaic(paths[:4])
        self.rerun()

    def rerun(self) -> None:
        if self.query is None:
            return
        if self._task is not None:
            self._task.cancel()
        paths = list(self.queries)
        self._task = self.controller.similar(
            paths if len(paths) > 1 else paths[0], self.k_spin.value(),
            on_result=lambda outcome: self._shown(paths, outcome),
            on_error=lambda exc: self._failed(paths, exc),
            min_similarity=self.min_similarity, folder=self.scope)

    def _shown(self, paths: list[str], outcome: SimilarOutcome) -> None:
        if paths != self.queries:
            return
        self._task = None
        self.outcome = outcome
        result = outcome.result
        self.model.set_listing(outcome.listing)
        self.map_button.setEnabled(bool(result.matches))
        n = len(result.matches)
        where = f"in {os.path.basename(self.scope.rstrip(os.sep))}" if self.scope else "in the library"
        if self.min_similarity is None:
            found = f"The {n:,} most similar of {outcome.searched:,} photos {where}"
        else:
            found = (f"{n:,} photo{'s' if n != 1 else ''} at least {self.min_similarity:.2f} similar"
                     + (" (the most shown)" if n == self.k_spin.value() else "")
                     + f", of {outcome.searched:,} {where}")
        several = " · the query: the mean direction of the photos" if len(paths) > 1 else ""
        expanded = (" · ranked with query expansion"
                    if outcome.searched >= EmbeddingIndex.MIN_TO_EXPAND else "")
        self.status.setText(
            f"{found}{several} · {result.model}, {result.pooling} pooling · "
            f"similarity: cosine, 1.0 = same picture{expanded}")
        self.status.setToolTip(
            f"The {EmbeddingIndex.EXPAND_KEEPS} most similar photos come first; the others are "
            f"ranked by how alike they are to the query and to the query averaged with its "
            f"{QUERY_EXPANSION} nearest photos (query expansion: more of the right photos in the "
            "first 30), so a later one can show a slightly higher similarity. The number shown "
            "is the cosine to the query, and \u201cAt least\u201d applies to it.")
        if len(paths) > 1:
            self.query_note.setText(
                f"{len(paths)} photos" + ("." if result.in_library
                                         else "; some not in the library: embedded just now."))
        else:
            self.query_note.setText(
                "In the library." if result.in_library
                else "Not in the library (or changed since indexing): embedded just now.")
        if len(paths) == 1 and self.query_image.pixmap().isNull() and outcome.query_hash is not None:
            self._load_query_image(paths[0], outcome.query_hash)
        if not self.grid.hasFocus() and self.isVisible():
            self.grid.setFocus()
        self.grid.select_first()
        self.results_shown.emit()

    def _failed(self, paths: list[str], exc: BaseException) -> None:
        if paths != self.queries:
            return
        self._task = None
        self.error = describe_error(exc)
        self.status.setText(f"Cannot search: {self.error}")
        self.results_shown.emit()

    def _load_query_image(self, path: str, fallback_hash: bytes | None) -> None:
        if self._image_task is not None:
            self._image_task.cancel()

        def loaded(image) -> None:
            self._image_task = None
            if path != self.query:
                return
            if image is None:
                if fallback_hash is None:
                    self.query_image.setText("No preview")
                return
            pixmap = QPixmap.fromImage(image).scaled(
                QUERY_SIDE - 4, QUERY_SIDE - 4, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation)
            self.query_image.setPixmap(pixmap)

        self._image_task = self.controller.load_image(path, QUERY_SIDE * 2, fallback_hash, loaded)

    def _load_mosaic(self, paths: list[str]) -> None:
        """Several query photos: up to four of them, two by two, in the query box."""
        for task in self._mosaic_tasks:
            task.cancel()
        queries = list(self.queries)
        images: dict[str, object] = {}
        cell = (QUERY_SIDE - 6) // 2

        def loaded(path: str, image) -> None:
            if self.queries != queries:
                return
            images[path] = image
            pixmap = QPixmap(QUERY_SIDE - 2, QUERY_SIDE - 2)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            for i, p in enumerate(paths):
                if images.get(p) is None:
                    continue
                tile = QPixmap.fromImage(images[p]).scaled(
                    cell, cell, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
                x = 2 + (i % 2) * (cell + 2) + (cell - tile.width()) // 2
                y = 2 + (i // 2) * (cell + 2) + (cell - tile.height()) // 2
                painter.drawPixmap(x, y, tile)
            painter.end()
            self.query_image.setPixmap(pixmap)

        self._mosaic_tasks = [
            self.controller.load_image(path, QUERY_SIDE, None, lambda image, p=path: loaded(p, image))
            for path in paths]

    def _k_changed(self, value: int) -> None:
        self.controller.settings.setValue("similar/k", value)
        self._k_timer.start()

    def _photos_removed(self, paths: list) -> None:
        self.model.remove_paths(paths)

    # -- navigation ----------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Keys the grid (or the spin box) did not use: Esc closes, Backspace/Alt+Left go back."""
        key, mods = event.key(), event.modifiers()
        if key == Qt.Key.Key_Escape:
            self.close_view()
        elif key == Qt.Key.Key_Backspace or (key == Qt.Key.Key_Left and mods & Qt.KeyboardModifier.AltModifier):
            self.back()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def back(self) -> None:
        if self.history:
            self.show_queries(self.history.pop(), push_history=False)
        else:
            self.close_view()

    def close_view(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.history.clear()
        self.queries = []
        self.query = None
        self.closed.emit()
