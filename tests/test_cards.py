"""Model-card schema (advex.models.io.validate_card, advex.models.registry): every field code reads, checked before allocation."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
import torch

from advex.errors import ModelFileError
from advex.models.cnn import MadryCNN
from advex.models.io import read_card, save_model, scan_cards, stem_path, validate_card
from advex.models.linear import LogisticRegression
from advex.models.registry import ARCHITECTURES, MAX_PARAMETERS, expected_state
from advex.models.wrn import WideResNet

CARD = Path("/zoo/mnist/adv_0.3.json")


def good_card(**changes) -> dict:
    card = {
        "name": "adv_0.3", "dataset": "mnist", "mode": "adv", "eps": 0.3, "lam": 0.0, "seed": 0, "steps": 100,
        "protocol": "fast", "clean_accuracy": 0.99, "robust_accuracy": [{"eps": 0.3, "accuracy": 0.9, "steps": 40}],
        "gini": {"ig": 0.6, "shap": 0.62, "ig_steps": 50}, "weights_file": "adv_0.3.safetensors.xz",
        "weights_sha256": "ab" * 32, "weights_compression": "xz", "train_log": [{"step": 1, "loss": float("nan")}],
        "architecture": {"arch": "mnist_cnn", "in_channels": 1, "n_classes": 10, "image_size": 28, "hidden": 1024},
    }
    card.update(changes)
    return card


def test_a_card_as_advex_writes_it_is_valid(tmp_path):
    card = good_card()
    assert validate_card(card, CARD) is card
    save_model(MadryCNN(hidden=8), tmp_path / "m", {k: v for k, v in card.items() if not k.startswith(("weights", "arch"))})
    assert read_card(tmp_path / "m")["architecture"]["hidden"] == 8


def test_real_zoo_cards_are_valid():
    zoo = Path(__file__).resolve().parents[1] / "pretrained"
    scan = scan_cards(zoo)
    if not scan.cards and not scan.problems:
        pytest.skip(f"no zoo cards in {zoo}")
    assert scan.problems == [] and len(scan.cards) >= 1


@pytest.mark.parametrize(
    "architecture, field, fix",
    [
        ({"arch": "mnist_cnn", "hidden": 100000}, "architecture.hidden", "from 1 to 8192"),
        ({"arch": "mnist_cnn", "hidden": "1024"}, "architecture.hidden", "integer"),
        ({"arch": "mnist_cnn", "hidden": True}, "architecture.hidden", "integer"),
        ({"arch": "mnist_cnn", "hidden": 1.5}, "architecture.hidden", "integer"),
        ({"arch": "mnist_cnn", "in_channels": 0}, "architecture.in_channels", "from 1 to 4"),
        ({"arch": "mnist_cnn", "image_size": 3}, "architecture.image_size", "from 4 to 256"),
        ({"arch": "mnist_cnn", "n_classes": 1}, "architecture.n_classes", "from 2 to 1000"),
        ({"arch": "mnist_cnn", "dropout": 0.5}, "'dropout'", "takes only"),
        ({"arch": "mnist_cnn", "hidden": 8192, "image_size": 256}, "architecture", f"{MAX_PARAMETERS:,}"),
        ({"arch": "wide_resnet", "depth": 12}, "architecture", "6n+4"),
        ({"arch": "wide_resnet", "widen_factor": 21}, "architecture.widen_factor", "from 1 to 20"),
        ({"arch": "wide_resnet", "depth": 100, "widen_factor": 20}, "architecture", f"{MAX_PARAMETERS:,}"),
        ({"arch": "logistic", "n_features": 0}, "architecture.n_features", "from 1 to 1000000"),
        ({"arch": "logistic"}, "n_features", "missing"),
        ({"arch": "resnet9000"}, "architecture.arch", "known"),
        ({"hidden": 5}, "architecture.arch", "known"),
        ([1, 2], "architecture", "object"),
    ],
)
def test_bad_architectures_name_the_file_the_field_and_the_fix(architecture, field, fix):
    with pytest.raises(ModelFileError) as info:
        validate_card(good_card(architecture=architecture), CARD)
    message = str(info.value)
    assert str(CARD) in message and field in message and fix in message, message
    assert "re-train" in message


def test_missing_architecture_argument_is_refused_not_a_type_error():
    """LogisticRegression has no default n_features: a card without it is an error, not a traceback."""
    with pytest.raises(ModelFileError, match="n_features"):
        expected_state({"arch": "logistic"})


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("eps", float("nan"), "finite number >= 0"), ("eps", -0.1, "finite number >= 0"), ("eps", "0.3", "finite"),
        ("lam", float("inf"), "finite number >= 0"), ("lam", True, "finite"),
        ("dataset", "imagenet", "one of 'mushroom'"), ("mode", "robust", "one of 'natural'"),
        ("name", "../../etc/passwd", "no slashes"), ("name", "", "1 to 200"), ("name", 7, "file-name-like"),
        ("seed", -1, "integer >= 0"), ("steps", 1.5, "integer >= 0"), ("stopped_early", "no", "one of True"),
        ("clean_accuracy", 2.0, "from 0 to 1"), ("clean_accuracy", "high", "from 0 to 1"),
        ("robust_accuracy", [{"eps": "a", "accuracy": 0.5}], "list of objects"),
        ("robust_accuracy", {"eps": 0.3}, "list of objects"), ("gini", {"ig": "sparse"}, "'ig' and 'deepshap'"),
        ("gini", {"deepshap": 1.5}, "from 0 to 1"), ("gini", [0.5], "an object"),
        ("weights_file", "../../x.safetensors", "file name ending"), ("weights_file", "m.pkl", "file name ending"),
        ("weights_sha256", "xyz", "64 lowercase hex"), ("weights_compression", "gzip", "one of None, 'xz'"),
        ("train_time_s", -3, "seconds"), ("protocol", ["fast"], "string"),
    ],
)
def test_bad_fields_name_the_field_and_what_it_must_be(field, value, expected):
    with pytest.raises(ModelFileError) as info:
        validate_card(good_card(**{field: value}), CARD)
    message = str(info.value)
    assert f"field {field!r} must be" in message and expected in message and str(CARD) in message, message


@pytest.mark.parametrize("field", ["clean_accuracy", "sample_accuracy"])
def test_metrics_may_be_missing_null_or_nan(field):
    for value in (None, float("nan")):
        validate_card(good_card(**{field: value}), CARD)
    card = good_card()
    card.pop("clean_accuracy")
    validate_card(card, CARD)


def test_fields_advex_does_not_read_are_kept_as_they_are():
    card = good_card(notes={"anything": [1, 2, math.inf]}, trained_in="dashboard")
    assert validate_card(card, CARD)["notes"]["anything"][2] == math.inf


def test_not_an_object_or_no_architecture():
    with pytest.raises(ModelFileError, match="JSON object"):
        validate_card([good_card()], CARD)
    card = good_card()
    card.pop("architecture")
    with pytest.raises(ModelFileError, match="no 'architecture'"):
        validate_card(card, CARD)


@pytest.mark.parametrize(
    "build",
    [
        lambda: MadryCNN(in_channels=3, n_classes=5, image_size=32, hidden=16),
        lambda: WideResNet(depth=10, widen_factor=2, in_channels=3, n_classes=10),
        lambda: LogisticRegression(57),
    ],
    ids=["cnn", "wrn", "logistic"],
)
def test_expected_state_matches_the_real_model(build):
    """Shapes computed on the meta device (nothing allocated) equal those of the model built for real."""
    model = build()
    expected = expected_state(model.architecture())
    real = model.state_dict()
    assert set(expected) == set(real)
    for key, tensor in real.items():
        assert expected[key].shape == tuple(tensor.shape) and expected[key].floating == tensor.is_floating_point()


def test_every_architecture_field_is_a_constructor_argument():
    import inspect

    for name, spec in ARCHITECTURES.items():
        parameters = set(inspect.signature(spec.build).parameters)
        assert set(spec.fields) == parameters, name


def _status_kb(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def test_checking_a_card_for_a_large_network_allocates_nothing():
    """A WRN of ~90M parameters (360 MB in float32) is checked with less than 50 MB of extra memory."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("peak memory is measured with Linux's /proc/self/clear_refs")
    architecture = {"arch": "wide_resnet", "depth": 34, "widen_factor": 14}
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kb("VmRSS")
    expected = expected_state(architecture)
    growth_mb = (_status_kb("VmHWM") - before) / 1024
    assert 80e6 < sum(spec.numel for spec in expected.values()) < MAX_PARAMETERS
    assert growth_mb < 50, growth_mb


