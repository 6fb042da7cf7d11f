"""Completeness: sum_i A_i(x) = F(x) - F(u) (IG's axiom, eq. 13; DeepSHAP's summation-to-delta).

For a set of references (``train-sample``) the attribution is the mean over the set, so the
right-hand side is F(x) - mean_j F(u_j).
"""

from __future__ import annotations

import torch
from torch import nn

from advex.attribution.arguments import as_batch, as_targets, as_tensor, eval_model, logits_of
from advex.attribution.outputs import class_outputs
from advex.attribution.references import BLUR_SIGMA, Reference, make_reference
from advex.errors import AdvexError
from advex.vocabulary import PAPER_OUTPUT, PAPER_REFERENCE, TRAIN_SAMPLE_SIZE


def class_output(model: nn.Module, X: torch.Tensor, targets: torch.Tensor, output: str) -> torch.Tensor:
    """F(x): the ``output`` (probability or logit) of each example's class, shape (N,)."""
    return class_outputs(logits_of(model, X), output).gather(1, targets.reshape(-1, 1))[:, 0]


def reference_output(model: nn.Module, reference: Reference, targets: torch.Tensor, output: str) -> torch.Tensor:
    """mean_j F(u_j) for each example's class, shape (N,): F of its own reference, or the mean over the shared set."""
    table = class_outputs(logits_of(model, reference.values), output)
    if reference.per_input:
        return table.gather(1, targets.reshape(-1, 1))[:, 0]
    return table.mean(dim=0)[targets]


def completeness_delta(
    model: nn.Module, X: torch.Tensor, attributions: torch.Tensor, targets: torch.Tensor, reference: Reference, output: str
) -> torch.Tensor:
    """sum_i A_i(x) - (F(x) - mean_j F(u_j)) per example, shape (N,): zero when completeness holds."""
    change = class_output(model, X, targets, output) - reference_output(model, reference, targets, output)
    return attributions.detach().reshape(len(X), -1).sum(dim=1).to(change.dtype) - change


def completeness_gaps(
    model: nn.Module,
    inputs,
    attributions,
    target=None,
    *,
    reference: str = PAPER_REFERENCE,
    output: str = PAPER_OUTPUT,
    X_train=None,
    k: int = TRAIN_SAMPLE_SIZE,
    seed: int = 0,
    blur_sigma: float = BLUR_SIGMA,
):
    """(|sum_i A_i(x) - (F(x) - mean_j F(u_j))|, F(x) - mean_j F(u_j)) per example, for attributions made against
    the named ``reference`` with the same X_train, k, seed and blur_sigma; in the inputs' type."""
    model = eval_model(model)
    batch = as_batch(model, inputs)
    targets = as_targets(target, model, batch.X)
    maps = as_tensor(attributions, "attributions", "pass the attributions of the inputs").to(batch.X.device)
    if maps.numel() != batch.X.numel():
        raise AdvexError(f"attributions have shape {tuple(maps.shape)}, but the inputs {tuple(batch.X.shape)}; "
                         "pass one attribution per input entry")
    ref = make_reference(reference, batch.X, X_train=X_train, k=k, seed=seed, blur_sigma=blur_sigma)
    change = class_output(model, batch.X, targets, output) - reference_output(model, ref, targets, output)
    gap = (maps.reshape(len(batch.X), -1).sum(dim=1).to(change.dtype) - change).abs()
    return batch.restore_scalars(gap), batch.restore_scalars(change)
