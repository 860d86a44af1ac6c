"""The map's view state without a window: fit, zoom around a point, hit testing, selection."""

from __future__ import annotations

import numpy as np
import pytest

from simdesk.ui.map_state import MapState
from test_layout import FAST, fill_library


@pytest.fixture
def state(library):
    fill_library(library, {"red": 10, "green": 10})
    layout = library.map_layout(params=FAST)
    state = MapState()
    state.set_viewport(400, 300)
    state.set_layout(layout, library.map_photos(layout.photo_ids))
    return state


def test_fit_shows_every_photo(state):
    screen = state.screen_positions()
    assert state.fitted and screen.shape == (20, 2)
    assert (screen >= 0).all() and (screen[:, 0] <= 400).all() and (screen[:, 1] <= 300).all()
    assert set(state.visible_rows(margin=0).tolist()) == set(range(20))
    assert (state.colours == 110).all()  # grey until the average colours are known


def test_zoom_keeps_the_anchor_and_respects_the_limits(state):
    row = 3
    anchor = tuple(state.screen_positions()[row])
    before = state.item_size_px()
    state.zoom_by(2.0, anchor)
    assert state.item_size_px() == pytest.approx(before * 2)
    assert np.allclose(state.screen_positions()[row], anchor)
    state.zoom_by(1e9)
    assert state.item_size_px() == pytest.approx(1200, rel=1e-6)


def test_hit_testing_and_rectangles(state):
    scale, offset = state.view_of_row(5, 40)
    state.scale, state.offset = scale, offset
    assert np.allclose(state.screen_positions()[5], (200, 150))
    assert state.row_at(200, 150) == 5 and state.centre_row() == 5
    assert state.row_at(-500, -500) is None
    state.fit()
    assert state.rows_in_rect(0, 0, 400, 300) == set(range(20))
    state.selected = state.rows_of(state.layout.photo_ids[:3])
    assert state.selected_ids() == sorted(int(i) for i in state.layout.photo_ids[:3])
    assert len(state.paths(sorted(state.selected))) == 3


def test_mode_and_colouring(state):
    state.set_mode("grid")
    assert state.mode == "grid" and state.pos.shape == (20, 2)
    state.set_colour_by("folder")
    assert len(state.legend()) == 2
    with pytest.raises(ValueError):
        state.set_mode("spiral")
