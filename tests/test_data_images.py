"""Image loaders (App. J.1): IDX reader, safe CIFAR-10 pickle reader, seeded train/validation split."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import cifar_batch, idx_bytes, require_dataset, write_fake_cifar, write_idx

from advex.data.images import load_image_dataset, read_cifar_batches, read_idx
from advex.errors import AdvexError, DataFormatError, DataMissingError

# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, ">i2", ">f4"])
def test_idx_round_trip(tmp_path, compress, dtype):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(5, 4, 3)) * 100).astype(dtype)
    path = write_idx(tmp_path / "a-idx3-ubyte", array, compress)
    read = read_idx(path)
    np.testing.assert_array_equal(read, array)
    assert read.dtype.isnative and read.dtype.kind == np.dtype(dtype).kind


def test_idx_reread_after_file_changes(tmp_path):
    path = write_idx(tmp_path / "labels", np.arange(5, dtype=np.uint8), compress=False)
    assert read_idx(path).tolist() == [0, 1, 2, 3, 4]
    write_idx(tmp_path / "labels", np.arange(7, dtype=np.uint8)[::-1].copy(), compress=False)
    assert read_idx(path).tolist() == [6, 5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize("compress", [False, True])
def test_idx_truncated_is_rejected(tmp_path, compress):
    data = idx_bytes(np.zeros((3, 2, 2), dtype=np.uint8))[:-1]
    path = tmp_path / ("t.gz" if compress else "t")
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(DataFormatError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content, message",
    [(b"\x00\x00\x07\x01\x00\x00\x00\x01x", "not an IDX file"), (b"", "not an IDX file"),
     (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abcde")[:-6], "gzip")],
    ids=["bad-type-code", "empty", "truncated-gzip"],
)
def test_idx_corrupt_is_rejected(tmp_path, content, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def _fake_mnist(root: Path, compress: bool, n_train: int = 60, n_test: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    train_images = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    train_images[0] = 255
    train_labels = (np.arange(n_train) % 10).astype(np.uint8)
    folder = root / "mnist"
    write_idx(folder / "train-images-idx3-ubyte", train_images, compress)
    write_idx(folder / "train-labels-idx1-ubyte", train_labels, compress)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), compress)
    write_idx(folder / "t10k-labels-idx1-ubyte", (np.arange(n_test) % 10).astype(np.uint8), compress)
    return train_images, train_labels


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_like_split_and_scaling(tmp_path, compress):
    images, labels = _fake_mnist(tmp_path, compress)
    data = load_image_dataset("mnist", tmp_path, seed=5)
    assert data.X_train.shape == (50, 1, 28, 28) and data.X_val.shape == (10, 1, 28, 28)
    assert data.X_test.shape == (12, 1, 28, 28)
    assert data.X_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.class_names == [str(d) for d in range(10)]
    # train + validation are exactly the 60 original images, scaled by 1/255
    together = np.concatenate([data.X_train, data.X_val])[:, 0]
    original = images.astype(np.float64) / 255
    key = lambda a: np.lexsort(a.reshape(len(a), -1).T)  # noqa: E731
    np.testing.assert_allclose(together[key(together)], original[key(original)], atol=1e-7)
    np.testing.assert_array_equal(np.sort(np.concatenate([data.y_train, data.y_val])), np.sort(labels))
    assert data.X_train.max() <= 1.0 and data.X_train.min() >= 0.0
    again, other = load_image_dataset("mnist", tmp_path, seed=5), load_image_dataset("mnist", tmp_path, seed=6)
    np.testing.assert_array_equal(data.X_val, again.X_val)
    assert not np.array_equal(data.X_val, other.X_val)
    test_only = load_image_dataset("mnist", tmp_path, split="test")
    assert test_only.X_train.shape == (0, 1, 28, 28) and test_only.X_val.shape[0] == 0
    np.testing.assert_array_equal(test_only.X_test, data.X_test)
    with pytest.raises(AdvexError, match="split"):
        load_image_dataset("mnist", tmp_path, split="validation")


def test_mismatched_images_and_labels(tmp_path):
    _fake_mnist(tmp_path, compress=False)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte", np.zeros(11, dtype=np.uint8), compress=False)
    with pytest.raises(DataFormatError, match="do not match"):
        load_image_dataset("mnist", tmp_path, split="test")


def test_missing_image_data_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataMissingError) as info:
        load_image_dataset("fashion-mnist", tmp_path / "explicit")
    message = str(info.value)
    assert "advex data fetch fashion-mnist" in message and "t10k-images-idx3-ubyte" in message
    assert str(tmp_path / "env" / "fashion-mnist") in message and "ADVEX_DATA_DIR" in message


# ---------------------------------------------------------------- real MNIST / Fashion-MNIST


def test_real_mnist_shapes_and_range(data_dir):
    require_dataset(data_dir, "mnist/t10k-images-idx3-ubyte.gz")
    data = load_image_dataset("mnist", data_dir)
    assert data.X_train.shape == (50000, 1, 28, 28)
    assert data.X_val.shape == (10000, 1, 28, 28)
    assert data.X_test.shape == (10000, 1, 28, 28)
    for X in (data.X_train, data.X_val, data.X_test):
        assert X.dtype == np.float32 and X.min() == 0.0 and X.max() == 1.0
    raw = read_idx(data_dir / "mnist" / "train-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(np.bincount(data.y_train) + np.bincount(data.y_val), np.bincount(raw))
    assert set(np.unique(data.y_test)) == set(range(10))
    assert "LeCun" in data.credit


def test_real_fashion_test_split(data_dir):
    require_dataset(data_dir, "fashion-mnist/t10k-images-idx3-ubyte.gz")
    data = load_image_dataset("fashion-mnist", data_dir, split="test")
    assert data.X_test.shape == (10000, 1, 28, 28) and data.y_test.shape == (10000,)
    assert data.class_names[9] == "Ankle boot" and data.X_train.shape[0] == 0


# ---------------------------------------------------------------- CIFAR-10 (files in the real pickle format)


def test_read_cifar_batches(tmp_path):
    folder = write_fake_cifar(tmp_path)
    X_train, y_train, X_test, y_test = read_cifar_batches(folder)
    assert X_train.shape == (15, 3, 32, 32) and X_train.dtype == np.uint8
    assert X_test.shape == (4, 3, 32, 32) and y_test.tolist() == [0, 1, 2, 3]
    assert y_train.tolist()[:3] == [1, 2, 3] and y_train.tolist()[-3:] == [5, 6, 7]
    assert (X_train[:, 1] == 20).all() and (X_train[:, 2] == 30).all()
    assert X_train[:3, 0, 0, 0].tolist() == [0, 1, 2] and (X_train[:, 0, 0, 1:] == 10).all()


def test_load_cifar10(tmp_path):
    write_fake_cifar(tmp_path)
    data = load_image_dataset("cifar10", tmp_path, seed=0)
    assert data.X_train.shape == (13, 3, 32, 32) and data.X_val.shape == (2, 3, 32, 32)
    assert data.X_test.shape == (4, 3, 32, 32)
    np.testing.assert_allclose(data.X_test[:, 1], 20 / 255, rtol=1e-6)
    assert data.class_names[0] == "airplane" and data.class_names[-1] == "truck"


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_cifar_pickle_is_refused_not_executed(tmp_path):
    folder = write_fake_cifar(tmp_path)
    marker = tmp_path / "pwned"
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": _Exploit(marker), b"labels": []}, protocol=2))
    with pytest.raises(DataFormatError, match="refusing") as info:
        read_cifar_batches(folder)
    assert "data_batch_2" in str(info.value) and not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [(pickle.dumps(cifar_batch(3, 0), protocol=2)[:-40], "corrupt or truncated"),
     (pickle.dumps([1, 2, 3], protocol=2), "expected a pickled dict"),
     (pickle.dumps({b"labels": [1]}, protocol=2), "b'data'"),
     (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 12]}, protocol=2), "0..9")],
    ids=["truncated", "not-a-dict", "no-data-key", "bad-label"],
)
def test_corrupt_cifar_batch_is_rejected(tmp_path, content, message):
    folder = write_fake_cifar(tmp_path)
    (folder / "test_batch").write_bytes(content)
    with pytest.raises(DataFormatError, match=message) as info:
        read_cifar_batches(folder)
    assert "test_batch" in str(info.value)


def python2_cifar_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickled the way the real files were (Python 2 cPickle, protocol 2, numpy.core paths, str = bytes).

    Built opcode by opcode so that the test exercises the exact byte stream the real download contains.
    """
    def short_string(text: bytes) -> bytes:
        return b"U" + bytes([len(text)]) + text

    def int4(value: int) -> bytes:
        return b"J" + struct.pack("<i", value)

    dtype = (b"cnumpy\ndtype\n" + short_string(b"u1") + b"K\x00K\x01\x87R"
             + b"(K\x03" + short_string(b"|") + b"NNN" + int4(-1) + int4(-1) + b"K\x00tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + short_string(b"b") + b"\x87R"
             + b"(K\x01" + int4(data.shape[0]) + int4(data.shape[1]) + b"\x86" + dtype + b"\x89"
             + b"T" + struct.pack("<I", data.nbytes) + data.tobytes() + b"tb")
    label_list = b"](" + b"".join(b"K" + bytes([label]) for label in labels) + b"e"
    return (b"\x80\x02}(" + short_string(b"data") + array + short_string(b"labels") + label_list + b"u.")


