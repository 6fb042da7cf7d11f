"""Explainers beyond the paper (via captum): each one's defining property, checked against a hand computation."""

import numpy as np
import pytest
import torch
from captum.attr import DeepLift
from test_attribution_explain import IMAGES, X_TRAIN, SmoothCNN, small_cnn

from advex.attribution import METHOD_LABELS, METHODS, PAPER_METHODS, completeness_gaps, explain
from advex.attribution.gradient_methods import deeplift
from advex.attribution.methods import USES_REFERENCE, uses_reference
from advex.attribution.outputs import ClassOutput
from advex.attribution.references import Reference
from advex.vocabulary import OUTPUTS, REFERENCES


def hand_gradient(model, X, targets, output):
    """dF/dx by plain autograd, F = softmax probability or logit of each row's class (no captum, no advex modules)."""
    X = X.clone().requires_grad_()
    logits = model(X)
    scores = torch.softmax(logits, dim=1) if output == "probability" else logits
    (grad,) = torch.autograd.grad(scores.gather(1, targets[:, None]).sum(), X)
    return grad


class Recorder(torch.nn.Module):
    """The wrapped model, keeping a copy of every batch it is called on."""

    def __init__(self, model):
        super().__init__()
        self.model, self.batches = model, []

    def forward(self, x):
        self.batches.append(x.detach().clone())
        return self.model(x)


@pytest.mark.parametrize("output", OUTPUTS)
def test_saliency_is_the_absolute_gradient_and_input_x_gradient_is_x_times_it(output):
    model = small_cnn(seed=8)
    y = torch.tensor([1, 4, 9])
    grad = hand_gradient(model, IMAGES, y, output)
    torch.testing.assert_close(explain(model, IMAGES, y, "saliency", output=output), grad.abs(), atol=1e-7, rtol=1e-5)
    torch.testing.assert_close(explain(model, IMAGES, y, "input-x-gradient", output=output), IMAGES * grad, atol=1e-7, rtol=1e-5)


def test_smoothgrad_is_the_mean_gradient_over_the_noisy_copies_and_seeded():
    recorder = Recorder(small_cnn(seed=9)).eval()
    y = torch.tensor([3, 5])
    smooth = explain(recorder, IMAGES[:2], y, "smoothgrad", nt_samples=6, stdev=0.2, seed=4)
    noisy = [batch for batch in recorder.batches if len(batch) == 12]
    assert len(noisy) == 1, "one forward pass over the 2 x 6 noisy copies"
    copies = noisy[0]
    assert (copies - IMAGES[:2].repeat_interleave(6, dim=0)).std() == pytest.approx(0.2, rel=0.05)
    expected = hand_gradient(recorder.model, copies, y.repeat_interleave(6), "probability").reshape(2, 6, 1, 28, 28).mean(dim=1)
    torch.testing.assert_close(smooth, expected, atol=1e-7, rtol=1e-5)
    torch.testing.assert_close(explain(recorder, IMAGES[:2], y, "smoothgrad", nt_samples=6, stdev=0.2, seed=4), smooth)
    assert not torch.allclose(explain(recorder, IMAGES[:2], y, "smoothgrad", nt_samples=6, stdev=0.2, seed=5), smooth)


def test_smoothgrad_without_noise_is_its_base_map():
    model = small_cnn(seed=10)
    y = torch.tensor([0, 2])
    grad = hand_gradient(model, IMAGES[:2], y, "logit")
    torch.testing.assert_close(explain(model, IMAGES[:2], y, "smoothgrad", output="logit", nt_samples=3, stdev=0.0), grad)
    ig = explain(model, IMAGES[:2], y, "ig", "blur", n_steps=16)
    smooth_ig = explain(model, IMAGES[:2], y, "smoothgrad", "blur", smoothgrad_base="ig", n_steps=16, nt_samples=2, stdev=0.0)
    torch.testing.assert_close(smooth_ig, ig, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("reference", ["black", "train-sample", "blur"])
def test_gradient_shap_is_complete_in_expectation(reference):
    """E over u and a ~ U[0, 1] of (x - u) . dF(u + a(x - u)) = F(x) - mean F(u): over 16 seeded runs the mean sum
    lies within 4 standard errors of the change, and that error is small against the change."""
    model = SmoothCNN()
    X, X_train = IMAGES[:2], X_TRAIN[:8]  # k = all 8 rows: the same reference set whatever the seed of the draws
    y = model(X).argmax(dim=1)
    sums = torch.stack([
        explain(model, X, y, "gradient-shap", reference, "logit", X_train=X_train, k=8, n_samples=100, seed=seed).reshape(2, -1).sum(1)
        for seed in range(16)
    ])
    _, change = completeness_gaps(model, X, torch.zeros_like(X), y, reference=reference, output="logit", X_train=X_train, k=8)
    standard_error = sums.std(dim=0) / 4
    assert ((sums.mean(dim=0) - change).abs() <= 4 * standard_error).all(), (sums.mean(0), change, standard_error)
    assert (4 * standard_error < 0.5 * change.abs()).all(), (standard_error, change)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("reference", REFERENCES)
def test_deeplift_sums_to_delta_and_equals_shaps_rules(reference, output):
    """captum's DeepLIFT rules on module hooks: sum = F(x) - mean F(u) on a ReLU -> max-pool network, = DeepSHAP."""
    model = small_cnn(seed=11)
    y = torch.tensor([7, 0, 3])
    values = explain(model, IMAGES, y, "deeplift", reference, output, X_train=X_TRAIN, k=3)
    gap, change = completeness_gaps(model, IMAGES, values, y, reference=reference, output=output, X_train=X_TRAIN, k=3)
    assert (gap <= 1e-5 * (1 + change.abs())).all(), (gap, change)
    shap_rules = explain(model, IMAGES, y, "deepshap", reference, output, X_train=X_TRAIN, k=3)
    torch.testing.assert_close(values, shap_rules, atol=1e-7, rtol=1e-4)


def test_deeplift_equals_captums_own_where_no_non_linearity_feeds_another():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10)).eval()
    baseline = torch.rand_like(IMAGES)
    y = torch.tensor([1, 2, 3])
    with pytest.warns(UserWarning):  # captum on the raw logits, with its own tensor hooks
        expected = DeepLift(model).attribute(IMAGES, baselines=baseline, target=y)
    ours = deeplift(ClassOutput(model, "logit"), IMAGES, y, Reference("own", baseline, per_input=True))
    torch.testing.assert_close(ours, expected, atol=1e-7, rtol=1e-5)


def test_method_names_and_labels_live_in_one_place():
    assert METHODS == ("ig", "deepshap", "saliency", "input-x-gradient", "smoothgrad", "gradient-shap", "deeplift")
    assert set(METHOD_LABELS) == set(METHODS) and set(PAPER_METHODS) <= set(METHODS)
    assert USES_REFERENCE <= set(METHODS)
    assert uses_reference("smoothgrad", "ig") and not uses_reference("smoothgrad") and not uses_reference("saliency")


def test_methods_without_a_reference_ignore_it_and_need_no_training_data():
    model = small_cnn(seed=12)
    for method in ("saliency", "input-x-gradient", "smoothgrad"):
        black = explain(model, IMAGES[:1], 1, method, "black", nt_samples=2)
        np.testing.assert_array_equal(black, explain(model, IMAGES[:1], 1, method, "train-sample", nt_samples=2))
