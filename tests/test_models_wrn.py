"""The wide residual network of App. J.1: shapes, layout, single-use ReLU modules, DeepSHAP additivity, I/O."""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn

from advex.errors import AdvexError, ModelFileError
from advex.models import io as model_io
from advex.models.io import load_model, save_model, stem_path
from advex.models.wrn import WideResNet


def test_output_shape_and_units_per_stage():
    model = WideResNet(depth=16, widen_factor=2).eval()
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert len(model.units) == 3 * (16 - 4) // 6
    widths = [unit.conv2.out_channels for unit in model.units]
    assert widths == [32, 32, 64, 64, 128, 128]  # 16k, 32k, 64k with k = 2
    assert model.fc.in_features == 64 * 2


def test_wrn_28_10_and_madry_layout_sizes():
    """WRN-28-10 has 4 units per stage; Madry et al.'s 5-unit variant (depth 34) has about 46M parameters."""
    wrn = WideResNet()
    assert len(wrn.units) == 12 and wrn.fc.in_features == 640
    madry = WideResNet(depth=34)
    assert 45e6 < sum(p.numel() for p in madry.parameters()) < 47e6


def test_every_relu_is_its_own_module_called_once():
    model = WideResNet(depth=10, widen_factor=1).eval()
    calls: dict[nn.Module, int] = {}
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    for relu in relus:
        relu.register_forward_hook(lambda module, *_: calls.__setitem__(module, calls.get(module, 0) + 1))
    model(torch.rand(1, 3, 32, 32))
    assert len(relus) == 2 * len(model.units) + 1
    assert all(calls.get(relu) == 1 for relu in relus)


def test_deep_shap_is_additive_on_the_wrn():
    """shap's DeepExplainer handles every operator: attributions sum to F(x) - E[F(background)]."""
    from advex.attribution.deep_shap import deep_shap

    torch.manual_seed(0)
    model = WideResNet(depth=10, widen_factor=1).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    attributions = deep_shap(model, torch.rand(2, 3, 32, 32), torch.tensor([1, 4]), torch.rand(6, 3, 32, 32))
    assert attributions.shape == (2, 3, 32, 32)
    assert torch.isfinite(attributions).all()


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(1)
    model = WideResNet(depth=10, widen_factor=1).eval()
    x = torch.rand(2, 3, 32, 32)
    save_model(model, tmp_path / "wrn", {"dataset": "cifar10"})
    loaded, card = load_model(tmp_path / "wrn")
    assert card["architecture"] == {"arch": "wide_resnet", "depth": 10, "widen_factor": 1, "in_channels": 3, "n_classes": 10}
    assert torch.allclose(loaded(x), model(x), atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"depth": 12}, {"depth": 4}, {"widen_factor": 0}])
def test_bad_shapes_raise(kwargs):
    with pytest.raises(AdvexError):
        WideResNet(**kwargs)


@pytest.mark.parametrize(
    "change, field",
    [({"depth": 12}, "6n+4"), ({"depth": 106}, "architecture.depth"), ({"widen_factor": 0}, "architecture.widen_factor"),
     ({"depth": 16}, "tensors missing")],
    ids=["depth-not-6n+4", "depth-too-large", "widen-0", "depth-of-other-weights"],
)
def test_wrn_card_is_checked_against_its_weights_before_building(tmp_path, monkeypatch, change, field):
    save_model(WideResNet(depth=10, widen_factor=1), tmp_path / "wrn", {"dataset": "cifar10"})
    card_path = stem_path(tmp_path / "wrn", ".json")
    card = json.loads(card_path.read_text())
    card["architecture"].update(change)
    card_path.write_text(json.dumps(card))
    monkeypatch.setattr(model_io, "build_model", lambda *_: pytest.fail("the model must not be built"))
    with pytest.raises(ModelFileError, match=re.escape(field)) as info:
        load_model(tmp_path / "wrn")
    assert "wrn." in str(info.value)
