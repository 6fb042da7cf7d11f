"""The LOSS-INC / LOSS-CVX loss family g(z) of Section 2 and Appendix B.1.

Every loss here has the form L(x, y; w) = g(-y <w, x>) with g non-decreasing and
convex, so the closed-form attack of eq. 7 and the adversarial loss of eq. 8 apply.
Functions work elementwise on numpy arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit


@dataclass(frozen=True)
class MarginLoss:
    """A loss g of the LOSS-CVX family with its derivative g' (Appendix B.1)."""

    name: str
    g: Callable[[np.ndarray], np.ndarray]
    g_prime: Callable[[np.ndarray], np.ndarray]
    formula: str


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


LOGISTIC = MarginLoss(
    name="logistic",
    g=_softplus,  # g(z) = ln(1 + e^z)
    g_prime=expit,  # g'(z) = 1 / (1 + e^-z)
    formula="g(z) = ln(1 + e^z)",
)

HINGE = MarginLoss(
    name="hinge",
    g=lambda z: np.maximum(1.0 + np.asarray(z, dtype=float), 0.0),  # g(z) = (1 + z)^+
    g_prime=lambda z: (np.asarray(z, dtype=float) > -1.0).astype(float),  # a.e. derivative
    formula="g(z) = (1 + z)^+",
)

SOFTPLUS_HINGE = MarginLoss(
    name="softplus_hinge",
    g=lambda z: _softplus(1.0 + np.asarray(z, dtype=float)),  # g(z) = ln(1 + e^(1+z))
    g_prime=lambda z: expit(1.0 + np.asarray(z, dtype=float)),  # g'(z) = 1 / (1 + e^(-1-z))
    formula="g(z) = ln(1 + e^(1+z))",
)

LOSSES: dict[str, MarginLoss] = {loss.name: loss for loss in (LOGISTIC, HINGE, SOFTPLUS_HINGE)}


def get_loss(name: str) -> MarginLoss:
    """Look up a loss by name; the error lists the valid names."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}") from None
