"""Theorem E.1 (App. E): one-vs-all data, the joint attack, the expected update (Monte Carlo and exact) and its checks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advex.data.feat_trans import (
    FeatTransDistribution,
    MultiClassDistribution,
    graded_multiclass_distribution,
    one_vs_all_labels,
    singleton_groups,
)
from advex.losses import HINGE, LOGISTIC, LOSSES, SOFTPLUS_HINGE
from advex.theory import check_basics
from advex.theory import multiclass_checks as mchecks
from advex.theory.check_basics import Z_TOL, z_scores
from advex.theory.multiclass import (
    MAX_CONTESTED,
    exact_multiclass_update,
    monte_carlo_multiclass_update,
    multiclass_attack,
    sample_updates,
)
from advex.theory.sgd_update import exact_update
from advex.theory.trajectories import seeded_multiclass_run

N = 100_000


@pytest.fixture(autouse=True)
def smaller_monte_carlo(monkeypatch):
    """The registered checks with 50k draws instead of 200k: z-score tolerances do not depend on n."""
    monkeypatch.setattr(check_basics, "MC_SAMPLES", 50_000)


def _vertices(d: int) -> np.ndarray:
    return 1.0 - 2.0 * ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1)


def _total_loss(loss, W, X, Y, delta):
    """L_T(x + delta, y; W) = sum_i g(-y_i <w_i, x + delta>) (App. E.1)."""
    return loss.g(-Y * ((X + delta) @ W.T)).sum(axis=-1)


def test_one_vs_all_labels_by_hand():
    assert np.array_equal(one_vs_all_labels(np.array([0, 2]), 3), [[1, -1, -1], [-1, -1, 1]])


def test_feat_exp_holds_for_owner_pairs_and_strengths_match_samples():
    dist = MultiClassDistribution(3, np.array([0, 1, 2, 0]), np.array([0.5, -0.4, 0.3, 0.0]), "laplace",
                                  class_probs=np.array([0.5, 0.3, 0.2]))
    X, classes = dist.sample(N, np.random.default_rng(0))
    assert abs(np.mean(classes == 0) - 0.5) < 4 * np.sqrt(0.25 / N)
    Y = one_vs_all_labels(classes, 3)
    yx = Y[:, :, None] * X[:, None, :]
    z = z_scores(yx.mean(0) - dist.directed_strengths(), yx.std(0, ddof=1) / np.sqrt(N))
    assert z.max() < Z_TOL  # a_ij = E[y_i x_j] (eq. 4 per classifier)
    for i, j in [(0, 0), (1, 1), (2, 2), (1, 3)]:  # FEAT-EXP: E[x_j | y_i] = a_ij y_i
        assert dist.feat_exp_holds()[i, j]
        for label in (-1.0, 1.0):
            rows = X[Y[:, i] == label, j]
            assert abs(rows.mean() - label * dist.directed_strengths()[i, j]) < 4 * rows.std() / np.sqrt(len(rows))
    # non-owner pair (1, 0): E[x_0 | y_1 = +1] = -0.5 (class 1), E[x_0 | y_1 = -1] = 0.5 (0.5 - 0.2) / 0.7: not odd in y_1
    rows_pos, rows_neg = X[Y[:, 1] > 0, 0], X[Y[:, 1] < 0, 0]
    se = np.hypot(rows_pos.std() / np.sqrt(len(rows_pos)), rows_neg.std() / np.sqrt(len(rows_neg)))
    assert not dist.feat_exp_holds()[1, 0]
    assert abs(rows_pos.mean() + rows_neg.mean() - (-0.5 + 0.5 * 0.3 / 0.7)) < Z_TOL * se


def test_graded_multiclass_layout():
    dist = graded_multiclass_distribution(3, 1, 2, strong=1.0, weak=0.1)
    assert list(dist.owners) == [0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert np.allclose(np.abs(dist.strengths), [1.0] * 3 + [0.1] * 6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(3, 4), d=st.integers(1, 6), eps=st.floats(0.01, 1.0),
       loss=st.sampled_from(list(LOSSES.values())), density=st.floats(0.0, 1.0))
def test_attack_is_the_brute_force_maximum(seed, k, d, eps, loss, density):
    """eqs. E.52-E.53: delta* maximizes L_T over the 2^d vertices, and no interior point beats it (convexity)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, d)) * (rng.random((k, d)) < density)
    X, classes = MultiClassDistribution(k, np.arange(d) % k, rng.normal(size=d)).sample(20, rng)
    Y = one_vs_all_labels(classes, k)
    delta = multiclass_attack(W, X, Y, eps, loss)
    assert np.all(np.isin(delta, (-eps, 0.0, eps)))
    best = _total_loss(loss, W, X[:, None], Y[:, None], eps * _vertices(d)[None]).max(axis=1)
    found = _total_loss(loss, W, X, Y, delta)
    assert np.allclose(found, best, rtol=1e-12, atol=1e-12)
    interior = _total_loss(loss, W, X[:, None], Y[:, None], rng.uniform(-eps, eps, size=(1, 50, d)))
    assert np.all(interior <= found[:, None] + 1e-12)


