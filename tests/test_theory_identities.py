"""Lemma 4.1 (closed-form IG, eq. 15) and Theorem 5.1 (stable IG = adversarial loss, eq. 18), and their failures."""

import numpy as np
import pytest
import torch

from advex.losses import LOSSES
from advex.theory import checks
from advex.theory.ig_identity import ACTIVATIONS, compare_ig, loss_activation, numerical_ig, random_ig_problem
from advex.theory.stable_ig import box_vertices, check_stable_ig, ig_l1_norm


def test_lemma_41_check_passes():
    result = checks.check_lemma41(np.random.default_rng(0), n_points=5)
    assert result.passed, result


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_closed_form_ig_equals_numerical_ig(name):
    w, X, U = random_ig_problem(8, 10, np.random.default_rng(1), scale=2.0)
    comparison = compare_ig(w, X, U, ACTIVATIONS[name])
    assert comparison.max_rel_error < 1e-6
    f = ACTIVATIONS[name].numpy  # completeness: sum_i IG_i = F(x) - F(u)
    assert np.allclose(comparison.numerical.sum(-1), f(X @ w) - f(U @ w), atol=1e-7)


def test_numerical_ig_detects_a_wrong_closed_form():
    """A tampered 'closed form' (dropping the (x - u) factor of eq. 15) is far from the numerical IG."""
    w, X, U = random_ig_problem(5, 4, np.random.default_rng(2))
    activation = ACTIVATIONS["sigmoid"]
    numerical = numerical_ig(w, X, U, activation)
    f = activation.numpy
    wrong = (f(X @ w) - f(U @ w))[:, None] * w / ((X - U) @ w)[:, None]
    assert np.max(np.abs(wrong - numerical)) > 1e-2


def test_non_differentiable_activation_is_refused():
    with pytest.raises(ValueError, match="differentiable"):
        loss_activation("hinge", 1.0)


@pytest.mark.parametrize("loss", LOSSES.values(), ids=list(LOSSES))
def test_theorem_51_check_passes(loss):
    result = checks.check_theorem51(loss, np.random.default_rng(3), n_points=4)
    assert result.passed, result


@pytest.mark.parametrize("loss", LOSSES.values(), ids=list(LOSSES))
def test_search_finds_the_proof_maximizer_value(loss):
    """The searched max of ||IG||_1 equals g(z + eps||w||_1) - g(z) (App. G), not assumed by the search."""
    rng = np.random.default_rng(4)
    w, x, y, eps = rng.normal(size=6), rng.normal(size=6), -1.0, 0.4
    r = check_stable_ig(loss, w, x, y, eps, rng)
    z = -y * (x @ w)
    assert r.max_ig_norm == pytest.approx(loss.g(z + eps * np.abs(w).sum()) - loss.g(z), abs=1e-9)
    assert r.adversarial_loss == pytest.approx(r.adversarial_loss_formula, abs=1e-12)
    assert ig_l1_norm(loss, w, x, y, (-y * np.sign(w) * eps)[None, :])[0] == pytest.approx(r.max_ig_norm, abs=1e-9)


def test_gradient_ascent_never_beats_the_vertex_maximum():
    """Ascent from interior starts climbs (other vertices are local maxima) but never beats the vertex max."""
    rng = np.random.default_rng(5)
    for _ in range(5):
        w, x = rng.normal(size=8), rng.normal(size=8)
        r = check_stable_ig(LOSSES["logistic"], w, x, 1.0, 0.3, rng)
        assert 0.5 * r.max_ig_norm <= r.ascent_max <= r.max_ig_norm + 1e-12


def test_non_convex_loss_breaks_theorem_51():
    """Outside LOSS-CVX (g = sigmoid, not convex) the searched left side exceeds the adversarial loss."""
    result = checks.control_nonconvex_loss(np.random.default_rng(6))
    assert result.passed and result.value > 1e-3, result
    rng = np.random.default_rng(7)
    r = check_stable_ig(checks.SIGMOID_LOSS, 2 * rng.normal(size=3), rng.normal(size=3), 1.0, 1.0, rng, g_torch=torch.sigmoid)
    assert r.difference > 1e-3


def test_box_vertices_and_input_checks():
    vertices = box_vertices(3, 0.5)
    assert vertices.shape == (8, 3) and np.all(np.abs(vertices) == 0.5) and len(np.unique(vertices, axis=0)) == 8
    rng = np.random.default_rng(8)
    with pytest.raises(ValueError, match="d <= 12"):
        check_stable_ig(LOSSES["hinge"], np.ones(13), np.ones(13), 1.0, 0.1, rng)
    with pytest.raises(ValueError, match="y must be"):
        check_stable_ig(LOSSES["hinge"], np.ones(2), np.ones(2), 0.0, 0.1, rng)
    with pytest.raises(ValueError, match="eps"):
        check_stable_ig(LOSSES["hinge"], np.ones(2), np.ones(2), 1.0, 0.0, rng)
