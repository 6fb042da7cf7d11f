"""The closed-form l_inf(eps) attack on 1-layer models with LOSS-INC losses (Section 3, Appendix C).

Labels ``y`` are in {-1, +1} (the paper's convention); ``w`` is the weight vector of
the 1-layer model <w, x> (a bias, if any, is not perturbed and adds to the margin).
"""

from __future__ import annotations

import numpy as np

from advex.losses import MarginLoss


def adversarial_perturbation(w: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    """delta* = -y sgn(w) eps, the loss-maximizing l_inf(eps) perturbation (eq. 7, Lemma 2).

    ``y`` may be a scalar or shape (n,); the result has shape (n, d) (or (d,) for scalar y).
    """
    y = np.asarray(y, dtype=np.float64)
    return -np.multiply.outer(y, np.sign(np.asarray(w, dtype=np.float64))) * eps


def adversarial_margin(w: np.ndarray, X: np.ndarray, y: np.ndarray, eps: float, bias: float = 0.0) -> np.ndarray:
    """z = eps ||w||_1 - y (<w, x> + b), the argument of g in the adversarial loss (eq. 8)."""
    return eps * np.abs(w).sum() - np.asarray(y) * (np.asarray(X) @ np.asarray(w) + bias)


def adversarial_loss(loss: MarginLoss, w: np.ndarray, X: np.ndarray, y: np.ndarray, eps: float, bias: float = 0.0) -> np.ndarray:
    """L(x + delta*, y; w) = g(eps ||w||_1 - y <w, x>) per example (eq. 8)."""
    return loss.g(adversarial_margin(w, X, y, eps, bias))


def adversarial_loss_gradient(loss: MarginLoss, w: np.ndarray, X: np.ndarray, y: np.ndarray, eps: float, bias: float = 0.0) -> np.ndarray:
    """dL(x + delta*, y; w)/dw_i = -g'(eps ||w||_1 - y <w, x>) (y x_i - sgn(w_i) eps), per example (eq. 9, Lemma 3)."""
    y = np.asarray(y, dtype=np.float64)
    g_prime = loss.g_prime(adversarial_margin(w, X, y, eps, bias))
    return -g_prime[:, None] * (y[:, None] * np.asarray(X) - np.sign(w)[None, :] * eps)
