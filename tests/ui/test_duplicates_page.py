"""Tools > Find Duplicates: the scan in a job, the review, the slider, the Trash and Edit > Undo."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from simdesk.core.duplicates import freedesktop_trash as core_trash
from simdesk.core.progress import Cancelled, Progress
from simdesk.ui import duplicates_page
from .uihelpers import GUI_MARKS, draw_photo, wait_index_done

pytestmark = GUI_MARKS


def textured_photo(path, seed, size):
    """A drawn photo with a fine texture over it: like a real photo, it has the detail the copy
    verification matches (flat shapes alone give it nothing to hold on to)."""
    draw_photo(path, seed=seed, size=size, quality=92)
    rng = np.random.default_rng(seed + 1000)
    noise = rng.normal(0, 1, (size[1] // 4, size[0] // 4)).astype(np.float32)
    noise = np.asarray(Image.fromarray(noise).resize(size, Image.Resampling.BICUBIC))
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(np.float32) + 40 * noise[..., None]
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=92)


@pytest.fixture
def dup_photos(tmp_path):
    """8 drawn photos, two byte-identical copies (one in a reference folder), two resized copies."""
    folder = tmp_path / "Pictures"
    for i in range(8):
        textured_photo(folder / f"photo_{i}.jpg", i, (160, 120))
    shutil.copy(folder / "photo_0.jpg", folder / "copy_of_0.jpg")
    (folder / "album").mkdir()
    shutil.copy(folder / "photo_1.jpg", folder / "album" / "photo_1.jpg")
    Image.open(folder / "photo_2.jpg").resize((120, 90)).save(folder / "photo_2_small.jpg", quality=80)
    Image.open(folder / "photo_3.jpg").resize((80, 60)).save(folder / "photo_3_small.jpg", quality=85)
    return folder


def expected_groups(folder):
    return {
        frozenset({folder / "photo_0.jpg", folder / "copy_of_0.jpg"}),
        frozenset({folder / "photo_1.jpg", folder / "album" / "photo_1.jpg"}),
        frozenset({folder / "photo_2.jpg", folder / "photo_2_small.jpg"}),
        frozenset({folder / "photo_3.jpg", folder / "photo_3_small.jpg"}),
    }


def shown_groups(page):
    return {frozenset(Path(c.member.path) for c in card.cards) for card in page.cards}


@pytest.fixture
def dup_app(qtbot, make_app, library, dup_photos, qsettings):
    """The app on an indexed library, the slider at 0.90 (the tiny test model's clear copies)."""
    library.add_folder(dup_photos)
    library.add_reference_folder(dup_photos / "album")
    qsettings.setValue("duplicates/min_similarity", 0.90)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    return controller, window


def find_duplicates(qtbot, window):
    page = window.duplicates
    with qtbot.waitSignal(page.groups_shown, timeout=20_000):
        window.find_duplicates_action.trigger()
    assert window.pages.currentWidget() is page
    return page


def test_scan_finds_copies_and_the_slider_regroups_without_rescanning(qtbot, dup_app, dup_photos, library):
    controller, window = dup_app
    scans = []
    real_find = library.find_duplicates
    library.find_duplicates = lambda *a, **k: scans.append(1) or real_find(*a, **k)
    page = find_duplicates(qtbot, window)
    assert len(scans) == 1 and not page.status_widget.isVisible()
    assert shown_groups(page) == expected_groups(dup_photos)
    assert "4 groups of copies" in page.summary.text()

    for card in page.cards:
        kept = [c for c in card.cards if c.keep_radio.isChecked()]
        assert len(kept) == 1 and kept[0].member.path == card.group.keep
        assert kept[0].badge.text() == "KEEP" and not kept[0].tick.isEnabled()
        assert card.reason.text() == f"Keeping {os.path.basename(card.group.keep)}: {card.group.reason}"
        for c in card.cards:
            assert f"{c.member.width}×{c.member.height}" in c.info.text()
            assert os.path.basename(c.member.path) in c.info.text()
            assert os.path.basename(c.member.folder) in c.info.text()
    reference = [c for card in page.cards for c in card.cards if c.member.reference]
    assert [c.member.path for c in reference] == [str(dup_photos / "album" / "photo_1.jpg")]
    assert reference[0].keep_radio.isChecked()  # a reference copy is the one kept...
    assert not reference[0].tick.isEnabled() and not reference[0].tick.isChecked()  # ...never ticked
    small = next(c for card in page.cards for c in card.cards if c.member.path.endswith("photo_3_small.jpg"))
    assert small.tick.isChecked() and small.tick.isEnabled()  # extras are ticked by default
    assert small.badge.text().startswith("Similarity 0.9")
    assert page.move_button.text() == page.plan().summary()
    assert page.move_button.text().startswith("Move 4 files, ") and page.move_button.isEnabled()

    with qtbot.waitSignal(page.groups_shown, timeout=10_000):
        page.slider.setValue(page.slider.maximum())
    stricter = shown_groups(page)  # the identical files stay; every shown pair is that alike
    assert {frozenset({dup_photos / "photo_0.jpg", dup_photos / "copy_of_0.jpg"}),
            frozenset({dup_photos / "photo_1.jpg", dup_photos / "album" / "photo_1.jpg"})} <= stricter
    assert all(card.group.similarity >= page.slider.maximum() / 100 for card in page.cards)
    with qtbot.waitSignal(page.groups_shown, timeout=10_000):
        page.slider.setValue(90)
    assert shown_groups(page) == expected_groups(dup_photos)
    assert len(scans) == 1  # the slider never scanned again
    assert controller.settings.value("duplicates/min_similarity") in (0.9, "0.9")


def test_ticks_and_the_kept_copy_change_what_moves(qtbot, dup_app, dup_photos):
    controller, window = dup_app
    page = find_duplicates(qtbot, window)
    before = page.plan()
    assert before.files == 4
    card0 = next(c for c in page.cards if str(dup_photos / "copy_of_0.jpg") in c.group.paths)
    extra = next(c for c in card0.cards if c.member.path != card0.group.keep)
    extra.tick.click()
    after = page.plan()
    assert after.files == 3 and page.move_button.text() == after.summary() != before.summary()
    extra.tick.click()
    assert page.plan().files == 4

    # Keep the small copy of photo_2 instead: it can no longer be ticked, the big one now is.
    card2 = next(c for c in page.cards if str(dup_photos / "photo_2.jpg") in c.group.paths)
    big, small = (card2.card(str(dup_photos / n)) for n in ("photo_2.jpg", "photo_2_small.jpg"))
    assert big.keep_radio.isChecked()
    small.keep_radio.click()
    card2 = next(c for c in page.cards if str(dup_photos / "photo_2.jpg") in c.group.paths)
    big, small = (card2.card(str(dup_photos / n)) for n in ("photo_2.jpg", "photo_2_small.jpg"))
    assert card2.group.keep == small.member.path and small.badge.text() == "KEEP"
    assert card2.reason.text() == "Keeping photo_2_small.jpg: chosen by you"
    assert not small.tick.isEnabled() and big.tick.isChecked()
    assert str(dup_photos / "photo_2.jpg") in {i.path for i in page.plan().items}
    with qtbot.waitSignal(page.groups_shown, timeout=10_000):  # the choice survives a regroup
        page.slider.setValue(85)
    card2 = next(c for c in page.cards if str(dup_photos / "photo_2.jpg") in c.group.paths)
    assert card2.group.keep == str(dup_photos / "photo_2_small.jpg")


def test_move_to_trash_then_undo_puts_back_identical_bytes(qtbot, dup_app, dup_photos, tmp_path, monkeypatch):
    controller, window = dup_app
    page = find_duplicates(qtbot, window)
    asked = []
    monkeypatch.setattr(duplicates_page, "confirm_move", lambda parent, plan, groups: asked.append(
        (plan.summary(), groups)) or True)
    extras = sorted(i.path for i in page.plan().items)
    assert extras == sorted(str(dup_photos / n) for n in
                            ("copy_of_0.jpg", "photo_1.jpg", "photo_2_small.jpg", "photo_3_small.jpg"))
    original_bytes = {p: Path(p).read_bytes() for p in extras}
    changed = str(dup_photos / "photo_3_small.jpg")  # touched after the scan: must not move
    os.utime(changed, ns=(os.stat(changed).st_atime_ns, os.stat(changed).st_mtime_ns + 10**9))
    with qtbot.waitSignal(page.moved, timeout=10_000) as moved:
        page.move_button.click()
    assert len(asked) == 1 and asked[0][1] == 4 and asked[0][0].startswith("Move 4 files")
    report = moved.args[0]
    assert len(report.moved) == 3 and [p for p, _ in report.skipped] == [changed]
    assert os.path.exists(changed)
    text = page.report_label.text()
    assert text.startswith("Moved 3 files, ") and f"• {changed}: changed since the scan" in text
    extras.remove(changed)
    trash = tmp_path / "xdg-data" / "Trash"
    for path in extras:
        assert not os.path.exists(path)
        assert (trash / "files" / os.path.basename(path)).is_file()
        assert (trash / "info" / (os.path.basename(path) + ".trashinfo")).is_file()
    assert page.report_label.isVisible()
    assert shown_groups(page) == {frozenset({dup_photos / "photo_3.jpg", Path(changed)})}
    assert page.move_button.text().startswith("Move 1 file, ")
    browse_paths = {window.browse.model.path(r) for r in range(window.browse.model.rowCount())}
    assert not browse_paths & set(extras)

    edit_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    undo = next(a for a in edit_menu.actions() if a.text().startswith("&Undo"))
    qtbot.waitUntil(undo.isEnabled, timeout=5000)
    assert undo.text() == "&Undo Move to Trash (3 files)"
    assert undo.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)  # Ctrl+Z
    window.activateWindow()
    with qtbot.waitSignal(page.undone, timeout=10_000) as undone:
        qtbot.keyClick(page.scroll, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert sorted(undone.args[0].restored) == extras
    for path in extras:
        assert Path(path).read_bytes() == original_bytes[path]
    assert not any((trash / "files").iterdir())
    assert shown_groups(page) == expected_groups(dup_photos)  # the groups are back for review
    qtbot.waitUntil(lambda: not undo.isEnabled(), timeout=5000)


def test_not_duplicates_hides_the_group_for_good(qtbot, dup_app, dup_photos, library):
    controller, window = dup_app
    page = find_duplicates(qtbot, window)
    pair = frozenset({dup_photos / "photo_3.jpg", dup_photos / "photo_3_small.jpg"})
    card = next(c for c in page.cards if frozenset(map(Path, c.group.paths)) == pair)
    with qtbot.waitSignal(page.groups_shown, timeout=10_000):
        card.dismiss_button.click()
    assert pair not in shown_groups(page) and len(page.cards) == 3
    qtbot.waitUntil(lambda: not controller.writes.busy(), timeout=5000)
    with qtbot.waitSignal(page.groups_shown, timeout=20_000):
        page.rescan_button.click()
    assert shown_groups(page) == expected_groups(dup_photos) - {pair}


def test_cancel_stops_the_scan(qtbot, dup_app, library):
    controller, window = dup_app
    started = threading.Event()

    def slow_scan(threshold=None, *, progress=None, cancel=None, **_):
        progress(Progress("comparing", 1, 10, unit="pairs"))
        started.set()
        cancel.wait(20)
        raise Cancelled()

    library.find_duplicates = slow_scan
    page = window.duplicates
    window.find_duplicates_action.trigger()
    qtbot.waitUntil(lambda: started.is_set() and page.status_widget.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: "Comparing photos" in page.status_widget.label.text(), timeout=5000)
    assert "Looking for copies" in page.placeholder.text()
    with qtbot.waitSignal(page.scan_finished, timeout=10_000):
        page.status_widget.cancel_button.click()
    assert page.scan is None and not page.scanning and not page.status_widget.isVisible()
    assert "cancelled" in page.placeholder.text() and page.cards == []


def test_where_restore_is_impossible_the_move_is_off_and_says_why(qtbot, make_app, library, dup_photos,
                                                                  qsettings, monkeypatch):
    message = "Moving files to the Trash is not supported on this platform (test)."
    monkeypatch.setattr(core_trash, "platform_support",
                        lambda: core_trash.TrashSupport(False, False, message))
    library.add_folder(dup_photos)
    qsettings.setValue("duplicates/min_similarity", 0.90)
    controller, window = make_app(library)
    wait_index_done(qtbot, controller)
    page = find_duplicates(qtbot, window)
    assert len(page.cards) == 4  # the review works
    assert page.platform_note.isVisible() and page.platform_note.text() == message
    assert not page.move_button.isEnabled() and page.move_button.toolTip() == message
    assert not page.undo_action.isEnabled()
