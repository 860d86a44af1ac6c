"""The main window: menus, the page stack (welcome, browse, similar, map), the status bar, drops."""

from __future__ import annotations

import os

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from simdesk import __version__
from simdesk.core.decode import IMAGE_EXTENSIONS
from simdesk.core.map.cache import MapScope
from simdesk.ui.actions import PhotoActions
from simdesk.ui.browse import ORDERS, BrowseView
from simdesk.ui.controller import AppController
from simdesk.ui.duplicates_page import DuplicatesPage
from simdesk.ui.grid import DEFAULT_THUMB, PhotoGrid, next_zoom
from simdesk.ui.map_page import MapPage
from simdesk.ui.photomodel import HashRole, role_data
from simdesk.ui.preview import PreviewDialog
from simdesk.ui.problems import ProblemsDialog
from simdesk.ui.settings import PersistentGeometry, settings_value
from simdesk.ui.similar import SimilarView, names
from simdesk.ui.status import index_progress, index_status, report_summary
from simdesk.ui.welcome import WelcomePage, local_folders


def is_image_file(path: str) -> bool:
    return os.path.isfile(path) and os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def dropped_images(mime) -> list[str]:
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and is_image_file(u.toLocalFile())]


class MessageBar(QFrame):
    """A dismissable line above the pages for things the user must see (not just a status tip)."""

    action_clicked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("MessageBar { background: #fff4ce; border: 1px solid #e0c060; } "
                           "QLabel { color: #3b2f00; }")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action_button = QPushButton(self)
        self.action_button.setVisible(False)
        self.action_button.clicked.connect(self.action_clicked)
        close = QToolButton(self)
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action_button)
        layout.addWidget(close)
        self.messages: list[str] = []
        self.setVisible(False)

    def show_message(self, text: str, action: str | None = None) -> None:
        self.messages.append(text)
        self.label.setText(text)
        self.action_button.setText(action or "")
        self.action_button.setVisible(bool(action))
        self.setVisible(True)



