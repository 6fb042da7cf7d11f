"""Trade-offs view: Table 1 measured beside the paper, Figure 3 (accuracy vs mean Gini), the robustness-sparseness
frontier and Figure 2 (pointwise dG).

The figures' frames and renderers are :mod:`advex.experiments.figures`; this module feeds them from
the cards and the dashboard's shared caches.

Image rows of Table 1 are assembled by :func:`advex.experiments.table1.table1_row`: the clean test
accuracy always comes from the model cards (AcDrop = acc^n - acc^m); the mean Gini (eq. I.67) of
IG and DeepSHAP comes from the cards when they were measured with the chosen reference and output,
else from the ablation results (:mod:`advex.dashboard.conclusion`), whose dG (eqs. 21-22) has the
95% CI of the paired per-image differences (eqs. 19-20). Tabular rows are measured live with the
Tabular explorer's models at Table 1's settings. Figure 2's pointwise dG is computed on a few test
images per model and cached.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from advex.dashboard import models, saliency
from advex.dashboard import tabular as tabular_view
from advex.dashboard.cache import SharedLRU
from advex.dashboard.conclusion import SHIPPED, Results
from advex.evaluation.attributions import TABLE1_LABELS, AttributionPlan
from advex.evaluation.report import card_mean_gini, card_robust_accuracy
from advex.experiments.figures import TABULAR_EPS, TABULAR_LAM
from advex.experiments.table1 import PAPER_TABLE1, table1_row
from advex.vocabulary import (
    DATASET_TITLES,
    MODE_COLORS,
    MODE_KEYS,
    MODE_LABELS,
    PAPER,
    PAPER_OUTPUT,
    PAPER_REFERENCE,
    TABLE1_IMAGE_DATASETS,
    Setting,
    paper_settings,
    table1_settings,
)

ATTR_OF_CARD = {label: method for method, label in TABLE1_LABELS.items()}
TABLE1_COLUMNS = ["dataset", "attr", "model", "mean Gini", "dG", "dG ± (95% CI)", "dG (paper)", "AcDrop", "AcDrop (paper)",
                  "reference", "output", "Gini from", "accuracy from"]

POINTWISE: SharedLRU[np.ndarray] = SharedLRU(max_entries=48)
TABULAR_CURVES: SharedLRU[pd.DataFrame] = SharedLRU(max_entries=4)


def _card_accuracy(card: dict) -> float:
    value = card.get("clean_accuracy")
    return float(value) if isinstance(value, (int, float)) else math.nan


def _exact(cards: list[dict], setting: Setting) -> dict | None:
    """The first card (zoo before user) trained exactly at ``setting``'s eps or lambda."""
    hits = [c for c in models.by_mode(cards, setting.mode)
            if math.isclose(float(c.get("eps" if setting.mode == "adv" else "lam") or 0.0), setting.value)]
    return hits[0] if hits else None


def card_choice(card: dict) -> tuple[str | None, str | None]:
    """The reference and output a card's mean Ginis were measured with (None where the card does not say)."""
    gini = card.get("gini") if isinstance(card.get("gini"), dict) else {}
    return gini.get("reference"), gini.get("output")


def _gini_source(dataset: str, attr: str, chosen: dict[str, dict | None], reference: str, output: str,
                 ablation: Results | None) -> tuple[dict[str, tuple[float, float]], dict[str, float], str]:
    """Mean Gini (mean, ci95) of n, l and a for one attribution, the paired dG CIs, and where they come from."""
    method = ATTR_OF_CARD[attr]
    cards = list(chosen.values())
    if all(card is not None and card_choice(card) == (reference, output) for card in cards):
        ginis = {key: (card_mean_gini(card, method), _card_ci(card, method)) for key, card in chosen.items()}
        if all(math.isfinite(mean) for mean, _ in ginis.values()):
            counts = sorted({str(card["gini"].get("n_images", "?")) for card in cards})
            return ginis, {}, f"model cards ({'/'.join(counts)} test images)"
    rows = {key: ablation.row(dataset, attr, reference, output, key) for key in chosen} if ablation else {}
    if rows and all(row is not None for row in rows.values()):
        ginis = {key: (float(row["mean_gini"]), float(row.get("mean_gini_ci95") or math.nan)) for key, row in rows.items()}
        ci = {key: float(row["dG_ci95"]) for key, row in rows.items() if key != "n"}
        origin = "shipped" if ablation.source == SHIPPED else "recomputed"
        return ginis, ci, f"ablation results ({origin}, {rows['a']['n_images']} images, {rows['a'].get('pool', '?')})"
    return {}, {}, "not measured for this choice (recompute below)"


