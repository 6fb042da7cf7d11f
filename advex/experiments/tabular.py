"""The tabular half of the paper end to end: train n, l and a models, attribute, measure (Sections 6.2-6.3, J.1-J.3).

Used by ``advex table1`` and by the dashboard's Tabular explorer. IG here is the exact
closed form of Lemma 4.1 (eq. 15) for the 1-layer models, which equals captum's IG
(tests check it to 1e-5) at a fraction of the cost, so a slider move retrains and
re-attributes in well under a second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from advex.attribution.closed_form import closed_form_ig
from advex.attribution.deep_shap import deep_shap
from advex.attribution.integrated_gradients import integrated_gradients
from advex.data.synthetic import make_synthetic
from advex.data.tabular import TabularDataset, load_tabular
from advex.experiments.table1 import table1_row
from advex.metrics.gini import gini, mean_with_ci95
from advex.metrics.impact import feature_impact
from advex.metrics.sparseness import accuracy_drop, average_dG
from advex.models.linear import LogisticRegression
from advex.training.tabular import LogisticTrainer
from advex.vocabulary import paper_settings

TABULAR_DATASETS = ("mushroom", "spambase", "synthetic")
MODEL_LABELS = {"n": "natural", "l": "l1-regularized", "a": "adversarial"}
MODE_OF = {"n": "natural", "l": "l1", "a": "adv"}
Progress = Callable[[float, str], None]


@dataclass
class ModelResult:
    """One trained model and its attributions on the test set."""

    mode: str
    model: LogisticRegression
    accuracy: float
    gini: np.ndarray  # G(|IG(x)|) per test example, eq. I.67
    mean_gini: float  # G^m[IG], the average in eqs. 21-22
    ig: np.ndarray  # IG of the predicted probability P(label 1), (n_test, d), eq. 15
    feature_impact: pd.Series  # FI per feature (App. H)
    weights: np.ndarray


@dataclass
class TabularComparison:
    """Natural (n), l1 (l) and adversarial (a) models on one data set and their sparseness improvements."""

    dataset_name: str
    eps: float
    lam: float
    results: dict[str, ModelResult]
    dG: dict[str, float]  # eqs. 21 (a) and 22 (l)
    acc_drop: dict[str, float]  # fractions


def load_tabular_or_synthetic(name: str, data_dir=None, seed: int = 0, feat_trans: bool = False) -> TabularDataset:
    """Mushroom or Spambase from disk (DataMissingError says how to get them), or the synthetic set.

    ``feat_trans`` translates the real data sets' features per Assumption FEAT-TRANS (Section 2);
    the synthetic set satisfies it by construction.
    """
    if name == "synthetic":
        return make_synthetic(seed=seed)
    if name not in TABULAR_DATASETS:
        raise ValueError(f"unknown tabular data set {name!r}; choose one of {TABULAR_DATASETS}")
    return load_tabular(name, data_dir=data_dir, seed=seed, feat_trans=feat_trans)


def fit_model(dataset: TabularDataset, key: str, eps: float, lam: float, seed: int = 0, progress=None) -> LogisticTrainer:
    """Train the ``key`` model ("n", "l" or "a") with the J.1 protocol."""
    return LogisticTrainer(mode=MODE_OF[key], eps=eps, lam=lam, seed=seed).fit(dataset.X_train, dataset.y_train, progress)


def evaluate_model(dataset: TabularDataset, key: str, trainer: LogisticTrainer, baseline: float = 0.0) -> ModelResult:
    """Accuracy, IG (eq. 15) of P(label 1) relative to a constant ``baseline``, Gini (eq. I.67) and FI (App. H)."""
    ig = closed_form_ig(trainer.coef_, dataset.X_test, baseline, bias=trainer.intercept_)
    ginis = gini(ig)
    return ModelResult(
        mode=MODE_OF[key],
        model=trainer.to_module(),
        accuracy=trainer.score(dataset.X_test, dataset.y_test),
        gini=ginis,
        mean_gini=float(np.nanmean(ginis)),
        ig=ig,
        feature_impact=feature_impact(ig, dataset.feature_groups),
        weights=trainer.coef_.copy(),
    )


def run_tabular_comparison(
    dataset: TabularDataset,
    eps: float,
    lam: float,
    seed: int = 0,
    progress: Progress | None = None,
    result_of: Callable[[str], ModelResult] | None = None,
) -> TabularComparison:
    """Train n, l(lam) and a(eps) models, attribute the test set and compute dG (eqs. 21-22) and AcDrop.

    ``result_of(key)`` supplies model ``key``'s result instead of training it here (the dashboard's cache).
    """
    if result_of is None:
        def result_of(key: str) -> ModelResult:
            return evaluate_model(dataset, key, fit_model(dataset, key, eps, lam, seed))

    results: dict[str, ModelResult] = {}
    for index, key in enumerate(MODEL_LABELS):
        if progress is not None:
            progress(index / len(MODEL_LABELS), f"training the {MODEL_LABELS[key]} model")
        results[key] = result_of(key)
    if progress is not None:
        progress(1.0, "done")
    natural = results["n"]
    return TabularComparison(
        dataset_name=dataset.name,
        eps=float(eps),
        lam=float(lam),
        results=results,
        dG={k: average_dG(results[k].mean_gini, natural.mean_gini) for k in ("a", "l")},
        acc_drop={k: accuracy_drop(results[k].accuracy, natural.accuracy) for k in ("a", "l")},
    )


def feature_impact_frame(comparison: TabularComparison, min_fraction: float = 0.0) -> pd.DataFrame:
    """Long table (feature, model, FI) sorted by the natural model's FI, as in Figures J.4 and J.5.

    ``min_fraction`` keeps only features whose FI reaches that fraction of the largest FI across
    the models shown (J.5 uses 0.05 for Spambase).
    """
    wide = pd.DataFrame({MODEL_LABELS[k]: r.feature_impact for k, r in comparison.results.items()})
    wide = wide.sort_values(MODEL_LABELS["n"], ascending=False, kind="stable")
    if min_fraction > 0:
        wide = wide[wide.max(axis=1) >= min_fraction * wide.to_numpy().max()]
    wide.index.name = "feature"
    return wide.reset_index().melt(id_vars="feature", var_name="model", value_name="FI")


def tabular_attributions(model: torch.nn.Module, X: np.ndarray, baseline: float = 0.0) -> dict[str, np.ndarray]:
    """IG (captum, eq. 13) and DeepSHAP of P(label 1), both relative to the constant ``baseline`` row.

    DeepSHAP's background is that single baseline row, so both methods explain against the
    same reference; for a logistic model DeepSHAP's rescale rule then reproduces eq. 15, which
    is why the paper finds IG and DeepSHAP Ginis virtually identical on these data sets (6.3).
    """
    inputs = torch.as_tensor(X, dtype=torch.float32)
    reference = torch.full((1, inputs.shape[1]), float(baseline))
    ig = integrated_gradients(model, inputs, target=1, baseline=baseline, n_steps=50)
    shap_values = deep_shap(model, inputs, target=1, background=reference)
    return {"IG": ig.detach().numpy(), "SHAP": shap_values.detach().numpy()}


def tabular_table1_rows(
    name: str,
    data_dir=None,
    seed: int = 0,
    eps: float | None = None,
    lam: float | None = None,
    feat_trans: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Train n, l(lam) and a(eps) models on ``name`` (J.1 protocol) and return its Table 1 rows for IG and SHAP."""
    settings = paper_settings(name)
    eps = settings.eps if eps is None else eps
    lam = settings.lam if lam is None else lam
    dataset = load_tabular_or_synthetic(name, data_dir=data_dir, seed=seed, feat_trans=feat_trans)
    measured: dict[tuple[str, str], tuple[float, tuple[float, float]]] = {}
    for key in MODEL_LABELS:
        if progress is not None:
            progress(f"{name}: {MODEL_LABELS[key]} model")
        trainer = fit_model(dataset, key, eps, lam, seed)
        accuracy = trainer.score(dataset.X_test, dataset.y_test)
        for attr, values in tabular_attributions(trainer.to_module(), dataset.X_test).items():
            measured[(attr, key)] = (accuracy, mean_with_ci95(gini(values)))
    rows = []
    for attr in ("IG", "SHAP"):
        natural_accuracy, (natural_gini, _) = measured[(attr, "n")]
        for key in MODEL_LABELS:
            accuracy, mean_gini = measured[(attr, key)]
            rows.append(table1_row(name, attr, key, eps, lam, accuracy, mean_gini, natural_accuracy, natural_gini,
                                   n_examples=len(dataset.X_test), seed=seed, feat_trans=feat_trans))
    return rows
