"""The list model (checked with qtmodeltester), the task pool and the thumbnail loader, without a
window."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QThread, Qt

from simdesk.ui.photomodel import (
    HashRole,
    PathRole,
    PhotoIdRole,
    PhotoListing,
    PhotoListModel,
    SimilarityRole,
    ThumbnailMissingRole,
    role_data,
)
from simdesk.ui.tasks import Job, TaskPool
from simdesk.ui.thumbnails import PixmapLRU, ThumbnailLoader
from .uihelpers import GUI_MARKS

pytestmark = GUI_MARKS


def listing(n=5, similarities=False):
    return PhotoListing(
        ids=np.arange(10, 10 + n, dtype=np.int64),
        paths=[f"/photos/p{i}.jpg" for i in range(n)],
        hashes=[bytes([i]) * 16 for i in range(n)],
        times=np.arange(n, dtype=np.float64),
        similarities=np.linspace(0.9, 0.5, n).astype(np.float32) if similarities else None,
    )


def test_model_passes_qtmodeltester(qtmodeltester):
    model = PhotoListModel()
    qtmodeltester.check(model)
    model.set_listing(listing(5, similarities=True))
    qtmodeltester.check(model)
    assert model.rowCount() == 5
    index = model.index(2, 0)
    assert index.data() == "p2.jpg"
    assert index.data(PathRole) == "/photos/p2.jpg"
    assert index.data(PhotoIdRole) == 12
    assert index.data(HashRole) == bytes([2]) * 16
    assert index.data(SimilarityRole) == pytest.approx(0.7)
    assert "similarity 0.700" in index.data(Qt.ItemDataRole.ToolTipRole)
    assert model.row_of_id(13) == 3 and model.row_of_id(99) is None
    assert model.remove_paths(["/photos/p1.jpg", "/photos/p2.jpg", "/photos/p4.jpg"]) == 3
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == ["p0.jpg", "p3.jpg"]
    qtmodeltester.check(model)


def test_model_asks_for_thumbnails_and_repaints_the_rows(qtbot, qtmodeltester):
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QImage

    def jpeg(colour):
        image = QImage(40, 30, QImage.Format.Format_RGB32)
        image.fill(colour)
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "JPEG")
        return bytes(buffer.data())

    store = {bytes([0]) * 16: jpeg(Qt.GlobalColor.red), bytes([1]) * 16: jpeg(Qt.GlobalColor.blue)}
    threads = set()

    def fetch(hashes):
        threads.add(threading.get_ident())
        return {h: store[h] for h in hashes if h in store}

    loader = ThumbnailLoader(fetch)
    model = PhotoListModel(loader)
    model.set_listing(listing(3))
    try:
        decoration = Qt.ItemDataRole.DecorationRole
        assert role_data(model.index(0, 0), decoration) is None  # placeholder first
        role_data(model.index(1, 0), decoration)
        role_data(model.index(2, 0), decoration)  # has no thumbnail at all
        changed = []
        model.dataChanged.connect(lambda first, last, roles: changed.append(first.row()))
        qtbot.waitUntil(lambda: sorted(changed) == [0, 1, 2], timeout=5000)
        pixmap = model.index(0, 0).data(decoration)
        assert pixmap is not None and pixmap.width() == 40
        assert role_data(model.index(2, 0), decoration) is None
        assert role_data(model.index(2, 0), ThumbnailMissingRole) is True
        assert threads and threading.get_ident() not in threads  # fetched off the GUI thread
        qtmodeltester.check(model)
    finally:
        loader.shutdown()


def test_pixmap_lru_keeps_to_its_budget(qapp):
    from PySide6.QtGui import QPixmap

    lru = PixmapLRU(budget_bytes=3 * 10 * 10 * 4)
    for i in range(5):
        pixmap = QPixmap(10, 10)
        lru.put(bytes([i]), pixmap)
    assert len(lru) == 3 and lru.bytes <= lru.budget
    assert lru.get(bytes([0])) is None and lru.get(bytes([4])) is not None


def test_task_pool_delivers_results_and_errors_on_the_gui_thread(qtbot):
    exited = []
    pool = TaskPool("test", 2, on_thread_exit=lambda: exited.append(threading.get_ident()))
    got = []
    gui = QThread.currentThread()

    def record(kind):
        return lambda value: got.append((kind, value, QThread.currentThread() is gui))

    try:
        pool.run(lambda a, b: a + b, 2, 3, on_result=record("ok"))
        pool.run(lambda: 1 / 0, on_error=record("error"))
        qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    finally:
        pool.shutdown()
    results = {kind: (value, on_gui) for kind, value, on_gui in got}
    assert results["ok"] == (5, True)
    assert isinstance(results["error"][0], ZeroDivisionError) and results["error"][1]
    assert exited  # each worker thread ran its exit hook (closes its database connection)


def test_cancelled_task_result_is_dropped(qtbot):
    pool = TaskPool("test")
    release = threading.Event()
    got = []
    try:
        first = pool.run(release.wait, 5, on_result=got.append)
        second = pool.run(lambda: "late", on_result=got.append)
        first.cancel()
        second.cancel()
        release.set()
        done = pool.run(lambda: "after", on_result=got.append)
        qtbot.waitUntil(lambda: done.done, timeout=5000)
    finally:
        pool.shutdown()
    assert got == ["after"]


class CountingJob(Job):
    def work(self, cancel, progress):
        for i in range(1000):
            if cancel.wait(0.005):
                return ("cancelled", i)
            progress(i)
        return ("done", 1000)


def test_job_progress_then_result_and_cancel(qtbot):
    job = CountingJob()
    seen = []
    job.progress.connect(seen.append)
    with qtbot.waitSignal(job.succeeded, timeout=10_000) as blocker:
        job.start()
        qtbot.waitUntil(lambda: len(seen) >= 3, timeout=5000)
        job.cancel()
    assert blocker.args[0][0] == "cancelled"
    assert not job.running
    assert seen == sorted(seen)


def test_pyside_refcount_guard_keeps_a_painting_grid_alive(qtbot):
    """PySide6 6.12.0 on Python < 3.12 drops a reference to None on every void call (and to
    None/True/False in QVariant results and signals); a grid painting placeholders used to abort
    the interpreter within seconds. simdesk.ui's import applies pyside_guard where needed."""
    import sys

    from simdesk.ui import pyside_guard
    from simdesk.ui.grid import PhotoGrid

    if sys.version_info < (3, 12) and pyside_guard.loses_references():
        assert pyside_guard.applied
        assert min(sys.getrefcount(x) for x in (None, True, False)) > pyside_guard.BOOST // 2
    loader = ThumbnailLoader(lambda hashes: {})  # never finds a thumbnail: placeholders forever
    model = PhotoListModel(loader)
    model.set_listing(listing(60, similarities=True))
    grid = PhotoGrid(show_similarity=True)
    grid.setModel(model)
    grid.resize(900, 700)
    qtbot.addWidget(grid)
    with qtbot.waitExposed(grid):
        grid.show()
    asked = []
    thumbnail = model._thumbnail
    model._thumbnail = lambda row: asked.append(row) or thumbnail(row)
    try:
        qtbot.waitUntil(lambda: grid.visualRect(model.index(20, 0)).isValid(), timeout=5000)
        for _ in range(100):
            grid.viewport().repaint()
    finally:
        loader.shutdown()
    assert len(asked) >= 100 * 12  # every frame painted a screenful of placeholder cells


def test_decode_is_upright_scaled_and_safe(tmp_path, qapp):
    from PIL import Image

    from simdesk.ui.images import decode, decode_thumbnail, load_image

    photo = tmp_path / "rotated.jpg"
    img = Image.new("RGB", (400, 200), (200, 30, 30))
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    img.save(photo, exif=exif)
    image = load_image(str(photo), 100)
    assert (image.width(), image.height()) == (50, 100)  # upright (portrait) and within 100
    assert image.format() == image.Format.Format_RGB32
    assert abs(image.pixelColor(25, 50).red() - 200) < 20
    small = decode(photo.read_bytes(), 1000)
    assert (small.width(), small.height()) == (200, 400)  # never enlarged
    thumb = decode_thumbnail(photo.read_bytes(), 100)
    assert (thumb.width(), thumb.height()) == (100, 50)  # thumbnails are upright already
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    assert load_image(str(tmp_path / "bad.jpg"), 100) is None
    assert load_image(str(tmp_path / "missing.jpg"), 100) is None
