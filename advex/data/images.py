"""The image data sets of the paper (Appendix J.1): MNIST, Fashion-MNIST (IDX files), CIFAR-10 (pickle batches).

Pixels are float32 in [0, 1] with shape (N, C, H, W); labels are int64. The 60,000 MNIST /
Fashion-MNIST training images are split (seeded) into 50,000 train and 10,000 validation images,
the 50,000 CIFAR-10 training images into 45,000 and 5,000; the 10,000 test images stay apart.
"""

from __future__ import annotations

import functools
import gzip
import io
import math
import os
import pickle
import pickletools
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advex.data.paths import locate, open_regular_file
from advex.data.registry import get_spec
from advex.errors import AdvexError, DataFormatError

# IDX type codes (http://yann.lecun.com/exdb/mnist/): all multi-byte values are big-endian.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
VALIDATION_FRACTION = {"mnist": 1 / 6, "fashion-mnist": 1 / 6, "cifar10": 0.1}
SPLITS = ("train", "val", "test")
MAX_IDX_BYTES = 256 * 2**20  # uncompressed; the largest IDX file of the paper's data (MNIST training images) is 47 MB
MAX_PICKLE_BYTES = 48 * 2**20  # a CIFAR-10 batch file is 31 MB


@dataclass
class ImageDataset:
    """Train / validation / test images, float32 (N, C, H, W) in [0, 1], labels int64 in 0..9."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    credit: str


def decompress_if_gzip(raw: bytes, path: Path) -> bytes:
    """``raw`` gunzipped when it starts with the gzip magic, else unchanged; DataFormatError on a broken archive.

    Decompression stops after ``MAX_IDX_BYTES``: a gzip bomb is refused instead of filling memory.
    """
    if raw[:2] != b"\x1f\x8b":
        return raw
    parts, total = [], 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as archive:
            while total <= MAX_IDX_BYTES and (part := archive.read(1 << 20)):
                parts.append(part)
                total += len(part)
    except (OSError, EOFError, zlib.error) as err:
        raise DataFormatError(
            f"{path}: corrupt or truncated gzip archive ({err}); download it again with `advex data fetch`"
        ) from None
    if total > MAX_IDX_BYTES:
        raise DataFormatError(
            f"{path}: decompresses to more than {MAX_IDX_BYTES // 2**20} MiB, far more than an IDX file of the paper's data "
            "sets holds; replace it with the original file (`advex data fetch`)"
        )
    return b"".join(parts)


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """The uncompressed content of the IDX file ``path`` (gzip or raw); files over ``MAX_IDX_BYTES`` are refused unread."""
    path = Path(path)
    try:
        with open_regular_file(path) as handle:
            if os.fstat(handle.fileno()).st_size > MAX_IDX_BYTES:
                raise DataFormatError(
                    f"{path}: larger than {MAX_IDX_BYTES // 2**20} MiB, far more than an IDX file of the paper's data "
                    "sets (under 50 MB); replace it with the original file (`advex data fetch`)"
                )
            raw = handle.read()
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read the file ({err.strerror})") from None
    return decompress_if_gzip(raw, path)


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Decode uncompressed IDX bytes: magic 0x0000, dtype code, ndim, big-endian uint32 dims, then the data.

    The header must match the data size exactly (checked in exact integers before anything is
    allocated, so a header claiming 10^9 images in a small file is refused); ``path`` only names the file in errors.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise DataFormatError(
            f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'}); "
            "replace it with the original file (`advex data fetch`)"
        )
    dtype = np.dtype(IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        raise DataFormatError(
            f"{path}: IDX header says shape {dims} ({expected} bytes) but the file has {len(data)} bytes; "
            "the file is truncated or corrupt, download it again with `advex data fetch`"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw (see :func:`parse_idx`); the array is read-only.

    Arrays are memoised per (file, modification time, size), so reloading is cheap.
    """
    path = Path(path)
    try:
        info = path.stat()
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read the file ({err.strerror})") from None
    return _read_idx_cached(str(path.resolve()), info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path_str: str, _mtime_ns: int, _size: int) -> np.ndarray:
    path = Path(path_str)
    array = parse_idx(read_idx_bytes(path), path)
    array.flags.writeable = False
    return array


