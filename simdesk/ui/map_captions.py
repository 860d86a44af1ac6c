"""The map's region captions (PixPlot's hotspots): which zoom level's regions to name, and drawing
them readable over the photos. Functions of the map canvas (``MapView``), kept apart from its
painting of photos."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter

from simdesk.core.map.labels import same_classes

LABEL_REGION_PX = 90  # finest caption level whose regions are at least this wide on screen
LABEL_REPEAT_REGIONS = 2.5  # the same caption again only this many region widths away
LABEL_HIDE_PX = 150  # photos this big on screen: no captions (they would cover the photos)


def caption_level(view, labels: list) -> int | None:
    """The finest caption level whose regions are at least LABEL_REGION_PX wide on screen."""
    levels = sorted({lab.level for lab in labels})
    chosen = None
    for level in levels:
        radius = next(lab.radius for lab in labels if lab.level == level)
        if chosen is None or 2 * radius * view.state.scale >= LABEL_REGION_PX:
            chosen = level
    return chosen

def paint_region_labels(view, painter: QPainter, size: float) -> None:
    """The region captions of the zoom level: white text on a dark box, at a fixed size;
    a caption that would overlap a larger region's is left out, and so is one naming the
    same classes as a larger region's caption close by (LABEL_REPEAT_REGIONS region widths).
    A caption near the edge is moved inside the view rather than cut."""
    view.drawn_labels = []
    labels = view._labels.get(view.mode) or []
    if not view.show_labels or not labels or size >= LABEL_HIDE_PX:
        return
    level = caption_level(view, labels)
    w, h = view.width(), view.height()
    font = QFont(view.font())
    font.setBold(True)
    taken: list[QRectF] = []
    drawn: list[tuple[str, float, float]] = []
    for lab in sorted((x for x in labels if x.level == level), key=lambda x: -x.count):
        font.setPixelSize(int(np.clip(11 + 2 * np.log2(max(lab.count, 1) / 8), 12, 18)))
        metrics = QFontMetrics(font)
        tw, th = metrics.horizontalAdvance(lab.text) + 12, metrics.height() + 4
        x = lab.x * view.state.scale + view.state.offset[0]
        y = lab.y * view.state.scale + view.state.offset[1]
        if not (0 <= x <= w and 0 <= y <= h):
            continue  # the region's centre is off screen
        near = LABEL_REPEAT_REGIONS * 2 * lab.radius * view.state.scale
        if any(same_classes(text, lab.text) and np.hypot(x - dx, y - dy) < near
               for text, dx, dy in drawn):
            continue
        left = float(np.clip(x - tw / 2, 2, max(w - tw - 2, 2)))
        top = float(np.clip(y - th / 2, 2, max(h - th - 2, 2)))
        box = QRectF(left, top, tw, th)
        if any(box.adjusted(-4, -2, 4, 2).intersects(t) for t in taken):
            continue
        taken.append(box)
        drawn.append((lab.text, x, y))
        painter.setFont(font)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 175))
        painter.drawRoundedRect(box, 6, 6)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, lab.text)
        view.drawn_labels.append(lab.text)
