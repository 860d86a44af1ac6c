"""Read PyTorch ``.pth`` checkpoints into NumPy arrays without importing torch.

A ``.pth`` file is a pickle, and unpickling runs whatever callables the file names. A checkpoint
downloaded from the internet must never be able to run code, so the unpickler here resolves only a
short allow-list of globals (the tensor-rebuild helpers and storage types that ``torch.save``
emits) to our own NumPy implementations, and refuses everything else with :class:`PthError`.

Two container formats are understood:

* zip (``torch.save`` since torch 1.6): ``<folder>/data.pkl`` holds the object, and each storage is
  a raw little-endian record ``<folder>/data/<key>``.
* legacy (``_use_new_zipfile_serialization=False`` and torch < 1.6): a sequence of pickles in one
  stream -- magic number, protocol version, system info, the object, the sorted list of storage
  keys -- followed, for each key, by an 8-byte little-endian element count and the raw bytes.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

__all__ = ["PthError", "load_pth"]

_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001
_ZIP_SIGNATURE = b"PK\x03\x04"
_PICKLE_PROTO_OPCODE = 0x80
_MAX_BROADCAST_ELEMENTS = 1 << 26  # larger tensors must be backed by a storage as large
# Bounds on the whole file, checked before anything is allocated: the storages a checkpoint
# declares, and the arrays it would expand to, can be no larger than a few times the file itself
# (torch stores records uncompressed; slack for float16 -> float32 and a re-compressed zip), nor
# than an absolute cap. Without them a 4 MB zip-bomb record inflates to gigabytes, and a few
# broadcast tensors of under the per-tensor cap each add up to gigabytes.
_MAX_EXPANSION = 8
_EXPANSION_SLACK = 16 << 20
_MAX_TOTAL_BYTES = 4 << 30
_MAX_PICKLE_BYTES = 64 << 20  # data.pkl holds names and shapes, never weights


class _Budget:
    def __init__(self, file_size: int, what: str) -> None:
        self.limit = min(_MAX_TOTAL_BYTES, _MAX_EXPANSION * file_size + _EXPANSION_SLACK)
        self.used = 0
        self.what = what

    def take(self, nbytes: int) -> None:
        self.used += max(0, nbytes)
        if self.used > self.limit:
            raise PthError(
                f"the checkpoint declares more {self.what} than a file of its size can hold "
                f"(over {self.limit} bytes): corrupt or a decompression bomb"
            )


class PthError(Exception):
    """The file is not a PyTorch checkpoint we can read safely."""


class _Sealed:
    """Base of every object the unpickler hands to the pickle program.

    Pickle's BUILD opcode sets attributes on an object it has built; defining ``__setstate__``
    stops a hostile file from rewriting ours (e.g. a shared dtype descriptor) that way.
    """

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise PthError("the checkpoint tries to modify an internal object (corrupt or malicious)")


@dataclass(frozen=True)
class _DType(_Sealed):
    """A torch dtype: its name, the NumPy dtype of its raw bytes, and whether we support it."""

    name: str
    numpy_dtype: np.dtype | None  # None: a torch dtype NumPy cannot represent (we refuse it)
    unsupported_itemsize: int = 0  # bytes per element of such a dtype, to skip over its data

    @property
    def itemsize(self) -> int:
        if self.numpy_dtype is None:
            return self.unsupported_itemsize
        return self.numpy_dtype.itemsize


# bfloat16 has no NumPy dtype: keep the raw 16-bit patterns and widen them to float32 later.
_BFLOAT16 = _DType("bfloat16", np.dtype("<u2"))

_DTYPES = {
    "float32": _DType("float32", np.dtype("<f4")),
    "float64": _DType("float64", np.dtype("<f8")),
    "float16": _DType("float16", np.dtype("<f2")),
    "bfloat16": _BFLOAT16,
    "int64": _DType("int64", np.dtype("<i8")),
    "int32": _DType("int32", np.dtype("<i4")),
    "int16": _DType("int16", np.dtype("<i2")),
    "int8": _DType("int8", np.dtype("i1")),
    "uint8": _DType("uint8", np.dtype("u1")),
    "uint16": _DType("uint16", np.dtype("<u2")),
    "uint32": _DType("uint32", np.dtype("<u4")),
    "uint64": _DType("uint64", np.dtype("<u8")),
    "bool": _DType("bool", np.dtype("?")),
}
_UNSUPPORTED_DTYPE_SIZES = {
    "complex32": 4,
    "complex64": 8,
    "complex128": 16,
    "qint8": 1,
    "quint8": 1,
    "qint32": 4,
    "quint4x2": 1,
    "quint2x4": 1,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "float8_e4m3fnuz": 1,
    "float8_e5m2fnuz": 1,
}
for _name, _size in _UNSUPPORTED_DTYPE_SIZES.items():
    _DTYPES[_name] = _DType(_name, None, _size)

# torch's aliases for the same dtypes (``torch.float`` is ``torch.float32``, ...).
_DTYPE_ALIASES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "long": "int64",
    "int": "int32",
    "short": "int16",
    "cfloat": "complex64",
    "cdouble": "complex128",
    "chalf": "complex32",
}

_STORAGE_TYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "QInt8Storage": "qint8",
    "QUInt8Storage": "quint8",
    "QInt32Storage": "qint32",
    "UntypedStorage": "uint8",  # raw bytes; _rebuild_tensor_v3 says which dtype to view them as
}


@dataclass(frozen=True)
class _StorageType(_Sealed):
    """What a storage-type global such as ``torch.FloatStorage`` unpickles to."""

    dtype: _DType


class _Storage(_Sealed):
    """One storage of a checkpoint: a flat buffer of elements, filled in once its bytes are read."""

    def __init__(self, key: str, dtype: _DType, numel: int) -> None:
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.data: bytes | memoryview | None = None

    def elements(self, dtype: _DType) -> np.ndarray:
        if self.data is None:
            raise PthError(f"storage {self.key!r} has no data in the file (corrupt checkpoint)")
        if dtype.numpy_dtype is None:
            raise PthError(f"unsupported dtype torch.{dtype.name} (storage {self.key!r})")
        usable = len(self.data) - len(self.data) % dtype.itemsize
        return np.frombuffer(memoryview(self.data)[:usable], dtype=dtype.numpy_dtype)


class _StorageView(_Sealed):
    """A legacy-format view into a slice of another storage (torch < 1.0 wrote these)."""

    def __init__(self, root: _Storage, offset: int, numel: int) -> None:
        self.root = root
        self.offset = offset
        self.numel = numel
        self.dtype = root.dtype
        self.key = root.key

    def elements(self, dtype: _DType) -> np.ndarray:
        whole = self.root.elements(dtype)
        if self.offset < 0 or self.offset + self.numel > whole.size:
            raise PthError(f"storage view of {self.key!r} lies outside its storage (corrupt)")
        return whole[self.offset : self.offset + self.numel]


class _PendingTensor(_Sealed):
    """A tensor whose storage bytes may not have been read yet (legacy format reads them last)."""

    def __init__(self, storage: Any, offset: Any, size: Any, stride: Any, dtype: _DType) -> None:
        if not isinstance(storage, (_Storage, _StorageView)):
            raise PthError("a tensor refers to something that is not a storage (corrupt)")
        self.storage = storage
        self.offset = _as_int(offset, "storage offset")
        self.size = tuple(_as_int(n, "size") for n in _as_tuple(size, "size"))
        self.stride = tuple(_as_int(n, "stride") for n in _as_tuple(stride, "stride"))
        self.dtype = dtype
        if len(self.size) != len(self.stride):
            raise PthError("a tensor's size and stride disagree (corrupt checkpoint)")

    def materialize(self) -> np.ndarray:
        elements = self.storage.elements(self.dtype)
        if any(n < 0 for n in self.size) or any(s < 0 for s in self.stride) or self.offset < 0:
            raise PthError("a tensor has a negative size, stride or offset (corrupt checkpoint)")
        if 0 in self.size:
            array = np.zeros(self.size, dtype=elements.dtype)
        else:
            # Check bounds ourselves: as_strided reads outside the buffer without complaint.
            last = self.offset + sum(
                (n - 1) * s for n, s in zip(self.size, self.stride, strict=True)
            )
            if last >= elements.size:
                raise PthError(
                    f"a tensor reaches past the end of storage {self.storage.key!r} "
                    "(truncated or corrupt checkpoint)"
                )
            numel = math.prod(self.size)
            if numel > elements.size and numel > _MAX_BROADCAST_ELEMENTS:
                # Zero strides let a few bytes describe a vast tensor; copying it could exhaust
                # memory, which a hostile file must not be able to make us do.
                raise PthError(
                    f"a tensor of {numel} elements is a broadcast view of a "
                    f"{elements.size}-element storage, too large to expand"
                )
            itemsize = elements.itemsize
            array = np.lib.stride_tricks.as_strided(
                elements[self.offset :],
                shape=self.size,
                strides=tuple(s * itemsize for s in self.stride),
                writeable=False,
            ).copy()  # the copy owns its memory, so shared storages are not aliased
        return _to_output_dtype(array, self.dtype)


def _to_output_dtype(array: np.ndarray, dtype: _DType) -> np.ndarray:
    if dtype is _BFLOAT16:
        # A bfloat16 is the upper 16 bits of a float32.
        widened = np.empty(array.shape, dtype=np.float32)
        widened.view(np.uint32)[...] = array.astype(np.uint32) << 16
        return widened
    if array.dtype.kind == "f":
        return array.astype(np.float32, copy=False)
    return array.astype(array.dtype.newbyteorder("="), copy=False)  # native byte order


def _as_tuple(value: Any, what: str) -> tuple:
    if isinstance(value, (tuple, list)):
        return tuple(value)
    if isinstance(value, int):  # torch.Size of one dimension may arrive as a bare int
        return (value,)
    raise PthError(f"a tensor's {what} is not a tuple (corrupt checkpoint)")


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PthError(f"a tensor's {what} is not an integer (corrupt checkpoint)")
    return value


# --- NumPy stand-ins for the torch functions a checkpoint may call -----------------------------


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _PendingTensor(storage, storage_offset, size, stride, _storage_dtype(storage))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, *_ignored):
    return _PendingTensor(storage, storage_offset, size, stride, _storage_dtype(storage))


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, hooks, dtype, *_):
    if not isinstance(dtype, _DType):
        raise PthError("a tensor's dtype is not a torch dtype (corrupt checkpoint)")
    return _PendingTensor(storage, storage_offset, size, stride, dtype)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *_ignored):
    return data  # a Parameter is just its tensor for us


def _storage_dtype(storage: Any) -> _DType:
    if not isinstance(storage, (_Storage, _StorageView)):
        raise PthError("a tensor refers to something that is not a storage (corrupt)")
    return storage.dtype


def _torch_dtype(name: str) -> _DType:
    return _DTYPES[_DTYPE_ALIASES.get(name, name)]


class _SealedFunction(_Sealed):
    """One of our rebuild functions as the pickle sees it (so BUILD cannot alter the function)."""

    __slots__ = ("_function",)

    def __init__(self, function: Any) -> None:
        self._function = function

    def __call__(self, *args: Any) -> Any:
        return self._function(*args)


_REBUILD_FUNCTIONS = {
    "_rebuild_tensor": _SealedFunction(_rebuild_tensor),
    "_rebuild_tensor_v2": _SealedFunction(_rebuild_tensor_v2),
    "_rebuild_tensor_v3": _SealedFunction(_rebuild_tensor_v3),
    "_rebuild_parameter": _SealedFunction(_rebuild_parameter),
    "_rebuild_parameter_with_state": _SealedFunction(_rebuild_parameter),
}


def _allowed_global(module: str, name: str) -> Any:
    """The object standing in for ``module.name``, or None if the name is not allowed."""
    if module == "collections" and name == "OrderedDict":
        return collections.OrderedDict
    if module == "torch._utils":
        return _REBUILD_FUNCTIONS.get(name)
    if module in ("torch", "torch.cuda", "torch.storage") and name in _STORAGE_TYPES:
        return _StorageType(_DTYPES[_STORAGE_TYPES[name]])
    if module == "torch" and (name in _DTYPES or name in _DTYPE_ALIASES):
        return _torch_dtype(name)
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can build tensors and nothing else."""

    def __init__(self, file: BinaryIO, storages: dict[str, _Storage], read_zip_record=None,
                 budget: "_Budget | None" = None):
        super().__init__(file, encoding="latin1")  # latin1: Python 2 checkpoints' byte strings
        self._storages = storages
        self._read_zip_record = read_zip_record  # zip format: fetch a storage's bytes by key
        self._budget = budget  # the storage bytes all references together may declare

    def find_class(self, module: str, name: str) -> Any:
        allowed = _allowed_global(module, name)
        if allowed is None:
            raise PthError(
                f"refusing to load: the checkpoint asks for the global '{module}.{name}', which "
                "is not a tensor type (a .pth file can run arbitrary code, so only tensor data "
                "is accepted)"
            )
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] not in ("storage", "Storage"):
            kind = pid[0] if isinstance(pid, tuple) and pid else type(pid).__name__
            raise PthError(
                f"unsupported object in checkpoint ({kind!r}): only tensors can be loaded; "
                "save the model's state_dict() rather than the whole model"
            )
        if len(pid) < 5:
            raise PthError("malformed storage reference (corrupt checkpoint)")
        storage_type, key, _location, numel = pid[1:5]
        view_metadata = pid[5] if len(pid) > 5 else None
        if not isinstance(storage_type, _StorageType):
            raise PthError("a storage reference names no storage type (corrupt checkpoint)")
        key = str(key)
        numel = _as_int(numel, "storage size")
        storage = self._storages.get(key)
        if storage is None:
            storage = _Storage(key, storage_type.dtype, numel)
            if self._budget is not None:
                self._budget.take(numel * storage_type.dtype.itemsize)
            if self._read_zip_record is not None:
                storage.data = self._read_zip_record(key, numel * storage_type.dtype.itemsize)
            self._storages[key] = storage
        if view_metadata is not None:
            if not (isinstance(view_metadata, tuple) and len(view_metadata) == 3):
                raise PthError("malformed storage view (corrupt checkpoint)")
            _view_key, view_offset, view_numel = view_metadata
            return _StorageView(
                storage, _as_int(view_offset, "view offset"), _as_int(view_numel, "view size")
            )
        return storage


