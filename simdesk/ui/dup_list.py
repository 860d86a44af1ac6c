"""The duplicates page's list of group cards: built a page at a time ("Show more"), one replaced in place,
the view kept where it was when the list is rebuilt."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from simdesk.ui.dup_cards import GroupCard


PAGE_GROUPS = 50  # groups built at a time ("Show more" adds the next ones)


class DuplicateCardListMixin:
    """The cards of the duplicates page (a mixin of ``DuplicatesPage``: it works on the page's state)."""

    # -- widgets ----------------------------------------------------------------------------------------

    def _clear_cards(self) -> None:
        for card in self.cards:
            self.group_layout.removeWidget(card)
            card.hide()
            card.deleteLater()
        self.cards = []

    def _make_card(self, number: int, group) -> GroupCard:
        card = GroupCard(number, group, self.visible_members(group), self.ticked(group), self.container)
        card.keep_chosen.connect(self.choose_keep)
        card.tick_changed.connect(self.set_ticked)
        card.dismiss_requested.connect(self.dismiss)
        card.compare_requested.connect(self._compare_clicked)
        card.menu_requested.connect(self.member_menu)
        card.show_thumbnails(self.controller.thumbnails)
        if group.kind == "similar_shot":
            self._show_hints(card)
        if group.key == self.current_key:
            card.set_current(True, self.current_member)
        return card

    def card(self, key: str) -> GroupCard | None:
        return next((c for c in self.cards if c.group.key == key), None)

    def _replace_card(self, k: int, group) -> None:
        old = self.cards[k]
        position = self.group_layout.indexOf(old)
        new = self._make_card(k + 1, group)
        self.group_layout.insertWidget(position, new)
        new.setVisible(self.container.isVisible())
        self.group_layout.removeWidget(old)
        old.hide()
        old.deleteLater()
        self.cards[k] = new

    def _render(self, preserve_view: bool = False) -> None:
        """Build the cards of the groups shown. ``preserve_view``: the first group on the screen
        (or, if it went, the one after it) stays where it was."""
        anchor = self._anchor() if preserve_view else None
        self._clear_cards()
        groups = self.visible_groups()
        self.group_layout.removeWidget(self.section_label)
        self.section_label.setVisible(False)
        for number, group in enumerate(groups[: self.shown], 1):
            if group.kind == "similar_shot" and self.section_label.isHidden():
                shots = sum(1 for g in groups if g.kind == "similar_shot")
                self.section_label.setText(
                    f"Similar shots · {shots:,} group{'s' if shots != 1 else ''}: different exposures of "
                    "one scene, nothing is ticked — pick the best of each burst (K), tick the others (X) "
                    "if you want them gone")
                self.group_layout.insertWidget(len(self.cards), self.section_label)
                self.section_label.setVisible(True)
            card = self._make_card(number, group)
            self.group_layout.insertWidget(len(self.cards) + int(not self.section_label.isHidden()), card)
            card.setVisible(self.container.isVisible())  # now, not on a posted event: laid out at once
            self.cards.append(card)
        if self.current_key is not None and self.card(self.current_key) is None:
            self.current_key = None
        rest = len(groups) - len(self.cards)
        self.more_button.setText(f"Show {min(rest, PAGE_GROUPS):,} more groups ({rest:,} not shown)")
        self.more_button.setVisible(rest > 0)
        end = len(self.cards) + int(not self.section_label.isHidden())
        self.group_layout.removeWidget(self.placeholder)
        self.group_layout.insertWidget(end, self.placeholder)
        self.group_layout.removeWidget(self.more_button)
        self.group_layout.insertWidget(end + 1, self.more_button)
        if self.error:
            self.placeholder.setText(self.error)
        elif self.scanning and self.scan is None:
            self.placeholder.setText("Looking for copies of the same photo… (progress in the status bar)")
        elif self.scan is None:
            self.placeholder.setText("Find Duplicates looks for byte-identical and edited copies of "
                                     "your photos.")
        elif not groups and self.live_groups():
            self.placeholder.setText("No group matches the filters (Show … in …).")
        elif not groups:
            self.placeholder.setText(
                ("No copies found." if self.threshold <= self.slider.minimum() / 100 else
                 f"No copies at similarity {self.threshold:.2f}: move the slider left to see every "
                 "verified copy."))
        else:
            self.placeholder.setText("")
        self.placeholder.setVisible(bool(self.placeholder.text()))
        self._update_summary()
        if anchor is not None:
            self._restore_anchor(anchor)

    def _anchor(self):
        """The first group on the screen, and the groups after it, with its offset from the top."""
        top = self.scroll.verticalScrollBar().value()
        for k, card in enumerate(self.cards):
            if card.geometry().bottom() >= top:
                return [c.group.key for c in self.cards[k:]], card.geometry().top() - top
        return None

    def _settle_layout(self) -> None:
        """Lay the new cards out now (the scroll area resizes its widget on a posted event)."""
        QApplication.sendPostedEvents(self.container, QEvent.Type.LayoutRequest)
        self.group_layout.activate()
        QApplication.sendPostedEvents(self.container, QEvent.Type.LayoutRequest)

    def _restore_anchor(self, anchor) -> None:
        keys, offset = anchor
        cards = {c.group.key: c for c in self.cards}
        target = next((cards[k] for k in keys if k in cards), None)
        if target is None:
            return
        self._settle_layout()
        self.scroll.verticalScrollBar().setValue(target.geometry().top() - offset)

    def _show_more(self) -> None:
        self.shown += PAGE_GROUPS
        self._render(preserve_view=True)

    def _thumbnails_loaded(self, hashes: list) -> None:
        if not self.cards or not self.isVisible():
            return
        wanted = set(hashes)
        for card in self.cards:
            card.show_thumbnails(self.controller.thumbnails, only=wanted)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        for card in self.cards:  # thumbnails that arrived while the page was hidden
            card.show_thumbnails(self.controller.thumbnails)
