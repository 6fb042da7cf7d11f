"""Expected SGD update (eqs. 6, 9-12) and Theorem 3.1, by Monte Carlo and exactly; and checks that can fail."""

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import expit

from advex.data.feat_trans import FeatTransDistribution, ViolatingDistribution, contiguous_groups, singleton_groups
from advex.losses import HINGE, LOGISTIC, LOSSES
from advex.theory import check_basics, checks
from advex.theory.checks import Z_TOL, bound_violation, case1_violation, limit_violation, with_scaled_group, z_scores
from advex.theory.sgd_update import (
    exact_group_sweep,
    exact_update,
    monte_carlo_group_sweep,
    monte_carlo_update,
    normal_g_prime_moments,
    weighted_average,
)

N = 100_000


@pytest.fixture(autouse=True)
def smaller_monte_carlo(monkeypatch):
    """The registered checks with 50k draws instead of 200k: z-score tolerances do not depend on n."""
    monkeypatch.setattr(check_basics, "MC_SAMPLES", 50_000)


def test_weighted_average_by_hand():
    """Definition WTD-AV, eq. 6: sum_S w_i q_i / sum_S |w_i|."""
    q, w = np.array([1.0, 2.0, 3.0]), np.array([1.0, -2.0, 0.0])
    assert weighted_average(q, w, np.array([0, 1, 2])) == pytest.approx((1 * 1 - 2 * 2) / 3)
    assert np.allclose(weighted_average(np.stack([q, 2 * q]), w, np.array([0, 1])), [-1.0, -2.0])
    assert np.isnan(weighted_average(q, w, np.array([2])))


def test_single_point_update_is_eq_9_by_hand():
    w, x, eps = np.array([1.0, -2.0]), np.array([0.5, 1.0]), 0.1
    m = eps * 3.0 - (0.5 - 2.0)  # eps ||w||_1 - y <w, x> with y = +1
    expected = expit(m) * np.array([0.5 - eps, 1.0 + eps])  # g'(m) (y x_i - sgn(w_i) eps)
    dist = FeatTransDistribution(np.zeros(2), singleton_groups(2), "gaussian", 1.0)
    u = monte_carlo_update(dist, w, eps, LOGISTIC, 2, None, sample=(np.stack([x, x]), np.ones(2)))
    assert np.allclose(u.delta, expected) and u.g_prime_bar == pytest.approx(expit(m))


@pytest.mark.parametrize("loss", LOSSES.values(), ids=list(LOSSES))
@pytest.mark.parametrize("mu, sigma", [(-2.0, 0.5), (0.3, 1.0), (1.5, 4.0), (-0.5, 20.0)])
def test_normal_moments_match_adaptive_quadrature(loss, mu, sigma):
    """E g'(m) and E[g'(m)(m - mu)] for m ~ N(mu, sigma^2) against scipy.integrate.quad (independent)."""
    density = stats.norm(mu, sigma).pdf
    if loss is HINGE:  # g' = 1[m > -1]: integrate the density over (-1, inf)
        first = integrate.quad(density, -1.0, np.inf)
        second = integrate.quad(lambda m: (m - mu) * density(m), -1.0, np.inf)
    else:
        lo, hi = mu - 14 * sigma, mu + 14 * sigma
        first = integrate.quad(lambda m: loss.g_prime(m) * density(m), lo, hi, limit=200)
        second = integrate.quad(lambda m: loss.g_prime(m) * (m - mu) * density(m), lo, hi, limit=200)
    gp, centered = normal_g_prime_moments(loss, np.array(mu), sigma)
    assert float(gp) == pytest.approx(first[0], abs=1e-9)
    assert float(centered) == pytest.approx(second[0], abs=1e-9)


@pytest.mark.parametrize("loss", LOSSES.values(), ids=list(LOSSES))
def test_monte_carlo_agrees_with_exact(loss):
    """The two computations of eq. 9-10 agree within the Monte Carlo interval (z <= 4)."""
    result = checks.check_mc_matches_exact(loss, np.random.default_rng(0))
    assert result.passed, result


