"""Table 1 of the paper: dG and AcDrop of a- and l-models against the natural model (Section 6.3).

Tabular rows are measured by :mod:`advex.experiments.tabular`, image rows by :mod:`advex.experiments.image_eval`.
Each row has the keys ``dataset, attr, model, eps, lam, accuracy, mean_gini, dG, acc_drop``
(accuracy and acc_drop as fractions, model one of "n", "l", "a") plus ``mean_gini_ci95``
(half-width of the 95% confidence interval of the mean Gini) and ``n_examples``.
"""

from __future__ import annotations

from advex.metrics.sparseness import accuracy_drop, average_dG

# Table 1 of the paper, for printing beside the measured rows: (dataset, attr, model) -> (dG, AcDrop).
PAPER_TABLE1 = {
    ("mnist", "IG", "a"): (0.06, 0.008), ("mnist", "IG", "l"): (0.004, 0.004),
    ("mnist", "SHAP", "a"): (0.06, 0.008), ("mnist", "SHAP", "l"): (0.007, 0.004),
    ("fashion-mnist", "IG", "a"): (0.06, 0.047), ("fashion-mnist", "IG", "l"): (0.008, 0.034),
    ("fashion-mnist", "SHAP", "a"): (0.08, 0.047), ("fashion-mnist", "SHAP", "l"): (0.003, 0.034),
    ("mushroom", "IG", "a"): (0.06, 0.025), ("mushroom", "IG", "l"): (0.06, 0.026),
    ("spambase", "IG", "a"): (0.17, 0.009), ("spambase", "IG", "l"): (0.15, 0.001),
}


def table1_row(
    dataset: str,
    attr: str,
    key: str,
    eps: float,
    lam: float,
    accuracy: float,
    mean_gini: tuple[float, float],
    natural_accuracy: float,
    natural_mean_gini: float,
    **extra,
) -> dict:
    """One row of Table 1 for model ``key`` ("n", "l" or "a") and attribution ``attr``, then the ``extra`` keys.

    ``mean_gini`` is (mean Gini, half-width of its 95% CI); dG (eqs. 21-22) and AcDrop are taken against the
    natural model's mean Gini and accuracy. ``eps`` is kept for "a" only, ``lam`` for "l" only.
    """
    mean, ci95 = mean_gini
    return {
        "dataset": dataset,
        "attr": attr,
        "model": key,
        "eps": eps if key == "a" else 0.0,
        "lam": lam if key == "l" else 0.0,
        "accuracy": accuracy,
        "mean_gini": mean,
        "mean_gini_ci95": ci95,
        "dG": average_dG(mean, natural_mean_gini),
        "acc_drop": accuracy_drop(accuracy, natural_accuracy),
        **extra,
    }


def format_table(rows: list[dict]) -> str:
    """Rows as an aligned text table with the paper's dG and AcDrop beside the measured ones."""
    header = f"{'dataset':<14}{'attr':<6}{'model':<16}{'accuracy':>9}{'mean Gini':>17}{'dG':>9}{'AcDrop':>8}{'paper dG':>10}{'paper AcDrop':>13}"
    lines = [header, "-" * len(header)]
    for row in rows:
        setting = {"a": f"a (eps={row['eps']:g})", "l": f"l (lam={row['lam']:g})", "n": "n"}[row["model"]]
        paper = PAPER_TABLE1.get((row["dataset"], row["attr"], row["model"]))
        paper_text = f"{paper[0]:>10.3g}{paper[1]:>13.1%}" if paper else f"{'':>10}{'':>13}"
        gini_text = f"{row['mean_gini']:.4f}±{row['mean_gini_ci95']:.4f}"
        lines.append(
            f"{row['dataset']:<14}{row['attr']:<6}{setting:<16}{row['accuracy']:>9.2%}{gini_text:>17}"
            f"{row['dG']:>9.4f}{row['acc_drop']:>8.1%}{paper_text}"
        )
    return "\n".join(lines)
