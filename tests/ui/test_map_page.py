"""The map page in the app: View > Map of the library, a folder or a similar-photos result, the
layout on a worker (progress, Cancel), the cache, the photo menu on the map, export."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent, QImage
from PySide6.QtWidgets import QApplication, QFileDialog

from simdesk.core.map import cache as layout_cache
from test_layout import FAST
from .uihelpers import GUI_MARKS, draw_photo, trigger, wait_index_done, wait_rows

pytestmark = GUI_MARKS

GRID_MENU = ["Show similar photos", "Preview", "Show on map", "Open", "Show in folder", "Copy path", "Move to Trash…"]


@pytest.fixture
def map_app(qtbot, make_app, library, photo_folder, tmp_path):
    """The app on two indexed folders: photo_folder (7 photos) and other (4)."""
    other = tmp_path / "other"
    for i in range(4):
        draw_photo(other / f"other_{i}.jpg", seed=40 + i)
    library.add_folder(photo_folder)
    library.add_folder(other)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    wait_rows(qtbot, window.browse.model, 11)
    window.map_page.params = FAST  # a quicker t-SNE schedule; the app uses the library's defaults
    return controller, window, other


@pytest.fixture
def layout_calls(monkeypatch):
    """Every full layout computed (the t-SNE), counted."""
    calls = []
    real = layout_cache.compute_layout

    def spy(vectors, *args, **kwargs):
        calls.append(len(vectors))
        return real(vectors, *args, **kwargs)

    monkeypatch.setattr(layout_cache, "compute_layout", spy)
    return calls


def open_map(qtbot, window, action=None):
    page = window.map_page
    with qtbot.waitSignal(page.map_shown, timeout=20_000):
        (action or window.map_action).trigger()
    assert window.pages.currentWidget() is page
    return page


def shown_paths(page):
    return sorted(page.paths(page.canvas.photo_ids))


def all_photo_ids(controller):
    return sorted(int(i) for i in controller.library.store.load_embeddings(controller.library.map_space())[0])


def test_map_of_the_library_is_computed_once_then_reused(qtbot, map_app, layout_calls):
    controller, window, _ = map_app
    page = window.map_page
    fractions = []
    page.layout_status.bar.valueChanged.connect(fractions.append)
    page = open_map(qtbot, window)
    assert layout_calls == [11]
    assert sorted(int(i) for i in page.canvas.photo_ids) == all_photo_ids(controller)
    assert page.data.layout.source == "computed"
    assert page.stack.currentWidget() is page.canvas
    assert page.toolbar.title.text() == "Map of the whole library"
    assert page.toolbar.info.text().startswith("11 photos")
    assert fractions and max(fractions) == 1000  # progress in the status bar
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)  # then the colours
    assert page.layout_status.isHidden()
    assert page.data.colours is not None and page.data.colours.shape == (11, 3)
    assert (page.canvas.state.colours.astype(int) != 110).any()  # the canvas has them too
    layout = page.canvas.map_layout()

    qtbot.keyClick(page.canvas, Qt.Key.Key_Escape)
    assert window.pages.currentWidget() is window.browse
    # Opening it again shows the same map at once: no job, no layout.
    window.map_action.trigger()
    assert window.pages.currentWidget() is page
    assert page.job is None and page.canvas.map_layout() is layout and layout_calls == [11]

    # Recompute lays it out afresh (the map stays in view meanwhile).
    with qtbot.waitSignal(page.map_shown, timeout=20_000):
        page.toolbar.recompute_action.trigger()
        assert page.stack.currentWidget() is page.canvas
    assert layout_calls == [11, 11] and page.data.layout.source == "computed"
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)


def test_folder_scope_then_the_library_from_its_cache(qtbot, map_app, layout_calls):
    controller, window, other = map_app
    with qtbot.waitSignal(window.browse.listing_loaded, timeout=5000):
        window.browse.select_folder(str(other))
    page = open_map(qtbot, window)
    assert page.toolbar.title.text() == "Map of other"
    assert shown_paths(page) == sorted(str(other / f"other_{i}.jpg") for i in range(4))
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    # Colour by folder: one folder here, one legend entry.
    page.toolbar.colour_combo.setCurrentIndex(page.toolbar.colour_combo.findData("folder"))
    assert page.canvas.colour_by == "folder" and "other" in page.toolbar.legend.text()
    assert controller.settings.value("map/colour_by") == "folder"

    # The whole library: laid out once ...
    page = open_map(qtbot, window, window.library_map_action)
    assert len(page.canvas.photo_ids) == 11 and page.data.layout.source == "computed"
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    calls = list(layout_calls)
    # ... and after another map (the folder still selected), read back from the library's
    # cache, not laid out again.
    window.show_browse()
    assert window.browse.folder == str(other)
    open_map(qtbot, window)
    assert page.toolbar.title.text() == "Map of other" and page.data.layout.source == "cache"
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    page = open_map(qtbot, window, window.library_map_action)
    assert page.data.layout.source == "cache" and layout_calls == calls
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)


def test_show_on_map_from_similar_photos(qtbot, map_app, photo_folder):
    controller, window, _ = map_app
    similar = window.similar
    similar.k_spin.setValue(3)
    query = str(photo_folder / "photo_3.jpg")
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        window.show_similar(query)
    results = [similar.model.listing.paths[r] for r in range(3)]
    page = window.map_page
    with qtbot.waitSignal(page.map_shown, timeout=20_000):
        qtbot.mouseClick(similar.map_button, Qt.MouseButton.LeftButton)
    assert window.pages.currentWidget() is page
    assert shown_paths(page) == sorted(results + [query])  # only the result and its query
    assert page.paths(page.canvas.selected_ids()) == [query]  # the query is selected
    assert page.toolbar.title.text() == "Map of photos similar to photo_3.jpg"
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    # Esc goes back to the similar photos, then to browsing.
    qtbot.keyClick(page.canvas, Qt.Key.Key_Escape)
    assert window.pages.currentWidget() is similar and similar.query == query
    qtbot.keyClick(similar.grid, Qt.Key.Key_Escape)
    assert window.pages.currentWidget() is window.browse


def context_menu_at(qtbot, window, canvas, photo_id):
    """Right-click a photo on the map like a user; returns the menu that popped up."""
    canvas.zoom_to_photo(photo_id, item_px=80, animate=False)
    pos = QPoint(canvas.width() // 2, canvas.height() // 2)
    assert canvas.photo_at(pos.toPointF()) == photo_id
    window.last_menu = None
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, canvas.mapToGlobal(pos))
    QApplication.sendEvent(canvas, event)
    qtbot.waitUntil(lambda: window.last_menu is not None and window.last_menu.isVisible(), timeout=3000)
    return window.last_menu


def test_right_click_on_the_map_shows_similar_photos(qtbot, map_app, photo_folder, opened_urls):
    controller, window, _ = map_app
    page = open_map(qtbot, window)
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    path = str(photo_folder / "photo_2.jpg")
    photo_id = controller.library.store.photo_by_path(path).id
    menu = context_menu_at(qtbot, window, page.canvas, photo_id)
    assert [a.text() for a in menu.actions() if a.text()] == GRID_MENU  # the grids' own menu
    assert page.canvas.selected_ids() == [photo_id]
    trigger(menu, "Show in folder")
    assert [u.toLocalFile() for u in opened_urls] == [str(photo_folder)]

    menu = context_menu_at(qtbot, window, page.canvas, photo_id)
    with qtbot.waitSignal(window.similar.results_shown, timeout=10_000):
        trigger(menu, "Show similar photos")
    assert window.pages.currentWidget() is window.similar and window.similar.query == path
    # Esc leaves the similar photos for the map they were asked from, and the map for browsing.
    qtbot.keyClick(window.similar.grid, Qt.Key.Key_Escape)
    assert window.pages.currentWidget() is page
    qtbot.keyClick(page.canvas, Qt.Key.Key_Escape)
    assert window.pages.currentWidget() is window.browse


def test_delete_on_the_map_moves_to_trash_and_the_map_follows(qtbot, map_app, photo_folder, monkeypatch):
    from simdesk.ui import actions

    controller, window, _ = map_app
    monkeypatch.setattr(actions, "confirm_trash", lambda parent, paths: True)
    page = open_map(qtbot, window)
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    path = str(photo_folder / "photo_5.jpg")
    page.canvas.set_selected_ids([controller.library.store.photo_by_path(path).id])
    with qtbot.waitSignal(page.map_shown, timeout=20_000):  # the map drops it
        qtbot.keyClick(page.canvas, Qt.Key.Key_Delete)
    assert not os.path.exists(path)
    assert len(page.canvas.photo_ids) == 10 and path not in shown_paths(page)
    assert page.data.layout.source == "updated"  # dropped, not laid out again
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)


def test_cancel_while_laying_out(qtbot, map_app, monkeypatch):
    controller, window, other = map_app
    page = open_map(qtbot, window)  # the whole library, shown
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    library_layout = page.canvas.map_layout()
    real = layout_cache.compute_layout

    def slow(vectors, params, *, report=None, **kwargs):
        import time

        for _ in range(1000):  # checks the cancel event as the real t-SNE does
            report("tsne", 0, 1)
            time.sleep(0.01)
        return real(vectors, params, report=report, **kwargs)

    monkeypatch.setattr(layout_cache, "compute_layout", slow)
    window.show_browse()
    with qtbot.waitSignal(window.browse.listing_loaded, timeout=5000):
        window.browse.select_folder(str(other))
    window.map_action.trigger()  # the folder's map: laid out (slowly)
    assert window.pages.currentWidget() is page and page.is_busy()
    assert page.stack.currentWidget() is page.placeholder
    assert "Laying out the map of other" in page.placeholder.text()
    qtbot.waitUntil(lambda: page.layout_status.isVisible(), timeout=3000)
    qtbot.waitUntil(lambda: "t-SNE" in page.layout_status.label.text(), timeout=5000)
    with qtbot.waitSignal(page.map_failed, timeout=5000) as failed:
        qtbot.mouseClick(page.layout_status.cancel_button, Qt.MouseButton.LeftButton)
    assert failed.args == ["cancelled"]
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=5000)
    assert page.layout_status.isHidden()
    assert "cancelled" in page.placeholder.text()
    assert not page.toolbar.export_map_action.isEnabled()
    monkeypatch.setattr(layout_cache, "compute_layout", real)

    # The library's map, still held, shows again at once.
    window.library_map_action.trigger()
    assert page.job is None and page.stack.currentWidget() is page.canvas
    assert page.canvas.map_layout() is library_layout and page.toolbar.export_map_action.isEnabled()
    # The folder's map: Recompute tries again.
    window.show_browse()
    window.map_action.trigger()
    assert page.is_busy()
    page.cancel()
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=5000)
    with qtbot.waitSignal(page.map_shown, timeout=20_000):
        page.toolbar.recompute_action.trigger()
    assert len(page.canvas.photo_ids) == 4
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)


def test_grid_mode_and_export_png(qtbot, map_app, tmp_path, monkeypatch):
    controller, window, _ = map_app
    page = open_map(qtbot, window)
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    page.toolbar.mode_actions["grid"].trigger()
    qtbot.waitUntil(lambda: page.canvas.mode == "grid", timeout=5000)  # the grid: on a worker
    assert controller.settings.value("map/mode") == "grid"
    cells, cols, rows = page.canvas.map_layout().grid()
    assert cols * rows >= 11

    answers = [str(tmp_path / "exports" / "view"), str(tmp_path / "exports" / "whole.png")]
    (tmp_path / "exports").mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (answers.pop(0), "PNG images (*.png)"))
    with qtbot.waitSignal(page.exported, timeout=5000) as saved:
        page.toolbar.export_view_action.trigger()
    assert saved.args == [str(tmp_path / "exports" / "view.png")]  # .png added
    image = QImage(saved.args[0])
    ratio = page.devicePixelRatioF()
    assert (image.width(), image.height()) == (round(page.canvas.width() * max(1.0, ratio)),
                                               round(page.canvas.height() * max(1.0, ratio)))

    with qtbot.waitSignal(page.exported, timeout=20_000) as saved:
        page.toolbar.export_map_action.trigger()
        assert page.export_status.isVisible() and not page.toolbar.export_map_action.isEnabled()
    image = QImage(saved.args[0])
    assert not image.isNull() and max(image.width(), image.height()) >= 1600
    qtbot.waitUntil(lambda: page.export_status.isHidden(), timeout=5000)
    assert controller.settings.value("map/export_dir") == str(tmp_path / "exports")
