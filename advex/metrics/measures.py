"""Sparseness measures of attribution maps beside the paper's Gini index, and their registry.

Each is applied to |A(x)| over all non-batch axes, one value per example, like the paper's
G[A](x) = G(|A(x)|) (Section 6.2); the input rules (1-D gives a number, (N, ...) gives (N,),
numpy or torch as given, AdvexError for NaN/inf or shapeless input) are those of
:mod:`advex.metrics.per_example`. All are scale invariant (the effective complexity because its
threshold is relative to max|a|) and permutation invariant.

Sources:
- Gini index: eq. I.67 (Hurley & Rickard 2009), :func:`advex.metrics.gini.gini`.
- Hoyer's measure: P. O. Hoyer, "Non-negative matrix factorization with sparseness
  constraints", JMLR 5 (2004), eq. 1.
- Normalized entropy: the "complexity" of U. Bhatt, A. Weller, J. Moura, "Evaluating and
  aggregating feature-based model explanations", IJCAI 2020 (Quantus ``Complexity``), divided by log d.
- Effective complexity: A. Nguyen, M. Rodriguez Martinez, "On quantitative aspects of model
  interpretability", arXiv:2007.07584 (2020) (Quantus ``EffectiveComplexity``).
- Mass share: the share of features, largest |a| first, holding k% of ||a||_1; read off the
  Lorenz curve of Appendix I at 1 - k/100.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy.special import entr

from advex.errors import AdvexError
from advex.metrics.gini import gini
from advex.metrics.per_example import per_example_measure

EFFECTIVE_THRESHOLD = 1e-5  # Quantus's default eps, which it applies after dividing by max|a|
MASS_ROUNDING = 1e-9  # cumulative shares within this relative distance of k% count as reaching it


@per_example_measure
def hoyer(magnitudes: np.ndarray) -> np.ndarray:
    """Hoyer's sparseness (Hoyer 2004, eq. 1): (sqrt(d) - ||a||_1 / ||a||_2) / (sqrt(d) - 1).

    In [0, 1], higher is sparser: 0 for a constant vector, 1 for a single non-zero entry.
    NaN for the all-zero vector and for d = 1 (0 / 0).
    """
    d = magnitudes.shape[1]
    l1 = magnitudes.sum(axis=1)
    l2 = np.sqrt(np.einsum("ij,ij->i", magnitudes, magnitudes))
    root = np.sqrt(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = (root - l1 / l2) / (root - 1.0)
    return np.where((l2 > 0) & (d > 1), np.clip(h, 0.0, 1.0), np.nan)  # clip: rounding only


@per_example_measure
def normalized_entropy(magnitudes: np.ndarray) -> np.ndarray:
    """H(p) / log d with p_i = |a_i| / ||a||_1 and H(p) = -sum_i p_i log p_i (0 log 0 = 0): Bhatt et al. 2020.

    In [0, 1], lower is sparser: 1 for a constant vector, 0 for a single non-zero entry.
    Quantus's ``Complexity`` is the unnormalized H in nats, computed as -sum p log(p + 1e-12):
    it equals this value times log d (to ~d * 1e-12). NaN for the all-zero vector and for d = 1.
    """
    d = magnitudes.shape[1]
    total = magnitudes.sum(axis=1, keepdims=True)
    shares = np.divide(magnitudes, total, out=np.zeros_like(magnitudes), where=total > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = entr(shares).sum(axis=1) / np.log(d)
    return np.where((total[:, 0] > 0) & (d > 1), np.clip(h, 0.0, 1.0), np.nan)


def _check_in(value: float, low: float, high: float, closed_low: bool, closed_high: bool, meaning: str) -> float:
    """``value`` as a float if it lies in the interval, else an AdvexError saying what it means."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    above = number >= low if closed_low else number > low
    below = number <= high if closed_high else number < high
    if not (above and below):
        interval = f"{'[' if closed_low else '('}{low:g}, {high:g}{']' if closed_high else ')'}"
        raise AdvexError(f"{meaning} in {interval}, got {value!r}")
    return number


def _check_threshold(threshold: float) -> float:
    return _check_in(threshold, 0.0, 1.0, True, False, "threshold is a share of max|a|")


