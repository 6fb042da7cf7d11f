"""Synthetic distributions: Assumption FEAT-TRANS (eqs. 3-4) holds by construction, and breaks on purpose."""

import numpy as np
import pytest

from advex.data.feat_trans import (
    FAMILIES,
    FeatTransDistribution,
    ViolatingDistribution,
    contiguous_groups,
    graded_distribution,
    graded_strengths,
    singleton_groups,
)
from advex.theory.checks import Z_TOL, z_scores

N = 200_000


def _conditional_mean_z(dist, n=N, seed=0):
    """z-scores of E[x_i | y] - a_i y for both labels (eq. 3)."""
    X, y = dist.sample(n, np.random.default_rng(seed))
    z = []
    for label in (-1.0, 1.0):
        rows = X[y == label]
        z.append(z_scores(rows.mean(0) - dist.strengths * label, rows.std(0, ddof=1) / np.sqrt(len(rows))))
    return np.concatenate(z)


@pytest.mark.parametrize("family", FAMILIES)
def test_feat_trans_holds_for_every_family(family):
    a = np.array([0.8, -0.5, 0.1, 0.0, -0.05])
    dist = FeatTransDistribution(a, contiguous_groups([2, 3]), family, 1.0, p_positive=0.3, within_group_correlation=0.4)
    X, y = dist.sample(N, np.random.default_rng(1))
    assert X.dtype == np.float64 and X.shape == (N, 5) and set(np.unique(y)) == {-1.0, 1.0}
    assert abs(np.mean(y > 0) - 0.3) < 4 * np.sqrt(0.3 * 0.7 / N)
    assert np.max(_conditional_mean_z(dist)) < Z_TOL  # eq. 3
    yx = y[:, None] * X
    assert np.max(z_scores(yx.mean(0) - a, yx.std(0, ddof=1) / np.sqrt(N))) < Z_TOL  # eq. 4: E[y x_i] = a_i


@pytest.mark.parametrize("family", ["gaussian", "uniform", "laplace"])
def test_noise_scale_is_the_conditional_std(family):
    dist = FeatTransDistribution(np.array([0.5, 0.2]), singleton_groups(2), family, np.array([0.5, 2.0]))
    X, y = dist.sample(N, np.random.default_rng(2))
    std = X[y > 0].std(0)
    assert np.allclose(std, [0.5, 2.0], rtol=0.02)


def test_bernoulli_features_are_binary_with_the_right_mean():
    dist = FeatTransDistribution(np.array([0.3, -0.6]), singleton_groups(2), "bernoulli", np.array([1.0, 2.0]))
    X, y = dist.sample(1000, np.random.default_rng(3))
    assert set(np.unique(np.abs(X[:, 0]))) == {1.0} and set(np.unique(np.abs(X[:, 1]))) == {2.0}


def test_groups_are_independent_given_y_but_correlated_inside():
    dist = FeatTransDistribution(np.zeros(4), contiguous_groups([2, 2]), "laplace", 1.0, within_group_correlation=0.6)
    X, y = dist.sample(N, np.random.default_rng(4))
    corr = np.corrcoef(X[y > 0].T)
    assert corr[0, 1] > 0.5 and corr[2, 3] > 0.5  # inside a group
    assert abs(corr[0, 2]) < 4 / np.sqrt(N / 2) and abs(corr[1, 3]) < 4 / np.sqrt(N / 2)  # across groups


def test_gaussian_conditional_covariance_matches_samples():
    dist = FeatTransDistribution(np.array([0.1, 0.2, 0.3]), contiguous_groups([2, 1]), "gaussian",
                                 np.array([1.0, 0.5, 2.0]), within_group_correlation=0.3)
    X, y = dist.sample(N, np.random.default_rng(5))
    assert np.allclose(np.cov(X[y < 0].T), dist.conditional_covariance(), atol=0.03)
    with pytest.raises(ValueError, match="gaussian"):
        FeatTransDistribution(np.zeros(2), singleton_groups(2), "uniform", 1.0).conditional_covariance()


def test_violating_distribution_breaks_feat_trans_and_independence():
    base = FeatTransDistribution(np.array([0.5, -0.3, 0.2]), singleton_groups(3), "gaussian", 1.0)
    assert np.max(_conditional_mean_z(ViolatingDistribution(base, offsets=0.2))) > 10 * Z_TOL
    shared = ViolatingDistribution(base, cross_group_correlation=0.5)
    X, y = shared.sample(N, np.random.default_rng(6))
    assert np.corrcoef(X[y > 0].T)[0, 1] > 0.45  # groups no longer conditionally independent
    assert np.max(_conditional_mean_z(shared)) < Z_TOL  # ... while eq. 3 still holds


def test_graded_strengths_preset():
    a = graded_strengths(2, 3, strong=1.5, weak=0.1, alternate_signs=True)
    assert np.allclose(a, [1.5, -1.5, 0.1, -0.1, 0.1])
    assert np.allclose(graded_strengths(1, 2), [1.0, 0.05, 0.05])
    with pytest.raises(ValueError):
        graded_strengths(0, 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(groups=[np.array([0])]), "partition"),
        (dict(family="cauchy"), "family"),
        (dict(noise=0.0), "noise"),
        (dict(family="bernoulli", noise=0.1), "bernoulli"),
        (dict(p_positive=1.0), "p_positive"),
        (dict(within_group_correlation=1.0), "within_group_correlation"),
    ],
)
def test_bad_parameters_are_rejected_with_a_reason(kwargs, message):
    args = dict(strengths=np.array([0.5, 0.2]), groups=singleton_groups(2), family="gaussian", noise=1.0)
    with pytest.raises(ValueError, match=message):
        FeatTransDistribution(**{**args, **kwargs})


def test_graded_distribution_preset():
    """The synthetic data set's preset: alternating strengths (eq. 4), one group per feature, binary values fit |a_i|."""
    dist = graded_distribution(2, 3, strong=1.5, weak=0.1, family="bernoulli")
    assert np.allclose(dist.strengths, [1.5, -1.5, 0.1, -0.1, 0.1]) and len(dist.groups) == 5
    assert np.all(dist.scale == 1.5)  # bernoulli needs |a_i| <= noise_i: raised from 1.0
    assert np.all(graded_distribution(2, 3, 1.5, 0.1, "laplace").scale == 1.0)
    with pytest.raises(ValueError, match="family"):
        graded_distribution(1, 1, 1.0, 0.1, "cauchy")
