"""Helpers for the GUI tests."""

from __future__ import annotations

import pytest

from helpers import TINY_MODEL, draw_photo, install_tiny_model, shared_data  # noqa: F401 (tests/helpers.py)


def wait_index_done(qtbot, controller, timeout=30_000):
    """Wait until indexing has ended and its report has reached the GUI."""
    qtbot.waitUntil(lambda: not controller.indexing and controller.last_report is not None,
                    timeout=timeout)


def wait_rows(qtbot, model, count, timeout=15_000):
    qtbot.waitUntil(lambda: model.rowCount() == count, timeout=timeout)


def trigger(menu, text):
    """Close a context menu and run its action called ``text``."""
    for action in menu.actions():
        if action.text() == text:
            menu.hide()
            action.trigger()
            return
    raise AssertionError(f"no {text!r} in {[a.text() for a in menu.actions()]}")


# Qt warnings fail every test (pyproject.toml: qt_log_level_fail, qt_log_ignore).
GUI_MARKS = [pytest.mark.gui]


def wait_laid_out(qtbot, grid, timeout=5000):
    """The grid lays out its items in batches after a reset: wait until the last one has a place
    (keys and clicks before that would move through a half-built layout)."""
    def done():
        model = grid.model()
        rows = model.rowCount()
        return rows == 0 or grid.visualRect(model.index(rows - 1, 0)).isValid()

    qtbot.waitUntil(done, timeout=timeout)
