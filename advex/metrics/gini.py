"""Gini sparseness index of an attribution vector (Section 6.2, Appendix I, eq. I.67)."""

from __future__ import annotations

import numpy as np


def gini(v: np.ndarray) -> np.ndarray | float:
    """Gini index G(|v|) over the last axis, eq. I.67.

    G(v) = 1 - 2 * sum_k v_(k) / ||v||_1 * (d - k + 0.5) / d, with v sorted non-decreasingly
    (k = 1..d). Lies in [0, 1]; 0 for a constant vector, 1 - 1/d for a single non-zero entry.
    Absolute values are taken first (G[A](x) = G(|A(x)|), Section 6.2). An all-zero vector has
    no defined Gini and gives NaN. A 1-D input returns a float, an (N, d) input an (N,) array;
    flatten images to (N, d) first.
    """
    values = np.abs(np.asarray(v, dtype=np.float64))
    if values.ndim == 0 or values.shape[-1] == 0:
        raise ValueError("gini needs a non-empty vector (last axis of length >= 1)")
    d = values.shape[-1]
    sorted_values = np.sort(values, axis=-1)
    total = sorted_values.sum(axis=-1)
    k = np.arange(1, d + 1, dtype=np.float64)
    weights = (d - k + 0.5) / d
    with np.errstate(invalid="ignore", divide="ignore"):
        g = 1.0 - 2.0 * (sorted_values @ weights) / total
    g = np.where(total > 0, g, np.nan)
    return float(g) if g.ndim == 0 else g


def mean_gini(attributions: np.ndarray) -> float:
    """Average Gini of the attribution vectors of a test set, the G[A] of eqs. 21-22 (NaN rows skipped)."""
    flat = np.asarray(attributions).reshape(len(attributions), -1)
    return float(np.nanmean(gini(flat)))


def mean_with_ci95(values: np.ndarray) -> tuple[float, float]:
    """Mean of ``values`` (NaNs skipped) and the half-width of its normal 95% confidence interval."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else float("nan")
    return float(values.mean()), float(half_width)
