"""The pretrained model zoo (``pretrained/``) and the user's own trained models, and how to rebuild the zoo.

Layout::

    pretrained/index.json                          what is there, with data credits
    pretrained/README.md                           provenance and licences
    pretrained/<dataset>/<name>.safetensors.xz     float16 weights, losslessly xz-compressed
    pretrained/<dataset>/<name>.json               the card (see :func:`build_zoo_model`)
    pretrained/<dataset>/sample.safetensors        200 test images (uint8) + labels + test indices

Names: ``natural``, ``l1_<lam>``, ``adv_<eps>`` (as ``advex train`` names them). Models trained
in the dashboard or with ``advex train`` live in :func:`user_models_dir` with the same layout and
are listed beside the zoo. The zoo holds the paper's network (MadryCNN) for MNIST and
Fashion-MNIST: natural, l1 at the paper's lambda 0.01 and at 0.001, and adversarial at four eps
including the paper's (MNIST 0.3, Fashion-MNIST 0.1).

Each card reports clean accuracy on the 10,000 test images, accuracy under the paper's PGD
(App. J.1 schedule, random start) on them, the mean Gini index (eq. I.67) of IG and DeepSHAP
attributions of the true class's probability on the first ``GINI_IMAGES`` test images, and the
clean accuracy on the shipped sample (so a fresh install can check the weights).
"""

from __future__ import annotations

import copy
import os
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file as load_numpy_file
from safetensors.numpy import save as numpy_safetensors_bytes
from torch import nn

from advex.attacks.pgd import paper_pgd_schedule
from advex.device import default_device, describe_device
from advex.errors import AdvexError, ModelFileError
from advex.models.io import (
    CARD_SUFFIX,
    atomic_write_bytes,
    atomic_write_json,
    load_model,
    read_card,
    save_model,
    stem_path,
)

ZOO_ENV = "ADVEX_ZOO_DIR"
ZOO_DATASETS = ("mnist", "fashion-mnist")
PAPER_EPS = {"mnist": 0.3, "fashion-mnist": 0.1}
SAMPLE_FILE = "sample.safetensors"
SAMPLE_SIZE = 200
GINI_IMAGES = 1000
IG_STEPS = 50
SHAP_BACKGROUND = 100


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo: its training mode, eps (adv) and lambda (l1)."""

    mode: str
    eps: float = 0.0
    lam: float = 0.0

    @classmethod
    def for_mode(cls, mode: str, eps: float = 0.0, lam: float = 0.0) -> ZooEntry:
        """The entry of ``mode`` keeping only the setting it trains with: eps for "adv", lambda for "l1"."""
        return cls(mode, eps=eps if mode == "adv" else 0.0, lam=lam if mode == "l1" else 0.0)

    @property
    def name(self) -> str:
        return {"natural": "natural", "l1": f"l1_{self.lam:g}", "adv": f"adv_{self.eps:g}"}[self.mode]


ZOO_ENTRIES: dict[str, tuple[ZooEntry, ...]] = {
    "mnist": (
        ZooEntry("natural"), ZooEntry("l1", lam=0.01), ZooEntry("l1", lam=0.001),
        ZooEntry("adv", eps=0.05), ZooEntry("adv", eps=0.1), ZooEntry("adv", eps=0.2), ZooEntry("adv", eps=0.3),
    ),
    "fashion-mnist": (
        ZooEntry("natural"), ZooEntry("l1", lam=0.01), ZooEntry("l1", lam=0.001),
        ZooEntry("adv", eps=0.02), ZooEntry("adv", eps=0.05), ZooEntry("adv", eps=0.1), ZooEntry("adv", eps=0.2),
    ),
}


def zoo_dir() -> Path:
    """The zoo folder: ``$ADVEX_ZOO_DIR`` or ``pretrained/`` at the root of the advex checkout."""
    configured = os.environ.get(ZOO_ENV)
    return Path(configured).expanduser() if configured else Path(__file__).resolve().parent.parent / "pretrained"


def user_models_dir() -> Path:
    """Folder of models trained by the user (dashboard, ``advex train``): ``cache_dir()/"models"``."""
    from advex.data.paths import cache_dir

    return cache_dir() / "models"


def _cards_in(folder: Path, source: str, dataset: str | None) -> list[dict]:
    cards = []
    if not folder.is_dir():
        return cards
    for card_path in sorted(folder.glob(f"{dataset or '*'}/*{CARD_SUFFIX}")):
        stem = card_path.parent / card_path.name[: -len(CARD_SUFFIX)]
        try:
            card = read_card(stem)
        except ModelFileError:
            continue  # not a model card (or a broken one); load_zoo_model reports it when asked for
        cards.append({**card, "name": card.get("name", stem.name), "dataset": card.get("dataset", stem.parent.name),
                      "source": source, "stem": str(stem)})
    return cards


def list_models(dataset: str | None = None, include_user: bool = True) -> list[dict]:
    """Cards of the zoo's models (and the user's, with ``include_user``), each with ``source`` and ``stem`` added."""
    cards = _cards_in(zoo_dir(), "zoo", dataset)
    if include_user:
        cards += _cards_in(user_models_dir(), "user", dataset)
    return cards


def load_zoo_model(dataset: str, name: str, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Load model ``name`` of ``dataset`` from the zoo, else from the user folder: ``(model in eval mode, card)``."""
    for root in (zoo_dir(), user_models_dir()):
        stem = root / dataset / name
        if stem_path(stem, CARD_SUFFIX).exists():
            return load_model(stem, map_location=map_location)
    known = ", ".join(c["name"] for c in list_models(dataset)) or "none"
    raise ModelFileError(
        f"no model {name!r} for {dataset} in {zoo_dir()} or {user_models_dir()} (available: {known}); "
        "rebuild the zoo with `advex zoo build` or train one with `advex train`"
    )