def _card_ci(card: dict, method: str) -> float:
    value = (card.get("gini") or {}).get(f"{method}_ci95")
    return float(value) if isinstance(value, (int, float)) else math.nan


def image_rows(dataset: str, cards: list[dict], reference: str = PAPER_REFERENCE, output: str = PAPER_OUTPUT,
               ablation: Results | None = None) -> list[dict]:
    """Table 1's a and l rows of an image data set at the paper's eps and lambda, for one reference and output."""
    settings = table1_settings(dataset)
    chosen = {key: _exact(cards, setting) for key, setting in settings.items()}
    natural = chosen["n"]
    rows = []
    for attr in ("IG", "SHAP"):
        ginis, dG_ci, gini_from = _gini_source(dataset, attr, chosen, reference, output, ablation)
        for key in ("a", "l"):
            card = chosen[key]
            accuracy_from = "model cards" if card is not None and natural is not None else "model missing"
            accuracy = _card_accuracy(card) if card is not None else math.nan
            natural_accuracy = _card_accuracy(natural) if natural is not None else math.nan
            mean_gini = ginis.get(key, (math.nan, math.nan))
            natural_gini = ginis.get("n", (math.nan, math.nan))[0]
            row = table1_row(dataset, attr, settings[key], accuracy, mean_gini, natural_accuracy, natural_gini,
                             dG_ci95=dG_ci.get(key, math.nan))
            rows.append(_display(row, reference, output, gini_from, accuracy_from))
    return rows


def tabular_rows(name: str) -> list[dict]:
    """Table 1 rows of a tabular data set, measured now with the Tabular explorer's models (IG, eq. 15).

    The tabular pipeline explains P(label 1) against the all-zero row whatever reference the page shows.
    """
    paper = paper_settings(name)
    data = tabular_view.dataset(name)
    result = tabular_view.comparison(data, paper.eps, paper.lam)
    rows = []
    for key in ("a", "l"):
        model, natural = result.results[key], result.results["n"]
        row = table1_row(name, "IG", model.setting, model.accuracy, (model.mean_gini, math.nan), natural.accuracy,
                         natural.mean_gini)
        rows.append(_display(row, "black", "probability", "trained now", "trained now"))
    return rows


def _display(row: dict, reference: str, output: str, gini_from: str, accuracy_from: str) -> dict:
    """A :func:`table1_row` as the page shows it, with the paper's dG and AcDrop beside it."""
    paper = PAPER_TABLE1.get((row["dataset"], row["attr"], row["model"]), (math.nan, math.nan))
    setting = Setting.of_key(row["model"], row["eps"], row["lam"])
    return {"dataset": row["dataset"], "attr": row["attr"], "model": setting.short(), "mean Gini": row["mean_gini"],
            "dG": row["dG"], "dG ± (95% CI)": row["dG_ci95"], "dG (paper)": paper[0], "AcDrop": row["acc_drop"],
            "AcDrop (paper)": paper[1], "reference": reference, "output": output, "Gini from": gini_from,
            "accuracy from": accuracy_from}


def table1_frame(image_datasets: list[str], tabular_names: list[str], reference: str = PAPER_REFERENCE,
                 output: str = PAPER_OUTPUT, ablation: Results | None = None, cards: list[dict] | None = None) -> pd.DataFrame:
    """Table 1: measured dG and AcDrop next to the paper's, for the data sets given and the chosen reference and output.

    ``cards``: the model cards to use (default: listed now).
    """
    cards = models.cards() if cards is None else cards
    rows = []
    for dataset in image_datasets:
        if dataset in TABLE1_IMAGE_DATASETS:
            rows += image_rows(dataset, [c for c in cards if c.get("dataset") == dataset], reference, output, ablation)
    for name in tabular_names:
        rows += tabular_rows(name)
    return pd.DataFrame(rows, columns=TABLE1_COLUMNS)


