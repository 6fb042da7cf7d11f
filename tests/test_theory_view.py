"""The dashboard's Theory views: consistent numbers from their two code paths, and input validation."""

import numpy as np
import pytest

from advex.dashboard.theory_view import lemma41_view, theorem31_view, theorem51_view, theorem_e1_view, trajectory_view
from advex.data.feat_trans import graded_multiclass_distribution
from advex.losses import LOGISTIC
from advex.theory.check_basics import Z_TOL, z_scores
from advex.theory.multiclass import monte_carlo_multiclass_update
from advex.theory.sgd_update import weighted_average

PRESET = dict(n_strong=3, n_weak=10, strong=1.0, weak=0.05)


@pytest.mark.parametrize("family", ["gaussian", "laplace"])
def test_group_numbers_agree_with_the_sweep_and_the_bound(family):
    view = theorem31_view(0.2, "hinge", family, weights="natural", **PRESET)
    k = int(np.argmin(np.abs(view.eps_grid - 0.2)))  # 0.2 is a grid point
    assert view.sweep_delta[k] == pytest.approx(view.group_delta_now, abs=1e-12)
    assert view.sweep_bound[k] == pytest.approx(view.group_bound_now, abs=1e-12)
    assert view.group_delta_now == pytest.approx(weighted_average(view.update.delta, view.update.w, view.group), abs=1e-12)
    assert view.group_delta_now <= view.group_bound_now + 4 * view.group_delta_se_now  # eq. 12
    assert (view.update.method == "exact") == (family == "gaussian")


def test_zero_weights_put_every_feature_in_the_grow_regime():
    view = theorem31_view(0.3, "logistic", "gaussian", weights="zero", **PRESET)
    assert set(view.regimes) == {"grow"} and np.isnan(view.a_sw) and np.all(np.isnan(view.sweep_delta))
    assert np.allclose(view.update.delta, view.update.g_prime_bar * view.update.strengths)  # eq. 11


def test_trajectory_runs_share_data_and_differ_only_by_eps():
    natural, adversarial = trajectory_view(0.3, "logistic", "gaussian", n_steps=100, **PRESET)
    natural_again, _ = trajectory_view(0.5, "logistic", "gaussian", n_steps=100, **PRESET)
    assert natural.eps == 0.0 and adversarial.eps == 0.3
    assert np.array_equal(natural.weights, natural_again.weights)


def test_identity_views():
    _, _, _, comparison = lemma41_view("tanh", 7, 3, baseline="random")
    assert comparison.max_rel_error < 1e-6
    _, _, _, result = theorem51_view("softplus_hinge", 0.25, 5, 4)
    assert result.rel_error < 1e-9


def test_e1_view_exact_and_monte_carlo_paths_agree():
    """Own features, gaussian: the exact view agrees with a Monte Carlo update at the view's W within noise."""
    view = theorem_e1_view(4, 0.3, 1.0, 0.1, 2, "own", "logistic", "gaussian")
    assert view.update.method == "exact" and set(view.kinds) == {"Case I", "zero weight"}
    dist = graded_multiclass_distribution(4, 1, 2, 1.0, 0.1)
    mc = monte_carlo_multiclass_update(dist, view.update.W, 0.3, LOGISTIC, 50_000, np.random.default_rng(0))
    own = (view.owners, np.arange(len(view.owners)))
    assert np.max(z_scores(mc.rate[own] - view.rate, mc.rate_se[own])) < Z_TOL
    assert view.max_excess("Case I")[0] <= 0 and view.max_excess("zero weight")[0] == pytest.approx(0, abs=1e-12)


def test_e1_view_shared_features_are_flagged_and_exceed_the_case_1_bound():
    view = theorem_e1_view(3, 0.3, 1.0, 0.1, 2, "shared", "hinge", "laplace")
    assert view.update.method == "monte-carlo" and np.sum(view.shared) == 3  # the first weak feature of each class
    assert np.all(view.kinds[view.shared] == "shared") and np.all(view.case1_share[view.shared] < 1)
    excess, z = view.max_excess("shared")
    assert excess > 0 and z > 4


@pytest.mark.parametrize("call, message", [
    (lambda: theorem31_view(1.5, "logistic", "gaussian", weights="zero", **PRESET), "eps"),
    (lambda: theorem31_view(0.1, "logistic", "gaussian", weights="huge", **PRESET), "weights"),
    (lambda: theorem31_view(0.1, "square", "gaussian", weights="zero", **PRESET), "loss"),
    (lambda: theorem31_view(0.1, "logistic", "cauchy", weights="zero", **PRESET), "family"),
    (lambda: lemma41_view("relu", 3, 0), "activation"),
    (lambda: theorem51_view("hinge", 0.1, 13, 0), "vertex"),
    (lambda: theorem_e1_view(2, 0.3, 1.0, 0.1, 2, "own", "logistic", "gaussian"), "n_classes"),
    (lambda: theorem_e1_view(3, 1.3, 1.0, 0.1, 2, "own", "logistic", "gaussian"), "eps"),
    (lambda: theorem_e1_view(3, 0.3, 1.0, 0.1, 2, "dense", "logistic", "gaussian"), "weights"),
])
def test_bad_view_arguments_raise_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
