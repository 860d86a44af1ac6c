"""End to end with the real offline model (EfficientNet-Lite0) on real photos, when present."""

import shutil

import pytest

from conftest import shared_data
from simdesk.core.models import catalog as models
from simdesk.core.library import Library

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


@pytest.fixture(scope="module")
def animals_library(tmp_path_factory):
    source = shared_data("animals")
    root = tmp_path_factory.mktemp("animals")
    for cls in ("cats", "dogs", "panda"):
        (root / cls).mkdir()
        for photo in sorted((source / cls).glob("*.jpg"))[:30]:
            shutil.copy(photo, root / cls / photo.name)
    models_dir = tmp_path_factory.mktemp("models")
    mp = pytest.MonkeyPatch()
    mp.setenv("SIMDESK_MODELS_DIR", str(models_dir))
    models.install_efficientnet_lite0()
    library = Library(tmp_path_factory.mktemp("library"))
    library.set_model(models.OFFLINE_MODEL)
    library.add_folder(root)
    report = library.index()
    assert report.embedded == 90 and not report.failed
    yield library, root
    library.close()
    mp.undo()


def test_similar_photos_share_the_query_class(animals_library):
    library, root = animals_library
    index = library.search_index()
    hits = total = 0
    for cls in ("cats", "dogs", "panda"):
        for query in sorted((root / cls).glob("*.jpg"))[:10]:
            result = library.similar(query, k=5, index=index)
            hits += sum(f"/{cls}/" in m.path for m in result.matches)
            total += len(result.matches)
    assert hits / total >= 0.85, f"precision@5 {hits / total:.2f}"


def test_a_resized_copy_outside_the_library_finds_its_original(animals_library, tmp_path):
    from PIL import Image

    library, root = animals_library
    original = sorted((root / "dogs").glob("*.jpg"))[3]
    copy = tmp_path / "small copy.jpg"
    with Image.open(original) as img:
        img.resize((img.width // 2, img.height // 2)).save(copy, quality=60)
    result = library.similar(copy, k=3)
    assert not result.in_library
    assert result.matches[0].path == str(original)
    assert result.matches[0].similarity > result.matches[1].similarity + 0.1, result.matches