# ---------------------------------------------------------------- CIFAR-10 pickles, without numpy's unpickling code
#
# A CIFAR-10 batch is a pickled dict of bytes, lists of ints and numpy arrays. The unpickler below
# resolves only the globals such pickles use, and none of them reaches code that could run
# something or allocate more than the file holds: numpy arrays and dtypes are rebuilt here from
# validated pieces (a plain numeric dtype, a shape, and exactly the bytes that shape needs) with
# np.frombuffer, never by numpy's own __setstate__ (which accepts object fields and flags from the file).


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle referenced a global, or passed arguments, outside what a CIFAR-10 batch uses."""


class _PickledDtype:
    """A numpy dtype as pickled (``numpy.dtype(spec, align, copy)``, then its byte order as state)."""

    def __init__(self, spec: object, _align: object = False, _copy: object = True) -> None:
        spec = _text(spec)  # Python 2 pickles (the real files) give str as bytes
        if spec is None or not re.fullmatch(r"[uifb][1248]", spec):
            raise _RefusedGlobal(f"numpy.dtype({_shorten(spec)}) (only plain numeric dtypes are accepted)")
        self.spec, self.byteorder = spec, "|"

    def __setstate__(self, state: object) -> None:
        if (not isinstance(state, tuple) or len(state) < 5 or _text(state[1]) not in ("<", ">", "|", "=")
                or state[2:5] != (None,) * 3):
            raise _RefusedGlobal(f"numpy.dtype state {_shorten(state)} (only plain numeric dtypes are accepted)")
        self.byteorder = _text(state[1])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.byteorder + self.spec)


def _text(value: object) -> str | None:
    """``value`` as str if it is a str, or bytes (a Python 2 str read with encoding="bytes"); else None."""
    if isinstance(value, bytes):
        return value.decode("latin1")
    return value if isinstance(value, str) else None


def _shorten(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _NdarrayName:
    """Stands for numpy.ndarray, which a pickle may name only as _reconstruct's first argument, never call."""

    def __call__(self, *args: object) -> None:
        raise _RefusedGlobal("numpy.ndarray(...) called directly (only plain arrays are accepted)")


_NDARRAY = _NdarrayName()


class _PickledArray:
    """A numpy array as pickled: ``_reconstruct(ndarray, (0,), b"b")``, then (version, shape, dtype, fortran, bytes)."""

    array: np.ndarray | None = None

    def __init__(self, cls: object, shape: object, _typecode: object) -> None:
        if cls is not _NDARRAY or shape != (0,):
            raise _RefusedGlobal(f"numpy _reconstruct({_shorten(cls)}, {_shorten(shape)}) (only plain arrays are accepted)")

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _RefusedGlobal("an array state that is not (version, shape, dtype, fortran, data)")
        shape, dtype, fortran, data = state[-4:]
        self.array = _array_from_bytes(data, dtype, shape, "F" if fortran else "C")


def _array_from_bytes(data: object, dtype: object, shape: object, order: object) -> np.ndarray:
    """A writable array of ``shape`` from exactly the bytes it needs (anything else is refused)."""
    if not isinstance(dtype, _PickledDtype) or not isinstance(data, (bytes, bytearray)) or order not in ("C", "F"):
        raise _RefusedGlobal("an array that is not plain bytes of a numeric dtype")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise _RefusedGlobal(f"an array shape {_shorten(shape)}")
    if math.prod(shape) * int(dtype.spec[1]) != len(data):
        raise _RefusedGlobal(f"an array of shape {shape} with {len(data)} bytes of data")
    return np.frombuffer(data, dtype=dtype.dtype).reshape(shape, order=order).copy()


def _bytes(*args: object) -> bytes:
    """``bytes()`` or ``bytes(b)``, as Python 3 pickles empty bytes; ``bytes(10**9)`` would allocate: refused."""
    if len(args) > 1 or (args and not isinstance(args[0], (bytes, bytearray))):
        raise _RefusedGlobal("bytes() with arguments other than bytes")
    return bytes(*args)


