"""Robust accuracy under PGD and AutoAttack, and the gradient-masking check (advex.evaluation.robustness).

A tiny nearest-prototype classifier on synthetic 8x8 images keeps every attack fast on CPU; the
AutoAttack runs use a reduced budget (10 iterations, 300 Square queries).
"""

from __future__ import annotations

import json
import math
from importlib import metadata

import numpy as np
import pyautoattack
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from advex.attacks.pgd import paper_pgd_schedule, pgd_attack
from advex.errors import AdvexError
from advex.evaluation.robustness import (
    BLACK_BOX,
    MASKING_TOLERANCE,
    WHITE_BOX,
    gradient_masking_check,
    robust_accuracy,
)

CLASSES, SIDE, N = 10, 8, 40
QUICK = {"iterations": 10, "square_queries": 300}
EPS_ORDINARY = 0.1  # about 60% of the synthetic images stay robust
EPS_MASKED = 0.15


class Quantize(nn.Module):
    """Rounds pixels to 5 levels: the forward pass is nearly unchanged, every input gradient is zero."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * 4) / 4


def _prototypes() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.where(rng.random((CLASSES, SIDE * SIDE)) < 0.5, 0.35, 0.65).astype(np.float32)


def _linear(mu: np.ndarray) -> nn.Linear:
    """Nearest prototype: logit_c = 2 mu_c . x - |mu_c|^2 (= -|x - mu_c|^2 + |x|^2)."""
    layer = nn.Linear(SIDE * SIDE, CLASSES)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(2 * mu))
        layer.bias.copy_(torch.from_numpy(-(mu**2).sum(1)))
    return layer


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The models are tiny: one thread avoids thread hand-off costs (several times faster on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    mu = _prototypes()
    rng = np.random.default_rng(1)
    y = rng.integers(0, CLASSES, N)
    X = np.clip(mu[y] + rng.normal(0, 0.2, (N, SIDE * SIDE)), 0, 1).astype(np.float32).reshape(N, 1, SIDE, SIDE)
    return X, y, mu


@pytest.fixture(scope="module")
def ordinary(data):
    return nn.Sequential(nn.Flatten(), _linear(data[2]))


@pytest.fixture(scope="module")
def masked(data):
    return nn.Sequential(Quantize(), nn.Flatten(), _linear(data[2]))


@pytest.fixture(scope="module")
def ordinary_aa(ordinary, data):
    return robust_accuracy(ordinary, data[0], data[1], EPS_ORDINARY, "autoattack", batch_size=N, **QUICK)


@pytest.fixture(scope="module")
def ordinary_pgd(ordinary, data):
    return robust_accuracy(ordinary, data[0], data[1], EPS_ORDINARY, "pgd", steps=20, step_size=EPS_ORDINARY / 8)


def _clean_correct(model, X, y) -> np.ndarray:
    with torch.no_grad():
        return (model(torch.from_numpy(X)).argmax(1) == torch.from_numpy(y)).numpy()


def test_autoattack_accuracy_no_higher_than_pgd(ordinary_aa, ordinary_pgd):
    assert 0 < ordinary_aa.accuracy < 1  # the test set-up is informative: some images break, some survive
    assert ordinary_aa.accuracy <= ordinary_pgd.accuracy


@pytest.mark.parametrize("which", ["ordinary_aa", "ordinary_pgd"])
def test_mask_is_consistent_with_the_accuracy(which, request, ordinary, data):
    result = request.getfixturevalue(which)
    mask = result.robust
    assert isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (N,)
    assert result.n_images == N == result.attack["n_images"]
    assert result.accuracy == pytest.approx(mask.mean()) == pytest.approx(result.attack["accuracy"])
    assert not (mask & ~_clean_correct(ordinary, data[0], data[1])).any()  # robust implies correct on the clean image


def test_mask_matches_the_library_full_ensemble(ordinary_aa, ordinary, data):
    """Cross-check: attacking one at a time on survivors equals the library's own one-call standard evaluation."""
    model = ordinary.eval()
    attack = pyautoattack.AutoAttack(model, eps=EPS_ORDINARY, version="standard", seed=0, device="cpu")
    for part in (attack.apgd, attack.apgd_targeted, attack.fab):
        part.n_iter = QUICK["iterations"]
    attack.square.n_queries = QUICK["square_queries"]
    x, y = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    _, predicted = attack.run_standard_evaluation(x, y, batch_size=N)
    np.testing.assert_array_equal(ordinary_aa.robust, (predicted == y).numpy())