def figure3_frame(cards: list[dict], tabular_names: list[str]) -> pd.DataFrame:
    """Figure 3's points: image models from their cards, tabular models trained over eps and lambda grids.

    Frames of :mod:`advex.experiments.figures` (columns dataset, attr, family, param, accuracy,
    mean_gini, model, line); each tabular data set's curve is computed once per server.
    """
    from advex.experiments.figures import tabular_tradeoff_frame, zoo_tradeoff_frame

    parts = [zoo_tradeoff_frame(cards)]
    for name in tabular_names:
        parts.append(TABULAR_CURVES.get_or_compute(
            (name, TABULAR_EPS, TABULAR_LAM),
            lambda name=name: tabular_tradeoff_frame(name, TABULAR_EPS, TABULAR_LAM)))
    parts = [part for part in parts if not part.empty]
    return pd.concat(parts, ignore_index=True) if parts else zoo_tradeoff_frame([])


def pointwise_dg(dataset: str, cards: dict[str, dict], n_images: int, methods: tuple[str, ...],
                 reference: str = PAPER_REFERENCE, output: str = PAPER_OUTPUT) -> pd.DataFrame:
    """Pointwise dG (eqs. 19-20) of the a- and l-model against the natural one on ``n_images`` test images.

    The frame of :func:`advex.experiments.figures.dG_frame`; each model's per-image Ginis are
    cached per (model version, images, method, reference, output).
    """
    from advex.evaluation.attributions import pointwise_gini
    from advex.experiments.figures import dG_frame

    images = models.eval_images(dataset)
    indices = images.choose(n_images, seed=0)

    def ginis(mode: str, method: str) -> np.ndarray:
        card = cards[mode]
        key = (models.version_key(card), dataset, tuple(indices.tolist()), method, reference, output)

        def compute() -> np.ndarray:
            model = models.load(card)
            plan = AttributionPlan(methods=(ATTR_OF_CARD[method],), reference=reference, output=output)
            with saliency.SHAP_LOCK if method == "SHAP" else contextlib.nullcontext():
                return pointwise_gini(model, images, indices, plan).gini[ATTR_OF_CARD[method]]

        return POINTWISE.get_or_compute(key, compute)

    per_family = {MODE_KEYS[mode]: {method: ginis(mode, method) for method in methods} for mode in cards}
    eps = float(cards["adv"].get("eps") or 0.0) if "adv" in cards else 0.0
    lam = float(cards["l1"].get("lam") or 0.0) if "l1" in cards else 0.0
    return dG_frame(dataset, per_family, eps, lam)


# ---------------------------------------------------------------- the robustness-sparseness frontier

ATTACK_NAMES = {"autoattack": "AutoAttack", "pgd": "PGD (AutoAttack not measured)"}
SYMBOLS = {("zoo", "autoattack"): "circle", ("zoo", "pgd"): "circle-open",
           ("user", "autoattack"): "diamond", ("user", "pgd"): "diamond-open"}
FRONTIER_COLUMNS = ["dataset", "attr", "model", "label", "mode", "source", "protocol", "robust_eps", "robust_accuracy",
                    "attack", "clean_accuracy", "mean_gini", "reference", "on_frontier"]


def robust_point(card: dict) -> tuple[float, str]:
    """A card's robust accuracy at its data set's robust eps (J.1): AutoAttack's, else PGD's; and which attack."""
    eps = paper_settings(card["dataset"]).robust_eps
    for attack in ("autoattack", "pgd"):
        accuracy = card_robust_accuracy(card, eps, attack)
        if math.isfinite(accuracy):
            return accuracy, attack
    return math.nan, ""