def load_sample(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The shipped test sample of ``dataset``: images float32 (N, 1, 28, 28) in [0, 1] and int64 labels."""
    path = zoo_dir() / dataset / SAMPLE_FILE
    try:
        arrays = load_numpy_file(str(path))
    except FileNotFoundError:
        raise ModelFileError(f"the zoo has no sample for {dataset} ({path}); rebuild it with `advex zoo build`") from None
    except (SafetensorError, OSError) as err:
        raise ModelFileError(f"{path} is not a readable sample file ({err}); rebuild it with `advex zoo build`") from None
    images = arrays["images"].astype(np.float32)
    np.divide(images, np.float32(255), out=images)
    return images, arrays["labels"].astype(np.int64)


def select_sample(y_test: np.ndarray, size: int = SAMPLE_SIZE, seed: int = 0) -> np.ndarray:
    """Sorted test indices of a class-stratified sample: ``size // 10`` images per class, seeded."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y_test)
    per_class = size // len(classes)
    chosen = [rng.choice(np.flatnonzero(y_test == c), size=per_class, replace=False) for c in classes]
    return np.sort(np.concatenate(chosen))


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


def mean_gini_attributions(model: nn.Module, X: torch.Tensor, y: torch.Tensor, X_train: np.ndarray,
                           batch_size: int = 100) -> dict:
    """Mean Gini (eq. I.67) of IG (eq. 13, zero baseline, ``IG_STEPS``) and DeepSHAP attributions of the true class.

    DeepSHAP uses ``SHAP_BACKGROUND`` seeded training images as background and runs in float64: its
    softmax decomposition ``1 / sum_j exp(z_j - z_k)`` overflows float32 for confident models (logit
    gaps above ~88 give inf, then NaN attributions). A method that fails
    (e.g. shap or captum missing) is reported as an error string instead of a number.
    """
    from advex.metrics.gini import gini

    result: dict = {"n_images": int(len(y)), "ig_steps": IG_STEPS, "shap_background": SHAP_BACKGROUND}
    try:
        from advex.attribution.integrated_gradients import integrated_gradients

        values = [gini(integrated_gradients(model, X[i : i + batch_size], y[i : i + batch_size], n_steps=IG_STEPS,
                                            internal_batch_size=10 * batch_size)
                       .reshape(len(X[i : i + batch_size]), -1).detach().cpu().numpy())
                  for i in range(0, len(X), batch_size)]
        result["ig"] = float(np.nanmean(np.concatenate(values)))
    except Exception as err:  # noqa: BLE001 - recorded on the card so a rebuild can fill it in
        result["ig_error"] = f"{type(err).__name__}: {err}"
    try:
        from advex.attribution.deep_shap import deep_shap, default_background

        background = default_background(X_train, n=SHAP_BACKGROUND, seed=0).to(X.device, torch.float64)
        model64, X64 = copy.deepcopy(model).double(), X.double()
        values = [gini(deep_shap(model64, X64[i : i + batch_size], y[i : i + batch_size], background)
                       .reshape(len(X[i : i + batch_size]), -1).detach().cpu().numpy())
                  for i in range(0, len(X), batch_size)]
        result["shap"] = float(np.nanmean(np.concatenate(values)))
        result["shap_dtype"] = "float64"
    except Exception as err:  # noqa: BLE001
        result["shap_error"] = f"{type(err).__name__}: {err}"
    return result


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


def build_zoo_model(dataset: str, entry: ZooEntry, out_dir: Path, protocol: str = "fast", seed: int = 0,
                    steps: int | None = None, device: str | None = None, data_dir: str | None = None,
                    deadline: float | None = None, gini_images: int = GINI_IMAGES, eval_images: int | None = None,
                    progress_callback: Callable[[int, int, dict], None] | None = None) -> dict:
    """Train one zoo model, store it as compressed float16 + card in ``out_dir/dataset``, and return the card.

    Every metric is measured on the *stored* float16 weights: clean and PGD accuracy on the test
    set (PGD with the paper's schedule at the paper's eps, and at the model's own eps if
    adversarial), mean Gini of IG / DeepSHAP on the first ``gini_images`` test images, and clean
    accuracy on the shipped sample (on the CPU). ``deadline`` (a ``time.time()`` value) stops
    training early; the card then says so. ``eval_images`` limits the test images evaluated (dry runs).
    """
    from advex.data.images import load_image_dataset
    from advex.evaluation.accuracy import clean_accuracy, pgd_accuracy
    from advex.training.image import train_image_model

    device = torch.device(device) if device else default_device()
    data = load_image_dataset(dataset, data_dir=data_dir, seed=seed)
    should_stop = (lambda: time.time() > deadline) if deadline is not None else None
    started = time.time()
    model, history = train_image_model(
        dataset, entry.mode, eps=entry.eps, lam=entry.lam, protocol=protocol, seed=seed, steps=steps, device=device,
        data=data, progress_callback=progress_callback, should_stop=should_stop, progress=False,
    )
    stem = Path(out_dir) / dataset / entry.name
    card = {
        "name": entry.name, "dataset": dataset, "mode": entry.mode, "eps": entry.eps, "lam": entry.lam,
        "seed": seed, "protocol": protocol, "protocol_details": history["protocol"],
        "train_attack": history["train_attack"], "planned_steps": history["steps"],
        "steps": history["completed_steps"], "stopped_early": history["stopped_early"],
        "device": describe_device(device), "amp": history["amp"], "train_time_s": round(history["train_time_s"], 2),
        "time_per_step_s": history["time_per_step_s"], "l1_weight_per_mean_loss": history["l1_weight_per_mean_loss"],
        "train_log": history["log"], "commit": current_commit(), "data_credit": data.credit,
        "train_examples": int(len(data.y_train)),
    }
    save_model(model, stem, card, dtype=torch.float16, compress=True)
    stored, _ = load_model(stem, map_location=device)
    X_test, y_test = data.X_test[:eval_images], data.y_test[:eval_images]
    card["clean_accuracy"] = clean_accuracy(stored, X_test, y_test)
    robust = []
    for eps in sorted({PAPER_EPS[dataset], entry.eps} - {0.0}):
        pgd_steps, step_size = paper_pgd_schedule(dataset, eps)
        acc = pgd_accuracy(stored, X_test, y_test, eps, pgd_steps, step_size, seed=seed)
        robust.append({"eps": eps, "attack": "PGD, random start", "steps": pgd_steps, "step_size": step_size,
                       "accuracy": acc})
    card["robust_accuracy"] = robust
    card["test_examples"] = int(len(y_test))
    card["gini"] = card_gini(stored, data, gini_images, device)
    sample_index = select_sample(data.y_test, seed=0)
    cpu_model, _ = load_model(stem)
    card["sample_accuracy"] = clean_accuracy(cpu_model, data.X_test[sample_index], data.y_test[sample_index])
    card["sample_size"] = int(len(sample_index))
    card["wall_time_s"] = round(time.time() - started, 1)
    update_card(stem, card)
    return read_card(stem)


def card_gini(model: nn.Module, data, gini_images: int, device: torch.device) -> dict:
    """The card's ``gini`` entry: :func:`mean_gini_attributions` on the first ``gini_images`` test images."""
    n = min(gini_images, len(data.y_test))
    X = torch.as_tensor(data.X_test[:n], device=device)
    y = torch.as_tensor(data.y_test[:n], device=device)
    started = time.time()
    return {**mean_gini_attributions(model, X, y, data.X_train), "images": f"first {n} test images",
            "device": describe_device(device), "seconds": round(time.time() - started, 1)}


def refresh_gini(dataset: str, names: tuple[str, ...] | None = None, out_dir: str | Path | None = None,
                 device: str | None = None, data_dir: str | None = None, gini_images: int = GINI_IMAGES,
                 seed: int = 0, log: Callable[[str], None] = print) -> list[dict]:
    """Recompute the ``gini`` entry of stored zoo cards from their weights (no training); return the cards."""
    from advex.data.images import load_image_dataset

    out_dir = Path(out_dir) if out_dir is not None else zoo_dir()
    device = torch.device(device) if device else default_device()
    data = load_image_dataset(dataset, data_dir=data_dir, seed=seed)
    cards = []
    for card in _cards_in(out_dir, "zoo", dataset):
        if names and card["name"] not in names:
            continue
        model, _ = load_model(card["stem"], map_location=device)
        update_card(Path(card["stem"]), {"gini": card_gini(model, data, gini_images, device)})
        cards.append(read_card(Path(card["stem"])))
        log(_summary(cards[-1]))
    write_index(out_dir)
    return cards


def update_card(stem: Path, changes: dict) -> None:
    """Merge ``changes`` into the card at ``stem`` (atomic rewrite; the weights and their hash stay)."""
    atomic_write_json(stem_path(stem, CARD_SUFFIX), {**read_card(stem), **changes})


def write_index(out_dir: Path) -> Path:
    """(Re)write ``out_dir/index.json``: per data set its models (name, mode, eps, lam, files, key metrics)."""
    out_dir = Path(out_dir)
    index: dict = {"datasets": {}}
    for dataset_dir in sorted(p for p in out_dir.iterdir() if p.is_dir()):
        models = []
        credit = None
        for card in _cards_in(out_dir, "zoo", dataset_dir.name):
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


def _build_one(kwargs: dict) -> dict:
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // max(kwargs.pop("workers", 1), 1)))
    entry = kwargs.pop("entry")
    return build_zoo_model(entry=entry, **kwargs)


def build_zoo(datasets: tuple[str, ...] = ZOO_DATASETS, out_dir: str | Path | None = None,
              names: tuple[str, ...] | None = None, protocol: str = "fast", adv_protocol: str | None = None,
              seed: int = 0, steps: int | None = None, device: str | None = None, data_dir: str | None = None,
              workers: int = 1, time_budget_s: float | None = None, gini_images: int = GINI_IMAGES,
              eval_images: int | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Rebuild the zoo (or the models in ``names``) into ``out_dir`` (default :func:`zoo_dir`); return the cards.

    ``protocol`` trains natural and l1 models, ``adv_protocol`` (default: ``protocol``) the
    adversarial ones. ``workers > 1`` trains that many models at once in separate processes
    (useful on a GPU, where one small model leaves it mostly idle). ``time_budget_s`` ends
    training early so that every model is evaluated and saved in time (its card says so).
    ``eval_images`` limits the test images evaluated (for dry runs; the zoo uses all).
    """
    from advex.data.images import load_image_dataset

    out_dir = Path(out_dir) if out_dir is not None else zoo_dir()
    jobs = []
    deadline = time.time() + time_budget_s if time_budget_s else None
    for dataset in datasets:
        if dataset not in ZOO_ENTRIES:
            raise AdvexError(f"the zoo holds {', '.join(ZOO_ENTRIES)}; got {dataset!r}")
        data = load_image_dataset(dataset, data_dir=data_dir, seed=seed, split="test")
        write_sample(dataset, data.X_test, data.y_test, out_dir)
        for entry in ZOO_ENTRIES[dataset]:
            if names and entry.name not in names:
                continue
            proto = (adv_protocol or protocol) if entry.mode == "adv" else protocol
            jobs.append({"dataset": dataset, "entry": entry, "out_dir": out_dir, "protocol": proto, "seed": seed,
                         "steps": steps, "device": device, "data_dir": data_dir, "deadline": deadline,
                         "gini_images": gini_images, "eval_images": eval_images})
    if not jobs:
        raise AdvexError(f"no zoo model matches {names}; names are e.g. natural, l1_0.01, adv_0.3")
    cards = []
    if workers <= 1:
        for job in jobs:
            log(f"training {job['dataset']}/{job['entry'].name} ({job['protocol']} protocol)")
            cards.append(_build_one(job))
            log(_summary(cards[-1]))
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_build_one, {**job, "workers": workers}) for job in jobs]
            for future in as_completed(futures):
                cards.append(future.result())
                log(_summary(cards[-1]))
    write_index(out_dir)
    return cards


def _summary(card: dict) -> str:
    robust = ", ".join(f"PGD{r['steps']}@{r['eps']:g}={r['accuracy']:.4f}" for r in card.get("robust_accuracy", []))
    gini = card.get("gini", {})
    return (f"{card['dataset']}/{card['name']}: clean={card.get('clean_accuracy', float('nan')):.4f} {robust} "
            f"gini_ig={gini.get('ig', gini.get('ig_error'))} gini_shap={gini.get('shap', gini.get('shap_error'))} "
            f"steps={card['steps']}/{card['planned_steps']} train={card['train_time_s']}s "
            f"per_step={card['time_per_step_s']:.4f}s wall={card.get('wall_time_s')}s on {card['device']}")


def zoo_table(cards: list[dict]) -> list[dict]:
    """Rows for a printed table of ``cards``: name, data set, clean / PGD accuracy, Gini IG / SHAP, time, device."""
    rows = []
    for card in cards:
        robust = {r["eps"]: r["accuracy"] for r in card.get("robust_accuracy", [])}
        gini = card.get("gini") or {}
        rows.append({
            "dataset": card.get("dataset"), "name": card.get("name"), "source": card.get("source", "zoo"),
            "clean": card.get("clean_accuracy"), "pgd_eps": PAPER_EPS.get(card.get("dataset")),
            "pgd": robust.get(PAPER_EPS.get(card.get("dataset"))), "own_eps_pgd": robust.get(card.get("eps")),
            "gini_ig": gini.get("ig"), "gini_shap": gini.get("shap"), "train_s": card.get("train_time_s"),
            "device": card.get("device"),
        })
    return rows


def describe_zoo_size(out_dir: Path | None = None) -> int:
    """Total bytes of the files under the zoo folder."""
    out_dir = Path(out_dir) if out_dir is not None else zoo_dir()
    return sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())

