"""The references of advex.vocabulary.REFERENCES: each one's defining property, seeding and clear errors."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from advex.attribution.references import (
    BLUR_SIGMA,
    Reference,
    blurred,
    make_reference,
    mean_example,
    train_sample,
    uniform_noise,
)
from advex.errors import AdvexError
from advex.vocabulary import REFERENCE_DESCRIPTIONS, REFERENCES, TRAIN_SAMPLE_SIZE


def _images(n=4, shape=(1, 28, 28), seed=0):
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed))


def test_black_is_the_all_zero_input_shared_by_every_input():
    X = _images()
    reference = make_reference("black", X)
    assert not reference.per_input and reference.size == 1
    assert reference.values.shape == (1, 1, 28, 28) and torch.count_nonzero(reference.values) == 0


def test_black_for_tabular_rows_is_the_zero_row():
    reference = make_reference("black", torch.randn(5, 57))
    assert reference.values.shape == (1, 57) and torch.count_nonzero(reference.values) == 0


@settings(max_examples=25, deadline=None)
@given(height=st.integers(2, 40), width=st.integers(2, 40), channels=st.integers(1, 3), sigma=st.floats(0.0, 12.0),
       seed=st.integers(0, 1000))
def test_blur_keeps_each_channels_mean(height, width, channels, sigma, seed):
    X = torch.rand((2, channels, height, width), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    smooth = blurred(X, sigma)
    assert smooth.shape == X.shape
    torch.testing.assert_close(smooth.mean(dim=(2, 3)), X.mean(dim=(2, 3)), rtol=0, atol=1e-12)


def test_blur_smooths_and_is_per_input():
    X = _images(3)
    reference = make_reference("blur", X)
    assert reference.per_input and reference.size == 1 and reference.values.shape == X.shape
    assert (reference.values.std(dim=(2, 3)) < 0.25 * X.std(dim=(2, 3))).all()  # sigma 5 flattens uniform noise
    torch.testing.assert_close(reference.values[1:2], blurred(X[1:2], BLUR_SIGMA))  # each image its own blur
    torch.testing.assert_close(blurred(X, 0.0), X)
    assert "sigma 5" in REFERENCE_DESCRIPTIONS["blur"] and BLUR_SIGMA == 5.0


def test_blur_and_uniform_refuse_tabular_rows():
    for name in ("blur", "uniform"):
        with pytest.raises(AdvexError, match="images"):
            make_reference(name, torch.randn(5, 57))


def test_uniform_lies_in_the_unit_interval_and_is_seeded():
    X = _images(6)
    noise = uniform_noise(X, seed=3)
    assert noise.shape == X.shape and noise.min() >= 0 and noise.max() <= 1 and noise.std() > 0.25
    torch.testing.assert_close(noise, uniform_noise(X, seed=3))
    assert not torch.equal(noise, uniform_noise(X, seed=4))
    torch.testing.assert_close(uniform_noise(X[[4, 1]], seed=3), noise[[4, 1]])  # an image's noise does not depend on its batch
    assert not torch.equal(noise[0], noise[1])
    assert make_reference("uniform", X, seed=3).per_input


@pytest.mark.parametrize("as_numpy", [False, True])
def test_train_sample_rows_are_distinct_real_training_rows(as_numpy):
    X_train = torch.arange(300 * 4, dtype=torch.float32).reshape(300, 1, 2, 2)
    source = X_train.numpy() if as_numpy else X_train
    reference = make_reference("train-sample", X_train[:2], X_train=source, k=25, seed=7)
    assert not reference.per_input and reference.size == 25
    rows = reference.values.reshape(25, -1)
    index = (rows[:, 0] / 4).long()
    assert torch.equal(rows, X_train.reshape(300, -1)[index])  # real rows, unchanged
    assert len(set(index.tolist())) == 25  # without replacement
    torch.testing.assert_close(reference.values, make_reference("train-sample", X_train[:2], X_train=source, k=25, seed=7).values)
    assert not torch.equal(reference.values, make_reference("train-sample", X_train[:2], X_train=source, k=25, seed=8).values)
    assert len(train_sample(X_train[:10], k=TRAIN_SAMPLE_SIZE)) == 10  # all rows when fewer than k
    smaller = {tuple(row) for row in train_sample(X_train, k=10, seed=7).reshape(10, -1).tolist()}
    assert smaller <= {tuple(row) for row in rows.tolist()}  # nested in k: a smaller k keeps a subset


def test_mean_is_the_mean_training_example():
    X_train = np.random.default_rng(0).random((500, 1, 5, 5)).astype(np.float32)
    for source in (X_train, torch.from_numpy(X_train)):
        reference = make_reference("mean", torch.zeros(2, 1, 5, 5), X_train=source)
        assert reference.values.shape == (1, 1, 5, 5)
        np.testing.assert_allclose(reference.values.numpy()[0], X_train.astype(np.float64).mean(axis=0), atol=1e-7)
    assert mean_example(np.full((3, 2), 7, dtype=np.uint8)).dtype == torch.float32


@pytest.mark.parametrize("name", ["train-sample", "mean"])
def test_training_data_references_name_the_missing_or_misshaped_argument(name):
    with pytest.raises(AdvexError, match="X_train"):
        make_reference(name, _images())
    with pytest.raises(AdvexError, match="X_train has shape"):
        make_reference(name, _images(), X_train=torch.rand(10, 1, 14, 14))
    with pytest.raises(AdvexError, match="NaN"):
        make_reference(name, _images(), X_train=torch.full((3, 1, 28, 28), float("nan")))


def test_unknown_reference_lists_the_choices():
    with pytest.raises(AdvexError, match="unknown reference 'gray'.*black"):
        make_reference("gray", _images())
    assert set(REFERENCES) == {"black", "train-sample", "mean", "blur", "uniform"}


def test_average_over_pairs_matches_a_hand_loop():
    X = torch.arange(6, dtype=torch.float64).reshape(3, 2)
    shared = Reference("set", torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64), per_input=False)
    per_input = Reference("own", -X, per_input=True)

    def attribute(x, u, t):
        return (x - u) * (t[:, None] + 1)

    targets = torch.tensor([0, 1, 2])
    for pairs_per_pass in (1, 2, 5):
        expected = torch.stack([((X[i] - shared.values) * (i + 1)).mean(0) for i in range(3)])
        torch.testing.assert_close(shared.average(attribute, X, targets, pairs_per_pass), expected)
        torch.testing.assert_close(per_input.average(attribute, X, targets, pairs_per_pass), 2 * X * (targets[:, None] + 1))
