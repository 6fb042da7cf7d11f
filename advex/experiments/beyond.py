"""Beyond the paper: do adversarially trained models give sparser explanations for every explainer and measure?

For each data set (tabular: mushroom, spambase, synthetic; image: MNIST, Fashion-MNIST), explainer
(:data:`advex.attribution.methods.METHODS`) and sparseness measure (:data:`advex.metrics.measures.MEASURES`),
the n, l and a models of Table 1 (:func:`advex.vocabulary.table1_settings`) explain the same examples.
Each row gives a model's mean measure and, for l and a, its *improvement* over n: the mean of the paired
per-example differences, signed so that positive means sparser (``Measure.improvement``; for the Gini
index this is dG of eqs. 19-22), with the 95% CI of those differences. Per cell, ``a_vs_l`` says whether
a beats l with the two CIs apart (:func:`advex.experiments.ablation.verdict`). :func:`ground_truth` adds
precision at k on the synthetic set against eps (:mod:`advex.experiments.ground_truth`).

Models: image models from the zoo; tabular models trained here with J.1's protocol (``paper``, seeded).
Examples: ``n_images`` seeded test images, the true class explained (J.1; the zoo's 200-image sample
when the data are not on disk); tabular: the whole test split (J.1), class 1 explained as in the
tabular pipeline (for a binary model the maps of class 0 are those of class 1 up to sign).

Per-method settings (all explain the predicted probability, J.1; those that need a reference use the
paper's, the black image / all-zero row, J.1):

- ``ig``: 50-point Gauss-Legendre quadrature of eq. 13 (``IG_STEPS``), black reference.
- ``deepshap``: DeepLIFT's rescale rule with shap's rules, the black image as the one background row.
- ``saliency``: |dF/dx|; ``input-x-gradient``: x * dF/dx (no reference).
- ``smoothgrad``: the raw gradient averaged over 50 copies x + N(0, 0.15^2) (Smilkov et al. 2017: n = 50,
  sigma 10-20% of the input range; 0.15 is 15% of the pixel range, of a one-hot column's range, and 0.15
  of a standard deviation for standardized Spambase and the synthetic features), seed 0.
- ``gradient-shap``: 50 samples (a ~ U[0, 1]) on the path from the black reference, no extra noise, seed 0.
- ``deeplift``: captum's DeepLIFT (rescale) against the black reference.

Cost: every attribution is computed once per (model, method, example set) and all six measures (and,
on the synthetic set, precision at k) come from it, vectorized. torch runs on one thread: on 2 shared,
loaded cores one thread explained MNIST 2.4x (IG) to 10x (Saliency) faster than two (threads wait on
each other). Per-example values are kept in ``work_dir`` (one file per data set, model and method,
written atomically, with the seconds it took and what they were computed from: the examples, the
model's weights, the method's settings), so an interrupted run resumes. A map that is all zero (e.g.
Input x Gradient of a probability saturated to 1 in float32) has no sparseness; it drops out of the
model's mean and of its pairs with n.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from advex.attribution import explain
from advex.attribution.gradient_methods import (
    GRADIENT_SHAP_SAMPLES,
    GRADIENT_SHAP_STDEV,
    SMOOTHGRAD_SAMPLES,
    SMOOTHGRAD_STDEV,
)
from advex.attribution.integrated_gradients import ROWS_PER_PASS
from advex.attribution.methods import METHOD_LABELS, METHODS, uses_reference
from advex.device import torch_threads
from advex.errors import AdvexError, ModelFileError
from advex.experiments.ground_truth import PRECISION, precision_at_k, strong_features
from advex.experiments.tabular import fit_model, load_tabular_or_synthetic
from advex.experiments.tabular_protocols import PAPER_PROTOCOL
from advex.metrics.gini import mean_with_ci95
from advex.metrics.measures import MEASURE_NAMES, MEASURES, measure_all
from advex.metrics.sparseness import mean_dG_with_ci95, verdict
from advex.models.io import atomic_write_json
from advex.vocabulary import (
    IG_STEPS,
    KEYS,
    PAPER_OUTPUT,
    PAPER_REFERENCE,
    SYNTHETIC,
    TABLE1_IMAGE_DATASETS,
    TABULAR_CHOICES,
    Setting,
    check_choice,
    check_nonnegative,
    table1_settings,
)

Progress = Callable[[str], None]
BEYOND_DATASETS = (*TABULAR_CHOICES, *TABLE1_IMAGE_DATASETS)
GROUND_TRUTH_EPS = (0.0, 0.05, 0.1, 0.2, 0.3)
SPARSENESS, GROUND_TRUTH = "sparseness", "ground_truth"  # the two tables, the ``table`` key of a row
ROW_KEYS = ("dataset", "method", "measure", "model", "eps", "lam", "value", "improvement", "improvement_ci95", "n_images")
METHOD_OPTIONS: dict[str, dict] = {
    "ig": {"n_steps": IG_STEPS},
    "deepshap": {},
    "saliency": {},
    "input-x-gradient": {},
    "smoothgrad": {"smoothgrad_base": "saliency", "nt_samples": SMOOTHGRAD_SAMPLES, "stdev": SMOOTHGRAD_STDEV},
    "gradient-shap": {"n_samples": GRADIENT_SHAP_SAMPLES, "gradient_shap_stdev": GRADIENT_SHAP_STDEV},
    "deeplift": {},
}
TABULAR_ROWS_PER_PASS = 5000  # a logistic model: a few large passes beat many small ones


def check_eps_grid(eps_grid) -> tuple[float, ...]:
    """The ground truth's eps values, sorted without repeats; an AdvexError for an empty grid or a bad value."""
    values = tuple(sorted({check_nonnegative(eps, "ground-truth eps") for eps in eps_grid}))
    if not values:
        raise AdvexError(f"the ground truth needs at least one eps, e.g. {' '.join(f'{e:g}' for e in GROUND_TRUTH_EPS)}")
    return values


