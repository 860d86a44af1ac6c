"""The duplicates page's figures in words: the summary line and the move button, what a move did, the
similar shots' sharpness and exposure hints, the status-bar messages."""

from __future__ import annotations

from simdesk.core.units import format_bytes
from simdesk.ui.dup_cards import GroupCard


def report_text(report) -> str:
    """What a move did, in words: the count, then every skipped file and why."""
    moved = len(report.moved)
    lines = [f"Moved {moved:,} file{'s' if moved != 1 else ''}, {format_bytes(report.bytes)}, to the Trash."
             + (" Edit > Undo (Ctrl+Z) puts them back." if moved else "")]
    if report.skipped:
        lines.append(f"{len(report.skipped):,} not moved:")
        for path, why in report.skipped[:20]:
            lines.append(f"• {path}: {why}")
        if len(report.skipped) > 20:
            lines.append(f"… and {len(report.skipped) - 20:,} more.")
    return "\n".join(lines)


class DuplicateSummaryMixin:
    """The figures of the duplicates page (a mixin of ``DuplicatesPage``: it works on the page's state)."""

    # -- figures ---------------------------------------------------------------------------------------

    def _update_summary(self) -> None:
        groups = self.visible_groups()
        if self.scan is None:
            self.summary.setText("")
        else:
            live = self.live_groups()
            copies = [g for g in live if g.kind != "similar_shot"]
            shots = len(live) - len(copies)
            photos = sum(len(self.visible_members(g)) for g in copies)
            library_photos = len(self.scan.photos) - len(self.gone)
            plan = self.plan(live) if live else None
            freed = f" · {format_bytes(plan.bytes)} to free" if plan is not None and plan.files else ""
            shown = (f" · showing {len(groups):,}" if len(groups) != len(live) else "")
            self.summary.setText(
                f"{len(copies):,} group{'s' if len(copies) != 1 else ''} of copies ({photos:,} photos)"
                + (f", {shots:,} of similar shots" if shots else "")
                + f" among {library_photos:,} photos{freed}{shown} · {self.scan.model}"
                + (f" · {self.scan.not_compared:,} not compared yet" if self.scan.not_compared else ""))
        plan = self.plan() if groups else None
        if plan is not None and plan.files:
            self.move_button.setText(plan.summary())
        else:
            self.move_button.setText("Move to Trash")
        can = self.support.can_trash and plan is not None and plan.files > 0 and not self._busy_moving
        self.move_button.setEnabled(can)
        self.move_button.setToolTip(self.support.message if not self.support.can_trash else
                                    "Move the ticked copies to the desktop Trash (asks first)")

    def _measure_shots(self) -> None:
        """The sharpness and exposure hints of the similar shots, from their stored thumbnails."""
        from simdesk.core.duplicates.quality import measure_all

        wanted = sorted({m.content_hash for g in self.groups if g.kind == "similar_shot"
                         for m in g.members} - set(self.quality))
        if not wanted:
            return
        library = self.library

        def done(found: dict) -> None:
            self.quality.update(found)
            for card in self.cards:
                if card.group.kind == "similar_shot":
                    self._show_hints(card)

        self.controller.reads.run(lambda: measure_all(library.thumbnails(wanted)), on_result=done,
                                  on_error=self.controller._report_error)

    def _show_hints(self, card: GroupCard) -> None:
        known = {c.member.content_hash: self.quality.get(c.member.content_hash) for c in card.cards}
        values = [q.sharpness for q in known.values() if q is not None]
        best = max(values) if values else None
        for c in card.cards:
            q = known.get(c.member.content_hash)
            if q is None:
                continue
            top = best is not None and len(values) > 1 and q.sharpness == best
            c.show_hint(f"{'sharpest · ' if top else ''}sharpness {q.sharpness:,.0f} · {q.exposure}",
                        "Measured on the stored thumbnail (256 px): the variance of its Laplacian (higher "
                        "is sharper; compare shots of one scene only), the mean brightness "
                        f"{q.brightness:.0f}/255, {100 * q.dark:.0f}% black and {100 * q.light:.0f}% "
                        "white pixels")

    def _status_message(self, text: str) -> None:
        window = self.window()
        if hasattr(window, "statusBar"):
            window.statusBar().showMessage(text, 8000)