# ---------------------------------------------------------------- listing tolerates broken cards


def test_scan_cards_skips_and_reports_broken_cards(tmp_path):
    save_model(LogisticRegression(3), tmp_path / "mnist" / "good", {"dataset": "mnist"})
    folder = tmp_path / "mnist"
    (folder / "not_json.json").write_text("{oops")
    (folder / "latin.json").write_bytes(b"\xff\xfe")
    (folder / "hidden.json").write_text(json.dumps({"architecture": {"arch": "mnist_cnn", "hidden": 10**6}}))
    (folder / "list.json").write_text("[]")
    (folder / "nan.json").write_text('{"architecture": {"arch": "logistic", "n_features": 3}, "eps": NaN}')
    (folder / "dir.json").mkdir()
    os.mkfifo(folder / "pipe.json")
    scan = scan_cards(tmp_path)
    assert [stem.name for stem, _ in scan.cards] == ["good"]
    assert len(scan.problems) == 7
    for name in ("not_json", "latin", "hidden", "list", "nan", "dir", "pipe"):
        assert sum(f"{name}.json" in problem for problem in scan.problems) == 1, name
    assert scan_cards(tmp_path / "absent").cards == []


def test_card_round_trip_through_save_keeps_validated_values(tmp_path):
    torch.manual_seed(0)
    save_model(MadryCNN(hidden=8), tmp_path / "m", good_card(clean_accuracy=float("nan")))
    card = read_card(tmp_path / "m")
    assert math.isnan(card["clean_accuracy"]) and card["eps"] == 0.3
    assert card["weights_file"] == "m.safetensors"  # save_model's own entries replace the caller's
    assert stem_path(tmp_path / "m", ".safetensors").exists()
