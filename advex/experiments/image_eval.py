"""Evaluate image models as in Section 6.3: accuracy, PGD robustness and the Gini of IG and DeepSHAP maps.

Attributions (J.1, J.4): IG (eq. 13, captum, 50 Gauss-Legendre steps) of the predicted probability
of the *true* class with the all-zero (black) baseline, checked against IG's completeness axiom;
DeepSHAP (shap's DeepExplainer) of the same probability, true class only, with shap's additivity
check on. DeepSHAP's background is ``BACKGROUND_SIZE`` = 100 training images drawn with the seed
(when only the zoo's test-image sample is present: 100 sample images kept apart from the
evaluated ones). Sparseness is the Gini index of |attribution| over all pixels (eq. I.67);
dG and AcDrop follow eqs. 19-22 against the natural model on the *same* test images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from advex.attacks.pgd import IMAGE_DATASETS, paper_pgd_schedule
from advex.attribution.deep_shap import deep_shap, default_background
from advex.attribution.integrated_gradients import class_probability, completeness_gap, integrated_gradients
from advex.errors import AdvexError, DataMissingError, ModelFileError
from advex.evaluation.accuracy import clean_accuracy, pgd_accuracy
from advex.experiments.table1 import table1_row
from advex.metrics.gini import gini, mean_with_ci95
from advex.models.io import WEIGHTS_SUFFIX, atomic_write_json, load_model, stem_path

Progress = Callable[[str], None]

ATTRIBUTION_METHODS = ("IG", "SHAP")
BACKGROUND_SIZE = 100
IG_STEPS = 50
# Test images per mean Gini in `advex table1`: DeepSHAP dominates (~0.35 s of CPU per image and model,
# IG ~0.05 s; bench/bench_attribution.py), so 6 models x 100 images keep both image sets within 10 minutes.
DEFAULT_N_IMAGES = 100
# Table 1's image settings (Section 6.3): eps of the a-model, lambda of the l-model.
TABLE1_SETTINGS = {"mnist": {"eps": 0.3, "lam": 0.01}, "fashion-mnist": {"eps": 0.1, "lam": 0.01}}
MODES = {"n": "natural", "l": "l1", "a": "adv"}


@dataclass
class EvalImages:
    """The image pool a model is evaluated on, and DeepSHAP's background sample."""

    dataset: str
    X: np.ndarray  # (N, C, H, W) float32 in [0, 1]
    y: np.ndarray  # (N,) int64
    pool: str  # "test set" or "zoo sample"
    background: torch.Tensor
    background_from: str
    reserved: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # pool rows in the background

    def choose(self, n_images: int, seed: int = 0) -> np.ndarray:
        """Indices of ``n_images`` pool images drawn with ``seed`` (the same for every model: pointwise dG needs it)."""
        candidates = np.setdiff1d(np.arange(len(self.y)), self.reserved)
        if n_images < 1:
            raise AdvexError(f"n_images must be >= 1, got {n_images}")
        order = np.random.default_rng(seed).permutation(candidates)
        return np.sort(order[: min(n_images, len(order))])


def load_eval_images(dataset: str, data_dir=None, seed: int = 0, background_size: int = BACKGROUND_SIZE) -> EvalImages:
    """The full test set and a training-image background; without the data, the zoo's test-image sample."""
    from advex.data.images import load_image_dataset

    try:
        data = load_image_dataset(dataset, data_dir=data_dir, seed=seed)
    except DataMissingError as missing:
        try:
            return _zoo_sample_images(dataset, seed, background_size)
        except ModelFileError:
            raise missing from None
    background = default_background(data.X_train, n=background_size, seed=seed)
    return EvalImages(
        dataset, data.X_test, data.y_test, "test set", background,
        f"{len(background)} random training images (seed {seed})",
    )


