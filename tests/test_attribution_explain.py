"""explain / Explainer: completeness against every reference and output, types, shapes, targets, the caller's model, errors."""

import copy

import numpy as np
import pytest
import shap
import torch
from scipy.special import expit

from advex.attribution import Explainer, completeness_gaps, explain
from advex.attribution.closed_form import closed_form_ig
from advex.attribution.methods import METHODS
from advex.attribution.outputs import ClassOutput
from advex.attribution.references import train_sample
from advex.errors import AdvexError
from advex.models.cnn import MadryCNN
from advex.models.linear import LogisticRegression
from advex.vocabulary import OUTPUTS, REFERENCES


def small_cnn(seed: int = 0, scale: float = 8.0) -> MadryCNN:
    """A seeded MadryCNN with 32 hidden units whose logits are scaled so probabilities move far from 1/10."""
    torch.manual_seed(seed)
    model = MadryCNN(hidden=32)
    with torch.no_grad():
        model.fc2.weight.mul_(scale)
    return model.eval()


class SmoothCNN(torch.nn.Module):
    """conv -> softplus -> conv -> softplus -> fc: smooth, so IG's quadrature (eq. 13) converges fast."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv1, self.act1 = torch.nn.Conv2d(1, 8, 5, stride=2), torch.nn.Softplus()
        self.conv2, self.act2 = torch.nn.Conv2d(8, 16, 5, stride=2), torch.nn.Softplus()
        self.flatten, self.fc = torch.nn.Flatten(), torch.nn.Linear(16 * 4 * 4, 10)
        with torch.no_grad():
            self.conv1.weight.mul_(6.0)
            self.fc.weight.mul_(3.0)

    def forward(self, x):
        return self.fc(self.flatten(self.act2(self.conv2(self.act1(self.conv1(x))))))


def logistic(d: int = 6, seed: int = 0) -> LogisticRegression:
    torch.manual_seed(seed)
    model = LogisticRegression(d)
    with torch.no_grad():
        model.linear.weight.mul_(3.0)
    return model.eval()


IMAGES = torch.rand((3, 1, 28, 28), generator=torch.Generator().manual_seed(0))
X_TRAIN = torch.rand((40, 1, 28, 28), generator=torch.Generator().manual_seed(1)) ** 2


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("reference", REFERENCES)
def test_ig_completeness_against_every_reference(reference, output):
    """Eq. 13's completeness: sum_i IG_i = F(x) - F(u), averaged over the rows of train-sample (a smooth model, so
    the 50-point quadrature is exact to 1e-4; ReLU/max-pool kinks are checked in test_attribution_ig)."""
    model = SmoothCNN()
    y = model(IMAGES).argmax(dim=1)
    ig, delta = explain(model, IMAGES, y, "ig", reference, output, X_train=X_TRAIN, k=4, return_delta=True)
    gap, change = completeness_gaps(model, IMAGES, ig, y, reference=reference, output=output, X_train=X_TRAIN, k=4)
    assert change.abs().max() > (0.05 if output == "probability" else 0.2), "the check needs F to move"
    torch.testing.assert_close(gap, delta.abs(), atol=1e-6, rtol=0)
    assert (gap <= 1e-4 * change.abs() + 1e-6).all(), (gap, change)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("reference", REFERENCES)
def test_deep_shap_additivity_against_every_reference(reference, output):
    """DeepSHAP's summation-to-delta: sum_i phi_i = F(x) - mean_j F(u_j), exact up to float rounding."""
    model = small_cnn(seed=1)
    y = torch.tensor([0, 5, 9])
    values = explain(model, IMAGES, y, "deepshap", reference, output, X_train=X_TRAIN, k=5)
    gap, change = completeness_gaps(model, IMAGES, values, y, reference=reference, output=output, X_train=X_TRAIN, k=5)
    assert change.abs().min() > 1e-3
    assert (gap <= 1e-5 * (1 + change.abs())).all(), (gap, change)


@pytest.mark.parametrize("output", OUTPUTS)
def test_batched_deep_shap_equals_shaps_deep_explainer(output):
    """One pass over (input, reference) pairs of several classes gives shap's DeepExplainer values, reference by reference."""
    model = small_cnn(seed=2)
    y = torch.tensor([2, 8, 2])
    for name, background in (("black", torch.zeros(1, 1, 28, 28)), ("train-sample", None)):
        ours = explain(model, IMAGES, y, "deepshap", name, output, X_train=X_TRAIN, k=6)
        if background is None:
            background = train_sample(X_TRAIN, k=6, seed=0)
        for i in range(3):
            explainer = shap.DeepExplainer(ClassOutput(copy.deepcopy(model), output, int(y[i])), background)
            theirs = np.asarray(explainer.shap_values(IMAGES[i : i + 1], check_additivity=False)).reshape(1, 28, 28)
            np.testing.assert_allclose(ours[i].numpy(), theirs, atol=1e-7, rtol=1e-5)


