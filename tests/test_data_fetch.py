"""Download-check-move of ``advex.data.fetch``, without the network: local file:// URLs and a patched opener."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import idx_bytes, require_dataset, write_fake_cifar

from advex.data import fetch as fetch_module
from advex.data.fetch import check_file, fetch, rows_digest, verify
from advex.data.images import load_image_dataset
from advex.data.registry import DATASETS
from advex.data.tabular import load_mushroom
from advex.errors import DataFormatError, DataMissingError

MUSHROOM_ROWS = [
    "e,x,y,g,t,n,f,c,b,p,t,b,s,s,w,w,p,w,o,p,k,y,d",
    "p,k,s,e,f,y,f,c,n,b,t,?,s,k,p,p,p,w,o,e,w,v,d",
    "e,f,y,y,t,l,f,c,b,w,e,r,s,y,w,w,p,w,o,p,n,s,p",
    "p,x,s,n,t,p,f,c,n,k,e,e,s,s,w,w,p,w,o,p,k,s,u",
] * 3


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture
def remote_mnist(tmp_path, monkeypatch):
    """A small MNIST in IDX .gz files served from file:// URLs, registered in place of the real spec."""
    remote = tmp_path / "remote"
    remote.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(12) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "test_labels": np.arange(4, dtype=np.uint8),
    }
    spec = DATASETS["mnist"]
    urls, sha = {}, {}
    for logical, array in arrays.items():
        content = idx_bytes(array)
        path = remote / (spec.files[logical] + ".gz")
        path.write_bytes(gzip.compress(content))
        urls[logical] = path.as_uri()
        sha[logical] = (hashlib.sha256(content).hexdigest(),)
    fake = dataclasses.replace(spec, urls=urls, sha256=sha, shapes={k: a.shape for k, a in arrays.items()})
    monkeypatch.setitem(DATASETS, "mnist", fake)
    return fake


def test_fetch_downloads_checks_and_places_files(tmp_path, remote_mnist):
    folder = fetch("mnist", dest=tmp_path / "data", progress=False)
    assert folder == tmp_path / "data" / "mnist"
    assert _leftovers(folder) == sorted(name + ".gz" for name in remote_mnist.files.values())
    data = load_image_dataset("mnist", tmp_path / "data")
    assert data.X_train.shape[0] + data.X_val.shape[0] == 12 and data.X_test.shape == (4, 1, 28, 28)
    assert all(result.ok and "SHA-256 matches" in result.detail for result in verify("mnist", tmp_path / "data"))


def test_fetch_keeps_valid_files_without_downloading(tmp_path, remote_mnist, monkeypatch):
    fetch("mnist", dest=tmp_path / "data", progress=False)

    def offline(*args, **kwargs):
        raise AssertionError("fetch must not download files that are already present and valid")

    monkeypatch.setattr(fetch_module.urllib.request, "urlopen", offline)
    assert fetch("mnist", dest=tmp_path / "data", progress=False) == tmp_path / "data" / "mnist"


def test_checksum_mismatch_is_rejected_and_leaves_nothing(tmp_path, remote_mnist, monkeypatch):
    bad = dict(remote_mnist.sha256, test_images=("0" * 64,))
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(remote_mnist, sha256=bad))
    with pytest.raises(DataFormatError, match="SHA-256") as info:
        fetch("mnist", dest=tmp_path / "data", progress=False)
    assert remote_mnist.urls["test_images"] in str(info.value)
    names = _leftovers(tmp_path / "data" / "mnist")
    assert "t10k-images-idx3-ubyte.gz" not in names and not [n for n in names if n.endswith(".part")]


def test_truncated_download_is_rejected(tmp_path, remote_mnist):
    path = Path(remote_mnist.urls["train_labels"].removeprefix("file://"))
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-3]))
    with pytest.raises(DataFormatError, match="failed its check"):
        fetch("mnist", dest=tmp_path / "data", progress=False)
    assert "train-labels-idx1-ubyte.gz" not in _leftovers(tmp_path / "data" / "mnist")


def test_unreachable_url_names_url_file_and_manual_fix(tmp_path, remote_mnist, monkeypatch):
    urls = dict(remote_mnist.urls, train_images=(tmp_path / "nowhere.gz").as_uri())
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(remote_mnist, urls=urls))
    with pytest.raises(DataMissingError) as info:
        fetch("mnist", dest=tmp_path / "data", progress=False)
    message = str(info.value)
    assert urls["train_images"] in message
    assert str(tmp_path / "data" / "mnist" / "train-images-idx3-ubyte.gz") in message and "by hand" in message


