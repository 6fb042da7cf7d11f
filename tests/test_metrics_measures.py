"""Sparseness measures beside the Gini (advex.metrics.measures): hand-computed values, extremes, properties, registry."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cosine
from scipy.stats import entropy

from advex.errors import AdvexError
from advex.metrics.gini import gini
from advex.metrics.measures import (
    MEASURE_NAMES,
    MEASURES,
    effective_complexity,
    effective_complexity_share,
    hoyer,
    mass_share,
    measure_all,
    normalized_entropy,
)

V = np.array([3.0, -1.0, 4.0, 2.0])  # |V| sorted descending 4, 3, 2, 1; ||V||_1 = 10, ||V||_2 = sqrt(30)
DISCRETE = ("effective_share", "mass_share_50", "mass_share_90")
NAN_FOR_ZERO = ("gini", "hoyer", "entropy", "mass_share_50", "mass_share_90")


def test_hand_computed_vector():
    assert hoyer(V) == pytest.approx((2.0 - 10.0 / math.sqrt(30.0)) / (2.0 - 1.0))
    shares = [0.3, 0.1, 0.4, 0.2]
    assert normalized_entropy(V) == pytest.approx(-sum(p * math.log(p) for p in shares) / math.log(4))
    assert mass_share(V, k=50) == 0.5  # 4 + 3 >= 5
    assert mass_share(V, k=90) == 0.75  # 4 + 3 + 2 >= 9
    assert mass_share(V, k=100) == 1.0
    assert effective_complexity(V, threshold=0.3) == 3  # |V| / 4 = .75, .25, 1, .5
    assert effective_complexity(V, threshold=0.5) == 2  # strictly above: .5 does not count
    assert effective_complexity_share(V, threshold=0.5) == 0.5
    assert isinstance(effective_complexity(V), int) and isinstance(hoyer(V), float)


@pytest.mark.parametrize("d", [2, 7, 784])
def test_uniform_vector_is_the_least_sparse(d):
    values = measure_all(np.full(d, -2.5))
    assert values["gini"] == pytest.approx(0.0, abs=1e-12)
    assert values["hoyer"] == pytest.approx(0.0, abs=1e-12)
    assert values["entropy"] == pytest.approx(1.0)
    assert values["effective_share"] == 1.0
    assert values["mass_share_50"] == math.ceil(0.5 * d) / d
    assert values["mass_share_90"] == math.ceil(0.9 * d) / d


@pytest.mark.parametrize("d", [3, 10, 784])
def test_mass_share_of_a_uniform_vector_at_every_percentage(d):
    # (k / 100) * d is often a rounded float (0.7 * 10 = 7.000000000000001): the boundary must still count
    uniform = np.ones(d)
    for k in range(1, 101):
        assert mass_share(uniform, k=k) == math.ceil(Fraction(k * d, 100)) / d, k


@pytest.mark.parametrize("d", [2, 7, 784])
def test_single_nonzero_is_the_sparsest(d):
    v = np.zeros(d)
    v[d // 3] = -1e-3
    values = measure_all(v)
    assert values["gini"] == pytest.approx(1.0 - 1.0 / d)
    assert values["hoyer"] == pytest.approx(1.0)
    assert values["entropy"] == pytest.approx(0.0, abs=1e-12)
    assert effective_complexity(v) == 1 and values["effective_share"] == 1.0 / d
    assert values["mass_share_50"] == values["mass_share_90"] == 1.0 / d


def test_all_zero_vector_has_no_sparseness_ratio_but_counts_zero_features():
    zeros = np.zeros((2, 1, 4, 4))
    for name in NAN_FOR_ZERO:
        assert np.isnan(MEASURES[name](zeros)).all(), name
    assert effective_complexity(zeros).tolist() == [0, 0]
    assert measure_all(zeros)["effective_share"].tolist() == [0.0, 0.0]


def test_one_feature():
    values = measure_all(np.array([[-3.0], [0.0]]))
    assert values["gini"][0] == 0.0 and np.isnan(values["gini"][1])
    for name in ("hoyer", "entropy"):  # 0 / 0: a single feature is both fully sparse and fully dense
        assert np.isnan(values[name]).all()
    assert values["effective_share"].tolist() == [1.0, 0.0]
    assert values["mass_share_50"][0] == 1.0 and np.isnan(values["mass_share_50"][1])


def test_tiny_offsets():
    d = 784
    v = np.zeros(d)
    v[10] = 1.0
    tiny = v + 1e-12  # continuous measures barely move
    assert gini(tiny) == pytest.approx(1 - 1 / d, abs=1e-8)
    assert hoyer(tiny) == pytest.approx(1.0, abs=1e-6)
    assert normalized_entropy(tiny) == pytest.approx(0.0, abs=1e-6)
    assert mass_share(tiny, k=90) == 1 / d
    assert effective_complexity(tiny) == 1  # 1e-12 is below 1e-5 * max
    assert effective_complexity(v + 2e-5) == d  # just above the threshold: a jump from 1 to d
    assert effective_complexity(v + 2e-5, threshold=0.0) == d and effective_complexity(v, threshold=0.0) == 1


def test_measures_order_a_more_concentrated_vector_as_sparser():
    sparse, dense = np.array([10.0, 1.0, 1.0, 1.0, 0.0]), np.array([4.0, 3.0, 3.0, 3.0, 2.0])
    for name, measure in MEASURES.items():
        assert measure.improvement(measure(sparse), measure(dense)) > 0, name


def test_hoyer_can_disagree_with_the_others_on_which_map_is_sparser():
    spike_and_floor = np.r_[1.0, np.full(99, 0.02)]  # l1 = 2.98, l2 = sqrt(1.0396): Hoyer (10 - 2.9227) / 9 = 0.786
    ten_equal = np.r_[np.ones(10), np.zeros(90)]  # l1 / l2 = sqrt(10): Hoyer 0.760; Gini 0.9
    assert hoyer(spike_and_floor) == pytest.approx((10 - 2.98 / math.sqrt(1.0396)) / 9)
    assert hoyer(spike_and_floor) > hoyer(ten_equal)  # l2 is dominated by the one spike
    for name in ("gini", "entropy", "effective_share", "mass_share_50", "mass_share_90"):  # the floor counts
        measure = MEASURES[name]
        assert measure.improvement(measure(ten_equal), measure(spike_and_floor)) > 0, name


def test_registry():
    assert MEASURE_NAMES == ("gini", "hoyer", "entropy", "effective_share", "mass_share_50", "mass_share_90")
    assert {name for name, m in MEASURES.items() if m.higher_is_sparser} == {"gini", "hoyer"}
    for name, measure in MEASURES.items():
        assert measure.name == name and measure.label and measure.source
    assert MEASURES["gini"].function is gini
    assert set(measure_all(V, names=("gini", "hoyer"))) == {"gini", "hoyer"}
    with pytest.raises(AdvexError, match="unknown sparseness measure"):
        measure_all(V, names=("gini", "l0"))


@pytest.mark.parametrize("name", MEASURE_NAMES)
def test_torch_in_torch_out(name):
    maps = torch.randn(3, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    values = MEASURES[name](maps)
    assert isinstance(values, torch.Tensor) and values.shape == (3,)
    np.testing.assert_allclose(values.numpy(), MEASURES[name](maps.numpy()), rtol=1e-12)
    assert isinstance(MEASURES[name](maps[0].ravel()), float)
    assert effective_complexity(maps).dtype == torch.int64


@pytest.mark.parametrize("bad_option", [{"threshold": -0.1}, {"threshold": 1.0}, {"threshold": float("nan")}, {"threshold": "x"}])
def test_bad_threshold(bad_option):
    with pytest.raises(AdvexError, match="threshold"):
        effective_complexity(V, **bad_option)


@pytest.mark.parametrize("k", [0, -5, 100.5, float("nan"), None])
def test_bad_mass_percentage(k):
    with pytest.raises(AdvexError, match="k is a percentage"):
        mass_share(V, k=k)


@pytest.mark.parametrize("name", MEASURE_NAMES)
@pytest.mark.parametrize("bad", [np.array([]), np.zeros((2, 0)), 3.0, np.array([[1.0, np.nan]]), np.array([-np.inf, 1.0])])
def test_bad_attributions(name, bad):
    with pytest.raises(AdvexError):
        MEASURES[name](bad)


# --- cross-checks against independent computations ---------------------------------------------------------


def test_entropy_matches_scipy():
    rng = np.random.default_rng(5)
    for _ in range(20):
        v = rng.normal(size=rng.integers(2, 100))
        v[rng.random(v.size) < 0.5] = 0.0  # zero shares count as 0 log 0 = 0 in both
        v[0] = 1.0
        assert normalized_entropy(v) == pytest.approx(entropy(np.abs(v)) / math.log(v.size), rel=1e-12)


def test_hoyer_matches_the_cosine_to_the_ones_vector():
    # ||a||_1 / ||a||_2 = sqrt(d) cos(|a|, 1), so Hoyer = sqrt(d) (1 - cos) / (sqrt(d) - 1)
    rng = np.random.default_rng(6)
    for _ in range(20):
        v = np.abs(rng.standard_cauchy(size=rng.integers(2, 100)))
        d = v.size
        assert hoyer(v) == pytest.approx(math.sqrt(d) * cosine(v, np.ones(d)) / (math.sqrt(d) - 1), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=30), st.integers(1, 100))
def test_mass_share_matches_exact_rational_arithmetic(values, k):
    if sum(values) == 0:
        return
    ordered, target = sorted(values, reverse=True), Fraction(k, 100) * sum(values)
    needed = next(m for m in range(1, len(values) + 1) if sum(ordered[:m]) >= target)
    assert mass_share(np.array(values, dtype=float), k=k) == needed / len(values)


# --- properties (hypothesis) -------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
batches = st.tuples(st.integers(1, 4), st.integers(1, 24)).flatmap(lambda shape: arrays(np.float64, shape, elements=finite))
moderate = st.tuples(st.integers(1, 4), st.integers(1, 24)).flatmap(
    lambda shape: arrays(np.float64, shape, elements=st.floats(-1e6, 1e6).map(lambda x: x if abs(x) > 1e-200 else 0.0)))


def _same(a, b) -> bool:
    a, b = np.atleast_1d(np.asarray(a, dtype=float)), np.atleast_1d(np.asarray(b, dtype=float))
    return bool(np.all((np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-9, atol=1e-12)))


@settings(max_examples=150, deadline=None)
@given(batches)
def test_finite_input_gives_bounded_values_or_the_documented_nan(batch):
    d = batch.shape[1]
    zero = ~batch.any(axis=1)
    values = measure_all(batch)
    for name in NAN_FOR_ZERO:
        nan_expected = zero | (d == 1) if name in ("hoyer", "entropy") else zero
        assert np.array_equal(np.isnan(values[name]), nan_expected), name
    assert np.all(values["gini"][~zero] <= 1 - 1 / d + 1e-12)
    for name, low in (("gini", 0), ("hoyer", 0), ("entropy", 0), ("effective_share", 0), ("mass_share_50", 1 / d),
                      ("mass_share_90", 1 / d)):
        ok = values[name][~np.isnan(values[name])]
        assert np.all((ok >= low - 1e-12) & (ok <= 1.0)), name
    assert np.all(effective_complexity(batch)[~zero] >= 1) and np.all(effective_complexity(batch)[zero] == 0)


@settings(max_examples=100, deadline=None)
@given(batches, st.randoms(use_true_random=False))
def test_permutation_and_sign_invariance(batch, random):
    order = list(range(batch.shape[1]))
    random.shuffle(order)
    signs = np.where(np.array([random.random() < 0.5 for _ in range(batch.size)]).reshape(batch.shape), -1.0, 1.0)
    for name, measure in MEASURES.items():
        assert _same(measure(batch[:, order]), measure(batch)), name
        assert _same(measure(signs * batch), measure(batch)), name


@settings(max_examples=100, deadline=None)
@given(moderate, st.floats(1e-3, 1e3), st.integers(-20, 20))
def test_scale_invariance(batch, factor, exponent):
    for name, measure in MEASURES.items():
        # the discrete measures jump at thresholds, so they are checked with exact (power of two) scalings
        scaled = batch * 2.0**exponent if name in DISCRETE else batch * factor
        assert _same(measure(scaled), measure(batch)), name


@settings(max_examples=100, deadline=None)
@given(batches)
def test_batch_equals_per_example_and_images_flatten(batch):
    for name, measure in MEASURES.items():
        together = measure(batch)
        assert together.shape == (len(batch),)
        assert _same(together, [measure(row) for row in batch]), name
    images = batch.reshape(len(batch), 1, 1, -1)
    for name, measure in MEASURES.items():
        assert _same(measure(images), measure(batch)), name


@settings(max_examples=150, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(0, 3), st.integers(0, 5)),
              elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_any_input_either_works_or_raises_advex_error(batch):
    bad = batch.shape[1] == 0 or not np.isfinite(batch).all()
    for name, measure in MEASURES.items():
        if bad:
            with pytest.raises(AdvexError):
                measure(batch)
        else:
            assert measure(batch).shape == (len(batch),), name
