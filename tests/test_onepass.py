"""One pass per photo: indexing stores every per-photo product the duplicates and the map need."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from helpers import draw_photo


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "photos"
    for i in range(8):
        draw_photo(folder / f"photo_{i}.jpg", seed=i, size=(160, 120), quality=92)
    shutil.copy(folder / "photo_0.jpg", folder / "copy_of_0.jpg")
    Image.open(folder / "photo_2.jpg").save(folder / "photo_2_resaved.jpg", quality=70)
    return folder


def _descriptors(library):
    from simdesk.core.duplicates.descriptors import descriptor_spaces

    spaces = descriptor_spaces(library.store, library.duplicate_descriptor_model().spec)
    return {view: library.store.load_embeddings(space) for view, space in spaces.items()}


def test_index_leaves_no_per_photo_work_for_duplicates_or_the_map(library, folder, monkeypatch):
    library.add_folder(folder)
    report = library.index(workers=1)
    assert report.embedded == 10 and not report.failed
    assert library.duplicates_missing() == 0
    assert library.prepare_duplicates(workers=1).computed == 0  # no second decode, no model run
    ids = library.store.load_embeddings(library.space())[0]
    # The map's colours were stored by the index: no thumbnail is decoded for them.
    monkeypatch.setattr(type(library.store), "thumbnail",
                        lambda self, chash: pytest.fail("decoded a thumbnail for a colour"))
    colours = library.map_colours(ids)
    assert colours.shape == (10, 3) and (colours != 128).any()
    # The captions' classes too came from the indexing pass: naming the regions runs no model.
    stored = library.store.connection.execute("SELECT count(*) FROM classes").fetchone()[0]
    assert stored == 9  # one per distinct photo (the byte-identical copy shares its hash)
    library._embedders.clear()
    library.embedder = lambda: pytest.fail("ran the model to name the map's regions")
    classes = library.map_classes(ids)
    assert classes.shape == (10,) and (classes >= 0).all()
    scan = library.find_duplicates(threshold=0.95)
    exact = {frozenset(g.paths) for g in library.duplicate_groups(scan) if g.kind == "identical"}
    assert frozenset({str(folder / "photo_0.jpg"), str(folder / "copy_of_0.jpg")}) in exact


def test_one_pass_descriptors_equal_the_second_pass(library, folder, tmp_path):
    """The descriptors from the indexing pass are those `prepare_duplicates` computes."""
    from simdesk.core.library import Library

    library.add_folder(folder)
    library.index(workers=1)
    one_pass = _descriptors(library)
    other = Library(tmp_path / "other")
    other.set_model(library.model_name, library.pooling)
    other.add_folder(folder)
    other.index(workers=1, one_pass=False)
    assert other.duplicates_missing() == 9
    assert other.prepare_duplicates(workers=1).computed == 9
    two_pass = _descriptors(other)
    for view in ("upright", "rot90"):
        a, b = one_pass[view][1], two_pass[view][1]
        assert a.shape == b.shape
        # Same model, same layer; the pixels may differ by the decoder's draft scale only.
        cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cosine.min() > 0.99
    # The colours agree with what the map computes from the thumbnails, within a few levels.
    ids = other.store.load_embeddings(other.space())[0]
    from_thumbs = other.map_colours(ids).astype(int)
    from_index = library.map_colours(library.store.load_embeddings(library.space())[0]).astype(int)
    assert np.abs(from_thumbs - from_index).max() <= 12
    other.close()


def test_indexing_session_returns_the_mid_level_map(tiny_model):
    """A mid-level layer added as an output of the one session: same map as the cut graph."""
    from simdesk.core.embedder import Embedder

    embedder = Embedder(tiny_model, pooling="gem", extra_outputs=("r1",))
    pixels = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    vectors, maps = embedder.embed_with_maps(pixels)
    assert maps["r1"].shape == (3, 16, 16, 16)
    np.testing.assert_allclose(vectors, Embedder(tiny_model, pooling="gem").embed(pixels), rtol=1e-5)


# -- int8 by default, guarded ---------------------------------------------------------------------


@pytest.fixture
def many_photos(tmp_path):
    folder = tmp_path / "many"
    for i in range(40):
        draw_photo(folder / f"p{i:03d}.jpg", seed=i, size=(96, 72), quality=90)
    return folder


@pytest.fixture
def small_sample(monkeypatch):
    from simdesk.core import int8

    monkeypatch.setattr(int8, "MIN_PHOTOS", 30)
    monkeypatch.setattr(int8, "CALIBRATION_PHOTOS", 16)
    monkeypatch.setattr(int8, "SAMPLE_PHOTOS", 32)
    return int8


def test_a_new_library_on_the_cpu_gets_a_checked_int8_model(library, many_photos, small_sample, capsys):
    from simdesk.cli import main

    library.add_folder(many_photos)
    report = library.index(workers=1)
    assert report.embedded == 40
    decision = library._settings.precision[library.model_name]
    assert decision["state"] == "int8", decision
    check = decision["check"]
    assert check["passed"] and check["top10_overlap"] >= 0.9 and check["photos"] == 32
    assert check["copies"] == 16 and check["copies_int8"] >= check["copies_fp32"]
    manifest = library.manifest()
    assert manifest.source.startswith("int8") and manifest.onnx_sha256 == decision["sha256"]
    # Every photo is in the int8 model's space (one model file a library), descriptors included.
    assert library.store.count_embedded(library.space().id) == 40
    assert library.duplicates_missing() == 0
    assert library.status().precision.startswith("int8 (checked against fp32")
    library.close()
    assert main(["status"]) == 0
    assert "Precision: int8" in capsys.readouterr().out


def test_int8_is_refused_when_it_disagrees(library, many_photos, small_sample, monkeypatch):
    monkeypatch.setattr(small_sample, "MIN_TOP10_OVERLAP", 1.01)  # no model can pass this
    library.add_folder(many_photos)
    library.index(workers=1)
    assert library.status().precision.startswith("fp32 (int8 disagreed")
    assert not library.manifest().source.startswith("int8")
    assert not (library.directory / "models" / f"{library.model_name}-int8").exists()
    assert library.store.count_embedded(library.space().id) == 40


def test_small_or_old_libraries_and_gpus_keep_fp32(library, photo_folder, many_photos, small_sample,
                                                    monkeypatch):
    library.add_folder(photo_folder)
    library.index(workers=1)  # 7 photos: too few to calibrate on; decided later
    assert library.status().precision == ""
    monkeypatch.setattr(small_sample, "REEMBED_LIMIT", 5)
    library.add_folder(many_photos)
    library.index(workers=1)
    assert library.status().precision == "fp32 (indexed in fp32 before int8 was the default)"


def test_gpu_keeps_fp32(library, many_photos, small_sample, monkeypatch):
    from simdesk.core import embedder

    monkeypatch.setattr(embedder.Embedder, "provider", property(lambda self: embedder.CUDA))
    library.add_folder(many_photos)
    library.index(workers=1)
    assert library.status().precision == "fp32 (GPU (CUDA): fp32 is kept)"


def test_classes_from_the_pass_equal_those_from_the_thumbnails(library, folder):
    """The classes stored while indexing are the classifier's own top class of each photo, as the
    older path (classified from the thumbnails when the map first needs them) finds them."""
    library.add_folder(folder)
    library.index(workers=1, one_pass=False)  # a library indexed before: no classes stored
    ids = library.store.load_embeddings(library.space())[0]
    assert library.store.connection.execute("SELECT count(*) FROM classes").fetchone()[0] == 0
    from_thumbnails = library.map_classes(ids)
    library.store.connection.execute("DELETE FROM classes")
    library.store.connection.execute("DELETE FROM embeddings")
    library.index(workers=1)
    assert library.store.connection.execute("SELECT count(*) FROM classes").fetchone()[0] == 9
    from_the_pass = library.map_classes(ids)
    # Thumbnails are a resized copy of the same pixels: nearly every photo gets the same class.
    assert (from_the_pass >= 0).all() and np.mean(from_the_pass == from_thumbnails) >= 0.7
