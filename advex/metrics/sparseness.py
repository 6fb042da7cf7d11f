"""Sparseness improvements dG of a-models and l-models over the natural model (Section 6.2, eqs. 19-22)."""

from __future__ import annotations

import numpy as np

from advex.metrics.gini import gini


def pointwise_dG(attributions_model: np.ndarray, attributions_natural: np.ndarray) -> np.ndarray:
    """dG[A](x) = G^m[A](x) - G^n[A](x) per example (eq. 19 for m = a, eq. 20 for m = l)."""
    model = np.asarray(attributions_model).reshape(len(attributions_model), -1)
    natural = np.asarray(attributions_natural).reshape(len(attributions_natural), -1)
    if model.shape != natural.shape:
        raise ValueError(f"attributions must cover the same examples and features: {model.shape} vs {natural.shape}")
    return gini(model) - gini(natural)


def average_dG(mean_gini_model: float, mean_gini_natural: float) -> float:
    """dG[A] = G^m[A] - G^n[A], the average sparseness improvement (eq. 21 for m = a, eq. 22 for m = l)."""
    return float(mean_gini_model - mean_gini_natural)


def accuracy_drop(accuracy_model: float, accuracy_natural: float) -> float:
    """AcDrop of Table 1: natural accuracy minus the model's accuracy, as a fraction."""
    return float(accuracy_natural - accuracy_model)
