"""The duplicates page's keyboard flow: the current group and copy, the keys (``KEYS``), the help overlay."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication


# Every key of the page: (name, key sequences, what it does). The help overlay lists them.
KEYS = (
    ("next_group", ("N", "Down"), "Next group"),
    ("previous_group", ("P", "Up"), "Previous group"),
    ("next_member", ("Right",), "Next copy in the group"),
    ("previous_member", ("Left",), "Previous copy in the group"),
    ("compare", ("Space", "Return", "Enter"), "Compare this copy with the kept one (full size)"),
    ("keep", ("K",), "Keep this copy (the others of the group are proposed for the Trash)"),
    ("tick", ("X",), "Tick or untick this copy for the Trash"),
    ("trash_rest", ("T",), "Keep this copy and move the rest of the group to the Trash (asks first)"),
    ("dismiss", ("D",), "Not duplicates: never group these photos again"),
    ("skip", ("S",), "Skip: on to the next group, deciding nothing"),
    ("help", ("F1", "?"), "Show or hide these keys"),
)
OTHER_KEYS = (("Ctrl+Z", "Undo the last move to the Trash"), ("Esc", "Back to all photos"))


class DuplicateKeysMixin:
    """The keys of the duplicates page (a mixin of ``DuplicatesPage``: it works on the page's state)."""

    # -- the keyboard flow ---------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            if self.help_overlay.isVisible():
                self.help_overlay.hide()
            else:
                self.closed.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def _refocus(self) -> None:
        """Keep the keyboard on the page after an action (a rebuilt card took its focus along)."""
        if not self.isVisible():
            return
        focus = QApplication.focusWidget()
        if focus is None or not self.isAncestorOf(focus) or not focus.isVisible():
            self.scroll.setFocus(Qt.FocusReason.OtherFocusReason)

    def current_group(self):
        """The group the keys act on (the first shown until the user moves)."""
        if self.current_key is None and self.cards:
            self._set_current(self.cards[0].group.key, 0, scroll=False)
        card = self.card(self.current_key) if self.current_key else None
        return card.group if card is not None else None

    def current_path(self) -> str | None:
        group = self.current_group()
        if group is None:
            return None
        members = self.visible_members(group)
        return members[min(self.current_member, len(members) - 1)].path

    def _set_current(self, key: str | None, member: int = 0, scroll: bool = True) -> None:
        old = self.card(self.current_key) if self.current_key else None
        if old is not None:
            old.set_current(False)
        self.current_key, self.current_member = key, member
        card = self.card(key) if key else None
        if card is not None:
            card.set_current(True, member)
            if scroll:
                self._settle_layout()
                self.scroll.ensureWidgetVisible(card.cards[member] if member < len(card.cards) else card, 20, 20)

    def _leave_group(self, key: str) -> None:
        """``key`` is going away: the group after it (else before it) becomes the current one."""
        if key != self.current_key:
            return
        keys = [c.group.key for c in self.cards]
        if key not in keys:
            self.current_key = None
            return
        k = keys.index(key)
        rest = keys[k + 1:] or keys[:k][-1:]
        self.current_key, self.current_member = (rest[0] if rest else None), 0

    def _step_group(self, delta: int) -> None:
        if self.current_group() is None:
            return
        keys = [c.group.key for c in self.cards]
        k = keys.index(self.current_key) + delta
        if k >= len(keys) and len(keys) < len(self.visible_groups()):
            self._show_more()
            keys = [c.group.key for c in self.cards]
        if 0 <= k < len(keys):
            self._set_current(keys[k], 0)

    def key_next_group(self) -> None:
        self._step_group(1)

    def key_previous_group(self) -> None:
        self._step_group(-1)

    def key_skip(self) -> None:
        self._step_group(1)

    def _step_member(self, delta: int) -> None:
        group = self.current_group()
        if group is None:
            return
        n = len(self.visible_members(group))
        self._set_current(self.current_key, (self.current_member + delta) % n)

    def key_next_member(self) -> None:
        self._step_member(1)

    def key_previous_member(self) -> None:
        self._step_member(-1)

    def key_keep(self) -> None:
        group, path = self.current_group(), self.current_path()
        if group is not None and path != group.keep:
            self.choose_keep(group, path)
            members = [m.path for m in self.visible_members(self.group(group.key))]
            self._set_current(group.key, members.index(path), scroll=False)  # the same photo
        self._refocus()

    def key_tick(self) -> None:
        group, path = self.current_group(), self.current_path()
        if group is None:
            return
        member = next(m for m in group.members if m.path == path)
        if path != group.keep and not member.reference:
            self.set_ticked(group, path, path not in self.ticked(group))
        self._refocus()

    def key_trash_rest(self) -> None:
        """Keep the current copy, tick every other one, and move them (this group only)."""
        group, path = self.current_group(), self.current_path()
        if group is None:
            return
        if path != group.keep:
            self.choose_keep(group, path)
            group = self.group(group.key)
        others = {m.path: True for m in self.visible_members(group) if m.path != group.keep and not m.reference}
        if others:
            self.set_ticks({group.key: others})
        self.move_to_trash([group])
        self._refocus()

    def key_dismiss(self) -> None:
        group = self.current_group()
        if group is not None:
            self.dismiss(group)

    def key_compare(self) -> None:
        group, path = self.current_group(), self.current_path()
        if group is not None:
            self.compare(group, path)

    def key_help(self) -> None:
        self.toggle_help()

    def _help_html(self) -> str:
        rows = "".join(f"<tr><td style='padding-right:18px'><b>{' / '.join(keys)}</b></td><td>{text}</td></tr>"
                       for _, keys, text in KEYS)
        rows += "".join(f"<tr><td><b>{k}</b></td><td>{t}</td></tr>" for k, t in OTHER_KEYS)
        return (f"<h3>Keys of the duplicates page</h3><table>{rows}</table>"
                "<p>In the compare view: ←/→ the other copies, S side by side, F flip, D difference, "
                "+/− zoom, 0 fit, 1 actual pixels, K keep, Esc close.</p><p>F1, ? or Esc hides this.</p>")

    def toggle_help(self) -> None:
        if self.help_overlay.isVisible():
            self.help_overlay.hide()
        else:
            self.help_overlay.adjustSize()
            self._place_help()
            self.help_overlay.show()
            self.help_overlay.raise_()
        self._refocus()

    def _place_help(self) -> None:
        size = self.help_overlay.sizeHint()
        self.help_overlay.setGeometry(max(0, (self.width() - size.width()) // 2),
                                      max(0, (self.height() - size.height()) // 2), size.width(), size.height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.help_overlay.isVisible():
            self._place_help()