def test_description_records_the_ensemble(ordinary_aa):
    attack = ordinary_aa.attack
    json.dumps(ordinary_aa.to_dict())  # goes on a model card as it is
    assert attack["name"] == "AutoAttack" and attack["version"] == "standard"
    assert attack["attacks"] == [*WHITE_BOX, BLACK_BOX] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert attack["library"] == "pyautoattack" and attack["library_version"] == metadata.version("pyautoattack")
    assert attack["eps"] == EPS_ORDINARY and attack["norm"] == "Linf" and attack["n_images"] == N
    assert attack["iterations"] == dict.fromkeys(WHITE_BOX, QUICK["iterations"])
    assert attack["square_queries"] == QUICK["square_queries"] and attack["standard_budget"] is False
    after = list(attack["accuracy_after"].values())
    assert list(attack["accuracy_after"]) == ["clean", *WHITE_BOX, BLACK_BOX]
    assert all(a >= b for a, b in zip(after, after[1:]))  # each attack only removes images
    assert after[-1] == ordinary_aa.accuracy and after[0] == attack["clean_accuracy"]
    assert attack["robust_after"]["square"] == ordinary_aa.robust.sum()


def test_standard_budget_is_autoattack_standard(ordinary, data):
    """Labels the model never predicts: nothing to attack, so the standard budget is described at no cost."""
    X, _, _ = data
    with torch.no_grad():
        wrong = ((ordinary(torch.from_numpy(X)).argmax(1) + 1) % CLASSES).numpy()
    result = robust_accuracy(ordinary, X, wrong, 0.3, "autoattack")
    assert result.accuracy == 0 and not result.robust.any()
    attack = result.attack
    assert attack["standard_budget"] is True and attack["square_queries"] == 5000
    assert attack["iterations"] == {"apgd-ce": 100, "apgd-t": 100, "fab-t": 100}
    assert attack["target_classes"] == {"apgd-t": 9, "fab-t": 9}
    assert attack["restarts"] == dict.fromkeys(attack["attacks"], 1)


def test_pgd_matches_a_direct_pgd_attack(ordinary_pgd, ordinary, data):
    X, y = torch.as_tensor(data[0]), torch.as_tensor(data[1]).long()
    generator = torch.Generator().manual_seed(0)
    x_adv = pgd_attack(ordinary.eval(), X, y, EPS_ORDINARY, 20, EPS_ORDINARY / 8, random_start=True, generator=generator)
    with torch.no_grad():
        expected = (ordinary(x_adv).argmax(1) == y).float().mean().item()
    assert ordinary_pgd.accuracy == pytest.approx(expected)
    assert ordinary_pgd.attack["name"] == "PGD" and ordinary_pgd.attack["steps"] == 20 and ordinary_pgd.masking is None


def test_pgd_takes_the_paper_schedule_from_the_data_set(ordinary, data):
    result = robust_accuracy(ordinary, data[0], data[1], 0.3, "pgd", dataset="mnist", n_images=4)
    assert (result.attack["steps"], result.attack["step_size"]) == paper_pgd_schedule("mnist", 0.3) == (40, 0.01)
    assert result.n_images == 4 and result.robust.shape == (4,)


def test_masking_check_catches_a_quantized_model(masked, data):
    result = robust_accuracy(masked, data[0], data[1], EPS_MASKED, "autoattack", batch_size=N, **QUICK)
    after = result.attack["robust_after"]
    white_box_broke = after["clean"] - after["fab-t"]  # only by their random starts: every input gradient is zero
    assert result.masking.square_only == after["fab-t"] - after["square"] > white_box_broke
    assert result.masking.flagged and result.attack["masking"]["flagged"]
    assert any("zero gradient" in message for message in result.attack["library_warnings"])


def test_masking_check_is_quiet_on_an_ordinary_model(ordinary_aa):
    assert ordinary_aa.masking.square_only == 0 and not ordinary_aa.masking.flagged
    assert ordinary_aa.attack["library_warnings"] == []