@per_example_measure
def effective_complexity(magnitudes: np.ndarray, threshold: float = EFFECTIVE_THRESHOLD) -> np.ndarray:
    """Number of features with |a_i| > threshold * max|a| (Nguyen & Rodriguez Martinez 2020), int.

    Lower is sparser; in [1, d], 0 for the all-zero vector; threshold = 0 counts the non-zeros (l0).
    Quantus's ``EffectiveComplexity`` (default normalise=True) divides by the max over the whole
    batch, not per example, so its count for an example depends on the others in the batch;
    for a batch of one example the two agree.
    """
    return (magnitudes > _check_threshold(threshold)).sum(axis=1)


@per_example_measure
def effective_complexity_share(magnitudes: np.ndarray, threshold: float = EFFECTIVE_THRESHOLD) -> np.ndarray:
    """:func:`effective_complexity` divided by d: the share of features above the threshold, in [0, 1]; lower is sparser."""
    return (magnitudes > _check_threshold(threshold)).mean(axis=1)


@per_example_measure
def mass_share(magnitudes: np.ndarray, k: float = 50.0) -> np.ndarray:
    """Smallest share m/d of features, largest |a| first, whose |a| sum to at least k% of ||a||_1.

    In [1/d, 1], lower is sparser: 1/d for a single non-zero entry, ceil(k d / 100) / d for a
    constant vector. Equals 1 - L^-1(1 - k/100) on the Lorenz curve L of Appendix I. Cumulative
    sums within a relative 1e-9 of k% count as reaching it (rounding). NaN for the all-zero vector.
    """
    k = _check_in(k, 0.0, 100.0, False, True, "k is a percentage of the attribution mass")
    cumulative = np.cumsum(-np.sort(-magnitudes, axis=1), axis=1)
    target = (k / 100.0) * cumulative[:, -1:] * (1.0 - MASS_ROUNDING)
    needed = (cumulative < target).sum(axis=1) + 1
    return np.where(cumulative[:, -1] > 0, needed / magnitudes.shape[1], np.nan)


@dataclass(frozen=True)
class Measure:
    """A registered sparseness measure: ``function(attributions)`` gives one value per example."""

    name: str
    label: str
    higher_is_sparser: bool
    source: str
    function: Callable

    def __call__(self, attributions):
        return self.function(attributions)

    def improvement(self, values_model, values_natural):
        """Per-example sparseness gained over the natural model, positive = sparser (dG of eqs. 19-20 for Gini)."""
        return values_model - values_natural if self.higher_is_sparser else values_natural - values_model


MEASURES: dict[str, Measure] = {
    measure.name: measure
    for measure in (
        Measure("gini", "Gini index", True, "Chalasani et al. 2020, eq. I.67 (Hurley & Rickard 2009)", gini),
        Measure("hoyer", "Hoyer sparseness", True, "Hoyer 2004, JMLR 5, eq. 1", hoyer),
        Measure("entropy", "normalized entropy", False, "Bhatt et al. 2020 (Quantus Complexity) / log d", normalized_entropy),
        Measure("effective_share", "share of features above 1e-5 max|A|", False,
                "Nguyen & Rodriguez Martinez 2020 (Quantus EffectiveComplexity) / d", effective_complexity_share),
        Measure("mass_share_50", "share of features holding 50% of |A|", False, "Lorenz curve, Appendix I",
                partial(mass_share, k=50.0)),
        Measure("mass_share_90", "share of features holding 90% of |A|", False, "Lorenz curve, Appendix I",
                partial(mass_share, k=90.0)),
    )
}
MEASURE_NAMES = tuple(MEASURES)


def measure_all(attributions, names: tuple[str, ...] = MEASURE_NAMES) -> dict:
    """Every registered measure (or those in ``names``) of ``attributions``: name -> one value per example."""
    unknown = [name for name in names if name not in MEASURES]
    if unknown:
        raise AdvexError(f"unknown sparseness measure(s) {unknown}; choose from {', '.join(MEASURE_NAMES)}")
    return {name: MEASURES[name](attributions) for name in names}
