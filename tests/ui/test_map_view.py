"""The cluster map canvas (offscreen): placement, level of detail, selection, export, loading."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from simdesk.core.map.cache import MapScope  # noqa: E402
from simdesk.core.progress import Cancelled  # noqa: E402
from simdesk.ui.jobs import MapLayoutJob  # noqa: E402
from simdesk.ui.map_view import DOT_MAX_PX, MapView  # noqa: E402
from test_layout import FAST, GROUP_COLOURS, fill_library  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def map_view(qtbot, library):
    """A MapView over a library of 60 fake photos (red, green, blue groups), layout shown."""
    groups = fill_library(library, {"red": 20, "green": 20, "blue": 20})
    layout = library.map_layout(params=FAST)
    view = MapView(library)
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.set_layout(layout, colours=library.map_colours(layout.photo_ids))
    view.show()
    qtbot.waitExposed(view)
    yield view, layout, groups
    view.shutdown()


def pixel(view, point) -> tuple[int, int, int]:
    image = view.grab().toImage()
    c = image.pixelColor(int(point[0]), int(point[1]))
    return c.red(), c.green(), c.blue()


def group_of(view, row):
    return view.state.photos.folders[row].rsplit("/", 1)[-1]


def test_photos_sit_at_the_layout_coordinates(map_view):
    view, layout, _ = map_view
    screen = view.screen_positions()
    assert screen.shape == (60, 2)
    # The view maps the layout's positions by one scale and one offset.
    pos = layout.positions("tsne")
    fitted = pos * view.state.scale + view.state.offset
    assert np.allclose(screen, fitted)
    # Everything is in view after "fit all", and each photo is drawn where the layout puts it.
    assert (screen[:, 0] > 0).all() and (screen[:, 0] < 640).all()
    assert (screen[:, 1] > 0).all() and (screen[:, 1] < 480).all()
    view.zoom_by(4.0)  # close enough that photos do not overlap much
    for row in range(0, 60, 7):
        x, y = view.screen_positions()[row]
        if 0 <= x < 640 and 0 <= y < 480 and view._row_at(QPointF(x, y)) == row:
            colour = np.array(pixel(view, (x, y)))
            assert np.abs(colour - GROUP_COLOURS[group_of(view, row)]).max() <= 30


def test_zoom_changes_the_level_of_detail(map_view, qtbot):
    view, _, _ = map_view
    view.zoom_by(1e-3)  # as far out as it goes
    assert view.item_size_px() < DOT_MAX_PX
    view.repaint()
    assert view.last_frame["level"] == "dots"
    before = view.item_size_px()
    view.zoom_by(50.0)
    assert view.item_size_px() > before and view.item_size_px() >= DOT_MAX_PX
    view.repaint()
    assert view.last_frame["level"].startswith("thumbnails")
    # Thumbnails arrive from the loader thread (the grids' ThumbnailLoader) and are kept as
    # pixmaps, asked for at the level drawn; closer in, a sharper level.
    qtbot.waitUntil(lambda: view.pixmap_memory() > 0, timeout=5000)
    small = view._thumbs.display_side
    assert small < 256
    view.zoom_to_photo(int(view.photo_ids[0]), item_px=300, animate=False)
    view.repaint()
    assert view.last_frame["level"] == "thumbnails 256px" and view._thumbs.display_side == 256
    # These thumbnails are stored at 32x24: cropped square, nothing sharper to fetch for 256.
    chash = view.state.photos.content_hashes[0]
    qtbot.waitUntil(lambda: view._thumbs.cache.get(chash) is not None, timeout=5000)  # a busy machine
    pixmap = view._thumbs.cache.get(chash)
    assert (pixmap.width(), pixmap.height()) == (24, 24) and not view._thumbs.wants(chash, pixmap)


def test_wheel_zooms_around_the_pointer(map_view, qtbot):
    view, _, _ = map_view
    from PySide6.QtCore import QPoint as P
    from PySide6.QtGui import QWheelEvent

    row = 10
    x, y = view.screen_positions()[row]
    before = view.item_size_px()
    event = QWheelEvent(QPointF(x, y), view.mapToGlobal(QPointF(x, y)), P(0, 0), P(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    view.wheelEvent(event)
    assert view.item_size_px() == pytest.approx(before * 2 ** 0.5)
    assert np.allclose(view.screen_positions()[row], (x, y))  # the photo under the pointer stays


def test_keyboard_zoom_pan_and_fit(map_view, qtbot):
    view, _, _ = map_view
    fit = view.state.scale
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert view.state.scale == pytest.approx(fit * 1.5)
    offset = view.state.offset.copy()
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert view.state.offset[0] > offset[0]
    view.fit_all(animate=False)
    assert view.state.scale == pytest.approx(fit)


def test_click_selects_the_photo_under_the_pointer(map_view, qtbot):
    view, layout, _ = map_view
    row = 25
    view.zoom_to_photo(int(layout.photo_ids[row]), item_px=60, animate=False)
    seen = []
    view.selectionChanged.connect(seen.append)
    screen = view.screen_positions()
    assert np.allclose(screen[row], (320, 240))
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(int(screen[row, 0]), int(screen[row, 1])))
    assert view.selected_ids() == [int(layout.photo_ids[row])]
    assert seen[-1] == [int(layout.photo_ids[row])]
    assert view.photo_at(QPointF(*screen[row])) == int(layout.photo_ids[row])
    # Clicking empty space clears the selection.
    empty = QPoint(2, 2) if view._row_at(QPointF(2, 2)) is None else QPoint(638, 2)
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=empty)
    assert view.selected_ids() == []


def test_rectangle_selects_the_photos_inside(map_view, qtbot):
    view, layout, _ = map_view
    screen = view.screen_positions()
    left = screen[:, 0] < 320
    view.select_rect(QRectF(0, 0, 320, 480))
    assert sorted(view.selected_ids()) == sorted(int(i) for i in layout.photo_ids[left])
    # With the mouse: Shift-drag over the whole view selects everything.
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, QPoint(1, 1))
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtCore import QEvent

    move = QMouseEvent(QEvent.Type.MouseMove, QPointF(639, 479), view.mapToGlobal(QPointF(639, 479)),
                       Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier)
    view.mouseMoveEvent(move)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, QPoint(639, 479))
    assert len(view.selected_ids()) == 60


def test_drag_pans(map_view, qtbot):
    view, _, _ = map_view
    before = view.screen_positions().copy()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtCore import QEvent

    move = QMouseEvent(QEvent.Type.MouseMove, QPointF(150, 130), view.mapToGlobal(QPointF(150, 130)),
                       Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    view.mouseMoveEvent(move)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(150, 130))
    assert np.allclose(view.screen_positions() - before, (50, 30))
    assert view.selected_ids() == []  # a drag is not a click


def test_context_menu_requests(map_view):
    view, layout, _ = map_view
    screen = view.screen_positions()
    row = int(np.argmin(np.abs(screen - screen.mean(axis=0)).sum(axis=1)))
    row = view._row_at(QPointF(*screen[row]))
    menu = view.context_menu(QPoint(int(screen[row, 0]), int(screen[row, 1])))
    titles = [a.text() for a in menu.actions() if a.text()]
    assert titles == ["Similar photos", "Open", "Show in folder", "Move to Trash"]
    got = {}
    view.similarRequested.connect(lambda pid: got.setdefault("similar", pid))
    view.trashRequested.connect(lambda ids: got.setdefault("trash", ids))
    view.openRequested.connect(lambda paths: got.setdefault("open", paths))
    for action in menu.actions():
        if action.text() in ("Similar photos", "Move to Trash", "Open"):
            action.trigger()
    pid = int(layout.photo_ids[row])
    assert got["similar"] == pid and got["trash"] == [pid]
    assert got["open"] == [view.state.photos.paths[row]]


def test_grid_mode_and_colour_by(map_view):
    view, layout, _ = map_view
    view.set_mode("grid")
    cells, cols, rows = layout.grid()
    screen = view.screen_positions()
    # Neighbouring cells are one item apart on screen.
    step = view.state.scale / max(cols, rows)
    assert np.allclose((screen - view.state.offset) / step - 0.5, cells, atol=1e-6)
    view.set_colour_by("folder")
    legend = view.legend()
    assert len(legend) == 3 and all(len(c) == 3 for c, _ in legend)
    view.set_colour_by("date")
    assert len(view.legend()) == 2
    with pytest.raises(ValueError):
        view.set_mode("spiral")


def test_export_view_and_whole_map(map_view, tmp_path):
    view, _, _ = map_view
    out = tmp_path / "view.png"
    size = view.export_view(out)
    image = QImage(str(out))
    assert (image.width(), image.height()) == (640, 480) == (size.width(), size.height())
    view.export_view(tmp_path / "big.png", scale=2.0)
    assert QImage(str(tmp_path / "big.png")).size().width() == 1280
    result = view.export_map(tmp_path / "map.png", size=500)
    image = QImage(str(tmp_path / "map.png"))
    assert (image.width(), image.height()) == (result.width, result.height)


def show_with_job(view, library, scope=None, **kwargs) -> MapLayoutJob:
    """What the app does: a MapLayoutJob computes the layout, the view shows it, then its colours."""
    job = MapLayoutJob(library, scope, **kwargs)
    job.layout_ready.connect(lambda data: view.set_layout(data.layout, data.photos))
    job.succeeded.connect(lambda data: view.set_colours(data.colours))
    job.start()
    return job


def test_a_layout_job_computes_in_a_worker_then_uses_the_cache(qtbot, library):
    fill_library(library, {"red": 20, "green": 20})
    view = MapView(library)
    qtbot.addWidget(view)
    view.resize(400, 300)
    fractions = []
    job = MapLayoutJob(library, None, params=FAST)
    job.progress.connect(lambda p: fractions.append(p.fraction) if p.phase != "colours" else None)
    with qtbot.waitSignal(job.ended, timeout=30000):
        job.layout_ready.connect(lambda data: view.set_layout(data.layout, data.photos))
        job.succeeded.connect(lambda data: view.set_colours(data.colours))
        job.start()
    layout = view.map_layout()
    assert layout.source == "computed" and len(layout) == 40
    assert fractions and fractions[-1] == 1.0
    assert (view.state.colours.astype(int) != 110).any()  # colours come after the layout
    job = show_with_job(view, library, MapScope.all(), params=FAST)
    with qtbot.waitSignal(job.ended, timeout=30000):
        pass
    assert view.map_layout().source == "cache"
    view.shutdown()


def test_cancel_a_layout_job(qtbot, library, monkeypatch):
    fill_library(library, {"red": 20, "green": 20})
    view = MapView(library)
    qtbot.addWidget(view)

    from simdesk.core.map import cache as layout_cache

    real = layout_cache.compute_layout
    started = []

    def cancellable(vectors, params, *, report=None, **kw):
        import time

        for _ in range(500):  # waits, checking the cancel event as the real work does
            started.append(1)
            report("tsne", 0, 1)
            time.sleep(0.01)
        return real(vectors, params, report=report, **kw)

    monkeypatch.setattr(layout_cache, "compute_layout", cancellable)
    job = show_with_job(view, library, params=FAST)
    with qtbot.waitSignal(job.failed, timeout=10000) as failed:
        qtbot.waitUntil(lambda: bool(started), timeout=1000)
        qtbot.wait(50)
        job.cancel()
    assert isinstance(failed.args[0], Cancelled)
    assert view.map_layout() is None
    view.shutdown()
