"""The tabular half of the paper end to end: train n, l and a models, attribute, measure (Sections 6.2-6.3, J.1-J.3).

One model at a time: :func:`train_and_evaluate` trains one :class:`~advex.vocabulary.Setting` and
measures it (accuracy, IG, Gini, Feature Impact); :func:`compare` builds the n/l/a comparison
(dG of eqs. 21-22, AcDrop) from three such results. The dashboard caches
:func:`train_and_evaluate` per setting; ``advex table1`` uses :func:`tabular_table1_rows`.

IG in :class:`ModelResult` is the exact closed form of Lemma 4.1 (eq. 15), which equals captum's
IG (tests check it to 1e-5) at a fraction of the cost, so a slider move retrains and
re-attributes in well under a second. Table 1 rows use captum's IG with the protocol's quadrature
and DeepSHAP. How data are split, models trained and Ginis taken is the protocol's
(:mod:`advex.experiments.tabular_protocols`: ``paper`` = J.1, ``authors`` = the authors' code).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from advex.attribution.closed_form import closed_form_ig
from advex.attribution.deep_shap import deep_shap
from advex.attribution.integrated_gradients import integrated_gradients
from advex.attribution.references import shared_values
from advex.data.synthetic import make_synthetic
from advex.data.tabular import TabularDataset, load_tabular
from advex.device import torch_threads
from advex.experiments.table1 import Measured, table1_rows
from advex.experiments.tabular_protocols import PAPER_PROTOCOL, TabularProtocol, tabular_protocol
from advex.metrics.impact import feature_impact
from advex.metrics.sparseness import accuracy_drop, average_dG
from advex.models.linear import LogisticRegression
from advex.training.tabular import LogisticTrainer
from advex.vocabulary import (
    KEYS,
    MODE_LABELS,
    OUTPUTS,
    PAPER_OUTPUT,
    PAPER_REFERENCE,
    SYNTHETIC,
    TABULAR_CHOICES,
    TABULAR_REFERENCES,
    TRAIN_SAMPLE_SIZE,
    Setting,
    check_choice,
    check_dataset,
    paper_settings,
)

Progress = Callable[[float, str], None]
# The references a tabular row can be explained against; blur and uniform noise are image references.
TABLE1_ATTRS = ("IG", "SHAP")


@dataclass
class ModelResult:
    """One trained model and its attributions on the test set."""

    setting: Setting
    model: LogisticRegression
    accuracy: float
    gini: np.ndarray  # G(|IG(x)|) per test example, eq. I.67 (with the protocol's epsilon)
    mean_gini: float  # G^m[IG], the average in eqs. 21-22 (over the protocol's measured rows)
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


def load_tabular_or_synthetic(
    name: str, data_dir=None, seed: int = 0, feat_trans: bool = False, protocol: TabularProtocol = PAPER_PROTOCOL,
) -> TabularDataset:
    """Mushroom or Spambase from disk, split and encoded per ``protocol`` (DataMissingError says how to get
    them), or the synthetic set (its own seeded 70/30 split whatever the protocol).

    ``feat_trans`` translates the real data sets' features per Assumption FEAT-TRANS (Section 2);
    the synthetic set satisfies it by construction.
    """
    check_dataset(name, TABULAR_CHOICES, "tabular data set")
    if name == SYNTHETIC:
        return make_synthetic(seed=seed)
    return load_tabular(name, data_dir=data_dir, seed=seed, feat_trans=feat_trans, **protocol.data_options(name))


def model_settings(eps: float, lam: float) -> dict[str, Setting]:
    """The n, l(lam) and a(eps) settings, keyed "n", "l", "a"."""
    return {key: Setting.of_key(key, eps, lam) for key in KEYS}


def fit_model(
    dataset: TabularDataset, setting: Setting, seed: int = 0, protocol: TabularProtocol = PAPER_PROTOCOL, progress=None,
) -> LogisticTrainer:
    """Train the model of ``setting`` on ``dataset`` with ``protocol``'s training hyper-parameters."""
    return protocol.trainer(setting, seed).fit(dataset.X_train, dataset.y_train, progress)