def test_attack_of_a_separable_model_is_each_users_worst_case():
    W = np.array([[0.5, 0.0, 0.0], [0.0, -2.0, 0.0], [0.0, 0.0, 0.0]])
    Y = one_vs_all_labels(np.array([0, 1, 2]), 3)
    delta = multiclass_attack(W, np.zeros((3, 3)), Y, 0.1, LOGISTIC)
    assert np.allclose(delta, [[-0.1, -0.1, 0.0], [0.1, 0.1, 0.0], [0.1, -0.1, 0.0]])  # -y_r sgn(w_rj) eps; unused: 0


def test_update_is_the_gradient_of_the_max_loss():
    """eq. E.54 by Danskin: Delta w_ij = -d/dw_ij max_delta L_T(x + delta), checked by central differences."""
    rng = np.random.default_rng(3)
    W, x, Y = rng.normal(size=(3, 4)), rng.normal(size=(1, 4)), one_vs_all_labels(np.array([1]), 3)
    updates, g_prime, tau = sample_updates(W, x, Y, 0.2, SOFTPLUS_HINGE)

    def max_loss(V):
        return _total_loss(SOFTPLUS_HINGE, V, x, Y, 0.2 * _vertices(4)).max()

    h, numeric = 1e-6, np.zeros_like(W)
    for i, j in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[i, j] = h
        numeric[i, j] = -(max_loss(W + E) - max_loss(W - E)) / (2 * h)
    assert np.allclose(updates[0], numeric, atol=1e-6)
    assert np.all(np.abs(tau) == 1)  # every weight non-zero: each point is in Case I or Case II


def test_monte_carlo_moments_equal_the_per_point_updates():
    """The moment-matrix estimates (means, standard errors, Case-I shares) equal those of the per-point arrays of eq. E.54."""
    rng = np.random.default_rng(4)
    dist = mchecks.random_multiclass_distribution("laplace", rng)
    W = mchecks.owner_weights(dist, rng, np.array([1, 2, 3]))
    W[2, 0] = 0.0
    X, classes = dist.sample(2000, rng)
    u = monte_carlo_multiclass_update(dist, W, 0.3, HINGE, 0, None, sample=(X, classes))
    updates, g_prime, tau = sample_updates(W, X, one_vs_all_labels(classes, dist.n_classes), 0.3, HINGE)
    rates = np.where(W == 0, updates, np.sign(W) * updates)
    gaps = rates - g_prime[:, :, None] * np.where(W == 0, u.strengths, u.strengths * np.sign(W) - 0.3)
    for mean, se, per_point in ((u.delta, u.delta_se, updates), (u.rate, u.rate_se, rates), (u.gap, u.gap_se, gaps)):
        assert np.allclose(mean, per_point.mean(0), atol=1e-12)
        assert np.allclose(se, per_point.std(0, ddof=1) / np.sqrt(len(X)), atol=1e-9)
    assert np.allclose(u.g_prime_bar, g_prime.mean(0)) and np.array_equal(u.case1_share, (tau > 0).mean(0))


def test_exact_multiclass_reduces_to_theorem_31_for_one_classifier():
    """Two independent codes: with only classifier 0 non-zero, its update is the binary eq. 9 with labels y_0."""
    a, noise = np.array([0.5, -0.2, 0.3]), np.array([1.0, 0.7, 1.3])
    dist = MultiClassDistribution(3, np.zeros(3, dtype=int), a, "gaussian", noise)
    binary = FeatTransDistribution(a, singleton_groups(3), "gaussian", noise, p_positive=1 / 3)
    w = np.array([0.8, 0.0, -0.4])
    W = np.zeros((3, 3))
    W[0] = w
    for loss in LOSSES.values():
        multi, single = exact_multiclass_update(dist, W, 0.25, loss), exact_update(binary, w, 0.25, loss)
        assert np.allclose(multi.delta[0], single.delta, atol=1e-12)
        assert multi.g_prime_bar[0] == pytest.approx(single.g_prime_bar, abs=1e-12)


@pytest.mark.parametrize("loss", [LOGISTIC, HINGE], ids=["logistic", "hinge"])
def test_monte_carlo_agrees_with_exact(loss):
    result = mchecks.check_e1_mc_matches_exact(loss, np.random.default_rng(0))
    assert result.passed, result


