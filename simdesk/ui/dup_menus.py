"""The duplicates page's sort and filters, the Select presets, the copy's context menu, the reference
folders."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMenu

from simdesk.core.duplicates import grouping as core_duplicates
from simdesk.ui.dup_list import PAGE_GROUPS


SORTS = (
    ("bytes", "bytes to free"),
    ("similarity", "similarity (least alike first)"),
    ("folder", "folder"),
    ("date", "date (newest first)"),
    ("kind", "kind"),
)
KIND_FILTERS = (("", "all kinds"), ("identical", "identical files"), ("copy", "edited copies"),
                ("similar_shot", "similar shots"))


def _group_sort_key(order: str):
    def freeable(g):
        return -sum(m.size for m in g.members if m.path != g.keep and not m.reference)

    return {
        "bytes": lambda g: (freeable(g), g.keep),
        "similarity": lambda g: (g.similarity, g.keep),
        "folder": lambda g: (g.kept.folder, g.keep),
        "date": lambda g: (-g.kept.date, g.keep),
        "kind": lambda g: (core_duplicates.KINDS.index(g.kind), freeable(g), g.keep),
    }[order]


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


class DuplicateMenusMixin:
    """The menus of the duplicates page (a mixin of ``DuplicatesPage``: it works on the page's state)."""

    # -- sort and filters ------------------------------------------------------------------------------

    def _resort(self, keep_order: bool = False) -> None:
        """The order shown: groups of copies, then similar shots, each by the chosen sort.
        ``keep_order``: groups already listed keep their place, new ones come after them."""
        key = _group_sort_key(self.sort_combo.currentData())
        copies = sorted((g for g in self.groups if g.kind != "similar_shot"), key=key)
        shots = sorted((g for g in self.groups if g.kind == "similar_shot"), key=key)
        fresh = [g.key for g in copies + shots]
        if keep_order:
            known = set(fresh)
            kept = [k for k in self.order if k in known]
            listed = set(kept)
            fresh = kept + [k for k in fresh if k not in listed]
        self.order = fresh

    def _view_changed(self, _index: int = 0) -> None:
        """Sort or filter changed: the list is laid out again from the top."""
        self.controller.settings.setValue("duplicates/sort", self.sort_combo.currentData())
        self._resort()
        self.shown = PAGE_GROUPS
        self._render()
        self.scroll.verticalScrollBar().setValue(0)
        self._refocus()

    def _fill_folder_combo(self) -> None:
        current = self.folder_combo.currentData()
        folders = sorted({m.folder for g in self.groups for m in g.members})
        self.folder_combo.blockSignals(True)
        self.folder_combo.clear()
        self.folder_combo.addItem("all folders", "")
        for folder in folders:
            self.folder_combo.addItem(folder, folder)
            self.folder_combo.setItemData(self.folder_combo.count() - 1, folder, Qt.ItemDataRole.ToolTipRole)
        index = self.folder_combo.findData(current) if current else 0
        self.folder_combo.setCurrentIndex(max(index, 0))
        self.folder_combo.blockSignals(False)

    # -- context menu, presets, reference folders ------------------------------------------------------

    def member_menu(self, group, path: str, pos: QPoint) -> QMenu:
        group = self.group(group.key) or group
        member = next(m for m in group.members if m.path == path)
        menu = QMenu(self)
        menu.addAction("Compare…", lambda: self._compare_clicked(group, path))
        keep = menu.addAction("Keep This Copy", lambda: self.choose_keep(group, path))
        keep.setEnabled(path != group.keep)
        ticked = path in self.ticked(group)
        tick = menu.addAction("Untick (Do Not Trash)" if ticked else "Tick for the Trash",
                              lambda: self.set_ticked(group, path, not ticked))
        tick.setEnabled(path != group.keep and not member.reference)
        menu.addSeparator()
        reference = menu.addAction("Reference Folder (Never Trash)")
        reference.setCheckable(True)
        reference.setChecked(member.reference)
        folder = member.folder
        reference.setToolTip(folder)
        reference.toggled.connect(lambda on: self.set_reference_folder(folder, on))
        menu.addAction("Not Duplicates", lambda: self.dismiss(group))
        menu.popup(pos)
        return menu

    def _folders_shown(self) -> list[str]:
        return sorted({m.folder for g in self.visible_groups() for m in self.visible_members(g)})

    def _preset_groups(self) -> list:
        """The groups a preset acts on: those shown; similar shots only when only they are shown."""
        only_shots = self.kind_combo.currentData() == "similar_shot"
        return [g for g in self.visible_groups() if only_shots or g.kind != "similar_shot"]

    def _tickable(self, group) -> list:
        return [m for m in self.visible_members(group) if m.path != group.keep and not m.reference]

    def _fill_select_menu(self) -> None:
        menu = self.select_menu
        menu.clear()
        menu.addAction("All but the Kept Copy", lambda: self.preset("all_but_kept"))
        by_folder = menu.addMenu("Everything in Folder")
        keep_folder = menu.addMenu("Keep the Copies in Folder")
        for folder in self._folders_shown():
            by_folder.addAction(folder, lambda f=folder: self.preset("folder", f))
            keep_folder.addAction(folder, lambda f=folder: self.preset("keep_folder", f))
        menu.addAction("Keep the Oldest, Tick the Rest", lambda: self.preset("oldest"))
        menu.addAction("Keep the Newest, Tick the Rest", lambda: self.preset("newest"))
        menu.addSeparator()
        menu.addAction("Invert", lambda: self.preset("invert"))
        menu.addAction("Clear", lambda: self.preset("clear"))

    def preset(self, name: str, folder: str | None = None) -> None:
        """Tick (or keep) copies in every group shown (similar shots only when only they are shown)."""
        changes: dict[str, dict[str, bool]] = {}
        for group in self._preset_groups():
            if name in ("keep_folder", "oldest", "newest"):
                members = self.visible_members(group)
                if name == "keep_folder":
                    inside = [m for m in members if _under(m.path, folder)]
                    if not inside or any(m.path == group.keep for m in inside):
                        continue
                    choice = inside[0]
                else:
                    pick = min if name == "oldest" else max
                    choice = pick(members, key=lambda m: (m.date, m.path))
                if choice.path != group.keep:
                    self.choose_keep(group, choice.path)
                    group = self.group(group.key)
                if name == "keep_folder":
                    continue
            ticked = self.ticked(group)
            tickable = self._tickable(group)
            if name in ("all_but_kept", "oldest", "newest"):
                wanted = {m.path: True for m in tickable}
            elif name == "folder":
                wanted = {m.path: True for m in tickable if _under(m.path, folder)}
            elif name == "invert":
                wanted = {m.path: m.path not in ticked for m in tickable}
            elif name == "clear":
                wanted = {m.path: False for m in tickable}
            else:
                raise ValueError(name)
            changes[group.key] = wanted
        if changes:
            self.set_ticks(changes)
        self._refocus()

    def _fill_reference_menu(self) -> None:
        menu = self.reference_menu
        menu.clear()
        current = set(self.library.reference_folders)
        for folder in sorted(current | set(self._folders_shown())):
            action = menu.addAction(folder)
            action.setCheckable(True)
            action.setChecked(folder in current)
            action.setToolTip("Never move photos from this folder to the Trash")
            action.toggled.connect(lambda on, f=folder: self.set_reference_folder(f, on))
        if menu.isEmpty():
            menu.addAction("No folder yet: scan first").setEnabled(False)

    def set_reference_folder(self, folder: str, on: bool) -> None:
        """Make ``folder`` a reference folder (its photos are never trashed), or no longer one."""
        change = self.library.add_reference_folder if on else self.library.remove_reference_folder

        def done(_):
            self._status_message(f"{folder}: {'a reference folder, never trashed' if on else 'no longer a reference folder'}")
            self.regroup(refresh=True)

        self.controller.writes.run(change, folder, on_result=done, on_error=self.controller._report_error)
