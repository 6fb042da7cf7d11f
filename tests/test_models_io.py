"""Model files: safetensors + JSON card, atomic, hash-checked, never unpickled."""

import json

import pytest
import torch

from advex.errors import ModelFileError
from advex.models.io import load_model, read_card, save_model, stem_path
from advex.models.linear import LogisticRegression


def test_round_trip_keeps_weights_and_dotted_names(tmp_path):
    model = LogisticRegression(4)
    weights = save_model(model, tmp_path / "adv_0.1", {"dataset": "x", "eps": 0.1})
    assert weights.name == "adv_0.1.safetensors"
    loaded, card = load_model(tmp_path / "adv_0.1")
    assert card["eps"] == 0.1 and card["architecture"] == {"arch": "logistic", "n_features": 4}
    assert torch.equal(loaded.linear.weight, model.linear.weight)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_float16_storage(tmp_path):
    model = LogisticRegression(3)
    save_model(model, tmp_path / "m", {}, dtype=torch.float16)
    loaded, card = load_model(tmp_path / "m")
    assert card["weights_dtype"] == "float16"
    assert torch.allclose(loaded.linear.weight, model.linear.weight, atol=1e-3)


def test_corrupt_weights_are_reported(tmp_path):
    save_model(LogisticRegression(3), tmp_path / "m", {})
    stem_path(tmp_path / "m", ".safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelFileError, match="SHA-256"):
        load_model(tmp_path / "m")
    with pytest.raises(ModelFileError, match="safetensors"):
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
