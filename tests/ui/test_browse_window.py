"""The main window on a real temporary library: indexing in the background, the grid, settings."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from simdesk.ui.photomodel import role_data
from .uihelpers import GUI_MARKS, wait_index_done, wait_laid_out, wait_rows

pytestmark = GUI_MARKS


def test_start_indexes_and_grid_shows_photos(qtbot, make_app, library, photo_folder):
    library.add_folder(photo_folder)
    controller, window = make_app(library)
    assert window.pages.currentWidget() is window.browse
    wait_index_done(qtbot, controller)
    assert controller.last_report.embedded == 7
    wait_rows(qtbot, window.browse.model, 7)
    names = {window.browse.model.index(r, 0).data() for r in range(7)}
    assert names == {f"photo_{i}.jpg" for i in range(6)} | {"nested.png"}
    # Thumbnails arrive from the worker; the cells repaint with them.
    model = window.browse.model
    # (role_data, not index.data: a None through QVariant trips a PySide6 6.12.0 refcount bug)
    qtbot.waitUntil(lambda: all(role_data(model.index(r, 0), Qt.ItemDataRole.DecorationRole)
                                is not None for r in range(7)), timeout=10_000)


@pytest.fixture
def indexed_app(qtbot, make_app, library, photo_folder):
    library.add_folder(photo_folder)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    wait_rows(qtbot, window.browse.model, 7)
    with qtbot.waitSignal(window.browse.listing_loaded, timeout=5000):
        window.browse.set_order("name")
    assert window.browse.model.index(1, 0).data() == "photo_0.jpg"
    wait_laid_out(qtbot, window.browse.grid)
    return controller, window


def test_keyboard_arrows_enter_space_escape(qtbot, indexed_app, photo_folder):
    controller, window = indexed_app
    grid = window.browse.grid
    grid.setFocus()
    grid.setCurrentIndex(grid.model().index(0, 0))
    qtbot.keyClick(grid, Qt.Key.Key_Right)
    assert grid.currentIndex().row() == 1
    assert grid.current_path() == str(photo_folder / "photo_0.jpg")

    qtbot.keyClick(grid, Qt.Key.Key_Space)  # large preview
    preview = window.preview_dialog
    qtbot.waitUntil(lambda: preview.isVisible() and preview._pixmap is not None, timeout=5000)
    assert preview.path == str(photo_folder / "photo_0.jpg")
    qtbot.keyClick(preview, Qt.Key.Key_Escape)
    assert not preview.isVisible()

    with qtbot.waitSignal(window.similar.results_shown, timeout=10_000):
        qtbot.keyClick(grid, Qt.Key.Key_Return)  # Enter: similar photos
    assert window.pages.currentWidget() is window.similar
    assert window.similar.query == str(photo_folder / "photo_0.jpg")
    qtbot.keyClick(window.similar.grid, Qt.Key.Key_Escape)
    assert window.pages.currentWidget() is window.browse


def test_delete_moves_to_trash_after_confirmation(qtbot, indexed_app, photo_folder, tmp_path,
                                                  monkeypatch):
    from simdesk.ui import actions

    controller, window = indexed_app
    asked = []
    monkeypatch.setattr(actions, "confirm_trash", lambda parent, paths: asked.append(paths) or False)
    grid = window.browse.grid
    target = str(photo_folder / "photo_2.jpg")
    grid.setCurrentIndex(window.browse.model.index(window.browse.model.row_of_path(target), 0))
    qtbot.keyClick(grid, Qt.Key.Key_Delete)
    assert asked == [[target]]
    assert (photo_folder / "photo_2.jpg").exists()  # said no: nothing happens

    monkeypatch.setattr(actions, "confirm_trash", lambda parent, paths: True)
    qtbot.keyClick(grid, Qt.Key.Key_Delete)
    wait_rows(qtbot, window.browse.model, 6)
    assert not (photo_folder / "photo_2.jpg").exists()
    trashed = tmp_path / "xdg-data" / "Trash" / "files" / "photo_2.jpg"
    assert trashed.exists()  # in the Trash, not deleted
    assert target not in controller.library.browse()[1]
    # Journaled like the duplicate moves, so Undo puts it back.
    report = controller.library.undo_trash()
    assert report.restored == [target]
    assert (photo_folder / "photo_2.jpg").exists() and not trashed.exists()


def test_menu_open_show_in_folder_copy_path(qtbot, indexed_app, photo_folder, opened_urls):
    from PySide6.QtGui import QGuiApplication

    controller, window = indexed_app
    target = str(photo_folder / "photo_5.jpg")
    menu = window.actions_.menu([target], window)
    by_text = {a.text(): a for a in menu.actions()}
    by_text["Open"].trigger()
    by_text["Show in folder"].trigger()
    by_text["Copy path"].trigger()
    assert [u.toLocalFile() for u in opened_urls] == [target, str(photo_folder)]
    assert QGuiApplication.clipboard().text() == target


def test_zoom_sort_and_geometry_persist(qtbot, make_app, library, photo_folder, qsettings):
    library.add_folder(photo_folder)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    grid = window.browse.grid
    before = grid.thumb_size
    wheel_zoom(qtbot, grid, +120)
    assert grid.thumb_size > before
    window.zoom_out_action.trigger()
    window.zoom_out_action.trigger()
    assert grid.thumb_size < before
    assert window.similar.grid.thumb_size == grid.thumb_size
    window.sort_actions["folder"].trigger()
    assert window.browse.sort_combo.currentData() == "folder"
    window.resize(640, 470)  # within the offscreen screen (800x600): restoreGeometry clamps
    size, zoom = window.size(), grid.thumb_size
    window.close()
    controller.shutdown()

    controller2, window2 = make_app(library, settings=qsettings)
    assert window2.size() == size
    assert window2.browse.grid.thumb_size == zoom
    assert window2.browse.order == "folder" and window2.sort_actions["folder"].isChecked()


def wheel_zoom(qtbot, grid, delta):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(grid.viewport().rect().center())
    event = QWheelEvent(pos, QPointF(grid.viewport().mapToGlobal(pos.toPoint())), QPoint(0, 0),
                        QPoint(0, delta), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(grid.viewport(), event)


def test_rescan_picks_up_new_changed_and_deleted_files(qtbot, indexed_app, photo_folder):
    from .uihelpers import draw_photo

    controller, window = indexed_app
    draw_photo(photo_folder / "added.jpg", seed=77)
    (photo_folder / "photo_0.jpg").unlink()
    draw_photo(photo_folder / "photo_1.jpg", seed=78)  # changed content
    controller.last_report = None
    window.rescan_action.trigger()
    wait_index_done(qtbot, controller)
    report = controller.last_report
    assert (report.embedded, report.removed, report.unchanged) == (2, 1, 5)
    qtbot.waitUntil(lambda: window.browse.model.row_of_path(str(photo_folder / "added.jpg")) is not None,
                    timeout=5000)
    assert window.browse.model.rowCount() == 7
    assert window.browse.model.row_of_path(str(photo_folder / "photo_0.jpg")) is None


def test_remove_folder_and_browse_one_folder(qtbot, indexed_app, photo_folder, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    from .uihelpers import draw_photo

    controller, window = indexed_app
    other = tmp_path / "other"
    draw_photo(other / "o.jpg", seed=9)
    controller.add_folders([str(other)])
    wait_rows(qtbot, window.browse.model, 8, timeout=30_000)
    browse = window.browse
    browse.select_folder(str(other))
    wait_rows(qtbot, browse.model, 1)
    assert "1 photo in other" in browse.count_label.text()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.remove_folder(str(other))
    qtbot.waitUntil(lambda: str(other) not in controller.folders, timeout=5000)
    wait_rows(qtbot, browse.model, 7)  # back to All photos
    assert browse.sidebar.topLevelItemCount() == 2
    assert (other / "o.jpg").exists()


def test_missing_model_keeps_browsing_and_says_what_to_do(qtbot, make_app, library, photo_folder):
    library.add_folder(photo_folder)
    library.index()
    library.set_model("resnet50")  # not installed in the test's models dir
    controller, window = make_app(library)
    bar = window.message_bar
    qtbot.waitUntil(bar.isVisible, timeout=5000)
    assert "not installed" in bar.label.text() and bar.action_button.text() == "Choose Model…"
    assert not controller.indexing
    bar.action_button.click()
    assert window.pages.currentWidget() is window.welcome
    assert window.welcome.folders == [str(photo_folder)]


def test_photos_drag_out_as_file_copies(qtbot, indexed_app, photo_folder):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QAbstractItemView

    controller, window = indexed_app
    grid, model = window.browse.grid, window.browse.model
    assert grid.dragEnabled() and grid.dragDropMode() == QAbstractItemView.DragDropMode.DragOnly
    # Copy only: a file manager must never be offered to move a photo out of the library.
    assert model.supportedDragActions() == Qt.DropAction.CopyAction
    assert model.flags(model.index(0, 0)) & Qt.ItemFlag.ItemIsDragEnabled
    indexes = [model.index(2, 0), model.index(0, 0), model.index(2, 0)]  # order and repeats
    mime = model.mimeData(indexes)
    paths = [model.path(0), model.path(2)]
    assert [url.toLocalFile() for url in mime.urls()] == paths
    assert mime.text() == "\n".join(paths)
    assert all(p.startswith(str(photo_folder)) for p in paths)
