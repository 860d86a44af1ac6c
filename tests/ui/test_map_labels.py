"""The map names its regions, the lasso selects, "Show on map" centres and rings a photo."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt

from simdesk.core.map.labels import region_labels
from simdesk.ui.map_captions import LABEL_HIDE_PX

from .test_map_page import map_app, open_map  # noqa: F401 (fixtures)
from .test_map_view import map_view  # noqa: F401 (fixture)
from .uihelpers import trigger


def test_captions_name_regions_at_every_zoom(map_view, qtbot):  # noqa: F811
    view, layout, groups = map_view
    classes = np.full(len(layout), -1)
    for name, cls in (("red", 281), ("green", 388), ("blue", 207)):
        for pid in groups[name]:
            classes[layout.row_of(pid)] = cls
    view.set_region_labels({"tsne": region_labels(layout.positions("tsne"), classes, sizes=(20, 5))})
    view.fit_all(animate=False)
    view.repaint()
    assert sorted(view.drawn_labels) == ["giant panda", "golden retriever", "tabby cat"]
    view.zoom_to_photo(groups["red"][0], item_px=60, animate=False)  # closer: finer captions
    view.repaint()
    assert view.drawn_labels and set(view.drawn_labels) <= {"tabby cat", "giant panda", "golden retriever"}
    view.zoom_to_photo(groups["red"][0], item_px=LABEL_HIDE_PX + 50, animate=False)
    view.repaint()
    assert view.drawn_labels == []  # one photo fills the view: no caption over it
    view.fit_all(animate=False)
    view.set_show_labels(False)
    view.repaint()
    assert view.drawn_labels == []


def test_lasso_selects_what_it_encircles(map_view, qtbot):  # noqa: F811
    view, layout, groups = map_view
    view.fit_all(animate=False)
    screen = view.screen_positions()
    rows = [layout.row_of(p) for p in groups["green"]]
    lo, hi = screen[rows].min(axis=0) - 3, screen[rows].max(axis=0) + 3
    corners = [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])]
    inside_box = set(view.state.rows_in_rect(lo[0], lo[1], hi[0], hi[1]))
    view.set_lasso_mode(True)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(int(lo[0]), int(lo[1])))
    for x, y in corners[1:] + corners[:1]:
        qtbot.mouseMove(view, QPoint(int(x), int(y)))
    with qtbot.waitSignal(view.selectionChanged):
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(int(lo[0]), int(lo[1])))
    selected = {layout.row_of(p) for p in view.selected_ids()}
    assert set(rows) <= selected and selected <= inside_box
    # A triangle: only what is inside the polygon, not its bounding box.
    view.select_polygon([QPointF(lo[0], lo[1]), QPointF(hi[0], lo[1]), QPointF(lo[0], hi[1])])
    tri = {layout.row_of(p) for p in view.selected_ids()}
    s = view.screen_positions()[list(tri)]
    assert tri and ((s[:, 0] - lo[0]) / (hi[0] - lo[0]) + (s[:, 1] - lo[1]) / (hi[1] - lo[1]) <= 1.01).all()


def test_lasso_selection_gets_the_photo_menu(qtbot, map_app):  # noqa: F811
    controller, window, _ = map_app
    page = open_map(qtbot, window)
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=20_000)
    canvas = page.canvas
    canvas.fit_all(animate=False)
    w, h = canvas.width(), canvas.height()
    canvas.select_polygon([QPointF(-5, -5), QPointF(w + 5, -5), QPointF(w + 5, h + 5), QPointF(-5, h + 5)])
    ids = canvas.selected_ids()
    assert len(ids) == 11
    got = []
    page.menu_requested.connect(lambda paths, pos: got.append(paths))
    row = canvas.map_layout().row_of(ids[0])
    from PySide6.QtGui import QContextMenuEvent
    from PySide6.QtWidgets import QApplication

    pos = QPoint(*[int(v) for v in canvas.screen_positions()[row]])
    QApplication.sendEvent(canvas, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, canvas.mapToGlobal(pos)))
    assert len(got[-1]) == 11  # the menu acts on the whole lasso selection


def test_show_on_map_centres_and_rings_the_photo(qtbot, map_app, photo_folder):  # noqa: F811
    controller, window, _ = map_app
    path = str(photo_folder / "photo_3.jpg")
    photo_id = controller.library.store.photo_by_path(path).id
    menu = window.actions_.menu([path])
    page = window.map_page
    with qtbot.waitSignal(page.map_shown, timeout=20_000):
        trigger(menu, "Show on map")
    assert window.pages.currentWidget() is page
    qtbot.waitUntil(lambda: page.canvas.highlighted_id() == photo_id, timeout=5000)
    assert page.canvas.selected_ids() == [photo_id]
    qtbot.waitUntil(lambda: np.allclose(
        page.canvas.screen_positions()[page.canvas.map_layout().row_of(photo_id)],
        (page.canvas.width() / 2, page.canvas.height() / 2), atol=2), timeout=3000)
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=20_000)
    assert page.data.classes is not None and len(page.data.classes) == 11  # named by the head


def test_a_model_without_classifier_says_so(qtbot, map_app, models_dir):  # noqa: F811
    import json

    controller, window, _ = map_app
    manifest = models_dir / controller.library.model_name / "manifest.json"
    data = json.loads(manifest.read_text())
    data["logits_output"] = None
    manifest.write_text(json.dumps(data))
    page = open_map(qtbot, window)
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=20_000)
    assert page.data.labels is None
    assert "no region labels" in page.toolbar.info.text()


def test_a_caption_is_not_repeated_close_by_and_stays_inside_the_view(map_view):  # noqa: F811
    from simdesk.core.map.labels import RegionLabel

    view, layout, groups = map_view
    view.fit_all(animate=False)
    x0, y0 = view.state.offset
    s = view.state.scale

    def at(px, py, text, count):  # a caption whose centre is at this screen point
        return RegionLabel(0, (px - x0) / s, (py - y0) / s, text, count, 0.9, 0.2)

    view.set_region_labels({"tsne": [at(300, 200, "tabby cat", 50), at(330, 260, "tabby cat", 20),
                                     at(4, 100, "American Staffordshire terrier", 10)]})
    view.set_show_labels(True)
    view.repaint()
    assert view.drawn_labels.count("tabby cat") == 1
    assert "American Staffordshire terrier" in view.drawn_labels  # moved in, not cut or dropped
