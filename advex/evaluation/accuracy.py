"""Accuracy of an image classifier on clean inputs (Section 6.3); under attack see :mod:`advex.evaluation.robustness`."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


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