def test_reads_python2_protocol2_batches(tmp_path):
    folder = write_fake_cifar(tmp_path)
    data = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072).astype(np.uint8)
    (folder / "data_batch_3").write_bytes(python2_cifar_pickle(data, [4, 9]))
    X_train, y_train, _, _ = read_cifar_batches(folder)
    np.testing.assert_array_equal(X_train[6:8], data.reshape(2, 3, 32, 32))
    assert y_train[6:8].tolist() == [4, 9] and X_train.shape[0] == 14


# ---------------------------------------------------------------- hostile IDX files: refused from their size, before allocating


def test_idx_header_claiming_a_billion_images_is_refused_without_allocating(tmp_path):
    import tracemalloc

    path = tmp_path / "claims-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 10**9, 28, 28) + bytes(784))
    tracemalloc.start()
    with pytest.raises(DataFormatError, match=r"\(1000000000, 28, 28\)"):
        read_idx(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**20


def test_idx_dimensions_whose_product_overflows_int64_are_refused(tmp_path):
    """255 dimensions of 2^32 - 1: the exact product (not a wrapped int64) is compared with the file size."""
    path = tmp_path / "overflow"
    path.write_bytes(bytes([0, 0, 0x08, 255]) + struct.pack(">255I", *([2**32 - 1] * 255)))
    with pytest.raises(DataFormatError, match="IDX header says shape"):
        read_idx(path)


def test_gzip_bomb_is_refused_after_the_limit(tmp_path, monkeypatch):
    from advex.data import images

    monkeypatch.setattr(images, "MAX_IDX_BYTES", 2**20)
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(8 * 2**20, dtype=np.uint8))))
    with pytest.raises(DataFormatError, match="decompresses to more than 1 MiB"):
        read_idx(path)