def _latin1_encode(text: object, encoding: object = "latin1") -> bytes:
    """``_codecs.encode(text, "latin1")``, as Python 3 pickles bytes at protocol < 3; other codecs are refused."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _RefusedGlobal(f"_codecs.encode with codec {_shorten(encoding)}")
    return text.encode("latin1")


def _frombuffer(data: object, dtype: object, shape: object, order: object) -> np.ndarray:
    """``numpy.core.numeric._frombuffer``, as protocol 5 pickles arrays."""
    return _array_from_bytes(bytes(data) if isinstance(data, (pickle.PickleBuffer, memoryview)) else data,
                             dtype, shape, order)


CIFAR_PICKLE_GLOBALS = {
    ("builtins", "bytes"): _bytes, ("__builtin__", "bytes"): _bytes,
    ("_codecs", "encode"): _latin1_encode,
    ("numpy", "dtype"): _PickledDtype, ("numpy", "ndarray"): _NDARRAY,
    ("numpy.core.multiarray", "_reconstruct"): _PickledArray,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
}
PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
                 LookupError, OverflowError, MemoryError, RecursionError, struct.error)


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that resolves only ``CIFAR_PICKLE_GLOBALS``, so a pickle can neither run code nor build numpy objects."""

    def find_class(self, module: str, name: str):
        canonical = module.replace("numpy._core.", "numpy.core.", 1)  # numpy 2 writes numpy._core
        if (canonical, name) not in CIFAR_PICKLE_GLOBALS:
            raise _RefusedGlobal(f"{module}.{name}")
        return CIFAR_PICKLE_GLOBALS[canonical, name]


def _check_memo_indices(raw: bytes) -> None:
    """Refuse memo indices beyond the opcodes read so far (a pickler numbers them 0, 1, 2, ...).

    CPython's unpickler sizes its memo table by the largest index, so a 5-byte ``LONG_BINPUT``
    could make it allocate gigabytes; ``pickletools.genops`` walks the opcodes without building anything.
    """
    for count, (opcode, argument, _) in enumerate(pickletools.genops(io.BytesIO(raw))):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and int(argument) > count:
            raise pickle.UnpicklingError(f"memo index {argument} after {count} opcodes")


def _load_pickle(path: Path) -> dict:
    try:
        with open_regular_file(path) as handle:
            if os.fstat(handle.fileno()).st_size > MAX_PICKLE_BYTES:
                raise DataFormatError(
                    f"{path}: larger than {MAX_PICKLE_BYTES // 2**20} MiB, far more than a CIFAR-10 batch (31 MB); "
                    "replace it with the original `cifar-10-batches-py` file (`advex data fetch cifar10`)"
                )
            raw = handle.read()
        _check_memo_indices(raw)
        obj = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _RefusedGlobal as err:
        raise DataFormatError(
            f"{path}: refusing to load this pickle: it references {err}, but a CIFAR-10 batch holds only "
            "plain data and numpy arrays; replace it with the original `cifar-10-batches-py` file "
            "(`advex data fetch cifar10`)"
        ) from None
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read the file ({err.strerror})") from None
    except PICKLE_ERRORS as err:
        raise DataFormatError(
            f"{path}: corrupt or truncated pickle ({type(err).__name__}: {err}); "
            "download it again with `advex data fetch cifar10`"
        ) from None
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    batch = {}
    for key, value in obj.items():
        if isinstance(value, _PickledArray):
            if value.array is None:
                raise DataFormatError(f"{path}: an array in the pickle has no data; the file is corrupt")
            value = value.array
        batch[key.decode("latin1") if isinstance(key, bytes) else key] = value
    return batch


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: images uint8 (n, 3, 32, 32) and labels int64 (n,)."""
    batch = _load_pickle(path)
    if "data" not in batch or "labels" not in batch:
        raise DataFormatError(f"{path}: a CIFAR-10 batch needs the keys b'data' and b'labels', found {list(batch)}")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataFormatError(f"{path}: b'data' must be a uint8 array of shape (n, 3072), found {shape}")
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError):
        raise DataFormatError(f"{path}: b'labels' must be a list of integers") from None
    if labels.shape != (data.shape[0],) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise DataFormatError(f"{path}: b'labels' must hold {data.shape[0]} integers in 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar_batches(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a ``cifar-10-batches-py`` folder: (X_train uint8 (50000,3,32,32), y_train, X_test, y_test).

    Uses a restricted unpickler: pickles referencing anything but containers and numpy arrays are refused.
    """
    folder = Path(folder)
    X_train, y_train = _read_cifar_train(folder)
    X_test, y_test = read_cifar_batch(folder / "test_batch")
    return X_train, y_train, X_test, y_test


