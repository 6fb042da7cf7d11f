"""l_inf(eps) attacks on image classifiers: PGD with random start and FGSM (paper, App. J.1).

PGD (Madry et al., 2017), as in the paper's code: start at ``x + U(-eps, eps)`` (random start),
then ``steps`` times ``x <- x + step_size * sign(grad_x loss)``, project onto the l_inf ball
``|x - x_nat| <= eps`` and clip to the valid pixel range [0, 1]. The loss is the
cross-entropy of the true label. FGSM (Goodfellow et al., 2015) is the single step
``x + eps * sign(grad_x loss)`` from ``x`` itself.

Pixels are in [0, 1]; ``eps`` and ``step_size`` are in the same units (CIFAR-10:
``eps_255 / 255``). The attacks only read the model: its train/eval mode is left as the
caller set it (the trainer decides, e.g. BatchNorm statistics), and gradients are taken
with respect to the input alone, so no parameter's ``.grad`` is touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from advex.errors import AdvexError
from advex.vocabulary import IMAGE_DATASETS


def paper_pgd_schedule(dataset: str, eps: float) -> tuple[int, float]:
    """The paper's PGD schedule (App. J.1) as ``(steps, step_size)`` in [0, 1] pixel units.

    MNIST / Fashion-MNIST: ``eps * 100 + 10`` steps of size 0.01 (eps 0.3 -> 40 steps).
    CIFAR-10: ``eps_255 + 1`` steps of size 1 in [0, 255] units, i.e. ``eps * 255 + 1``
    steps of size 1/255 here (eps = 8/255 -> 9 steps).
    """
    if eps < 0:
        raise AdvexError(f"eps must be >= 0, got {eps}")
    if dataset in ("mnist", "fashion-mnist"):
        return int(round(eps * 100)) + 10, 0.01
    if dataset == "cifar10":
        return int(round(eps * 255)) + 1, 1.0 / 255.0
    raise AdvexError(f"unknown image data set {dataset!r}; use one of {', '.join(IMAGE_DATASETS)}")


def _check_eps(eps: float, step_size: float | None = None) -> None:
    if not math.isfinite(eps) or eps < 0:
        raise AdvexError(f"eps must be a finite number >= 0, got {eps}")
    if step_size is not None and (not math.isfinite(step_size) or step_size < 0):
        raise AdvexError(f"step_size must be a finite number >= 0, got {step_size}")


Objective = Callable[[torch.Tensor], torch.Tensor]  # x' -> (N,) values the attack maximizes


def cross_entropy_objective(model: nn.Module, y: torch.Tensor) -> Objective:
    """x' -> the cross-entropy of the true labels ``y`` per example (the loss PGD ascends, Madry et al. 2017)."""
    y = y.detach()
    return lambda x: F.cross_entropy(model(x).float(), y, reduction="none")


class LinfStep:
    """One l_inf(eps) attacker step, robustness-style: a random start, a signed-gradient step, a projection.

    The feasible set is the ball ``|x - x_nat|_inf <= eps`` intersected with the box ``clip``
    ([0, 1] pixels; None for unbounded tabular features).
    """

    def __init__(self, x_nat: torch.Tensor, eps: float, step_size: float,
                 clip: tuple[float, float] | None = (0.0, 1.0)) -> None:
        _check_eps(eps, step_size)
        self.x_nat, self.eps, self.step_size = x_nat.detach(), float(eps), float(step_size)
        self.low, self.high = self.x_nat - self.eps, self.x_nat + self.eps
        if clip is not None:
            self.low, self.high = self.low.clamp(*clip), self.high.clamp(*clip)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return torch.minimum(torch.maximum(x, self.low), self.high)

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return self.project(x + self.step_size * grad.sign())

    def random_start(self, generator: torch.Generator | None = None, radius: float | None = None) -> torch.Tensor:
        """``x_nat + U(-radius, radius)`` per coordinate (``radius`` defaults to eps), projected onto the feasible set."""
        noise = torch.rand(self.x_nat.shape, generator=generator, device=self.x_nat.device, dtype=self.x_nat.dtype)
        return self.project(self.x_nat + (2 * noise - 1) * (self.eps if radius is None else radius))


