"""Does the paper's conclusion depend on the attribution's choices? dG of the a- and l-models per reference and output.

For each image data set, attribution method (IG, DeepSHAP), reference (``advex.vocabulary.REFERENCES``)
and output (probability, logit), the n, l and a models of Table 1 (the paper's eps and lambda) explain
the same seeded test images; each row gives a model's mean Gini (eq. I.67) and, for l and a, dG
(eqs. 21-22) with a 95% confidence interval from the paired per-image differences (eqs. 19-20).

Per-image Ginis are kept in ``work_dir`` (one file per data set, model, method, reference and output,
written atomically), so a long run can be interrupted and resumed, and each file records the seconds
it took (where the time goes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from advex.errors import AdvexError
from advex.evaluation.attributions import TABLE1_LABELS, AttributionPlan, pointwise_gini
from advex.evaluation.images import EvalImages
from advex.metrics.gini import mean_with_ci95
from advex.metrics.sparseness import mean_dG_with_ci95, verdict
from advex.models.io import atomic_write_json
from advex.vocabulary import (
    IG_TRAIN_SAMPLE_SIZE,
    OUTPUTS,
    PAPER_OUTPUT,
    PAPER_REFERENCE,
    REFERENCES,
    TABLE1_IMAGE_DATASETS,
    TRAIN_SAMPLE_SIZE,
    check_choice,
    table1_settings,
)
from advex.zoo.catalogue import load_eval_images

Progress = Callable[[str], None]
ROW_KEYS = ("dataset", "attr", "reference", "output", "model", "eps", "lam", "mean_gini", "dG", "dG_ci95", "n_images")
METHODS = ("ig", "deepshap")


@dataclass(frozen=True)
class AblationGrid:
    """The choices to cross: data sets, methods, references, outputs; images per cell (None: the whole pool)."""

    datasets: tuple[str, ...] = TABLE1_IMAGE_DATASETS
    methods: tuple[str, ...] = METHODS
    references: tuple[str, ...] = REFERENCES
    outputs: tuple[str, ...] = OUTPUTS
    n_images: int | None = 1000
    k: int = TRAIN_SAMPLE_SIZE
    ig_k: int = IG_TRAIN_SAMPLE_SIZE
    seed: int = 0
    chunk: int = field(default=50, compare=False)

    def __post_init__(self) -> None:
        for values, allowed, what in ((self.datasets, TABLE1_IMAGE_DATASETS, "data set"), (self.methods, METHODS, "method"),
                                      (self.references, REFERENCES, "reference"), (self.outputs, OUTPUTS, "output")):
            if not values:
                raise AdvexError(f"choose at least one {what}")
            for value in values:
                check_choice(value, allowed, what)
        if self.n_images is not None and self.n_images < 2:
            raise AdvexError(f"n_images must be >= 2 (a confidence interval needs two images), got {self.n_images}")
        if self.k < 1 or self.ig_k < 1 or self.seed < 0:
            raise AdvexError("k and ig_k must be >= 1 and seed >= 0")

    def train_sample_size(self, method: str) -> int:
        """k of the train-sample reference for ``method``: ``ig_k`` for IG (each row costs a whole path), else ``k``."""
        return self.ig_k if method == "ig" else self.k

    def cells(self) -> int:
        """The number of (data set, method, reference, output, model) computations."""
        return len(self.datasets) * len(self.methods) * len(self.references) * len(self.outputs) * 3


def _cell_path(work_dir: Path, dataset: str, name: str, method: str, reference: str, output: str) -> Path:
    return work_dir / dataset / f"{name}__{method}__{reference}__{output}.json"


def _cached_cell(path: Path, indices: np.ndarray, grid: AblationGrid, k: int) -> np.ndarray | None:
    """The per-image Ginis stored at ``path`` when they were computed for these images, k and seed."""
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if stored.get("k") != k or stored.get("seed") != grid.seed or stored.get("indices") != indices.tolist():
        return None
    return np.asarray(stored["gini"], dtype=np.float64)


def _cell(model, images: EvalImages, indices: np.ndarray, method: str, reference: str, output: str,
          grid: AblationGrid, path: Path | None) -> tuple[np.ndarray, float]:
    """Per-image Ginis of one model for one (method, reference, output), from ``path`` or computed and stored."""
    k = grid.train_sample_size(method)
    if path is not None:
        cached = _cached_cell(path, indices, grid, k)
        if cached is not None:
            return cached, 0.0
    started = time.perf_counter()
    plan = AttributionPlan(methods=(method,), reference=reference, output=output, k=k, seed=grid.seed)
    values = pointwise_gini(model, images, indices, plan, chunk=grid.chunk).gini[method]
    seconds = time.perf_counter() - started
    if path is not None:
        atomic_write_json(path, {"indices": indices.tolist(), "gini": values.tolist(), "k": k, "seed": grid.seed,
                                 "seconds": round(seconds, 2), "n_images": int(len(indices))})
    return values, seconds


def run_ablation(grid: AblationGrid = AblationGrid(), data_dir=None, work_dir: str | Path | None = None,
                 progress: Progress | None = None, images: dict[str, EvalImages] | None = None) -> list[dict]:
    """Rows with the keys of ``ROW_KEYS`` (plus mean_gini_ci95, seconds, pool) for every cell of ``grid``.

    Models are the zoo's Table 1 models. ``work_dir`` keeps per-image results for resuming.
    """
    from advex.zoo.catalogue import load_zoo_model

    work = Path(work_dir) if work_dir is not None else None
    rows: list[dict] = []
    for dataset in grid.datasets:
        pool = (images or {}).get(dataset) or load_eval_images(dataset, data_dir=data_dir, seed=grid.seed)
        n_images = len(pool.y) if grid.n_images is None else grid.n_images
        indices = pool.choose(n_images, grid.seed)
        settings = table1_settings(dataset)
        models = {key: load_zoo_model(dataset, setting.name)[0] for key, setting in settings.items()}
        for method in grid.methods:
            for reference in grid.references:
                for output in grid.outputs:
                    ginis, seconds = {}, {}
                    for key, model in models.items():
                        if progress is not None:
                            progress(f"{dataset} {method} {reference} {output} {key}")
                        path = (_cell_path(work, dataset, settings[key].name, method, reference, output)
                                if work is not None else None)
                        ginis[key], seconds[key] = _cell(model, pool, indices, method, reference, output, grid, path)
                    rows += _rows(dataset, method, reference, output, settings, ginis, seconds, pool,
                                  grid.train_sample_size(method) if reference == "train-sample" else None)
    return rows


def _rows(dataset, method, reference, output, settings, ginis, seconds, pool, k) -> list[dict]:
    rows = []
    for key, setting in settings.items():
        mean, ci95 = mean_with_ci95(ginis[key])
        dG = dG_ci95 = None
        if key != "n":
            dG, dG_ci95 = mean_dG_with_ci95(ginis[key], ginis["n"])  # paired per-image differences, eqs. 19-20
        rows.append({
            "dataset": dataset, "attr": TABLE1_LABELS[method], "reference": reference, "output": output,
            "model": key, "eps": setting.eps, "lam": setting.lam, "mean_gini": mean, "mean_gini_ci95": ci95,
            "dG": dG, "dG_ci95": dG_ci95, "n_images": int(len(ginis[key])), "seconds": round(seconds[key], 2),
            "pool": pool.pool, "paper_choice": reference == PAPER_REFERENCE and output == PAPER_OUTPUT, "k": k,
        })
    return rows


def format_ablation(rows: list[dict]) -> str:
    """The rows as a readable table: per cell, mean Gini of n and dG ± 95% CI of l and a, a vs l."""
    header = (f"{'dataset':<14}{'attr':<6}{'reference':<14}{'output':<12}{'G(n)':>8}{'dG(l) ± CI':>18}"
              f"{'dG(a) ± CI':>18}  a > l?")
    lines = [header, "-" * len(header)]
    for cell in _cells(rows):
        n, l_row, a_row = cell["n"], cell["l"], cell["a"]
        ahead = verdict(a_row["dG"], a_row["dG_ci95"], l_row["dG"], l_row["dG_ci95"])
        mark = " *" if n["paper_choice"] else ""
        lines.append(f"{n['dataset']:<14}{n['attr']:<6}{n['reference']:<14}{n['output']:<12}{n['mean_gini']:>8.4f}"
                     f"{l_row['dG']:>10.4f} ± {l_row['dG_ci95']:.4f}{a_row['dG']:>10.4f} ± {a_row['dG_ci95']:.4f}"
                     f"  {dict(a='yes', l='no').get(ahead, ahead)}{mark}")
    lines.append("* the paper's choice (App. J.1: black reference, probability of the true class)")
    return "\n".join(lines)


def _cells(rows: list[dict]) -> list[dict[str, dict]]:
    """Rows grouped per (dataset, attr, reference, output) into {"n": row, "l": row, "a": row}."""
    grouped: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        grouped.setdefault((row["dataset"], row["attr"], row["reference"], row["output"]), {})[row["model"]] = row
    return [cell for cell in grouped.values() if {"n", "l", "a"} <= set(cell)]


def time_spent(rows: list[dict]) -> dict[str, float]:
    """Seconds spent per (method, reference) over all data sets, outputs and models (cells read back count 0)."""
    spent: dict[str, float] = {}
    for row in rows:
        key = f"{row['attr']} {row['reference']}"
        spent[key] = spent.get(key, 0.0) + float(row.get("seconds") or 0.0)
    return spent
