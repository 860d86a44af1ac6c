"""`simdesk` with no command starts the desktop app, or explains why it cannot."""

from __future__ import annotations

import sys

from simdesk import cli
from .uihelpers import GUI_MARKS

pytestmark = GUI_MARKS


def test_no_command_starts_the_app(monkeypatch, tmp_path):
    import simdesk.ui.app

    calls = []
    monkeypatch.setattr(simdesk.ui.app, "main", lambda **kwargs: calls.append(kwargs) or 0)
    assert cli.main(["--library", str(tmp_path / "lib")]) == 0
    assert calls == [{"library_dir": str(tmp_path / "lib")}]


def test_without_pyside6_it_says_what_to_do(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "simdesk.ui.app", None)  # import fails like a missing PySide6
    assert cli.main([]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "PySide6" in err and "pip install PySide6-Essentials" in err and "simdesk index" in err


def test_no_display_is_a_clear_message_not_a_hang(monkeypatch, capsys):
    # The tests run with QT_QPA_PLATFORM=offscreen: the real app must refuse, not wait unseen.
    assert cli.main([]) == cli.EXIT_ERROR
    assert "QT_QPA_PLATFORM=offscreen" in capsys.readouterr().err


def test_display_problem():
    from simdesk.ui.app import display_problem

    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({}, "darwin") is None
    assert "no display" in display_problem({}, "linux")
    assert "offscreen" in display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert display_problem({"QT_QPA_PLATFORM": "xcb"}, "linux") is None
