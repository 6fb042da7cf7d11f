"""DeepSHAP via shap's DeepExplainer: closed form on logistic models, additivity, true class only."""

import numpy as np
import pytest
import torch
from conftest import confident_cnn
from scipy.special import expit
from torch import nn

from advex.attribution.closed_form import closed_form_ig
from advex.attribution.deep_shap import deep_shap, expected_value
from advex.attribution.integrated_gradients import class_probability
from advex.attribution.outputs import ClassProbability
from advex.attribution.references import train_sample
from advex.errors import AdvexError
from advex.models.linear import LogisticRegression


class LinearSoftmaxModel(nn.Module):
    """Multiclass logits z = W x + b (a 1-layer multiclass network)."""

    def __init__(self, weight, bias):
        super().__init__()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(torch.as_tensor(weight))
            self.linear.bias.copy_(torch.as_tensor(bias))

    def forward(self, x):
        return self.linear(x)


@pytest.mark.parametrize("target", [1, 0])
def test_deep_shap_of_logistic_with_one_reference_equals_lemma_4_1(target):
    """DeepLIFT's rescale rule on sigmoid(<w, x> + b) gives eq. 15 with u = the single background row."""
    torch.manual_seed(0)
    model = LogisticRegression(7)
    with torch.no_grad():
        model.linear.weight.mul_(3.0)
    x = torch.randn(5, 7)
    reference = torch.randn(1, 7)
    shap_values = deep_shap(model, x, target, reference).numpy()
    sign = 1.0 if target == 1 else -1.0
    expected = sign * closed_form_ig(model.weight.numpy(), x.numpy(), reference.numpy()[0], expit, model.bias)
    np.testing.assert_allclose(shap_values, expected, atol=1e-6, rtol=1e-4)


def test_class_probability_is_the_softmax_entry():
    model = confident_cnn()
    x = torch.rand(4, 1, 28, 28)
    for k in (0, 6):
        torch.testing.assert_close(ClassProbability(model, k)(x)[:, 0], torch.softmax(model(x), dim=1)[:, k])


def test_deep_shap_of_linear_softmax_matches_hand_derived_deeplift():
    """p_k = 1 / sum_j exp(z_j - z_k): DeepLIFT rescale multipliers worked out by hand in numpy."""
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(4, 5)), rng.normal(size=4)
    x, r = rng.normal(size=(3, 5)), rng.normal(size=(1, 5))
    k = 2
    model = LinearSoftmaxModel(W.astype(np.float32), b.astype(np.float32))
    got = deep_shap(model, torch.tensor(x, dtype=torch.float32), k, torch.tensor(r, dtype=torch.float32)).numpy()

    def gaps(v):
        z = v @ W.T + b
        return z - z[:, [k]]

    g_x, g_r = gaps(x), gaps(r)
    exp_multiplier = np.where(np.abs(g_x - g_r) > 1e-6, (np.exp(g_x) - np.exp(g_r)) / (g_x - g_r + 1e-300), np.exp(g_x))
    s_x, s_r = np.exp(g_x).sum(1), np.exp(g_r).sum(1)
    reciprocal_multiplier = (1 / s_x - 1 / s_r) / (s_x - s_r)
    gap_weights = W - W[k]  # d(z_j - z_k)/dx
    expected = reciprocal_multiplier[:, None] * (exp_multiplier @ gap_weights) * (x - r)
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=1e-3)


def test_deep_shap_credits_features_acting_through_other_logits():
    """A feature that only raises a rival logit lowers p_k: it must get negative credit for class k."""
    W = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)  # feature 1 feeds only logit 1
    model = LinearSoftmaxModel(W, np.zeros(2, dtype=np.float32))
    values = deep_shap(model, torch.tensor([[0.5, 1.0]]), 0, torch.zeros(1, 2))
    assert values[0, 1] < -0.01
    torch.testing.assert_close(
        values.sum(), torch.softmax(model(torch.tensor([[0.5, 1.0]])), 1)[0, 0] - 0.5, atol=1e-6, rtol=0
    )


def test_deep_shap_additivity_for_the_true_class_on_cnn():
    model = confident_cnn(seed=1)
    torch.manual_seed(2)
    background = train_sample(0.2 * torch.rand(40, 1, 28, 28), k=20)
    x = torch.rand(4, 1, 28, 28)
    y = model(x).argmax(dim=1)
    values = deep_shap(model, x, y, background)
    assert values.shape == x.shape  # one map per image: the true class only, not ten
    reference = torch.tensor([expected_value(model, background, int(k)) for k in y])
    output_change = class_probability(model, x, y) - reference
    assert output_change.abs().max() > 0.05
    torch.testing.assert_close(values.reshape(4, -1).sum(1), output_change, atol=1e-4, rtol=0)


def test_deep_shap_explains_only_the_given_class_per_example():
    model = confident_cnn(seed=3)
    background = torch.rand(5, 1, 28, 28)
    x = torch.rand(3, 1, 28, 28)
    y = torch.tensor([4, 9, 4])
    batch = deep_shap(model, x, y, background)
    for i in range(3):
        torch.testing.assert_close(batch[i : i + 1], deep_shap(model, x[i : i + 1], int(y[i]), background))
    assert not torch.allclose(deep_shap(model, x[:1], 0, background), batch[:1])


def test_default_background_is_seeded_and_without_replacement():
    data = torch.arange(50, dtype=torch.float32).reshape(50, 1)
    first = train_sample(data, k=10, seed=4)
    assert torch.equal(first, train_sample(data, k=10, seed=4))
    assert not torch.equal(first, train_sample(data, k=10, seed=5))
    assert len(set(first[:, 0].tolist())) == 10
    assert len(train_sample(data, k=500)) == 50


def test_deep_shap_rejects_bad_targets():
    model = LogisticRegression(3)
    with pytest.raises(AdvexError, match="0..1"):
        deep_shap(model, torch.randn(2, 3), torch.tensor([0, 2]), torch.zeros(1, 3))
    with pytest.raises(AdvexError, match="entries"):
        deep_shap(model, torch.randn(2, 3), torch.tensor([0, 1, 0]), torch.zeros(1, 3))


def test_deep_shap_leaves_the_model_untouched_and_works_under_no_grad():
    model = confident_cnn(seed=5)
    x, background = torch.rand(2, 1, 28, 28), torch.rand(3, 1, 28, 28)
    expected = deep_shap(model, x, 1, background)
    with torch.no_grad():
        torch.testing.assert_close(deep_shap(model, x, 1, background), expected)
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    assert not any(hasattr(m, "x") or hasattr(m, "y") for m in model.modules())


def test_deep_shap_takes_numpy_a_single_example_and_explains_the_logit():
    model = confident_cnn(seed=6)
    x, background = torch.rand(2, 1, 28, 28), torch.rand(4, 1, 28, 28)
    batch = deep_shap(model, x, 3, background, output="logit")
    single = deep_shap(model, x[0].numpy(), np.int32(3), background.numpy(), output="logit")
    assert isinstance(single, np.ndarray) and single.dtype == np.float32 and single.shape == (1, 28, 28)
    np.testing.assert_allclose(single, batch[0].numpy(), atol=1e-7, rtol=1e-5)
    logit_change = (model(x)[:, 3] - model(background)[:, 3].mean()).detach()
    torch.testing.assert_close(batch.reshape(2, -1).sum(1), logit_change, atol=1e-4, rtol=1e-5)
    assert expected_value(model, background, 3, output="logit") == pytest.approx(float(model(background)[:, 3].mean().detach()), rel=1e-6)
