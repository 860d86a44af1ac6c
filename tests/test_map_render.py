"""The cluster map as a PNG: Library.export_map, render_map and `simdesk map --out`."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from simdesk.cli import main
from simdesk.core.map.layout import LayoutParams
from simdesk.core.map.render import date_colours, folder_palette, render_map
from test_layout import FAST, GROUP_COLOURS, fill_library


@pytest.fixture
def filled(library):
    groups = fill_library(library, {"red": 20, "green": 20, "blue": 20})
    return library, groups, library.map_layout(params=FAST)


def test_grid_export_draws_every_photo_in_its_cell(filled, tmp_path):
    library, groups, layout = filled
    out = tmp_path / "grid.png"
    result = library.export_map(out, layout, mode="grid", size=400)
    assert result.style == "thumbnails" and result.drawn == result.total == 60
    _, cols, rows = layout.grid()
    assert result.tile == 400 // max(cols, rows)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (result.width, result.height)
        pixels = np.asarray(img.convert("RGB"))
    # Every photo's thumbnail is at its cell: the pixel at each cell centre is its group colour.
    pad = max(16, 400 // 60)
    pos = layout.positions("grid") * 400
    photos = library.map_photos(layout.photo_ids)
    for (x, y), folder in zip(pos, photos.folders):
        colour = pixels[int(pad + y), int(pad + x)].astype(int)
        assert np.abs(colour - GROUP_COLOURS[folder.rsplit("/", 1)[-1]]).max() <= 12


def test_tsne_export_with_folder_colours_and_a_legend(filled, tmp_path):
    library, _, layout = filled
    plain = library.export_map(tmp_path / "a.png", layout, size=500)
    framed = library.export_map(tmp_path / "b.png", layout, size=500, colour_by="folder",
                                title="test map")
    assert plain.mode == "tsne" and 0 < plain.drawn <= 60
    assert framed.width == plain.width and framed.height > plain.height  # title and legend rows
    with Image.open(tmp_path / "b.png") as img:
        assert img.size == (framed.width, framed.height)


def test_dots_use_the_average_colour(filled):
    library, _, layout = filled
    image, result = render_map(library.store, layout, None, mode="grid", size=120, style="dots")
    assert result.style == "dots" and result.path is None
    pixels = np.asarray(image)
    for colour in GROUP_COLOURS.values():
        assert (np.abs(pixels.astype(int) - colour).max(axis=2) <= 8).any()


def test_small_tiles_fall_back_to_dots(filled):
    library, _, layout = filled
    _, result = render_map(library.store, layout, None, mode="grid", size=40)
    assert result.style == "dots" and result.tile < 10


def test_colour_helpers():
    palette = folder_palette(12)
    assert len(set(palette)) == 12
    colours, lo, hi = date_colours(np.array([0.0, 50.0, 100.0, np.nan]))
    assert (lo, hi) == (0.0, 100.0)
    assert tuple(colours[3]) == (128, 128, 128) and tuple(colours[0]) != tuple(colours[2])


def test_cli_map_writes_a_png_and_reuses_the_layout(library, tmp_path, capsys):
    fill_library(library, {"red": 15, "green": 15})
    library.close()
    out = tmp_path / "map.png"
    code = main(["map", "--out", str(out), "--size", "300"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "30 photos (laid out" in err
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width == 300 + 2 * 16
    code = main(["map", "--out", str(tmp_path / "grid.png"), "--grid", "--colour-by", "folder",
                 "--size", "300"])
    _, err = capsys.readouterr()
    assert code == 0 and "cached layout" in err and "grid" in err


def test_cli_map_of_an_empty_library_says_what_to_do(library_dir, tiny_model, tmp_path, capsys):
    from simdesk.core.library import Library

    Library(library_dir).set_model("tiny")
    code = main(["map", "--out", str(tmp_path / "map.png")])
    _, err = capsys.readouterr()
    assert code == 1 and "simdesk index" in err
    assert not (tmp_path / "map.png").exists()


def test_layout_params_round_trip():
    params = LayoutParams(perplexity=12.0, sample_size=100)
    import json

    assert LayoutParams.from_dict(json.loads(params.to_json())) == params
