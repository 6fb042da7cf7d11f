"""Trade-offs view: Table 1 measured beside the paper, Figure 3 (accuracy vs mean Gini) and Figure 2 (pointwise dG).

The figures' frames and renderers are :mod:`advex.experiments.figures`; this module feeds them from
the cards and the dashboard's shared caches.

Image rows come from the model cards (zoo and user folder): each card holds the clean test
accuracy and the mean Gini (eq. I.67) of IG and DeepSHAP on the same test images, so the
average improvement is dG = G^m - G^n (eqs. 21-22) and AcDrop = acc^n - acc^m. Tabular rows
are measured live with the Tabular explorer's models at Table 1's settings. Figure 2's
pointwise dG (eqs. 19-20) is computed on a few test images per model and cached.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pandas as pd

from advex.dashboard import models, saliency
from advex.dashboard import tabular as tabular_view
from advex.dashboard.cache import SharedLRU
from advex.experiments.table1 import PAPER_TABLE1
from advex.vocabulary import paper_settings

IMAGE_SETTINGS = {"mnist": {"eps": 0.3, "lam": 0.01}, "fashion-mnist": {"eps": 0.1, "lam": 0.01}}
ATTR_OF_CARD = {"IG": "ig", "SHAP": "shap"}
TABULAR_EPS_GRID = (0.02, 0.05, 0.1, 0.2)
TABULAR_LAM_GRID = (0.005, 0.01, 0.02, 0.05)

POINTWISE: SharedLRU[np.ndarray] = SharedLRU(max_entries=48)
TABULAR_CURVES: SharedLRU[pd.DataFrame] = SharedLRU(max_entries=4)


def _card_gini(card: dict, attr: str) -> float:
    gini = card.get("gini") if isinstance(card.get("gini"), dict) else {}
    value = gini.get(ATTR_OF_CARD[attr])
    return float(value) if isinstance(value, (int, float)) else math.nan


def _card_accuracy(card: dict) -> float:
    value = card.get("clean_accuracy")
    return float(value) if isinstance(value, (int, float)) else math.nan


def _exact(cards: list[dict], mode: str, value: float) -> dict | None:
    setting = "eps" if mode == "adv" else "lam"
    hits = [c for c in models.by_mode(cards, mode) if math.isclose(float(c.get(setting) or 0.0), value)]
    return hits[0] if hits else None


def image_rows(dataset: str, cards: list[dict]) -> list[dict]:
    """Table 1 rows of an image data set from its cards, at the paper's eps and lambda (Table 1)."""
    settings = IMAGE_SETTINGS[dataset]
    natural = _exact(cards, "natural", 0.0)
    rows = []
    for attr in ("IG", "SHAP"):
        for key, mode, value in (("a", "adv", settings["eps"]), ("l", "l1", settings["lam"])):
            card = _exact(cards, mode, value)
            measured_dG = measured_drop = math.nan
            if card is not None and natural is not None:
                measured_dG = _card_gini(card, attr) - _card_gini(natural, attr)
                measured_drop = _card_accuracy(natural) - _card_accuracy(card)
            rows.append(_row(dataset, attr, key, settings, measured_dG, measured_drop,
                             "zoo cards" if card is not None else "model missing"))
    return rows


def tabular_rows(name: str) -> list[dict]:
    """Table 1 rows of a tabular data set, measured now with the Tabular explorer's models (IG, eq. 15)."""
    paper = paper_settings(name)
    settings = {"eps": paper.eps, "lam": paper.lam}
    data = tabular_view.dataset(name)
    result = tabular_view.comparison(data, settings["eps"], settings["lam"])
    return [_row(name, "IG", key, settings, result.dG[key], result.acc_drop[key], "trained live") for key in ("a", "l")]


def _row(dataset: str, attr: str, key: str, settings: dict, dG: float, drop: float, source: str) -> dict:
    paper = PAPER_TABLE1.get((dataset, attr, key), (math.nan, math.nan))
    setting = f"eps = {settings['eps']:g}" if key == "a" else f"lambda = {settings['lam']:g}"
    return {"dataset": dataset, "attr": attr, "model": f"{key} ({setting})", "dG": dG, "dG (paper)": paper[0],
            "AcDrop": drop, "AcDrop (paper)": paper[1], "source": source}


def table1_frame(image_datasets: list[str], tabular_names: list[str]) -> pd.DataFrame:
    """Table 1: measured dG and AcDrop next to the paper's, for the data sets given."""
    rows = []
    for dataset in image_datasets:
        if dataset in IMAGE_SETTINGS:
            rows += image_rows(dataset, models.cards(dataset))
    for name in tabular_names:
        rows += tabular_rows(name)
    return pd.DataFrame(rows)


def figure3_frame(cards: list[dict], tabular_names: list[str]) -> pd.DataFrame:
    """Figure 3's points: image models from their cards, tabular models trained over eps and lambda grids.

    Frames of :mod:`advex.experiments.figures` (columns dataset, attr, family, param, accuracy,
    mean_gini, model, line); each tabular data set's curve is computed once per server.
    """
    from advex.experiments.figures import tabular_tradeoff_frame, zoo_tradeoff_frame

    parts = [zoo_tradeoff_frame(cards)]
    for name in tabular_names:
        parts.append(TABULAR_CURVES.get_or_compute(
            (name, TABULAR_EPS_GRID, TABULAR_LAM_GRID),
            lambda name=name: tabular_tradeoff_frame(name, TABULAR_EPS_GRID, TABULAR_LAM_GRID)))
    parts = [part for part in parts if not part.empty]
    return pd.concat(parts, ignore_index=True) if parts else zoo_tradeoff_frame([])


def pointwise_dg(dataset: str, cards: dict[str, dict], n_images: int, methods: tuple[str, ...]) -> pd.DataFrame:
    """Pointwise dG (eqs. 19-20) of the a- and l-model against the natural one on ``n_images`` test images.

    The frame of :func:`advex.experiments.figures.dG_frame`; each model's per-image Ginis are
    cached per (model version, images, method).
    """
    from advex.experiments.figures import dG_frame
    from advex.experiments.image_eval import pointwise_gini

    images = models.eval_images(dataset)
    indices = images.choose(n_images, seed=0)

    def ginis(mode: str, method: str) -> np.ndarray:
        card = cards[mode]
        key = (models.version_key(card), dataset, tuple(indices.tolist()), method)

        def compute() -> np.ndarray:
            model = models.load(card)
            if method == "SHAP":
                model = saliency.private_copy(model)  # shap hooks its model: never the shared one
            with saliency.SHAP_LOCK if method == "SHAP" else contextlib.nullcontext():
                return pointwise_gini(model, images, indices, methods=(method,)).gini[method]

        return POINTWISE.get_or_compute(key, compute)

    family_of = {"natural": "n", "l1": "l", "adv": "a"}
    per_family = {family_of[mode]: {method: ginis(mode, method) for method in methods} for mode in cards}
    eps = float(cards["adv"].get("eps") or 0.0) if "adv" in cards else 0.0
    lam = float(cards["l1"].get("lam") or 0.0) if "l1" in cards else 0.0
    return dG_frame(dataset, per_family, eps, lam)