def test_exact_sweep_matches_exact_update_at_each_eps():
    dist = checks.random_distribution("gaussian", np.random.default_rng(1))
    w = checks.random_weights(dist, np.random.default_rng(2))
    S = dist.groups[2]
    for loss in LOSSES.values():
        eps_grid = np.array([0.0, 0.2, 0.7])
        delta, bound = exact_group_sweep(dist, w, eps_grid, loss, S)
        for k, eps in enumerate(eps_grid):
            u = exact_update(dist, w, eps, loss)
            assert delta[k] == pytest.approx(u.group_delta[2], abs=1e-12)
            assert bound[k] == pytest.approx(u.group_bound[2], abs=1e-12)


def test_monte_carlo_sweep_matches_exact_sweep():
    dist = checks.random_distribution("gaussian", np.random.default_rng(3))
    w = checks.random_weights(dist, np.random.default_rng(4))
    eps_grid = np.linspace(0, 1, 5)
    delta_mc, se, _ = monte_carlo_group_sweep(dist, w, eps_grid, HINGE, dist.groups[1], N, np.random.default_rng(5))
    delta_ex, _ = exact_group_sweep(dist, w, eps_grid, HINGE, dist.groups[1])
    assert np.max(z_scores(delta_mc - delta_ex, se)) < Z_TOL


@pytest.mark.parametrize("method, family", [("exact", "gaussian"), ("mc", "uniform"), ("mc", "laplace"), ("mc", "bernoulli")])
def test_theorem_31_case_1(method, family):
    """w_S = 0 gives Delta_i = g'bar a_i (eq. 11)."""
    result = checks.check_case1(method, family, np.random.default_rng(6))
    assert result.passed, result


@pytest.mark.parametrize("method, family", [("exact", "gaussian"), ("mc", "laplace"), ("mc", "bernoulli")])
def test_theorem_31_case_2_bound(method, family):
    """Delta_S^w <= g'bar (a_S^w - eps) (eq. 12)."""
    result = checks.check_case2_bound(method, family, np.random.default_rng(7), n_draws=5 if method == "exact" else 1)
    assert result.passed, result


@pytest.mark.parametrize("method, family", [("exact", "gaussian"), ("mc", "uniform")])
def test_theorem_31_case_2_equality_in_the_limit(method, family):
    result = checks.check_case2_limit(method, family, np.random.default_rng(8))
    assert result.passed, result


def test_exact_gap_shrinks_linearly_with_the_group_weights():
    """Gaussian features: Delta_S^w - bound = -c w_S' Sigma_SS w_S / ||w_S||_1, proportional to the scale t."""
    dist = checks.random_distribution("gaussian", np.random.default_rng(9))
    w, S = checks.random_weights(dist, np.random.default_rng(10)), dist.groups[3]
    gaps = [exact_update(dist, with_scaled_group(w, S, t), 0.3, LOGISTIC).group_gap[3] for t in (1e-2, 1e-3)]
    assert gaps[0] < 0 and gaps[1] < 0
    assert gaps[1] / gaps[0] == pytest.approx(0.1, rel=0.05)


# ---- the checks can fail ------------------------------------------------------------------------


def _small_group_update(dist, eps=0.4, seed=11):
    w = checks.random_weights(dist, np.random.default_rng(seed))
    return monte_carlo_update(dist, with_scaled_group(w, dist.groups[1], 1e-3), eps, LOGISTIC, N, np.random.default_rng(seed))


def test_bound_without_eps_is_caught_by_the_equality_limit():
    """Dropping eps from eq. 12: the limit Delta_S^w -> g'bar a_S^w is violated by ~ g'bar eps."""
    u = _small_group_update(checks.random_distribution("laplace", np.random.default_rng(12)))
    assert limit_violation(u, 1) < Z_TOL  # the true statement holds
    assert limit_violation(u, 1, bound=lambda gp, a, eps: gp * a) > 10 * Z_TOL


