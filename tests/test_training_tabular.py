"""The tabular trainer: determinism, eq. 9 gradients, Adam and FTRL steps, warm-up, l1 scope, Keras' clipped
loss, Theorem 3.1's pruning, and the scikit-learn estimator contract."""

import math

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

from advex.data.synthetic import make_synthetic
from advex.errors import AdvexError
from advex.training.tabular import ADAM_EPSILON, Ftrl, LogisticTrainer, keras_bce_g_prime
from advex.vocabulary import Setting


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic(n_samples=3000, n_strong=4, n_weak=16, strong=0.8, weak=0.05, seed=3)


def test_same_seed_same_weights_different_seed_different(synthetic):
    a = LogisticTrainer("adv", 0.1, seed=5).fit(synthetic.X_train, synthetic.y_train)
    b = LogisticTrainer("adv", 0.1, seed=5).fit(synthetic.X_train, synthetic.y_train)
    c = LogisticTrainer("adv", 0.1, seed=6).fit(synthetic.X_train, synthetic.y_train)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, c.coef_)


def test_one_adam_step_follows_autograd_of_eq8():
    """One full-batch step from the seeded init equals torch Adam on g(eps||w||_1 - y(<w,x> + b)) (eq. 8)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 4))
    y = (rng.random(16) > 0.5).astype(int)
    trainer = LogisticTrainer("adv", 0.2, epochs=1, batch_size=16, seed=0).fit(X, y)
    init = np.random.default_rng(0).uniform(-0.5, 0.5, size=4)  # same draw as the trainer's first
    w = torch.tensor(init, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    # Keras adds eps to sqrt(v); torch to sqrt(v / (1 - beta2^t)): after one step that is eps / sqrt(1 - beta2)
    optimizer = torch.optim.Adam([w, b], lr=0.01, eps=ADAM_EPSILON / math.sqrt(1 - 0.999))
    signs = torch.tensor(2.0 * y - 1.0)
    margin = 0.2 * w.abs().sum() - signs * (torch.tensor(X) @ w + b)
    torch.nn.functional.softplus(margin).mean().backward()
    optimizer.step()
    np.testing.assert_allclose(trainer.coef_, w.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert trainer.intercept_ == pytest.approx(float(b.detach()))


def test_ftrl_step_by_hand():
    """TF's FTRL-proximal (l1 = l2 = 0, lr_power -0.5, accumulator 0.1), two steps worked out by hand."""
    ftrl = Ftrl(2, learning_rate=0.01)
    theta = ftrl.step(np.array([0.3, -0.2]), np.array([0.5, -1.0]))
    # n = 0.1 + g^2 = (0.35, 1.1); sigma = (sqrt(n) - sqrt(0.1)) / 0.01 = (27.53802, 73.25811)
    # z = g - sigma w = (0.5 - 8.26141, -1 + 14.65162) = (-7.76141, 13.65162); w = -0.01 z / sqrt(n)
    np.testing.assert_allclose(theta, [0.131192, -0.130163], atol=2e-6)
    theta = ftrl.step(theta, np.array([0.1, 0.0]))
    # n = (0.36, 1.1); sigma_1 = (0.6 - 0.591608) / 0.01 = 0.839202; z_1 = -7.76141 + 0.1 - 0.839202 * 0.131192
    # = -7.77150, w_1 = 0.0777150 / 0.6; coordinate 2: g = 0 leaves n and z, so w stays -0.130163
    np.testing.assert_allclose(theta, [0.129525, -0.130163], atol=2e-6)


def test_trainer_applies_ftrl_to_the_eq9_gradient():
    """One full-batch FTRL step from the N(0, 0.05^2) init, computed here in plain Python."""
    X = np.array([[1.0, -2.0], [0.5, 1.0], [-1.0, 0.0]])
    y = np.array([1, 0, 1])
    trainer = LogisticTrainer("adv", 0.1, optimizer="ftrl", init="normal", epochs=1, batch_size=3, seed=4).fit(X, y)
    w1, w2, b = np.random.default_rng(4).normal(0.0, 0.05, size=3)
    grad = [0.0, 0.0, 0.0]
    for (x1, x2), label in zip(X, y):
        s = 1.0 if label == 1 else -1.0
        z = 0.1 * (abs(w1) + abs(w2)) - s * (w1 * x1 + w2 * x2 + b)
        gp = 1.0 / (1.0 + math.exp(-z))
        grad[0] += -gp * (s * x1 - 0.1 * math.copysign(1.0, w1)) / 3
        grad[1] += -gp * (s * x2 - 0.1 * math.copysign(1.0, w2)) / 3
        grad[2] += -gp * s / 3
    expected = []
    for value, g in zip((w1, w2, b), grad):
        n = 0.1 + g * g
        z = g - (math.sqrt(n) - math.sqrt(0.1)) / 0.01 * value
        expected.append(-0.01 * z / math.sqrt(n))
    np.testing.assert_allclose([*trainer.coef_, trainer.intercept_], expected, rtol=1e-10)


