"""The one evaluation of an image model (Section 6.3): clean accuracy, robust accuracy, and the sparseness of its maps.

Used by ``advex evaluate``, the zoo build, the dashboard's training jobs and sweeps. Robust
accuracy is measured at the data set's paper eps (``advex.vocabulary.paper_settings``) and at the
model's own eps, with PGD (the paper's schedule, J.1) and optionally AutoAttack. Mean Ginis come
with the half-width of their 95% confidence interval over ``gini_images`` seeded pool images.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from advex.device import describe_device
from advex.errors import AdvexError
from advex.evaluation.accuracy import clean_accuracy
from advex.evaluation.attributions import AttributionPlan, PointwiseGini, pointwise_gini
from advex.evaluation.images import EvalImages
from advex.evaluation.robustness import robust_accuracy
from advex.metrics.gini import mean_with_ci95
from advex.models.io import atomic_write_json
from advex.vocabulary import paper_settings

Progress = Callable[[str], None]
ATTACKS = ("pgd", "autoattack")


@dataclass(frozen=True)
class EvaluationPlan:
    """How much to measure: images for the Gini and for robust accuracy, the attacks, and the attributions."""

    gini_images: int = 1000
    robust_images: int | None = None  # None: the whole pool
    attacks: tuple[str, ...] = ("pgd",)
    attributions: AttributionPlan = field(default_factory=AttributionPlan)
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [a for a in self.attacks if a not in ATTACKS]
        if unknown:
            raise AdvexError(f"unknown attack(s) {unknown}; choose from {', '.join(ATTACKS)}")
        if self.gini_images < 0 or (self.robust_images is not None and self.robust_images < 0):
            raise AdvexError("the numbers of images must be >= 0")


QUICK_PLAN = EvaluationPlan(gini_images=100, robust_images=500)  # `advex train`, advex.train: seconds to minutes on a CPU


@dataclass
class Evaluation:
    """What :func:`evaluate_model` measured: card-ready metrics and the per-image Ginis."""

    metrics: dict
    pointwise: PointwiseGini | None


def robust_eps_values(dataset: str, model_eps: float) -> list[float]:
    """The eps robust accuracy is measured at: the data set's paper eps and the model's own (if adversarial)."""
    return sorted({paper_settings(dataset).robust_eps, float(model_eps)} - {0.0})


def evaluate_model(model: nn.Module, images: EvalImages, model_eps: float = 0.0, plan: EvaluationPlan = EvaluationPlan(),
                   progress: Progress | None = None) -> Evaluation:
    """Clean accuracy (whole pool), robust accuracy per eps and attack, mean Gini of each method (eq. I.67)."""
    say = progress or (lambda _message: None)
    device = next(model.parameters()).device
    started = time.time()
    say("clean accuracy")
    metrics: dict = {"clean_accuracy": clean_accuracy(model, images.X, images.y),
                     "accuracy_on": f"{images.pool} ({len(images.y)} images)", "test_examples": int(len(images.y))}
    n_robust = len(images.y) if plan.robust_images is None else min(plan.robust_images, len(images.y))
    robust = []
    if n_robust > 0:
        for eps in robust_eps_values(images.dataset, model_eps):
            for attack in plan.attacks:
                say(f"{attack} accuracy at eps={eps:g} on {n_robust} images")
                result = robust_accuracy(model, images.X[:n_robust], images.y[:n_robust], eps, attack=attack,
                                         dataset=images.dataset, seed=plan.seed)
                robust.append(robust_entry(attack, eps, result))
    metrics["robust_accuracy"] = robust
    points = None
    if plan.gini_images > 0:
        indices = images.choose(plan.gini_images, plan.seed)
        gini_started = time.time()
        points = pointwise_gini(model, images, indices, plan.attributions, progress=say)
        entry = {**plan.attributions.describe(), "n_images": int(len(indices)),
                 "images": f"{len(indices)} seeded images of the {images.pool}",
                 "ig_completeness": points.completeness_summary(),
                 "device": describe_device(device), "seconds": round(time.time() - gini_started, 1)}
        for method in plan.attributions.methods:
            entry[method], entry[f"{method}_ci95"] = mean_with_ci95(points.gini[method])
        metrics["gini"] = entry
    metrics["evaluation_seconds"] = round(time.time() - started, 1)
    return Evaluation(metrics, points)


def robust_entry(attack: str, eps: float, result) -> dict:
    """A card's ``robust_accuracy`` entry: the attack's name, eps, accuracy, images and the attack's description."""
    return {**result.attack, "attack": attack, "eps": float(eps), "accuracy": result.accuracy, "n_images": result.n_images}


def card_mean_gini(card: dict, method: str) -> float:
    """The mean Gini of ``method`` ("ig", "deepshap") recorded on a model card, NaN when absent."""
    value = (card.get("gini") or {}).get(method) if isinstance(card.get("gini"), dict) else None
    return float(value) if isinstance(value, (int, float)) else float("nan")


def card_robust_accuracy(card: dict, eps: float, attack: str = "pgd") -> float:
    """The card's robust accuracy at ``eps`` under ``attack``, NaN when it was not measured."""
    for entry in card.get("robust_accuracy") or []:
        if isinstance(entry, dict) and entry.get("attack") == attack and np.isclose(entry.get("eps", -1), eps):
            return float(entry.get("accuracy", float("nan")))
    return float("nan")


def write_evaluation(path: str | Path, model_id: str, evaluation: Evaluation) -> Path:
    """Write the metrics and the per-image Ginis (Figure 2's input) as one JSON file, atomically."""
    path = Path(path)
    pointwise = evaluation.pointwise.to_json() if evaluation.pointwise is not None else None
    atomic_write_json(path, {"model": model_id, **evaluation.metrics, "pointwise": pointwise})
    return path


def read_evaluation(path: str | Path) -> Evaluation:
    """Read a file written by :func:`write_evaluation`."""
    try:
        obj = json.loads(Path(path).read_text())
        pointwise = PointwiseGini.from_json(obj.pop("pointwise")) if obj.get("pointwise") else None
        return Evaluation(obj, pointwise)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise AdvexError(f"{path} is not an advex evaluation file ({err}); re-run `advex evaluate`") from None
