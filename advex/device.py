"""Pick the compute device: CUDA when available, else CPU."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    """CUDA if a GPU is visible, otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: torch.device | None = None) -> str:
    """A human-readable name of ``device`` (default: :func:`default_device`)."""
    device = device or default_device()
    if device.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(device)})"
    return f"CPU ({torch.get_num_threads()} threads)"