def test_masking_bound_by_hand():
    # k = 1: the Clopper-Pearson lower bound solves 1 - (1 - p)^n = 0.05, p = 1 - 0.95^(1/n).
    one_in_20 = gradient_masking_check(20, 1)
    assert one_in_20.lower_bound == pytest.approx(1 - 0.95 ** (1 / 20)) == pytest.approx(0.002561, abs=1e-6)
    assert one_in_20.flagged  # above AutoAttack's 0.2 points
    one_in_1000 = gradient_masking_check(1000, 1)
    assert one_in_1000.lower_bound == pytest.approx(1 - 0.95 ** (1 / 1000)) and not one_in_1000.flagged
    none = gradient_masking_check(1000, 0)
    assert none.lower_bound == 0 and none.difference == 0 and not none.flagged
    assert none.tolerance == MASKING_TOLERANCE == 0.002


@given(n=st.integers(1, 5000), data=st.data())
def test_masking_bound_properties(n, data):
    k = data.draw(st.integers(0, n))
    check = gradient_masking_check(n, k)
    assert 0 <= check.lower_bound <= check.difference == k / n
    if k < n:
        assert gradient_masking_check(n, k + 1).lower_bound >= check.lower_bound
    assert check.flagged == (check.lower_bound > MASKING_TOLERANCE)


def test_callers_model_and_random_state_are_untouched(data):
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), _linear(data[2])).train()
    before = {name: value.clone() for name, value in model.state_dict().items()}
    rng = torch.random.get_rng_state()
    result = robust_accuracy(model, data[0], data[1], EPS_ORDINARY, "autoattack", n_images=8, **QUICK)
    assert model.training and all(p.requires_grad and p.grad is None for p in model.parameters())
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
    assert torch.equal(rng, torch.random.get_rng_state())
    # evaluation ran in eval mode: dropout off, so the clean accuracy is the deterministic one
    assert result.attack["clean_accuracy"] == _clean_correct(nn.Sequential(nn.Flatten(), _linear(data[2])), *data[:2])[:8].mean()


def test_torch_input_gives_a_torch_mask(ordinary, data):
    X, y = torch.from_numpy(data[0][:6]), torch.from_numpy(data[1][:6])
    result = robust_accuracy(ordinary, X, y, EPS_ORDINARY, "pgd", steps=5, step_size=0.05)
    assert isinstance(result.robust, torch.Tensor) and result.robust.dtype == torch.bool and result.robust.shape == (6,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_models_device(ordinary, data):
    cpu = robust_accuracy(ordinary, data[0], data[1], EPS_ORDINARY, "pgd", steps=10, step_size=0.02)
    cuda = robust_accuracy(ordinary.to("cuda"), data[0], data[1], EPS_ORDINARY, "autoattack", **QUICK)
    assert cuda.accuracy <= cpu.accuracy


def _bad_inputs():
    X = np.random.default_rng(0).random((4, 1, SIDE, SIDE), dtype=np.float32)
    y = np.array([0, 1, 2, 3])
    return [
        ("eps nan", (X, y, math.nan), {}),
        ("eps negative", (X, y, -0.1), {}),
        ("eps zero", (X, y, 0.0), {}),
        ("eps text", (X, y, "big"), {}),
        ("X and y mismatched", (X, y[:3], 0.1), {}),
        ("empty", (X[:0], y[:0], 0.1), {}),
        ("flat X", (X.reshape(4, -1), y, 0.1), {}),
        ("pixels above 1", (X * 255, y, 0.1), {}),
        ("pixels nan", (np.full_like(X, np.nan), y, 0.1), {}),
        ("fractional labels", (X, y + 0.5, 0.1), {}),
        ("label beyond the classes", (X, np.array([0, 1, 2, 10]), 0.1), {}),
        ("n_images zero", (X, y, 0.1), {"n_images": 0}),
        ("n_images too many", (X, y, 0.1), {"n_images": 5}),
        ("batch_size zero", (X, y, 0.1), {"batch_size": 0}),
        ("unknown attack", (X, y, 0.1), {"attack": "cw"}),
        ("pgd without schedule", (X, y, 0.1), {"attack": "pgd"}),
        ("iterations zero", (X, y, 0.1), {"attack": "autoattack", "iterations": 0}),
    ]


@pytest.mark.parametrize("case", _bad_inputs(), ids=lambda case: case[0])
def test_bad_input_gives_one_advex_error(case, ordinary):
    _, args, kwargs = case
    with pytest.raises(AdvexError):
        robust_accuracy(ordinary, *args, **kwargs)


def test_too_few_classes_for_autoattack():
    model = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 3))
    X = np.zeros((2, 1, SIDE, SIDE), dtype=np.float32)
    with pytest.raises(AdvexError, match="at least 4 classes"):
        robust_accuracy(model, X, np.array([0, 1]), 0.1, "autoattack")
