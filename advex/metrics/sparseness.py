"""Sparseness improvements dG of a-models and l-models over the natural model (Section 6.2, eqs. 19-22)."""

from __future__ import annotations

import numpy as np

from advex.errors import AdvexError
from advex.metrics.gini import mean_with_ci95
from advex.metrics.measures import MEASURE_NAMES, MEASURES
from advex.vocabulary import check_choice


def pointwise_dG(attributions_model, attributions_natural, measure: str = "gini"):
    """dG[A](x) = G^m[A](x) - G^n[A](x) per example (eq. 19 for m = a, eq. 20 for m = l).

    Both maps explain the same examples (same shape). With another registered ``measure`` the
    difference is signed so that positive means sparser (see ``Measure.improvement``).
    """
    if np.shape(attributions_model) != np.shape(attributions_natural):
        raise AdvexError("attributions must cover the same examples and features: "
                         f"{tuple(np.shape(attributions_model))} vs {tuple(np.shape(attributions_natural))}")
    chosen = MEASURES[check_choice(measure, MEASURE_NAMES, "sparseness measure")]
    return chosen.improvement(chosen(attributions_model), chosen(attributions_natural))


def mean_dG_with_ci95(values_model, values_natural, measure: str = "gini") -> tuple[float, float]:
    """Mean of the pointwise dG (eqs. 19-20) over paired examples, i.e. dG (eqs. 21-22), and its paired 95% CI.

    ``values_*`` are per-example values of ``measure`` (e.g. Ginis) of the same examples in the
    same order; pairs with a NaN on either side are dropped. The CI is :func:`mean_with_ci95` of
    the differences, narrower than one from two independent means when the two are correlated.
    """
    model, natural = np.asarray(values_model, dtype=np.float64), np.asarray(values_natural, dtype=np.float64)
    if model.shape != natural.shape:
        raise AdvexError(f"paired values must hold the same examples: shapes {model.shape} vs {natural.shape}")
    chosen = MEASURES[check_choice(measure, MEASURE_NAMES, "sparseness measure")]
    return mean_with_ci95(chosen.improvement(model, natural))


def average_dG(mean_gini_model: float, mean_gini_natural: float) -> float:
    """dG[A] = G^m[A] - G^n[A], the average sparseness improvement (eq. 21 for m = a, eq. 22 for m = l)."""
    return float(mean_gini_model - mean_gini_natural)


def accuracy_drop(accuracy_model: float, accuracy_natural: float) -> float:
    """AcDrop of Table 1: natural accuracy minus the model's accuracy, as a fraction."""
    return float(accuracy_natural - accuracy_model)


def verdict(dG_a: float, ci_a: float, dG_l: float, ci_l: float) -> str:
    """Which model is clearly ahead: "a" when a's 95% CI lies wholly above l's, "l" when below, else "overlap"."""
    if dG_a - ci_a > dG_l + ci_l:
        return "a"
    if dG_a + ci_a < dG_l - ci_l:
        return "l"
    return "overlap"