def pareto_front(gini: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """True for the points no other point beats on both axes (at least as sparse and as robust, better on one)."""
    gini, accuracy = np.asarray(gini, float), np.asarray(accuracy, float)
    at_least = (gini[None, :] >= gini[:, None]) & (accuracy[None, :] >= accuracy[:, None])
    better = (gini[None, :] > gini[:, None]) | (accuracy[None, :] > accuracy[:, None])
    return ~(at_least & better).any(axis=1)


def frontier_frame(cards: list[dict]) -> pd.DataFrame:
    """Every image model's mean Gini (eq. I.67) against its robust accuracy, the frontier marked per data set and attribution.

    One row per card (zoo and user, including models trained live on the Train page) and attribution;
    ``attack`` says per point whether the accuracy is AutoAttack's or PGD's (AutoAttack not measured).
    """
    rows = []
    for card in cards:
        if card.get("dataset") not in PAPER:
            continue
        accuracy, attack = robust_point(card)
        if not math.isfinite(accuracy):
            continue
        for attr, method in ATTR_OF_CARD.items():
            gini = card_mean_gini(card, method)
            if not math.isfinite(gini):
                continue
            rows.append({"dataset": card["dataset"], "attr": attr, "model": card.get("name", "?"),
                         "label": models.describe(card), "mode": card.get("mode"), "source": card.get("source", "zoo"),
                         "protocol": card.get("protocol") or "?", "robust_eps": paper_settings(card["dataset"]).robust_eps,
                         "robust_accuracy": accuracy, "attack": ATTACK_NAMES[attack], "clean_accuracy": _card_accuracy(card),
                         "mean_gini": gini, "reference": card_choice(card)[0] or "not recorded", "on_frontier": False})
    frame = pd.DataFrame(rows, columns=FRONTIER_COLUMNS)
    for _, part in frame.groupby(["dataset", "attr"]):
        frame.loc[part.index, "on_frontier"] = pareto_front(part["mean_gini"], part["robust_accuracy"])
    return frame


def frontier_plotly(frame: pd.DataFrame, attr: str) -> go.Figure:
    """Mean Gini against robust accuracy per data set for ``attr``: models by mode, the frontier as a dashed line."""
    part = frame[frame["attr"] == attr]
    datasets = [d for d in PAPER if d in set(part["dataset"])]
    fig = make_subplots(rows=1, cols=max(len(datasets), 1), subplot_titles=[
        f"{DATASET_TITLES.get(d, d)} (robust accuracy at eps {paper_settings(d).robust_eps:g})" for d in datasets])
    shown = set()
    for col, dataset in enumerate(datasets, start=1):
        points = part[part["dataset"] == dataset]
        for mode, rows in points.groupby("mode", sort=False):
            fig.add_trace(go.Scatter(
                x=rows["mean_gini"], y=rows["robust_accuracy"], mode="markers", name=MODE_LABELS.get(mode, mode),
                legendgroup=mode, showlegend=mode not in shown,
                marker={"color": MODE_COLORS.get(mode, "#8172B2"), "size": 12, "line": {"width": 2},
                        "symbol": [SYMBOLS[(s if s == "user" else "zoo", "pgd" if a.startswith("PGD") else "autoattack")]
                                   for s, a in zip(rows["source"], rows["attack"])]},
                customdata=np.stack([rows["label"], rows["model"], rows["source"], rows["attack"], rows["protocol"]], axis=1),
                hovertemplate="%{customdata[0]} (%{customdata[2]}: %{customdata[1]}, protocol %{customdata[4]})"
                              "<br>mean Gini=%{x:.4f}<br>robust accuracy=%{y:.2%} by %{customdata[3]}<extra></extra>",
            ), row=1, col=col)
            shown.add(mode)
        front = points[points["on_frontier"]].sort_values("mean_gini")
        fig.add_trace(go.Scatter(x=front["mean_gini"], y=front["robust_accuracy"], mode="lines+markers", name="frontier",
                                 legendgroup="frontier", showlegend="frontier" not in shown, hoverinfo="skip",
                                 line={"color": "#555555", "dash": "dash"},
                                 marker={"symbol": "circle-open", "size": 22, "color": "#555555"}), row=1, col=col)
        shown.add("frontier")
        fig.update_xaxes(title_text=f"mean Gini ({'DeepSHAP' if attr == 'SHAP' else 'IG'})", row=1, col=col)
    fig.update_yaxes(tickformat=".0%")
    fig.update_yaxes(title_text="robust accuracy", row=1, col=1)
    fig.update_layout(title="The robustness-sparseness frontier: mean Gini vs robust accuracy",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0})
    return fig
