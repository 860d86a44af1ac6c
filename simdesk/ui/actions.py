"""What can be done to photos, from any grid: the one context menu and its actions."""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from simdesk.ui.controller import AppController
from simdesk.ui.reveal import reveal


def confirm_trash(parent: QWidget, paths: list[str]) -> bool:
    """Ask before moving files to the Trash (tests replace this function)."""
    if len(paths) == 1:
        text = f"Move “{os.path.basename(paths[0])}” to the Trash?"
    else:
        text = f"Move {len(paths):,} photos to the Trash?"
    undo = QKeySequence(QKeySequence.StandardKey.Undo).toString(QKeySequence.SequenceFormat.NativeText)
    answer = QMessageBox.question(
        parent, "Move to Trash",
        text + f"\n\nEdit > Undo ({undo or 'Ctrl+Z'}) puts {'it' if len(paths) == 1 else 'them'} back; "
        "the system Trash keeps them too.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


class PhotoActions(QObject):
    """Builds the photo context menu and carries out its actions.

    ``similar_requested(path)``, ``similar_many_requested(paths)`` and ``preview_requested(path)``
    are for the main window to act on.
    """

    similar_requested = Signal(str)
    similar_many_requested = Signal(list)  # several photos: those like all of them
    preview_requested = Signal(str)
    map_requested = Signal(str)  # "Show on map": the path of the photo to centre

    def __init__(self, controller: AppController, window: QWidget):
        super().__init__(window)
        self.controller = controller
        self.window = window

    def menu(self, paths: list[str], parent: QWidget | None = None) -> QMenu:
        menu = QMenu(parent or self.window)
        first = paths[0]
        if len(paths) > 1:
            similar = menu.addAction(f"Show photos similar to these {len(paths):,}")
            similar.triggered.connect(lambda: self.similar_many_requested.emit(list(paths)))
            single = menu.addAction(f"Show photos similar to {os.path.basename(first)}")
            single.triggered.connect(lambda: self.similar_requested.emit(first))
        else:
            similar = menu.addAction("Show similar photos")
            similar.triggered.connect(lambda: self.similar_requested.emit(first))
        similar.setShortcut(QKeySequence(QKeySequence.StandardKey.InsertParagraphSeparator))
        preview = menu.addAction("Preview")
        preview.setShortcut(QKeySequence("Space"))
        preview.triggered.connect(lambda: self.preview_requested.emit(first))
        on_map = menu.addAction("Show on map")
        on_map.setToolTip("Centre this photo on the cluster map and ring it")
        on_map.triggered.connect(lambda: self.map_requested.emit(first))
        menu.addSeparator()
        open_action = menu.addAction("Open" if len(paths) == 1 else f"Open {len(paths)} photos")
        open_action.setShortcut(QKeySequence("Ctrl+O"))
        open_action.triggered.connect(lambda: self.open(paths))
        menu.addAction("Show in folder").triggered.connect(lambda: self.show_in_folder(first))
        copy = menu.addAction("Copy path" if len(paths) == 1 else "Copy paths")
        copy.triggered.connect(lambda: self.copy_paths(paths))
        menu.addSeparator()
        trash = menu.addAction("Move to Trash…")
        trash.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        trash.triggered.connect(lambda: self.trash(paths))
        for action in menu.actions():
            action.setShortcutVisibleInContextMenu(True)
        return menu

    def open(self, paths: list[str]) -> None:
        for path in paths[:20]:  # a stray Ctrl+A must not open thousands of windows
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def show_in_folder(self, path: str) -> None:
        reveal(path)  # selected in the file manager where the desktop allows it

    def copy_paths(self, paths: list[str]) -> None:
        QGuiApplication.clipboard().setText("\n".join(paths))

    def trash(self, paths: list[str]) -> bool:
        if not paths or not confirm_trash(self.window, paths):
            return False
        self.controller.trash(paths)
        return True
