"""The image half of Table 1 and Figure 2's input (Section 6.3): the zoo's (or retrained) n, l and a models.

The three models of a data set are evaluated on the same seeded test images (paired dG, eqs. 19-22)
with the attribution choices of :class:`advex.evaluation.attributions.AttributionPlan`: by default the
paper's (J.1), the black reference and the predicted probability of the true class.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch import nn

from advex.errors import AdvexError
from advex.evaluation.accuracy import clean_accuracy
from advex.evaluation.attributions import TABLE1_LABELS, AttributionPlan, PointwiseGini, pointwise_gini
from advex.evaluation.images import EvalImages
from advex.evaluation.report import Evaluation, read_evaluation, write_evaluation
from advex.experiments.table1 import Measured, table1_rows
from advex.metrics.gini import mean_with_ci95
from advex.vocabulary import TABLE1_IMAGE_DATASETS, Setting, table1_settings
from advex.zoo.catalogue import load_eval_images

Progress = Callable[[str], None]
DEFAULT_N_IMAGES = 1000  # test images per mean Gini in `advex table1` (paired across the three models)


def table1_models(dataset: str, retrain: bool = False, data_dir=None, seed: int = 0,
                  progress: Progress | None = None) -> dict[str, tuple[nn.Module, dict, str]]:
    """The n, l and a models of Table 1 for ``dataset`` (key -> (model, card, id)): the zoo's, or trained afresh."""
    from advex.zoo.catalogue import load_zoo_model

    models = {}
    for key, setting in table1_settings(dataset).items():
        if progress is not None:
            progress(f"{dataset}: {'training' if retrain else 'loading'} {setting.name}")
        if retrain:
            from advex.training.image import train_image_model

            model, history = train_image_model(dataset, setting.mode, eps=setting.eps, lam=setting.lam, seed=seed,
                                               data_dir=data_dir, progress=False)
            card = {"dataset": dataset, "mode": setting.mode, "eps": setting.eps, "lam": setting.lam,
                    "protocol": history["protocol_name"]}
            models[key] = (model, card, f"{dataset}/{setting.name} (retrained)")
        else:
            model, card = load_zoo_model(dataset, setting.name)
            models[key] = (model, card, f"{dataset}/{setting.name}")
    return models


def table1_from_models(models: dict[str, tuple[nn.Module, dict, str]], images: EvalImages,
                       plan: AttributionPlan = AttributionPlan(), n_images: int = DEFAULT_N_IMAGES, seed: int = 0,
                       progress: Progress | None = None) -> tuple[list[dict], dict[str, PointwiseGini]]:
    """Table 1 rows of the given n, l, a models (``key -> (model, card, id)``) on the same seeded pool images."""
    dataset = images.dataset
    indices = images.choose(n_images, seed)
    settings = table1_settings(dataset)
    measured, points = {}, {}
    for key, (model, _card, model_id) in models.items():
        if progress is not None:
            progress(f"{model_id}: accuracy")
        step = (lambda message, m=model_id: progress(f"{m}: {message}")) if progress is not None else None
        points[key] = pointwise_gini(model, images, indices, plan, progress=step)
        measured[key] = Measured(clean_accuracy(model, images.X, images.y),
                                 {TABLE1_LABELS.get(m, m): points[key].gini[m] for m in plan.methods})
    rows = table1_rows(dataset, settings, measured, n_images=len(indices), n_examples=len(indices),
                       accuracy_on=f"{images.pool} ({len(images.y)} images)", reference=plan.reference,
                       output=plan.output, seed=seed)
    for row in rows:
        row["source"] = models[row["model"]][2]
    return rows, points


def image_table1_rows(dataset: str, n_images: int = DEFAULT_N_IMAGES, retrain: bool = False, data_dir=None,
                      seed: int = 0, progress: Progress | None = None, reference: str | None = None,
                      output: str | None = None) -> list[dict]:
    """Table 1's image rows for ``dataset`` (MNIST: a(0.3), l(0.01); Fashion-MNIST: a(0.1), l(0.01); plus n).

    ``reference`` and ``output`` default to the paper's (black, probability).
    """
    if dataset not in TABLE1_IMAGE_DATASETS:
        raise AdvexError(f"Table 1 has image rows for {', '.join(TABLE1_IMAGE_DATASETS)}, not {dataset!r}")
    plan = AttributionPlan(**{k: v for k, v in (("reference", reference), ("output", output)) if v is not None},
                           seed=seed)
    images = load_eval_images(dataset, data_dir=data_dir, seed=seed)
    models = table1_models(dataset, retrain, data_dir, seed, progress)
    return table1_from_models(models, images, plan, n_images, seed, progress)[0]


def cached_table1_pointwise(dataset: str, images: EvalImages, n_images: int = DEFAULT_N_IMAGES, seed: int = 0,
                            results_dir: str | Path = "results", plan: AttributionPlan = AttributionPlan(),
                            progress: Progress | None = None) -> dict[str, PointwiseGini]:
    """Per-image Ginis of the zoo's Table 1 models ("n", "l", "a") on the same seeded images (Figure 2's input).

    Reuses ``results_dir/<dataset>/<name>.eval.json`` (as written by ``advex evaluate``) when it covers
    exactly these images with these attribution choices; otherwise computes and writes it.
    """
    from advex.zoo.catalogue import load_zoo_model

    indices = images.choose(n_images, seed)
    result = {}
    for key, setting in table1_settings(dataset).items():
        path = Path(results_dir) / dataset / f"{setting.name}.eval.json"
        cached = _matching(path, indices, plan)
        if cached is not None:
            result[key] = cached
            continue
        model, _ = load_zoo_model(dataset, setting.name)
        step = (lambda message, m=setting.name: progress(f"{dataset}/{m}: {message}")) if progress is not None else None
        points = pointwise_gini(model, images, indices, plan, progress=step)
        metrics = {"dataset": dataset, **_setting_fields(setting), "gini": _gini_entry(points, plan)}
        write_evaluation(path, f"{dataset}/{setting.name}", Evaluation(metrics, points))
        result[key] = points
    return result


def _setting_fields(setting: Setting) -> dict:
    return {"mode": setting.mode, "eps": setting.eps, "lam": setting.lam}


def _gini_entry(points: PointwiseGini, plan: AttributionPlan) -> dict:
    entry = {**plan.describe(), "n_images": int(len(points.indices))}
    for method in plan.methods:
        entry[method], entry[f"{method}_ci95"] = mean_with_ci95(points.gini[method])
    return entry


def _matching(path: Path, indices: np.ndarray, plan: AttributionPlan) -> PointwiseGini | None:
    """The per-image Ginis stored at ``path`` if they cover exactly ``indices`` with ``plan``'s choices."""
    if not path.exists():
        return None
    try:
        stored = read_evaluation(path)
    except AdvexError:
        return None
    gini_entry = stored.metrics.get("gini") or {}
    same_choices = all(gini_entry.get(k) == v for k, v in plan.describe().items() if k != "methods")
    points = stored.pointwise
    if (points is None or not same_choices or not np.array_equal(points.indices, indices)
            or not set(plan.methods) <= set(points.gini)):
        return None
    return points
