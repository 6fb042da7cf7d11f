"""Model files: safetensors + JSON card, atomic, hash-checked, never unpickled, checked before anything is allocated."""

from __future__ import annotations

import json
import lzma
import os
import stat
import struct
import zlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as safetensors_bytes

from advex.errors import ModelFileError
from advex.models import io as model_io
from advex.models.cnn import MadryCNN
from advex.models.io import (
    MAX_CARD_BYTES,
    MAX_HEADER_BYTES,
    atomic_write_bytes,
    atomic_write_json,
    load_model,
    read_card,
    save_model,
    stem_path,
)
from advex.models.linear import LogisticRegression


def test_round_trip_keeps_weights_and_dotted_names(tmp_path):
    model = LogisticRegression(4)
    weights = save_model(model, tmp_path / "adv_0.1", {"dataset": "spambase", "eps": 0.1})
    assert weights.name == "adv_0.1.safetensors"
    loaded, card = load_model(tmp_path / "adv_0.1")
    assert card["eps"] == 0.1 and card["architecture"] == {"arch": "logistic", "n_features": 4}
    assert torch.equal(loaded.linear.weight, model.linear.weight)
    assert card["weights_sha256"] == model_io.sha256_file(weights)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_float16_storage(tmp_path):
    model = LogisticRegression(3)
    save_model(model, tmp_path / "m", {}, dtype=torch.float16)
    loaded, card = load_model(tmp_path / "m")
    assert card["weights_dtype"] == "float16"
    assert torch.allclose(loaded.linear.weight, model.linear.weight, atol=1e-3)


def test_compressed_round_trip(tmp_path):
    torch.manual_seed(0)
    model = MadryCNN(hidden=8).eval()
    weights = save_model(model, tmp_path / "m", {"dataset": "mnist"}, compress=True)
    assert weights.name == "m.safetensors.xz"
    loaded, _ = load_model(tmp_path / "m")
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(loaded(x), model(x))


def test_corrupt_weights_are_reported(tmp_path):
    save_model(LogisticRegression(3), tmp_path / "m", {})
    stem_path(tmp_path / "m", ".safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelFileError, match="SHA-256"):
        load_model(tmp_path / "m")
    with pytest.raises(ModelFileError, match="header claims"):
        load_model(tmp_path / "m", verify_hash=False)


def test_missing_or_bad_card(tmp_path):
    with pytest.raises(ModelFileError, match="missing"):
        read_card(tmp_path / "nothing")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="JSON"):
        read_card(tmp_path / "bad")
    (tmp_path / "alien.json").write_text(json.dumps({"architecture": {"arch": "resnet9000"}}))
    (tmp_path / "alien.safetensors").write_bytes(b"")
    with pytest.raises(ModelFileError, match="unknown architecture"):
        load_model(tmp_path / "alien", verify_hash=False)


# ---------------------------------------------------------------- the card is checked against the weights before building


def _rewrite_card(stem: Path, **changes) -> None:
    path = stem_path(stem, ".json")
    card = json.loads(path.read_text())
    card.update(changes)
    path.write_text(json.dumps(card))


def test_card_asking_for_a_huge_layer_is_refused_before_anything_is_read(tmp_path, monkeypatch):
    """The user's report: ``hidden: 100000`` allocated 1.4 GB before the garbage weights were rejected."""
    save_model(MadryCNN(hidden=8), tmp_path / "m", {"dataset": "mnist"})
    _rewrite_card(tmp_path / "m", architecture={"arch": "mnist_cnn", "hidden": 100000})
    stem_path(tmp_path / "m", ".safetensors").write_bytes(os.urandom(1000))
    monkeypatch.setattr(model_io, "build_model", lambda *_: pytest.fail("the model must not be built"))
    with pytest.raises(ModelFileError) as info:
        load_model(tmp_path / "m")
    message = str(info.value)
    assert "m.json" in message and "architecture.hidden" in message and "1 to 8192" in message


