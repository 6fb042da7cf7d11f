"""Build a model from the architecture dictionary stored in its card, after checking it against a schema.

Each architecture lists its constructor arguments with the integer range accepted for each;
a card's architecture must name a known ``arch``, use only those arguments (missing ones take
the constructor's default; those without a default are required) and keep them in range. The parameter shapes it implies are computed
on PyTorch's ``meta`` device (no memory is allocated), so a card is checked against its weights
file before any real tensor exists; ``MAX_PARAMETERS`` bounds the model a card may ask for.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from advex.errors import AdvexError, ModelFileError
from advex.models.cnn import MadryCNN
from advex.models.linear import LogisticRegression
from advex.models.wrn import WideResNet

MAX_PARAMETERS = 100_000_000  # 400 MB in float32: twice WRN-34-10, the largest network of the paper (J.1)


@dataclass(frozen=True)
class Architecture:
    """A buildable network: its constructor and, per argument, the lowest and highest value a card may give."""

    build: Callable[..., nn.Module]
    fields: dict[str, tuple[int, int]]


ARCHITECTURES: dict[str, Architecture] = {
    "logistic": Architecture(LogisticRegression, {"n_features": (1, 1_000_000)}),
    "mnist_cnn": Architecture(
        MadryCNN, {"in_channels": (1, 4), "n_classes": (2, 1000), "image_size": (4, 256), "hidden": (1, 8192)}
    ),
    "wide_resnet": Architecture(
        WideResNet, {"depth": (10, 100), "widen_factor": (1, 20), "in_channels": (1, 4), "n_classes": (2, 1000)}
    ),
}


@dataclass(frozen=True)
class TensorSpec:
    """What one entry of a model's state dict must look like: its shape and whether it holds floats."""

    shape: tuple[int, ...]
    floating: bool

    @property
    def numel(self) -> int:
        numel = 1
        for size in self.shape:
            numel *= size
        return numel


def check_architecture(architecture: object) -> tuple[Architecture, dict[str, int]]:
    """The architecture and constructor arguments of a card's ``architecture`` entry, checked against the schema.

    Raises :class:`ModelFileError` naming the offending field and the accepted values.
    """
    if not isinstance(architecture, dict):
        raise ModelFileError(f"field 'architecture' must be an object like {{\"arch\": \"mnist_cnn\", ...}}, "
                             f"found {type(architecture).__name__}")
    name = architecture.get("arch")
    if not isinstance(name, str) or name not in ARCHITECTURES:
        raise ModelFileError(f"unknown architecture {name!r} in field 'architecture.arch'; known: {sorted(ARCHITECTURES)}")
    spec = ARCHITECTURES[name]
    kwargs = {key: value for key, value in architecture.items() if key != "arch"}
    unknown = sorted(set(kwargs) - set(spec.fields))
    if unknown:
        raise ModelFileError(f"unknown field(s) {', '.join(repr(k) for k in unknown)} in 'architecture' of {name}; "
                             f"{name} takes only {', '.join(sorted(spec.fields))}")
    required = [key for key, parameter in inspect.signature(spec.build).parameters.items()
                if parameter.default is inspect.Parameter.empty and key not in kwargs]
    if required:
        low, high = spec.fields[required[0]]
        raise ModelFileError(f"field 'architecture.{required[0]}' is missing; {name} needs it (an integer from {low} to {high})")
    for key, value in kwargs.items():
        low, high = spec.fields[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ModelFileError(f"field 'architecture.{key}' of {name} must be an integer from {low} to {high}, "
                                 f"found {value!r}")
    return spec, kwargs


def expected_state(architecture: object) -> dict[str, TensorSpec]:
    """The state-dict entries (name -> shape, float or not) the checked ``architecture`` implies; allocates nothing.

    Raises :class:`ModelFileError` if the architecture is invalid or has more than ``MAX_PARAMETERS`` numbers.
    """
    spec, kwargs = check_architecture(architecture)
    try:
        with torch.device("meta"):
            state = spec.build(**kwargs).state_dict()
    except AdvexError as err:  # a combination the constructor refuses, e.g. a WRN depth that is not 6n+4
        raise ModelFileError(f"field 'architecture' is invalid: {err}") from None
    expected = {key: TensorSpec(tuple(tensor.shape), tensor.is_floating_point()) for key, tensor in state.items()}
    total = sum(entry.numel for entry in expected.values())
    if total > MAX_PARAMETERS:
        raise ModelFileError(f"field 'architecture' asks for a network of {total:,} numbers, more than advex loads "
                             f"({MAX_PARAMETERS:,})")
    return expected


def build_model(architecture: object) -> nn.Module:
    """Instantiate the checked ``architecture`` (see :func:`check_architecture`) on the CPU."""
    spec, kwargs = check_architecture(architecture)
    return spec.build(**kwargs)
