"""Exact Integrated Gradients of a 1-layer network F(x) = A(<w, x> + b) (Lemma 4.1, eq. 15)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.special import expit

from advex.attribution.arguments import as_tensor
from advex.errors import AdvexError


def closed_form_ig(
    w,
    x,
    baseline=0.0,
    activation: Callable[[np.ndarray], np.ndarray] = expit,
    bias: float = 0.0,
):
    """IG^F(x, u) = [F(x) - F(u)] (x - u) ⊙ w / <x - u, w>, with F(x) = A(<w, x> + b) (eq. 15).

    ``x`` has shape (d,) or (n, d); ``baseline`` is a number, one row or one row per example.
    Where <x - u, w> = 0 the limit is used: IG = A'(<w, u> + b) (x - u) ⊙ w (the integrand of
    eq. 13 is then constant). The default activation is the sigmoid (logistic regression's predicted
    probability); the identity gives IG of the logit, (x - u) ⊙ w. Computed in float64: numpy in,
    float64 numpy out (exact reference values); torch in, a tensor of x's dtype and device out.
    """
    fix = "pass finite numbers: w shaped (d,), x shaped (d,) or (n, d)"
    is_torch = isinstance(x, torch.Tensor)
    w64 = as_tensor(w, "w", fix).double().cpu().numpy().reshape(-1)
    x_tensor = as_tensor(x, "x", fix)
    x64 = x_tensor.double().cpu().numpy()
    single = x64.ndim == 1
    x64 = np.atleast_2d(x64)
    if x64.ndim != 2 or x64.shape[1] != len(w64):
        raise AdvexError(f"x has shape {tuple(x_tensor.shape)} but w has {len(w64)} entries; {fix}")
    try:
        u = np.broadcast_to(as_tensor(baseline, "baseline", fix).double().cpu().numpy(), x64.shape)
    except ValueError:
        raise AdvexError(f"baseline does not broadcast to x's shape {x64.shape}; pass a number, one row or one row per example") from None
    diff = x64 - u
    logit_change = diff @ w64
    logit_u = u @ w64 + bias
    output_change = activation(x64 @ w64 + bias) - activation(logit_u)
    slope = _derivative(activation, logit_u)
    safe = np.abs(logit_change) > 1e-12
    scale = np.where(safe, output_change / np.where(safe, logit_change, 1.0), slope)
    result = scale[:, None] * diff * w64[None, :]
    result = result[0] if single else result
    return torch.from_numpy(result).to(x_tensor.device, x_tensor.dtype) if is_torch else result


def _derivative(activation: Callable[[np.ndarray], np.ndarray], z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central difference A'(z), used only in the degenerate case <x - u, w> = 0."""
    return (activation(z + h) - activation(z - h)) / (2 * h)
