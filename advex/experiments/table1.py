"""Table 1 of the paper: dG and AcDrop of the a- and l-models against the natural model (Section 6.3).

One assembly, :func:`table1_rows`, turns what was measured for the n, l and a models of a data set
into rows; the tabular half (:mod:`advex.experiments.tabular`), the image half
(:mod:`advex.experiments.image_eval`) and the dashboard (from model cards) all use it. Each row has
the keys ``dataset, attr, model, eps, lam, accuracy, mean_gini, mean_gini_ci95, dG, dG_ci95,
acc_drop`` (accuracy and acc_drop as fractions, model "n", "l" or "a"; dG and AcDrop are 0 for "n").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advex.metrics.gini import mean_with_ci95
from advex.metrics.sparseness import accuracy_drop, average_dG, mean_dG_with_ci95
from advex.vocabulary import KEYS, Setting

# Table 1 of the paper, for printing beside the measured rows: (dataset, attr, model) -> (dG, AcDrop).
PAPER_TABLE1 = {
    ("mnist", "IG", "a"): (0.06, 0.008), ("mnist", "IG", "l"): (0.004, 0.004),
    ("mnist", "SHAP", "a"): (0.06, 0.008), ("mnist", "SHAP", "l"): (0.007, 0.004),
    ("fashion-mnist", "IG", "a"): (0.06, 0.047), ("fashion-mnist", "IG", "l"): (0.008, 0.034),
    ("fashion-mnist", "SHAP", "a"): (0.08, 0.047), ("fashion-mnist", "SHAP", "l"): (0.003, 0.034),
    ("cifar10", "IG", "a"): (0.081, 0.0057), ("cifar10", "IG", "l"): (0.022, 0.0151),
    ("mushroom", "IG", "a"): (0.06, 0.025), ("mushroom", "IG", "l"): (0.06, 0.026),
    ("spambase", "IG", "a"): (0.17, 0.009), ("spambase", "IG", "l"): (0.15, 0.001),
}


@dataclass
class Measured:
    """What was measured for one model of Table 1: its accuracy and, per attribution label, its Ginis.

    ``ginis[attr]`` is either the per-example Ginis (the same examples for every model, so dG gets a
    paired confidence interval, eqs. 19-20) or a (mean, ci95) pair when only a summary is known (model cards).
    """

    accuracy: float
    ginis: dict[str, np.ndarray | tuple[float, float]]


def _summary(values) -> tuple[float, float]:
    return tuple(values) if isinstance(values, tuple) else mean_with_ci95(values)


def table1_row(dataset: str, attr: str, setting: Setting, accuracy: float, mean_gini: tuple[float, float],
               natural_accuracy: float, natural_mean_gini: float, dG_ci95: float = float("nan"), **extra) -> dict:
    """One row of Table 1 for ``setting`` and attribution ``attr``, then the ``extra`` keys.

    ``mean_gini`` is (mean Gini, half-width of its 95% CI); dG (eqs. 21-22) and AcDrop are taken
    against the natural model's mean Gini and accuracy.
    """
    mean, ci95 = mean_gini
    natural = setting.mode == "natural"
    return {
        "dataset": dataset, "attr": attr, "model": setting.key, "eps": setting.eps, "lam": setting.lam,
        "accuracy": accuracy, "mean_gini": mean, "mean_gini_ci95": ci95,
        "dG": 0.0 if natural else average_dG(mean, natural_mean_gini), "dG_ci95": 0.0 if natural else dG_ci95,
        "acc_drop": 0.0 if natural else accuracy_drop(accuracy, natural_accuracy),
        **extra,
    }


def table1_rows(dataset: str, settings: dict[str, Setting], measured: dict[str, Measured], **extra) -> list[dict]:
    """Rows for every attribution label and model key ("n", "l", "a"), natural first, with paired dG CIs."""
    natural = measured["n"]
    rows = []
    for attr in natural.ginis:
        natural_mean, _ = _summary(natural.ginis[attr])
        for key in KEYS:
            if key not in measured or attr not in measured[key].ginis:
                continue
            values = measured[key].ginis[attr]
            paired = (not isinstance(values, tuple) and not isinstance(natural.ginis[attr], tuple)
                      and len(values) == len(natural.ginis[attr]))
            dG_ci95 = mean_dG_with_ci95(values, natural.ginis[attr])[1] if paired else float("nan")
            rows.append(table1_row(dataset, attr, settings[key], measured[key].accuracy, _summary(values),
                                   natural.accuracy, natural_mean, dG_ci95=dG_ci95, **extra))
    return rows


def format_table(rows: list[dict]) -> str:
    """Rows as an aligned text table with the paper's dG and AcDrop beside the measured ones."""
    header = (f"{'dataset':<14}{'attr':<6}{'model':<16}{'accuracy':>9}{'mean Gini':>17}{'dG':>17}{'AcDrop':>8}"
              f"{'paper dG':>10}{'paper AcDrop':>13}")
    lines = [header, "-" * len(header)]
    for row in rows:
        setting = Setting.of_key(row["model"], row["eps"], row["lam"]).short()
        paper = PAPER_TABLE1.get((row["dataset"], row["attr"], row["model"]))
        paper_text = f"{paper[0]:>10.3g}{paper[1]:>13.1%}" if paper else f"{'':>10}{'':>13}"
        gini_text = f"{row['mean_gini']:.4f}±{row['mean_gini_ci95']:.4f}"
        dG_ci95 = row.get("dG_ci95", float("nan"))
        dG_text = f"{row['dG']:.4f}" + (f"±{dG_ci95:.4f}" if row["model"] != "n" and np.isfinite(dG_ci95) else "")
        lines.append(
            f"{row['dataset']:<14}{row['attr']:<6}{setting:<16}{row['accuracy']:>9.2%}{gini_text:>17}"
            f"{dG_text:>17}{row['acc_drop']:>8.1%}{paper_text}"
        )
    return "\n".join(lines)
