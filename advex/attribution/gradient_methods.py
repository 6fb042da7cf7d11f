"""Explainers beyond the paper, each via captum, on checked tensors (see :func:`advex.attribution.explain.explain`).

- ``saliency``: |dF/dx| (Simonyan et al., 2014).
- ``input-x-gradient``: x * dF/dx (Shrikumar et al., 2016).
- ``smoothgrad``: the mean of a map over n noisy copies x + N(0, sigma^2) (Smilkov et al., 2017),
  captum's NoiseTunnel over the raw gradient (base ``saliency``, no absolute value) or over IG.
- ``gradient-shap``: expected gradients, E over u, noise and a ~ U[0, 1] of (x' - u) * dF/dx at
  u + a (x' - u) (captum's GradientShap); sum = F(x) - mean F(u) in expectation when sigma = 0.
- ``deeplift``: captum's DeepLift (rescale rule, the same rules as shap's DeepSHAP); a reference set is
  averaged over (captum's DeepLiftShap); summation-to-delta: sum = F(x) - mean F(u). captum 0.9 hooks
  tensors, so where one non-linear module feeds another (MadryCNN's ReLU -> MaxPool) the ReLU reads its
  gradient before the max-pool rule rewrites it and summation-to-delta fails (off by 0.04 in a logit;
  captum issues #1104, #1276). :class:`ModuleHookDeepLift` registers the same captum rules as module
  (full backward) hooks, as shap does; it then agrees with shap's DeepSHAP to float precision.
The random draws of captum (torch's and numpy's global generators) are seeded inside a forked state,
so the caller's generators are left as they were.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from captum.attr import DeepLift, GradientShap, InputXGradient, IntegratedGradients, NoiseTunnel, Saliency
from captum.attr._core import deep_lift as captum_deep_lift

from advex.attribution.integrated_gradients import ROWS_PER_PASS
from advex.attribution.outputs import ClassOutput, Exp, Reciprocal
from advex.attribution.references import Reference
from advex.vocabulary import IG_STEPS

# captum hooks non-linear modules by type; Exp and Reciprocal take its rescale rule like nn.Sigmoid.
for _module in (Exp, Reciprocal):
    captum_deep_lift.SUPPORTED_NON_LINEAR.setdefault(_module, captum_deep_lift.nonlinear)

SMOOTHGRAD_SAMPLES = 50  # Smilkov et al. use n = 50
SMOOTHGRAD_STDEV = 0.15  # sigma = 15% of the [0, 1] pixel range (Smilkov et al.: 10-20%)
GRADIENT_SHAP_SAMPLES = 50  # captum's default is 5; 50 keeps the Monte Carlo error of completeness small
GRADIENT_SHAP_STDEV = 0.0  # captum's default: no input noise, so completeness holds in expectation


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's and numpy's global generators for captum's draws, and restore both afterwards."""
    devices = [device] if device.type == "cuda" else []
    state = np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def _in_chunks(attribute, X: torch.Tensor, targets: torch.Tensor, per_call: int) -> torch.Tensor:
    """``attribute(x, t)`` over chunks of ``per_call`` examples (x a fresh leaf that requires grad), concatenated."""
    per_call = max(1, int(per_call))
    parts = [attribute(X[i : i + per_call].detach().requires_grad_(), targets[i : i + per_call]) for i in range(0, len(X), per_call)]
    return torch.cat(parts) if parts else torch.zeros_like(X)


def saliency(explained: ClassOutput, X: torch.Tensor, targets: torch.Tensor, rows_per_pass: int = ROWS_PER_PASS) -> torch.Tensor:
    """|dF/dx| per input entry."""
    method = Saliency(explained)
    return _in_chunks(lambda x, t: method.attribute(x, target=0, abs=True, additional_forward_args=(t,)), X, targets, rows_per_pass)


def input_x_gradient(explained: ClassOutput, X: torch.Tensor, targets: torch.Tensor, rows_per_pass: int = ROWS_PER_PASS) -> torch.Tensor:
    """x * dF/dx per input entry."""
    method = InputXGradient(explained)
    return _in_chunks(lambda x, t: method.attribute(x, target=0, additional_forward_args=(t,)), X, targets, rows_per_pass)