# --- the two container formats ----------------------------------------------------------------


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A zip member's first ``limit`` bytes at most, refusing a member declared larger than that."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise PthError(f"the zip member {name!r} is declared larger than it can be "
                       f"({info.file_size} bytes): corrupt or a decompression bomb")
    with archive.open(info) as member:
        return member.read(limit)


def _load_zip(data: bytes) -> Any:
    budget = _Budget(len(data), "storage data")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise PthError(f"the zip container is truncated or corrupt ({error})") from error
    pickles = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise PthError("not a PyTorch checkpoint: the zip holds no '<folder>/data.pkl'")
    prefix = pickles[0][: -len("data.pkl")]
    byteorder_name = prefix + "byteorder"
    big_endian = byteorder_name in names and _read_member(archive, byteorder_name, 64).strip() == b"big"

    def read_record(key: str, expected_bytes: int) -> bytes:
        record_name = f"{prefix}data/{key}"
        if record_name not in names:
            raise PthError(f"storage record {record_name!r} is missing (corrupt checkpoint)")
        if archive.getinfo(record_name).file_size < expected_bytes:
            raise PthError(f"storage record {record_name!r} is truncated")
        record = _read_member(archive, record_name, expected_bytes)  # within the budget, taken first
        if len(record) < expected_bytes:
            raise PthError(f"storage record {record_name!r} is truncated")
        return record

    storages: dict[str, _Storage] = {}
    pickle_bytes = _read_member(archive, pickles[0], min(_MAX_PICKLE_BYTES, budget.limit))
    root = _RestrictedUnpickler(io.BytesIO(pickle_bytes), storages, read_record, budget).load()
    if big_endian:
        _byteswap_storages(storages)
    return root