def evaluate_model(dataset: TabularDataset, trainer: LogisticTrainer, protocol: TabularProtocol = PAPER_PROTOCOL) -> ModelResult:
    """A fitted model's accuracy, IG (eq. 15) of P(label 1) against the all-zero row, Gini (eq. I.67) and FI (App. H)."""
    ig = closed_form_ig(trainer.coef_, dataset.X_test, 0.0, bias=trainer.intercept_)
    ginis = protocol.gini(ig)
    return ModelResult(
        setting=trainer.setting,
        model=trainer.to_module(),
        accuracy=float(trainer.score(dataset.X_test, dataset.y_test)),
        gini=ginis,
        mean_gini=float(np.nanmean(ginis[: protocol.measured_rows(len(ginis))])),
        ig=ig,
        feature_impact=feature_impact(ig, dataset.feature_groups),
        weights=trainer.coef_.copy(),
    )


def train_and_evaluate(
    dataset: TabularDataset, setting: Setting, seed: int = 0, protocol: TabularProtocol = PAPER_PROTOCOL,
) -> ModelResult:
    """Train ONE model (``setting``) and measure it: the unit the dashboard caches and the comparison is built from."""
    return evaluate_model(dataset, fit_model(dataset, setting, seed, protocol), protocol)


def compare(dataset_name: str, results: Mapping[str, ModelResult]) -> TabularComparison:
    """The comparison of three results keyed "n", "l", "a": dG (eqs. 21-22) and AcDrop of l and a against n."""
    natural = results["n"]
    return TabularComparison(
        dataset_name=dataset_name,
        eps=results["a"].setting.eps,
        lam=results["l"].setting.lam,
        results=dict(results),
        dG={k: average_dG(results[k].mean_gini, natural.mean_gini) for k in ("a", "l")},
        acc_drop={k: accuracy_drop(results[k].accuracy, natural.accuracy) for k in ("a", "l")},
    )


def run_tabular_comparison(
    dataset: TabularDataset, eps: float, lam: float, seed: int = 0, progress: Progress | None = None,
    protocol: TabularProtocol = PAPER_PROTOCOL,
) -> TabularComparison:
    """Train n, l(lam) and a(eps) models, attribute the test set and compare them (dG of eqs. 21-22, AcDrop)."""
    results = {}
    for index, (key, setting) in enumerate(model_settings(eps, lam).items()):
        if progress is not None:
            progress(index / len(KEYS), f"training the {setting.label} model")
        results[key] = train_and_evaluate(dataset, setting, seed, protocol)
    if progress is not None:
        progress(1.0, "done")
    return compare(dataset.name, results)


def feature_impact_frame(comparison: TabularComparison, min_fraction: float = 0.0) -> pd.DataFrame:
    """Long table (feature, model, FI) sorted by the natural model's FI, as in Figures J.4 and J.5.

    ``min_fraction`` keeps only features whose FI reaches that fraction of the largest FI across
    the models shown (J.5 uses 0.05 for Spambase).
    """
    wide = pd.DataFrame({r.setting.label: r.feature_impact for r in comparison.results.values()})
    wide = wide.sort_values(MODE_LABELS["natural"], ascending=False, kind="stable")
    if min_fraction > 0:
        wide = wide[wide.max(axis=1) >= min_fraction * wide.to_numpy().max()]
    wide.index.name = "feature"
    return wide.reset_index().melt(id_vars="feature", var_name="model", value_name="FI")


