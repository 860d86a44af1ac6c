"""The sidebar's folder tree (every folder with photos, counts, expand/collapse) scopes the grid,
the similar photos and the map; a steady grid across reloads; the folder and the photo at the top
come back at the next start; rows fill the width."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from simdesk.core.library import Library
from simdesk.core.map.cache import MapScope
from .uihelpers import GUI_MARKS, draw_photo, wait_index_done, wait_laid_out, wait_rows

pytestmark = GUI_MARKS


@pytest.fixture
def nested(tmp_path):
    """photos/{cats,cats/kittens,dogs}: 4 + 2 + 3 photos, and one directly in photos/."""
    root = tmp_path / "photos"
    for i in range(4):
        draw_photo(root / "cats" / f"cat_{i}.jpg", seed=i)
    for i in range(2):
        draw_photo(root / "cats" / "kittens" / f"kitten_{i}.jpg", seed=10 + i)
    for i in range(3):
        draw_photo(root / "dogs" / f"dog_{i}.jpg", seed=20 + i)
    draw_photo(root / "top.jpg", seed=30)
    return root


def tree_rows(tree):
    """(indent, name, count) of every item, as shown (collapsed ones' children too)."""
    rows = []

    def walk(item, depth):
        rows.append((depth, item.text(0), item.text(1)))
        for i in range(item.childCount()):
            walk(item.child(i), depth + 1)

    for i in range(tree.topLevelItemCount()):
        walk(tree.topLevelItem(i), 0)
    return rows


def click_item(qtbot, tree, item):
    tree.scrollToItem(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())


def test_tree_lists_every_folder_and_scopes_grid_similar_and_map(qtbot, make_app, library, nested,
                                                                 monkeypatch):
    library.add_folder(nested)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    browse = window.browse
    wait_rows(qtbot, browse.model, 10)
    tree = browse.sidebar
    qtbot.waitUntil(lambda: str(nested / "cats" / "kittens") in tree.items, timeout=5000)
    assert tree_rows(tree) == [(0, "All photos", "10"), (0, "photos", "10"), (1, "cats", "6"),
                               (2, "kittens", "2"), (1, "dogs", "3")]
    cats = tree.items[str(nested / "cats")]
    assert tree.items[str(nested)].isExpanded() and not cats.isExpanded()

    # Choosing a folder scopes the grid (its subfolders included).
    click_item(qtbot, tree, cats)
    qtbot.waitUntil(lambda: browse.folder == str(nested / "cats") and browse.model.rowCount() == 6,
                    timeout=5000)
    assert "6 photos in cats" in browse.count_label.text()
    # Expand / collapse from the keyboard.
    tree.setFocus()
    qtbot.keyClick(tree, Qt.Key.Key_Right)
    assert cats.isExpanded()
    kittens = tree.items[str(nested / "cats" / "kittens")]
    assert not tree.visualItemRect(kittens).isEmpty()
    qtbot.keyClick(tree, Qt.Key.Key_Left)
    assert not cats.isExpanded()
    click_item(qtbot, tree, tree.items[str(nested)])
    qtbot.waitUntil(lambda: browse.model.rowCount() == 10, timeout=5000)
    cats.setExpanded(True)
    click_item(qtbot, tree, kittens)
    qtbot.waitUntil(lambda: browse.model.rowCount() == 2, timeout=5000)
    click_item(qtbot, tree, cats)
    qtbot.waitUntil(lambda: browse.model.rowCount() == 6, timeout=5000)

    # Similar photos: in the folder chosen, or (the scope box) everywhere.
    wait_laid_out(qtbot, browse.grid)
    browse.grid.setCurrentIndex(browse.model.index(0, 0))
    browse.grid.setFocus()
    similar = window.similar
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        qtbot.keyClick(browse.grid, Qt.Key.Key_Return)
    assert similar.scope == str(nested / "cats") and similar.scope_combo.currentText() == "In cats"
    found = [similar.model.path(r) for r in range(similar.model.rowCount())]
    assert len(found) == 5 and all(p.startswith(str(nested / "cats") + os.sep) for p in found)
    assert "most similar of 5 photos in cats" in similar.status.text()
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        similar.scope_combo.setCurrentIndex(0)
        similar.scope_combo.activated.emit(0)
    assert similar.scope is None and similar.model.rowCount() == 9
    assert controller.settings.value("similar/scope") == "library"
    qtbot.keyClick(similar.grid, Qt.Key.Key_Escape)

    # The map of what is shown: the folder chosen.
    opened = []
    monkeypatch.setattr(window, "open_map", lambda scope, title, select=(): opened.append((scope, title)))
    window.map_action.trigger()
    assert opened == [(MapScope.folder(str(nested / "cats")), "Map of cats")]


def test_tree_follows_indexing_and_keeps_what_was_expanded(qtbot, make_app, library, nested):
    library.add_folder(nested)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    tree = window.browse.sidebar
    qtbot.waitUntil(lambda: str(nested / "dogs") in tree.items, timeout=5000)
    tree.items[str(nested / "cats")].setExpanded(True)
    window.browse.select_folder(str(nested / "dogs"))
    draw_photo(nested / "birds" / "bird_0.jpg", seed=40)
    draw_photo(nested / "dogs" / "dog_9.jpg", seed=41)
    controller.last_report = None
    with qtbot.waitSignal(window.browse.tree_loaded, timeout=30_000,
                          check_params_cb=lambda *a: str(nested / "birds") in tree.items):
        controller.rescan()
    wait_index_done(qtbot, controller)
    qtbot.waitUntil(lambda: tree.items[str(nested / "dogs")].text(1) == "4", timeout=5000)
    assert [r[1] for r in tree_rows(tree)] == ["All photos", "photos", "birds", "cats", "kittens", "dogs"]
    assert tree.items[str(nested / "cats")].isExpanded()
    assert tree.currentItem() is tree.items[str(nested / "dogs")]
    assert tree.everything.text(1) == "12"


@pytest.fixture
def many(tmp_path):
    """48 photos a minute apart, newest last; date order shows the newest first."""
    folder = tmp_path / "many"
    start = time.time() - 10 * 86400
    for i in range(48):
        path = draw_photo(folder / f"m_{i:02d}.jpg", seed=100 + i)
        os.utime(path, (start + 60 * i, start + 60 * i))
    return folder


def small_window(window):
    window.zoom(-9)  # the smallest thumbnails
    window.resize(620, 460)


def test_grid_stays_on_the_photos_shown_when_indexing_adds_some(qtbot, make_app, library, many):
    library.add_folder(many)
    controller, window = make_app(library)
    small_window(window)
    wait_index_done(qtbot, controller)
    browse = window.browse
    grid = browse.grid
    wait_rows(qtbot, browse.model, 48)
    wait_laid_out(qtbot, grid)
    bar = grid.verticalScrollBar()
    assert bar.maximum() > 3 * grid.gridSize().height()
    grid.setCurrentIndex(browse.model.index(14, 0))
    bar.setValue(2 * grid.gridSize().height() + 17)  # part of a row scrolled out
    before = browse.top_photo()
    current = grid.current_path()
    assert before is not None and before[1] < 0

    # Newer photos: in date order they come before everything shown.
    now = time.time()
    for i in range(12):
        path = draw_photo(many / f"new_{i:02d}.jpg", seed=300 + i)
        os.utime(path, (now + i, now + i))
    controller.last_report = None
    controller.rescan()
    wait_index_done(qtbot, controller)
    wait_rows(qtbot, browse.model, 60)
    qtbot.waitUntil(lambda: browse._anchor is None and grid.updatesEnabled(), timeout=5000)
    assert browse.model.path(0).endswith("new_11.jpg")  # the new photos are above

    def place(path):
        return grid.visualRect(browse.model.index(browse.model.row_of_path(path), 0)).top()

    # The photo that was at the top is at the same height (the row reflows: 12 new photos
    # are not a whole number of rows, so it may sit in another column).
    assert place(before[0]) == before[1]
    assert grid.current_path() == current

    # More, and reloads with nothing new: the same photo is held (no drift of a few photos per
    # reload as the rows reflow).
    for i in range(12, 19):
        path = draw_photo(many / f"new_{i:02d}.jpg", seed=300 + i)
        os.utime(path, (now + i, now + i))
    controller.last_report = None
    controller.rescan()
    wait_index_done(qtbot, controller)
    wait_rows(qtbot, browse.model, 67)
    for _ in range(2):
        qtbot.waitUntil(lambda: browse._anchor is None and grid.updatesEnabled(), timeout=5000)
        assert place(before[0]) == before[1]
        with qtbot.waitSignal(browse.listing_loaded, timeout=5000):
            browse.reload(keep_position=True)
    # Once the user scrolls, the photo then at the top is the one held.
    qtbot.waitUntil(lambda: browse._anchor is None, timeout=5000)
    grid.verticalScrollBar().setValue(grid.verticalScrollBar().value() + grid.gridSize().height())
    now_top = browse.top_photo()
    with qtbot.waitSignal(browse.listing_loaded, timeout=5000):
        browse.reload(keep_position=True)
    qtbot.waitUntil(lambda: browse._anchor is None, timeout=5000)
    assert browse.top_photo() == now_top


def test_empty_library_message_only_without_folders(qtbot, make_app, library, many):
    controller, window = make_app(library)
    assert window.pages.currentWidget() is window.welcome
    browse = window.browse
    texts = []
    browse.listing_loaded.connect(lambda: texts.append(browse.empty_label.text()))
    controller.folders_changed.connect(lambda: texts.append(browse.empty_label.text()))
    controller.index_started.connect(lambda: texts.append(browse.empty_label.text()))
    window._setup_done([str(many)], library.model_name)  # the welcome page's Start
    wait_index_done(qtbot, controller)
    wait_rows(qtbot, browse.model, 48)
    assert texts and not any("No folders yet" in t for t in texts)


def test_folder_and_scroll_position_restored_at_next_start(qtbot, make_app, library, library_dir,
                                                           many, qsettings):
    library.add_folder(many)
    library.index()
    controller, window = make_app(library)
    small_window(window)
    browse = window.browse
    qtbot.waitUntil(lambda: str(many) in browse.sidebar.items, timeout=5000)
    with qtbot.waitSignal(browse.listing_loaded, timeout=5000):
        browse.select_folder(str(many))
    wait_laid_out(qtbot, browse.grid)
    cell = browse.grid.gridSize().height()
    browse.grid.verticalScrollBar().setValue(3 * cell + 5)
    top = browse.top_photo()
    assert top is not None and top[0] != browse.model.path(0)
    window.close()
    controller.shutdown()

    again = Library(library_dir)
    controller2, window2 = make_app(again, settings=qsettings)
    browse2 = window2.browse
    assert browse2.folder == str(many)
    wait_rows(qtbot, browse2.model, 48)
    qtbot.waitUntil(lambda: browse2._anchor is None and browse2.top_photo() is not None, timeout=5000)
    assert browse2.top_photo() == top
    qtbot.waitUntil(lambda: browse2.sidebar.currentItem() is browse2.sidebar.items.get(str(many)),
                    timeout=5000)
    assert "48 photos in many" in browse2.count_label.text()
    wait_index_done(qtbot, controller2)  # the rescan at start does not move it
    qtbot.waitUntil(lambda: browse2._anchor is None, timeout=5000)
    assert browse2.top_photo() == top
    again.close()


@pytest.mark.parametrize("size", [200, 256])
def test_rows_fill_the_width_at_every_window_width(qtbot, size):
    from simdesk.ui.grid import PhotoGrid
    from simdesk.ui.photomodel import PhotoListing, PhotoListModel

    model = PhotoListModel(None)
    n = 60
    model.set_listing(PhotoListing(np.arange(n, dtype=np.int64), [f"/x/{i}.jpg" for i in range(n)],
                                   [None] * n, np.zeros(n)))
    grid = PhotoGrid()
    qtbot.addWidget(grid)
    grid.setModel(model)
    grid.set_thumb_size(size)
    grid.show()
    for width in range(700, 1400, 23):
        grid.resize(width, 500)
        qtbot.waitUntil(lambda: grid.visualRect(model.index(n - 1, 0)).isValid(), timeout=2000)
        qtbot.wait(1)
        cell = grid.delegate.cell_size(grid.fontMetrics()).width()
        first_row = [r for r in range(n)
                     if grid.visualRect(model.index(r, 0)).top() == grid.visualRect(model.index(0, 0)).top()]
        right = max(grid.visualRect(model.index(r, 0)).right() for r in first_row)
        # whole columns only, and the gap on the right under one cell's slack (no missing column)
        assert grid.viewport().width() - right < cell, (width, len(first_row))


def test_zoom_keeps_the_photos_in_view(qtbot, make_app, library, many):
    library.add_folder(many)
    library.index()
    controller, window = make_app(library)
    small_window(window)
    browse, grid = window.browse, window.browse.grid
    wait_rows(qtbot, browse.model, 48)
    wait_laid_out(qtbot, grid)
    grid.verticalScrollBar().setValue(4 * grid.gridSize().height())
    top = browse.top_photo()[0]

    def in_view(path):
        rect = grid.visualRect(browse.model.index(browse.model.row_of_path(path), 0))
        return rect.isValid() and grid.viewport().rect().intersects(rect)

    window.zoom(+1)
    qtbot.waitUntil(lambda: in_view(top), timeout=3000)
    window.zoom(+1)
    qtbot.waitUntil(lambda: in_view(top), timeout=3000)
    # the photo selected, when in view, is the one kept
    selected = browse.model.path(browse.model.row_of_path(top) + 1)
    grid.setCurrentIndex(browse.model.index(browse.model.row_of_path(selected), 0))
    window.zoom(-1)
    qtbot.waitUntil(lambda: in_view(selected), timeout=3000)


def test_another_folder_starts_at_its_top(qtbot, make_app, library, many, nested):
    library.add_folder(many)
    library.add_folder(nested)
    library.index()
    controller, window = make_app(library)
    small_window(window)
    browse, grid = window.browse, window.browse.grid
    wait_rows(qtbot, browse.model, 58)
    wait_laid_out(qtbot, grid)
    grid.verticalScrollBar().setValue(grid.verticalScrollBar().maximum())
    with qtbot.waitSignal(browse.listing_loaded, timeout=5000):
        browse.select_folder(str(many))
    wait_laid_out(qtbot, grid)
    assert grid.verticalScrollBar().value() == 0


def test_selection_survives_a_reload(qtbot, make_app, library, many):
    from PySide6.QtCore import QItemSelection, QItemSelectionModel

    library.add_folder(many)
    library.index()
    controller, window = make_app(library)
    browse, grid = window.browse, window.browse.grid
    wait_rows(qtbot, browse.model, 48)
    picked = [0, 1, 2, 7, 20, 21, 47]
    selection = QItemSelection()
    for row in picked:
        selection.select(browse.model.index(row, 0), browse.model.index(row, 0))
    grid.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    paths = sorted(browse.model.path(r) for r in picked)
    draw_photo(many / "newest.jpg", seed=999)  # now: before all of them in date order
    controller.last_report = None
    controller.rescan()
    wait_index_done(qtbot, controller)
    wait_rows(qtbot, browse.model, 49)
    assert sorted(grid.selected_paths()) == paths
