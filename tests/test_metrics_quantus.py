"""Cross-check of the Gini, entropy and effective complexity against Quantus (Hedstrom et al. 2023), where installed.

Quantus's metrics first divide the batch by its max |a| (``normalise=True``, the default) and
take |a|. Its ``Sparseness`` then adds 1e-7 to every value before the Gini (eq. I.67 in Hurley &
Rickard's form); its ``Complexity`` is the unnormalized entropy -sum p log(p + 1e-12), in nats;
its ``EffectiveComplexity`` counts values above eps = 1e-5. Each example is passed as a batch of
one so that Quantus's batch-wide max is the example's own max.
"""

import math

import numpy as np
import pytest

from advex.metrics.gini import gini
from advex.metrics.measures import effective_complexity, normalized_entropy

quantus = pytest.importorskip("quantus", reason="quantus is not installed (pip install quantus: no torch needed)")

QUANTUS_GINI_OFFSET = 1e-7  # added by quantus.Sparseness to every max-normalized |a|


def _maps(seed: int = 0, n: int = 12) -> np.ndarray:
    """MNIST-shaped maps from dense to very sparse, over several orders of magnitude."""
    rng = np.random.default_rng(seed)
    maps = rng.normal(size=(n, 1, 28, 28)) * 10.0 ** rng.uniform(-8, 2, size=(n, 1, 1, 1))
    keep = rng.random((n, 1, 28, 28)) < np.linspace(1.0, 0.02, n)[:, None, None, None]
    return maps * keep


def _quantus(metric_class, a: np.ndarray, **options) -> float:
    metric = metric_class(disable_warnings=True, **options)
    (value,) = metric(model=None, x_batch=np.zeros_like(a), y_batch=np.zeros(len(a), dtype=int), a_batch=a.copy())
    return float(value)


def test_gini_matches_quantus_sparseness_up_to_its_offset():
    for a in _maps():
        theirs = _quantus(quantus.Sparseness, a[None])
        scaled = np.abs(a.ravel()) / np.abs(a).max()
        assert theirs == pytest.approx(gini(scaled + QUANTUS_GINI_OFFSET), abs=1e-12)
        # G(v + c) = G(v) S / (S + d c) (eq. I.67's weights sum to 0): the offset moves G by at most d c / S
        assert abs(theirs - gini(a.ravel())) <= scaled.size * QUANTUS_GINI_OFFSET / scaled.sum() + 1e-12


def test_entropy_times_log_d_is_quantus_complexity():
    for a in _maps(seed=1):
        d = a.size
        assert _quantus(quantus.Complexity, a[None]) == pytest.approx(normalized_entropy(a.ravel()) * math.log(d),
                                                                      rel=1e-9, abs=d * 1e-11)


def test_effective_complexity_matches_quantus_on_a_batch_of_one():
    for a in _maps(seed=2):
        for threshold in (1e-5, 1e-2, 0.3):
            assert _quantus(quantus.EffectiveComplexity, a[None], eps=threshold) == effective_complexity(a.ravel(), threshold)
