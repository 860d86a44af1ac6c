"""Installing, importing and loading models: the ResNet-50 download runs against a local server."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from simdesk.cli import main
from simdesk.core.models import catalog as models
from simdesk.core.embedder import Embedder
from simdesk.core.models.catalog import ModelError
from test_convert_resnet50 import random_resnet50_state_dict
from test_download import FakeServer, no_proxies  # noqa: F401  (autouse fixture: no proxies)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def pth_server():
    """Serves a real (small) torch checkpoint; tests swap the payload as needed."""
    fake = FakeServer(payload=(FIXTURES / "tensors_zip.pth").read_bytes())
    fake.start()
    yield fake
    fake.stop()


def prefix_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def test_resnet50_download_verify_convert(models_dir, pth_server, monkeypatch):
    # The served bytes are a real checkpoint; loading it is swapped for full-size random ResNet-50
    # weights (the reader is tested on real files in test_pth), everything else runs for real.
    monkeypatch.setattr("simdesk.core.models.pth.load_pth", lambda path: random_resnet50_state_dict())
    seen = []
    manifest = models.install_resnet50(
        url=pth_server.url, sha256_prefix=prefix_of(pth_server.payload),
        progress=lambda p: seen.append((p.done, p.total)),
    )
    assert seen[-1][0] == len(pth_server.payload)
    assert manifest.embedding_size == 2048 and manifest.name == "resnet50"
    assert not list((models_dir / "downloads").glob("*"))  # the .pth is dropped once converted
    loaded = models.load_model("resnet50")
    assert loaded.onnx_sha256 == manifest.onnx_sha256
    vectors = Embedder(loaded).embed(np.zeros((2, 224, 224, 3), np.uint8))
    assert vectors.shape == (2, 2048)


def test_checksum_mismatch_installs_nothing(models_dir, pth_server):
    with pytest.raises(ModelError, match="checksum"):
        models.install_resnet50(url=pth_server.url, sha256_prefix="00000000")
    assert not (models_dir / "resnet50").exists()


def test_unreachable_server_offers_the_offline_model(models_dir, pth_server):
    with pytest.raises(ModelError, match="efficientnet-lite0"):
        models.install_resnet50(url=pth_server.url.replace("file.bin", "missing.bin"))


def test_cli_install_failure_is_one_clear_message(models_dir, pth_server, monkeypatch, capsys):
    monkeypatch.setenv("SIMDESK_RESNET50_URL", pth_server.url.replace("file.bin", "gone.bin"))
    assert main(["models", "install", "resnet50"]) == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "simdesk models install efficientnet-lite0" in err
    assert "Traceback" not in err


def test_a_checkpoint_that_is_not_resnet50_is_refused(models_dir, pth_server):
    with pytest.raises(ModelError, match="not a ResNet-50"):
        models.install_resnet50(url=pth_server.url, sha256_prefix=prefix_of(pth_server.payload))
    assert not (models_dir / "resnet50").exists()


def test_import_pth_with_custom_normalisation(models_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("simdesk.core.models.pth.load_pth", lambda path: random_resnet50_state_dict())
    src = tmp_path / "finetuned.pth"
    src.write_bytes(b"stand-in")
    manifest = models.import_model(src, mean=(1.0, 2.0, 3.0))
    assert manifest.name == "finetuned"
    assert tuple(models.load_model("finetuned").mean) == (1.0, 2.0, 3.0)


def test_import_refuses_builtin_names_and_other_files(models_dir, tmp_path):
    other = tmp_path / "weights.bin"
    other.write_bytes(b"x")
    with pytest.raises(ModelError, match=".pth or .onnx"):
        models.import_model(other)
    with pytest.raises(ModelError, match="built-in"):
        models.import_model(other, name="resnet50")


def test_offline_model_installs_and_index_installs_it_on_first_use(library_dir, models_dir,
                                                                    photo_folder, capsys):
    code = main(["index", str(photo_folder), "--model", "efficientnet-lite0"])
    assert code == 0
    err = capsys.readouterr().err
    assert "Converting the offline model" in err and "7 indexed" in err
    manifest = models.load_model("efficientnet-lite0")
    assert manifest.embedding_size == 1280 and manifest.input_size == 224


def test_damaged_manifest_is_reported(models_dir, tiny_model):
    (tiny_model.directory / "manifest.json").write_text("{broken")
    with pytest.raises(ModelError, match="damaged"):
        models.load_model("tiny")
    assert [m.name for m in models.installed_models()] == []


def test_manifest_records_what_feeding_the_model_needs(tiny_model):
    data = json.loads((tiny_model.directory / "manifest.json").read_text())
    assert {"input_size", "mean", "std", "embedding_size", "onnx_sha256", "feature_output",
            "resize_mode"} <= set(data)


def test_reinstall_replaces_atomically(models_dir, tiny_model):
    from helpers import install_tiny_model

    again = install_tiny_model(models_dir, seed=5)
    assert again.onnx_sha256 != tiny_model.onnx_sha256
    assert models.load_model("tiny").onnx_sha256 == again.onnx_sha256
    assert [p.name for p in models_dir.iterdir()] == ["tiny"]  # no scratch or old folders left


def test_quantize_makes_an_int8_model_that_agrees(models_dir, tiny_model, photo_folder, capsys):
    import onnx

    code = main(["models", "quantize", "tiny", str(photo_folder), "--count", "5"])
    assert code == 0, capsys.readouterr().err
    int8 = models.load_model("tiny-int8")
    ops = {n.op_type for n in onnx.load(str(int8.onnx_path)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    pixels = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    a, b = Embedder(tiny_model).embed(pixels), Embedder(int8).embed(pixels)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.95
