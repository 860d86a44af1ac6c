"""What the user chose on the duplicates page (the copy kept, the ticks, "Not duplicates"): applied to the
groups and their cards, and stored in the library (``Library.record_duplicate_decision``)."""

from __future__ import annotations

import time

from simdesk.core.duplicates.dismissed import dismissed_pairs


class DuplicateDecisionsMixin:
    """The user's choices on the duplicates page (a mixin of ``DuplicatesPage``: it works on the page's state)."""

    # -- the user's choices ----------------------------------------------------------------------------

    def _store_decision(self, group, keep: str | None = None, ticks: dict | None = None) -> None:
        self.controller.writes.run(self.library.record_duplicate_decision, group, keep=keep, ticks=ticks,
                                   on_error=self.controller._report_error)

    def choose_keep(self, group, path: str, store: bool = True) -> None:
        group = self.group(group.key) or group
        for m in group.members:
            self.chosen_keep.pop(m.path, None)
        self.chosen_keep[path] = time.time()
        self.ticks.pop(path, None)
        new = group.with_keep(path) if path != group.keep else group
        self.groups = [new if g.key == group.key else g for g in self.groups]
        for k, card in enumerate(self.cards):
            if card.group.key == group.key:
                self._replace_card(k, new)
                break
        if store:
            self._store_decision(new, keep=path)
        self._update_summary()
        self._update_compare(new)

    def set_ticked(self, group, path: str, ticked: bool, store: bool = True) -> None:
        group = self.group(group.key) or group
        if path == group.keep:
            return
        self.ticks[path] = ticked
        card = self.card(group.key)
        if card is not None:
            box = card.card(path)
            if box is not None and box.tick.isChecked() != ticked and box.tick.isEnabled():
                box.tick.blockSignals(True)
                box.tick.setChecked(ticked)
                box.tick.blockSignals(False)
            card.update_figures(self.ticked(group))
        if store:
            self._store_decision(group, ticks={path: ticked})
        self._update_summary()
        self._update_compare(group)

    def set_ticks(self, changes: dict) -> None:
        """Ticks in several groups at once (the presets): ``{group key: {path: ticked}}``."""
        for key, ticks in changes.items():
            self.ticks.update(ticks)
        groups = {g.key: g for g in self.groups}
        work = [(groups[k], t) for k, t in changes.items() if k in groups and t]

        def store():
            for group, ticks in work:
                self.library.record_duplicate_decision(group, ticks=ticks)

        self.controller.writes.run(store, on_error=self.controller._report_error)
        for card in self.cards:
            if card.group.key in changes:
                for box in card.cards:
                    if box.tick.isEnabled():
                        box.tick.blockSignals(True)
                        box.tick.setChecked(box.member.path in self.ticked(card.group))
                        box.tick.blockSignals(False)
                card.update_figures(self.ticked(card.group))
        self._update_summary()

    def dismiss(self, group) -> None:
        """"Not duplicates": stored for good; the group disappears now and on every later scan;
        the next group takes its place on the screen."""
        paths = [m.path for m in self.visible_members(group)]
        self._leave_group(group.key)
        self.groups = [g for g in self.groups if g.key != group.key]
        self._render(preserve_view=True)
        scan = self.scan

        def work():
            self.library.dismiss_duplicates(paths)
            if scan is not None:  # the scan's cannot-links, so a regroup keeps them apart too
                scan.dismissed = dismissed_pairs(self.library.store)

        self.controller.writes.run(work, on_result=lambda _: self.regroup(refresh=True),
                                   on_error=self.controller._report_error)
        self._refocus()