def _load_legacy(stream: BinaryIO, file_size: int) -> Any:
    budget = _Budget(file_size, "storage data")

    def next_pickle() -> Any:
        return _RestrictedUnpickler(stream, {}).load()

    if next_pickle() != _LEGACY_MAGIC_NUMBER:
        raise PthError("not a PyTorch checkpoint (no magic number)")
    protocol_version = next_pickle()
    if protocol_version != _LEGACY_PROTOCOL_VERSION:
        raise PthError(f"unsupported legacy checkpoint protocol version {protocol_version!r}")
    sys_info = next_pickle()
    little_endian = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)

    storages: dict[str, _Storage] = {}
    root = _RestrictedUnpickler(stream, storages).load()
    storage_keys = _RestrictedUnpickler(stream, {}).load()
    if not isinstance(storage_keys, list):
        raise PthError("the legacy checkpoint's storage list is malformed (corrupt)")
    for key in storage_keys:
        storage = storages.get(str(key))
        if storage is None:
            raise PthError(f"the legacy checkpoint lists an unknown storage {key!r} (corrupt)")
        header = stream.read(8)
        if len(header) != 8:
            raise PthError("the checkpoint is truncated (storage data missing)")
        numel = int.from_bytes(header, "little" if little_endian else "big")
        nbytes = numel * storage.dtype.itemsize
        budget.take(nbytes)
        storage.data = stream.read(nbytes)
        if len(storage.data) != nbytes:
            raise PthError("the checkpoint is truncated (storage data cut short)")
    if not little_endian:
        _byteswap_storages(storages)
    return root


