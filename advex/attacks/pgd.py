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

import torch
from torch import nn
from torch.nn import functional as F

from advex.errors import AdvexError

IMAGE_DATASETS = ("mnist", "fashion-mnist", "cifar10")


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


def _input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy with respect to ``x`` only (parameters' .grad untouched)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x).float(), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def project_linf(x: torch.Tensor, x_nat: torch.Tensor, eps: float) -> torch.Tensor:
    """Project ``x`` onto ``{|x - x_nat|_inf <= eps} ∩ [0, 1]^d`` (clip to the ball, then to the pixel range)."""
    return torch.minimum(torch.maximum(x, x_nat - eps), x_nat + eps).clamp_(0.0, 1.0)


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
    """l_inf(eps) PGD with random start (App. J.1): returns ``x_adv`` with ``|x_adv - x|_inf <= eps`` in [0, 1].

    ``generator`` (on ``x``'s device) makes the random start reproducible.
    """
    _check_eps(eps, step_size)
    if steps < 0:
        raise AdvexError(f"steps must be >= 0, got {steps}")
    x_nat = x.detach()
    y = y.detach()
    if random_start and eps > 0:
        noise = torch.rand(x_nat.shape, generator=generator, device=x_nat.device, dtype=x_nat.dtype)
        x_adv = project_linf(x_nat + (2 * noise - 1) * eps, x_nat, eps)
    else:
        x_adv = x_nat.clone()
    for _ in range(steps):
        grad = _input_gradient(model, x_adv, y)
        x_adv = project_linf(x_adv + step_size * grad.sign(), x_nat, eps)
    return x_adv.detach()


def fgsm_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """FGSM: ``clip_[0,1](x + eps * sign(grad_x CE(model(x), y)))`` (Goodfellow et al., 2015)."""
    _check_eps(eps)
    x_nat = x.detach()
    return project_linf(x_nat + eps * _input_gradient(model, x_nat, y).sign(), x_nat, eps).detach()