def test_oversized_or_special_idx_files_are_refused_unread(tmp_path, monkeypatch):
    from advex.data import images

    monkeypatch.setattr(images, "MAX_IDX_BYTES", 1000)
    path = write_idx(tmp_path / "big-idx1-ubyte", np.zeros(2000, dtype=np.uint8), compress=False)
    with pytest.raises(DataFormatError, match="larger than 0 MiB"):
        read_idx(path)
    os.mkfifo(tmp_path / "pipe-idx1-ubyte")
    with pytest.raises(DataFormatError, match="not a regular file"):
        images.read_idx_bytes(tmp_path / "pipe-idx1-ubyte")


# ---------------------------------------------------------------- hostile CIFAR-10 pickles: refused, never run, memory bounded


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\x80\x02c__builtin__\nbytes\nJ\x00\xca\x9a;\x85R.", "bytes"),  # bytes(10**9): would allocate 1 GB
        (b"\x80\x02cnumpy\nndarray\nJ\x00\xca\x9a;\x85U\x01O\x86R.", "ndarray"),  # ndarray((10**9,), "O")
        (b"\x80\x02cnumpy\ndtype\nU\x02O8\x85R.", "numpy.dtype"),  # an object dtype
        (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\xca\x9a;\x85U\x01b\x87R.", "_reconstruct"),
        (b"\x80\x02c_codecs\nencode\nU\x01xU\x0azlib_codec\x86R.", "codec"),
        (b"\x80\x02cbuiltins\neval\nU\x04None\x85R.", "builtins.eval"),
        (b"\x80\x02cposix\nsystem\nU\x04true\x85R.", "posix.system"),
        (b"\x80\x02cnumpy\ndtype\nU\x02V8K\x00K\x01\x87R(K\x03U\x01|NNNJ\x08\x00\x00\x00K\x01K\x19tb.", "numpy.dtype"),
    ],
    ids=["bytes-int", "ndarray-call", "object-dtype", "huge-reconstruct", "zlib-codec", "eval", "system", "void-flags"],
)
def test_hostile_pickles_are_refused_before_anything_runs(tmp_path, payload, message):
    folder = write_fake_cifar(tmp_path)
    (folder / "test_batch").write_bytes(payload)
    with pytest.raises(DataFormatError, match="refusing to load this pickle") as info:
        read_cifar_batches(folder)
    assert message in str(info.value) and "test_batch" in str(info.value)