def reference_rows(reference: str, X_train: np.ndarray, seed: int = 0) -> np.ndarray:
    """The rows a tabular attribution compares with: the all-zero row (``black``), the mean training row,
    or ``TRAIN_SAMPLE_SIZE`` seeded training rows (``train-sample``)."""
    check_choice(reference, TABULAR_REFERENCES, "reference for tabular data (blur and uniform are for images)")
    X_train = torch.as_tensor(np.asarray(X_train), dtype=torch.float32)
    return shared_values(reference, X_train, X_train, TRAIN_SAMPLE_SIZE, seed).numpy()


def tabular_attributions(
    model: torch.nn.Module, X: np.ndarray, protocol: TabularProtocol = PAPER_PROTOCOL,
    references: np.ndarray | None = None, output: str = PAPER_OUTPUT,
) -> dict[str, np.ndarray]:
    """IG (captum, eq. 13, the protocol's quadrature) and DeepSHAP of class 1's ``output`` against ``references``.

    ``references`` (m, d), default the all-zero row: IG is averaged over them, DeepSHAP takes them as its
    background, so both explain against the same reference. For a logistic model and one reference
    row, DeepSHAP's rescale rule reproduces eq. 15, which is why the paper finds IG and DeepSHAP
    Ginis virtually identical on these data sets (6.3). Class 1 as in the authors' code: for a binary
    model the Gini does not depend on the class (IG of P(0) is minus IG of P(1)).
    """
    check_choice(output, OUTPUTS, "output")
    inputs = np.asarray(X, dtype=np.float32)
    references = np.zeros((1, inputs.shape[1]), np.float32) if references is None else np.asarray(references, np.float32)
    with torch_threads(1):
        ig = np.mean([integrated_gradients(model, inputs, 1, baseline=row, n_steps=protocol.ig_steps,
                                           method=protocol.ig_method, output=output) for row in references], axis=0)
        shap_values = deep_shap(model, inputs, 1, background=references, output=output)
    return {"IG": np.asarray(ig), "SHAP": np.asarray(shap_values)}


def tabular_table1_rows(
    name: str,
    data_dir=None,
    seed: int = 0,
    eps: float | None = None,
    lam: float | None = None,
    feat_trans: bool = False,
    progress: Callable[[str], None] | None = None,
    protocol: TabularProtocol | str = PAPER_PROTOCOL,
    reference: str = PAPER_REFERENCE,
    output: str = PAPER_OUTPUT,
    attrs: tuple[str, ...] = TABLE1_ATTRS,
) -> list[dict]:
    """Train n, l(lam) and a(eps) models on ``name`` with ``protocol`` and return its Table 1 rows for ``attrs``.

    ``reference`` (black, mean or train-sample) and ``output`` (probability or logit) choose what IG and
    DeepSHAP explain; the paper and the authors use the all-zero row and the probability. Every row
    records the protocol, reference, output, seed and the number of test rows measured.
    """
    protocol = tabular_protocol(protocol) if isinstance(protocol, str) else protocol
    for attr in attrs:
        check_choice(attr, TABLE1_ATTRS, "attribution")
    paper = paper_settings(name)
    settings = model_settings(paper.eps if eps is None else eps, paper.lam if lam is None else lam)
    dataset = load_tabular_or_synthetic(name, data_dir=data_dir, seed=seed, feat_trans=feat_trans, protocol=protocol)
    references = reference_rows(reference, dataset.X_train, seed)
    rows = protocol.measured_rows(len(dataset.X_test))
    measured: dict[str, Measured] = {}
    for key, setting in settings.items():
        if progress is not None:
            progress(f"{name}: {setting.label} model")
        trainer = fit_model(dataset, setting, seed, protocol)
        attributions = tabular_attributions(trainer.to_module(), dataset.X_test[:rows], protocol, references, output)
        measured[key] = Measured(trainer.score(dataset.X_test, dataset.y_test),
                                 {attr: protocol.gini(attributions[attr]) for attr in attrs})
    return table1_rows(name, settings, measured, n_examples=rows, seed=seed, feat_trans=feat_trans,
                       protocol=protocol.name, reference=reference, output=output)
