"""Gini sparseness index of an attribution vector (Section 6.2, Appendix I, eq. I.67), and the 95% CI of a mean."""

from __future__ import annotations

import numpy as np
import torch

from advex.metrics.per_example import per_example_measure


@per_example_measure
def gini(magnitudes: np.ndarray) -> np.ndarray:
    """Gini index G[A](x) = G(|A(x)|) of each example over all its non-batch axes, eq. I.67.

    G(v) = 1 - 2 * sum_k v_(k) / ||v||_1 * (d - k + 0.5) / d, with v sorted non-decreasingly
    (k = 1..d). In [0, 1], higher is sparser: 0 for a constant vector, 1 - 1/d for a single
    non-zero entry (Appendix I says 1.0, the limit for large d; eq. I.67 gives 1 - 1/d), 0 for
    d = 1. Scale and permutation invariant. The all-zero vector has no Gini: NaN.
    A 1-D input (d,) gives a float; (N, ...) gives shape (N,) (numpy or torch, as given).
    """
    d = magnitudes.shape[1]
    weights = (d - np.arange(1, d + 1, dtype=np.float64) + 0.5) / d
    sorted_values = np.sort(magnitudes, axis=1)
    total = sorted_values.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = 1.0 - 2.0 * (sorted_values @ weights) / total
    return np.where(total > 0, np.clip(g, 0.0, 1.0), np.nan)  # clip: rounding only


def mean_gini(attributions) -> float:
    """Average Gini of the attribution maps of a test set, the G[A] of eqs. 21-22 (all-zero maps skipped)."""
    values = gini(attributions)
    return float(np.nanmean(values.cpu().numpy() if isinstance(values, torch.Tensor) else values))


def mean_with_ci95(values) -> tuple[float, float]:
    """Mean of ``values`` (NaNs skipped) and the half-width of its normal-approximation 95% CI, 1.96 s / sqrt(n).

    The one confidence-interval helper of advex; for paired differences (dG, eqs. 19-20) see
    :func:`advex.metrics.sparseness.mean_dG_with_ci95`. Half-width NaN for fewer than 2 values.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else float("nan")
    return float(values.mean()), float(half_width)
