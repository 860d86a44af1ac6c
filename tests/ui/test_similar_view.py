"""Right-click -> Show similar photos; hopping from result to result; a dropped image as the query."""

from __future__ import annotations

import os
import shutil

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QContextMenuEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from simdesk.core.models import catalog as models
from simdesk.core.library import Library
from simdesk.ui.photomodel import PathRole, SimilarityRole
from .uihelpers import GUI_MARKS, shared_data, trigger, wait_index_done, wait_rows

pytestmark = GUI_MARKS


def open_context_menu(qtbot, window, grid, row):
    """Right-click a cell like a user; returns the menu that popped up.

    QTest clicks do not make the context-menu event the platform would send: it is sent here."""
    window.last_menu = None
    pos = grid.visualRect(grid.model().index(row, 0)).center()
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.RightButton, pos=pos)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, grid.viewport().mapToGlobal(pos))
    QApplication.sendEvent(grid.viewport(), event)
    qtbot.waitUntil(lambda: window.last_menu is not None and window.last_menu.isVisible(), timeout=3000)
    return window.last_menu


def results(view):
    model = view.model
    return [(os.path.basename(model.index(r, 0).data(PathRole)), model.index(r, 0).data(SimilarityRole))
            for r in range(model.rowCount())]


@pytest.fixture
def indexed_app(qtbot, make_app, library, photo_folder):
    library.add_folder(photo_folder)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    wait_rows(qtbot, window.browse.model, 7)
    return controller, window


def test_right_click_shows_ranked_similar_photos_and_hops(qtbot, indexed_app, photo_folder):
    controller, window = indexed_app
    browse = window.browse
    with qtbot.waitSignal(browse.listing_loaded, timeout=5000):
        browse.set_order("name")
    assert browse.model.index(1, 0).data() == "photo_0.jpg"
    row = browse.model.row_of_path(str(photo_folder / "photo_3.jpg"))
    menu = open_context_menu(qtbot, window, browse.grid, row)
    assert [a.text() for a in menu.actions() if a.text()] == [
        "Show similar photos", "Preview", "Show on map", "Open", "Show in folder", "Copy path", "Move to Trash…"]
    similar = window.similar
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        trigger(menu, "Show similar photos")
    assert window.pages.currentWidget() is similar
    ranked = results(similar)
    assert len(ranked) == 6 and "photo_3.jpg" not in [name for name, _ in ranked]
    sims = [s for _, s in ranked]
    assert sims == sorted(sims, reverse=True)
    assert similar.query == str(photo_folder / "photo_3.jpg")
    assert "most similar of 6 photos" in similar.status.text()
    qtbot.waitUntil(lambda: not similar.query_image.pixmap().isNull(), timeout=5000)

    # The same menu on a result: hop to its similar photos, then Back, then Esc closes the view.
    first_result = similar.model.index(0, 0).data(PathRole)
    menu = open_context_menu(qtbot, window, similar.grid, 0)
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        trigger(menu, "Show similar photos")
    assert similar.query == first_result
    assert str(photo_folder / "photo_3.jpg") in [similar.model.index(r, 0).data(PathRole)
                                                 for r in range(similar.model.rowCount())]
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        qtbot.keyClick(similar.grid, Qt.Key.Key_Backspace)
    assert similar.query == str(photo_folder / "photo_3.jpg")
    qtbot.keyClick(similar.grid, Qt.Key.Key_Escape)
    assert window.pages.currentWidget() is window.browse


def test_how_many_results_is_a_control(qtbot, indexed_app, photo_folder):
    controller, window = indexed_app
    similar = window.similar
    similar.k_spin.setValue(3)
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        window.show_similar(str(photo_folder / "photo_0.jpg"))
    assert similar.model.rowCount() == 3
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        similar.k_spin.setValue(5)
    assert similar.model.rowCount() == 5
    assert controller.settings.value("similar/k") in (5, "5")


def drop(window, path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPointF(window.rect().center())
    # QDragEnterEvent takes an integer QPoint, QDropEvent a QPointF (Qt 6.11).
    enter = QDragEnterEvent(window.rect().center(), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)
    return event


def test_dropping_an_outside_image_searches_with_it(qtbot, indexed_app, photo_folder, tmp_path):
    controller, window = indexed_app
    outside = tmp_path / "outside" / "edited copy.jpg"
    outside.parent.mkdir()
    Image.open(photo_folder / "photo_4.jpg").resize((70, 52)).save(outside, quality=70)
    with qtbot.waitSignal(window.similar.results_shown, timeout=10_000):
        assert drop(window, outside).isAccepted()
    similar = window.similar
    assert window.pages.currentWidget() is similar
    assert results(similar)[0][0] == "photo_4.jpg"  # its original comes first
    assert "Not in the library" in similar.query_note.text()


def test_dropping_a_folder_adds_it_and_indexes(qtbot, indexed_app, tmp_path):
    from .uihelpers import draw_photo

    controller, window = indexed_app
    more = tmp_path / "more"
    for i in range(3):
        draw_photo(more / f"more_{i}.jpg", seed=50 + i)
    drop(window, more)
    qtbot.waitUntil(lambda: str(more) in controller.folders, timeout=5000)
    wait_rows(qtbot, window.browse.model, 10, timeout=30_000)
    assert window.browse.sidebar.topLevelItemCount() == 3  # All photos + 2 folders


def test_a_query_that_cannot_be_read_says_why(qtbot, indexed_app, tmp_path):
    controller, window = indexed_app
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with qtbot.waitSignal(window.similar.results_shown, timeout=10_000):
        window.show_similar(str(bad))
    assert "Cannot search" in window.similar.status.text()
    assert window.similar.model.rowCount() == 0


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_photos_similar_are_the_same_animal(qtbot, make_app, library_dir, models_dir, tmp_path):
    animals = shared_data("animals")
    folder = tmp_path / "animals"
    for kind in ("cats", "dogs", "panda"):
        (folder / kind).mkdir(parents=True)
        for name in sorted(os.listdir(animals / kind))[:12]:
            shutil.copy(animals / kind / name, folder / kind / name)
    models.install_efficientnet_lite0()
    library = Library(library_dir)
    library.set_model(models.OFFLINE_MODEL)
    library.add_folder(folder)
    try:
        controller, window = make_app(library)
        wait_index_done(qtbot, controller, timeout=120_000)
        assert controller.last_report.embedded == 36
        window.similar.k_spin.setValue(5)
        query = folder / "panda" / sorted(os.listdir(folder / "panda"))[0]
        with qtbot.waitSignal(window.similar.results_shown, timeout=30_000):
            window.show_similar(str(query))
        paths = [window.similar.model.index(r, 0).data(PathRole) for r in range(5)]
        assert sum(os.sep + "panda" + os.sep in p for p in paths) >= 4, paths
    finally:
        library.close()
