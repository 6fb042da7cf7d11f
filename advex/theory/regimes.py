"""The four regimes of Appendix D.2: what Theorem 3.1 predicts for a group of weights.

For a conditionally independent group S (eq. 6 notation):

* ``grow``           - all w_i = 0 in S: each weight grows from zero toward sgn(a_i) (eq. 11);
* ``misaligned``     - a_S^w < 0: the group shrinks at a rate proportional to eps + |a_S^w|;
* ``aligned_weak``   - 0 <= a_S^w <= eps: aligned, but eps dominates: shrinks at rate eps - |a_S^w|;
* ``aligned_strong`` - a_S^w > eps: aligned and strong: expands (up to a point).

In the last three the rate is the factor a_S^w - eps of the bound g'bar (a_S^w - eps) of
eq. 12, which is tight as w_S -> 0.
"""

from __future__ import annotations

import numpy as np

from advex.theory.sgd_update import weighted_average

REGIMES: tuple[str, ...] = ("grow", "misaligned", "aligned_weak", "aligned_strong")

REGIME_LABELS: dict[str, str] = {
    "grow": "zero weight: grows toward sgn(a)",
    "misaligned": "misaligned: shrinks (rate eps + |a|)",
    "aligned_weak": "aligned but weak (|a| <= eps): shrinks (rate eps - |a|)",
    "aligned_strong": "aligned and strong (|a| > eps): expands",
}

REGIME_COLORS: dict[str, str] = {
    "grow": "#1f77b4",
    "misaligned": "#d62728",
    "aligned_weak": "#ff7f0e",
    "aligned_strong": "#2ca02c",
}


def group_regime(strengths: np.ndarray, w: np.ndarray, S: np.ndarray, eps: float) -> str:
    """The Appendix D.2 regime of group S at weights w and adversary strength eps."""
    if np.all(np.asarray(w)[S] == 0):
        return "grow"
    a_sw = float(weighted_average(strengths, w, S))
    if a_sw < 0:
        return "misaligned"
    return "aligned_weak" if a_sw <= eps else "aligned_strong"


def feature_regimes(strengths: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """The regime of every single feature (S = {i}, where a_S^w = sgn(w_i) a_i)."""
    a = np.asarray(strengths, dtype=np.float64)
    aligned = np.sign(w) * a
    regime = np.where(aligned < 0, "misaligned", np.where(aligned <= eps, "aligned_weak", "aligned_strong"))
    return np.where(np.asarray(w) == 0, "grow", regime).astype(object)


def predicted_rate(strengths: np.ndarray, w: np.ndarray, S: np.ndarray, eps: float) -> float:
    """The D.2 rate of group S: a_S^w - eps (negative = shrinkage), or NaN in the ``grow`` regime."""
    if np.all(np.asarray(w)[S] == 0):
        return float("nan")
    return float(weighted_average(strengths, w, S)) - eps


def describe_regimes(strengths: np.ndarray, w: np.ndarray, eps: float, g_prime_bar: float) -> str:
    """A short plain-language reading of the per-feature regimes, after Appendix D.2."""
    regimes = feature_regimes(strengths, w, eps)
    counts = {r: int(np.sum(regimes == r)) for r in REGIMES}
    d = len(regimes)
    lines = [f"With eps = {eps:g}, for the {d} features (each its own group S):"]
    if counts["grow"]:
        lines.append(
            f"- {counts['grow']} have zero weight: on average SGD moves each one away from zero in the "
            "direction of its strength a_i, by g'bar a_i (eq. 11) - what any training would do."
        )
    if counts["misaligned"]:
        lines.append(
            f"- {counts['misaligned']} point the wrong way (sgn(w_i) a_i < 0): they shrink, at a rate "
            "proportional to eps + |a_i| - faster than natural training (eps = 0) would shrink them."
        )
    if counts["aligned_weak"]:
        lines.append(
            f"- {counts['aligned_weak']} point the right way but are weak (|a_i| <= eps): the adversary "
            "outweighs their signal, so they shrink at a rate proportional to eps - |a_i|. This is the "
            "feature pruning of adversarial training."
        )
    if counts["aligned_strong"]:
        lines.append(
            f"- {counts['aligned_strong']} point the right way and are strong (|a_i| > eps): they keep "
            "growing (up to a point), at a rate proportional to |a_i| - eps."
        )
    lines.append(
        f"All rates are scaled by g'bar = {g_prime_bar:.3g}, the average slope of the loss, a proxy for the "
        "model's current error: the effects are strongest early in training and fade as the model improves."
    )
    return "\n".join(lines)
