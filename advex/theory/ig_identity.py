"""Lemma 4.1 as a numerical identity: closed-form IG of a 1-layer network vs. numerical IG.

For F(x) = A(<w, x>) (eq. 14), eq. 15 gives IG^F(x, u) = [F(x) - F(u)] (x - u) ⊙ w / <x - u, w>.
The closed form is :func:`advex.attribution.closed_form.closed_form_ig`; the numerical side
is captum's Integrated Gradients (Gauss-Legendre quadrature of the path integral, eq. 13,
with autograd gradients) - two independent computations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients
from scipy.special import expit

from advex.attribution.closed_form import closed_form_ig
from advex.losses import LOGISTIC, SOFTPLUS_HINGE


@dataclass(frozen=True)
class Activation:
    """A differentiable scalar function A of the logit <w, x> (eq. 14), in numpy and in torch."""

    name: str
    numpy: Callable[[np.ndarray], np.ndarray]
    torch: Callable[[torch.Tensor], torch.Tensor]


def loss_activation(name: str, y: float) -> Activation:
    """L_y as a 1-layer network: A(s) = g(-y s) for a smooth LOSS-CVX loss (Section 5)."""
    if name == LOGISTIC.name:
        return Activation(f"logistic loss (y={y:+g})", lambda s: LOGISTIC.g(-y * s), lambda s: torch.nn.functional.softplus(-y * s))
    if name == SOFTPLUS_HINGE.name:
        return Activation(
            f"softplus hinge loss (y={y:+g})",
            lambda s: SOFTPLUS_HINGE.g(-y * s),
            lambda s: torch.nn.functional.softplus(1.0 - y * s),
        )
    raise ValueError(f"Lemma 4.1 needs a differentiable A; choose 'logistic' or 'softplus_hinge', not {name!r}")


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", expit, torch.sigmoid),
    "poisson (exp)": Activation("poisson (exp)", np.exp, torch.exp),
    "tanh": Activation("tanh", np.tanh, torch.tanh),
    "logistic loss (y=+1)": loss_activation(LOGISTIC.name, 1.0),
    "softplus hinge loss (y=-1)": loss_activation(SOFTPLUS_HINGE.name, -1.0),
}


def numerical_ig(w: np.ndarray, X: np.ndarray, baseline: np.ndarray, activation: Activation, n_steps: int = 64) -> np.ndarray:
    """IG of F(x) = A(<w, x>) by captum's Gauss-Legendre quadrature of eq. 13 (float64), shape like X."""
    w_t = torch.as_tensor(np.asarray(w, dtype=np.float64))
    X_t = torch.as_tensor(np.atleast_2d(np.asarray(X, dtype=np.float64)))
    u_t = torch.as_tensor(np.broadcast_to(np.asarray(baseline, dtype=np.float64), X_t.shape).copy())
    ig = IntegratedGradients(lambda inputs: activation.torch(inputs @ w_t))
    result = ig.attribute(X_t, baselines=u_t, n_steps=n_steps, method="gausslegendre").numpy()
    return result.reshape(np.shape(X)) if np.ndim(X) == 1 else result


@dataclass(frozen=True)
class IGComparison:
    """Both sides of eq. 15 for a batch of points, and their largest relative difference."""

    closed_form: np.ndarray
    numerical: np.ndarray

    @property
    def max_abs_error(self) -> float:
        """max |closed form - numerical| over points and features."""
        return float(np.max(np.abs(self.closed_form - self.numerical)))

    @property
    def max_rel_error(self) -> float:
        """Largest error relative to the point's largest |IG| component."""
        scale = np.maximum(np.max(np.abs(self.numerical), axis=-1, keepdims=True), 1e-300)
        return float(np.max(np.abs(self.closed_form - self.numerical) / scale))


def compare_ig(w: np.ndarray, X: np.ndarray, baseline: np.ndarray, activation: Activation, n_steps: int = 64) -> IGComparison:
    """Closed-form IG (Lemma 4.1, eq. 15) next to numerical IG (eq. 13) for the rows of X."""
    closed = closed_form_ig(w, X, baseline, activation=activation.numpy)
    return IGComparison(closed_form=np.asarray(closed), numerical=numerical_ig(w, X, baseline, activation, n_steps))


def random_ig_problem(d: int, n: int, rng: np.random.Generator, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random 1-layer problem: weights w (d,), inputs X (n, d) and baselines U (n, d)."""
    w = rng.normal(scale=scale, size=d) / np.sqrt(d)
    return w, rng.normal(size=(n, d)), rng.normal(scale=0.5, size=(n, d))