def test_numpy_dtype_state_with_object_fields_is_refused(tmp_path):
    """numpy's own dtype __setstate__ accepts object fields and flags from the file; advex never calls it."""
    folder = write_fake_cifar(tmp_path)
    structured = pickle.dumps({b"data": np.dtype([("a", "u1")])}, protocol=2)  # dtype("V1") with fields in its state
    (folder / "test_batch").write_bytes(structured.replace(b"V1", b"u1"))
    with pytest.raises(DataFormatError, match="numpy.dtype state"):
        read_cifar_batches(folder)


@pytest.mark.parametrize("protocol", range(6))
def test_batches_pickled_at_every_protocol_still_load(tmp_path, protocol):
    folder = write_fake_cifar(tmp_path)
    batch = cifar_batch(3, 0)
    batch[b"extra_array"] = np.arange(6, dtype="<i8").reshape(2, 3)
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=protocol))
    _, _, X_test, y_test = read_cifar_batches(folder)
    assert X_test.shape == (3, 3, 32, 32) and y_test.tolist() == [0, 1, 2] and X_test.flags.writeable
    assert X_test[:, 0, 0, 0].tolist() == [0, 1, 2]


def test_oversized_pickle_is_refused_unread(tmp_path, monkeypatch):
    from advex.data import images

    folder = write_fake_cifar(tmp_path)
    monkeypatch.setattr(images, "MAX_PICKLE_BYTES", 100)
    with pytest.raises(DataFormatError, match="larger than 0 MiB"):
        read_cifar_batches(folder)


# ---------------------------------------------------------------- where CIFAR-10 is found


def test_cifar_batches_directly_in_the_data_directory_are_found(tmp_path, monkeypatch):
    """``$ADVEX_DATA_DIR/cifar-10-batches-py``, the layout the official archive extracts to."""
    write_fake_cifar(tmp_path / "data")
    (tmp_path / "data" / "cifar10" / "cifar-10-batches-py").rename(tmp_path / "data" / "cifar-10-batches-py")
    (tmp_path / "data" / "cifar10").rmdir()
    monkeypatch.setenv("ADVEX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    data = load_image_dataset("cifar10", split="test")
    assert data.X_test.shape == (4, 3, 32, 32) and data.class_names[0] == "airplane"
    from advex.data.paths import locate

    assert locate("cifar10")["meta"] == tmp_path / "data" / "cifar-10-batches-py" / "batches.meta"


def test_cifar_folder_layout_is_preferred_and_other_data_sets_are_not_looked_up_at_the_root(tmp_path, monkeypatch):
    from advex.data.paths import locate

    write_fake_cifar(tmp_path / "data")
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVEX_DATA_DIR", str(tmp_path / "no-data"))
    assert locate("cifar10", tmp_path / "data")["meta"].parent == tmp_path / "data" / "cifar10" / "cifar-10-batches-py"
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        write_idx(tmp_path / "flat" / name, np.zeros((1, 28, 28) if "images" in name else 1, dtype=np.uint8), True)
    with pytest.raises(DataMissingError) as info:
        locate("mnist", tmp_path / "flat")
    assert str(tmp_path / "flat" / "mnist") in str(info.value)


def test_missing_cifar_lists_both_places(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataMissingError) as info:
        load_image_dataset("cifar10")
    message = str(info.value)
    assert f"{tmp_path / 'env' / 'cifar10'};" in message and f"{tmp_path / 'env'};" in message
