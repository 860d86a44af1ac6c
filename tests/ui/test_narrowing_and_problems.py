"""Similar photos narrowed (minimum similarity, several query photos); View > Problems with Retry
and the scan's own problems; the Delete dialog names Edit > Undo, which puts the photo back."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt

from simdesk.core import indexer
from simdesk.ui.photomodel import SimilarityRole
from .uihelpers import GUI_MARKS, wait_index_done, wait_laid_out, wait_rows

pytestmark = GUI_MARKS


@pytest.fixture
def indexed_app(qtbot, make_app, library, photo_folder):
    library.add_folder(photo_folder)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    wait_rows(qtbot, window.browse.model, 7)
    with qtbot.waitSignal(window.browse.listing_loaded, timeout=5000):
        window.browse.set_order("name")
    wait_laid_out(qtbot, window.browse.grid)
    return controller, window


def similarities(view):
    return [view.model.index(r, 0).data(SimilarityRole) for r in range(view.model.rowCount())]


def test_minimum_similarity_slider_narrows_the_results(qtbot, indexed_app, photo_folder):
    controller, window = indexed_app
    similar = window.similar
    assert similar.min_slider.value() == 0 and similar.min_label.text() == "any"
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        window.show_similar(str(photo_folder / "photo_2.jpg"))
    everything = similarities(similar)
    assert len(everything) == 6
    cut = everything[2]
    value = int(cut * 100)  # hundredths, rounded down: the third result stays in
    assert 0 < value < 100 and everything[3] < value / 100, everything
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        similar.min_slider.setValue(value)
    assert similar.min_label.text() == f"{value / 100:.2f}"
    narrowed = similarities(similar)
    assert narrowed == [s for s in everything if s >= value / 100]
    assert f"at least {value / 100:.2f} similar" in similar.status.text()
    assert controller.settings.value("similar/min") in (value, str(value))
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        similar.min_slider.setValue(100)
    assert similarities(similar) == [] and "0 photos at least 1.00" in similar.status.text()
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        similar.min_slider.setValue(0)
    assert len(similarities(similar)) == 6


def test_similar_to_several_selected_photos(qtbot, indexed_app, photo_folder):
    controller, window = indexed_app
    browse = window.browse
    grid = browse.grid
    picked = [str(photo_folder / "photo_1.jpg"), str(photo_folder / "photo_4.jpg")]
    selection = QItemSelection()
    for path in picked:
        index = browse.model.index(browse.model.row_of_path(path), 0)
        selection.select(index, index)
    grid.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    grid.setFocus()
    similar = window.similar
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        qtbot.keyClick(grid, Qt.Key.Key_Return)
    assert similar.queries == picked
    assert similar.title.text() == "Photos similar to photo_1.jpg and photo_4.jpg"
    assert similar.query_heading.text() == "Query: 2 photos"
    qtbot.waitUntil(lambda: not similar.query_image.pixmap().isNull(), timeout=5000)  # both, tiled
    found = [similar.model.path(r) for r in range(similar.model.rowCount())]
    assert len(found) == 5 and not set(found) & set(picked)
    assert "mean direction" in similar.status.text()
    # the same ranking as the core's
    expected = controller.library.similar_to_many(picked, 30)
    assert found == [m.path for m in expected.matches]
    # the context menu offers it too
    menu = window.actions_.menu(picked, window)
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts[:2] == ["Show photos similar to these 2", "Show photos similar to photo_1.jpg"]
    # one of the results, then Back to the two
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        window.show_similar(found[0])
    assert similar.queries == [found[0]]
    with qtbot.waitSignal(similar.results_shown, timeout=10_000):
        similar.back()
    assert similar.queries == picked


def test_problems_retry_and_scan_problems(qtbot, make_app, library, photo_folder, monkeypatch):
    flaky = str(photo_folder / "photo_3.jpg")
    original = indexer.prepare

    def failing(item, *args, **kwargs):
        result = original(item, *args, **kwargs)
        if item.file.path == flaky:
            result.error, result.decoded = "simulated: the disk went away", None
        return result

    monkeypatch.setattr(indexer, "prepare", failing)
    os.symlink(photo_folder, photo_folder / "sub" / "loop")  # a folder link into its own parent
    library.add_folder(photo_folder)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    assert ("1 file could not be indexed (View > Problems). 1 folder or link could not be scanned."
            in window.statusBar().currentMessage())
    window.problems_action.trigger()
    dialog = window.problems_dialog
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 2, timeout=5000)
    rows = {dialog.tree.topLevelItem(i).text(0): dialog.tree.topLevelItem(i).text(1) for i in range(2)}
    assert rows["photo_3.jpg"] == "simulated: the disk went away"
    assert "loop" in rows["loop/"]
    assert "1 file could not be indexed" in dialog.summary.text()
    assert "1 folder or link could not be scanned" in dialog.summary.text()
    assert "Retry" in dialog.retry_hint.text() and "--retry-failed" not in dialog.retry_hint.text()

    # A plain rescan leaves the failed file alone (unchanged); Retry tries it again.
    monkeypatch.setattr(indexer, "prepare", original)
    assert dialog.retry_button.isVisible() and dialog.retry_button.isEnabled()
    controller.last_report = None
    qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    assert not dialog.retry_button.isEnabled()
    wait_index_done(qtbot, controller)
    assert controller.last_report.embedded == 1
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 1, timeout=5000)
    assert dialog.tree.topLevelItem(0).text(0) == "loop/"  # the loop is still there
    assert dialog.retry_button.isEnabled()
    wait_rows(qtbot, window.browse.model, 7)


def test_delete_dialog_names_undo_and_undo_puts_the_photo_back(qtbot, indexed_app, photo_folder,
                                                              monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    controller, window = indexed_app
    asked = []

    def answer(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    grid = window.browse.grid
    target = str(photo_folder / "photo_2.jpg")
    grid.setCurrentIndex(window.browse.model.index(window.browse.model.row_of_path(target), 0))
    grid.setFocus()
    qtbot.keyClick(grid, Qt.Key.Key_Delete)
    assert "Edit > Undo (Ctrl+Z)" in asked[0]
    wait_rows(qtbot, window.browse.model, 6)
    undo = window.duplicates.undo_action
    qtbot.waitUntil(undo.isEnabled, timeout=5000)
    undo.trigger()
    qtbot.waitUntil(lambda: os.path.exists(target), timeout=5000)
    wait_rows(qtbot, window.browse.model, 7)
