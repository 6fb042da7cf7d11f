"""The Tabular explorer's computations: per-model cached training, tables and per-example IG.

A slider move changes one model only (eps the adversarial one, lambda the l1 one), so each model
is cached on its :class:`~advex.vocabulary.Setting` (which keeps only the hyper-parameter the mode
trains with): :func:`model_result` calls :func:`advex.experiments.tabular.train_and_evaluate` for
one setting, and :func:`comparison` builds dG (eqs. 21-22) and AcDrop (Table 1) from three
results. What the page draws for a setting (tables and figures) is built once per server too and
shared read-only, so a room of students moving to the same eps costs one build.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from advex.dashboard.cache import SharedLRU
from advex.dashboard.plots import example_ig_bars, feature_impact_bars, style
from advex.data.paths import available_datasets, data_search_dirs
from advex.data.tabular import TabularDataset
from advex.errors import AdvexError
from advex.experiments.tabular import (
    ModelResult,
    TabularComparison,
    compare,
    feature_impact_frame,
    load_tabular_or_synthetic,
    model_settings,
    train_and_evaluate,
)
from advex.vocabulary import DATASET_TITLES, SYNTHETIC, TABULAR_CHOICES, Setting

Progress = Callable[[float, str], None]

EPS_RANGE = (0.0, 0.5)  # l_inf radius in standardised / one-hot feature units
LAM_RANGE = (0.0, 0.1)
# Figure J.5 shows only Spambase features with FI >= 5% of the largest; Mushroom (J.4) shows all.
MIN_FI_FRACTION = {"spambase": 0.05}

DATASETS: SharedLRU[TabularDataset] = SharedLRU(max_entries=6)
RESULTS: SharedLRU[ModelResult] = SharedLRU(max_entries=96)


@dataclass(frozen=True)
class ComparisonView:
    """The explorer's tables and Feature-Impact chart for one setting (shared read-only across sessions)."""

    summary: pd.DataFrame
    feature_impact: pd.DataFrame
    feature_impact_figure: go.Figure


@dataclass(frozen=True)
class ExampleView:
    """One test row under the three models: P, prediction and Gini per model, its IG table and chart."""

    summary: pd.DataFrame
    ig: pd.DataFrame
    ig_figure: go.Figure


VIEWS: SharedLRU[ComparisonView] = SharedLRU(max_entries=96)
EXAMPLES: SharedLRU[ExampleView] = SharedLRU(max_entries=192)


def default_dataset(data_dir=None) -> str:
    """The data set the explorer opens with: the first of ``TABULAR_CHOICES`` here (synthetic always is)."""
    present = available_datasets(data_dir)
    return next(name for name in TABULAR_CHOICES if name == SYNTHETIC or present.get(name))


