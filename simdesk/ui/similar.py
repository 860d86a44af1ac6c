"""The similar-photos view: the query photo and the ranked results, each with its similarity."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from simdesk.ui.controller import AppController, SimilarOutcome, describe_error
from simdesk.ui.grid import PhotoGrid
from simdesk.ui.photomodel import PhotoListing, PhotoListModel
from simdesk.ui.settings import settings_value

QUERY_SIDE = 300
DEFAULT_K = 30


class SimilarView(QWidget):
    """``show_query(path)`` runs a query; hopping to a result's similar photos pushes the previous
    query on a history that Back (Backspace, Alt+Left) walks; Esc closes the view (``closed``)."""

    closed = Signal()
    results_shown = Signal()
    map_requested = Signal()  # "Show on map": the main window opens the map of these results

    def __init__(self, controller: AppController, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.history: list[str] = []
        self.query: str | None = None
        self.outcome: SimilarOutcome | None = None
        self.error: str | None = None
        self._task = None
        self._image_task = None

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
        header = QHBoxLayout()
        header.addWidget(self.back_button)
        header.addWidget(self.title, 1)
        header.addWidget(self.map_button)
        header.addWidget(QLabel("Show", self))
        header.addWidget(self.k_spin)

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
        left.addWidget(QLabel("Query photo", self))
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

    # -- queries -------------------------------------------------------------------------------

    def show_query(self, path: str, push_history: bool = True) -> None:
        if push_history and self.query is not None and self.query != path:
            self.history.append(self.query)
        self.query = path
        self.outcome = None
        self.error = None
        name = os.path.basename(path)
        self.title.setText(f"Photos similar to {name}")
        self.query_path.setText(path)
        self.query_note.setText("")
        self.query_image.setPixmap(QPixmap())
        self.query_image.setText("Loading…")
        self.status.setText("Searching…")
        self.map_button.setEnabled(False)
        self.model.set_listing(PhotoListing())
        self._load_query_image(path, None)
        self.rerun()

    def rerun(self) -> None:
        if self.query is None:
            return
        if self._task is not None:
            self._task.cancel()
        path = self.query
        self._task = self.controller.similar(
            path, self.k_spin.value(),
            on_result=lambda outcome: self._shown(path, outcome),
            on_error=lambda exc: self._failed(path, exc))

    def _shown(self, path: str, outcome: SimilarOutcome) -> None:
        if path != self.query:
            return
        self._task = None
        self.outcome = outcome
        result = outcome.result
        self.model.set_listing(outcome.listing)
        self.map_button.setEnabled(bool(result.matches))
        others = outcome.library_size - (1 if result.in_library else 0)
        self.status.setText(
            f"The {len(result.matches):,} most similar of {others:,} photos · "
            f"{result.model}, {result.pooling} pooling · similarity: cosine, 1.0 = same picture")
        self.query_note.setText(
            "In the library." if result.in_library
            else "Not in the library (or changed since indexing): embedded just now.")
        if self.query_image.pixmap().isNull() and outcome.query_hash is not None:
            self._load_query_image(path, outcome.query_hash)
        if not self.grid.hasFocus() and self.isVisible():
            self.grid.setFocus()
        self.grid.select_first()
        self.results_shown.emit()

    def _failed(self, path: str, exc: BaseException) -> None:
        if path != self.query:
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
            self.show_query(self.history.pop(), push_history=False)
        else:
            self.close_view()

    def close_view(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.history.clear()
        self.query = None
        self.closed.emit()