class PageStack(QStackedWidget):
    """The window's pages. Only the page shown sets the window's minimum size: the duplicates
    page's rows of controls must not stop the browsing page from being made narrow."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layout().setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.currentChanged.connect(lambda _index: self.updateGeometry())

    def minimumSizeHint(self) -> QSize:
        page = self.currentWidget()
        return page.minimumSizeHint() if page is not None else super().minimumSizeHint()

class MainWindow(PersistentGeometry, QMainWindow):
    geometry_key = "main"

    def __init__(self, controller: AppController, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.settings = controller.settings
        self.setWindowTitle("simdesk")
        self.setAcceptDrops(True)
        self.thumb_size = settings_value(self.settings, "view/thumb_size", DEFAULT_THUMB, int)

        self.actions_ = PhotoActions(controller, self)
        self.actions_.similar_requested.connect(self.show_similar)
        self.actions_.similar_many_requested.connect(self.show_similar_many)
        self.actions_.preview_requested.connect(self.preview)

        self.welcome = WelcomePage(controller, self)
        self.browse = BrowseView(controller, self)
        self.similar = SimilarView(controller, self)
        self.map_page = MapPage(controller, self)
        self.pages = PageStack(self)
        for page in (self.welcome, self.browse, self.similar, self.map_page):
            self.pages.addWidget(page)
        self._back_pages: list[QWidget] = []  # the pages Esc goes back to, the last one first
        self.message_bar = MessageBar(self)
        self.message_bar.action_clicked.connect(self.open_setup)
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(6, 6, 6, 0)
        column.addWidget(self.message_bar)
        column.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self._set_display_side()
        for grid in self.grids:
            grid.set_thumb_size(self.thumb_size)
            grid.open_requested.connect(self.show_similar)
            grid.open_many_requested.connect(self.show_similar_many)
            grid.preview_requested.connect(self.preview)
            grid.trash_requested.connect(self.actions_.trash)
            grid.menu_requested.connect(self.photo_menu)
            grid.zoom_requested.connect(self.zoom)

        self.index_status = index_status(self)
        self.index_status.cancel_clicked.connect(controller.cancel_index)
        self.statusBar().addPermanentWidget(self.index_status)
        self.statusBar().addPermanentWidget(self.map_page.layout_status)
        self.statusBar().addPermanentWidget(self.map_page.export_status)
        self.duplicates = DuplicatesPage(controller, self)
        self.pages.addWidget(self.duplicates)
        self.duplicates.closed.connect(self.show_browse)
        self.statusBar().addPermanentWidget(self.duplicates.status_widget)
        controller.photos_removed.connect(lambda _paths: self.duplicates.check_trash())  # Edit > Undo

        self.welcome.setup_done.connect(self._setup_done)
        self.browse.add_folder_requested.connect(self.choose_folder)
        self.browse.remove_folder_requested.connect(self.remove_folder)
        self.browse.reference_folder_toggled.connect(self.duplicates.set_reference_folder)
        self.similar.closed.connect(self.close_similar)
        self.similar.map_requested.connect(self.show_similar_on_map)
        self.map_page.closed.connect(self._go_back)
        self.map_page.similar_requested.connect(self.show_similar)
        self.map_page.preview_requested.connect(self.preview)
        self.map_page.menu_requested.connect(self.photo_menu)
        self.actions_.map_requested.connect(self.show_on_map)
        self.map_page.open_requested.connect(self.actions_.open)
        self.map_page.show_in_folder_requested.connect(self.actions_.show_in_folder)
        self.map_page.trash_requested.connect(self.actions_.trash)
        self.map_page.status_message.connect(
            lambda text: self.statusBar().showMessage(text, 10000) if text else self.statusBar().clearMessage())
        controller.notice.connect(self.notify)
        controller.index_started.connect(lambda: self.index_status.started("Scanning…"))
        controller.index_progress.connect(lambda p: self.index_status.show_progress(*index_progress(p)))
        controller.index_finished.connect(self._index_finished)
        controller.index_failed.connect(self._index_failed)

        self.preview_dialog: PreviewDialog | None = None
        self.problems_dialog: ProblemsDialog | None = None
        self._build_menus()
        self.resize(1200, 800)
        self.restore_geometry(self.settings)

    @property
    def grids(self) -> tuple[PhotoGrid, PhotoGrid]:
        return self.browse.grid, self.similar.grid

    # -- menus ---------------------------------------------------------------------------------

    def _action(self, menu, text: str, slot, shortcut=None, tip: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.add_folder_action = self._action(
            file_menu, "&Add Folder…", self.choose_folder, "Ctrl+Shift+O",
            "Add a photo folder to the library and index it")
        self.find_action = self._action(
            file_menu, "&Find Similar to an Image…", self.choose_query_image, "Ctrl+F",
            "Search the library with any image file (or drop one on the window)")
        self.rescan_action = self._action(
            file_menu, "&Rescan", self.rescan, QKeySequence.StandardKey.Refresh,
            "Pick up new, changed and deleted files")
        self.cancel_action = self._action(file_menu, "&Stop Indexing", self.controller.cancel_index)
        self.cancel_action.setEnabled(False)
        self.controller.index_started.connect(lambda: self.cancel_action.setEnabled(True))
        file_menu.addSeparator()
        self._action(file_menu, "Library &Setup…", self.open_setup, None,
                     "Photo folders and the model")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.duplicates.undo_action)

        view_menu = bar.addMenu("&View")
        self.zoom_in_action = self._action(view_menu, "Zoom &In", lambda: self.zoom(1),
                                           ["Ctrl++", "Ctrl+="])
        self.zoom_out_action = self._action(view_menu, "Zoom &Out", lambda: self.zoom(-1), "Ctrl+-")
        sort_menu = view_menu.addMenu("&Sort By")
        group = QActionGroup(self)
        self.sort_actions: dict[str, QAction] = {}
        for key, label in ORDERS:
            action = QAction(label, self, checkable=True)
            action.setChecked(key == self.browse.order)
            action.triggered.connect(lambda _=False, k=key: self.browse.set_order(k))
            group.addAction(action)
            sort_menu.addAction(action)
            self.sort_actions[key] = action
        self.browse.sort_combo.currentIndexChanged.connect(
            lambda _: self.sort_actions[self.browse.order].setChecked(True))
        view_menu.addSeparator()
        self._action(view_menu, "All &Photos", self.show_browse, "Ctrl+1")
        self.map_action = self._action(
            view_menu, "&Map", self.show_map, "Ctrl+M",
            "The cluster map of what is shown: the similar photos, the folder selected, or everything")
        self.library_map_action = self._action(
            view_menu, "Map of the &Whole Library", self.show_library_map, "Ctrl+Shift+M",
            "Every photo on the cluster map, similar photos together")
        self.problems_action = self._action(view_menu, "P&roblems…", self.show_problems,
                                            "Ctrl+Shift+P", "Files that could not be indexed, and why")

        tools_menu = bar.addMenu("&Tools")
        self.find_duplicates_action = self._action(
            tools_menu, "Find &Duplicates…", self.show_duplicates, "Ctrl+Shift+D",
            "Byte-identical and edited copies of your photos: review them, move extras to the Trash")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About simdesk", self.about)

    # -- pages ---------------------------------------------------------------------------------

    def start(self) -> None:
        """First run: the welcome page. Later: the grid at once, then check the model and rescan."""
        if not self.controller.folders:
            self.welcome.prefill([], self.controller.library.model_name)
            self.pages.setCurrentWidget(self.welcome)
            return
        self.show_browse()
        self.browse.reload()
        self.controller.check_model(self._model_checked)

    def _model_checked(self, problem: str | None) -> None:
        if problem is None:
            if settings_value(self.settings, "library/rescan_on_start", True, bool):
                self.controller.rescan()
        else:
            self.message_bar.show_message(
                f"{problem} Photos already indexed can be browsed; similar-photo search and "
                "indexing need the model.", "Choose Model…")

    def open_setup(self) -> None:
        self.message_bar.hide()
        self.welcome.prefill(self.controller.folders, self.controller.library.model_name)
        self.pages.setCurrentWidget(self.welcome)

    def _setup_done(self, folders: list, model: str) -> None:
        controller = self.controller
        current = set(controller.folders)
        for gone in current - set(folders):
            controller.remove_folder(gone)
        new = [f for f in folders if f not in current]

        def after_model() -> None:
            if new:
                controller.add_folders(new)  # rescans when added
            else:
                controller.rescan()

        if model != controller.library.model_name or not controller.library.model_chosen:
            controller.set_model(model, after_model)
        else:
            after_model()
        self.show_browse()
        self.browse.reload()

    def show_browse(self) -> None:
        self._back_pages.clear()
        self.pages.setCurrentWidget(self.browse)
        self.browse.grid.setFocus()

    def show_similar(self, path: str) -> None:
        self.show_similar_many([path])

    def show_similar_many(self, paths: list) -> None:
        """The photos most like all of ``paths`` (one or several), in the sidebar's folder if the
        similar view's scope says so."""
        if self.pages.currentWidget() is self.welcome or not paths:
            return
        self._go_to(self.similar)
        self.similar.set_folder(self.browse.folder)
        self.similar.show_queries(list(paths))
        self.similar.grid.setFocus()

    def show_duplicates(self) -> None:
        if self.pages.currentWidget() is self.welcome:
            return
        self.pages.setCurrentWidget(self.duplicates)
        self.duplicates.open()

    def close_similar(self) -> None:
        self._go_back()

    def _go_to(self, page: QWidget) -> None:
        """Show ``page``, remembering the page it was opened from (Esc goes back there)."""
        current = self.pages.currentWidget()
        if page in self._back_pages:  # back to a page opened before: forget what came after
            del self._back_pages[self._back_pages.index(page):]
        if current is not page and current is not self.welcome and current not in self._back_pages:
            self._back_pages.append(current)
        self.pages.setCurrentWidget(page)

    def _go_back(self) -> None:
        """Back to the page the current one was opened from (a closed similar view is skipped)."""
        while self._back_pages:
            page = self._back_pages.pop()
            if page is self.browse:
                break
            if page is self.map_page and not self.map_page.has_map():
                continue
            if page is self.similar and self.similar.query is None:
                continue
            self.pages.setCurrentWidget(page)
            if page is self.map_page:
                self.map_page.canvas.setFocus()
            elif page is self.similar:
                self.similar.grid.setFocus()
            return
        self.show_browse()

    # -- the map -------------------------------------------------------------------------------

    def show_map(self) -> None:
        """The map of what is shown: the similar photos, the folder selected in the sidebar, or
        the whole library."""
        page = self.pages.currentWidget()
        if page is self.welcome:
            return
        if page is self.map_page:
            self.map_page.canvas.setFocus()
        elif page is self.similar and self.similar.outcome is not None:
            self.show_similar_on_map()
        elif self.browse.folder:
            folder = self.browse.folder
            name = os.path.basename(folder.rstrip(os.sep)) or folder
            self.open_map(MapScope.folder(folder), f"Map of {name}")
        else:
            self.show_library_map()

    def show_library_map(self) -> None:
        if self.pages.currentWidget() is not self.welcome:
            self.open_map(MapScope.all(), "Map of the whole library")

    def show_similar_on_map(self) -> None:
        """The current similar-photos result on the map, the query selected (if a library photo)."""
        outcome = self.similar.outcome
        if outcome is None or self.similar.query is None:
            return
        ids = [int(i) for i in outcome.listing.ids]
        select = list(outcome.query_ids) or ([outcome.query_id] if outcome.query_id is not None else [])
        if not ids:
            self.statusBar().showMessage("No similar photos to show on the map.", 5000)
            return
        self.open_map(MapScope.photos(ids + select),
                      f"Map of photos similar to {names(self.similar.queries)}", select)

    def open_map(self, scope: MapScope, title: str, select=(), highlight=None) -> None:
        self._go_to(self.map_page)
        self.map_page.show_scope(scope, title, select, highlight=highlight)
        self.map_page.canvas.setFocus()

    def show_on_map(self, path: str) -> None:
        """ "Show on map": the photo centred and ringed, on the map shown if it holds the photo,
        else on the map of the whole library."""
        record = self.controller.library.store.photo_by_path(path)
        if record is None:
            self.statusBar().showMessage(f"{os.path.basename(path)} is not in the library.", 5000)
            return
        page = self.map_page
        data = page.data
        if data is not None and data.scope == page.scope and data.layout.row_of(record.id) is not None:
            self.open_map(page.scope, page.title_text, highlight=record.id)
        else:
            self.open_map(MapScope.all(), "Map of the whole library", highlight=record.id)

    # -- photos --------------------------------------------------------------------------------

    def photo_menu(self, paths: list, global_pos) -> None:
        menu = self.actions_.menu(paths, self)
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(global_pos)
        self.last_menu = menu

    def preview(self, path: str) -> None:
        if self.preview_dialog is None:
            self.preview_dialog = PreviewDialog(self.controller, self)
        grid = self.focused_grid()
        content_hash = None
        if grid is not None and grid.currentIndex().isValid():
            content_hash = role_data(grid.currentIndex(), HashRole)
        self.preview_dialog.show_photo(path, content_hash)

    def focused_grid(self) -> PhotoGrid | None:
        page = self.pages.currentWidget()
        if page is self.browse:
            return self.browse.grid
        if page is self.similar:
            return self.similar.grid
        return None

    def zoom(self, step: int) -> None:
        size = next_zoom(self.thumb_size, step)
        if size == self.thumb_size:
            return
        self.thumb_size = size
        self._set_display_side()
        for grid in self.grids:
            grid.set_thumb_size(size)
        self.settings.setValue("view/thumb_size", size)

    def _set_display_side(self) -> None:
        self.controller.thumbnails.set_display_side(
            round(self.thumb_size * self.devicePixelRatioF()))

    # -- folders and queries from the user ---------------------------------------------------

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a photo folder", os.path.expanduser("~"))
        if path:
            self.add_folders([path])

    def add_folders(self, paths: list[str]) -> None:
        if self.pages.currentWidget() is self.welcome:
            self.welcome.add_folders(paths)
            return
        self.statusBar().showMessage(f"Adding {', '.join(os.path.basename(p) for p in paths)}…", 4000)
        self.controller.add_folders(paths)

    def remove_folder(self, folder: str) -> None:
        answer = QMessageBox.question(
            self, "Remove folder",
            f"Remove {folder} from the library?\n\nsimdesk forgets its photos; the files on disk "
            "are not touched.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.remove_folder(folder)

    def choose_query_image(self) -> None:
        patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(
            self, "Find photos similar to an image", os.path.expanduser("~"),
            f"Images ({patterns});;All files (*)")
        if path:
            self.show_similar(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.source() is not None:
            return  # a photo dragged out of our own grid and let go over the window: not a request
        mime = event.mimeData()
        if mime.hasUrls() and (local_folders(mime) or dropped_images(mime)):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        folders = local_folders(mime)
        images = dropped_images(mime)
        if folders:
            self.add_folders(folders)
        elif images and self.pages.currentWidget() is not self.welcome:
            self.show_similar(images[0])
        else:
            return
        event.acceptProposedAction()

    # -- indexing and messages ---------------------------------------------------------------

    def rescan(self) -> None:
        if not self.controller.rescan():
            self.statusBar().showMessage("No folders to scan yet: File > Add Folder…", 5000)

    def _index_finished(self, report) -> None:
        self.cancel_action.setEnabled(False)
        self.index_status.ended()
        self.statusBar().showMessage(report_summary(report), 15000)
        if report.offline_folders:
            self.browse.refresh_folders()

    def _index_failed(self, message: str) -> None:
        self.cancel_action.setEnabled(False)
        self.index_status.ended()
        self.message_bar.show_message(f"Indexing failed: {message}",
                                      "Choose Model…" if "model" in message.lower() else None)

    def notify(self, text: str) -> None:
        self.message_bar.show_message(text)

    def show_problems(self) -> None:
        if self.problems_dialog is None:
            self.problems_dialog = ProblemsDialog(self.controller, self)
        self.problems_dialog.refresh()
        self.problems_dialog.show()
        self.problems_dialog.raise_()

    def about(self) -> None:
        QMessageBox.about(
            self, "About simdesk",
            f"<b>simdesk {__version__}</b><p>Find similar photos in your collection with a "
            "convolutional neural network. Everything runs on this computer.</p>"
            f"<p>Library: {self.controller.library.directory}</p>")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_geometry()
        self.browse.save_state()
        if self.preview_dialog is not None:
            self.preview_dialog.close()
        self.map_page.shutdown()
        job = self.welcome.install_job
        if job is not None:  # a download resumes next time; a conversion finishes first
            job.cancel()
            job.wait(30)
        super().closeEvent(event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self._focus_grid)

    def _focus_grid(self) -> None:
        grid = self.focused_grid()
        if grid is not None:
            grid.setFocus()
