"""The duplicates review as people do it: compare closely, decide from the keyboard, presets,
decisions that last across a restart, a view that stays put, similar shots apart."""

from __future__ import annotations

import os
import shutil

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from simdesk.ui import duplicates_page
from .test_duplicates_page import dup_app, dup_photos, find_duplicates, textured_photo  # noqa: F401
from .uihelpers import GUI_MARKS, wait_index_done

pytestmark = GUI_MARKS


def group_with(page, path):
    return next(c for c in page.cards if str(path) in c.group.paths)


def press(qtbot, page, key, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(QApplication.focusWidget() or page.scroll, key, modifier)


def focus_on_page(page):
    focus = QApplication.focusWidget()
    return focus is not None and (focus is page or page.isAncestorOf(focus))


def test_compare_view_full_resolution_details_evidence_sync_and_steps(qtbot, dup_app, dup_photos):
    controller, window = dup_app
    page = find_duplicates(qtbot, window)
    card = group_with(page, dup_photos / "photo_2_small.jpg")
    small = card.card(str(dup_photos / "photo_2_small.jpg"))
    qtbot.mouseDClick(small, Qt.MouseButton.LeftButton)
    dialog = page.compare_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.diff is not None, timeout=15_000)
    # Full resolution: the kept original (160x120) and the small copy (120x90) at their own sizes.
    assert dialog.images[str(dup_photos / "photo_2.jpg")].width() == 160
    assert dialog.images[str(dup_photos / "photo_2_small.jpg")].width() == 120
    left, right = dialog.details_left.text(), dialog.details_right.text()
    assert "photo_2.jpg — KEEP" in left and "160×120" in left and f"folder: {dup_photos}" in left
    assert "photo_2_small.jpg — ticked for the Trash" in right and "120×90" in right
    assert "camera:" in right and "software:" in right and f"path: {dup_photos / 'photo_2_small.jpg'}" in right
    evidence = dialog.evidence.text()
    assert "Verdict: a copy of the kept photo" in evidence and "matched points agree" in evidence
    assert "Difference view:" in evidence and ("aligned on" in evidence or "no alignment found" in evidence)

    # Zoom and pan in step: both views show the same scene region at the same scale.
    dialog.zoom(3.0)
    assert dialog.view_left.scale_factor() == pytest.approx(dialog.view_right.scale_factor())
    dialog.view_left.horizontalScrollBar().setValue(dialog.view_left.horizontalScrollBar().maximum() // 2)
    assert dialog.view_right.horizontalScrollBar().value() == dialog.view_left.horizontalScrollBar().value()
    # Flip in place, then the difference beside the original.
    qtbot.keyClick(dialog, Qt.Key.Key_F)
    assert dialog.mode == "flip" and not dialog.view_right.isVisible()
    assert dialog.shown_path() == str(dup_photos / "photo_2.jpg")
    qtbot.keyClick(dialog, Qt.Key.Key_F)
    assert dialog.shown_path() == str(dup_photos / "photo_2_small.jpg")
    qtbot.keyClick(dialog, Qt.Key.Key_D)
    assert dialog.mode == "difference" and dialog.view_right.isVisible()
    assert not dialog.view_right.item.pixmap().isNull()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()

    # Space on the page compares the current copy; the context menu has Compare too.
    group3 = group_with(page, dup_photos / "photo_3.jpg")
    page._set_current(group3.group.key, 1)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    page.scroll.setFocus()
    qtbot.keyClick(page.scroll, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: dialog.isVisible() and dialog.right_member.path.endswith("photo_3_small.jpg"),
                    timeout=5000)
    qtbot.waitUntil(lambda: dialog.diff is not None, timeout=15_000)
    qtbot.keyClick(dialog, Qt.Key.Key_Right)  # a group of two: the only other copy again
    assert dialog.right_member.path.endswith("photo_3_small.jpg")
    dialog.close()
    menu = page.member_menu(group3.group, str(dup_photos / "photo_3_small.jpg"), page.mapToGlobal(page.rect().center()))
    assert [a.text() for a in menu.actions() if a.text()][:3] == ["Compare…", "Keep This Copy", "Untick (Do Not Trash)"]
    menu.close()


def test_keyboard_flow_every_action_on_a_key_focus_kept(qtbot, dup_app, dup_photos, monkeypatch):
    controller, window = dup_app
    page = find_duplicates(qtbot, window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    page.scroll.setFocus()
    keys = [c.group.key for c in page.cards]
    assert page.current_group().key == keys[0]
    press(qtbot, page, Qt.Key.Key_N)
    assert page.current_key == keys[1]
    press(qtbot, page, Qt.Key.Key_Down)
    assert page.current_key == keys[2]
    press(qtbot, page, Qt.Key.Key_P)
    assert page.current_key == keys[1]
    press(qtbot, page, Qt.Key.Key_S)  # skip: on to the next, nothing decided
    assert page.current_key == keys[2] and page.ticks == {} and page.chosen_keep == {}

    # K keeps the current copy; X ticks and unticks.
    group = page.current_group()
    press(qtbot, page, Qt.Key.Key_Right)
    other = page.current_path()
    assert other != group.keep
    press(qtbot, page, Qt.Key.Key_K)
    assert page.group(group.key).keep == other and focus_on_page(page)
    assert page.card(group.key).card(other).badge.text() == "KEEP"
    press(qtbot, page, Qt.Key.Key_Left)
    first = page.current_path()
    assert first in page.ticked(page.group(group.key))
    press(qtbot, page, Qt.Key.Key_X)
    assert first not in page.ticked(page.group(group.key)) and focus_on_page(page)
    press(qtbot, page, Qt.Key.Key_X)
    assert first in page.ticked(page.group(group.key))

    # D: not duplicates; the next group becomes the current one; focus stays.
    before = page.current_key
    index = [c.group.key for c in page.cards].index(before)
    following = page.cards[index + 1].group.key
    with qtbot.waitSignal(page.groups_shown, timeout=10_000):
        press(qtbot, page, Qt.Key.Key_D)
    assert before not in {c.group.key for c in page.cards}
    assert page.current_key == following and focus_on_page(page)

    # T: keep this copy, trash the rest of this group only (asks first).
    asked = []
    monkeypatch.setattr(duplicates_page, "confirm_move",
                        lambda parent, plan, groups: asked.append((plan.files, groups)) or True)
    target = page.current_group()
    keep = page.current_path()
    with qtbot.waitSignal(page.moved, timeout=10_000) as moved:
        press(qtbot, page, Qt.Key.Key_T)
    assert asked == [(len(target.members) - 1 - sum(m.reference for m in target.members), 1)]
    assert {p for p, _ in moved.args[0].moved} == {m.path for m in target.members
                                                    if m.path != keep and not m.reference}
    assert os.path.exists(keep) and focus_on_page(page)

    # F1 (or ?) lists every key.
    press(qtbot, page, Qt.Key.Key_F1)
    assert page.help_overlay.isVisible()
    for _, sequences, text in duplicates_page.KEYS:
        assert text in page.help_overlay.text()
        for sequence in sequences:
            assert sequence in page.help_overlay.text()
    press(qtbot, page, Qt.Key.Key_Question)
    assert not page.help_overlay.isVisible() and focus_on_page(page)


def test_presets_reference_folder_sort_and_filters(qtbot, dup_app, dup_photos, library):
    controller, window = dup_app
    page = find_duplicates(qtbot, window)
    assert page.plan().files == 4

    def run_preset(text, sub=None):
        page._fill_select_menu()
        action = next(a for a in page.select_menu.actions() if a.text() == text)
        if sub is not None:
            action = next(a for a in action.menu().actions() if a.text() == sub)
        action.trigger()

    run_preset("Clear")
    assert page.plan().files == 0 and not page.move_button.isEnabled()
    assert all("nothing ticked" in c.title.text() for c in page.cards)
    run_preset("Invert")
    assert page.plan().files == 4
    run_preset("Clear")
    run_preset("Everything in Folder", str(dup_photos))
    assert {i.path for i in page.plan().items} == {str(dup_photos / n) for n in
                                                   ("copy_of_0.jpg", "photo_1.jpg", "photo_2_small.jpg",
                                                    "photo_3_small.jpg")}
    run_preset("Keep the Newest, Tick the Rest")
    for card in page.cards:
        members = [m for m in card.group.members]
        if not any(m.reference for m in members):
            assert card.group.keep == max(members, key=lambda m: (m.date, m.path)).path
    run_preset("All but the Kept Copy")
    assert page.plan().files == 4
    qtbot.waitUntil(lambda: not controller.writes.busy(), timeout=5000)

    # Sort by similarity (least alike first) and filter by kind and by folder.
    page.sort_combo.setCurrentIndex([k for k, _ in duplicates_page.SORTS].index("similarity"))
    sims = [c.group.similarity for c in page.cards]
    assert sims == sorted(sims)
    page.kind_combo.setCurrentIndex(page.kind_combo.findData("identical"))
    assert {c.group.kind for c in page.cards} == {"identical"} and len(page.cards) == 2
    assert "showing 2" in page.summary.text()
    page.kind_combo.setCurrentIndex(0)
    page.folder_combo.setCurrentIndex(page.folder_combo.findData(str(dup_photos / "album")))
    assert len(page.cards) == 1 and str(dup_photos / "album" / "photo_1.jpg") in page.cards[0].group.paths
    page.folder_combo.setCurrentIndex(0)
    assert len(page.cards) == 4

    # A reference folder from the page: its photos are kept, never ticked.
    page._fill_reference_menu()
    action = next(a for a in page.reference_menu.actions() if a.text() == str(dup_photos))
    assert not action.isChecked()
    with qtbot.waitSignal(page.groups_shown, timeout=10_000):
        action.trigger()
    assert str(dup_photos) in library.reference_folders
    assert all(m.reference for c in page.cards for m in c.group.members)
    assert page.plan().files == 0


def test_decisions_last_across_a_restart_and_the_view_does_not_move(qtbot, make_app, library, dup_photos,
                                                                     qsettings, monkeypatch):
    for i in range(8, 14):  # more groups, so that the list scrolls
        textured_photo(dup_photos / f"photo_{i}.jpg", i, (160, 120))
        shutil.copy(dup_photos / f"photo_{i}.jpg", dup_photos / f"dup_{i}.jpg")
    library.add_folder(dup_photos)
    library.add_reference_folder(dup_photos / "album")
    qsettings.setValue("duplicates/min_similarity", 0.90)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    window.resize(1000, 560)
    page = find_duplicates(qtbot, window)
    big, small = str(dup_photos / "photo_2.jpg"), str(dup_photos / "photo_2_small.jpg")
    page.choose_keep(group_with(page, small).group, small)
    copy0 = str(dup_photos / "copy_of_0.jpg")
    card0 = group_with(page, copy0)
    card0.card(copy0).tick.click()  # the only extra of its group, unticked
    assert "nothing ticked" in group_with(page, copy0).title.text()

    # The view stays put: scroll down, dismiss the group at the top of the screen.
    bar = page.scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 200, timeout=5000)
    target = page.cards[4]
    bar.setValue(target.geometry().top())
    value = bar.value()
    following = page.cards[5].group.key
    with qtbot.waitSignal(page.groups_shown, timeout=10_000):
        target.dismiss_button.click()
    qtbot.wait(50)
    assert bar.value() == value
    assert page.card(following).geometry().top() == pytest.approx(value, abs=2)
    page.choose_keep(page.card(following).group, page.card(following).group.members[1].path)
    assert bar.value() == value
    qtbot.waitUntil(lambda: not controller.writes.busy(), timeout=5000)
    photos_before = len(page.scan.photos)
    before = sorted(i.path for i in page.plan().items)
    kept_before = {c.group.key: c.group.keep for c in page.cards}
    controller.shutdown()
    window.close()

    # A new window on the same library: the same choices.
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    page = find_duplicates(qtbot, window)
    assert group_with(page, small).group.keep == small
    assert group_with(page, small).group.reason == "chosen by you"
    assert big in page.ticked(group_with(page, small).group)
    assert copy0 not in page.ticked(group_with(page, copy0).group)
    assert "nothing ticked" in group_with(page, copy0).title.text()
    assert sorted(i.path for i in page.plan().items) == before
    assert {c.group.key: c.group.keep for c in page.cards} == kept_before
    assert f"among {photos_before:,} photos" in page.summary.text()

    # Figures after a move: the header counts what is left.
    monkeypatch.setattr(duplicates_page, "confirm_move", lambda parent, plan, groups: True)
    with qtbot.waitSignal(page.moved, timeout=10_000) as moved:
        page.move_button.click()
    gone = len(moved.args[0].moved)
    assert gone > 0 and f"among {photos_before - gone:,} photos" in page.summary.text()


def test_similar_shots_have_their_own_section_nothing_ticked_and_a_sharpness_hint(
        qtbot, make_app, library, tmp_path, qsettings):
    folder = tmp_path / "Burst"
    textured_photo(folder / "a.jpg", 3, (320, 240))
    for i in range(4, 8):
        textured_photo(folder / f"other_{i}.jpg", i, (320, 240))
    with Image.open(folder / "a.jpg") as img:
        sharp = img.convert("RGB")
    exif = Image.Exif()
    exif[0x0132] = "2021:06:01 10:00:00"
    sharp.save(folder / "burst_1.jpg", quality=92, exif=exif)
    from PIL import ImageFilter

    exif[0x0132] = "2021:06:01 10:00:02"
    sharp.filter(ImageFilter.GaussianBlur(1.2)).save(folder / "burst_2.jpg", quality=92, exif=exif)
    os.remove(folder / "a.jpg")
    library.add_folder(folder)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    page = find_duplicates(qtbot, window)
    shots = [c for c in page.cards if c.group.kind == "similar_shot"]
    assert len(shots) == 1, [c.group.kind for c in page.cards]
    card = shots[0]
    assert page.section_label.isVisible() and page.section_label.text().startswith("Similar shots · 1 group")
    assert page.ticked(card.group) == set() and "nothing ticked" in card.title.text()
    assert page.plan().files == 0
    assert all(c.keep_radio.text() == "Best" for c in card.cards)
    qtbot.waitUntil(lambda: all(c.hint.text() for c in card.cards), timeout=10_000)
    sharpest = [c for c in card.cards if c.hint.text().startswith("sharpest")]
    assert [c.member.path for c in sharpest] == [str(folder / "burst_1.jpg")]
    assert "variance of its Laplacian" in sharpest[0].hint.toolTip()
    # Picking the best does not tick the other: the user does, if they want it gone.
    blurred = str(folder / "burst_2.jpg")
    page.choose_keep(card.group, str(folder / "burst_1.jpg"))
    assert page.ticked(page.group(card.group.key)) == set()
    page.set_ticked(page.group(card.group.key), blurred, True)
    assert page.plan().files == 1


def test_reference_folder_from_the_folder_list_context_menu(qtbot, dup_app, dup_photos, library):
    from PySide6.QtWidgets import QMenu

    controller, window = dup_app
    sidebar = window.browse.sidebar
    row = next(r for r in range(sidebar.count())
               if sidebar.item(r).data(Qt.ItemDataRole.UserRole) == str(dup_photos))
    window.browse._sidebar_menu(sidebar.visualItemRect(sidebar.item(row)).center())
    menu = next(m for m in window.browse.findChildren(QMenu) if m.isVisible())
    action = next(a for a in menu.actions() if a.text() == "Reference Folder (Never Trash)")
    assert action.isCheckable() and not action.isChecked()
    menu.hide()
    action.trigger()
    qtbot.waitUntil(lambda: str(dup_photos) in library.reference_folders, timeout=5000)
