"""Build a model from the architecture dictionary stored in its card."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from advex.errors import ModelFileError
from advex.models.cnn import MadryCNN
from advex.models.linear import LogisticRegression
from advex.models.wrn import WideResNet

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "logistic": LogisticRegression,
    "mnist_cnn": MadryCNN,
    "wide_resnet": WideResNet,
}


def build_model(architecture: dict) -> nn.Module:
    """Instantiate ``architecture['arch']`` with the remaining keys as keyword arguments."""
    spec = dict(architecture)
    name = spec.pop("arch", None)
    if name not in ARCHITECTURES:
        raise ModelFileError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name](**spec)
