"""The pre-flight before Qt starts: missing system libraries named, with install lines."""

import os
import sys

import pytest

from simdesk import system_libs
from simdesk.system_libs import install_lines, needed_libraries, preflight

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux plugins only")


@pytest.fixture
def qt():
    folder = system_libs.qt_folder()
    if folder is None or not (folder / "plugins" / "platforms" / "libqxcb.so").is_file():
        pytest.skip("PySide6's xcb plugin is not installed")
    return folder


def test_the_xcb_plugin_needs_the_libraries_the_issue_names(qt):
    needed = needed_libraries(qt / "plugins" / "platforms" / "libqxcb.so")
    for name in ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libQt6XcbQpa.so.6"):
        assert name in needed


def test_a_missing_library_is_named_with_three_install_lines(qt):
    absent = {"libxcb-cursor.so.0", "libxcb-icccm.so.4"}
    check = preflight({"DISPLAY": ":0"}, qt=qt, load=lambda name: name if name in absent else None)
    assert check.platform is None
    lines = check.problem.splitlines()
    assert "xcb platform plugin" in lines[0] and "libxcb-cursor.so.0, libxcb-icccm.so.4" in lines[0]
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4" in check.problem
    assert "sudo dnf install xcb-util-cursor xcb-util-wm" in check.problem
    assert "sudo pacman -S xcb-util-cursor xcb-util-wm" in check.problem


def test_a_library_really_missing_on_this_system(qt, tmp_path):
    """A copy of the real plugin whose DT_NEEDED names a library no system has: the real dlopen."""
    fake = tmp_path / "Qt"
    (fake / "plugins" / "platforms").mkdir(parents=True)
    (fake / "lib").symlink_to(qt / "lib")
    data = (qt / "plugins" / "platforms" / "libqxcb.so").read_bytes()
    assert b"libxcb-cursor.so.0\0" in data
    (fake / "plugins" / "platforms" / "libqxcb.so").write_bytes(
        data.replace(b"libxcb-cursor.so.0\0", b"libxcb-cursoX.so.0\0"))
    check = preflight({"DISPLAY": ":0"}, qt=fake)
    assert check.missing["xcb"] == ["libxcb-cursoX.so.0"]
    assert "packages providing libxcb-cursoX.so.0" in check.problem


def test_wayland_is_preferred_in_a_wayland_session_when_its_plugin_loads(qt):
    if not any((qt / "plugins" / "platforms" / n).is_file() for n in system_libs._WAYLAND_FALLBACKS):
        pytest.skip("no Wayland plugin in this PySide6")
    everything = lambda name: None  # noqa: E731
    assert preflight({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, qt=qt,
                     load=everything).platform == "wayland;xcb"
    assert preflight({"DISPLAY": ":0"}, qt=qt, load=everything).platform == "xcb"
    # Wayland's libraries missing, X11 (XWayland) there: xcb, no complaint.
    no_wayland = lambda name: name if name.startswith("libwayland") else None  # noqa: E731
    check = preflight({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, qt=qt, load=no_wayland)
    assert check.platform == "xcb" and check.problem is None
    # Only Wayland, and it cannot load: the message names Wayland's libraries.
    check = preflight({"WAYLAND_DISPLAY": "wayland-0"}, qt=qt, load=no_wayland)
    assert "wayland platform plugin" in check.problem and "libwayland" in check.problem
    # The user's own choice of platform is checked and kept.
    assert preflight({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "w"}, qt=qt, load=everything).platform is None
    assert preflight({"QT_QPA_PLATFORM": "offscreen"}, qt=qt, load=no_wayland).problem is None


def test_unknown_libraries_get_a_search_hint():
    lines = install_lines(["libweird.so.3"])
    assert lines == ["  and the packages providing libweird.so.3 (apt-file search / dnf provides / pacman -F)"]


def test_simdesk_prints_the_message_and_exits_1_instead_of_aborting(qt, monkeypatch, capsys):
    from simdesk.cli import main

    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(system_libs, "_dlopen", lambda name: name if name == "libxcb-cursor.so.0" else None)
    assert main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("simdesk: the desktop app cannot start") and "libxcb-cursor0" in err
    assert "QT_QPA_PLATFORM" not in os.environ
