"""advex from Python: load, train, attack, explain, measure and evaluate with numpy arrays or torch tensors.

Every function accepts numpy arrays or tensors, any integer type of target, and a single example
without its batch axis; it returns the type it was given and never changes the caller's model.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from advex.attribution.arguments import as_batch, as_targets, eval_model
from advex.errors import AdvexError
from advex.vocabulary import IMAGE_DATASETS, PAPER_OUTPUT, PAPER_REFERENCE, Setting, check_choice, paper_settings


def load_model(model_id: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """A model by zoo id (``"mnist/adv_0.3"``), your own model's id, or a file stem; its card is ``model.card``."""
    from advex.zoo.catalogue import resolve_model

    model, card, _ = resolve_model(model_id, map_location=device)
    model.card = card
    return model


def load_sample(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The zoo's shipped test sample of ``dataset``: images (N, C, H, W) float32 in [0, 1] and int64 labels."""
    from advex.zoo.catalogue import load_sample as zoo_sample

    return zoo_sample(dataset)


def load_dataset(name: str, data_dir=None, seed: int = 0):
    """A data set with its split: images (``X_train``, ``y_train``, ``X_test``, ``y_test`` in [0, 1]) or a tabular set."""
    if name in IMAGE_DATASETS:
        from advex.data.images import load_image_dataset

        return load_image_dataset(name, data_dir=data_dir, seed=seed)
    from advex.experiments.tabular import load_tabular_or_synthetic

    return load_tabular_or_synthetic(name, data_dir=data_dir, seed=seed)


def train(dataset: str, mode: str = "adv", eps: float | None = None, lam: float | None = None, *,
          protocol: str = "fast", steps: int | None = None, seed: int = 0, out_dir=None, data_dir=None,
          device: str | None = None) -> nn.Module:
    """Train a natural, l1 or adversarial model (eps / lambda default to the paper's), save it, return it.

    Image models use the named ``protocol`` (``advex.training.image.PROTOCOLS``), tabular ones J.1.
    The model is saved (safetensors + card) in ``out_dir`` (default: your model folder, listed by
    the dashboard and ``advex zoo list``); its card, with a quick evaluation, is ``model.card``.
    """
    from advex.evaluation.report import QUICK_PLAN
    from advex.zoo.build import train_and_save

    paper = paper_settings(dataset)
    setting = Setting(mode, paper.eps if eps is None else eps, paper.lam if lam is None else lam)
    card = train_and_save(dataset, setting, out_dir, protocol=protocol, seed=seed, steps=steps, device=device,
                          data_dir=data_dir, plan=QUICK_PLAN)
    return load_model(card["stem"], device=device or "cpu")


def attack(model: nn.Module, inputs, target, eps: float, *, steps: int | None = None, step_size: float | None = None,
           dataset: str | None = None, random_start: bool = True, seed: int = 0):
    """l_inf(eps) PGD with random start on the cross-entropy (App. J.1): adversarial inputs, in the inputs' type.

    ``steps`` / ``step_size`` default to the paper's schedule for ``dataset`` (or the model's card).
    """
    from advex.attacks.pgd import paper_pgd_schedule, pgd_attack

    model = eval_model(model)
    batch = as_batch(model, inputs)
    targets = as_targets(target, model, batch.X)
    if steps is None or step_size is None:
        dataset = dataset or getattr(model, "card", {}).get("dataset")
        if dataset not in IMAGE_DATASETS:
            raise AdvexError("give steps and step_size, or dataset= (an image data set) for the paper's PGD schedule")
        steps, step_size = paper_pgd_schedule(dataset, eps)
    generator = torch.Generator(device=batch.X.device).manual_seed(seed)
    return batch.restore(pgd_attack(model, batch.X, targets, eps, steps, step_size, random_start, generator))


def evaluate(model: nn.Module, X, y, *, dataset: str | None = None, X_train=None, eps: float | None = None,
             attacks: tuple[str, ...] = ("pgd",), methods: tuple[str, ...] = ("ig", "deepshap"),
             reference: str = PAPER_REFERENCE, output: str = PAPER_OUTPUT, gini_images: int = 100,
             robust_images: int | None = 500, seed: int = 0) -> dict:
    """The one evaluation (Section 6.3) on ``(X, y)``: clean accuracy, robust accuracy, mean Gini of each method.

    ``dataset`` (default: the model's card) fixes the eps robust accuracy is measured at (the paper's,
    and ``eps`` if given) and PGD's schedule. ``X_train`` feeds the train-sample and mean references.
    """
    from advex.evaluation.attributions import AttributionPlan
    from advex.evaluation.images import EvalImages
    from advex.evaluation.report import EvaluationPlan, evaluate_model

    dataset = dataset or getattr(model, "card", {}).get("dataset")
    check_choice(dataset, IMAGE_DATASETS, "image data set (pass dataset=)")
    model = eval_model(model)
    batch = as_batch(model, X, "X")
    labels = as_targets(y, model, batch.X)
    train = None if X_train is None else as_batch(model, X_train, "X_train").X.cpu().numpy()
    images = EvalImages(dataset, batch.X.cpu().numpy(), labels.cpu().numpy(), "given images",
                        train if train is not None else batch.X.cpu().numpy()[:0], "given training images")
    plan = EvaluationPlan(gini_images=gini_images, robust_images=robust_images, attacks=tuple(attacks),
                          attributions=AttributionPlan(methods=tuple(methods), reference=reference, output=output,
                                                       seed=seed), seed=seed)
    return evaluate_model(model, images, float(eps or 0.0), plan).metrics
