"""First start: the welcome screen asks for folders and the model; the choice persists."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from simdesk.core.models import catalog as models
from simdesk.core.library import Library
from simdesk.core.progress import Cancelled, Progress
from .uihelpers import GUI_MARKS, wait_index_done, wait_rows

pytestmark = GUI_MARKS


@pytest.fixture
def fresh_library(library_dir, models_dir):
    lib = Library(library_dir)
    yield lib
    lib.close()


def test_first_run_with_the_offline_model(qtbot, make_app, fresh_library, library_dir, photo_folder):
    controller, window = make_app(fresh_library)
    welcome = window.welcome
    assert window.pages.currentWidget() is welcome
    assert not welcome.start_button.isEnabled()  # no folder yet
    welcome.add_folders([str(photo_folder)])
    welcome.offline_radio.setChecked(True)
    qtbot.mouseClick(welcome.start_button, Qt.MouseButton.LeftButton)

    wait_index_done(qtbot, controller, timeout=60_000)
    assert window.pages.currentWidget() is window.browse
    assert controller.last_report.embedded == 7
    wait_rows(qtbot, window.browse.model, 7)
    # The choice and the folders persist (settings.json, read by a new Library).
    again = Library(library_dir)
    assert again.folders == [str(photo_folder)]
    assert again.model_name == models.OFFLINE_MODEL


def test_download_shows_progress_and_can_be_cancelled(qtbot, make_app, fresh_library, monkeypatch,
                                                      photo_folder):
    started = threading.Event()

    def fake_install(progress=None, cancel=None, **kwargs):
        total = models.RESNET50_APPROX_BYTES
        done = 0
        started.set()
        while not cancel.wait(0.01):
            done = min(total, done + 1_000_000)
            progress(Progress("downloading", done, total, unit="bytes"))
        raise Cancelled()

    monkeypatch.setattr(models, "install_resnet50", fake_install)
    controller, window = make_app(fresh_library)
    welcome = window.welcome
    assert f"{models.RESNET50_APPROX_BYTES / 1e6:.0f} MB" in welcome.resnet_radio.text()  # size shown
    welcome.add_folders([str(photo_folder)])
    assert welcome.resnet_radio.isChecked()
    qtbot.mouseClick(welcome.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: welcome.progress.value() > 0, timeout=5000)
    assert welcome.progress.isVisible() and welcome.cancel_button.isVisible()
    assert "Downloading ResNet-50" in welcome.progress_label.text()
    assert not welcome.start_button.isEnabled()

    qtbot.mouseClick(welcome.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: welcome.install_job is None, timeout=5000)
    assert "cancelled" in welcome.message.text().lower()
    assert welcome.offline_button.isVisible() and not welcome.progress.isVisible()
    assert window.pages.currentWidget() is welcome

    # The way out it offers: the offline model, then indexing starts.
    qtbot.mouseClick(welcome.offline_button, Qt.MouseButton.LeftButton)
    wait_index_done(qtbot, controller, timeout=60_000)
    assert fresh_library.model_name == models.OFFLINE_MODEL
    wait_rows(qtbot, window.browse.model, 7)


def test_a_failed_download_says_why_and_offers_the_offline_model(qtbot, make_app, fresh_library,
                                                                 monkeypatch, photo_folder):
    def failing(progress=None, cancel=None, **kwargs):
        raise models.ModelError("could not download the ResNet-50 weights: network unreachable. "
                                "Try again later, or use the offline model")

    monkeypatch.setattr(models, "install_resnet50", failing)
    controller, window = make_app(fresh_library)
    window.welcome.add_folders([str(photo_folder)])
    qtbot.mouseClick(window.welcome.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.welcome.message.isVisible(), timeout=5000)
    assert "network unreachable" in window.welcome.message.text()
    assert window.welcome.offline_button.isVisible()
    assert window.welcome.start_button.isEnabled()


def test_setup_keeps_an_imported_model_and_indexes(qtbot, make_app, library, photo_folder):
    # `library` uses the test's "tiny" model: the welcome page offers to keep it.
    controller, window = make_app(library)
    welcome = window.welcome
    assert welcome.current_radio.isVisible() and welcome.current_radio.isChecked()
    assert "tiny" in welcome.current_radio.text()
    welcome.add_folders([str(photo_folder)])
    qtbot.mouseClick(welcome.start_button, Qt.MouseButton.LeftButton)
    wait_index_done(qtbot, controller)
    wait_rows(qtbot, window.browse.model, 7)
    assert library.folders == [str(photo_folder)] and library.model_name == "tiny"
    assert "indexed 7 photos" in window.statusBar().currentMessage()