def test_weights_of_another_shape_are_refused_from_the_header_before_building(tmp_path, monkeypatch):
    save_model(MadryCNN(hidden=8), tmp_path / "m", {"dataset": "mnist"})
    _rewrite_card(tmp_path / "m", architecture={"arch": "mnist_cnn", "hidden": 4096})
    monkeypatch.setattr(model_io, "build_model", lambda *_: pytest.fail("the model must not be built"))
    with pytest.raises(ModelFileError, match=r"tensor 'fc1.weight' has shape \[8, 3136\].*needs \[4096, 3136\]") as info:
        load_model(tmp_path / "m")
    assert "m.safetensors" in str(info.value)


def _write_weights(tmp_path: Path, tensors: dict, architecture: dict, raw: bytes | None = None) -> Path:
    stem = tmp_path / "w"
    stem_path(stem, ".safetensors").write_bytes(safetensors_bytes(tensors) if raw is None else raw)
    stem_path(stem, ".json").write_text(json.dumps({"architecture": architecture}))
    return stem


@pytest.mark.parametrize(
    "tensors, message",
    [
        ({"linear.weight": torch.zeros(1, 3)}, r"missing \['linear.bias'\]"),
        ({"linear.weight": torch.zeros(1, 3), "linear.bias": torch.zeros(1), "evil": torch.zeros(1)}, r"unexpected \['evil'\]"),
        ({"linear.weight": torch.zeros(1, 3, dtype=torch.int64), "linear.bias": torch.zeros(1)}, "dtype 'I64'"),
        ({"linear.weight": torch.zeros(3, 1), "linear.bias": torch.zeros(1)}, "shape"),
    ],
    ids=["missing", "extra", "dtype", "shape"],
)
def test_header_must_list_exactly_the_expected_tensors(tmp_path, tensors, message):
    stem = _write_weights(tmp_path, tensors, {"arch": "logistic", "n_features": 3})
    with pytest.raises(ModelFileError, match=message):
        load_model(stem)


def test_header_length_trailing_bytes_and_truncation(tmp_path):
    good = safetensors_bytes({"linear.weight": torch.zeros(1, 3), "linear.bias": torch.zeros(1)})
    architecture = {"arch": "logistic", "n_features": 3}
    stem = _write_weights(tmp_path, {}, architecture, raw=struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(ModelFileError, match="header claims"):
        load_model(stem)
    stem = _write_weights(tmp_path, {}, architecture, raw=good + b"\x00" * 64)
    with pytest.raises(ModelFileError, match="longer than its safetensors header"):
        load_model(stem)
    stem = _write_weights(tmp_path, {}, architecture, raw=good[:-3])
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(stem)
    stem = _write_weights(tmp_path, {}, architecture, raw=good)
    assert load_model(stem)[0].linear.weight.shape == (1, 3)


def test_xz_weights_are_decompressed_only_as_far_as_the_header_says(tmp_path):
    """256 MB of zeros after valid weights in a small .xz file: refused after reading one byte too many."""
    save_model(LogisticRegression(3), tmp_path / "m", {}, compress=True)
    path = stem_path(tmp_path / "m", ".safetensors.xz")
    content = lzma.decompress(path.read_bytes())
    compressor = lzma.LZMACompressor(format=lzma.FORMAT_XZ, preset=0)
    chunks = [compressor.compress(content)] + [compressor.compress(bytes(2**24)) for _ in range(16)] + [compressor.flush()]
    path.write_bytes(b"".join(chunks))
    assert path.stat().st_size < 2**20
    with pytest.raises(ModelFileError, match="longer than its safetensors header"):
        load_model(tmp_path / "m", verify_hash=False)


def test_xz_weights_asking_for_a_huge_dictionary_are_refused(tmp_path):
    save_model(LogisticRegression(3), tmp_path / "m", {}, compress=True)
    path = stem_path(tmp_path / "m", ".safetensors.xz")
    data = bytearray(path.read_bytes())
    header_size = (data[12] + 1) * 4  # the block header follows the 12-byte stream header; its last 4 bytes are a CRC32
    assert data[14] == 0x21  # the LZMA2 filter; its one property byte encodes the dictionary size
    data[16] = 40  # 4 GiB - 1
    data[12 + header_size - 4 : 12 + header_size] = struct.pack("<I", zlib.crc32(bytes(data[12 : 12 + header_size - 4])))
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="not a readable xz file"):
        load_model(tmp_path / "m", verify_hash=False)


# ---------------------------------------------------------------- hostile card files


