"""Accuracy of an image classifier on clean inputs and under an l_inf(eps) attack (Section 6.3, J.1)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from advex.attacks.pgd import pgd_attack


def _as_tensor(X, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X).to(device=device, dtype=dtype)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def clean_accuracy(model: nn.Module, X, y, batch_size: int = 1000) -> float:
    """Accuracy of ``model`` on ``(X, y)`` in eval mode (float32); the model's mode is restored."""
    device = _model_device(model)
    was_training = model.training
    model.eval()
    correct = 0
    try:
        with torch.no_grad():
            for start in range(0, len(y), batch_size):
                xb = _as_tensor(X[start : start + batch_size], device)
                yb = _as_tensor(y[start : start + batch_size], device, torch.long)
                correct += int((model(xb).argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    return correct / max(len(y), 1)


def pgd_accuracy(
    model: nn.Module, X, y, eps: float, steps: int, step_size: float, batch_size: int = 1000, seed: int = 0,
) -> float:
    """Accuracy under l_inf(eps) PGD with random start (``steps`` of ``step_size``), eval mode, float32."""
    device = _model_device(model)
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    correct = 0
    try:
        for start in range(0, len(y), batch_size):
            xb = _as_tensor(X[start : start + batch_size], device)
            yb = _as_tensor(y[start : start + batch_size], device, torch.long)
            x_adv = pgd_attack(model, xb, yb, eps, steps, step_size, random_start=True, generator=generator)
            with torch.no_grad():
                correct += int((model(x_adv).argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    return correct / max(len(y), 1)