def check_setting(eps: float, lam: float) -> None:
    """Reject an impossible eps or lambda with a message that gives the allowed range."""
    for name, value, (low, high) in (("eps", eps, EPS_RANGE), ("lambda", lam, LAM_RANGE)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
            raise AdvexError(f"{name} = {value!r} is not possible here; choose a value between {low} and {high}")


def dataset(name: str, seed: int = 0, data_dir=None) -> TabularDataset:
    """The data set, loaded once per server (DataMissingError says how to get real data)."""
    roots = tuple(str(root) for root in data_search_dirs(data_dir))
    return DATASETS.get_or_compute((name, seed, roots), lambda: load_tabular_or_synthetic(name, data_dir, seed))


def _result_key(data: TabularDataset, setting: Setting, seed: int) -> tuple:
    return (data.name, id(data), setting, seed)


def model_result(data: TabularDataset, setting: Setting, seed: int = 0) -> ModelResult:
    """The model of ``setting`` trained and evaluated on ``data``, once per server."""
    return RESULTS.get_or_compute(_result_key(data, setting, seed), lambda: train_and_evaluate(data, setting, seed))


def comparison(
    data: TabularDataset, eps: float, lam: float, seed: int = 0, progress: Progress | None = None
) -> TabularComparison:
    """n, l(lambda) and a(eps) models with dG (eqs. 21-22) and AcDrop, training only what is not cached."""
    check_setting(eps, lam)
    results, settings = {}, model_settings(eps, lam)
    for index, (key, setting) in enumerate(settings.items()):
        if progress is not None:
            progress(index / len(settings), f"training the {setting.label} model")
        results[key] = model_result(data, setting, seed)
    if progress is not None:
        progress(1.0, "done")
    return compare(data.name, results)


def is_cached(data: TabularDataset, eps: float, lam: float, seed: int = 0) -> bool:
    """True when all three models of this setting are already trained (no progress bar needed)."""
    return all(_result_key(data, setting, seed) in RESULTS for setting in model_settings(eps, lam).values())


def _setting_text(setting: Setting) -> str:
    return {"natural": "unregularized", "l1": f"lambda = {setting.lam:g}", "adv": f"eps = {setting.eps:g}"}[setting.mode]


def summary_frame(result: TabularComparison) -> pd.DataFrame:
    """One row per model: accuracy, mean Gini G[IG] and, for l and a, dG (eqs. 21-22) and AcDrop (Table 1)."""
    rows = []
    for key, model in result.results.items():
        rows.append(
            {
                "model": model.setting.label,
                "setting": _setting_text(model.setting),
                "accuracy": model.accuracy,
                "mean Gini": model.mean_gini,
                "dG": result.dG.get(key, 0.0),
                "AcDrop": result.acc_drop.get(key, 0.0),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def example_ig_frame(result: TabularComparison, data: TabularDataset, row: int) -> pd.DataFrame:
    """IG (eq. 15) of test row ``row`` per feature column (index) and model (columns)."""
    if not 0 <= row < len(data.X_test):
        raise AdvexError(f"test row {row} does not exist; choose a row between 0 and {len(data.X_test) - 1}")
    return pd.DataFrame(
        {model.setting.label: np.asarray(model.ig[row], dtype=np.float64) for model in result.results.values()},
        index=pd.Index(data.feature_names, name="feature"),
    )


def example_summary(result: TabularComparison, data: TabularDataset, row: int) -> pd.DataFrame:
    """Per model for test row ``row``: P(label 1), predicted label and the Gini of its IG vector."""
    x = torch.as_tensor(np.asarray(data.X_test[row : row + 1]), dtype=torch.float32)
    rows = []
    for model in result.results.values():
        with torch.no_grad():
            p1 = float(torch.sigmoid(model.model(x))[0])
        rows.append(
            {
                "model": model.setting.label,
                f"P({data.label_names[1]})": p1,
                "predicted": data.label_names[int(p1 > 0.5)],
                "Gini of IG": float(model.gini[row]),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def min_fi_fraction(name: str) -> float:
    """The Feature-Impact display threshold of Figures J.4/J.5 for data set ``name``."""
    return MIN_FI_FRACTION.get(name, 0.0)


def _setting_key(data: TabularDataset, result: TabularComparison, seed: int) -> tuple:
    return (data.name, id(data), result.eps, result.lam, seed)


def comparison_view(
    data: TabularDataset, result: TabularComparison, presenting: bool = False, seed: int = 0
) -> ComparisonView:
    """Summary (Table 1 quantities) and Feature Impact (Figures J.4/J.5) of ``result``, built once per setting."""

    def build() -> ComparisonView:
        min_fraction = min_fi_fraction(data.name)
        frame = feature_impact_frame(result, min_fraction=min_fraction)
        title = f"Feature Impact on {DATASET_TITLES.get(data.name, data.name)}, eps = {result.eps:g}, lambda = {result.lam:g}"
        if min_fraction:
            title += f" (features with FI >= {min_fraction:.0%} of the largest)"
        figure = style(feature_impact_bars(frame, title), presenting, height=480)
        return ComparisonView(summary_frame(result), frame, figure)

    return VIEWS.get_or_compute((*_setting_key(data, result, seed), presenting), build)


def example_view(
    data: TabularDataset, result: TabularComparison, row: int, presenting: bool = False, seed: int = 0
) -> ExampleView:
    """Test row ``row`` explained by the three models (IG, eq. 15), built once per setting and row."""

    def build() -> ExampleView:
        ig = example_ig_frame(result, data, row)
        figure = style(example_ig_bars(ig, f"IG of test row {row} (largest 25 |IG|)"), presenting, height=420)
        return ExampleView(example_summary(result, data, row), ig, figure)

    return EXAMPLES.get_or_compute((*_setting_key(data, result, seed), row, presenting), build)
