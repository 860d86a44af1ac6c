"""Paints one grid cell: the thumbnail (or a placeholder), the file name, and badges."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from simdesk.ui.photomodel import PhotoListModel, role_data

PADDING = 6
CAPTION_GAP = 4
# Built once: combining PySide6 enum flags goes through Python's enum machinery each time.
_SELECTED = QStyle.StateFlag.State_Selected
_HAS_FOCUS = QStyle.StateFlag.State_HasFocus
_MOUSE_OVER = QStyle.StateFlag.State_MouseOver
_HIGHLIGHT = QPalette.ColorRole.Highlight
_HIGHLIGHTED_TEXT = QPalette.ColorRole.HighlightedText
_TEXT = QPalette.ColorRole.Text
_MIDLIGHT = QPalette.ColorRole.Midlight
_PLACEHOLDER_TEXT = QPalette.ColorRole.PlaceholderText
_CENTER = Qt.AlignmentFlag.AlignCenter
_ELIDE_MIDDLE = Qt.TextElideMode.ElideMiddle
_SMOOTH = QPainter.RenderHint.SmoothPixmapTransform


class ThumbnailDelegate(QStyledItemDelegate):
    """Every cell has the same size (the view uses uniform item sizes): ``thumb_size`` square plus
    a caption line. ``show_similarity`` adds a rank and similarity badge (the similar view)."""

    def __init__(self, thumb_size: int = 160, show_similarity: bool = False, parent=None):
        super().__init__(parent)
        self.thumb_size = thumb_size
        self.show_similarity = show_similarity
        self._badge_font = QFont()
        self._badge_font.setBold(True)
        self._placeholder = QColor(128, 128, 128, 40)
        self._elided: dict[tuple[str, int], str] = {}

    def cell_size(self, font_metrics: QFontMetrics) -> QSize:
        return QSize(self.thumb_size + 2 * PADDING,
                     self.thumb_size + 2 * PADDING + CAPTION_GAP + font_metrics.height())

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell_size(option.fontMetrics)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        # Called for every visible cell on every frame, from the GUI thread while workers may hold
        # the GIL: every Qt call can mean waiting to get it back, so this does few of them (one
        # model call per cell, flags and alignments built once, elided names cached).
        model = index.model()
        if isinstance(model, PhotoListModel):
            name, pixmap, missing, similarity = model.cell(index.row())
        else:
            name = role_data(index, Qt.ItemDataRole.DisplayRole) or ""
            pixmap, missing, similarity = role_data(index, Qt.ItemDataRole.DecorationRole), False, None
        rect: QRect = option.rect
        x, y, width = rect.x(), rect.y(), rect.width()
        state = option.state
        selected = bool(state & _SELECTED)
        focused = selected and bool(state & _HAS_FOCUS)
        palette: QPalette = option.palette
        if selected:
            highlight = palette.color(_HIGHLIGHT)
            painter.fillRect(rect, highlight if focused else highlight.lighter(160))
        elif state & _MOUSE_OVER:
            painter.fillRect(rect, palette.color(_MIDLIGHT))

        size = self.thumb_size
        box = QRect(x + (width - size) // 2, y + PADDING, size, size)
        picture = box  # where the photo is (its badge goes in its corner)
        if pixmap is not None:
            pw, ph = pixmap.width(), pixmap.height()
            scale = min(size / pw, size / ph) if pw and ph else 1.0
            tw, th = max(1, round(pw * scale)), max(1, round(ph * scale))
            picture = QRect(box.x() + (size - tw) // 2, box.y() + (size - th) // 2, tw, th)
            if (tw, th) != (pw, ph):
                painter.setRenderHint(_SMOOTH, True)
            painter.drawPixmap(picture, pixmap)
        else:
            # A plain fill: an antialiased rounded rectangle cost 0.4 ms a cell, which showed
            # when a fast scroll paints a screenful of placeholders every frame.
            margin = size // 12
            inner = box.adjusted(margin, margin, -margin, -margin)
            painter.fillRect(inner, self._placeholder)
            if missing:
                painter.setPen(palette.color(_PLACEHOLDER_TEXT))
                painter.drawText(inner, _CENTER, "no preview")

        metrics = option.fontMetrics
        text_width = width - 2 * PADDING
        key = (name, text_width)
        elided = self._elided.get(key)
        if elided is None:
            if len(self._elided) > 4096:
                self._elided.clear()
            elided = self._elided[key] = metrics.elidedText(name, _ELIDE_MIDDLE, text_width)
        painter.setPen(palette.color(_HIGHLIGHTED_TEXT if focused else _TEXT))
        painter.drawText(QRect(x + PADDING, box.bottom() + 1 + CAPTION_GAP, text_width,
                               metrics.height()), _CENTER, elided)

        if self.show_similarity and similarity is not None:
            painter.save()
            self._badge(painter, picture, f"#{index.row() + 1}  {similarity:.3f}")
            painter.restore()

    def _badge(self, painter: QPainter, box: QRect, text: str) -> None:
        painter.setFont(self._badge_font)
        metrics = QFontMetrics(self._badge_font)
        width = metrics.horizontalAdvance(text) + 10
        height = metrics.height() + 4
        badge = QRectF(box.x() + 3, box.y() + 3, width, height)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(20, 20, 20, 190))
        painter.drawRoundedRect(badge, height / 2, height / 2)
        painter.setPen(QPen(QColor(255, 255, 255)))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