def _zoo_sample_images(dataset: str, seed: int, background_size: int) -> EvalImages:
    from advex.zoo import load_sample

    X, y = load_sample(dataset)
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64)
    n_background = min(background_size, len(y) // 2)
    reserved = np.sort(np.random.default_rng(seed + 1).permutation(len(y))[:n_background])
    background = torch.as_tensor(X[reserved])
    return EvalImages(
        dataset, X, y, "zoo sample", background,
        f"{n_background} images of the zoo's test sample, not among the evaluated ones (training data absent)",
        reserved,
    )


@dataclass
class PointwiseGini:
    """Per-image Gini of each attribution method for one model, plus IG's completeness check (Figure 2's input)."""

    indices: np.ndarray  # pool indices of the evaluated images
    labels: np.ndarray
    gini: dict[str, np.ndarray]  # method -> (n,) Gini of |attribution|
    ig_gap: np.ndarray  # |sum IG - (F(x) - F(0))|
    ig_output_change: np.ndarray  # F(x) - F(0)

    def completeness_summary(self) -> dict:
        """IG completeness: absolute gaps and gaps relative to |F(x) - F(0)| (where that exceeds 1e-3)."""
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


def image_attributions(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, background: torch.Tensor, methods=ATTRIBUTION_METHODS
) -> dict[str, torch.Tensor]:
    """IG (zero baseline, true class, eq. 13) and DeepSHAP (true class) maps, each shaped like ``X``."""
    maps = {}
    if "IG" in methods:
        maps["IG"] = integrated_gradients(model, X, y, baseline=0.0, n_steps=IG_STEPS, internal_batch_size=10 * IG_STEPS)
    if "SHAP" in methods:
        maps["SHAP"] = deep_shap(model, X, y, background)
    return maps


def pointwise_gini(
    model: nn.Module, images: EvalImages, indices: np.ndarray, methods=ATTRIBUTION_METHODS,
    chunk: int = 10, progress: Progress | None = None,
) -> PointwiseGini:
    """Gini of |IG| and |DeepSHAP| (eq. I.67, all pixels) for the pool images ``indices``, in chunks."""
    model.eval()
    ginis: dict[str, list[np.ndarray]] = {method: [] for method in methods}
    gaps, changes = [], []
    for start in range(0, len(indices), chunk):
        rows = indices[start : start + chunk]
        X = torch.as_tensor(images.X[rows])
        y = torch.as_tensor(images.y[rows])
        maps = image_attributions(model, X, y, images.background, methods)
        for method, values in maps.items():
            ginis[method].append(gini(values.detach().reshape(len(rows), -1).numpy()))
        if "IG" in maps:
            gaps.append(completeness_gap(model, X, maps["IG"], y, 0.0).numpy())
            changes.append((class_probability(model, X, y) - class_probability(model, torch.zeros_like(X), y)).numpy())
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


def resolve_model(model_id: str) -> tuple[nn.Module, dict, str]:
    """Load MODEL given as a zoo id (``mnist/adv_0.3``) or a path stem (``runs/adv_0.3``, with or without suffix)."""
    for suffix in (WEIGHTS_SUFFIX + ".xz", WEIGHTS_SUFFIX, ".json"):
        if model_id.endswith(suffix):
            model_id = model_id[: -len(suffix)]
            break
    stem = Path(model_id).expanduser()
    if stem_path(stem, ".json").exists():
        model, card = load_model(stem)
        return model, card, str(stem)
    dataset, _, name = model_id.partition("/")
    if dataset not in IMAGE_DATASETS or not name or "/" in name:
        raise ModelFileError(
            f"no model {model_id!r}: give a zoo id like mnist/adv_0.3 (see `advex zoo list`) "
            "or the path of a saved model (its .safetensors/.json stem)"
        )
    from advex.zoo import load_zoo_model

    model, card = load_zoo_model(dataset, name)
    return model, card, model_id


def evaluate_image_model(
    model: nn.Module,
    card: dict,
    images: EvalImages,
    n_images: int = DEFAULT_N_IMAGES,
    seed: int = 0,
    pgd_eps: float | None = None,
    n_robust: int = 500,
    methods=ATTRIBUTION_METHODS,
    progress: Progress | None = None,
) -> tuple[dict, PointwiseGini]:
    """Clean accuracy (whole pool), PGD robust accuracy (first ``n_robust`` pool images) and mean Ginis.

    PGD: l_inf(``pgd_eps``) with random start and the paper's schedule (J.1); ``pgd_eps`` defaults
    to the card's eps, else Table 1's eps for the data set. Mean Ginis come with the half-width of
    their 95% confidence interval over ``n_images`` seeded pool images.
    """
    dataset = images.dataset
    model.eval()
    if progress is not None:
        progress("clean accuracy")
    accuracy = clean_accuracy(model, images.X, images.y)
    if pgd_eps is None:
        pgd_eps = float(card.get("eps") or TABLE1_SETTINGS.get(dataset, {"eps": 0.1})["eps"])
    steps, step_size = paper_pgd_schedule(dataset, pgd_eps)
    n_robust = min(n_robust, len(images.y))
    robust = float("nan")
    if n_robust > 0:
        if progress is not None:
            progress(f"PGD eps={pgd_eps:g} on {n_robust} images")
        robust = pgd_accuracy(model, images.X[:n_robust], images.y[:n_robust], pgd_eps, steps, step_size, seed=seed)
    indices = images.choose(n_images, seed)
    points = pointwise_gini(model, images, indices, methods, progress=progress)
    report = {
        "dataset": dataset,
        "mode": card.get("mode"),
        "eps": float(card.get("eps") or 0.0),
        "lam": float(card.get("lam") or 0.0),
        "accuracy": accuracy,
        "accuracy_on": f"{images.pool} ({len(images.y)} images)",
        "robust_accuracy": robust,
        "pgd": {"eps": pgd_eps, "steps": steps, "step_size": step_size, "random_start": True, "n_images": n_robust},
        "n_images": len(indices),
        "background": images.background_from,
        "ig_completeness": points.completeness_summary(),
        "seed": seed,
    }
    for method in methods:
        mean, ci95 = mean_with_ci95(points.gini[method])
        report[f"mean_gini_{method}"] = mean
        report[f"mean_gini_{method}_ci95"] = ci95
    return report, points


def write_evaluation(path: str | Path, model_id: str, report: dict, points: PointwiseGini) -> Path:
    """Write the report and the pointwise Gini values (Figure 2's input) as one JSON file, atomically."""
    path = Path(path)
    atomic_write_json(path, {"model": model_id, **report, "pointwise": points.to_json()})
    return path


def read_evaluation(path: str | Path) -> tuple[dict, PointwiseGini]:
    """Read a file written by :func:`write_evaluation`."""
    import json

    try:
        obj = json.loads(Path(path).read_text())
        return obj, PointwiseGini.from_json(obj["pointwise"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise AdvexError(f"{path} is not an advex evaluation file ({err}); re-run `advex evaluate`") from None


def _table1_models(dataset: str, retrain: bool, data_dir, seed: int, progress: Progress | None) -> dict[str, tuple]:
    """The n, l and a models of Table 1 for ``dataset``: from the zoo, or trained afresh ("fast" protocol)."""
    from advex.zoo import ZooEntry

    settings = TABLE1_SETTINGS[dataset]
    models = {}
    for key, mode in MODES.items():
        entry = ZooEntry.for_mode(mode, settings["eps"], settings["lam"])
        name = entry.name
        if progress is not None:
            progress(f"{dataset}: {'training' if retrain else 'loading'} {name}")
        if retrain:
            from advex.training.image import train_image_model

            model, history = train_image_model(
                dataset, mode, eps=settings["eps"], lam=settings["lam"], seed=seed, data_dir=data_dir, progress=False
            )
            card = {"dataset": dataset, "mode": mode, "eps": entry.eps, "lam": entry.lam,
                    "protocol": history["protocol_name"]}
            models[key] = (model, card, f"{dataset}/{name} (retrained)")
        else:
            from advex.zoo import load_zoo_model

            model, card = load_zoo_model(dataset, name)
            models[key] = (model, card, f"{dataset}/{name}")
    return models


def table1_from_models(
    models: dict[str, tuple[nn.Module, dict, str]],
    images: EvalImages,
    settings: dict,
    n_images: int = DEFAULT_N_IMAGES,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[list[dict], dict[str, PointwiseGini]]:
    """Table 1 rows from given n, l, a models (``key -> (model, card, id)``) on the same seeded pool images."""
    dataset = images.dataset
    indices = images.choose(n_images, seed)
    measured: dict[str, tuple[float, PointwiseGini, str]] = {}
    for key, (model, card, model_id) in models.items():
        if progress is not None:
            progress(f"{model_id}: accuracy")
        model.eval()
        accuracy = clean_accuracy(model, images.X, images.y)
        step = (lambda message, m=model_id: progress(f"{m}: {message}")) if progress is not None else None
        measured[key] = (accuracy, pointwise_gini(model, images, indices, progress=step), model_id)
    rows = []
    for attr in ATTRIBUTION_METHODS:
        natural_accuracy, natural_points, _ = measured["n"]
        natural_mean, _ = mean_with_ci95(natural_points.gini[attr])
        for key in MODES:
            accuracy, points, model_id = measured[key]
            _, dG_ci95 = mean_with_ci95(points.gini[attr] - natural_points.gini[attr])  # paired, eq. 19-20
            rows.append(table1_row(
                dataset, attr, key, settings["eps"], settings["lam"], accuracy, mean_with_ci95(points.gini[attr]),
                natural_accuracy, natural_mean,
                dG_ci95=dG_ci95 if key != "n" else 0.0,
                n_images=len(indices),
                n_examples=len(indices),
                accuracy_on=f"{images.pool} ({len(images.y)} images)",
                background=images.background_from,
                source=model_id,
                seed=seed,
            ))
    return rows, {key: points for key, (_, points, _) in measured.items()}


def image_table1_rows(
    dataset: str,
    n_images: int = DEFAULT_N_IMAGES,
    retrain: bool = False,
    data_dir=None,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[dict]:
    """Table 1's image rows for ``dataset`` ("mnist": a(0.3), l(0.01); "fashion-mnist": a(0.1), l(0.01)) plus n.

    Keys: dataset, attr ("IG"/"SHAP"), model ("n"/"l"/"a"), eps, lam, accuracy, mean_gini, dG,
    acc_drop (fractions; dG = acc_drop = 0 for "n"), mean_gini_ci95, n_images, accuracy_on.
    """
    if dataset not in TABLE1_SETTINGS:
        raise AdvexError(f"Table 1 has image rows for {', '.join(TABLE1_SETTINGS)}, not {dataset!r}")
    images = load_eval_images(dataset, data_dir=data_dir, seed=seed)
    models = _table1_models(dataset, retrain, data_dir, seed, progress)
    return table1_from_models(models, images, TABLE1_SETTINGS[dataset], n_images, seed, progress)[0]


def cached_table1_pointwise(
    dataset: str,
    images: EvalImages,
    n_images: int = DEFAULT_N_IMAGES,
    seed: int = 0,
    results_dir: str | Path = "results",
    progress: Progress | None = None,
) -> dict[str, PointwiseGini]:
    """Pointwise Ginis of the zoo's Table 1 models ("n", "l", "a") on the same seeded images (Figure 2's input).

    Reuses ``results_dir/<dataset>/<name>.eval.json`` (as written by ``advex evaluate``) when it
    covers exactly these images with both methods; otherwise computes and writes it.
    """
    from advex.zoo import ZooEntry, load_zoo_model

    settings = TABLE1_SETTINGS[dataset]
    indices = images.choose(n_images, seed)
    result = {}
    for key, mode in MODES.items():
        name = ZooEntry.for_mode(mode, settings["eps"], settings["lam"]).name
        path = Path(results_dir) / dataset / f"{name}.eval.json"
        if path.exists():
            try:
                _, points = read_evaluation(path)
            except AdvexError:
                points = None
            if points is not None and np.array_equal(points.indices, indices) and set(ATTRIBUTION_METHODS) <= set(points.gini):
                result[key] = points
                continue
        model, card = load_zoo_model(dataset, name)
        step = (lambda message, m=name: progress(f"{dataset}/{m}: {message}")) if progress is not None else None
        points = pointwise_gini(model, images, indices, progress=step)
        report = {"dataset": dataset, "mode": card.get("mode"), "eps": float(card.get("eps") or 0.0),
                  "lam": float(card.get("lam") or 0.0), "n_images": len(indices), "background": images.background_from,
                  "ig_completeness": points.completeness_summary(), "seed": seed}
        for method in ATTRIBUTION_METHODS:
            report[f"mean_gini_{method}"], report[f"mean_gini_{method}_ci95"] = mean_with_ci95(points.gini[method])
        write_evaluation(path, f"{dataset}/{name}", report, points)
        result[key] = points
    return result
