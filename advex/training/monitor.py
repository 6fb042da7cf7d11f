"""Watch explanations sparsify while a model trains: IG maps of fixed images every few steps.

:class:`ExplanationProbe` explains a few fixed images (IG, eq. 13, black reference, probability of
the true class, the paper's choices) with the model as it is at that step, and reports the mean Gini
index of those maps (eq. I.67) and the map of the first image. The Train page draws them beside
the training curves, so a class sees the map of an adversarially trained model become sparse as its
robustness grows (Section 6, Figure 1). The probe uses ``ig_steps`` quadrature points (fewer than
the evaluation's ``IG_STEPS``): it is a live picture, not the card's measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from advex.attribution import explain
from advex.errors import AdvexError
from advex.metrics.gini import gini
from advex.vocabulary import PAPER_OUTPUT, PAPER_REFERENCE


@dataclass(frozen=True)
class ProbeSettings:
    """How often and on how many fixed images the probe explains the model."""

    every: int = 100  # training steps between probes
    images: int = 8  # the first is the one whose map is shown
    ig_steps: int = 16


class ExplanationProbe:
    """IG maps and their mean Gini for fixed images ``X`` (N, C, H, W) with labels ``y`` (numpy)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, settings: ProbeSettings) -> None:
        if len(y) == 0:
            raise AdvexError("the explanation probe needs at least one image")
        self.X = np.ascontiguousarray(X[: settings.images], dtype=np.float32)
        self.y = np.asarray(y[: settings.images], dtype=np.int64)
        self.settings = settings

    def measure(self, model: nn.Module) -> dict:
        """``gini``: mean Gini of the IG maps; ``map``: the first image's IG summed over channels (H, W)."""
        maps = explain(model, self.X, self.y, method="ig", reference=PAPER_REFERENCE, output=PAPER_OUTPUT,
                       n_steps=self.settings.ig_steps)
        return {"gini": float(np.nanmean(gini(maps))), "map": maps[0].sum(axis=0)}

    def image(self) -> np.ndarray:
        """The first image, (H, W) for one channel, else (H, W, C): what the map explains."""
        first = self.X[0]
        return first[0] if first.shape[0] == 1 else np.moveaxis(first, 0, -1)

    def label(self) -> int:
        return int(self.y[0])
