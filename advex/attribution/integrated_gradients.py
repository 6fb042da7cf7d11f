"""Integrated Gradients of a model's predicted class probability (eq. 13), via captum.

F is the predicted probability of class ``target`` (J.1: the true class for images; for
tabular data the probability of label 1 or of the true label). The baseline u is all zeros by
default (the all-black image, the all-zero feature vector).
"""

from __future__ import annotations

import torch
from captum.attr import IntegratedGradients
from torch import nn

from advex.attribution.outputs import ProbabilityOutput


def _as_target(target: torch.Tensor | int, n: int) -> torch.Tensor:
    """A (N,) long tensor of class indices from an int or a tensor."""
    if isinstance(target, int):
        return torch.full((n,), target, dtype=torch.long)
    target = torch.as_tensor(target).long().reshape(-1)
    if target.numel() != n:
        raise ValueError(f"target has {target.numel()} entries but inputs have {n} examples; give one class per example")
    return target


def _as_baseline(baseline: torch.Tensor | float, inputs: torch.Tensor) -> torch.Tensor:
    """The baseline u broadcast to the inputs' shape."""
    return torch.as_tensor(baseline, dtype=inputs.dtype, device=inputs.device).expand_as(inputs).contiguous()


def integrated_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor | int,
    baseline: torch.Tensor | float = 0.0,
    n_steps: int = 50,
    method: str = "gausslegendre",
    internal_batch_size: int | None = None,
    return_convergence_delta: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """IG_i(x, u) = (x_i - u_i) * integral_0^1 dF(u + a(x - u))/dx_i da (eq. 13), same shape as ``inputs``.

    F is the probability of class ``target`` under ``ProbabilityOutput(model)``; the integral is
    captum's ``n_steps``-point quadrature (``method``, captum's default Gauss-Legendre).
    ``internal_batch_size`` bounds how many path points go through the model at once.
    With ``return_convergence_delta`` also returns captum's completeness error per example,
    sum_i IG_i - (F(x) - F(u)).
    """
    model.eval()
    inputs = inputs.detach()
    explainer = IntegratedGradients(ProbabilityOutput(model))
    return explainer.attribute(
        inputs,
        baselines=_as_baseline(baseline, inputs),
        target=_as_target(target, len(inputs)).to(inputs.device),
        n_steps=n_steps,
        method=method,
        internal_batch_size=internal_batch_size,
        return_convergence_delta=return_convergence_delta,
    )


@torch.no_grad()
def class_probability(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
    """F(x): the predicted probability of class ``target`` for each example, shape (N,)."""
    model.eval()
    probabilities = ProbabilityOutput(model)(inputs)
    index = _as_target(target, len(inputs)).to(inputs.device)
    return probabilities.gather(1, index[:, None])[:, 0]


def completeness_gap(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: torch.Tensor | int,
    baseline: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """|sum_i IG_i(x, u) - (F(x) - F(u))| per example: the IG completeness axiom's error, shape (N,)."""
    output_change = class_probability(model, inputs, target) - class_probability(
        model, _as_baseline(baseline, inputs), target
    )
    return (attributions.detach().reshape(len(inputs), -1).sum(dim=1) - output_change).abs()
