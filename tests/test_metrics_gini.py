"""Gini index (eq. I.67), dG (eqs. 19-22) and Feature Impact (App. H) on hand-computed cases."""

import numpy as np
import pandas as pd
import pytest
import torch

from advex.errors import AdvexError
from advex.metrics.gini import gini, mean_gini, mean_with_ci95
from advex.metrics.impact import feature_impact, feature_value_impact
from advex.metrics.sparseness import accuracy_drop, average_dG, mean_dG_with_ci95, pointwise_dG


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


def test_image_batch_gives_one_gini_per_image_over_all_non_batch_axes():
    rng = np.random.default_rng(3)
    maps = rng.normal(size=(5, 1, 28, 28))
    values = gini(maps)
    assert values.shape == (5,)
    np.testing.assert_allclose(values, gini(maps.reshape(5, -1)), rtol=1e-12)
    for i in range(5):
        assert values[i] == pytest.approx(gini(maps[i].ravel()), rel=1e-12)
    assert gini(rng.normal(size=(3, 3, 4, 5))).shape == (3,)  # (N, C, H, W): channels are features too


def test_torch_in_torch_out_and_1d_gives_a_float():
    maps = torch.rand(4, 1, 6, 6, dtype=torch.float32)
    values = gini(maps)
    assert isinstance(values, torch.Tensor) and values.shape == (4,) and values.dtype == torch.float64
    np.testing.assert_allclose(values.numpy(), gini(maps.numpy()), rtol=1e-12)
    assert isinstance(gini(maps[0].ravel()), float) and isinstance(gini([1.0, 2.0]), float)
    assert gini(maps.requires_grad_(True)).shape == (4,)  # no autograd error


@pytest.mark.parametrize("bad", [np.array([]), np.zeros((3, 0)), np.float64(2.0), np.array([1.0, np.nan]),
                                 np.array([[1.0, 2.0], [np.inf, 1.0]]), ["a", "b"], [[1.0, 2.0], [3.0]]])
def test_bad_input_is_one_clear_error(bad):
    with pytest.raises(AdvexError):
        gini(bad)


def test_nan_error_names_the_examples():
    batch = np.ones((6, 4))
    batch[[2, 5], 1] = np.nan
    with pytest.raises(AdvexError, match=r"2 example\(s\) \(first: \[2, 5\]\)"):
        gini(batch)


def test_constant_offset_shrinks_gini_by_the_mean_ratio():
    # eq. I.67's weights (2k - d - 1) sum to 0, so G(v + c) = G(v) * sum(v) / (sum(v) + d c) for v, c >= 0.
    rng = np.random.default_rng(4)
    v = rng.exponential(size=40) * (rng.random(40) < 0.3)
    for c in (1e-6, 0.01, 1.0):
        assert gini(v + c) == pytest.approx(gini(v) * v.sum() / (v.sum() + v.size * c), rel=1e-12)


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
    with pytest.raises(AdvexError):
        pointwise_dG(adversarial[:1], natural)
    with pytest.raises(AdvexError, match="measure"):
        pointwise_dG(adversarial, natural, measure="kurtosis")


def test_dG_of_lower_is_sparser_measures_is_signed_as_an_improvement():
    natural = np.array([[1.0, 1.0, 1.0, 1.0]])
    adversarial = np.array([[0.0, 0.0, 0.0, 1.0]])
    assert pointwise_dG(adversarial, natural, measure="entropy")[0] == pytest.approx(1.0)  # entropy 1 -> 0
    assert pointwise_dG(adversarial, natural, measure="mass_share_90")[0] == pytest.approx(0.75)  # 4/4 -> 1/4
    assert pointwise_dG(torch.tensor(adversarial), torch.tensor(natural)).dtype == torch.float64


def test_mean_dG_with_ci95_is_the_ci_of_the_paired_differences():
    natural = np.array([0.50, 0.60, 0.55, np.nan, 0.70])
    model = np.array([0.61, 0.69, 0.68, 0.90, np.nan])
    mean, half = mean_dG_with_ci95(model, natural)
    differences = np.array([0.11, 0.09, 0.13])  # NaN on either side drops the pair
    assert mean == pytest.approx(differences.mean())
    assert half == pytest.approx(1.96 * differences.std(ddof=1) / np.sqrt(3))
    # lower-is-sparser: the improvement is natural - model, so the sign flips
    assert mean_dG_with_ci95(model, natural, measure="entropy")[0] == pytest.approx(-differences.mean())
    with pytest.raises(AdvexError):
        mean_dG_with_ci95(model[:3], natural)


def test_feature_impact_sums_value_impacts_per_feature():
    attributions = np.array([[0.5, 0.0, -1.0, 2.0], [0.0, -0.3, 0.0, 1.0]])
    groups = ["odor", "odor", "cap-shape", "x"]
    np.testing.assert_allclose(feature_value_impact(attributions), [0.25, 0.15, 0.5, 1.5])
    fi = feature_impact(attributions, groups)
    assert isinstance(fi, pd.Series)
    assert list(fi.index) == ["odor", "cap-shape", "x"]
    np.testing.assert_allclose(fi.to_numpy(), [0.4, 0.5, 1.5])
    with pytest.raises(AdvexError):
        feature_impact(attributions, groups[:2])
