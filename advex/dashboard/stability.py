"""Stability view: the worst-case l1 change of IG in an l_inf(eps) ball (eq. 16) against eps, per model.

For each radius eps and model, :func:`advex.metrics.stability.explanation_stability` attacks a
few test examples and the mean over them is reported, absolute and relative to ||IG(x)||_1.
Tabular models explain P(label 1) as in the Tabular explorer (features unbounded); image
models explain the true class's probability with pixels kept in [0, 1]. Results are cached per
(model, radius, examples, attack settings) for the whole server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from advex.dashboard import models
from advex.dashboard import tabular as tabular_view
from advex.dashboard.cache import SharedLRU
from advex.metrics.stability import explanation_stability
from advex.vocabulary import Setting

TABULAR_RADII = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)
IMAGE_RADII = (0.0, 0.05, 0.1, 0.2, 0.3)

RESULTS: SharedLRU[tuple[float, float]] = SharedLRU(max_entries=512)
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class AttackSettings:
    """How hard the attack searches: PGD steps, IG path steps, random restarts, examples attacked."""

    attack_steps: int = 10
    ig_steps: int = 32
    restarts: int = 1
    n_examples: int = 50


TABULAR_ATTACK = AttackSettings(attack_steps=10, ig_steps=32, restarts=2, n_examples=100)
IMAGE_ATTACK = AttackSettings(attack_steps=5, ig_steps=16, restarts=1, n_examples=4)


def _mean_stability(model: nn.Module, x: np.ndarray, target: np.ndarray, radius: float, settings: AttackSettings,
                    clip: tuple[float, float] | None) -> tuple[float, float]:
    generator = torch.Generator().manual_seed(0)
    result = explanation_stability(
        model, torch.as_tensor(np.asarray(x, dtype=np.float32)), torch.as_tensor(target), radius,
        attack_steps=settings.attack_steps, n_steps=settings.ig_steps, restarts=settings.restarts, clip=clip,
        generator=generator,
    )
    return float(result.worst_change.mean()), float(result.relative_change.mean())


def curve(named_models: dict[str, tuple[tuple, nn.Module]], x: np.ndarray, target: np.ndarray,
          radii: tuple[float, ...], settings: AttackSettings, clip: tuple[float, float] | None,
          progress: Progress | None = None) -> pd.DataFrame:
    """Mean worst-case ||IG(x') - IG(x)||_1 (eq. 16) and its relative value per model and radius.

    ``named_models`` maps a label to (cache key, model). Columns: eps, model, worst_change, relative_change.
    """
    rows = []
    total = max(len(named_models) * len(radii), 1)
    done = 0
    for label, (key, model) in named_models.items():
        for radius in radii:
            if progress is not None:
                progress(done / total, f"{label}, eps = {radius:g}")
            cache_key = (key, float(radius), settings, tuple(np.asarray(target).tolist()), clip, x.shape)
            absolute, relative = RESULTS.get_or_compute(
                cache_key, lambda model=model, radius=radius: _mean_stability(model, x, target, radius, settings, clip))
            rows.append({"eps": float(radius), "model": label, "worst_change": absolute, "relative_change": relative})
            done += 1
    if progress is not None:
        progress(1.0, "done")
    return pd.DataFrame(rows, columns=["eps", "model", "worst_change", "relative_change"])


def is_cached(named_models: dict[str, tuple[tuple, nn.Module]], target: np.ndarray, radii, settings, clip, shape) -> bool:
    """True when every point of the curve is already computed."""
    return all((key, float(r), settings, tuple(np.asarray(target).tolist()), clip, shape) in RESULTS
               for key, _ in named_models.values() for r in radii)


def tabular_models(name: str, eps: float, lam: float) -> tuple[dict[str, tuple[tuple, nn.Module]], np.ndarray]:
    """The Tabular explorer's natural, l1 and adversarial models (cached) and the data set's test features."""
    data = tabular_view.dataset(name)
    result = tabular_view.comparison(data, eps, lam)
    settings = {key: Setting.of_key(key, eps, lam) for key in result.results}
    named = {settings[key].label: (("tabular", name, settings[key]), r.model) for key, r in result.results.items()}
    return named, data.X_test


def image_models(cards: dict[str, dict]) -> dict[str, tuple[tuple, nn.Module]]:
    """The chosen image models, keyed by their description, with their weights' version as cache key."""
    return {models.describe(card): (models.version_key(card), models.load(card)) for card in cards.values()}


def wide(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """One column per model, one row per eps (for line charts)."""
    return frame.pivot(index="eps", columns="model", values=value).reset_index()
