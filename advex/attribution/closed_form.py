"""Exact Integrated Gradients of a 1-layer network F(x) = A(<w, x> + b) (Lemma 4.1, eq. 15)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit


def closed_form_ig(
    w: np.ndarray,
    x: np.ndarray,
    baseline: np.ndarray | float = 0.0,
    activation: Callable[[np.ndarray], np.ndarray] = expit,
    bias: float = 0.0,
) -> np.ndarray:
    """IG^F(x, u) = [F(x) - F(u)] (x - u) ⊙ w / <x - u, w>, with F(x) = A(<w, x> + b) (eq. 15).

    ``x`` has shape (d,) or (n, d). Where <x - u, w> = 0 the limit is used:
    IG = A'(<w, u> + b) (x - u) ⊙ w (the integrand of eq. 13 is then constant).
    The default activation is the sigmoid (logistic regression's predicted probability).
    """
    w = np.asarray(w, dtype=np.float64)
    single = np.ndim(x) == 1
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    u = np.broadcast_to(np.asarray(baseline, dtype=np.float64), x.shape)
    diff = x - u
    logit_change = diff @ w
    logit_u = u @ w + bias
    output_change = activation(x @ w + bias) - activation(logit_u)
    slope = _derivative(activation, logit_u)
    safe = np.abs(logit_change) > 1e-12
    scale = np.where(safe, output_change / np.where(safe, logit_change, 1.0), slope)
    result = scale[:, None] * diff * w[None, :]
    return result[0] if single else result


def _derivative(activation: Callable[[np.ndarray], np.ndarray], z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central difference A'(z), used only in the degenerate case <x - u, w> = 0."""
    return (activation(z + h) - activation(z - h)) / (2 * h)
