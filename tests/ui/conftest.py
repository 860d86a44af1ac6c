"""GUI test fixtures: the real app built on a temporary library, with settings in a temp file."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings  # noqa: E402


@pytest.fixture
def qsettings(tmp_path):
    """Window and view settings in a temporary INI file (never the user's)."""
    return QSettings(str(tmp_path / "simdesk-gui.ini"), QSettings.Format.IniFormat)


@pytest.fixture(autouse=True)
def _isolated_desktop(tmp_path, monkeypatch):
    """The system Trash and anything else under the XDG data dir go to a temp folder."""
    data_home = tmp_path / "xdg-data"
    data_home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    # Never ask a real file manager (a developer's desktop has one): no D-Bus file manager here.
    from simdesk.ui import reveal

    monkeypatch.setattr(reveal, "show_items_over_dbus", lambda uri: False)


@pytest.fixture
def opened_urls(monkeypatch):
    """QDesktopServices.openUrl calls, recorded instead of launching anything."""
    from PySide6.QtGui import QDesktopServices

    urls = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: urls.append(url) or True)
    return urls


@pytest.fixture
def make_app(qtbot, qsettings):
    """``make_app(library, start=True)`` -> (controller, window): the real app, shown offscreen.

    Every controller is shut down (indexing stopped, workers joined) at the end of the test.
    """
    from simdesk.ui.app import build

    made = []

    def make(library, *, start: bool = True, settings=None, show: bool = True):
        controller, window = build(library, settings if settings is not None else qsettings,
                                   index_workers=2, start=start)
        made.append(controller)
        qtbot.addWidget(window)
        if show:
            with qtbot.waitExposed(window):
                window.show()
        return controller, window

    yield make
    for controller in made:
        controller.shutdown()
