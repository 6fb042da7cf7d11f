"""SGD trajectories: adversarial training prunes weak features that natural training keeps."""

import numpy as np
import pytest

from advex.data.feat_trans import FeatTransDistribution, graded_multiclass_distribution, graded_strengths, singleton_groups
from advex.losses import LOGISTIC
from advex.theory import checks
from advex.theory.trajectories import natural_vs_adversarial, seeded_multiclass_run, train_sgd


def test_pruning_check_passes():
    result = checks.check_pruning(np.random.default_rng(0))
    assert result.passed, result


def test_weak_features_pruned_only_when_eps_exceeds_their_strength():
    a = graded_strengths(3, 10, strong=1.0, weak=0.1, alternate_signs=True)
    dist = FeatTransDistribution(a, singleton_groups(a.size), "laplace", 1.0)
    natural, adversarial = natural_vs_adversarial(dist, 0.3, LOGISTIC, seed=1)
    _, mild = natural_vs_adversarial(dist, 0.02, LOGISTIC, seed=1)  # eps < |a_weak|: weak features kept
    weak = lambda run: np.abs(run.final_weights[3:]).mean()  # noqa: E731
    assert weak(adversarial) < 0.2 * weak(natural)
    assert weak(mild) > 0.5 * weak(natural)
    assert np.all(np.sign(adversarial.final_weights[:3]) == np.sign(a[:3]))  # strong features kept, right sign
    assert adversarial.ig_gini[-1] > natural.ig_gini[-1]
    assert natural.accuracy[-1] > 0.9 and adversarial.accuracy[-1] > 0.9


def test_runs_are_seeded_and_recorded():
    a = graded_strengths(1, 2)
    dist = FeatTransDistribution(a, singleton_groups(3), "gaussian", 1.0)
    first = natural_vs_adversarial(dist, 0.1, LOGISTIC, seed=3, n_steps=20, n_records=5)
    again = natural_vs_adversarial(dist, 0.1, LOGISTIC, seed=3, n_steps=20, n_records=5)
    assert np.array_equal(first[1].weights, again[1].weights)
    assert list(first[0].steps) == [0, 5, 10, 15, 20] and first[0].weights.shape == (5, 3)
    assert np.all(first[0].weights[0] == 0) and np.isnan(first[0].weight_gini[0])  # Gini of w = 0 is undefined


def test_bad_training_input_is_rejected():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="labels"):
        train_sgd(X, np.array([0, 1, 0, 1]), 0.1, LOGISTIC, np.random.default_rng(0))
    with pytest.raises(ValueError, match="lr"):
        train_sgd(X, np.array([-1, 1, -1, 1]), 0.1, LOGISTIC, np.random.default_rng(0), lr=0.0)


def test_multiclass_pruning_check_passes():
    result = checks.multiclass_checks.check_e1_pruning(np.random.default_rng(0))
    assert result.passed, result


def test_multiclass_weak_features_pruned_only_when_eps_exceeds_their_strength():
    """Theorem E.1 in SGD (k = 3): eps = 0.3 > |a_weak| = 0.1 prunes the weak weights, eps = 0.02 keeps them."""
    dist = graded_multiclass_distribution(3, 1, 2, strong=1.0, weak=0.1, family="laplace")
    weak = lambda run: np.abs(run.final_weights[:, 3:]).mean()  # noqa: E731
    natural, adversarial, mild = (seeded_multiclass_run(dist, eps, LOGISTIC, seed=1) for eps in (0.0, 0.3, 0.02))
    assert weak(adversarial) < 0.2 * weak(natural) and weak(mild) > 0.5 * weak(natural)
    assert natural.accuracy[-1] > 0.8 and adversarial.accuracy[-1] > 0.8
