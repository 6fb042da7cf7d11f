"""Train, evaluate and save models: the one pipeline behind the zoo, ``advex train``, the dashboard's jobs and sweeps.

:func:`train_and_save` trains one model (a tabular logistic model with the J.1 protocol, or an
image model with a named protocol), stores it (safetensors + card, atomically), and writes the one
evaluation (:func:`advex.evaluation.report.evaluate_model`) of the *stored* weights into its card.
:func:`build_zoo` runs it for every model of the zoo, as a sweep (``advex.sweeps``) over the zoo's
grid; :func:`refresh_metrics` re-evaluates stored models without training.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save as numpy_safetensors_bytes

from advex.device import default_device, describe_device
from advex.errors import AdvexError
from advex.evaluation.accuracy import clean_accuracy
from advex.evaluation.images import EvalImages
from advex.evaluation.report import EvaluationPlan, evaluate_model
from advex.models.io import (
    CARD_SUFFIX,
    atomic_write_bytes,
    atomic_write_json,
    load_model,
    read_card,
    save_model,
    stem_path,
    validate_card,
)
from advex.vocabulary import IMAGE_DATASETS, SYNTHETIC, TABULAR_CHOICES, Setting
from advex.zoo.catalogue import SAMPLE_FILE, ZOO_MODELS, cards_in, select_sample, user_models_dir, zoo_dir

ProgressCallback = Callable[[int, int, dict], None]
Log = Callable[[str], None]


def current_commit() -> str:
    """``$ADVEX_COMMIT``, else the checkout's ``git rev-parse HEAD``, else "unknown"."""
    if os.environ.get("ADVEX_COMMIT"):
        return os.environ["ADVEX_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_sample(dataset: str, X_test: np.ndarray, y_test: np.ndarray, out_dir: Path, seed: int = 0) -> Path:
    """Store the stratified test sample as uint8 images (exactly the original pixels) in ``out_dir/dataset``."""
    index = select_sample(y_test, seed=seed)
    images = np.rint(X_test[index] * 255).astype(np.uint8)
    path = Path(out_dir) / dataset / SAMPLE_FILE
    atomic_write_bytes(path, numpy_safetensors_bytes(
        {"images": images, "labels": y_test[index].astype(np.int64), "test_indices": index.astype(np.int64)},
        metadata={"dataset": dataset, "split": "test", "pixels": "uint8, divide by 255"},
    ))
    return path


def update_card(stem: Path, changes: dict) -> dict:
    """Merge ``changes`` into the card at ``stem`` (atomic rewrite; the weights and their hash stay); return it."""
    path = stem_path(stem, CARD_SUFFIX)
    card = validate_card({**read_card(stem), **changes}, path)
    atomic_write_json(path, card)
    return card


def _train_tabular(dataset: str, setting: Setting, seed: int, data, data_dir, progress_callback) -> tuple:
    from advex.training.tabular import LogisticTrainer

    if data is None:
        from advex.data.synthetic import make_synthetic
        from advex.data.tabular import load_tabular

        data = make_synthetic(seed=seed) if dataset == SYNTHETIC else load_tabular(dataset, data_dir=data_dir, seed=seed)
    trainer = LogisticTrainer(mode=setting.mode, eps=setting.eps, lam=setting.lam, seed=seed)
    started = time.perf_counter()
    epochs = trainer.epochs
    trainer.fit(data.X_train, data.y_train,
                progress=(lambda epoch, *_: progress_callback(epoch, epochs, {})) if progress_callback else None)
    history = {"protocol_name": "J.1 tabular", "train_time_s": time.perf_counter() - started,
               "completed_steps": epochs, "steps": epochs, "stopped_early": False, "device": "cpu",
               "history": trainer.history_}
    return trainer.to_module(), history, data


def _tabular_metrics(model, data) -> dict:
    from advex.attribution.closed_form import closed_form_ig
    from advex.metrics.gini import gini, mean_with_ci95

    weights = model.weight.double().numpy()
    bias = model.bias
    with torch.no_grad():
        predicted = (model(torch.as_tensor(data.X_test, dtype=torch.float32)).reshape(-1) > 0).numpy()
    mean, ci95 = mean_with_ci95(gini(closed_form_ig(weights, data.X_test, 0.0, bias=bias)))
    return {"clean_accuracy": float((predicted == (np.asarray(data.y_test) > 0)).mean()),
            "test_examples": int(len(data.y_test)),
            "gini": {"ig": mean, "ig_ci95": ci95, "reference": "black", "output": "probability",
                     "n_images": int(len(data.y_test)), "images": "the whole test split"}}


def train_and_save(
    dataset: str,
    setting: Setting,
    out_dir: str | Path | None = None,
    *,
    name: str | None = None,
    protocol: str = "fast",
    seed: int = 0,
    steps: int | None = None,
    device: str | torch.device | None = None,
    data=None,
    data_dir=None,
    plan: EvaluationPlan = EvaluationPlan(),
    eval_images: EvalImages | None = None,
    store_float16: bool = False,
    progress_callback: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    model_kwargs: dict | None = None,
    extra_card: dict | None = None,
    log: Log | None = None,
) -> dict:
    """Train one model, save it in ``out_dir/dataset/name`` with its card, evaluate the stored weights; return the card.

    ``out_dir`` defaults to the user's model folder, ``name`` to ``setting.name``. Image models:
    ``protocol`` names the training protocol (``advex.training.image.PROTOCOLS``), ``plan`` what
    the evaluation measures, ``eval_images`` the pool it runs on (default: the test set).
    ``store_float16`` keeps the zoo's format (float16, xz-compressed). ``should_stop()`` ends
    training early (the card says ``stopped_early``); the model is still evaluated and saved.
    ``model_kwargs`` override the image architecture (e.g. a narrow WRN in tests).
    """
    if dataset not in IMAGE_DATASETS and dataset not in TABULAR_CHOICES:
        raise AdvexError(f"unknown data set {dataset!r}; choose one of {', '.join((*TABULAR_CHOICES, *IMAGE_DATASETS))}")
    say = log or (lambda _message: None)
    out_dir = Path(out_dir) if out_dir is not None else user_models_dir()
    stem = out_dir / dataset / (name or setting.name)
    started = time.time()
    base_card = {"name": stem.name, "dataset": dataset, "mode": setting.mode, "eps": setting.eps, "lam": setting.lam,
                 "seed": seed, "commit": current_commit(), **(extra_card or {})}
    if dataset in TABULAR_CHOICES:
        say(f"training {dataset}/{stem.name} (J.1 tabular protocol)")
        model, history, data = _train_tabular(dataset, setting, seed, data, data_dir, progress_callback)
        card = {**base_card, "protocol": history["protocol_name"], "steps": history["completed_steps"],
                "planned_steps": history["steps"], "stopped_early": False, "device": "CPU",
                "train_time_s": round(history["train_time_s"], 2), "train_log": history["history"]}
        save_model(model, stem, card)
        stored, _ = load_model(stem)
        update_card(stem, {**_tabular_metrics(stored, data), "wall_time_s": round(time.time() - started, 1)})
        return {**read_card(stem), "stem": str(stem)}

    from advex.training.image import train_image_model

    device = torch.device(device) if device is not None else default_device()
    if data is None:
        from advex.data.images import load_image_dataset

        data = load_image_dataset(dataset, data_dir=data_dir, seed=seed)
    say(f"training {dataset}/{stem.name} ({protocol} protocol)")
    model, history = train_image_model(
        dataset, setting.mode, eps=setting.eps, lam=setting.lam, protocol=protocol, seed=seed, steps=steps,
        device=device, data=data, progress_callback=progress_callback, should_stop=should_stop,
        model_kwargs=model_kwargs, progress=False,
    )
    card = {
        **base_card, "protocol": protocol, "protocol_details": history["protocol"],
        "train_attack": history["train_attack"], "planned_steps": history["steps"],
        "steps": history["completed_steps"], "stopped_early": history["stopped_early"],
        "stopped_by": history.get("stopped_by"), "step_time_s": history.get("step_time_s"),
        "device": describe_device(device), "amp": history["amp"], "train_time_s": round(history["train_time_s"], 2),
        "time_per_step_s": history["time_per_step_s"], "l1_weight_per_mean_loss": history["l1_weight_per_mean_loss"],
        "train_log": history["log"], "data_credit": data.credit, "train_examples": int(len(data.y_train)),
    }
    save_model(model.cpu(), stem, card, dtype=torch.float16 if store_float16 else None, compress=store_float16)
    say(f"evaluating {dataset}/{stem.name}")
    stored, _ = load_model(stem, map_location=device)
    images = eval_images or EvalImages(dataset, data.X_test, data.y_test, "test set", data.X_train,
                                       f"the {len(data.y_train)} training images")
    evaluation = evaluate_model(stored, images, setting.eps, replace(plan, seed=seed), progress=say)
    changes = {**evaluation.metrics, "wall_time_s": round(time.time() - started, 1)}
    if store_float16 and dataset in ZOO_MODELS:
        sample_index = select_sample(data.y_test, seed=0)
        cpu_model, _ = load_model(stem)
        changes["sample_accuracy"] = clean_accuracy(cpu_model, data.X_test[sample_index], data.y_test[sample_index])
        changes["sample_size"] = int(len(sample_index))
    update_card(stem, changes)
    return {**read_card(stem), "stem": str(stem)}


def refresh_metrics(dataset: str, names: tuple[str, ...] | None = None, out_dir: str | Path | None = None,
                    plan: EvaluationPlan = EvaluationPlan(attacks=()), device: str | None = None, data_dir=None,
                    log: Log = print) -> list[dict]:
    """Re-evaluate stored models (no training) and merge what ``plan`` measures into their cards; return the cards.

    The default plan recomputes the Gini entry only (no attack); robust entries of other attacks stay.
    """
    from advex.zoo.catalogue import load_eval_images

    out_dir = Path(out_dir) if out_dir is not None else zoo_dir()
    device = torch.device(device) if device else default_device()
    images = load_eval_images(dataset, data_dir=data_dir, seed=plan.seed)
    cards = []
    for card in cards_in(out_dir, "zoo", dataset):
        if names and card["name"] not in names:
            continue
        model, _ = load_model(card["stem"], map_location=device)
        evaluation = evaluate_model(model, images, float(card.get("eps") or 0.0), plan,
                                    progress=lambda message, n=card["name"]: log(f"{dataset}/{n}: {message}"))
        changes = {key: value for key, value in evaluation.metrics.items() if key in ("gini", "robust_accuracy")}
        if "robust_accuracy" in changes:
            measured = {(r["attack"], r["eps"]) for r in changes["robust_accuracy"]}
            kept = [r for r in card.get("robust_accuracy") or [] if (r.get("attack"), r.get("eps")) not in measured]
            changes["robust_accuracy"] = kept + changes["robust_accuracy"]
        cards.append({**update_card(Path(card["stem"]), changes), "stem": card["stem"]})
        log(f"{dataset}/{card['name']}: refreshed {', '.join(changes)}")
    write_index(out_dir)
    return cards


def write_index(out_dir: Path) -> Path:
    """(Re)write ``out_dir/index.json``: per data set its models (name, mode, eps, lam, files, key metrics)."""
    out_dir = Path(out_dir)
    index: dict = {"datasets": {}}
    for dataset_dir in sorted(p for p in out_dir.iterdir() if p.is_dir()):
        models = []
        credit = None
        for card in cards_in(out_dir, "zoo", dataset_dir.name):
            credit = credit or card.get("data_credit")
            models.append({key: card.get(key) for key in (
                "name", "mode", "eps", "lam", "protocol", "steps", "device", "clean_accuracy", "robust_accuracy",
                "gini", "sample_accuracy", "weights_file", "weights_sha256")})
        sample = dataset_dir / SAMPLE_FILE
        index["datasets"][dataset_dir.name] = {
            "models": models, "sample": SAMPLE_FILE if sample.exists() else None, "data_credit": credit,
        }
    path = out_dir / "index.json"
    atomic_write_json(path, index)
    return path
