"""Gini index (eq. I.67), dG (eqs. 19-22) and Feature Impact (App. H) on hand-computed cases."""

import numpy as np
import pandas as pd
import pytest

from advex.metrics.gini import gini, mean_gini, mean_with_ci95
from advex.metrics.impact import feature_impact, feature_value_impact
from advex.metrics.sparseness import accuracy_drop, average_dG, pointwise_dG


def lorenz_gini(v: np.ndarray) -> float:
    """Appendix I's second definition via the Lorenz curve (trapezoid area A under it).

    The paper says "0.5 minus the area"; the value that equals eq. I.67 (and lies in [0, 1])
    is twice that, 1 - 2A: the area between the diagonal and the curve, normalized.
    """
    v = np.sort(np.abs(v))
    d = v.size
    cumulative = np.concatenate([[0.0], np.cumsum(v) / v.sum()])
    area = np.trapezoid(cumulative, dx=1.0 / d)
    return 1.0 - 2.0 * area


@pytest.mark.parametrize("d", [1, 2, 7, 100])
def test_uniform_vector_has_gini_zero(d):
    assert gini(np.full(d, 3.5)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("d", [2, 5, 784])
def test_single_nonzero_gives_one_minus_one_over_d(d):
    v = np.zeros(d)
    v[d // 2] = -4.0  # absolute values are taken first
    assert gini(v) == pytest.approx(1.0 - 1.0 / d)


def test_hand_computed_vector():
    # v sorted = [1, 2, 3, 4], ||v||_1 = 10, d = 4: weights (d - k + 0.5)/d = 3.5/4, 2.5/4, 1.5/4, 0.5/4
    expected = 1 - 2 * (1 * 3.5 + 2 * 2.5 + 3 * 1.5 + 4 * 0.5) / (10 * 4)
    assert gini(np.array([3.0, 1.0, 4.0, 2.0])) == pytest.approx(expected)
    assert expected == pytest.approx(0.25)


def test_scale_invariance_and_permutation_invariance():
    rng = np.random.default_rng(0)
    v = rng.normal(size=50)
    assert gini(17.0 * v) == pytest.approx(gini(v))
    assert gini(rng.permutation(v)) == pytest.approx(gini(v))


def test_matches_lorenz_curve_definition():
    rng = np.random.default_rng(1)
    for _ in range(10):
        v = rng.exponential(size=rng.integers(2, 60))
        assert gini(v) == pytest.approx(lorenz_gini(v), abs=1e-12)


def test_batched_equals_rowwise_and_zero_rows_are_nan():
    rng = np.random.default_rng(2)
    batch = rng.normal(size=(6, 9))
    batch[3] = 0.0
    values = gini(batch)
    assert np.isnan(values[3])
    for i in (0, 1, 2, 4, 5):
        assert values[i] == pytest.approx(gini(batch[i]))
    assert mean_gini(batch) == pytest.approx(np.nanmean(values))


def test_more_concentrated_vector_is_sparser():
    assert gini(np.array([10.0, 1.0, 1.0, 1.0])) > gini(np.array([4.0, 3.0, 3.0, 3.0]))


def test_empty_vector_is_rejected():
    with pytest.raises(ValueError, match="non-empty"):
        gini(np.array([]))


def test_mean_with_ci95():
    mean, half = mean_with_ci95(np.array([1.0, 2.0, 3.0, np.nan]))
    assert mean == pytest.approx(2.0)
    assert half == pytest.approx(1.96 * 1.0 / np.sqrt(3))


def test_dG_definitions():
    natural = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    adversarial = np.array([[0.0, 0.0, 0.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_allclose(pointwise_dG(adversarial, natural), [0.75, 0.0])  # eq. 19
    assert average_dG(0.8, 0.7) == pytest.approx(0.1)  # eq. 21
    assert accuracy_drop(0.97, 0.99) == pytest.approx(0.02)
    with pytest.raises(ValueError):
        pointwise_dG(adversarial[:1], natural)


def test_feature_impact_sums_value_impacts_per_feature():
    attributions = np.array([[0.5, 0.0, -1.0, 2.0], [0.0, -0.3, 0.0, 1.0]])
    groups = ["odor", "odor", "cap-shape", "x"]
    np.testing.assert_allclose(feature_value_impact(attributions), [0.25, 0.15, 0.5, 1.5])
    fi = feature_impact(attributions, groups)
    assert isinstance(fi, pd.Series)
    assert list(fi.index) == ["odor", "cap-shape", "x"]
    np.testing.assert_allclose(fi.to_numpy(), [0.4, 0.5, 1.5])
    with pytest.raises(ValueError):
        feature_impact(attributions, groups[:2])
