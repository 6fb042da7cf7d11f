"""Checks and conversions shared by every attribution: inputs, targets and the model.

- Inputs: numpy arrays or torch tensors, with or without the batch axis (the model's input rank
  is read from its first Conv/Linear layer); results come back in the caller's type
  (numpy -> float32 numpy; torch -> the input's dtype and device) and shape.
- Targets: None (the predicted class), an int (Python or numpy), a 0-d tensor, or one class per
  example (any integer dtype); one target for many examples is broadcast.
- The caller's model is never changed: a model in training mode is explained through an eval-mode
  copy, and methods that hook modules (DeepSHAP, DeepLIFT) always work on a private copy.
Bad input raises one :class:`AdvexError` naming the argument and the fix.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from advex.attribution.outputs import is_binary_output, n_classes_of
from advex.errors import AdvexError

_CONV_RANK = {nn.Conv1d: 3, nn.Conv2d: 4, nn.Conv3d: 5}


def model_input_rank(model: nn.Module) -> tuple[int, int] | None:
    """(rank of a batch, size of axis 1) the model expects, from its first Conv/Linear layer; None if unknown.

    A Linear first layer means rows (N, d) unless a Flatten comes before it (then the rank is unknown).
    """
    for module in model.modules():
        if isinstance(module, nn.Flatten):
            return None
        for kind, rank in _CONV_RANK.items():
            if isinstance(module, kind):
                return rank, module.in_channels
        if isinstance(module, nn.Linear):
            return 2, module.in_features
    return None


def _model_dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype, tensor.device
    return torch.float32, torch.device("cpu")


@dataclass(frozen=True)
class Batch:
    """Inputs as a detached (N, ...) tensor in the model's dtype and device, and how to give results back."""

    X: torch.Tensor
    numpy: bool
    single: bool
    dtype: torch.dtype
    device: torch.device

    def restore(self, values: torch.Tensor) -> np.ndarray | torch.Tensor:
        """``values`` (N, ...) in the caller's type: float32 numpy, or a tensor of the input's dtype and device."""
        values = values.detach()
        if self.single:
            values = values[0]
        if self.numpy:
            return values.cpu().numpy().astype(np.float32, copy=False)
        return values.to(self.device, self.dtype)

    def restore_scalars(self, values: torch.Tensor) -> np.ndarray | torch.Tensor:
        """One number per example ((N,), or () for a single example) in the caller's type."""
        return self.restore(values.reshape(len(values)))


def as_tensor(value, name: str, fix: str) -> torch.Tensor:
    """A float tensor of ``value`` (numpy, torch, list or number); an AdvexError naming ``name`` otherwise."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as err:
            raise AdvexError(f"{name} must be a numpy array or torch tensor of numbers ({err}); {fix}") from None
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise AdvexError(f"{name} must be a numpy array or torch tensor of numbers, got dtype {array.dtype}; {fix}")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.is_complex():
        raise AdvexError(f"{name} must be real numbers, got {tensor.dtype}; {fix}")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    if not torch.isfinite(tensor).all():
        raise AdvexError(f"{name} contains NaN or infinite values; {fix}")
    return tensor


def as_batch(model: nn.Module, inputs, name: str = "inputs") -> Batch:
    """Check ``inputs`` against the model and add the batch axis to a single example."""
    fix = "pass finite numbers shaped (N, ...) like the model's training inputs, or one such example"
    was_numpy = not isinstance(inputs, torch.Tensor)
    X = as_tensor(inputs, name, fix)
    dtype, device = X.dtype, X.device
    model_dtype, model_device = _model_dtype_device(model)
    expected = model_input_rank(model)
    single = False
    if expected is not None:
        rank, size = expected
        shape = tuple(X.shape)
        if X.ndim == rank - 1:
            X, single = X[None], True
        if X.ndim != rank or X.shape[1] != size:
            want = f"(N, {size})" if rank == 2 else f"(N, {size}, ...) with {rank} axes"
            raise AdvexError(f"{name} has shape {shape}, but the model expects {want}, "
                             "or one example without the batch axis")
    elif X.ndim < 2:
        raise AdvexError(f"{name} has shape {tuple(X.shape)}; give a batch (N, ...) with the batch axis first")
    return Batch(X.to(model_device, model_dtype), was_numpy, single, dtype, device)


def eval_model(model: nn.Module) -> nn.Module:
    """The model itself if it is in eval mode, else an eval-mode copy (the caller's flags stay as they are)."""
    if not isinstance(model, nn.Module):
        raise AdvexError(f"model must be a torch nn.Module, got {type(model).__name__}")
    return copy.deepcopy(model).eval() if model.training else model


def private_copy(model: nn.Module) -> nn.Module:
    """An eval-mode copy whose parameters need no gradient: for methods that hook modules (DeepSHAP, DeepLIFT)."""
    if not isinstance(model, nn.Module):
        raise AdvexError(f"model must be a torch nn.Module, got {type(model).__name__}")
    model = copy.deepcopy(model).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def logits_of(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """The model's logits on ``X`` without gradients; a model that rejects ``X`` gives an AdvexError naming inputs."""
    try:
        with torch.no_grad():
            return model(X)
    except RuntimeError as err:
        raise AdvexError(f"the model cannot take inputs of shape {tuple(X.shape)} ({err}); "
                         "pass inputs shaped like its training examples") from None


def as_targets(target, model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """One class index per example, (N,) long on X's device: None means the model's predicted class."""
    n = len(X)
    if target is None:
        logits = logits_of(model, X)
        predicted = (logits.reshape(-1) > 0).long() if is_binary_output(logits) else logits.argmax(dim=1)
        return predicted.to(X.device)
    if isinstance(target, bool) or isinstance(target, np.bool_):
        raise AdvexError(f"target must be a class index, got the boolean {target!r}; pass an int or one int per example")
    if isinstance(target, torch.Tensor):
        values = target.detach()
    else:
        try:
            values = torch.from_numpy(np.array(target))
        except (TypeError, ValueError, RuntimeError):
            raise AdvexError(f"target must be an int or one int per example, got {target!r}") from None
    if values.dtype == torch.bool or values.is_floating_point() or values.is_complex():
        raise AdvexError(f"target must hold integer class indices, got dtype {values.dtype}; pass ints (e.g. labels.long())")
    values = values.reshape(-1).long().to(X.device)
    if values.numel() == 1:
        values = values.expand(n)
    elif values.numel() != n:
        raise AdvexError(f"target has {values.numel()} entries but inputs have {n} examples; "
                         "give one class per example or a single class for all")
    n_classes = n_classes_of(logits_of(model, X[:1])) if n else 0
    if n and (values.min() < 0 or values.max() >= n_classes):
        raise AdvexError(f"target classes must lie in 0..{n_classes - 1} for this model; got {sorted(set(values.tolist()))}")
    return values.contiguous()
