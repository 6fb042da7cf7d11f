"""The closed-form attack (eq. 7), adversarial loss (eq. 8) and its gradient (eq. 9) against brute force."""

import itertools

import numpy as np
import pytest
import torch

from advex.attacks.closed_form import (
    adversarial_loss,
    adversarial_loss_gradient,
    adversarial_perturbation,
)
from advex.losses import LOSSES


def vertex_maximum(loss, w, x, y, eps, bias):
    """max over the 2^d vertices of the eps-cube of g(-y(<w, x + delta> + b)): the inner max of eq. 2."""
    best = -np.inf
    for signs in itertools.product((-1.0, 1.0), repeat=len(w)):
        delta = eps * np.array(signs)
        best = max(best, float(loss.g(-y * ((x + delta) @ w + bias))))
    return best


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_eq7_and_eq8_equal_brute_force_over_the_cube(loss_name):
    loss = LOSSES[loss_name]
    rng = np.random.default_rng(0)
    for _ in range(40):
        d = int(rng.integers(1, 7))
        w, x = rng.normal(size=d), rng.normal(size=d)
        y, eps, bias = float(rng.choice([-1.0, 1.0])), float(rng.uniform(0, 0.8)), float(rng.normal())
        delta = adversarial_perturbation(w, y, eps)
        assert np.abs(delta).max() <= eps + 1e-12
        at_delta = float(loss.g(-y * ((x + delta) @ w + bias)))
        closed = float(adversarial_loss(loss, w, x[None, :], np.array([y]), eps, bias)[0])
        brute = vertex_maximum(loss, w, x, y, eps, bias)
        assert closed == pytest.approx(at_delta, abs=1e-12)
        assert closed == pytest.approx(brute, abs=1e-12)


def test_random_perturbations_never_beat_eq7():
    loss = LOSSES["logistic"]
    rng = np.random.default_rng(1)
    w, x, y, eps = rng.normal(size=20), rng.normal(size=20), 1.0, 0.3
    closed = float(adversarial_loss(loss, w, x[None, :], np.array([y]), eps)[0])
    deltas = rng.uniform(-eps, eps, size=(5000, 20))
    assert (loss.g(-y * ((x + deltas) @ w)) <= closed + 1e-12).all()


@pytest.mark.parametrize("loss_name", ["logistic", "softplus_hinge"])
def test_eq9_gradient_matches_autograd(loss_name):
    loss = LOSSES[loss_name]
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(8, 5)), rng.choice([-1.0, 1.0], size=8)
    w, eps = rng.normal(size=5), 0.2
    wt = torch.tensor(w, requires_grad=True)
    shift = 0.0 if loss_name == "logistic" else 1.0
    z = eps * wt.abs().sum() - torch.tensor(y) * (torch.tensor(X) @ wt)
    torch.nn.functional.softplus(z + shift).sum().backward()
    np.testing.assert_allclose(adversarial_loss_gradient(loss, w, X, y, eps).sum(axis=0), wt.grad.numpy(), rtol=1e-10)


def test_perturbation_shapes():
    w = np.array([1.0, -2.0, 0.0])
    np.testing.assert_allclose(adversarial_perturbation(w, 1.0, 0.1), [-0.1, 0.1, 0.0])
    assert adversarial_perturbation(w, np.array([1.0, -1.0]), 0.1).shape == (2, 3)