@dataclass(frozen=True)
class BeyondGrid:
    """What to cross: data sets, explainers, measures; images per image data set; the ground truth's eps grid."""

    datasets: tuple[str, ...] = BEYOND_DATASETS
    methods: tuple[str, ...] = METHODS
    measures: tuple[str, ...] = MEASURE_NAMES
    n_images: int = 100
    seed: int = 0
    ground_truth_eps: tuple[float, ...] = GROUND_TRUTH_EPS

    def __post_init__(self) -> None:
        for values, allowed, what in ((self.datasets, BEYOND_DATASETS, "data set"), (self.methods, METHODS, "method"),
                                      (self.measures, MEASURE_NAMES, "sparseness measure")):
            if not values:
                raise AdvexError(f"choose at least one {what} ({', '.join(allowed)})")
            for value in values:
                check_choice(value, allowed, what)
        if isinstance(self.n_images, bool) or not isinstance(self.n_images, int) or self.n_images < 2:
            raise AdvexError(f"n_images must be a whole number >= 2 (a confidence interval needs two images), "
                             f"got {self.n_images!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise AdvexError(f"seed must be a whole number >= 0, got {self.seed!r}")
        object.__setattr__(self, "ground_truth_eps", check_eps_grid(self.ground_truth_eps))

    def attribution_cells(self) -> int:
        """The number of (data set, model, method) attributions to compute, the ground truth's included."""
        cells = len(self.datasets) * len(KEYS) * len(self.methods)
        if SYNTHETIC in self.datasets:
            fixed, adversarial = ground_truth_settings(self.ground_truth_eps)
            cells += len(self.methods) * (len(fixed) + len(adversarial))
        return cells


@dataclass
class Examples:
    """What one data set's models explain: inputs and the explained classes (the black reference needs no training
    data), and the models."""

    dataset: str
    X: np.ndarray
    targets: np.ndarray
    pool: str  # where the examples come from, in words
    explained: str  # which class's probability is explained
    load_model: Callable[[Setting], nn.Module]
    model_version: Callable[[Setting], str]  # what identifies the model's weights (a cell is reused only for the same)
    rows_per_pass: int = ROWS_PER_PASS
    strong: np.ndarray | None = None  # the truly strong features (synthetic data only)
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        self.digest = digest(self.X)


def digest(array: np.ndarray) -> str:
    """A short content hash of an array (what a stored cell was computed from)."""
    array = np.ascontiguousarray(array)
    return hashlib.blake2b(array.tobytes() + str((array.dtype, array.shape)).encode(), digest_size=12).hexdigest()


def _zoo_versions(dataset: str) -> dict[str, str]:
    """The SHA-256 of the weights of Table 1's n, l, a models of ``dataset`` (zoo first, as they load); a clear error
    before any work when one is missing."""
    from advex.zoo.catalogue import list_models

    versions: dict[str, str] = {}
    for card in list_models(dataset):  # the zoo's cards come first
        versions.setdefault(card["name"], str(card.get("weights_sha256", card.get("stem"))))
    missing = [setting.name for setting in table1_settings(dataset).values() if setting.name not in versions]
    if missing:
        raise ModelFileError(f"the zoo has no {dataset} model {', '.join(missing)} (Table 1's settings); "
                             "rebuild it with `advex zoo build` or train them with `advex train`")
    return versions


def image_examples(dataset: str, n_images: int, seed: int = 0, data_dir=None, images=None) -> Examples:
    """``n_images`` seeded test images of ``dataset`` (``images``: an EvalImages pool to use instead) and the zoo's models."""
    from advex.zoo.catalogue import load_eval_images, load_zoo_model

    versions = _zoo_versions(dataset)
    pool = images if images is not None else load_eval_images(dataset, data_dir=data_dir, seed=seed)
    indices = pool.choose(n_images, seed)
    return Examples(dataset, pool.X[indices], pool.y[indices], f"{len(indices)} images of the {pool.pool}",
                    "true class", functools.cache(lambda setting: load_zoo_model(dataset, setting.name)[0]),
                    lambda setting: versions[setting.name])


def tabular_examples(dataset: str, seed: int = 0, data_dir=None, data=None) -> Examples:
    """The test split of ``dataset`` (``data``: a TabularDataset to use instead) and models trained with J.1's protocol."""
    data = data if data is not None else load_tabular_or_synthetic(dataset, data_dir=data_dir, seed=seed, protocol=PAPER_PROTOCOL)
    rows = PAPER_PROTOCOL.measured_rows(len(data.X_test))
    strengths = getattr(data, "strengths", None)
    training = hashlib.blake2b(f"{PAPER_PROTOCOL!r} seed={seed}".encode(), digest_size=8).hexdigest()
    return Examples(dataset, np.asarray(data.X_test[:rows], np.float32), np.ones(rows, np.int64),
                    f"{rows} rows of the test split (J.1 protocol)", "class 1",
                    functools.cache(lambda setting: fit_model(data, setting, seed, PAPER_PROTOCOL).to_module()),
                    lambda setting: f"trained here: J.1 protocol {training} on {digest(data.X_train)} / {digest(data.y_train)}",
                    TABULAR_ROWS_PER_PASS, None if strengths is None else strong_features(strengths))


def examples_for(dataset: str, n_images: int, seed: int = 0, data_dir=None, images=None) -> Examples:
    """:func:`image_examples` or :func:`tabular_examples`, by the kind of ``dataset``."""
    check_choice(dataset, BEYOND_DATASETS, "data set")
    if dataset in TABLE1_IMAGE_DATASETS:
        return image_examples(dataset, n_images, seed, data_dir, images)
    return tabular_examples(dataset, seed, data_dir)


# ---------------------------------------------------------------- one attribution cell


def cell_spec(examples: Examples, setting: Setting, method: str, seed: int) -> dict:
    """Everything the per-example values of a cell depend on (a stored cell is reused only when it matches)."""
    spec = {"dataset": examples.dataset, "model": setting.name, "weights": examples.model_version(setting), "method": method,
            "options": METHOD_OPTIONS[method], "reference": reference_of(method), "output": PAPER_OUTPUT,
            "explained": examples.explained, "seed": seed, "examples": examples.digest, "n": int(len(examples.X))}
    return json.loads(json.dumps(spec))


def reference_of(method: str) -> str:
    """The reference ``method`` is computed against: the paper's black, or "none" for methods without one."""
    return PAPER_REFERENCE if uses_reference(method, METHOD_OPTIONS[method].get("smoothgrad_base", "saliency")) else "none"


def _cell_path(work_dir: Path, dataset: str, setting: Setting, method: str) -> Path:
    return work_dir / dataset / f"{setting.name}__{method}.json"


def _needed(examples: Examples) -> tuple[str, ...]:
    return (*MEASURE_NAMES, PRECISION) if examples.strong is not None else MEASURE_NAMES


def _cached(path: Path, spec: dict, needed: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The per-example values stored at ``path`` when they were computed for ``spec`` and hold every ``needed`` name."""
    try:
        stored = json.loads(path.read_text())
        if stored.get("spec") != spec or not set(needed) <= set(stored["values"]):
            return None
        return {name: np.asarray(stored["values"][name], dtype=np.float64) for name in needed}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _finite_or_none(values) -> list:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).tolist()]


def compute_cell(examples: Examples, setting: Setting, method: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Attributions of one model by one method, computed once; every measure (and precision at k) per example."""
    model = examples.load_model(setting)
    with torch_threads(1):
        maps = explain(model, examples.X, examples.targets, method=method, reference=PAPER_REFERENCE, output=PAPER_OUTPUT,
                       seed=seed, rows_per_pass=examples.rows_per_pass, **METHOD_OPTIONS[method])
    values = {name: np.asarray(v, dtype=np.float64) for name, v in measure_all(maps).items()}
    if examples.strong is not None:
        values[PRECISION] = precision_at_k(maps, examples.strong)
    return values


def cell(examples: Examples, setting: Setting, method: str, seed: int = 0,
         work_dir: Path | None = None) -> tuple[dict[str, np.ndarray], float]:
    """Per-example values of one (model, method) and the seconds computing took (0 when read back from ``work_dir``)."""
    spec = cell_spec(examples, setting, method, seed)
    path = _cell_path(work_dir, examples.dataset, setting, method) if work_dir is not None else None
    if path is not None:
        cached = _cached(path, spec, _needed(examples))
        if cached is not None:
            return cached, 0.0
    started = time.perf_counter()
    values = compute_cell(examples, setting, method, seed)
    seconds = time.perf_counter() - started
    if path is not None:
        atomic_write_json(path, {"spec": spec, "seconds": round(seconds, 3),
                                 "values": {name: _finite_or_none(v) for name, v in values.items()}})
    return values, seconds


# ---------------------------------------------------------------- the sparseness table


def _number(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _row(table: str, examples: Examples, method: str, measure: str, key: str, setting: Setting, values: np.ndarray,
         natural: np.ndarray, seconds: float, improve: Callable) -> dict:
    mean, ci95 = mean_with_ci95(values)
    improvement = improvement_ci95 = None
    if key != "n":
        improvement, improvement_ci95 = improve(values, natural)
    return {
        "table": table, "dataset": examples.dataset, "method": method, "measure": measure, "model": key,
        "setting": setting.name, "eps": setting.eps, "lam": setting.lam, "value": _number(mean), "value_ci95": _number(ci95),
        "improvement": _number(improvement), "improvement_ci95": _number(improvement_ci95),
        "n_images": int(np.isfinite(values).sum()), "pool": examples.pool, "reference": reference_of(method),
        "output": PAPER_OUTPUT, "explained": examples.explained, "seconds": round(seconds, 3),
    }


def paired_improvement(measure: str) -> Callable:
    """(values of a model, values of n) -> mean and 95% CI of the paired per-example gains, positive = sparser."""
    return functools.partial(mean_dG_with_ci95, measure=measure)


def sparseness_rows(examples: Examples, method: str, measures: tuple[str, ...], values: dict[str, dict],
                    seconds: dict[str, float], settings: dict[str, Setting]) -> list[dict]:
    """The n, l and a rows of every measure for one (data set, method), with the a-vs-l verdict on each row."""
    rows = []
    for measure in measures:
        cell_rows = [_row(SPARSENESS, examples, method, measure, key, settings[key], values[key][measure], values["n"][measure],
                          seconds[key], paired_improvement(measure)) for key in KEYS]
        a, l_row = cell_rows[KEYS.index("a")], cell_rows[KEYS.index("l")]
        versus = verdict(*(float("nan") if v is None else v for v in (a["improvement"], a["improvement_ci95"],
                                                                      l_row["improvement"], l_row["improvement_ci95"])))
        for row in cell_rows:
            row["higher_is_sparser"] = MEASURES[measure].higher_is_sparser
            row["a_vs_l"] = versus
        rows += cell_rows
        seconds = dict.fromkeys(seconds, 0.0)  # a cell's seconds are counted once, on its first measure's rows
    return rows


def run_beyond(grid: BeyondGrid = BeyondGrid(), data_dir=None, work_dir: str | Path | None = None,
               progress: Progress | None = None, images: dict | None = None) -> list[dict]:
    """Sparseness rows (keys :data:`ROW_KEYS` and more) for every data set, method, measure and model of ``grid``.

    Data and models are checked for every data set before any attribution is computed. ``images``:
    EvalImages pools by data set to use instead of the test sets. ``work_dir`` keeps per-example values.
    """
    work = Path(work_dir) if work_dir is not None else None
    prepared = [examples_for(dataset, grid.n_images, grid.seed, data_dir, (images or {}).get(dataset))
                for dataset in grid.datasets]
    rows: list[dict] = []
    for examples in prepared:
        settings = table1_settings(examples.dataset)
        for method in grid.methods:
            values, seconds = {}, {}
            for key, setting in settings.items():
                if progress is not None:
                    progress(f"{examples.dataset} {method} {key}")
                values[key], seconds[key] = cell(examples, setting, method, grid.seed, work)
            rows += sparseness_rows(examples, method, grid.measures, values, seconds, settings)
    return rows


# ---------------------------------------------------------------- ground truth on the synthetic set


def ground_truth_settings(eps_grid: tuple[float, ...], dataset: str = SYNTHETIC) -> tuple[dict[str, Setting], list[Setting]]:
    """Table 1's n and l settings, and the a settings of the eps grid (eps 0 is the natural model itself)."""
    settings = table1_settings(dataset)
    adversarial = [Setting("adv", eps=eps) for eps in check_eps_grid(eps_grid) if eps > 0]
    return {"n": settings["n"], "l": settings["l"]}, adversarial


def ground_truth(methods: tuple[str, ...] = METHODS, eps_grid: tuple[float, ...] = GROUND_TRUTH_EPS, seed: int = 0,
                 work_dir: str | Path | None = None, progress: Progress | None = None, data=None) -> list[dict]:
    """Precision at k (:func:`advex.experiments.ground_truth.precision_at_k`) of every method for n, l and a over eps.

    On the synthetic FEAT-TRANS set (``data``: a SyntheticDataset to use instead of the default one),
    models trained with J.1's protocol; k = the number of strong features. Rows have the keys of
    :data:`ROW_KEYS` (measure ``precision_at_k``; improvement = paired gain over n, positive = more
    precise) plus ``k``; the n row stands for eps 0.
    """
    for method in methods:
        check_choice(method, METHODS, "method")
    if not methods:
        raise AdvexError(f"choose at least one method ({', '.join(METHODS)})")
    examples = tabular_examples(SYNTHETIC, seed, data=data)
    if examples.strong is None:
        raise AdvexError("ground truth needs a data set with known feature strengths (the synthetic FEAT-TRANS set)")
    fixed, adversarial = ground_truth_settings(eps_grid)  # checks the grid before the data are made
    work = Path(work_dir) if work_dir is not None else None
    rows = []
    for method in methods:
        values, seconds = {}, {}
        for name, setting in [*fixed.items(), *((s.name, s) for s in adversarial)]:
            if progress is not None:
                progress(f"ground truth {method} {setting.name}")
            values[name], seconds[name] = cell(examples, setting, method, seed, work)
        natural = values["n"][PRECISION]
        for name, setting in [*fixed.items(), *((s.name, s) for s in adversarial)]:
            row = _row(GROUND_TRUTH, examples, method, PRECISION, setting.key, setting, values[name][PRECISION], natural,
                       seconds[name], _paired_gain)
            row["k"] = int(examples.strong.sum())
            rows.append(row)
    return rows


def _paired_gain(values: np.ndarray, natural: np.ndarray) -> tuple[float, float]:
    """Mean and 95% CI of the paired differences values - natural (NaN pairs dropped)."""
    return mean_with_ci95(np.asarray(values, np.float64) - np.asarray(natural, np.float64))


# ---------------------------------------------------------------- reading the rows


def cells_of(rows: list[dict]) -> list[dict[str, dict]]:
    """Sparseness rows grouped per (data set, method, measure) into {"n": row, "l": row, "a": row} (complete cells)."""
    grouped: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        if row.get("table", SPARSENESS) == SPARSENESS:
            grouped.setdefault((row["dataset"], row["method"], row["measure"]), {})[row["model"]] = row
    return [cell for cell in grouped.values() if set(KEYS) <= set(cell)]


def sparser(row: dict) -> bool:
    """Whether the model is sparser than n with 95% confidence (the improvement's CI lies above 0)."""
    improvement, ci95 = row.get("improvement"), row.get("improvement_ci95")
    return improvement is not None and ci95 is not None and improvement - ci95 > 0


def summary(rows: list[dict]) -> list[str]:
    """Plain-language reading: per data set how many (method, measure) cells show a sparser than n, and a beating l."""
    cells = cells_of(rows)
    lines = []
    for dataset in dict.fromkeys(cell["n"]["dataset"] for cell in cells):
        part = [cell for cell in cells if cell["n"]["dataset"] == dataset]
        a_sparser = sum(sparser(cell["a"]) for cell in part)
        a_ahead = sum(cell["a"]["a_vs_l"] == "a" for cell in part)
        l_ahead = sum(cell["a"]["a_vs_l"] == "l" for cell in part)
        lines.append(f"{dataset}: a sparser than n in {a_sparser} of {len(part)} (method, measure) cells; "
                     f"a beats l (95% CIs apart) in {a_ahead}, l beats a in {l_ahead}")
    return lines


def _signed(value: float | None, ci95: float | None) -> str:
    if value is None:
        return f"{'n/a':>17}"
    return f"{value:>+8.4f} ± {ci95:.4f}" if ci95 is not None else f"{value:>+8.4f} ±    n/a"


def format_beyond(rows: list[dict]) -> str:
    """The sparseness rows as a readable table: per cell the mean for n, and the improvement ± 95% CI of l and a."""
    header = f"{'dataset':<14}{'method':<18}{'measure':<17}{'n':>8}{'l: gain ± CI':>20}{'a: gain ± CI':>20}  a vs l"
    lines = [header, "-" * len(header)]
    for cell in cells_of(rows):
        n, l_row, a = cell["n"], cell["l"], cell["a"]
        value = f"{n['value']:>8.4f}" if n["value"] is not None else f"{'n/a':>8}"
        lines.append(f"{n['dataset']:<14}{n['method']:<18}{n['measure']:<17}{value}  "
                     f"{_signed(l_row['improvement'], l_row['improvement_ci95'])}  {_signed(a['improvement'], a['improvement_ci95'])}"
                     f"  {dict(a='a ahead', l='l ahead').get(a['a_vs_l'], 'overlap')}")
    lines.append("gain: improvement over n, positive = sparser (paired per-example differences; dG of eqs. 19-22 for gini)")
    return "\n".join(lines)


def format_ground_truth(rows: list[dict]) -> str:
    """Precision at k per method (rows) for n, l and a over eps (columns)."""
    truth = [row for row in rows if row.get("table") == GROUND_TRUTH]
    if not truth:
        return ""
    columns = list(dict.fromkeys((row["model"], row["setting"]) for row in truth))
    titles = {("n", "natural"): "n (eps 0)"}
    names = [titles.get(column, f"{column[0]} ({column[1]})") for column in columns]
    header = f"{'method':<18}" + "".join(f"{name:>14}" for name in names)
    lines = [f"precision at k = {truth[0]['k']} (strong features of the synthetic set), {truth[0]['pool']}", header,
             "-" * len(header)]
    for method in dict.fromkeys(row["method"] for row in truth):
        by_column = {(row["model"], row["setting"]): row["value"] for row in truth if row["method"] == method}
        lines.append(f"{method:<18}" + "".join(f"{by_column[c]:>14.3f}" if by_column.get(c) is not None else f"{'n/a':>14}"
                                               for c in columns))
    return "\n".join(lines)


def time_spent(rows: list[dict]) -> dict[str, float]:
    """Seconds computed per method over all data sets and models (cells read back count 0)."""
    spent: dict[str, float] = {}
    for row in rows:
        spent[row["method"]] = spent.get(row["method"], 0.0) + float(row.get("seconds") or 0.0)
    return spent


def describe_settings() -> dict[str, str]:
    """Each method's settings in words (for the CLI's and the view's notes)."""
    return {method: f"{METHOD_LABELS[method]}: reference {reference_of(method)}"
                    + "".join(f", {key} {value}" for key, value in METHOD_OPTIONS[method].items())
            for method in METHODS}