def test_logistic_regression_attributions_are_lemma_4_1_and_w_times_delta():
    """Eq. 15 for the probability; for the logit z = <w, x> + b both IG and DeepSHAP are (x - u) * w exactly."""
    model = logistic()
    X = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    w = model.weight.numpy().astype(np.float64)
    for method in ("ig", "deepshap", "deeplift"):
        probability = explain(model, X, 1, method, "black", "probability", n_steps=64)
        np.testing.assert_allclose(probability, closed_form_ig(w, X, 0.0, expit, model.bias), atol=2e-6, rtol=1e-4)
        logit = explain(model, X, 1, method, "black", "logit")
        np.testing.assert_allclose(logit, X * w, atol=1e-5, rtol=1e-4)
        np.testing.assert_allclose(explain(model, X, 0, method, "black", "logit"), -X * w, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_numpy_in_numpy_out_and_a_single_example(method):
    model = small_cnn(seed=3)
    batch = explain(model, IMAGES.numpy(), 4, method, "black", n_steps=8, nt_samples=4, n_samples=4)
    assert isinstance(batch, np.ndarray) and batch.dtype == np.float32 and batch.shape == (3, 1, 28, 28)
    single = explain(model, IMAGES[1].numpy(), 4, method, "black", n_steps=8, nt_samples=4, n_samples=4)
    assert isinstance(single, np.ndarray) and single.shape == (1, 28, 28)
    if method not in ("smoothgrad", "gradient-shap"):  # random draws depend on the batch
        np.testing.assert_allclose(single, batch[1], atol=1e-6, rtol=1e-4)
    tensor = explain(model, IMAGES.double(), 4, method, "black", n_steps=8, nt_samples=4, n_samples=4)
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float64


def test_a_single_tabular_row_and_a_float64_model():
    model = logistic().double()
    x = torch.randn(6, dtype=torch.float64)
    for method in ("ig", "deepshap"):
        one = explain(model, x, 1, method)
        assert one.shape == (6,) and one.dtype == torch.float64
        torch.testing.assert_close(one, explain(model, x[None], 1, method)[0])


@pytest.mark.parametrize("method", ["ig", "deepshap"])
def test_every_target_type_gives_the_same_attributions(method):
    model = small_cnn(seed=4)
    X = IMAGES[:2]
    expected = explain(model, X, torch.tensor([6, 6]), method, n_steps=8)
    for target in (6, np.int8(6), np.int64(6), np.uint8(6), torch.tensor(6), torch.tensor([6], dtype=torch.int32), [6, 6],
                   np.array([6, 6], dtype=np.int16), torch.tensor([6, 6], dtype=torch.uint8)):
        torch.testing.assert_close(explain(model, X, target, method, n_steps=8), expected)
    predicted = model(X).argmax(dim=1)
    torch.testing.assert_close(explain(model, X, None, method, n_steps=8), explain(model, X, predicted, method, n_steps=8))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("training", [False, True])
def test_the_callers_model_and_inputs_are_left_unchanged(method, training):
    model = small_cnn(seed=5).train(training)
    state = copy.deepcopy(model.state_dict())
    X = IMAGES[:2].clone()
    explain(model, X, 1, method, "blur", n_steps=4, nt_samples=2, n_samples=2)
    assert model.training is training and all(m.training is training for m in model.modules())
    assert all(torch.equal(state[key], value) for key, value in model.state_dict().items())
    assert set(state) == set(model.state_dict())
    for module in model.modules():
        assert not (module._forward_hooks or module._forward_pre_hooks or module._backward_hooks or module._backward_pre_hooks)
        assert not any(hasattr(module, name) for name in ("x", "y", "input", "output"))
    assert all(p.requires_grad for p in model.parameters()) and all(p.grad is None for p in model.parameters())
    assert torch.equal(X, IMAGES[:2]) and not X.requires_grad


def test_random_methods_leave_the_global_generators_alone():
    model = small_cnn(seed=6)
    torch.manual_seed(11)
    np.random.seed(11)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = explain(model, IMAGES[:1], 2, "smoothgrad", nt_samples=3, seed=1)
    explain(model, IMAGES[:1], 2, "gradient-shap", n_samples=3, seed=1)
    assert torch.equal(torch.get_rng_state(), torch_state) and np.array_equal(np.random.get_state()[1], numpy_state)
    torch.testing.assert_close(first, explain(model, IMAGES[:1], 2, "smoothgrad", nt_samples=3, seed=1))


def test_explainer_draws_the_training_references_once_and_describes_itself():
    model = small_cnn(seed=7)
    explainer = Explainer(model, "deepshap", "train-sample", "logit", X_train=X_TRAIN.numpy(), k=3)
    first = explainer.attribute(IMAGES[:2], target=1)
    torch.testing.assert_close(first, explain(model, IMAGES[:2], 1, "deepshap", "train-sample", "logit", X_train=X_TRAIN, k=3))
    torch.testing.assert_close(explainer.attribute(IMAGES[:2], target=1), first)
    assert explainer.describe() == "DeepSHAP of the class logit, reference train-sample"
    assert Explainer(model, "saliency").describe() == "Saliency |gradient| of the class probability"


def test_bad_inputs_raise_one_clear_error():
    model = small_cnn()
    cases = [
        (dict(inputs=torch.rand(2, 3, 28, 28)), "inputs has shape"),
        (dict(inputs=torch.rand(28, 28)), "inputs has shape"),
        (dict(inputs=torch.full((1, 1, 28, 28), float("nan"))), "NaN"),
        (dict(inputs=np.array([["a"]])), "inputs must be"),
        (dict(method="lime"), "unknown attribution method 'lime'"),
        (dict(reference="grey"), "unknown reference 'grey'"),
        (dict(output="odds"), "unknown output 'odds'"),
        (dict(target=10), r"0\.\.9"),
        (dict(target=-1), r"0\.\.9"),
        (dict(target=[1, 2, 3]), "3 entries"),
        (dict(target=1.0), "integer class indices"),
        (dict(target=True), "boolean"),
        (dict(reference="train-sample"), "X_train="),
        (dict(reference="mean", X_train=torch.rand(5, 1, 14, 14)), "X_train has shape"),
        (dict(n_steps=0), "n_steps must be a positive integer"),
        (dict(k=2.5, reference="train-sample", X_train=X_TRAIN), "k must be a positive integer"),
    ]
    for overrides, message in cases:
        arguments = {"inputs": IMAGES[:2], "target": None, "method": "ig", "reference": "black", "output": "probability", **overrides}
        with pytest.raises(AdvexError, match=message):
            explain(model, arguments.pop("inputs"), arguments.pop("target"), **arguments)
    with pytest.raises(AdvexError, match="needs images"):
        explain(logistic(), torch.randn(2, 6), 1, "ig", "blur")
    with pytest.raises(AdvexError, match="needs images"):
        explain(logistic(), torch.randn(2, 6), 1, "deepshap", "uniform")
    with pytest.raises(AdvexError, match="nn.Module"):
        explain(lambda x: x, IMAGES)
    with pytest.raises(AdvexError, match="no completeness"):
        explain(model, IMAGES[:1], 1, "saliency", return_delta=True)


def test_every_method_works_under_no_grad():
    model = small_cnn(seed=13)
    for method in METHODS:
        expected = explain(model, IMAGES[:1], 2, method, n_steps=4, nt_samples=2, n_samples=2)
        with torch.no_grad():
            torch.testing.assert_close(explain(model, IMAGES[:1], 2, method, n_steps=4, nt_samples=2, n_samples=2), expected)


def test_tabular_references_give_lemma_4_1_averaged_over_the_reference_rows():
    """On F = sigmoid(<w, x> + b), IG and DeepSHAP against each reference row u are eq. 15; a set averages them."""
    model = logistic(d=5, seed=2)
    w, b = model.weight.numpy().astype(np.float64), model.bias
    rng = np.random.default_rng(3)
    X, X_train = rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=(30, 5)).astype(np.float32)
    rows = {"mean": X_train.astype(np.float64).mean(axis=0, keepdims=True),
            "train-sample": X_train[np.sort(np.random.default_rng(0).permutation(30)[:6])].astype(np.float64)}
    for reference, baselines in rows.items():
        expected = np.mean([closed_form_ig(w, X, u, expit, b) for u in baselines], axis=0)
        for method in ("ig", "deepshap"):
            got = explain(model, X, 1, method, reference, X_train=X_train, k=6, n_steps=64)
            np.testing.assert_allclose(got, expected, atol=2e-6, rtol=1e-4)


@pytest.mark.parametrize("reference", ["blur", "uniform"])
def test_per_input_references_do_not_depend_on_the_batch(reference):
    model = small_cnn(seed=14)
    for method in ("ig", "deepshap"):
        batch = explain(model, IMAGES, 5, method, reference, n_steps=8)
        torch.testing.assert_close(explain(model, IMAGES[2], 5, method, reference, n_steps=8), batch[2], atol=1e-7, rtol=1e-5)