def smoothgrad(
    explained: ClassOutput, X: torch.Tensor, targets: torch.Tensor, reference: Reference | None = None, *,
    base: str = "saliency", nt_samples: int = SMOOTHGRAD_SAMPLES, stdev: float = SMOOTHGRAD_STDEV, seed: int = 0,
    n_steps: int = IG_STEPS, rows_per_pass: int = ROWS_PER_PASS,
) -> torch.Tensor:
    """The mean of the raw gradient (``base="saliency"``) or of IG against ``reference`` over ``nt_samples`` noisy copies."""
    kwargs = {"nt_type": "smoothgrad", "nt_samples": int(nt_samples), "stdevs": float(stdev), "target": 0}
    with seeded(seed, X.device):
        if base == "saliency":
            tunnel = NoiseTunnel(Saliency(explained))
            return _in_chunks(lambda x, t: tunnel.attribute(x, abs=False, additional_forward_args=(t,), **kwargs),
                              X, targets, rows_per_pass // max(1, int(nt_samples)))
        tunnel = NoiseTunnel(IntegratedGradients(explained))

        def smooth_ig(x: torch.Tensor, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return tunnel.attribute(x, baselines=u, n_steps=int(n_steps), additional_forward_args=(t,), **kwargs)

        return reference.average(smooth_ig, X, targets, rows_per_pass // max(1, int(nt_samples) * int(n_steps)))


def gradient_shap(
    explained: ClassOutput, X: torch.Tensor, targets: torch.Tensor, reference: Reference, *,
    n_samples: int = GRADIENT_SHAP_SAMPLES, stdev: float = GRADIENT_SHAP_STDEV, seed: int = 0, rows_per_pass: int = ROWS_PER_PASS,
) -> torch.Tensor:
    """GradientSHAP with the reference set as the baseline distribution (a per-input reference: one call per input)."""
    method = GradientShap(explained)

    def attribute(x: torch.Tensor, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return method.attribute(x, baselines=u, n_samples=int(n_samples), stdevs=float(stdev), target=0, additional_forward_args=(t,))

    with seeded(seed, X.device):
        if reference.per_input:
            return torch.cat([attribute(X[i : i + 1], reference.values[i : i + 1], targets[i : i + 1]) for i in range(len(X))])
        return _in_chunks(lambda x, t: attribute(x, reference.values, t), X, targets, rows_per_pass // max(1, int(n_samples)))


class ModuleHookDeepLift(DeepLift):
    """captum's DeepLift with its rules on module (full backward) hooks instead of tensor hooks (see the module docstring)."""

    def _register_hooks(self, module: torch.nn.Module, attribute_to_layer_input: bool = True) -> None:
        if not self._can_register_hook(module):
            return
        self.forward_handles.append(module.register_forward_hook(self._forward_hook))
        self.forward_handles.append(module.register_forward_pre_hook(self._forward_pre_hook))

        def backward(hooked: torch.nn.Module, grad_input: tuple, grad_output: tuple) -> tuple:
            return (self._backward_hook(hooked, grad_input[0], grad_output[0]), *grad_input[1:])

        self.backward_handles.append(module.register_full_backward_hook(backward))


def deeplift(
    explained: ClassOutput, X: torch.Tensor, targets: torch.Tensor, reference: Reference, rows_per_pass: int = ROWS_PER_PASS,
) -> torch.Tensor:
    """captum's DeepLift (rescale) against each reference, averaged over a shared set; ``explained`` wraps a private copy."""
    method = ModuleHookDeepLift(explained)

    def attribute(x: torch.Tensor, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():  # captum announces its hooks on every call
            warnings.simplefilter("ignore", UserWarning)
            return method.attribute(x, baselines=u, target=0, additional_forward_args=(t,))

    return reference.average(attribute, X, targets, rows_per_pass // 2)

