"""A large preview of one photo (Space in a grid); Space or Esc closes it."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeyEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import QDialog, QLabel, QSizePolicy, QVBoxLayout

from simdesk.ui.controller import AppController
from simdesk.ui.settings import PersistentGeometry


class PreviewDialog(PersistentGeometry, QDialog):
    geometry_key = "preview"

    def __init__(self, controller: AppController, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Preview")
        self.image_label = QLabel("Loading…", self)
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.image_label.setMinimumSize(200, 150)
        self.caption = QLabel(self)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.image_label, 1)
        layout.addWidget(self.caption)
        self.path: str | None = None
        self._pixmap: QPixmap | None = None
        self._task = None
        self.resize(900, 700)
        self.restore_geometry(controller.settings)

    def show_photo(self, path: str, content_hash: bytes | None = None) -> None:
        self.path = path
        self._pixmap = None
        self.image_label.setPixmap(QPixmap())
        self.image_label.setText("Loading…")
        self.caption.setText(path)
        self.setWindowTitle(os.path.basename(path))
        if self._task is not None:
            self._task.cancel()
        screen = QGuiApplication.primaryScreen()
        side = 1600
        if screen is not None:
            geometry = screen.availableGeometry()
            side = int(max(geometry.width(), geometry.height()) * screen.devicePixelRatio())
        self._task = self.controller.load_image(path, side, content_hash, self._loaded)
        self.show()
        self.raise_()
        self.activateWindow()

    def _loaded(self, image) -> None:
        self._task = None
        if image is None:
            self.image_label.setText("This photo cannot be shown (unreadable or gone).")
            return
        self._pixmap = QPixmap.fromImage(image)
        self._fit()

    def _fit(self) -> None:
        if self._pixmap is not None:
            self.image_label.setPixmap(self._pixmap.scaled(
                self.image_label.size(), Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Escape):
            self.close()
            event.accept()
            return
        super().keyPressEvent(event)

    def done(self, result: int) -> None:
        self.save_geometry()
        super().done(result)

    def closeEvent(self, event) -> None:
        self.save_geometry()
        super().closeEvent(event)
