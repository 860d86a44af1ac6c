"""Core calls the desktop app browses with (no Qt): listings, thumbnails in bulk, forgetting."""

import os

import numpy as np
import pytest

from conftest import draw_photo
from simdesk.core.models.catalog import ModelError


@pytest.fixture
def indexed(library, photo_folder):
    library.add_folder(photo_folder)
    report = library.index()
    assert report.embedded == 7
    return library


def test_browse_orders(indexed, photo_folder):
    ids, paths, hashes, times = indexed.browse(order="name")
    assert [os.path.basename(p) for p in paths] == ["nested.png"] + [f"photo_{i}.jpg" for i in range(6)]
    assert ids.dtype == np.int64 and len(ids) == len(hashes) == len(times) == 7
    assert len(set(ids.tolist())) == 7
    _, by_folder, _, _ = indexed.browse(order="folder")
    assert by_folder == sorted(by_folder)
    _, by_date, _, times = indexed.browse(order="date")
    assert list(times) == sorted(times, reverse=True)
    assert set(by_date) == set(paths)
    with pytest.raises(ValueError):
        indexed.browse(order="size")


def test_browse_date_uses_mtime_newest_first(library, tmp_path):
    folder = tmp_path / "dated"
    for i in range(3):
        path = draw_photo(folder / f"p{i}.jpg", seed=i)
        os.utime(path, ns=(1_000_000_000_000_000_000 + i * 10**12,) * 2)
    library.add_folder(folder)
    library.index()
    _, paths, _, times = library.browse(order="date")
    assert [os.path.basename(p) for p in paths] == ["p2.jpg", "p1.jpg", "p0.jpg"]
    assert times[0] == pytest.approx(1e9 + 2000)


def test_browse_one_folder_includes_nested_and_not_siblings(library, tmp_path):
    a, ab = tmp_path / "a", tmp_path / "ab"
    draw_photo(a / "one.jpg", seed=1)
    draw_photo(a / "deeper" / "two.jpg", seed=2)
    draw_photo(ab / "three.jpg", seed=3)  # "ab" shares the prefix "a" but is another folder
    library.add_folder(a)
    library.add_folder(ab)
    library.index()
    _, paths, _, _ = library.browse(str(a), order="name")
    assert [os.path.basename(p) for p in paths] == ["one.jpg", "two.jpg"]
    _, paths, _, _ = library.browse(str(ab) + os.sep)
    assert [os.path.basename(p) for p in paths] == ["three.jpg"]
    assert len(library.browse()[1]) == 3


def test_thumbnails_in_bulk_and_hashes(indexed):
    ids, _, hashes, _ = indexed.browse()
    thumbs = indexed.thumbnails(hashes + [b"\0" * 16])
    assert set(thumbs) == set(hashes)
    assert all(jpeg[:2] == b"\xff\xd8" for jpeg in thumbs.values())
    assert indexed.photo_hashes(ids.tolist() + [999_999]) == dict(zip(ids.tolist(), hashes))


def test_check_model(library, models_dir):
    assert library.check_model() == "tiny"
    library.set_model("resnet50")
    with pytest.raises(ModelError, match="offline model"):
        library.check_model()