def test_monte_carlo_of_a_separable_model_agrees_with_exact_at_every_weight():
    dist = mchecks.random_multiclass_distribution("gaussian", np.random.default_rng(1))
    W = mchecks.owner_weights(dist, np.random.default_rng(2))
    mc = monte_carlo_multiclass_update(dist, W, 0.3, LOGISTIC, N, np.random.default_rng(3))
    ex = exact_multiclass_update(dist, W, 0.3, LOGISTIC)
    assert np.max(z_scores(mc.rate - ex.rate, mc.rate_se)) < Z_TOL
    assert np.all(ex.case1_share[W != 0] == 1) and np.all(mc.case1_share[W != 0] == 1)  # own features: Case I always


@pytest.mark.parametrize("method, family", [("exact", "gaussian"), ("mc", "laplace")])
def test_part_1(method, family):
    result = mchecks.check_e1_part1(method, family, np.random.default_rng(4))
    assert result.passed, result


@pytest.mark.parametrize("method, family", [("exact", "gaussian"), ("mc", "bernoulli")])
def test_part_2_case_1(method, family):
    result = mchecks.check_e1_part2(method, family, np.random.default_rng(5), n_draws=5 if method == "exact" else 1)
    assert result.passed, result


def test_weak_weights_shrink_under_eps_only():
    result = mchecks.check_e1_weak_weights(np.random.default_rng(6))
    assert result.passed and result.value < 0, result


def test_bound_is_tight_for_small_own_weights_and_a_tighter_one_fails():
    """eq. E.62 holds with slack O(|w_ij|): at |w_ij| = 1e-3 the rate is within 1e-3 g'bar_i of the bound."""
    dist = mchecks.random_multiclass_distribution("gaussian", np.random.default_rng(7))
    W = mchecks.owner_weights(dist, np.random.default_rng(8)) * 1e-3
    u = exact_multiclass_update(dist, W, 0.4, LOGISTIC)
    mask = W != 0
    assert -1e-3 < mchecks.part2_violation(u, mask) <= 1e-10
    assert mchecks.part2_violation(u, mask, extra_eps=0.1) > 0.03


def test_shared_feature_breaks_the_case_1_bound_exactly():
    """Another classifier using feature j sets delta*_j: with w_ij = 0 the update gets eps E[g'(m_i) y_i delta*_j / eps]."""
    dist = MultiClassDistribution(3, np.array([0, 1, 2]), np.array([0.4, 0.6, 0.5]))
    W = np.array([[0.0, 0.9, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.7]])  # feature 0 (class 0) used by classifier 1 only
    u, u0 = exact_multiclass_update(dist, W, 0.3, LOGISTIC), exact_multiclass_update(dist, W, 0.0, LOGISTIC)
    assert abs(u.gap[0, 0]) > 1e-3 and abs(u0.gap[0, 0]) < 1e-12  # part 1 fails only because of the eps term
    assert u.case1_share[0, 0] == 0  # tau = 0 where w_ij = 0


def test_multiclass_sgd_is_seeded_and_starts_at_zero():
    dist = graded_multiclass_distribution(3, 1, 1, strong=1.0, weak=0.1)
    runs = [seeded_multiclass_run(dist, 0.3, LOGISTIC, seed=2, n_steps=20, n_records=5) for _ in range(2)]
    assert np.array_equal(runs[0].weights, runs[1].weights) and runs[0].weights.shape == (5, 3, 6)
    assert np.all(runs[0].weights[0] == 0) and runs[0].accuracy[0] == pytest.approx(1 / 3)  # ties count 1/k
    assert np.isnan(runs[0].weight_gini[0])


@pytest.mark.parametrize("call, message", [
    (lambda: MultiClassDistribution(3, np.array([0, 3]), np.zeros(2)), "owners"),
    (lambda: MultiClassDistribution(3, np.array([0]), np.zeros(1), class_probs=np.array([0.5, 0.5, 0.5])), "class_probs"),
    (lambda: MultiClassDistribution(3, np.array([0]), np.array([2.0]), "bernoulli"), "bernoulli"),
    (lambda: exact_multiclass_update(MultiClassDistribution(3, np.arange(3), np.zeros(3), "laplace"), np.zeros((3, 3)), 0.1,
                                     LOGISTIC), "gaussian"),
    (lambda: exact_multiclass_update(MultiClassDistribution(3, np.arange(3), np.zeros(3)), np.ones((3, 3)), 0.1, LOGISTIC),
     "one non-zero"),
    (lambda: exact_multiclass_update(MultiClassDistribution(3, np.arange(3), np.zeros(3)), np.ones((2, 3)), 0.1, LOGISTIC),
     "shape"),
    (lambda: multiclass_attack(np.ones((2, MAX_CONTESTED + 1)), np.zeros((1, MAX_CONTESTED + 1)), np.ones((1, 2)), 0.1,
                               LOGISTIC), "vertices"),
])
def test_bad_inputs_are_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
