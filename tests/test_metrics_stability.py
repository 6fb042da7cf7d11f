"""Explanation stability, eq. 16: differentiable IG matches captum and Lemma 4.1; the attack finds the maximum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from advex.attribution.closed_form import closed_form_ig
from advex.attribution.integrated_gradients import integrated_gradients
from advex.errors import AdvexError
from advex.metrics.stability import explanation_stability, ig_change_l1, path_ig
from advex.models.linear import LogisticRegression


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 3)).eval()


def logistic(weights, bias=0.0) -> LogisticRegression:
    model = LogisticRegression(len(weights))
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([weights], dtype=torch.float32))
        model.linear.bias.fill_(bias)
    return model.eval()


def test_path_ig_equals_captum_midpoint_rule():
    model = small_net()
    x = torch.rand(5, 12)
    target = torch.tensor([0, 1, 2, 1, 0])
    ours = path_ig(model, x, target, n_steps=20)
    captum = integrated_gradients(model, x, target, n_steps=20, method="riemann_middle")
    torch.testing.assert_close(ours, captum, atol=1e-6, rtol=1e-5)


def test_path_ig_of_logistic_regression_matches_lemma_4_1():
    weights = [1.5, -0.7, 0.0, 2.0]
    model = logistic(weights, bias=0.3)
    x = torch.tensor([[0.2, 1.0, -0.5, 0.4], [1.0, -1.0, 2.0, 0.1]])
    ours = path_ig(model.double(), x.double(), torch.ones(2, dtype=torch.long), n_steps=400)
    exact = closed_form_ig(np.array(weights), x.numpy().astype(np.float64), 0.0, bias=0.3)
    np.testing.assert_allclose(ours.numpy(), exact, atol=2e-6)


def test_zero_radius_gives_zero_change():
    model = small_net()
    x = torch.rand(3, 12)
    result = explanation_stability(model, x, torch.tensor([0, 1, 2]), eps=0.0)
    assert torch.equal(result.worst_change, torch.zeros(3))


def test_worst_points_stay_in_the_ball_and_the_pixel_range():
    model = small_net()
    x = torch.rand(4, 12)
    eps = 0.1
    generator = torch.Generator().manual_seed(0)
    result = explanation_stability(model, x, torch.zeros(4, dtype=torch.long), eps, attack_steps=5, generator=generator)
    assert (result.x_worst - x).abs().max() <= eps + 1e-6
    assert result.x_worst.min() >= 0.0 and result.x_worst.max() <= 1.0
    # the reported value is the objective at the reported point
    recomputed = ig_change_l1(model, result.x_worst, path_ig(model, x, torch.zeros(4, dtype=torch.long)),
                              torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(result.worst_change, recomputed)


def test_attack_finds_the_brute_force_maximum_in_two_dimensions():
    """For a 2-feature logistic model, a fine grid over the l_inf square is the true maximum of eq. 16."""
    model = logistic([2.0, -1.0], bias=0.5).double()
    x = torch.tensor([[0.6, 0.3]], dtype=torch.float64)
    target = torch.ones(1, dtype=torch.long)
    eps = 0.25
    reference = path_ig(model, x, target, n_steps=64)
    grid = torch.linspace(-eps, eps, 81, dtype=torch.float64)
    points = torch.tensor(list(itertools.product(grid.tolist(), grid.tolist())), dtype=torch.float64) + x
    brute = ig_change_l1(model, points, reference.expand(len(points), -1), target.expand(len(points)), n_steps=64)
    generator = torch.Generator().manual_seed(1)
    found = explanation_stability(
        model, x, target, eps, attack_steps=30, n_steps=64, clip=None, restarts=4, generator=generator
    )
    assert found.worst_change.item() <= brute.max().item() + 1e-9
    assert found.worst_change.item() >= 0.98 * brute.max().item()


def test_attack_improves_on_its_random_start():
    model = small_net(1)
    x = torch.rand(6, 12)
    target = model(x).argmax(1)
    start = explanation_stability(model, x, target, 0.05, attack_steps=0, generator=torch.Generator().manual_seed(3))
    attacked = explanation_stability(model, x, target, 0.05, attack_steps=10,
                                     generator=torch.Generator().manual_seed(3))
    assert (attacked.worst_change >= start.worst_change - 1e-9).all()
    assert attacked.worst_change.mean() > 1.2 * start.worst_change.mean()


@pytest.mark.parametrize("eps", [-0.1, float("nan"), float("inf")])
def test_impossible_radius_is_a_clear_error(eps):
    with pytest.raises(AdvexError, match="eps"):
        explanation_stability(small_net(), torch.rand(1, 12), torch.zeros(1, dtype=torch.long), eps)
