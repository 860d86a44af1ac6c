"""Indexing from the GUI: progress in the status bar, Cancel, Problems, and GUI-thread stalls."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QElapsedTimer, Qt, QTimer

from simdesk.core import indexer
from .uihelpers import GUI_MARKS, draw_photo, wait_index_done, wait_rows

pytestmark = GUI_MARKS


@pytest.fixture
def many_photos(tmp_path):
    folder = tmp_path / "many"
    for i in range(120):
        draw_photo(folder / f"img_{i:03d}.jpg", seed=1000 + i, size=(64, 48))
    return folder


def slow_prepare(monkeypatch, seconds):
    original = indexer.prepare

    def prepare(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(indexer, "prepare", prepare)
    return original


def test_progress_and_cancel_during_indexing(qtbot, make_app, library, many_photos, monkeypatch):
    original = slow_prepare(monkeypatch, 0.02)
    library.add_folder(many_photos)
    controller, window = make_app(library)
    status = window.index_status
    seen = []
    controller.index_progress.connect(seen.append)
    qtbot.waitUntil(lambda: any(p.phase == "indexing" and p.done > 0 for p in seen), timeout=10_000)
    assert status.isVisible()
    text = status.label.text()
    assert "/120" in text and "photos/s" in text and "ETA" in text
    qtbot.mouseClick(status.cancel_button, Qt.MouseButton.LeftButton)
    wait_index_done(qtbot, controller)
    report = controller.last_report
    assert report.cancelled and 0 < report.embedded < 120
    assert not status.isVisible()
    assert "Indexing stopped" in window.statusBar().currentMessage()
    wait_rows(qtbot, window.browse.model, report.embedded)

    # Rescan resumes where it stopped.
    monkeypatch.setattr(indexer, "prepare", original)
    controller.last_report = None
    window.rescan_action.trigger()
    wait_index_done(qtbot, controller, timeout=60_000)
    assert controller.last_report.unchanged == report.embedded
    wait_rows(qtbot, window.browse.model, 120)


def test_problems_lists_files_that_could_not_be_indexed(qtbot, make_app, library, photo_folder):
    (photo_folder / "empty.jpg").write_bytes(b"")
    (photo_folder / "notes.png").write_text("not an image at all")
    good = (photo_folder / "photo_0.jpg").read_bytes()
    (photo_folder / "cut.jpg").write_bytes(good[: len(good) // 3])
    library.add_folder(photo_folder)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    assert "could not be indexed" in window.statusBar().currentMessage()
    window.problems_action.trigger()
    dialog = window.problems_dialog
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 3, timeout=5000)
    rows = {dialog.tree.topLevelItem(i).text(0): dialog.tree.topLevelItem(i).text(1)
            for i in range(3)}
    assert set(rows) == {"empty.jpg", "notes.png", "cut.jpg"}
    assert "empty" in rows["empty.jpg"]
    assert all(reason for reason in rows.values())
    assert "3 files could not be indexed" in dialog.summary.text()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_gui_thread_never_stalls_while_indexing(qtbot, make_app, library, tmp_path):
    folder = tmp_path / "few-hundred"
    for i in range(300):
        draw_photo(folder / f"p{i:03d}.jpg", seed=i, size=(320, 240), quality=90)
    library.add_folder(folder)
    controller, window = make_app(library, start=False)
    gaps = []
    clock = QElapsedTimer()
    timer = QTimer()
    timer.setInterval(10)

    def tick():
        gaps.append(clock.restart())

    timer.timeout.connect(tick)
    clock.start()
    timer.start()
    window.start()
    wait_index_done(qtbot, controller, timeout=60_000)
    wait_rows(qtbot, window.browse.model, 300)
    timer.stop()
    assert controller.last_report.embedded == 300
    worst = max(gaps[1:])
    print(f"\nworst GUI-thread gap while indexing 300 photos: {worst} ms over {len(gaps)} ticks")
    # The issue asks for < 100 ms; the margin absorbs a loaded shared CI machine.
    assert worst < 150, worst
