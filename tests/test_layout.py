"""The cluster map's layout (PCA + t-SNE, placing, grid) and its cache in the library."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from simdesk.core.map import cache as layout_cache
from simdesk.core.map.layout import (
    LayoutParams,
    compute_layout,
    grid_cells,
    grid_shape,
    place_points,
    reduce_dimensions,
)
from simdesk.core.map.cache import MapScope
from simdesk.core.progress import Cancelled

# Small and quick: 100 exaggerated iterations + 200, a perplexity for ~100 points.
FAST = LayoutParams(max_iter=300, perplexity=10.0, refine_iter=20)
GROUP_COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 210)}


def clusters(sizes, dim=32, seed=0, spread=0.35):
    """Points around well separated random centres: (vectors, labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim)) * 2.0
    labels = np.repeat(np.arange(len(sizes)), sizes)
    vectors = centres[labels] + rng.normal(size=(len(labels), dim)) * spread
    return vectors.astype(np.float32), labels


def neighbour_agreement(coords, labels, k=5):
    from scipy.spatial import cKDTree

    _, nn = cKDTree(coords).query(coords, k=k + 1)
    return float((labels[nn[:, 1:]] == labels[:, None]).mean())


def fill_library(library, groups, *, root=None, seed=0, start=0):
    """Put fake photos straight into the library's cache: per group a folder, a cluster of
    vectors in the tiny model's 16-d space and a solid-colour thumbnail. Returns {group: ids}."""
    from PIL import Image

    space = library.map_space()
    store = library.store
    rng = np.random.default_rng(seed)
    centre_rng = np.random.default_rng(1234)
    centres = {name: np.abs(centre_rng.normal(size=space.dim)) * 3 for name in GROUP_COLOURS}
    root = root or "/photos"
    made = {}
    with store.transaction():
        for name, count in groups.items():
            buf = io.BytesIO()
            Image.new("RGB", (32, 24), GROUP_COLOURS[name]).save(buf, "JPEG", quality=95)
            for k in range(start, start + count):
                chash = f"{name}-{k}".encode().ljust(16, b"_")[:16]
                path = f"{root}/{name}/{name}_{k:04d}.jpg"
                store.upsert_photo(path, folder_id=None, size=100 + k, mtime_ns=(1_600_000_000 + k) * 10**9,
                                   content_hash=chash, width=32, height=24, capture_time=None)
                vec = centres[name] + rng.normal(size=space.dim) * 0.3
                store.put_embedding(chash, space.id, vec.astype(np.float32))
                store.put_thumbnail(chash, buf.getvalue())
                made.setdefault(name, []).append(store.photo_by_path(path).id)
    return made


# -- the layout ---------------------------------------------------------------------------------


def test_reduce_dimensions_normalises_and_projects():
    x, _ = clusters([30, 30], dim=80)
    f = reduce_dimensions(x * 7.0, n_components=10)
    assert f.shape == (60, 10) and f.dtype == np.float32
    # Scaling a vector does not move it: the map follows cosine similarity, like the search.
    g = reduce_dimensions(x * np.linspace(1, 5, 60)[:, None], n_components=10)
    assert np.allclose(np.abs(f), np.abs(g), atol=1e-4)
    assert reduce_dimensions(x[:, :5], n_components=10).shape == (60, 5)


def test_tsne_puts_similar_points_together():
    x, labels = clusters([40, 40, 40])
    coords = compute_layout(x, FAST)
    assert coords.shape == (120, 2) and coords.dtype == np.float32
    assert np.all(np.isfinite(coords))
    assert neighbour_agreement(coords, labels) > 0.95


def test_same_seed_same_layout():
    x, _ = clusters([30, 30])
    assert np.array_equal(compute_layout(x, FAST), compute_layout(x, FAST))


