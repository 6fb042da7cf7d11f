"""Per-image sparseness of a model's attributions (Section 6.3): the Gini index (eq. I.67) of each method's maps.

Every method explains the same images against the same reference and output (``advex.vocabulary``:
J.1's defaults are the black reference and the predicted probability of the true class). IG's
completeness (sum_i IG_i = F(x) - F(reference)) is checked on every image, so a too-coarse
integral shows up in the report instead of silently moving the Gini.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from advex.attribution import Explainer
from advex.evaluation.images import EvalImages
from advex.metrics.gini import gini
from advex.vocabulary import IG_STEPS, PAPER_OUTPUT, PAPER_REFERENCE, TRAIN_SAMPLE_SIZE

Progress = Callable[[str], None]
TABLE1_METHODS = ("ig", "deepshap")
TABLE1_LABELS = {"ig": "IG", "deepshap": "SHAP"}  # Table 1's "attr" column


@dataclass(frozen=True)
class AttributionPlan:
    """What is explained: the methods, the reference, the output, the IG steps and the train-sample size."""

    methods: tuple[str, ...] = TABLE1_METHODS
    reference: str = PAPER_REFERENCE
    output: str = PAPER_OUTPUT
    n_steps: int = IG_STEPS
    k: int = TRAIN_SAMPLE_SIZE
    seed: int = 0

    def describe(self) -> dict:
        return {"methods": list(self.methods), "reference": self.reference, "output": self.output,
                "ig_steps": self.n_steps, "train_sample_size": self.k, "seed": self.seed}


@dataclass
class PointwiseGini:
    """Per-image Gini of each method for one model (Figure 2's input), plus IG's completeness check."""

    indices: np.ndarray  # pool indices of the evaluated images
    labels: np.ndarray
    gini: dict[str, np.ndarray]  # method -> (n,) Gini of |attribution|
    ig_gap: np.ndarray  # |sum IG - (F(x) - F(reference))| per image (empty without IG)
    ig_output_change: np.ndarray  # F(x) - F(reference)

    def completeness_summary(self) -> dict:
        """IG completeness: absolute gaps and gaps relative to |F(x) - F(reference)| (where that exceeds 1e-3)."""
        meaningful = np.abs(self.ig_output_change) > 1e-3
        relative = self.ig_gap[meaningful] / np.abs(self.ig_output_change[meaningful])
        return {
            "max_abs_gap": float(self.ig_gap.max()) if self.ig_gap.size else float("nan"),
            "median_rel_gap": float(np.median(relative)) if relative.size else float("nan"),
            "share_within_1pct": float((relative <= 0.01).mean()) if relative.size else float("nan"),
            "n_checked": int(relative.size),
        }

    def to_json(self) -> dict:
        return {
            "test_indices": self.indices.tolist(),
            "labels": self.labels.tolist(),
            "gini": {method: values.tolist() for method, values in self.gini.items()},
            "ig_completeness_gap": self.ig_gap.tolist(),
            "ig_output_change": self.ig_output_change.tolist(),
        }

    @classmethod
    def from_json(cls, obj: dict) -> PointwiseGini:
        return cls(
            np.asarray(obj["test_indices"], dtype=np.int64),
            np.asarray(obj["labels"], dtype=np.int64),
            {method: np.asarray(values, dtype=np.float64) for method, values in obj["gini"].items()},
            np.asarray(obj["ig_completeness_gap"], dtype=np.float64),
            np.asarray(obj["ig_output_change"], dtype=np.float64),
        )


def pointwise_gini(
    model: nn.Module, images: EvalImages, indices: np.ndarray, plan: AttributionPlan = AttributionPlan(),
    chunk: int = 25, progress: Progress | None = None,
) -> PointwiseGini:
    """Gini (eq. I.67) of |attribution| of each method in ``plan`` for the pool images ``indices``, in chunks."""
    ginis: dict[str, list[np.ndarray]] = {method: [] for method in plan.methods}
    gaps, changes = [], []
    device = next(model.parameters()).device
    explainers = {method: Explainer(model, method, plan.reference, plan.output, X_train=images.X_train,
                                    n_steps=plan.n_steps, k=plan.k, seed=plan.seed) for method in plan.methods}
    for start in range(0, len(indices), chunk):
        rows = indices[start : start + chunk]
        X = torch.as_tensor(images.X[rows], device=device)
        y = torch.as_tensor(images.y[rows], device=device)
        for method, explainer in explainers.items():
            if method == "ig":  # completeness: delta = sum_i IG_i - (F(x) - F(reference)), eq. 13
                maps, delta = explainer.attribute(X, y, return_delta=True)
                delta = delta.detach().cpu().numpy().astype(np.float64)
                gaps.append(np.abs(delta))
                changes.append(maps.detach().reshape(len(rows), -1).sum(dim=1).cpu().numpy() - delta)
            else:
                maps = explainer.attribute(X, y)
            ginis[method].append(np.asarray(gini(maps.detach().cpu().numpy()), dtype=np.float64))
        if progress is not None:
            progress(f"attributions {min(start + chunk, len(indices))}/{len(indices)}")
    empty = np.zeros(0)
    return PointwiseGini(
        np.asarray(indices, dtype=np.int64),
        images.y[indices].astype(np.int64),
        {method: np.concatenate(parts) if parts else empty for method, parts in ginis.items()},
        np.concatenate(gaps) if gaps else empty,
        np.concatenate(changes) if changes else empty,
    )
