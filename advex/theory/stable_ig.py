"""Theorem 5.1 as a numerical identity: stable-IG loss = l_inf(eps)-adversarial loss (eqs. 17-18).

Left side (eq. 17's summand): L(x, y; w) + max_{||x' - x||_inf <= eps} ||IG^{L_y}(x, x')||_1, where
the IG is Lemma 4.1's closed form (input x, baseline x') and the inner max is found by *search*
(never by the maximizer of the proof): every vertex of the eps-box (d <= 12), plus
projected sign-gradient ascent from random interior starts and uniform random points, so an
interior maximum - which the theorem rules out - would be found.
Right side (eq. 18): max_{||delta||_inf <= eps} L(x + delta, y; w), by vertex enumeration (L is
convex in delta, so its maximum over the box is at a vertex); eq. 8 gives it in closed form too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from advex.attribution.closed_form import closed_form_ig
from advex.losses import HINGE, LOGISTIC, SOFTPLUS_HINGE, MarginLoss

MAX_VERTEX_DIM = 12  # 2^12 = 4096 vertices

TORCH_G: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    LOGISTIC.name: torch.nn.functional.softplus,
    HINGE.name: lambda z: torch.relu(1.0 + z),
    SOFTPLUS_HINGE.name: lambda z: torch.nn.functional.softplus(1.0 + z),
}


def box_vertices(d: int, eps: float) -> np.ndarray:
    """All 2^d vertices of the l_inf(eps) box, shape (2^d, d)."""
    if d > MAX_VERTEX_DIM:
        raise ValueError(f"vertex enumeration is limited to d <= {MAX_VERTEX_DIM}, got d = {d}")
    return eps * np.array(list(itertools.product((-1.0, 1.0), repeat=d)))


def ig_l1_norm(loss: MarginLoss, w: np.ndarray, x: np.ndarray, y: float, deltas: np.ndarray) -> np.ndarray:
    """||IG^{L_y}(x, x + Delta)||_1 for each row Delta of ``deltas`` (IG by Lemma 4.1, eq. 15)."""
    deltas = np.atleast_2d(deltas)
    X = np.broadcast_to(x, deltas.shape)
    ig = closed_form_ig(w, X, baseline=X + deltas, activation=lambda s: loss.g(-y * s))
    return np.abs(ig).sum(axis=-1)


def _torch_ig_l1_norm(g: Callable, w: torch.Tensor, x: torch.Tensor, y: float, deltas: torch.Tensor) -> torch.Tensor:
    """Differentiable ||IG^{L_y}(x, x + Delta)||_1 = |g(z + d) - g(z)| / |d| * sum_i |w_i Delta_i| (eq. 15)."""
    z = -y * (x @ w)
    shift = -y * (deltas @ w)  # change of the margin z when x moves to x + Delta
    spread = (deltas * w).abs().sum(dim=-1)
    safe = shift.abs() > 1e-12
    denominator = torch.where(safe, shift.abs(), torch.ones_like(shift))
    chord = (g(z + shift) - g(z)).abs() / denominator
    return torch.where(safe, chord * spread, torch.zeros_like(spread))


def ascend_ig_l1_norm(
    loss: MarginLoss,
    g_torch: Callable[[torch.Tensor], torch.Tensor],
    w: np.ndarray,
    x: np.ndarray,
    y: float,
    eps: float,
    rng: np.random.Generator,
    n_starts: int = 32,
    n_iter: int = 150,
) -> tuple[float, np.ndarray]:
    """Projected sign-gradient ascent of ||IG^{L_y}(x, x')||_1 over the eps-box from random starts."""
    w_t, x_t = torch.as_tensor(w, dtype=torch.float64), torch.as_tensor(x, dtype=torch.float64)
    deltas = torch.as_tensor(rng.uniform(-eps, eps, size=(n_starts, w.size)), dtype=torch.float64)
    best_val, best_delta = -np.inf, deltas[0].numpy()
    for it in range(n_iter):
        deltas.requires_grad_(True)
        values = _torch_ig_l1_norm(g_torch, w_t, x_t, y, deltas)
        (grad,) = torch.autograd.grad(values.sum(), deltas)
        with torch.no_grad():
            k = int(values.argmax())
            if float(values[k]) > best_val:
                best_val, best_delta = float(values[k]), deltas[k].detach().numpy().copy()
            step = 0.25 * eps * (1.0 - it / n_iter) + 1e-3 * eps
            deltas = (deltas + step * grad.sign()).clamp(-eps, eps).detach()
    # Report the value of the best point with the same (numpy, Lemma 4.1) evaluation as the other searches.
    return float(ig_l1_norm(loss, w, x, y, best_delta[None, :])[0]), best_delta


@dataclass(frozen=True)
class StableIGCheck:
    """Both sides of eq. 18 at one point (x, y), with the maximizers found by search."""

    loss: str
    eps: float
    natural_loss: float  # L(x, y; w)
    max_ig_norm: float  # max ||IG^{L_y}(x, x')||_1 over the box, by search
    argmax_delta: np.ndarray  # x' - x attaining it
    ascent_max: float  # best value projected gradient ascent found (<= max_ig_norm)
    adversarial_loss: float  # max_delta L(x + delta, y; w), by vertex search
    adversarial_loss_formula: float  # g(eps ||w||_1 - y <w, x>), eq. 8

    @property
    def stable_ig_loss(self) -> float:
        """Left side of eq. 18: L(x, y; w) + max ||IG||_1."""
        return self.natural_loss + self.max_ig_norm

    @property
    def difference(self) -> float:
        """Left side minus right side of eq. 18."""
        return self.stable_ig_loss - self.adversarial_loss

    @property
    def rel_error(self) -> float:
        """|difference| / max(1, |right side|)."""
        return abs(self.difference) / max(1.0, abs(self.adversarial_loss))


def check_stable_ig(
    loss: MarginLoss,
    w: np.ndarray,
    x: np.ndarray,
    y: float,
    eps: float,
    rng: np.random.Generator,
    g_torch: Callable[[torch.Tensor], torch.Tensor] | None = None,
    n_random: int = 2048,
) -> StableIGCheck:
    """Evaluate both sides of eq. 18 with the inner maxima found by search.

    ``g_torch`` (the loss's g in torch, for gradient ascent) defaults to the LOSS-CVX losses'
    versions; pass one to test a loss outside the family.
    """
    w, x = np.asarray(w, dtype=np.float64), np.asarray(x, dtype=np.float64)
    if w.shape != x.shape or w.ndim != 1:
        raise ValueError("w and x must be vectors of the same length")
    if w.size > MAX_VERTEX_DIM:
        raise ValueError(f"the vertex search needs d <= {MAX_VERTEX_DIM}, got d = {w.size}")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive number, got {eps}")
    if y not in (-1, 1):
        raise ValueError("y must be -1 or +1 (the paper's label convention)")
    g_torch = g_torch if g_torch is not None else TORCH_G[loss.name]
    vertices = box_vertices(w.size, eps)
    candidates = np.concatenate([vertices, rng.uniform(-eps, eps, size=(n_random, w.size))])
    norms = ig_l1_norm(loss, w, x, y, candidates)
    ascent_val, ascent_delta = ascend_ig_l1_norm(loss, g_torch, w, x, y, eps, rng)
    k = int(np.argmax(norms))
    best_val, best_delta = (norms[k], candidates[k]) if norms[k] >= ascent_val else (ascent_val, ascent_delta)
    adversarial = float(np.max(loss.g(-y * ((x + vertices) @ w))))
    return StableIGCheck(
        loss=loss.name,
        eps=float(eps),
        natural_loss=float(loss.g(-y * (x @ w))),
        max_ig_norm=float(best_val),
        argmax_delta=np.asarray(best_delta),
        ascent_max=ascent_val,
        adversarial_loss=adversarial,
        adversarial_loss_formula=float(loss.g(eps * np.abs(w).sum() - y * (x @ w))),
    )
