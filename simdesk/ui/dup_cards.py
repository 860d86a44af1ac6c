"""The duplicates page's cards: a group of copies side by side (:class:`GroupCard`), and one copy
with its thumbnail, facts, keep choice and Trash tick (:class:`MemberCard`)."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
)

from simdesk.core.units import format_bytes

THUMB = 150
CARD_WIDTH = THUMB + 40
COLUMNS = 5  # copies per row inside a group


def member_date(member) -> str:
    if member.capture_time is not None:  # EXIF times are wall-clock times, stored as if UTC
        return "taken " + time.strftime("%Y-%m-%d %H:%M", time.gmtime(member.capture_time))
    return "file date " + time.strftime("%Y-%m-%d %H:%M", time.localtime(member.mtime_ns / 1e9))


GROUP_KINDS = {"identical": "Identical files", "copy": "Copies of one photo",
               "similar_shot": "Similar shots (different exposures: nothing is ticked)"}
BORDER_KEEP, BORDER_PLAIN, BORDER_CURRENT = "2px solid #2e8b57", "1px solid palette(mid)", "3px solid #2a6fdb"

class MemberCard(QFrame):
    """One copy: thumbnail, name, resolution, file size, date, folder, similarity; keep and tick.
    Double-click: ``compare_requested``; right-click: ``menu_requested``."""

    compare_requested = Signal(str)  # path
    menu_requested = Signal(str, QPoint)  # path, global position

    def __init__(self, member, group, ticked: bool, parent=None):
        super().__init__(parent)
        self.member = member
        self.kept = kept = member.path == group.keep
        self.setObjectName("memberCard")
        self._current = False
        self._style()
        self.setFixedWidth(CARD_WIDTH)
        text_width = CARD_WIDTH - 16
        self.thumb = QLabel(self)
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setToolTip(member.path)
        metrics = self.fontMetrics()
        dims = f"{member.width}×{member.height}" if member.pixels else "size unknown"
        lines = [
            metrics.elidedText(os.path.basename(member.path), Qt.TextElideMode.ElideMiddle, text_width),
            f"{dims} · {format_bytes(member.size)}",
            metrics.elidedText(member_date(member), Qt.TextElideMode.ElideRight, text_width),
            metrics.elidedText(member.folder, Qt.TextElideMode.ElideLeft, text_width),
        ]
        self.info = QLabel("\n".join(lines), self)
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.info.setToolTip(member.path)
        self.badge = QLabel(self)
        self.badge.setTextFormat(Qt.TextFormat.PlainText)
        if kept:
            self.badge.setText("KEEP")
            self.badge.setToolTip(group.reason)
            self.badge.setStyleSheet("color: #1f6f43; font-weight: bold;")
        elif member.reference:
            self.badge.setText("Reference folder")
            self.badge.setToolTip("In a reference folder: never moved")
            self.badge.setStyleSheet("color: #555;")
        elif member.content_hash == group.kept.content_hash:
            self.badge.setText("Identical bytes")
        else:
            self.badge.setText(f"Similarity {member.similarity:.2f}")
            self.badge.setToolTip("Similarity to the kept copy (1.00: the same picture)")
        self.hint = QLabel(self)  # similar shots: sharpness and exposure
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.hint.setWordWrap(True)  # "sharpest · sharpness 1,440 · well exposed" is wider than a card
        self.hint.setVisible(False)
        self.keep_radio = QRadioButton("Best" if group.kind == "similar_shot" else "Keep", self)
        self.keep_radio.setChecked(kept)
        self.keep_radio.setToolTip("Keep this copy of the photo (K)")
        self.tick = QCheckBox("Trash", self)
        self.tick.setChecked(ticked and not kept and not member.reference)
        self.tick.setEnabled(not kept and not member.reference)
        self.tick.setToolTip("In a reference folder: never moved" if member.reference else
                             "The copy kept in this group is never moved" if kept else
                             "Move this copy to the Trash (X)")
        for button in (self.keep_radio, self.tick):  # the page keeps the keyboard focus
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        choices = QHBoxLayout()
        choices.setContentsMargins(0, 0, 0, 0)
        choices.addWidget(self.keep_radio)
        choices.addStretch(1)
        choices.addWidget(self.tick)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(3)
        layout.addWidget(self.thumb, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.info)
        layout.addWidget(self.badge)
        layout.addWidget(self.hint)
        layout.addLayout(choices)

    def _style(self) -> None:
        border = BORDER_CURRENT if self._current else BORDER_KEEP if self.kept else BORDER_PLAIN
        self.setStyleSheet(f"QFrame#memberCard {{ border: {border}; border-radius: 4px; }}")

    def set_current(self, current: bool) -> None:
        if current != self._current:
            self._current = current
            self._style()

    def show_hint(self, text: str, tip: str) -> None:
        self.hint.setText(text)
        self.hint.setToolTip(tip)
        self.hint.setVisible(bool(text))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.compare_requested.emit(self.member.path)
        event.accept()

    def contextMenuEvent(self, event) -> None:
        self.menu_requested.emit(self.member.path, event.globalPos())
        event.accept()

    def set_pixmap(self, pixmap: QPixmap | None, missing: bool) -> None:
        if pixmap is None:
            self.thumb.setText("no preview" if missing else "…")
            return
        self.thumb.setPixmap(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))


class GroupCard(QFrame):
    """A group: a header with its kind, size and "Not duplicates", then its copies side by side."""

    keep_chosen = Signal(object, str)  # (group, path)
    tick_changed = Signal(object, str, bool)  # (group, path, ticked)
    dismiss_requested = Signal(object)  # group
    compare_requested = Signal(object, str)  # (group, path)
    menu_requested = Signal(object, str, QPoint)  # (group, path, global position)

    def __init__(self, number: int, group, members, ticked: set[str], parent=None):
        super().__init__(parent)
        self.group = group
        self.members = list(members)
        self.number = number
        self.setObjectName("groupCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._current = False
        self._style()
        self.title = title = QLabel(self)
        title.setTextFormat(Qt.TextFormat.PlainText)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        self.dismiss_button = QPushButton("Not duplicates", self)
        self.dismiss_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.dismiss_button.setToolTip("These photos are different: never group them again (D)")
        self.dismiss_button.clicked.connect(lambda: self.dismiss_requested.emit(self.group))
        kept = group.kept
        self.reason = QLabel(self)
        self.reason.setTextFormat(Qt.TextFormat.PlainText)
        self.reason.setWordWrap(True)
        self.reason.setText(f"Keeping {os.path.basename(kept.path)}: {group.reason}")
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(title)
        titles.addWidget(self.reason)
        header = QHBoxLayout()
        header.addLayout(titles, 1)
        header.addWidget(self.dismiss_button, 0, Qt.AlignmentFlag.AlignTop)

        self.cards: list[MemberCard] = []
        self.keep_buttons = QButtonGroup(self)
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(8)
        for k, member in enumerate(members):
            card = MemberCard(member, group, member.path in ticked, self)
            self.keep_buttons.addButton(card.keep_radio)
            card.keep_radio.toggled.connect(
                lambda on, p=member.path: on and p != self.group.keep and self.keep_chosen.emit(self.group, p))
            card.tick.toggled.connect(lambda on, p=member.path: self.tick_changed.emit(self.group, p, on))
            card.compare_requested.connect(lambda p: self.compare_requested.emit(self.group, p))
            card.menu_requested.connect(lambda p, pos: self.menu_requested.emit(self.group, p, pos))
            grid.addWidget(card, k // COLUMNS, k % COLUMNS, Qt.AlignmentFlag.AlignTop)
            self.cards.append(card)
        grid.setColumnStretch(COLUMNS, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.addLayout(header)
        layout.addLayout(grid)
        self.update_figures(ticked)

    def _style(self) -> None:
        border = "2px solid #2a6fdb" if self._current else "1px solid palette(mid)"
        self.setStyleSheet(f"QFrame#groupCard {{ background: palette(base); border: {border}; "
                           "border-radius: 6px; }")

    def set_current(self, current: bool, member: int | None = None) -> None:
        """Highlight this group (the one the keys act on) and its current copy."""
        if current != self._current:
            self._current = current
            self._style()
        for k, card in enumerate(self.cards):
            card.set_current(current and k == member)

    def set_number(self, number: int, ticked: set[str]) -> None:
        self.number = number
        self.update_figures(ticked)

    def update_figures(self, ticked: set[str]) -> None:
        """The title's figures from what is ticked now (bytes to free: the ticked copies)."""
        group = self.group
        kind = GROUP_KINDS[group.kind]
        lowest = "" if group.kind == "identical" else f" · lowest similarity {group.similarity:.2f}"
        chosen = [m for m in self.members if m.path in ticked]
        freed = (f"{len(chosen)} ticked, {format_bytes(sum(m.size for m in chosen))} to free" if chosen
                 else "nothing ticked")
        self.title.setText(f"Group {self.number} · {kind} · {len(self.members)} "
                           f"{'shots' if group.kind == 'similar_shot' else 'copies'}{lowest} · {freed}")

    def card(self, path: str) -> MemberCard | None:
        return next((c for c in self.cards if c.member.path == path), None)

    def show_thumbnails(self, thumbs, only: set[bytes] | None = None) -> None:
        """Each copy's thumbnail from a ``ThumbnailLoader`` (asked for if not loaded yet);
        ``only``: just these hashes, just loaded."""
        for card in self.cards:
            chash = card.member.content_hash
            if only is None:
                card.set_pixmap(thumbs.get(chash), chash in thumbs.missing)
            elif chash in only:
                card.set_pixmap(thumbs.cache.get(chash), chash in thumbs.missing)