def _byteswap_storages(storages: dict[str, _Storage]) -> None:
    for storage in storages.values():
        if storage.data is not None and storage.dtype.numpy_dtype is not None:
            raw = storage.elements(storage.dtype)
            storage.data = raw.byteswap().tobytes()


# --- turning the unpickled object into a flat dict of arrays ----------------------------------


def _holds_tensors(obj: Any) -> bool:
    return isinstance(obj, dict) and any(isinstance(v, _PendingTensor) for v in obj.values())


def _find_state_dict(root: Any) -> dict:
    """The dict of tensors in a checkpoint, unwrapping ``{"state_dict": ...}`` and the like."""
    if _holds_tensors(root):
        return root
    if isinstance(root, dict):
        for wrapper_key in ("state_dict", "model", "model_state_dict", "net"):
            if _holds_tensors(root.get(wrapper_key)):
                return root[wrapper_key]
    raise PthError("the checkpoint holds no state dict (no dict of tensors found)")


def _strip_data_parallel_prefix(state_dict: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # nn.DataParallel saves every key as "module.<name>".
    if state_dict and all(key.startswith("module.") for key in state_dict):
        return {key[len("module.") :]: value for key, value in state_dict.items()}
    return state_dict


def load_pth(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load the state dict of a PyTorch checkpoint as NumPy arrays, running no code from the file.

    Float tensors come back as float32 (float16, bfloat16 and float64 are converted); integer and
    bool tensors keep their dtype. Non-tensor entries of the state dict are dropped.

    Raises:
        PthError: the file is not a checkpoint, is truncated or corrupt, names a global that is not
            a tensor type, or holds a dtype NumPy cannot represent.
    """
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise PthError(f"cannot read {os.fspath(path)!r}: {error}") from error
    if not data:
        raise PthError(f"{os.fspath(path)!r} is empty, not a PyTorch checkpoint")
    try:
        if data.startswith(_ZIP_SIGNATURE):
            root = _load_zip(data)
        elif data[0] == _PICKLE_PROTO_OPCODE:
            root = _load_legacy(io.BytesIO(data), len(data))
        else:
            raise PthError("not a PyTorch checkpoint (neither a zip nor a pickle)")
        state_dict = _find_state_dict(root)
        tensors = [v for v in state_dict.values() if isinstance(v, _PendingTensor)]
        output = _Budget(len(data), "tensor data")  # all tensors together, before any is expanded
        for tensor in tensors:
            if all(n >= 0 for n in tensor.size):
                output.take(math.prod(tensor.size) * max(tensor.dtype.itemsize, 4))
        arrays = {
            str(key): value.materialize()
            for key, value in state_dict.items()
            if isinstance(value, _PendingTensor)
        }
    except PthError as error:
        raise PthError(f"{os.fspath(path)!r}: {error}") from error
    except Exception as error:  # whatever a garbled pickle makes fail means a corrupt file
        raise PthError(
            f"{os.fspath(path)!r} is truncated or corrupt ({type(error).__name__}: {error})"
        ) from error
    return _strip_data_parallel_prefix(arrays)