def test_large_sets_lay_out_a_sample_and_place_the_rest():
    x, labels = clusters([60, 60, 60], seed=3)
    events = []
    params = LayoutParams(max_iter=250, perplexity=10.0, sample_size=60, refine_iter=30)
    coords = compute_layout(x, params, progress=events.append)
    assert coords.shape == (180, 2) and np.all(np.isfinite(coords))
    assert neighbour_agreement(coords, labels) > 0.9
    phases = [e.phase for e in events]
    for phase in ("reducing", "affinities", "tsne", "placing", "refining", "done"):
        assert phase in phases
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_tiny_inputs():
    assert compute_layout(np.zeros((0, 8)), FAST).shape == (0, 2)
    assert compute_layout(np.ones((1, 8)), FAST).shape == (1, 2)
    three = compute_layout(np.eye(3, 8), FAST)
    assert three.shape == (3, 2) and len({tuple(p) for p in three}) == 3


def test_cancel_stops_the_layout():
    x, _ = clusters([40, 40])
    cancel = threading.Event()

    def progress(p):
        if p.phase == "tsne":
            cancel.set()

    with pytest.raises(Cancelled):
        compute_layout(x, FAST, progress=progress, cancel=cancel)


def test_placed_points_land_in_their_cluster():
    x, labels = clusters([30, 30, 30], seed=5)
    ref_coords = np.array([[0, 0], [40, 0], [0, 40]], dtype=np.float32)[labels]
    ref_coords += np.random.default_rng(0).normal(size=ref_coords.shape).astype(np.float32)
    new, new_labels = clusters([5, 5, 5], seed=5)  # same centres, new noise
    for refine in (0, 50):
        placed = place_points(x, ref_coords, new, k=8, refine_iter=refine)
        assert placed.shape == (15, 2) and np.all(np.isfinite(placed))
        centres = np.array([[0, 0], [40, 0], [0, 40]])
        nearest = np.argmin(((placed[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        assert np.array_equal(nearest, new_labels)
        assert len({tuple(p) for p in placed}) == 15  # jitter: no two stacked exactly
    assert place_points(x, ref_coords, np.zeros((0, x.shape[1]))).shape == (0, 2)


@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_grid_gives_each_point_its_own_cell(n):
    rng = np.random.default_rng(n)
    cells, cols, rows = grid_cells(rng.normal(size=(n, 2)))
    assert cols * rows >= n and (cols - 1) * rows < n or n == 1
    assert cells.shape == (n, 2)
    assert len({tuple(c) for c in cells}) == n
    assert cells[:, 0].min() >= 0 and cells[:, 0].max() < cols
    assert cells[:, 1].min() >= 0 and cells[:, 1].max() < rows


def test_grid_keeps_neighbourhoods_across_blocks():
    x, labels = clusters([100, 100, 100], seed=2)
    coords = compute_layout(x, FAST)
    cells, cols, rows = grid_cells(coords, leaf_size=64)  # forces the recursive split
    assert len({tuple(c) for c in cells}) == 300
    assert neighbour_agreement(cells.astype(float), labels, k=4) > 0.9
    # Up on the free map is up on the grid (rows grow downwards).
    top, bottom = np.argmax(coords[:, 1]), np.argmin(coords[:, 1])
    assert cells[top, 1] < cells[bottom, 1]


def test_grid_shape_follows_the_aspect():
    assert grid_shape(100, 1.0) == (10, 10)
    cols, rows = grid_shape(200, 2.0)
    assert cols * rows >= 200 and cols > rows


# -- the cache ----------------------------------------------------------------------------------


def test_second_open_uses_the_cache(library, monkeypatch):
    groups = fill_library(library, {"red": 30, "green": 30, "blue": 30})
    events = []
    first = library.map_layout(params=FAST, progress=events.append)
    assert first.source == "computed" and len(first) == 90
    assert events[-1].phase == "done" and events[-1].fraction == 1.0
    all_ids = np.sort(np.concatenate([np.array(v) for v in groups.values()]))
    assert np.array_equal(first.photo_ids, all_ids)

    monkeypatch.setattr(layout_cache, "compute_layout",
                        lambda *a, **k: pytest.fail("the layout was computed again"))
    again = library.map_layout(params=FAST)
    assert again.source == "cache"
    assert np.array_equal(again.coords, first.coords)
    # Another Library object on the same folder (the app opened again) reads the same cache.
    from simdesk.core.library import Library

    other = Library(library.directory)
    try:
        assert other.map_layout(params=FAST).source == "cache"
    finally:
        other.close()


def test_new_photos_are_placed_near_their_neighbours(library, monkeypatch):
    fill_library(library, {"red": 40, "green": 40, "blue": 40})
    first = library.map_layout(params=FAST)
    monkeypatch.setattr(layout_cache, "compute_layout",
                        lambda *a, **k: pytest.fail("the layout was computed again"))
    added = fill_library(library, {"red": 3, "blue": 3}, start=100, seed=9)
    updated = library.map_layout(params=FAST)
    assert updated.source == "updated" and updated.added == 6 and len(updated) == 126
    for pid in first.photo_ids:  # the photos already there did not move
        assert np.array_equal(updated.coords[updated.row_of(pid)], first.coords[first.row_of(pid)])
    photos = library.map_photos(updated.photo_ids)
    labels = np.array([f.rsplit("/", 1)[-1] for f in photos.folders])
    for name, ids in added.items():
        for pid in ids:
            row = updated.row_of(pid)
            d = np.linalg.norm(updated.coords - updated.coords[row], axis=1)
            d[row] = np.inf
            assert (labels[np.argsort(d)[:5]] == name).all()
    assert library.map_layout(params=FAST).source == "cache"  # and the update was stored


def test_removed_photos_are_dropped(library, monkeypatch):
    groups = fill_library(library, {"red": 30, "green": 30})
    first = library.map_layout(params=FAST)
    monkeypatch.setattr(layout_cache, "compute_layout",
                        lambda *a, **k: pytest.fail("the layout was computed again"))
    gone = library.store.photos_by_ids(groups["red"][:4])
    with library.store.transaction():
        library.store.delete_photos([r.path for r in gone.values()])
    updated = library.map_layout(params=FAST)
    assert updated.source == "updated" and updated.removed == 4 and len(updated) == 56
    assert all(updated.row_of(pid) is None for pid in groups["red"][:4])
    keep = groups["red"][5]
    assert np.array_equal(updated.coords[updated.row_of(keep)], first.coords[first.row_of(keep)])


def test_a_large_change_or_a_request_lays_out_again(library):
    fill_library(library, {"red": 30, "green": 30})
    library.map_layout(params=FAST)
    fill_library(library, {"blue": 20})  # a third more photos: more than 20 %
    assert library.map_layout(params=FAST).source == "computed"
    assert library.map_layout(params=FAST).source == "cache"
    assert library.map_layout(params=FAST, recompute=True).source == "computed"


def test_small_changes_add_up_to_a_recompute(library):
    fill_library(library, {"red": 25, "green": 25})
    library.map_layout(params=FAST)
    sources = []
    for step in range(4):  # 4 photos each time: 8 %, 16 %, 24 % of the full layout
        fill_library(library, {"blue": 4}, start=10 * step)
        sources.append(library.map_layout(params=FAST).source)
    assert sources[:2] == ["updated", "updated"] and "computed" in sources[2:]


def test_scopes_and_parameters_have_their_own_layouts(library):
    groups = fill_library(library, {"red": 20, "green": 20, "blue": 20})
    whole = library.map_layout(params=FAST)
    red = library.map_layout(MapScope.folder("/photos/red"), params=FAST)
    assert red.source == "computed" and np.array_equal(red.photo_ids, np.sort(groups["red"]))
    chosen = groups["green"][:10] + groups["blue"][:5]
    some = library.map_layout(MapScope.photos(chosen), params=FAST)
    assert some.source == "computed" and np.array_equal(some.photo_ids, np.sort(chosen))
    assert library.map_layout(MapScope.photos(reversed(chosen)), params=FAST).source == "cache"
    other = LayoutParams(max_iter=250, perplexity=5.0, refine_iter=20)
    assert library.map_layout(params=other).source == "computed"
    assert library.map_layout(params=FAST).source == "cache"
    assert len({whole.key, red.key, some.key}) == 3


def test_empty_library_gives_an_empty_layout(library):
    layout = library.map_layout(params=FAST)
    assert len(layout) == 0 and layout.positions("tsne").shape == (0, 2)


def test_positions_fit_the_unit_box(library):
    fill_library(library, {"red": 30, "green": 30, "blue": 30})
    layout = library.map_layout(params=FAST)
    for mode in ("tsne", "grid"):
        pos = layout.positions(mode)
        w, h = layout.extent(mode)
        assert pos.shape == (90, 2) and max(w, h) == pytest.approx(1.0)
        assert pos[:, 0].min() >= 0 and pos[:, 0].max() <= w + 1e-9
        assert pos[:, 1].min() >= 0 and pos[:, 1].max() <= h + 1e-9
    grid = layout.positions("grid")
    assert len({tuple(p) for p in np.round(grid, 9)}) == 90


def test_average_colours_come_from_the_thumbnails(library):
    groups = fill_library(library, {"red": 3, "blue": 3})
    colours = library.map_colours(groups["red"] + groups["blue"] + [999_999])
    assert colours.shape == (7, 3) and colours.dtype == np.uint8
    for row, name in zip(colours, ["red"] * 3 + ["blue"] * 3):
        assert np.abs(row.astype(int) - GROUP_COLOURS[name]).max() <= 8
    assert tuple(colours[-1]) == (128, 128, 128)  # unknown photo: grey


def test_average_colours_are_kept_in_the_library(library, monkeypatch):
    groups = fill_library(library, {"red": 3, "blue": 2})
    ids = groups["red"] + groups["blue"]
    first = library.map_colours(ids)
    hashes = library.map_photos(ids).content_hashes
    assert set(library.store.thumbnail_colours(list(hashes))) == set(hashes)
    # A later session (no in-memory cache) reads them back without decoding a thumbnail.
    library._map_colour_cache.clear()
    monkeypatch.setattr(type(library.store), "thumbnail",
                        lambda self, chash: pytest.fail("decoded a thumbnail again"))
    assert np.array_equal(library.map_colours(ids), first)


def test_colours_of_photos_gone_are_pruned(library):
    groups = fill_library(library, {"red": 2})
    hashes = list(library.map_photos(groups["red"]).content_hashes)
    library.map_colours(groups["red"])
    with library.store.transaction():
        library.store.delete_photos(["/photos/red/red_0000.jpg"])  # the first of the two
    library.store.prune_orphans()
    assert set(library.store.thumbnail_colours(hashes)) == {hashes[1]}


def test_cancelled_colouring_keeps_what_it_computed(library):
    groups = fill_library(library, {"red": 1200})
    hashes = list(library.map_photos(groups["red"]).content_hashes)
    cancel = threading.Event()

    def progress(p):  # Cancel pressed after 500 photos; seen at the next check, at 1,000
        if p.done > 0:
            cancel.set()

    with pytest.raises(Cancelled):
        layout_cache.average_colours(library.store, hashes, progress=progress, cancel=cancel)
    assert len(library.store.thumbnail_colours(hashes)) == 1000


# -- openTSNE, public API only --------------------------------------------------------------------


def test_layout_uses_no_private_tsne_api():
    import inspect

    from simdesk.core.map import layout

    source = inspect.getsource(layout)
    for private in ("_t_sne", "_gradient_descent", "_kl_divergence_bh", "_N_ITER_CHECK",
                    "sklearn.manifold"):
        assert private not in source


def test_cancel_stops_placing():
    x, labels = clusters([30, 30, 30], seed=5)
    ref_coords = np.array([[0, 0], [40, 0], [0, 40]], dtype=np.float32)[labels]
    cancel = threading.Event()
    from simdesk.core.map.layout import Reporter

    def progress(p):
        if p.phase == "refining" and p.done > 0:
            cancel.set()

    with pytest.raises(Cancelled):
        place_points(x, ref_coords, x[:10], k=8, refine_iter=50,
                     report=Reporter(progress, cancel))


def test_one_layout_for_scopes_that_hold_the_same_photos(library, monkeypatch):
    fill_library(library, {"red": 30, "green": 30}, root="/photos")
    folder = library.map_layout(MapScope.folder("/photos"), params=FAST)
    assert folder.source == "computed"
    real = layout_cache.compute_layout
    monkeypatch.setattr(layout_cache, "compute_layout",
                        lambda *a, **k: pytest.fail("the same photos were laid out again"))
    whole = library.map_layout(params=FAST)  # the library holds exactly the folder's photos
    assert whole.source == "cache" and whole.reused_from == "folder /photos"
    assert np.array_equal(whole.coords, folder.coords)
    assert library.map_layout(params=FAST).source == "cache"  # now kept as its own
    monkeypatch.setattr(layout_cache, "compute_layout", real)
    sub = library.map_layout(MapScope.folder("/photos/red"), params=FAST)  # fewer photos: its own
    assert sub.reused_from == ""


def test_photo_classes_are_computed_once_and_kept(library):
    from simdesk.core.map.labels import class_names

    groups = fill_library(library, {"red": 5, "green": 5})
    ids = [i for g in groups.values() for i in g]
    first = library.map_classes(ids)
    assert first.shape == (10,) and (first >= 0).all()  # the tiny model has a 10-class head
    assert len(class_names()) == 1000 and class_names()[281] == "tabby cat"
    assert class_names()[388] == "giant panda" and class_names()[207] == "golden retriever"
    count = library.store.connection.execute("SELECT count(*) FROM classes").fetchone()[0]
    assert count == 10
    library._embedders.clear()
    library.embedder = lambda: pytest.fail("classified again")
    assert np.array_equal(library.map_classes(ids), first)


def test_region_labels_name_dense_regions():
    from simdesk.core.map.labels import region_labels

    rng = np.random.default_rng(0)
    centres = np.array([[0.2, 0.2], [0.8, 0.25], [0.5, 0.8]])
    groups = np.repeat(np.arange(3), 250)
    pos = centres[groups] + rng.normal(size=(750, 2)) * 0.04
    classes = np.array([281, 388, 207])[groups]
    classes[::10] = 999  # some photos get another class: the region is still named
    labels = region_labels(pos, classes)
    coarse = [lab for lab in labels if lab.level == 0]
    assert sorted(lab.text for lab in coarse) == ["giant panda", "golden retriever", "tabby cat"]
    for lab in coarse:  # each caption sits in its cluster
        k = ["tabby cat", "giant panda", "golden retriever"].index(lab.text)
        assert np.linalg.norm(np.array([lab.x, lab.y]) - centres[k]) < 0.1
    assert max(lab.level for lab in labels) > 0  # finer captions for closer in
    assert region_labels(pos, np.full(750, -1)) == []


def test_captions_naming_the_same_two_classes_in_either_order_are_one_region():
    from simdesk.core.map.labels import _merge, same_classes

    assert same_classes("tabby cat / Egyptian cat", "Egyptian cat / tabby cat")
    assert not same_classes("tabby cat", "tabby cat / Egyptian cat")
    pos = np.array([[0.0, 0.0], [0.01, 0.0], [0.02, 0.0], [0.03, 0.0], [0.04, 0.0]])
    regions = [("Egyptian cat / tabby cat", np.array([0, 1]), 0.8),
               ("tabby cat / Egyptian cat", np.array([2, 3, 4]), 0.6)]
    merged = _merge(regions, pos, reach=0.1)
    assert len(merged) == 1
    text, members, share = merged[0]
    assert text == "tabby cat / Egyptian cat"  # the larger region's order
    assert sorted(members) == [0, 1, 2, 3, 4] and abs(share - 0.68) < 1e-9
