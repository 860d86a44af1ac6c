"""Shared test fixtures: a tiny ONNX model built here, drawn photos, an isolated library."""

from __future__ import annotations

import os
from pathlib import Path

# No display on CI or developer machines: Qt renders offscreen. Set before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

# Plain helpers live in helpers.py; these names stay here for the tests that still import them
# from conftest.
from helpers import (  # noqa: E402,F401
    SHARED_DATA,
    TINY_INPUT,
    TINY_MODEL,
    build_tiny_onnx,
    draw_photo,
    install_tiny_model,
    shared_data,
)


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "models"
    monkeypatch.setenv("SIMDESK_MODELS_DIR", str(directory))
    return directory


@pytest.fixture
def tiny_model(models_dir):
    return install_tiny_model(models_dir)


@pytest.fixture
def library_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "library"
    monkeypatch.setenv("SIMDESK_LIBRARY", str(directory))
    return directory


@pytest.fixture
def library(library_dir, tiny_model):
    from simdesk.core.library import Library

    lib = Library(library_dir)
    lib.set_model(TINY_MODEL, "gem")
    yield lib
    lib.close()


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    folder = tmp_path / "photos"
    for i in range(6):
        draw_photo(folder / f"photo_{i}.jpg", seed=i, quality=92)
    draw_photo(folder / "sub" / "nested.png", seed=100)
    return folder


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    """A private freedesktop.org data home: the Trash of tests is tmp_path/xdg/Trash."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home / "Trash"
