"""A synthetic tabular data set with known directed strengths a_i (Section 2, eqs. 3-4).

Features are conditionally independent given y and satisfy Assumption FEAT-TRANS by
construction (:func:`advex.data.feat_trans.graded_distribution`): a few strong
features and many weak ones, so adversarial training visibly prunes the weak ones
(Theorem 3.1) in the dashboard and in tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advex.data.feat_trans import graded_distribution
from advex.data.tabular import TabularDataset


@dataclass
class SyntheticDataset(TabularDataset):
    """A :class:`TabularDataset` that also knows each feature's directed strength a_i = E[y x_i] (eq. 4)."""

    strengths: np.ndarray | None = None


def make_synthetic(
    n_samples: int = 4000,
    n_strong: int = 5,
    n_weak: int = 25,
    strong: float = 0.8,
    weak: float = 0.05,
    noise: float = 1.0,
    family: str = "gaussian",
    test_size: float = 0.3,
    seed: int = 0,
) -> SyntheticDataset:
    """Draw a seeded train/test set with known strengths a_i (alternating signs).

    Feature names say each feature's strength (``strong_1``, ``weak_7``), labels are {0, 1}
    with label 1 for the paper's y = +1.
    """
    if n_samples < 10:
        raise ValueError("n_samples must be at least 10")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must lie in (0, 1), got {test_size}")
    distribution = graded_distribution(n_strong, n_weak, strong, weak, family, noise)
    X, y = distribution.sample(n_samples, np.random.default_rng(seed))
    labels = (y > 0).astype(np.int64)
    n_test = int(round(test_size * n_samples))
    names = [f"strong_{i + 1}" for i in range(n_strong)] + [f"weak_{i + 1}" for i in range(n_weak)]
    return SyntheticDataset(
        name="synthetic",
        X_train=X[n_test:].astype(np.float32),
        y_train=labels[n_test:],
        X_test=X[:n_test].astype(np.float32),
        y_test=labels[:n_test],
        feature_names=names,
        feature_groups=list(names),
        label_names=("y = -1", "y = +1"),
        credit="synthetic: x_i | y ~ FEAT-TRANS distribution with E[x_i | y] = a_i y (advex.data.feat_trans)",
        strengths=distribution.strengths,
    )