def test_oversized_card_is_refused_before_parsing(tmp_path):
    (tmp_path / "big.json").write_bytes(b"{" + b" " * MAX_CARD_BYTES + b"}")
    with pytest.raises(ModelFileError, match="larger than"):
        read_card(tmp_path / "big")


def test_card_that_is_not_utf8_or_too_deep_or_not_json(tmp_path):
    (tmp_path / "latin.json").write_bytes(b'{"architecture": "\xff\xfe"}')
    with pytest.raises(ModelFileError, match="not UTF-8"):
        read_card(tmp_path / "latin")
    (tmp_path / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ModelFileError, match="not valid JSON"):
        read_card(tmp_path / "deep")
    (tmp_path / "bigint.json").write_text('{"architecture": {"arch": "logistic", "n_features": ' + "9" * 5000 + "}}")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        read_card(tmp_path / "bigint")


def test_nan_eps_in_a_card_is_refused_with_the_field(tmp_path):
    save_model(LogisticRegression(3), tmp_path / "m", {"mode": "adv", "eps": 0.1})
    text = stem_path(tmp_path / "m", ".json").read_text().replace('"eps": 0.1', '"eps": NaN')
    stem_path(tmp_path / "m", ".json").write_text(text)
    with pytest.raises(ModelFileError, match="field 'eps' must be a finite number >= 0, found nan"):
        read_card(tmp_path / "m")


def test_card_that_is_a_folder_fifo_or_device_is_refused_without_hanging(tmp_path):
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(ModelFileError, match="not a regular file"):
        read_card(tmp_path / "folder")
    os.mkfifo(tmp_path / "pipe.json")
    with pytest.raises(ModelFileError, match="not a regular file"):
        read_card(tmp_path / "pipe")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(ModelFileError, match="not a regular file"):
        read_card(tmp_path / "zero")


def test_symlinked_model_files_load_like_the_files_they_point_to(tmp_path):
    """A zoo folder may be a link; what matters is that the target is a regular file that passes every check."""
    save_model(LogisticRegression(3), tmp_path / "real" / "m", {})
    (tmp_path / "linked").mkdir()
    for suffix in (".json", ".safetensors"):
        (tmp_path / "linked" / f"m{suffix}").symlink_to(tmp_path / "real" / f"m{suffix}")
    model, _ = load_model(tmp_path / "linked" / "m")
    assert model.linear.weight.shape == (1, 3)


def test_save_model_refuses_a_card_it_could_not_read_back(tmp_path):
    with pytest.raises(ModelFileError, match="field 'eps'"):
        save_model(LogisticRegression(3), tmp_path / "m", {"eps": float("inf")})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- atomic writes: permissions from the umask, no leftovers


@pytest.fixture
def umask():
    """Set the process umask for a test (restored afterwards)."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_umask_permissions(tmp_path, umask, mask, mode):
    umask(mask)
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    atomic_write_json(tmp_path / "b.json", {"x": 1})
    weights = save_model(LogisticRegression(2), tmp_path / "m", {})
    compressed = save_model(LogisticRegression(2), tmp_path / "c", {}, compress=True)
    for path in (tmp_path / "a.bin", tmp_path / "b.json", weights, stem_path(tmp_path / "m", ".json"), compressed):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, error):
    target = tmp_path / "card.json"
    target.write_text("old")

    def interrupted(fd):
        raise error("interrupted")

    monkeypatch.setattr(model_io.os, "fsync", interrupted)
    with pytest.raises(error):
        atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json"]


def test_failed_rename_leaves_no_temporary(tmp_path, monkeypatch):
    def refuse(*_):
        raise PermissionError("read-only")

    monkeypatch.setattr(model_io.os, "replace", refuse)
    with pytest.raises(PermissionError):
        atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_header_bound_is_far_above_real_headers():
    """The safetensors header of WRN-34-10 (the largest network of J.1) is a small fraction of MAX_HEADER_BYTES."""
    from advex.models.wrn import WideResNet

    with torch.device("meta"):
        state = WideResNet(depth=34).state_dict()
    header = {k: {"dtype": "F32", "shape": list(v.shape), "data_offsets": [0, 0]} for k, v in state.items()}
    assert len(json.dumps(header)) < MAX_HEADER_BYTES / 10
