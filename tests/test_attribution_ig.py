"""Integrated Gradients (eq. 13) via captum: closed form on 1-layer models (eq. 15), completeness, targets."""

import numpy as np
import pytest
import torch
from conftest import confident_cnn
from scipy.special import expit

from advex.attribution.closed_form import closed_form_ig
from advex.attribution.integrated_gradients import class_probability, completeness_gap, integrated_gradients
from advex.attribution.outputs import ProbabilityOutput
from advex.errors import AdvexError
from advex.models.linear import LogisticRegression


def _logistic(d=6, seed=0):
    torch.manual_seed(seed)
    model = LogisticRegression(d)
    with torch.no_grad():
        model.linear.weight.mul_(4.0)
    return model


def test_probability_output_binary_and_multiclass():
    logistic = _logistic()
    x = torch.randn(5, 6, dtype=torch.float32)
    probs = ProbabilityOutput(logistic)(x)
    p = torch.sigmoid(logistic(x))
    assert torch.allclose(probs, torch.stack([1 - p, p], dim=1))
    cnn = confident_cnn()
    images = torch.rand(3, 1, 28, 28)
    assert torch.allclose(ProbabilityOutput(cnn)(images), torch.softmax(cnn(images), dim=1))


@pytest.mark.parametrize("target", [1, 0])
def test_ig_of_logistic_equals_lemma_4_1(target):
    model = _logistic()
    x = torch.randn(8, 6)
    baseline = torch.randn(6) * 0.5
    ig = integrated_gradients(model, x, target, baseline=baseline, n_steps=64).numpy()
    sign = 1.0 if target == 1 else -1.0  # P(class 0) = 1 - sigmoid(z): IG of a constant minus F is -IG of F
    expected = sign * closed_form_ig(model.weight.numpy(), x.numpy(), baseline.numpy(), expit, model.bias)
    np.testing.assert_allclose(ig, expected, atol=2e-6, rtol=1e-4)


def test_ig_of_logistic_matches_independent_quadrature_of_eq_13():
    """Eq. 13 by a 20,000-point midpoint rule of the analytic gradient sigmoid'(z) w, independent of captum."""
    model = _logistic(seed=3)
    w, b = model.weight.numpy().astype(np.float64), model.bias
    x = np.random.default_rng(1).normal(size=(4, 6))
    alphas = (np.arange(20_000) + 0.5) / 20_000
    z = (alphas[:, None, None] * x[None]) @ w + b  # baseline 0
    mean_slope = (expit(z) * (1 - expit(z))).mean(axis=0)
    expected = x * w[None, :] * mean_slope[:, None]
    ig = integrated_gradients(model, torch.tensor(x, dtype=torch.float32), 1).numpy()
    np.testing.assert_allclose(ig, expected, atol=2e-6, rtol=1e-4)


def test_ig_completeness_on_cnn_within_one_percent():
    model = confident_cnn()
    torch.manual_seed(1)
    x = torch.rand(6, 1, 28, 28)
    y = model(x).argmax(dim=1)
    ig, delta = integrated_gradients(model, x, y, return_convergence_delta=True)
    assert ig.shape == x.shape
    change = class_probability(model, x, y) - class_probability(model, torch.zeros_like(x), y)
    assert change.abs().min() > 0.1, "the test model must move the probabilities for the check to mean anything"
    gap = completeness_gap(model, x, ig, y, 0.0)
    assert torch.all(gap <= 0.01 * change.abs()), (gap, change)
    assert torch.allclose(gap, delta.abs().float(), atol=1e-5)


def test_ig_explains_only_the_given_class_per_example():
    model = confident_cnn(seed=2)
    x = torch.rand(3, 1, 28, 28)
    y = torch.tensor([7, 2, 7])
    batch = integrated_gradients(model, x, y)
    for i in range(3):
        single = integrated_gradients(model, x[i : i + 1], int(y[i]))
        torch.testing.assert_close(batch[i : i + 1], single, atol=1e-6, rtol=1e-4)
    other = integrated_gradients(model, x[:1], 3)
    assert not torch.allclose(other, batch[:1], atol=1e-6)


def test_ig_rejects_a_target_of_the_wrong_length():
    with pytest.raises(AdvexError, match="one class per example"):
        integrated_gradients(_logistic(), torch.randn(3, 6), torch.tensor([1, 0]))


def test_lower_level_functions_take_numpy_single_examples_and_any_target_type():
    model = confident_cnn(seed=4)
    x = torch.rand(2, 1, 28, 28)
    expected = integrated_gradients(model, x, torch.tensor([5, 5]), n_steps=16)
    single = integrated_gradients(model, x[1].numpy(), np.int64(5), n_steps=16)
    assert isinstance(single, np.ndarray) and single.dtype == np.float32 and single.shape == (1, 28, 28)
    np.testing.assert_allclose(single, expected[1].numpy(), atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(integrated_gradients(model, x, 5, n_steps=16, internal_batch_size=7), expected)
    probability = class_probability(model, x.numpy(), torch.tensor(5))
    assert isinstance(probability, np.ndarray) and probability.shape == (2,)
    np.testing.assert_allclose(probability, torch.softmax(model(x), 1)[:, 5].detach().numpy(), rtol=1e-5)
    gap = completeness_gap(model, x[0].numpy(), expected[0].numpy(), 5)
    assert isinstance(gap, np.ndarray) and gap.shape == ()
    w = np.array([1.0, -2.0, 0.5])
    closed = closed_form_ig(torch.tensor(w), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(closed, torch.from_numpy(closed_form_ig(w, np.ones(3))))


def test_integrated_gradients_leaves_a_training_model_in_training_mode():
    model = confident_cnn(seed=5).train()
    integrated_gradients(model, torch.rand(1, 1, 28, 28), 0, n_steps=4)
    class_probability(model, torch.rand(1, 1, 28, 28), 0)
    assert model.training and all(module.training for module in model.modules())


def test_closed_form_rejects_mismatched_shapes_and_nan():
    with pytest.raises(AdvexError, match="w has 3 entries"):
        closed_form_ig(np.ones(3), np.ones((2, 4)))
    with pytest.raises(AdvexError, match="NaN"):
        closed_form_ig(np.ones(3), np.array([1.0, np.nan, 0.0]))
    with pytest.raises(AdvexError, match="baseline"):
        closed_form_ig(np.ones(3), np.ones((2, 3)), baseline=np.ones(2))
