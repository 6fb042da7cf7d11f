"""The image data sets of the paper (Appendix J.1): MNIST, Fashion-MNIST (IDX files), CIFAR-10 (pickle batches).

Pixels are float32 in [0, 1] with shape (N, C, H, W); labels are int64. The 60,000 MNIST /
Fashion-MNIST training images are split (seeded) into 50,000 train and 10,000 validation images,
the 50,000 CIFAR-10 training images into 45,000 and 5,000; the 10,000 test images stay apart.
"""

from __future__ import annotations

import functools
import gzip
import os
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advex.data.paths import locate
from advex.data.registry import get_spec
from advex.errors import AdvexError, DataFormatError

# IDX type codes (http://yann.lecun.com/exdb/mnist/): all multi-byte values are big-endian.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
VALIDATION_FRACTION = {"mnist": 1 / 6, "fashion-mnist": 1 / 6, "cifar10": 0.1}
SPLITS = ("train", "val", "test")


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
    """``raw`` gunzipped when it starts with the gzip magic, else unchanged; DataFormatError on a broken archive."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataFormatError(
            f"{path}: corrupt or truncated gzip archive ({err}); download it again with `advex data fetch`"
        ) from None


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Decode uncompressed IDX bytes: magic 0x0000, dtype code, ndim, big-endian uint32 dims, then the data.

    The header must match the data size exactly; ``path`` only names the file in errors.
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
    dims = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
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
        stat = path.stat()
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read the file ({err.strerror})") from None
    return _read_idx_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path_str: str, _mtime_ns: int, _size: int) -> np.ndarray:
    path = Path(path_str)
    array = parse_idx(decompress_if_gzip(path.read_bytes(), path), path)
    array.flags.writeable = False
    return array


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle referenced a global outside the allow-list."""


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild only plain containers and numpy arrays, so a pickle cannot run code."""

    ALLOWED = {
        ("builtins", "dict"), ("builtins", "list"), ("builtins", "str"), ("builtins", "bytes"), ("builtins", "int"),
        ("__builtin__", "dict"), ("__builtin__", "list"), ("__builtin__", "str"), ("__builtin__", "bytes"),
        ("__builtin__", "int"),
        # Python 3 writes bytes at protocol < 3 as _codecs.encode(text, "latin1").
        ("_codecs", "encode"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        canonical = module.replace("numpy._core.", "numpy.core.", 1)
        if (canonical, name) not in self.ALLOWED:
            raise _RefusedGlobal(f"{module}.{name}")
        if canonical.startswith("numpy.core."):
            # numpy 2 moved numpy.core to numpy._core (the old name only warns); numpy 1 has just numpy.core.
            module = canonical.replace("numpy.core.", "numpy._core." if hasattr(np, "_core") else "numpy.core.", 1)
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            obj = _CifarUnpickler(handle, encoding="bytes").load()
    except _RefusedGlobal as err:
        raise DataFormatError(
            f"{path}: refusing to load this pickle: it references {err}, but a CIFAR-10 batch holds only "
            "plain data and numpy arrays; replace it with the original `cifar-10-batches-py` file "
            "(`advex data fetch cifar10`)"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, MemoryError) as err:
        raise DataFormatError(
            f"{path}: corrupt or truncated pickle ({type(err).__name__}: {err}); "
            "download it again with `advex data fetch cifar10`"
        ) from None
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    return {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in obj.items()}


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
