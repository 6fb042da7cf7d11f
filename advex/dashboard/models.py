"""Image models for the dashboard: the zoo's and the user's cards, loaded once per server and shared.

Cards are re-listed on every page run (a directory scan), so a model trained in the dashboard
appears in every view at once. Loaded weights are cached per file version (path, size, mtime):
a re-trained user model is reloaded, an unchanged one is shared by all sessions.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from advex.dashboard.cache import SharedLRU
from advex.errors import AdvexError, ModelFileError
from advex.vocabulary import Setting, paper_settings

MODELS: SharedLRU[nn.Module] = SharedLRU(max_entries=12)  # MadryCNN ~13 MB each


CARD_LISTS: SharedLRU[list[dict]] = SharedLRU(max_entries=8)


def _folder_signature() -> tuple:
    """Every card file of the zoo and the user folder with its size and modification time (a cheap directory scan)."""
    from advex.models.io import CARD_SUFFIX
    from advex.zoo.catalogue import user_models_dir, zoo_dir

    found = []
    for root in (zoo_dir(), user_models_dir()):
        for path in sorted(root.glob(f"*/*{CARD_SUFFIX}")) if root.is_dir() else []:
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def cards(dataset: str | None = None) -> list[dict]:
    """Cards of the zoo's and the user's models (``advex.zoo.list_models``): read again only when a card file changed."""
    from advex.zoo.catalogue import list_models

    listed = CARD_LISTS.get_or_compute(_folder_signature(), lambda: list_models())
    return [dict(card) for card in listed if dataset is None or card.get("dataset") == dataset]


def broken_cards() -> list[str]:
    """Messages for model cards in the zoo or the user folder that cannot be read (the listing skips them)."""
    from advex.zoo.catalogue import list_models

    problems: list[str] = []
    list_models(problems=problems)
    return problems


def image_datasets_with_models() -> list[str]:
    """Image data sets that have at least one natural model (the reference of every comparison)."""
    found = []
    for card in cards():
        if card.get("mode") == "natural" and card.get("dataset") not in found:
            found.append(card["dataset"])
    return found


def _file_version(stem: str) -> tuple:
    stem_path = Path(stem)
    versions = []
    for path in sorted(stem_path.parent.glob(stem_path.name + ".*")):
        stat = path.stat()
        versions.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(versions)


def version_key(card: dict) -> tuple:
    """Identifies the exact weights of ``card``: its stem and its files' sizes and modification times."""
    stem = card.get("stem")
    if not stem:
        raise ModelFileError(f"the card of {card.get('name', '?')} says nowhere where its weights are")
    return (stem, _file_version(stem))


def load(card: dict) -> nn.Module:
    """The model of ``card`` in eval mode on the CPU, loaded once per file version and shared (read-only)."""
    from advex.models.io import load_model

    key = version_key(card)
    return MODELS.get_or_compute(key, lambda: load_model(key[0])[0].eval())


def by_mode(dataset_cards: list[dict], mode: str) -> list[dict]:
    """The cards of one training mode, zoo before user, sorted by eps (adv) or lambda (l1)."""
    chosen = [c for c in dataset_cards if c.get("mode") == mode]
    setting = "eps" if mode == "adv" else "lam"
    return sorted(chosen, key=lambda c: (float(c.get(setting) or 0.0), c.get("source") != "zoo", c.get("name", "")))


def setting_values(dataset_cards: list[dict], mode: str) -> list[float]:
    """Distinct eps (adv) or lambda (l1) values available, ascending."""
    setting = "eps" if mode == "adv" else "lam"
    return sorted({float(c.get(setting) or 0.0) for c in by_mode(dataset_cards, mode)})


def closest(dataset_cards: list[dict], mode: str, value: float) -> dict | None:
    """The card of ``mode`` whose eps / lambda is closest to ``value`` (zoo first on ties), or None."""
    candidates = by_mode(dataset_cards, mode)
    if not candidates:
        return None
    setting = "eps" if mode == "adv" else "lam"
    return min(candidates, key=lambda c: abs(float(c.get(setting) or 0.0) - value))


def triplet(dataset_cards: list[dict], eps: float, lam: float) -> dict[str, dict]:
    """The natural, l1 (lambda closest to ``lam``) and adversarial (eps closest to ``eps``) cards that exist."""
    chosen = {"natural": closest(dataset_cards, "natural", 0.0), "l1": closest(dataset_cards, "l1", lam),
              "adv": closest(dataset_cards, "adv", eps)}
    return {mode: card for mode, card in chosen.items() if card is not None}


def describe(card: dict) -> str:
    """A short label: mode with its setting and where it comes from."""
    source = " (yours)" if card.get("source") == "user" else ""
    try:
        return Setting(card.get("mode"), card.get("eps") or 0.0, card.get("lam") or 0.0).describe() + source
    except AdvexError:
        return f"{card.get('mode', '?')}{source}"


def _robust_at(card: dict) -> float:
    """PGD accuracy at the paper's eps for the card's data set, NaN when not measured."""
    from advex.evaluation.report import card_robust_accuracy

    try:
        return card_robust_accuracy(card, paper_settings(card.get("dataset")).robust_eps, "pgd")
    except AdvexError:
        return math.nan


def model_table(dataset: str | None = None) -> pd.DataFrame:
    """The models' cards as a table: data set, name, mode, eps, lambda, accuracies, mean Gini of IG / DeepSHAP."""
    rows = []
    for card in cards(dataset):
        gini = card.get("gini") if isinstance(card.get("gini"), dict) else {}
        rows.append({
            "data set": card.get("dataset"), "model": card.get("name"), "mode": card.get("mode"),
            "eps": float(card.get("eps") or 0.0), "lambda": float(card.get("lam") or 0.0),
            "clean accuracy": card.get("clean_accuracy"), "PGD accuracy": _robust_at(card),
            "mean Gini IG": gini.get("ig"), "mean Gini DeepSHAP": gini.get("deepshap"),
            "source": card.get("source"), "protocol": card.get("protocol"), "steps": card.get("steps"),
        })
    return pd.DataFrame(rows)


POOL_LIMIT = 1000  # test images offered for picking: enough for every class and its mistakes, cheap to predict
TRAIN_LIMIT = 5000  # seeded training images kept for the train-sample and mean references (bounded memory)
IMAGES: SharedLRU = SharedLRU(max_entries=4)


def eval_images(dataset: str):
    """The image pool (first ``POOL_LIMIT`` test images, or the zoo's sample without data) and up to
    ``TRAIN_LIMIT`` seeded training images for the references that need them."""
    from advex.data.paths import data_search_dirs
    from advex.zoo.catalogue import load_eval_images, zoo_dir

    def compute():
        images = load_eval_images(dataset)
        if len(images.y) > POOL_LIMIT and not len(images.reserved):
            images.X, images.y = images.X[:POOL_LIMIT].copy(), images.y[:POOL_LIMIT].copy()
        if len(images.X_train) > TRAIN_LIMIT:
            rows = np.sort(np.random.default_rng(0).choice(len(images.X_train), TRAIN_LIMIT, replace=False))
            images.X_train = images.X_train[rows]
            images.train_from = f"{TRAIN_LIMIT} seeded images of {images.train_from}"
        return images

    key = (dataset, str(zoo_dir()), tuple(str(p) for p in data_search_dirs()))
    return IMAGES.get_or_compute(key, compute)