def test_bound_without_eps_is_looser_so_the_inequality_alone_cannot_flag_it():
    """g'bar a_S^w >= g'bar (a_S^w - eps): the eps-free inequality is weaker but true, hence not a violation."""
    u = _small_group_update(checks.random_distribution("laplace", np.random.default_rng(12)))
    value, tol = bound_violation(u, bound=lambda gp, a, eps: gp * a)
    assert value < tol


def test_too_tight_bound_is_caught():
    u = _small_group_update(checks.random_distribution("uniform", np.random.default_rng(13)))
    value, tol = bound_violation(u, bound=lambda gp, a, eps: gp * (a - 2 * eps))
    assert value > 10 * tol


def test_exact_check_catches_a_wrong_bound():
    dist = checks.random_distribution("gaussian", np.random.default_rng(14))
    w = checks.random_weights(dist, np.random.default_rng(15))
    u = exact_update(dist, with_scaled_group(w, dist.groups[0], 1e-3), 0.5, HINGE)
    value, tol = bound_violation(u, bound=lambda gp, a, eps: gp * (a - 1.1 * eps))
    assert value > tol


def test_distribution_without_feat_trans_fails_case_1():
    base = FeatTransDistribution(np.array([0.5, 0.3, -0.2, 0.4]), singleton_groups(4), "gaussian", 1.0)
    broken = ViolatingDistribution(base, offsets=0.8)
    w = np.array([0.0, 1.0, -1.5, 2.0])
    ok, tol = case1_violation(monte_carlo_update(base, w, 0.2, LOGISTIC, N, np.random.default_rng(16)), base.groups[0])
    bad, _ = case1_violation(monte_carlo_update(broken, w, 0.2, LOGISTIC, N, np.random.default_rng(16)), base.groups[0])
    assert ok < tol < bad


def test_dependent_groups_fail_case_1_and_case_2():
    base = FeatTransDistribution(np.array([0.3, 0.3, 0.5, 0.5]), contiguous_groups([2, 2]), "gaussian", 1.0)
    shared = ViolatingDistribution(base, cross_group_correlation=0.5)
    w = np.array([0.5, 0.5, -2.0, -2.0])
    assert bound_violation(monte_carlo_update(base, w, 0.1, LOGISTIC, N, np.random.default_rng(17)))[0] < Z_TOL
    assert bound_violation(monte_carlo_update(shared, w, 0.1, LOGISTIC, N, np.random.default_rng(17)))[0] > 10 * Z_TOL
    w_zero_s = np.array([0.0, 0.0, -2.0, -2.0])
    z, tol = case1_violation(monte_carlo_update(shared, w_zero_s, 0.1, LOGISTIC, N, np.random.default_rng(18)), base.groups[0])
    assert z > 10 * tol


def test_sub_group_of_a_correlated_group_is_not_conditionally_independent():
    """Splitting a correlated group S breaks the theorem's hypothesis: the bound can fail for the half."""
    dist = FeatTransDistribution(np.array([0.3, 0.3]), contiguous_groups([2]), "gaussian", 1.0, within_group_correlation=0.8)
    w = np.array([0.5, -3.0])
    whole = exact_update(dist, w, 0.1, LOGISTIC)
    half = exact_update(dist, w, 0.1, LOGISTIC, groups=singleton_groups(2))
    assert bound_violation(whole)[0] <= 1e-10
    assert bound_violation(half)[0] > 1e-3


def test_bad_inputs_are_rejected():
    dist = FeatTransDistribution(np.zeros(3), singleton_groups(3), "gaussian", 1.0)
    with pytest.raises(ValueError, match="d = 3"):
        exact_update(dist, np.zeros(2), 0.1, LOGISTIC)
    with pytest.raises(ValueError, match="eps"):
        exact_update(dist, np.zeros(3), -0.1, LOGISTIC)
    with pytest.raises(ValueError, match="gaussian"):
        exact_update(FeatTransDistribution(np.zeros(3), singleton_groups(3), "laplace", 1.0), np.zeros(3), 0.1, LOGISTIC)
    with pytest.raises(ValueError, match="eq. 11"):
        case1_violation(exact_update(dist, np.ones(3), 0.1, LOGISTIC), dist.groups[0])