def test_offline_opener_and_empty_folder_removed(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise fetch_module.urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(fetch_module.urllib.request, "urlopen", offline)
    with pytest.raises(DataMissingError, match="Name or service not known") as info:
        fetch("spambase", dest=tmp_path / "data", progress=False)
    assert DATASETS["spambase"].urls["data"] in str(info.value)
    assert not (tmp_path / "data" / "spambase").exists()


def test_interrupted_download_leaves_no_partial_file(tmp_path, remote_mnist, monkeypatch):
    class Interrupted(io.BytesIO):
        headers = {"Content-Length": "100000"}

        def read(self, size=-1):
            if self.tell() > 0:
                raise KeyboardInterrupt
            return super().read(10)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(fetch_module.urllib.request, "urlopen", lambda url, timeout=None: Interrupted(b"x" * 100))
    with pytest.raises(KeyboardInterrupt):
        fetch("mnist", dest=tmp_path / "data", progress=False)
    assert _leftovers(tmp_path / "data") == []


# ---------------------------------------------------------------- tabular files


def test_rows_digest_ignores_order_and_line_endings():
    text = "\n".join(MUSHROOM_ROWS) + "\n"
    shuffled = "\r\n".join(reversed(MUSHROOM_ROWS)) + "\r\n\r\n"
    assert rows_digest(text.encode()) == rows_digest(shuffled.encode())
    assert rows_digest(text.encode()) != rows_digest(text.replace("e,x,y", "p,x,y", 1).encode())


def test_fetch_tabular_checks_rows_and_labels(tmp_path, monkeypatch):
    remote = tmp_path / "remote.data"
    remote.write_text("\n".join(MUSHROOM_ROWS) + "\n")
    spec = dataclasses.replace(
        DATASETS["mushroom"], urls={"data": remote.as_uri()}, shapes={"data": (12, 23)},
        class_counts={0: 6, 1: 6}, rows_sha256={"data": (rows_digest(remote.read_bytes()),)},
    )
    monkeypatch.setitem(DATASETS, "mushroom", spec)
    folder = fetch("mushroom", dest=tmp_path / "data", progress=False)
    assert (folder / "agaricus-lepiota.data").read_bytes() == remote.read_bytes()
    assert "same rows" in verify("mushroom", tmp_path / "data")[0].detail
    assert load_mushroom(tmp_path / "data", test_size=0.5).X_test.shape[0] == 6
    # wrong class counts: rejected, and the valid copy in place is kept untouched
    monkeypatch.setitem(DATASETS, "mushroom", dataclasses.replace(spec, class_counts={0: 5, 1: 7}))
    (folder / "agaricus-lepiota.data").unlink()
    with pytest.raises(DataFormatError, match="class counts"):
        fetch("mushroom", dest=tmp_path / "data", progress=False)
    assert _leftovers(folder) == []


def test_check_file_on_real_and_damaged_copies(tmp_path, data_dir):
    real = require_dataset(data_dir, "mnist/t10k-labels-idx1-ubyte.gz")
    assert check_file("mnist", "test_labels", real).ok
    content = bytearray(gzip.decompress(real.read_bytes()))
    content[100] ^= 1  # one flipped bit: same shape, different content
    damaged = tmp_path / "t10k-labels-idx1-ubyte"
    damaged.write_bytes(bytes(content))
    result = check_file("mnist", "test_labels", damaged)
    assert not result.ok and "SHA-256" in result.detail
    mushroom = data_dir / "mushroom" / "agaricus-lepiota.data"
    if mushroom.is_file():
        assert check_file("mushroom", "data", mushroom).detail.startswith("SHA-256 matches")


# ---------------------------------------------------------------- CIFAR-10 archive


def _cifar_archive(tmp_path: Path) -> Path:
    folder = write_fake_cifar(tmp_path / "build", per_batch=2, n_test=2)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
        evil = tarfile.TarInfo("../escaped.txt")  # a member outside the batch folder is never extracted
        tar.addfile(evil, io.BytesIO(b""))
    return archive


def _cifar_spec(archive: Path, md5: str):
    shapes = {key: (2, 3, 32, 32) for key in DATASETS["cifar10"].shapes}
    return dataclasses.replace(DATASETS["cifar10"], archive_url=archive.as_uri(), archive_md5=md5, shapes=shapes)


def test_fetch_cifar_archive(tmp_path, monkeypatch):
    archive = _cifar_archive(tmp_path)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(DATASETS, "cifar10", _cifar_spec(archive, md5))
    folder = fetch("cifar10", dest=tmp_path / "data", progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["cifar-10-batches-py"]
    assert not (tmp_path / "data" / "escaped.txt").exists() and not (folder / "escaped.txt").exists()
    data = load_image_dataset("cifar10", tmp_path / "data")
    assert data.X_train.shape[0] + data.X_val.shape[0] == 10 and data.X_test.shape == (2, 3, 32, 32)


def test_cifar_md5_mismatch_leaves_nothing(tmp_path, monkeypatch):
    archive = _cifar_archive(tmp_path)
    monkeypatch.setitem(DATASETS, "cifar10", _cifar_spec(archive, "0" * 32))
    with pytest.raises(DataFormatError, match="MD5"):
        fetch("cifar10", dest=tmp_path / "data", progress=False)
    assert _leftovers(tmp_path / "data") == []


def test_cifar_archive_with_malicious_batch_is_rejected(tmp_path, monkeypatch):
    folder = write_fake_cifar(tmp_path / "build", per_batch=2, n_test=2)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": os.getcwd, b"labels": []}, protocol=2))
    archive = tmp_path / "cifar.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    monkeypatch.setitem(DATASETS, "cifar10", _cifar_spec(archive, hashlib.md5(archive.read_bytes()).hexdigest()))
    with pytest.raises(DataFormatError, match="refusing"):
        fetch("cifar10", dest=tmp_path / "data", progress=False)
    assert _leftovers(tmp_path / "data") == []


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_downloaded_files_get_the_umask_permissions(tmp_path, remote_mnist, mask, mode):
    """Downloads are written to a temporary file and renamed; unlike tempfile.mkstemp's 0600 they follow the umask."""
    previous = os.umask(mask)
    try:
        folder = fetch("mnist", dest=tmp_path / "data", progress=False)
    finally:
        os.umask(previous)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}
    assert len(modes) == 4 and set(modes.values()) == {mode}, modes
