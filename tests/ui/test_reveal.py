"""Show in folder: the photo selected in the file manager where the desktop allows it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simdesk.ui import reveal


def test_reveal_asks_the_file_manager_to_select_the_photo(monkeypatch, opened_urls):
    if sys.platform in ("darwin", "win32"):
        pytest.skip("the D-Bus path is for Linux and the BSDs")
    asked = []
    monkeypatch.setattr(reveal, "show_items_over_dbus", lambda uri: asked.append(uri) or True)
    assert reveal.reveal("/photos/summer 2019/été.jpg") == "selected"
    assert asked == ["file:///photos/summer%202019/%C3%A9t%C3%A9.jpg"]
    assert opened_urls == []  # nothing else opened


def test_reveal_opens_the_folder_when_no_file_manager_answers(opened_urls):
    # The GUI tests' fixture stands in for a desktop without a D-Bus file manager.
    assert reveal.reveal("/photos/summer 2019/a.jpg") == "folder"
    assert [url.toLocalFile() for url in opened_urls] == ["/photos/summer 2019"]


@pytest.mark.skipif(sys.platform != "linux" or not shutil.which("dbus-run-session"),
                    reason="needs dbus-run-session (a private D-Bus session bus)")
def test_show_items_reaches_a_file_manager_on_a_real_session_bus(tmp_path):
    photo = tmp_path / "a b" / "photo é.jpg"
    script = Path(__file__).with_name("fake_file_manager.py")
    result = subprocess.run(["dbus-run-session", "--", sys.executable, str(script), str(photo)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] is False  # nobody owns the name: the folder would be opened instead
    assert report["answer"] == "selected"
    assert report["received"] == [[[photo.as_uri()], ""]]  # ShowItems(uris, startup_id)