def _read_cifar_train(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    batches = [read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def cifar_class_names(folder: str | os.PathLike) -> list[str]:
    """Class names from ``batches.meta`` (b'label_names')."""
    path = Path(folder) / "batches.meta"
    names = _load_pickle(path).get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise DataFormatError(f"{path}: b'label_names' must be a list of 10 names")
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]


def _idx_pair(files: dict[str, Path], part: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(files[f"{part}_images"]), read_idx(files[f"{part}_labels"])
    if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataFormatError(
            f"{files[f'{part}_images']}: {name} {part} images {images.shape} {images.dtype} do not match "
            f"labels {labels.shape} in {files[f'{part}_labels']}"
        )
    if labels.size and labels.max() > 9:
        raise DataFormatError(f"{files[f'{part}_labels']}: labels must be in 0..9, found {int(labels.max())}")
    return images[:, None, :, :], labels


def _to_float(images: np.ndarray) -> np.ndarray:
    out = images.astype(np.float32)
    np.divide(out, np.float32(255), out=out)
    return out


def load_image_dataset(
    name: str, data_dir: str | os.PathLike | None = None, seed: int = 0, split: str | None = None,
) -> ImageDataset:
    """Load "mnist", "fashion-mnist" or "cifar10" as float32 (N, C, H, W) in [0, 1].

    The original training images are split by a permutation seeded with ``seed`` into train and
    validation (MNIST-like 50,000/10,000, CIFAR-10 45,000/5,000). ``split`` ("train", "val" or "test")
    fills only that part (the others are empty arrays), e.g. "test" skips decoding the training images.
    """
    spec = get_spec(name)
    if spec.kind != "image":
        raise AdvexError(f"{name!r} is not an image data set; choose one of: mnist, fashion-mnist, cifar10")
    if split is not None and split not in SPLITS:
        raise AdvexError(f"split must be one of {', '.join(SPLITS)} or None, got {split!r}")
    files = locate(name, data_dir)
    if name == "cifar10":
        folder = files["meta"].parent
        class_names = cifar_class_names(folder)
        test_part = read_cifar_batch(files["test_batch"]) if split in (None, "test") else None
        train_part = _read_cifar_train(folder) if split != "test" else None
    else:
        class_names = list(spec.class_names)
        test_part = _idx_pair(files, "test", name) if split in (None, "test") else None
        train_part = _idx_pair(files, "train", name) if split != "test" else None

    channels, height, width = (3, 32, 32) if name == "cifar10" else (1, 28, 28)
    empty_x = np.zeros((0, channels, height, width), dtype=np.float32)
    empty_y = np.zeros(0, dtype=np.int64)
    parts = {key: (empty_x, empty_y) for key in SPLITS}
    if test_part is not None:
        parts["test"] = (_to_float(test_part[0]), test_part[1].astype(np.int64))
    if train_part is not None:
        images, labels = train_part
        order = np.random.default_rng(seed).permutation(labels.size)
        n_val = int(round(labels.size * VALIDATION_FRACTION[name]))
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        if split in (None, "train"):
            parts["train"] = (_to_float(images[train_idx]), labels[train_idx].astype(np.int64))
        if split in (None, "val"):
            parts["val"] = (_to_float(images[val_idx]), labels[val_idx].astype(np.int64))
    return ImageDataset(
        name=name,
        X_train=parts["train"][0], y_train=parts["train"][1],
        X_val=parts["val"][0], y_val=parts["val"][1],
        X_test=parts["test"][0], y_test=parts["test"][1],
        class_names=class_names,
        credit=spec.credit,
    )