def pgd(objective: Objective, x: torch.Tensor, eps: float, steps: int, step_size: float, *, random_start: bool = True,
        restarts: int = 1, keep_best: bool = False, clip: tuple[float, float] | None = (0.0, 1.0),
        start_radius: float | None = None,
        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Projected signed-gradient ascent on ``objective`` within the l_inf(eps) ball around ``x`` (the PGD loop).

    Returns ``(x_adv, value)``. With ``keep_best`` every iterate is scored and, per example, the best
    point over all steps and ``restarts`` is kept (``value`` its objective); otherwise the last iterate
    is returned, as in the paper's PGD (``value`` None). ``start_radius`` (default eps) is the radius of
    the uniform random start. Gradients are taken with respect to the input only: no parameter's
    ``.grad`` changes.
    """
    if steps < 0 or restarts < 1:
        raise AdvexError(f"steps must be >= 0 and restarts >= 1, got {steps} and {restarts}")
    attacker = LinfStep(x, eps, step_size, clip)
    best_value = best_point = None
    x_adv = attacker.x_nat.clone()
    for _ in range(restarts):
        x_adv = attacker.random_start(generator, start_radius) if random_start and eps > 0 else attacker.x_nat.clone()
        for step in range(steps + 1):
            if step == steps and not keep_best:
                break
            x_var = x_adv.detach().requires_grad_(True)
            with torch.enable_grad():
                value = objective(x_var)
                grad = torch.autograd.grad(value.sum(), x_var)[0] if step < steps else None
            if keep_best:
                value = value.detach()
                if best_value is None:
                    best_value, best_point = value.clone(), x_adv.clone()
                better = value > best_value
                best_value = torch.where(better, value, best_value)
                best_point[better] = x_adv[better]
            if grad is not None:
                x_adv = attacker.step(x_adv, grad).detach()
    if keep_best:
        return best_point.detach(), best_value
    return x_adv.detach(), None


def pgd_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """l_inf(eps) PGD with random start on the cross-entropy (App. J.1): ``|x_adv - x|_inf <= eps``, in [0, 1].

    ``generator`` (on ``x``'s device) makes the random start reproducible.
    """
    return pgd(cross_entropy_objective(model, y), x, eps, steps, step_size, random_start=random_start,
               generator=generator)[0]


def fgsm_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """FGSM: ``clip_[0,1](x + eps * sign(grad_x CE(model(x), y)))`` (Goodfellow et al., 2015): one step of size eps."""
    return pgd_attack(model, x, y, eps, steps=1, step_size=eps, random_start=False)


def fgsm_rs_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, step_size: float | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """FGSM with random start, a training attack (Wong et al., 2020, "Fast is better than free", Alg. 3).

    From ``x + U(-eps, eps)``, one signed-gradient step of ``step_size`` (default ``1.25 * eps``, the
    paper's alpha), projected back onto the l_inf(eps) ball and [0, 1]: PGD with one step.
    """
    return pgd_attack(model, x, y, eps, steps=1, step_size=1.25 * eps if step_size is None else step_size,
                      generator=generator)


def n_fgsm_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, noise: float | None = None,
                  step_size: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """N-FGSM, a training attack (de Jorge et al., 2022, "Make some noise", Alg. 1).

    From ``x + U(-noise, noise)`` (default ``noise = 2 * eps``), one signed-gradient step of ``step_size``
    (default eps), *not* projected back onto the eps ball: only clipped to [0, 1], so
    ``|x_adv - x|_inf <= noise + step_size``.
    """
    noise = 2 * eps if noise is None else noise
    step_size = eps if step_size is None else step_size
    return pgd(cross_entropy_objective(model, y), x, noise + step_size, steps=1, step_size=step_size,
               start_radius=noise, generator=generator)[0]
