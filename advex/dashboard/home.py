"""The home page's content: the paper's claims with the views that show them, and what this server has."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from advex.dashboard.layout import how_to_get
from advex.dashboard.navigation import BEYOND, SALIENCY, STABILITY, TABULAR, THEORY, TRADEOFFS, TRAIN, DashboardPage
from advex.data.paths import available_datasets
from advex.data.registry import DATASETS


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and the pages (page, link label) that show it."""

    text: str
    pages: tuple[tuple[DashboardPage, str], ...]


CLAIMS = (
    Claim(
        "**1. Adversarial training prunes weak features.** For 1-layer networks, l_inf(eps)-adversarial training "
        "shrinks the weights of features weaker than eps towards zero faster than natural training "
        "(Theorem 3.1), and the IG of a 1-layer model is proportional to weight times input (Lemma 4.1), "
        "so its explanations become sparse.",
        ((THEORY, "Theory"), (TABULAR, "Tabular explorer")),
    ),
    Claim(
        "**2. It works for deep networks too.** On MNIST and Fashion-MNIST, adversarially trained CNNs give much "
        "sparser IG and DeepSHAP saliency maps (higher Gini index, eq. I.67) with little loss of accuracy "
        "(Figure 1, Figures J.6-J.10).",
        ((SALIENCY, "Saliency maps"), (TRAIN, "Train a model")),
    ),
    Claim(
        "**3. Better than l1 regularization.** For logistic regression, l1-regularized training sparsifies almost "
        "as well; for DNNs, at comparable accuracy, adversarial training gives a much larger sparseness "
        "improvement dG (eqs. 19-22) than l1 (Table 1, Figures 2 and 3).",
        ((TRADEOFFS, "Trade-offs"), (TABULAR, "Tabular explorer")),
    ),
    Claim(
        "**4. Stable explanations = adversarial training.** Training with a penalty on the worst-case change of IG "
        "in an l_inf(eps) ball (eqs. 16-17) is exactly adversarial training for 1-layer networks (Theorem 5.1); "
        "adversarially trained models' explanations also move less under attack.",
        ((THEORY, "Theory"), (STABILITY, "Stability")),
    ),
    Claim(
        "**Beyond the paper: does it depend on the choices?** The reference an attribution is measured against, "
        "the output it explains, other explainers (Saliency, SmoothGrad, DeepLIFT, ...) and other sparseness "
        "measures (Hoyer, entropy, ...): where the conclusion holds, and where it does not.",
        ((TRADEOFFS, "How robust is it?"), (BEYOND, "Beyond the paper")),
    ),
)

ZOO_EMPTY_HINT = (
    "No pretrained models were found. Train one on the *Train a model* page, or run `advex train` "
    "(models appear in the user folder and in every view at once)."
)


def device_text() -> str:
    """The compute device the views use (GPU when available)."""
    from advex.device import describe_device

    return describe_device()


def datasets_frame(data_dir=None) -> pd.DataFrame:
    """Each registered data set, its kind, whether this server has it and what it is."""
    status = available_datasets(data_dir)
    rows = [
        {"data set": name, "kind": spec.kind, "available": "yes" if status[name] else "no",
         "description": spec.description}
        for name, spec in DATASETS.items()
    ]
    rows.append({"data set": "synthetic", "kind": "tabular", "available": "yes (generated)",
                 "description": "FEAT-TRANS features with known strengths: a few strong, many weak (Section 2)"})
    return pd.DataFrame(rows)


def missing_data_hints(data_dir=None) -> dict[str, str]:
    """How to get each data set that is not available."""
    return {name: how_to_get(name) for name, present in available_datasets(data_dir).items() if not present}


def broken_model_files() -> list[str]:
    """What is wrong with each unreadable model card (and how to fix it)."""
    from advex.dashboard.models import broken_cards

    return broken_cards()


def zoo_frame() -> pd.DataFrame:
    """The zoo's and the user folder's models: data set, mode, eps, lambda, accuracies, mean Gini."""
    from advex.dashboard.models import model_table

    return model_table()
