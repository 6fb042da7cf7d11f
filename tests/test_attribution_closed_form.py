"""Lemma 4.1 (eq. 15): the closed-form IG of a 1-layer network equals captum's IG, and completeness holds."""

import numpy as np
import pytest
import torch
from scipy.special import expit

from advex.attribution.closed_form import closed_form_ig
from advex.attribution.integrated_gradients import integrated_gradients
from advex.models.linear import LogisticRegression


def make_model(w, b):
    model = LogisticRegression(len(w))
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor(w, dtype=torch.float32)[None])
        model.linear.bias.fill_(b)
    return model.eval()


def test_closed_form_equals_captum_ig():
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=12).astype(np.float32), 0.3
    X = rng.normal(size=(25, 12)).astype(np.float32)
    baseline = rng.normal(size=12).astype(np.float32) * 0.1
    captum = integrated_gradients(make_model(w, b), torch.tensor(X), target=1, baseline=torch.tensor(baseline), n_steps=64)
    closed = closed_form_ig(w.astype(np.float64), X, baseline, bias=b)
    np.testing.assert_allclose(captum.double().numpy(), closed, atol=1e-5)


def test_completeness_sum_equals_output_change():
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=30), -0.7
    X = rng.normal(size=(10, 30))
    ig = closed_form_ig(w, X, 0.0, bias=b)
    np.testing.assert_allclose(ig.sum(axis=1), expit(X @ w + b) - expit(b), atol=1e-12)


def test_sparse_weights_give_sparse_ig():
    w = np.array([0.0, 2.0, 0.0, -1.0])
    ig = closed_form_ig(w, np.ones(4))
    assert ig[0] == 0.0 and ig[2] == 0.0 and ig[1] != 0.0


def test_degenerate_direction_uses_the_limit():
    w = np.array([1.0, -1.0])
    x = np.array([2.0, 2.0])  # <x - u, w> = 0
    ig = closed_form_ig(w, x, 0.0)
    slope = expit(0.0) * (1 - expit(0.0))
    np.testing.assert_allclose(ig, slope * x * w, rtol=1e-6)
    assert ig.sum() == pytest.approx(0.0, abs=1e-9)
