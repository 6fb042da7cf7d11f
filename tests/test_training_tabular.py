"""The J.1 tabular trainer: determinism, eq. 9 gradients, and the pruning effect of Theorem 3.1."""

import numpy as np
import pytest
import torch

from advex.data.synthetic import make_synthetic
from advex.training.tabular import LogisticTrainer, TabularProtocol


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic(n_samples=3000, n_strong=4, n_weak=16, strong=0.8, weak=0.05, seed=3)


def test_same_seed_same_weights_different_seed_different(synthetic):
    a = LogisticTrainer(mode="adv", eps=0.1, seed=5).fit(synthetic.X_train, synthetic.y_train)
    b = LogisticTrainer(mode="adv", eps=0.1, seed=5).fit(synthetic.X_train, synthetic.y_train)
    c = LogisticTrainer(mode="adv", eps=0.1, seed=6).fit(synthetic.X_train, synthetic.y_train)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, c.coef_)


def test_one_adam_step_follows_autograd_of_eq8():
    """One full-batch step from the seeded init equals torch Adam on g(eps||w||_1 - y(<w,x> + b)) (eq. 8)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 4))
    y = (rng.random(16) > 0.5).astype(int)
    protocol = TabularProtocol(epochs=1, batch_size=16, lr=0.01, adam_eps=0.0)  # torch places eps differently
    trainer = LogisticTrainer(mode="adv", eps=0.2, protocol=protocol, seed=0)
    init = np.random.default_rng(0).uniform(-0.5, 0.5, size=4)  # same draw as the trainer's first
    trainer.fit(X, y)
    w = torch.tensor(init, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([w, b], lr=0.01, eps=0.0)
    signs = torch.tensor(2.0 * y - 1.0)
    margin = 0.2 * w.abs().sum() - signs * (torch.tensor(X) @ w + b)
    torch.nn.functional.softplus(margin).mean().backward()
    optimizer.step()
    np.testing.assert_allclose(trainer.coef_, w.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert trainer.intercept_ == pytest.approx(float(b))


def test_adversarial_training_prunes_weak_features(synthetic):
    """Theorem 3.1 / D.2: weak features (|a_i| < eps) shrink under adversarial training, strong ones stay."""
    natural = LogisticTrainer(mode="natural", seed=0).fit(synthetic.X_train, synthetic.y_train)
    adversarial = LogisticTrainer(mode="adv", eps=0.3, seed=0).fit(synthetic.X_train, synthetic.y_train)
    weak = np.abs(synthetic.strengths) < 0.3
    assert np.abs(adversarial.coef_[weak]).mean() < 0.5 * np.abs(natural.coef_[weak]).mean()
    assert np.abs(adversarial.coef_[~weak]).min() > 0.1
    assert adversarial.score(synthetic.X_test, synthetic.y_test) > 0.9


def test_l1_shrinks_weights(synthetic):
    natural = LogisticTrainer(mode="natural").fit(synthetic.X_train, synthetic.y_train)
    l1 = LogisticTrainer(mode="l1", lam=0.05).fit(synthetic.X_train, synthetic.y_train)
    assert np.abs(l1.coef_).sum() < np.abs(natural.coef_).sum()


def test_module_matches_estimator(synthetic):
    trainer = LogisticTrainer(mode="natural").fit(synthetic.X_train, synthetic.y_train)
    module = trainer.to_module()
    with torch.no_grad():
        p = torch.sigmoid(module(torch.tensor(synthetic.X_test))).numpy()
    np.testing.assert_allclose(p, trainer.predict_proba(synthetic.X_test)[:, 1], atol=1e-5)


def test_progress_callback_reports_each_epoch(synthetic):
    seen = []
    LogisticTrainer(protocol=TabularProtocol(epochs=3)).fit(synthetic.X_train, synthetic.y_train, progress=lambda e, n, m: seen.append((e, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("kwargs", [{"mode": "robust"}, {"eps": -0.1}, {"lam": float("nan")}, {"loss": "square"}])
def test_bad_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        LogisticTrainer(**kwargs)


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match="0 or 1"):
        LogisticTrainer().fit(np.zeros((3, 2)), np.array([0, 1, 2]))