def test_warm_up_epochs_are_clean(synthetic):
    """clean_epochs first epochs use eps = 0: two warm-up epochs of an a-model are two epochs of an n-model."""
    warm = LogisticTrainer("adv", 0.3, clean_epochs=2, epochs=2, seed=1).fit(synthetic.X_train, synthetic.y_train)
    natural = LogisticTrainer("natural", epochs=2, seed=1).fit(synthetic.X_train, synthetic.y_train)
    np.testing.assert_array_equal(warm.coef_, natural.coef_)
    longer = LogisticTrainer("adv", 0.3, clean_epochs=2, epochs=4, seed=1).fit(synthetic.X_train, synthetic.y_train)
    assert [h["eps"] for h in longer.history_] == [0.0, 0.0, 0.3, 0.3]


def test_l1_acts_on_the_kernel_only():
    """Features all zero and 80% positive labels: with l1 on the kernel the bias still learns logit(0.8); with l1
    on kernel and bias it stops where sigma(b) - 0.8 + lam = 0 (lam = 0.3: b = logit(0.5) = 0)."""
    X = np.zeros((500, 3))
    y = (np.arange(500) % 5 != 0).astype(int)
    kernel = LogisticTrainer("l1", lam=0.3, epochs=40, seed=0).fit(X, y)
    both = LogisticTrainer("l1", lam=0.3, epochs=40, l1_scope="all", seed=0).fit(X, y)
    assert kernel.intercept_ == pytest.approx(math.log(0.8 / 0.2), abs=0.05)
    assert both.intercept_ == pytest.approx(0.0, abs=0.05)
    assert np.abs(kernel.coef_).max() < 0.02  # the l1 term drives the (useless) weights to 0


def test_keras_clipped_cross_entropy_gradient():
    """Inside the clip it is the derivative of -log(p_true + clip) (finite difference); outside it is 0."""
    clip = 1e-7

    def keras_loss(m):  # y = 1 and logit = -m: p_true = sigmoid(-m), clipped to [clip, 1 - clip]
        p = min(max(1.0 / (1.0 + math.exp(m)), clip), 1.0 - clip)
        return -math.log(p + clip)

    for m in (-12.0, -3.0, 0.0, 2.5, 15.0):
        h = 1e-5
        numeric = (keras_loss(m + h) - keras_loss(m - h)) / (2 * h)
        assert keras_bce_g_prime(np.array([m]), clip)[0] == pytest.approx(numeric, rel=1e-5)
    np.testing.assert_array_equal(keras_bce_g_prime(np.array([-17.0, 17.0, 40.0]), clip), 0.0)
    np.testing.assert_allclose(keras_bce_g_prime(np.array([0.3, -2.0]), 0.0), 1 / (1 + np.exp(-np.array([0.3, -2.0]))))


def test_adversarial_training_prunes_weak_features(synthetic):
    """Theorem 3.1 / D.2: weak features (|a_i| < eps) shrink under adversarial training, strong ones stay."""
    natural = LogisticTrainer("natural").fit(synthetic.X_train, synthetic.y_train)
    adversarial = LogisticTrainer("adv", 0.3).fit(synthetic.X_train, synthetic.y_train)
    weak = np.abs(synthetic.strengths) < 0.3
    assert np.abs(adversarial.coef_[weak]).mean() < 0.5 * np.abs(natural.coef_[weak]).mean()
    assert np.abs(adversarial.coef_[~weak]).min() > 0.1
    assert adversarial.score(synthetic.X_test, synthetic.y_test) > 0.9


def test_l1_shrinks_weights(synthetic):
    natural = LogisticTrainer("natural").fit(synthetic.X_train, synthetic.y_train)
    l1 = LogisticTrainer("l1", lam=0.05).fit(synthetic.X_train, synthetic.y_train)
    assert np.abs(l1.coef_).sum() < np.abs(natural.coef_).sum()


