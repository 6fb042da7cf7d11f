"""The results store of a sweep: one JSON row per trial, written atomically, and the readers the dashboard calls.

Layout of a results folder ``DIR``::

    DIR/results/<dataset>/<name>.json            one row per trial (status "ok" or "failed"), atomic
    DIR/models/<dataset>/<name>.safetensors      the trial's model and its card (advex.models.io)
    DIR/models/<dataset>/<name>.json

One file per trial is safe with several writers and makes a killed sweep resumable: a trial is
finished when its row says "ok", records the same configuration, and its model card exists with
the weights hash the row names. :func:`read_results` gathers the rows into a DataFrame and
:func:`across_seeds` gives one row per setting with means and 95% CIs over seeds.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pandas as pd

from advex.attribution.methods import METHODS
from advex.errors import AdvexError, ModelFileError
from advex.evaluation.report import ATTACKS, card_robust_accuracy
from advex.metrics.gini import mean_with_ci95
from advex.models.io import CARD_SUFFIX, atomic_write_bytes, atomic_write_json, read_card
from advex.sweeps.grid import Trial
from advex.vocabulary import IMAGE_DATASETS, Setting, paper_settings

MAX_ROW_BYTES = 1 << 20
SETTING_COLUMNS = ("dataset", "mode", "eps", "lam", "protocol")
METRIC_COLUMNS = ("clean_accuracy", *(f"{attack}_accuracy" for attack in ATTACKS), *(f"gini_{m}" for m in METHODS))
ROW_COLUMNS = ("trial_id", "dataset", "mode", "eps", "lam", "seed", "name", "setting", "protocol", "status", "attempts",
               "error", *METRIC_COLUMNS)


class ResultsStore:
    """Rows in ``root/results``, models in ``models_dir`` (default ``root/models``; the zoo build uses the zoo folder)."""

    def __init__(self, root: str | Path, models_dir: str | Path | None = None) -> None:
        self.root = Path(root).expanduser()
        self.models_dir = Path(models_dir).expanduser() if models_dir is not None else self.root / "models"

    def row_path(self, trial: Trial) -> Path:
        return self.root / "results" / trial.dataset / f"{trial.name}.json"

    def model_stem(self, trial: Trial) -> Path:
        return self.models_dir / trial.dataset / trial.name

    def read_row(self, trial: Trial) -> dict | None:
        return _read_row(self.row_path(trial))

    def is_finished(self, trial: Trial) -> bool:
        """True when the trial's row is "ok" for this very configuration and its model is stored as recorded."""
        row = self.read_row(trial)
        if not row or row.get("status") != "ok" or row.get("trial") != trial.config():
            return False
        try:
            return read_card(self.model_stem(trial)).get("weights_sha256") == row.get("weights_sha256")
        except ModelFileError:
            return False

    def save_model(self, trial: Trial, files: dict[str, bytes]) -> dict:
        """Write a trial's model files (weights first, the card last, each atomically); return the card."""
        folder = self.model_stem(trial).parent
        card_name = trial.name + CARD_SUFFIX
        for name, data in sorted(files.items(), key=lambda item: item[0] == card_name):
            if Path(name).name != name or not name.startswith(trial.name):
                raise AdvexError(f"trial {trial.id} returned an unexpected file {name!r}")
            atomic_write_bytes(folder / name, data)
        return read_card(self.model_stem(trial))

    def write_row(self, row: dict) -> Path:
        path = self.root / "results" / row["dataset"] / f"{row['name']}.json"
        atomic_write_json(path, row)
        return path

    def write_finished(self, trial: Trial, card: dict, attempts: int, errors: list[dict], node: str, seconds: float) -> dict:
        """Write and return the "ok" row of ``trial`` from its stored ``card``."""
        row = {**_trial_columns(trial), "status": "ok", "attempts": attempts, "errors": errors, "error": None,
               "node": node, "worker_seconds": round(seconds, 3), **card_metrics(card),
               "model": _relative(self.model_stem(trial), self.root), "weights_sha256": card.get("weights_sha256"),
               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self.write_row(row)
        return row

    def write_failed(self, trial: Trial, errors: list[dict]) -> dict:
        """Write and return the "failed" row of ``trial``: every attempt's error, the last one in ``error``."""
        row = {**_trial_columns(trial), "status": "failed", "attempts": len(errors), "errors": errors,
               "error": errors[-1]["error"] if errors else None, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self.write_row(row)
        return row


def _trial_columns(trial: Trial) -> dict:
    return {"trial_id": trial.id, "dataset": trial.dataset, "mode": trial.setting.mode, "eps": trial.setting.eps,
            "lam": trial.setting.lam, "seed": trial.seed, "name": trial.name, "setting": trial.setting.name,
            "protocol": trial.protocol or "J.1 tabular", "trial": trial.config()}


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _finite_or_none(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def card_metrics(card: dict) -> dict:
    """A model card's measures as flat row columns: clean accuracy, robust accuracy at the data set's paper eps
    per attack (Table 1's), and the mean Gini (eq. I.67) of each method with its per-image 95% CI."""
    dataset = card.get("dataset")
    gini = card.get("gini") if isinstance(card.get("gini"), dict) else {}
    columns = {"clean_accuracy": _finite_or_none(card.get("clean_accuracy")), "test_examples": card.get("test_examples")}
    if dataset in IMAGE_DATASETS:
        eps = paper_settings(dataset).robust_eps
        columns["robust_eps"] = eps
        for attack in ATTACKS:
            columns[f"{attack}_accuracy"] = _finite_or_none(card_robust_accuracy(card, eps, attack))
        columns["robust_accuracy"] = card.get("robust_accuracy") or []
    for method in METHODS:
        if f"{method}_ci95" in gini:
            columns[f"gini_{method}"] = _finite_or_none(gini.get(method))
            columns[f"gini_{method}_ci95"] = _finite_or_none(gini.get(f"{method}_ci95"))
    columns.update({"reference": gini.get("reference"), "output": gini.get("output"), "gini_images": gini.get("n_images"),
                    "card_protocol": card.get("protocol"), "trained_steps": card.get("steps"),
                    "stopped_early": card.get("stopped_early"), "train_time_s": card.get("train_time_s"),
                    "device": card.get("device")})
    return columns


def _read_row(path: Path) -> dict | None:
    try:
        if path.stat().st_size > MAX_ROW_BYTES:
            return None
        row = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) and {"dataset", "name", "status"} <= row.keys() else None


def read_results(results_dir: str | Path) -> pd.DataFrame:
    """Every result row of a sweep folder as a DataFrame, one row per trial (columns: see below).

    Columns: trial_id, dataset, mode, eps, lam, seed, name, setting (``Setting.name``), protocol
    ("fast", "paper", or "J.1 tabular"), status ("ok"/"failed"), attempts, error (the last error of
    a failed trial), clean_accuracy, pgd_accuracy / autoattack_accuracy (at the data set's paper
    eps; image models), gini_<method> and gini_<method>_ci95 (mean Gini, eq. I.67, over the
    evaluated images and the half-width of its 95% CI), model (the model's stem, relative to the
    folder), and more (node, worker_seconds, train_time_s, reference, output, gini_images...).
    Unreadable row files are skipped and listed in ``frame.attrs["problems"]``.
    """
    root = Path(results_dir).expanduser()
    if not (root / "results").is_dir():
        raise AdvexError(f"{root} holds no sweep results (no results/ folder); run `advex sweep GRID.toml --results {root}`")
    rows, problems = [], []
    for path in sorted((root / "results").glob("*/*.json")):
        row = _read_row(path)
        if row is None:
            problems.append(f"{path}: not a readable result row")
        else:
            rows.append(row)
    frame = pd.DataFrame(rows)
    for column in ROW_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(dtype=float if column in METRIC_COLUMNS else object)
    ordered = [*ROW_COLUMNS, *(c for c in frame.columns if c not in ROW_COLUMNS)]
    frame = frame[ordered].sort_values(["dataset", "mode", "eps", "lam", "seed"], ignore_index=True)
    frame.attrs["problems"] = problems
    return frame


def across_seeds(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per setting (data set, mode, eps, lambda, protocol) of the finished trials, over their seeds.

    Columns: the setting's, ``setting`` (e.g. ``adv_0.3``), ``n_seeds``, ``seeds``, and for each
    measure present (clean_accuracy, pgd_accuracy, autoattack_accuracy, gini_<method>)
    ``<measure>_mean`` and ``<measure>_ci95``, the half-width of the 95% CI of the mean over seeds
    (:func:`advex.metrics.gini.mean_with_ci95`: normal approximation; NaN with one seed).
    """
    finished = frame[frame["status"] == "ok"] if "status" in frame else frame.iloc[0:0]
    metrics = [c for c in METRIC_COLUMNS if c in finished and finished[c].notna().any()]
    out = []
    for key, group in finished.groupby(list(SETTING_COLUMNS), sort=True, dropna=False):
        row = dict(zip(SETTING_COLUMNS, key))
        row["setting"] = Setting(row["mode"], eps=row["eps"], lam=row["lam"]).name
        row["n_seeds"] = int(group["seed"].nunique())
        row["seeds"] = sorted(int(s) for s in group["seed"].unique())
        for metric in metrics:
            values = pd.to_numeric(group[metric], errors="coerce").to_numpy(dtype=float)
            row[f"{metric}_mean"], row[f"{metric}_ci95"] = mean_with_ci95(values)
        out.append(row)
    columns = [*SETTING_COLUMNS, "setting", "n_seeds", "seeds", *(f"{m}_{s}" for m in metrics for s in ("mean", "ci95"))]
    return pd.DataFrame(out, columns=columns)
