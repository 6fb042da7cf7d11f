"""Explanation stability (Section 5, eq. 16): the worst-case l1 change of IG within an l_inf(eps) ball.

    S(x; eps) = max_{||x' - x||_inf <= eps} || IG^F(x', u) - IG^F(x, u) ||_1        (eq. 16)

F is the predicted probability of a fixed class (the class predicted at x, or the true label)
and u the baseline (all zeros by default). The maximum is searched by an attack: projected
sign-gradient ascent on the objective itself (PGD with random start, as for adversarial
examples, Madry et al. 2017: :func:`advex.attacks.pgd.pgd` with this objective), which needs IG
to be differentiable in x'. :func:`path_ig`
computes IG with the Riemann midpoint rule keeping the autograd graph (``create_graph``), so
the attack can differentiate through the path gradients. The attack finds a lower bound on
the true maximum: every value reported was attained by a point inside the ball.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from advex.attacks.pgd import pgd
from advex.attribution.outputs import ProbabilityOutput
from advex.errors import AdvexError


def _baseline_like(baseline: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)


def path_ig(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    baseline: torch.Tensor | float = 0.0,
    n_steps: int = 32,
    create_graph: bool = False,
) -> torch.Tensor:
    """IG_i(x, u) = (x_i - u_i) * integral_0^1 dF(u + a(x - u))/dx_i da (eq. 13), midpoint rule.

    F is the probability of class ``target`` (N,) under ``ProbabilityOutput(model)``; the integral
    uses ``n_steps`` midpoints a_k = (k - 1/2)/n_steps. With ``create_graph`` the result stays
    differentiable with respect to ``x`` (for the stability attack).
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    probability = ProbabilityOutput(model)
    u = _baseline_like(baseline, x)
    if not create_graph:
        x = x.detach()
    x_req = x if x.requires_grad else x.detach().requires_grad_(True)
    alphas = (torch.arange(n_steps, dtype=x.dtype, device=x.device) + 0.5) / n_steps
    shape = (n_steps,) + (1,) * x.dim()
    path = u.unsqueeze(0) + alphas.reshape(shape) * (x_req - u).unsqueeze(0)  # (S, N, ...)
    flat = path.reshape((-1,) + tuple(x.shape[1:]))
    index = target.repeat(n_steps).to(x.device)
    with torch.enable_grad():
        outputs = probability(flat).gather(1, index[:, None]).sum()
        (grads,) = torch.autograd.grad(outputs, path, create_graph=create_graph)
    average = grads.mean(dim=0)
    ig = (x_req - u) * average
    return ig if create_graph else ig.detach()


def ig_change_l1(
    model: nn.Module,
    x_prime: torch.Tensor,
    ig_reference: torch.Tensor,
    target: torch.Tensor,
    baseline: torch.Tensor | float = 0.0,
    n_steps: int = 32,
    create_graph: bool = False,
) -> torch.Tensor:
    """||IG(x', u) - IG(x, u)||_1 per example, shape (N,): the objective inside eq. 16."""
    ig = path_ig(model, x_prime, target, baseline, n_steps, create_graph=create_graph)
    return (ig - ig_reference).reshape(len(x_prime), -1).abs().sum(dim=1)


@dataclass
class StabilityResult:
    """The attack's outcome per example: the worst IG change found (eq. 16) and where."""

    worst_change: torch.Tensor  # (N,) max ||IG(x') - IG(x)||_1 found
    ig_norm: torch.Tensor  # (N,) ||IG(x)||_1, to compare models on a relative scale
    x_worst: torch.Tensor  # the points x' attaining worst_change, inside the ball

    @property
    def relative_change(self) -> torch.Tensor:
        """worst_change / ||IG(x)||_1 per example."""
        return self.worst_change / self.ig_norm.clamp_min(1e-12)


def explanation_stability(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    eps: float,
    attack_steps: int = 10,
    step_size: float | None = None,
    n_steps: int = 32,
    baseline: torch.Tensor | float = 0.0,
    clip: tuple[float, float] | None = (0.0, 1.0),
    random_start: bool = True,
    restarts: int = 1,
    generator: torch.Generator | None = None,
) -> StabilityResult:
    """Worst-case l1 change of IG in the l_inf(``eps``) ball around each x (eq. 16), found by PGD ascent.

    Starts at x + U(-eps, eps) (or x), then ``attack_steps`` times x' <- x' + step_size * sign(grad),
    projected onto the ball (and onto ``clip``, the valid input range, e.g. [0, 1] pixels; None
    for unbounded tabular features). ``step_size`` defaults to 2.5 * eps / attack_steps. Keeps,
    per example, the best point seen over ``restarts`` random starts (the objective has several
    local maxima). ``target`` (N,) fixes the class whose probability IG explains.
    """
    if not (eps >= 0 and eps == eps and eps != float("inf")):
        raise AdvexError(f"eps must be a finite number >= 0, got {eps}")
    if attack_steps < 0 or restarts < 1:
        raise AdvexError(f"attack_steps must be >= 0 and restarts >= 1, got {attack_steps} and {restarts}")
    if model.training:
        model = copy.deepcopy(model).eval()  # never change the caller's model
    x = x.detach()
    target = torch.as_tensor(target, device=x.device).long().reshape(-1)
    ig_x = path_ig(model, x, target, baseline, n_steps)
    ig_norm = ig_x.reshape(len(x), -1).abs().sum(dim=1)
    if eps == 0:
        return StabilityResult(torch.zeros(len(x), dtype=x.dtype, device=x.device), ig_norm, x.clone())
    step_size = 2.5 * eps / max(attack_steps, 1) if step_size is None else step_size

    def objective(x_prime: torch.Tensor) -> torch.Tensor:
        return ig_change_l1(model, x_prime, ig_x, target, baseline, n_steps, create_graph=True)

    x_worst, worst = pgd(objective, x, eps, attack_steps, step_size, random_start=random_start, restarts=restarts,
                         keep_best=True, clip=clip, generator=generator)
    return StabilityResult(worst, ig_norm, x_worst)
