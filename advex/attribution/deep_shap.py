"""DeepSHAP (Lundberg & Lee, 2017) of one class's probability or logit, with shap's DeepLIFT rules.

DeepSHAP averages DeepLIFT (rescale rule) attributions over references u; those of x sum to
F(x) - mean_u F(u) (summation-to-delta, the analogue of IG's completeness). Only the asked-for class
is explained (the true class for images, J.4), through :class:`ClassOutput`.

Speed: shap's ``DeepExplainer`` runs one forward/backward pass per example on [x tiled |B| times; B].
Here every (input, reference) pair is a row of one joint batch [inputs; their references], and the
pairs of many inputs, of any classes (the class is picked per row), share one pass. The rules are
shap's own module hooks (``deep_pytorch.add_interim_values`` / ``deeplift_grad``), which read the
first half of a batch as inputs and the second half as their references: per-input references
(``blur``, ``uniform``) cost the same as one shared reference. The tests compare the result with
``shap.DeepExplainer`` on fixed references: shap stays the reference implementation.
"""

from __future__ import annotations

import torch
from shap.explainers._deep import deep_pytorch
from torch import nn

from advex.attribution.arguments import as_batch, as_targets, as_tensor, eval_model, private_copy
from advex.attribution.completeness import completeness_delta
from advex.attribution.outputs import ClassOutput, Exp, Reciprocal
from advex.attribution.references import Reference
from advex.errors import AdvexError
from advex.vocabulary import PAPER_OUTPUT

# shap's PyTorch explainer looks up its DeepLIFT rule by module class name; Exp and Reciprocal
# are elementwise non-linearities, so they take its rescale rule like nn.Sigmoid does.
for _module in (Exp, Reciprocal):
    deep_pytorch.op_handler.setdefault(_module.__name__, deep_pytorch.nonlinear_1d)

PAIRS_PER_PASS = 100  # (input, reference) pairs per forward/backward pass: 200 rows, the CPU's sweet spot
ADDITIVITY_TOLERANCE = 1e-2  # shap's own tolerance (deep_utils._check_additivity)


def deeplift_shap_rules(
    model: nn.Module,
    X: torch.Tensor,
    targets: torch.Tensor,
    reference: Reference,
    output: str = PAPER_OUTPUT,
    pairs_per_pass: int = PAIRS_PER_PASS,
    check_additivity: bool = True,
) -> torch.Tensor:
    """DeepSHAP of checked tensors: mean over each input's references of shap's DeepLIFT, shape of ``X``.

    ``model`` must be a private copy (hooks and tensors are attached to its modules while this runs).
    With ``check_additivity`` an AdvexError is raised where |sum - (F(x) - mean F(u))| exceeds shap's 1e-2.
    """
    explained = ClassOutput(model, output)
    leaves = [module for module in explained.modules() if not list(module.children())]
    handles = [hook for module in leaves for hook in (module.register_forward_hook(deep_pytorch.add_interim_values),
                                                      module.register_full_backward_hook(deep_pytorch.deeplift_grad))]

    def pair_pass(x: torch.Tensor, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        joint = torch.cat([x, u]).requires_grad_(True)
        with torch.enable_grad():
            (gradient,) = torch.autograd.grad(explained(joint, torch.cat([t, t])).sum(), joint)
        return gradient[: len(x)] * (x - u)

    try:
        attributions = reference.average(pair_pass, X, targets, pairs_per_pass)
    finally:
        for handle in handles:
            handle.remove()
        for module in leaves:  # the tensors shap's forward hook leaves on each module
            for name in ("x", "y"):
                if hasattr(module, name):
                    delattr(module, name)
    if check_additivity and len(X):
        gap = completeness_delta(model, X, attributions, targets, reference, output).abs().max()
        if gap > ADDITIVITY_TOLERANCE:
            raise AdvexError(f"DeepSHAP attributions miss F(x) - F(reference) by {float(gap):.3g} (> {ADDITIVITY_TOLERANCE}): "
                             "an operator of the model has no DeepLIFT rule (use each non-linearity as its own module, once)")
    return attributions


def deep_shap(
    model: nn.Module,
    inputs,
    target,
    background,
    check_additivity: bool = True,
    *,
    output: str = PAPER_OUTPUT,
    pairs_per_pass: int = PAIRS_PER_PASS,
):
    """DeepSHAP of class ``target``'s ``output`` (probability, J.1; or logit) per example, shaped like ``inputs``.

    ``background`` (B, ...) is the reference set shared by all inputs; the attributions of x sum to
    F(x) - mean_b F(b). numpy in, float32 numpy out; a single example without the batch axis works.
    ``check_additivity`` checks that identity (it fails when an operator has no DeepLIFT rule).
    """
    copy = private_copy(model)
    batch = as_batch(copy, inputs)
    targets = as_targets(target, copy, batch.X)
    values = as_tensor(background, "background", "pass reference examples shaped (B, ...) like the inputs")
    if values.ndim == batch.X.ndim - 1:
        values = values[None]
    if tuple(values.shape[1:]) != tuple(batch.X.shape[1:]) or len(values) == 0:
        raise AdvexError(f"background has shape {tuple(values.shape)}; pass B >= 1 reference examples shaped "
                         f"(B, {', '.join(map(str, batch.X.shape[1:]))}) like the inputs")
    reference = Reference("background", values.to(batch.X.device, batch.X.dtype), per_input=False)
    attributions = deeplift_shap_rules(copy, batch.X, targets, reference, output, pairs_per_pass, check_additivity)
    return batch.restore(attributions)


def expected_value(model: nn.Module, background, target: int, output: str = PAPER_OUTPUT) -> float:
    """mean_b F(b): the background's mean ``output`` of class ``target`` (DeepSHAP's reference output)."""
    model = eval_model(model)
    values = as_batch(model, background, "background").X
    with torch.no_grad():
        return float(ClassOutput(model, output, int(target))(values).mean())
