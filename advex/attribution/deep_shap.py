"""DeepSHAP attributions of one class's predicted probability, via shap's DeepExplainer.

DeepSHAP (Lundberg & Lee, 2017) averages DeepLIFT attributions over a background sample; the
attributions of an example sum to F(x) - mean_b F(b) (shap's additivity check verifies this).
Only the asked-for class is explained (the true class for images, J.4): examples are grouped by
target and each group is explained through the single-output ``ClassProbability(model, k)``.

Background sample (``default_background``): 100 training examples drawn uniformly without
replacement with a fixed seed (for images: training images; for tabular data: training rows).
"""

from __future__ import annotations

import copy

import numpy as np
import shap
import torch
from shap.explainers._deep import deep_pytorch
from torch import nn

from advex.attribution.outputs import ClassProbability, Exp, Reciprocal, is_binary_output

# shap's PyTorch explainer looks up its DeepLIFT rule by module class name; Exp and Reciprocal
# are elementwise non-linearities, so they take its rescale rule like nn.Sigmoid does.
for _module in (Exp, Reciprocal):
    deep_pytorch.op_handler.setdefault(_module.__name__, deep_pytorch.nonlinear_1d)


def default_background(X_train: torch.Tensor | np.ndarray, n: int = 100, seed: int = 0) -> torch.Tensor:
    """``n`` rows of ``X_train`` drawn uniformly without replacement (all of them if fewer), seeded."""
    X_train = torch.as_tensor(X_train, dtype=torch.float32)
    if len(X_train) == 0:
        raise ValueError("the background needs at least one training example; X_train is empty")
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(X_train), size=min(n, len(X_train)), replace=False))
    return X_train[torch.as_tensor(index)]


def _n_classes(model: nn.Module, probe: torch.Tensor) -> int:
    with torch.no_grad():
        logits = model(probe[:1])
    return 2 if is_binary_output(logits) else int(logits.shape[1])


def deep_shap(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor | int,
    background: torch.Tensor,
    check_additivity: bool = True,
) -> torch.Tensor:
    """DeepSHAP of the predicted probability of class ``target`` per example, same shape as ``inputs``.

    ``background`` (B, ...) is the reference sample; the attributions of x sum to
    F(x) - mean_b F(b) with F the class-``target`` probability. ``check_additivity`` keeps shap's
    check of that identity on (it raises if an operator was not handled).
    """
    # shap hooks every module while it runs: a private copy keeps the caller's model (and any other
    # thread using it) free of those hooks.
    model = copy.deepcopy(model).eval()
    inputs = inputs.detach()
    background = background.detach().to(inputs.device, inputs.dtype)
    targets = (
        torch.full((len(inputs),), target, dtype=torch.long)
        if isinstance(target, int)
        else torch.as_tensor(target).long().reshape(-1).cpu()
    )
    if targets.numel() != len(inputs):
        raise ValueError(f"target has {targets.numel()} entries but inputs have {len(inputs)} examples")
    n_classes = _n_classes(model, inputs)
    if targets.numel() and (targets.min() < 0 or targets.max() >= n_classes):
        raise ValueError(f"target classes must lie in 0..{n_classes - 1}; got {targets.unique().tolist()}")
    attributions = torch.zeros_like(inputs)
    for k in targets.unique().tolist():
        rows = (targets == k).nonzero()[:, 0]
        with torch.enable_grad():
            explainer = shap.DeepExplainer(ClassProbability(model, k), background)
            values = explainer.shap_values(inputs[rows.to(inputs.device)], check_additivity=check_additivity)
        attributions[rows.to(inputs.device)] = torch.as_tensor(
            np.asarray(values).reshape(inputs[rows].shape), dtype=inputs.dtype, device=inputs.device
        )
    return attributions


def expected_value(model: nn.Module, background: torch.Tensor, target: int) -> float:
    """mean_b F(b): the background's mean probability of class ``target`` (DeepSHAP's reference output)."""
    with torch.no_grad():
        return float(ClassProbability(model, target).eval()(background).mean())