def test_module_matches_estimator(synthetic):
    trainer = LogisticTrainer().fit(synthetic.X_train, synthetic.y_train)
    with torch.no_grad():
        p = torch.sigmoid(trainer.to_module()(torch.tensor(synthetic.X_test))).numpy()
    np.testing.assert_allclose(p, trainer.predict_proba(synthetic.X_test)[:, 1], atol=1e-5)


def test_progress_callback_reports_each_epoch(synthetic):
    seen = []
    LogisticTrainer(epochs=3).fit(synthetic.X_train, synthetic.y_train, progress=lambda e, n, m: seen.append((e, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


# ---------------------------------------------------------------- the scikit-learn estimator contract


def test_setting_keeps_only_the_modes_hyper_parameter():
    assert LogisticTrainer("natural", eps=0.3, lam=0.1).setting == Setting("natural")
    assert LogisticTrainer("adv", eps=0.3, lam=0.1).setting == Setting("adv", eps=0.3)
    assert LogisticTrainer("l1", eps=0.3, lam=0.1).setting == Setting("l1", lam=0.1)


def test_clone_get_params_set_params(synthetic):
    trainer = LogisticTrainer("adv", 0.2, optimizer="ftrl", clean_epochs=2, seed=7)
    params = trainer.get_params()
    assert params["eps"] == 0.2 and params["optimizer"] == "ftrl" and params["clean_epochs"] == 2 and params["seed"] == 7
    copy = clone(trainer)
    assert copy is not trainer and copy.get_params() == params
    copy.set_params(eps=0.05, optimizer="adam")
    assert copy.eps == 0.05 and trainer.eps == 0.2 and trainer.optimizer == "ftrl"
    fitted = clone(trainer.set_params(epochs=2)).fit(synthetic.X_train, synthetic.y_train)
    assert fitted.n_features_in_ == synthetic.X_train.shape[1]
    np.testing.assert_array_equal(fitted.classes_, [0, 1])
    assert not hasattr(clone(fitted), "coef_")  # clone drops what fit learned


def test_string_labels_and_classes(synthetic):
    names = np.where(synthetic.y_train == 1, "spam", "ham")
    trainer = LogisticTrainer(epochs=2).fit(synthetic.X_train, names)
    np.testing.assert_array_equal(trainer.classes_, ["ham", "spam"])
    assert set(trainer.predict(synthetic.X_test)) <= {"ham", "spam"}
    numeric = LogisticTrainer(epochs=2).fit(synthetic.X_train, synthetic.y_train)
    np.testing.assert_array_equal(trainer.coef_, numeric.coef_)  # "spam" is classes_[1], like label 1


def test_passes_scikit_learns_estimator_checks():
    """Every check of ``check_estimator`` passes except check_array_api_input, which skips itself unless
    SCIPY_ARRAY_API is set (this numpy trainer does not claim array-API support)."""
    results = check_estimator(LogisticTrainer("adv", 0.1, epochs=3, optimizer="ftrl", clean_epochs=1), on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:200] for r in results if r["status"] == "failed"}
    assert not failed
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input"}


@pytest.mark.parametrize("params, name", [
    ({"mode": "adv", "eps": float("nan")}, "eps"), ({"mode": "adv", "eps": -1}, "eps"),
    ({"mode": "adv", "eps": float("1e400")}, "eps"), ({"mode": "l1", "lam": -3}, "lam"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"mode": "robust"}, "training mode"),
    ({"optimizer": "sgd"}, "optimizer"), ({"init": "zeros"}, "init"), ({"l1_scope": "bias"}, "l1_scope"),
    ({"loss": "square"}, "loss"), ({"learning_rate": 0}, "learning_rate"), ({"epochs": 0}, "epochs"),
    ({"batch_size": 2.5}, "batch_size"), ({"clean_epochs": -1}, "clean_epochs"),
    ({"probability_clip": 0.7}, "probability_clip"),
])
def test_bad_hyper_parameters_fail_in_fit_naming_the_parameter(params, name):
    trainer = LogisticTrainer(**params)  # scikit-learn: __init__ only stores
    with pytest.raises(AdvexError, match=name) as info:
        trainer.fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]))
    assert isinstance(info.value, ValueError)  # what scikit-learn's own checks expect


def test_bad_inputs_are_one_clear_error():
    with pytest.raises(AdvexError, match="Only binary"):
        LogisticTrainer().fit(np.zeros((3, 2)), np.array([0, 1, 2]))
    with pytest.raises(AdvexError, match="NaN"):
        LogisticTrainer().fit(np.array([[0.0, np.nan], [1.0, 0.0]]), np.array([0, 1]))
