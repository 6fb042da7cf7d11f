"""Integrated Gradients (eq. 13) of a class's probability (J.1) or logit, via captum.

IG_i(x, u) = (x_i - u_i) * integral_0^1 dF(u + a(x - u))/dx_i da, computed with captum's
n-point quadrature (Gauss-Legendre by default). Completeness: sum_i IG_i = F(x) - F(u).
For a set of references (``train-sample``) IG is averaged over the set (:meth:`Reference.average`),
so the sum is F(x) - mean_j F(u_j).
"""

from __future__ import annotations

import torch
from captum.attr import IntegratedGradients
from torch import nn

from advex.attribution.arguments import as_batch, as_targets, as_tensor, eval_model
from advex.attribution.completeness import class_output, completeness_delta
from advex.attribution.outputs import ClassOutput
from advex.attribution.references import Reference
from advex.errors import AdvexError
from advex.vocabulary import IG_STEPS, PAPER_OUTPUT

ROWS_PER_PASS = 200  # model rows (pairs x quadrature points) per forward/backward pass on the CPU


def _per_input_baseline(baseline, X: torch.Tensor, name: str = "baseline") -> torch.Tensor:
    """The baseline u as one row per input: a number, one example, or (N, ...) values broadcastable to the inputs."""
    values = as_tensor(baseline, name, "pass a number or values broadcastable to the inputs' shape").to(X.device, X.dtype)
    try:
        return values.expand_as(X).contiguous() if values.ndim <= X.ndim else values.reshape(X.shape)
    except RuntimeError:
        raise AdvexError(f"{name} has shape {tuple(values.shape)}, which does not broadcast to the inputs' shape "
                         f"{tuple(X.shape)}; pass a number, one example or one row per input") from None


def ig_pairs(
    explained: ClassOutput, X: torch.Tensor, targets: torch.Tensor, reference: Reference,
    n_steps: int = IG_STEPS, method: str = "gausslegendre", rows_per_pass: int = ROWS_PER_PASS,
) -> torch.Tensor:
    """IG of checked tensors against ``reference`` (averaged over a shared set), shape of ``X``."""
    ig = IntegratedGradients(explained)

    def pair_ig(x: torch.Tensor, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return ig.attribute(x, baselines=u, target=0, additional_forward_args=(t,), n_steps=n_steps, method=method)

    return reference.average(pair_ig, X, targets, max(1, rows_per_pass // max(1, n_steps)))


def integrated_gradients(
    model: nn.Module,
    inputs,
    target,
    baseline=0.0,
    n_steps: int = IG_STEPS,
    method: str = "gausslegendre",
    internal_batch_size: int | None = None,
    return_convergence_delta: bool = False,
    *,
    output: str = PAPER_OUTPUT,
):
    """IG_i(x, u) of class ``target``'s ``output`` (probability, J.1; or logit) (eq. 13), shaped like ``inputs``.

    ``baseline`` u: a number, one example, or one row per input. ``internal_batch_size`` bounds how
    many path points go through the model at once. With ``return_convergence_delta`` also returns
    captum's completeness error per example, sum_i IG_i - (F(x) - F(u)).
    numpy in, float32 numpy out; a single example without the batch axis works.
    """
    model = eval_model(model)
    batch = as_batch(model, inputs)
    targets = as_targets(target, model, batch.X)
    if int(n_steps) < 1:
        raise AdvexError(f"n_steps must be a positive number of quadrature points, got {n_steps!r}")
    result = IntegratedGradients(ClassOutput(model, output)).attribute(
        batch.X,
        baselines=_per_input_baseline(baseline, batch.X),
        target=0,
        additional_forward_args=(targets,),
        n_steps=int(n_steps),
        method=method,
        internal_batch_size=internal_batch_size,
        return_convergence_delta=return_convergence_delta,
    )
    if return_convergence_delta:
        attributions, delta = result
        return batch.restore(attributions), batch.restore_scalars(delta)
    return batch.restore(result)


def class_probability(model: nn.Module, inputs, target, *, output: str = PAPER_OUTPUT):
    """F(x): the predicted probability (or, with ``output="logit"``, the logit) of class ``target``, shape (N,)."""
    model = eval_model(model)
    batch = as_batch(model, inputs)
    return batch.restore_scalars(class_output(model, batch.X, as_targets(target, model, batch.X), output))


def completeness_gap(model: nn.Module, inputs, attributions, target, baseline=0.0, *, output: str = PAPER_OUTPUT):
    """|sum_i IG_i(x, u) - (F(x) - F(u))| per example for a baseline given as values (a number, one example or
    one row per input): the IG completeness axiom's error, shape (N,). Named references: :func:`completeness_gaps`."""
    model = eval_model(model)
    batch = as_batch(model, inputs)
    maps = as_tensor(attributions, "attributions", "pass the attributions of the inputs").to(batch.X.device)
    if maps.numel() != batch.X.numel():
        raise AdvexError(f"attributions have shape {tuple(maps.shape)}, but the inputs {tuple(batch.X.shape)}; "
                         "pass one attribution per input entry")
    reference = Reference("baseline", _per_input_baseline(baseline, batch.X), per_input=True)
    delta = completeness_delta(model, batch.X, maps, as_targets(target, model, batch.X), reference, output)
    return batch.restore_scalars(delta.abs())
