"""One sparseness value per example: the input rule shared by every measure of ``advex.metrics``.

A measure of an attribution map A(x) is a function of the vector |A(x)| over all its features
(Section 6.2: G[A](x) = G(|A(x)|)). :func:`per_example_measure` turns a core function of a
batch of such vectors into the public API:

- a 1-D input (d,) is one example and gives a Python number;
- an N-D input (N, ...) is N examples, each flattened over all non-batch axes (an (N, 1, 28, 28)
  map is N vectors of 784 values), and gives shape (N,); so one image needs its batch axis,
  (1, C, H, W), or flattening: (C, H, W) would be read as C examples;
- numpy in, numpy out; torch in, torch out (float64, or int64 for counts, on the input's device);
- NaN or infinite attributions, a scalar, or examples without features raise :class:`AdvexError`.

The core receives |a| / max|a| per example, float64, shape (N, d): every value in [0, 1] and
each non-zero row's maximum exactly 1, so sums neither overflow nor lose subnormal inputs; an
all-zero row stays all zero.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch

from advex.errors import AdvexError


def scaled_magnitudes(attributions) -> tuple[np.ndarray, bool]:
    """|a| / max|a| per example as float64 (N, d) after the module docstring's checks, and whether the input was 1-D."""
    if isinstance(attributions, torch.Tensor):
        attributions = attributions.detach().to("cpu", torch.float64).numpy()
    try:
        values = np.asarray(attributions, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise AdvexError(f"attributions must be an array of real numbers ({err})") from None
    if values.ndim == 0:
        raise AdvexError("attributions must be a vector (d,) or a batch (N, ...), got a scalar; pass at least one feature")
    batch = values.reshape(1, -1) if values.ndim == 1 else values.reshape(len(values), int(np.prod(values.shape[1:])))
    if batch.shape[1] == 0:
        raise AdvexError(f"attributions of shape {values.shape} have no features; pass at least one value per example")
    finite = np.isfinite(batch).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise AdvexError(f"attributions hold NaN or infinite values in {bad.size} example(s) (first: {bad[:5].tolist()}); "
                         "recompute them (e.g. in float64) or drop those examples")
    magnitudes = np.abs(batch)
    peak = magnitudes.max(axis=1, keepdims=True)
    return np.divide(magnitudes, peak, out=np.zeros_like(magnitudes), where=peak > 0), values.ndim == 1


def per_example_measure(core: Callable[..., np.ndarray]) -> Callable:
    """Make ``core((N, d) scaled |a|, **options) -> (N,)`` a measure following the module docstring's rules."""

    @functools.wraps(core)
    def measure(attributions, *args, **kwargs):
        magnitudes, single = scaled_magnitudes(attributions)
        result = core(magnitudes, *args, **kwargs)
        if single:
            return result[0].item()
        if isinstance(attributions, torch.Tensor):
            return torch.from_numpy(result).to(attributions.device)
        return result

    return measure
