"""Read the tensors of a PyTorch checkpoint (zip format) into NumPy arrays without importing torch.

Lightning checkpoints also pickle classes of their training framework (pyannote's `Specifications`, omegaconf
containers); those come back as inert `Opaque` objects, so only plain data and tensors are recovered."""
from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class Opaque:
    """Stand-in for a pickled class that is not needed (its state is kept, never executed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state


@dataclass
class _Storage:
    key: str
    dtype: type
    data: np.ndarray | None = None


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    size: tuple
    stride: tuple

    def array(self) -> np.ndarray:
        base = self.storage.data
        itemsize = base.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset :], shape=tuple(self.size), strides=tuple(s * itemsize for s in self.stride)
        )
        return np.array(view)


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any) -> _Tensor:
    return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data: _Tensor, *_: Any) -> _Tensor:
    return data


class _Unpickler(pickle.Unpickler):
    """Maps torch's tensor and storage classes to placeholders; the storage bytes are read afterwards."""

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "builtins" and name in {"set", "frozenset", "slice", "tuple", "list", "dict"}:
            return super().find_class(module, name)
        return type(name, (Opaque,), {"__module__": module})

    def persistent_load(self, pid: tuple) -> _Storage:
        dtype, key = pid[1], str(pid[2])
        return self.storages.setdefault(key, _Storage(key, dtype))


def _resolve(obj: Any) -> Any:
    if isinstance(obj, _Tensor):
        return obj.array()
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return type(obj)(_resolve(v) for v in obj)
    return obj


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        pkl = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        prefix = pkl[: -len("data.pkl")]
        with archive.open(pkl) as handle:
            unpickler = _Unpickler(handle)
            obj = unpickler.load()
        for storage in unpickler.storages.values():
            storage.data = np.frombuffer(archive.read(f"{prefix}data/{storage.key}"), storage.dtype)
    return obj


def _load_legacy(path: Path) -> Any:
    """The pre-1.6 format: magic, protocol, sys info and object pickles, then each storage as count + bytes."""
    with open(path, "rb") as handle:
        for _ in range(3):
            pickle.load(handle)
        unpickler = _Unpickler(handle)
        obj = unpickler.load()
        for key in pickle.load(handle):
            storage = unpickler.storages[str(key)]
            count = int(np.frombuffer(handle.read(8), "<i8")[0])
            storage.data = np.frombuffer(handle.read(count * np.dtype(storage.dtype).itemsize), storage.dtype)
    return obj


def load_checkpoint(path: str | Path) -> Any:
    """Unpickle a `torch.save` file (zip or legacy format); tensors become NumPy arrays."""
    path = Path(path)
    return _resolve(_load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path))
