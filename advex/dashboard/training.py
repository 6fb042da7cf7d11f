"""Training jobs of the *Train a model* page: train, evaluate, and save into the user's model folder.

A job trains with :func:`advex.training.image.train_image_model` (GPU when there is one),
reporting loss and accuracy as it goes and stopping when asked, then measures what the zoo's
cards hold (clean test accuracy, PGD accuracy with the paper's schedule on a subset, mean Gini
of IG and DeepSHAP on the first test images) and saves weights and card atomically in
``user_models_dir()/<dataset>/``, where every view lists it at once.
"""

from __future__ import annotations

import copy
import math
import time

import torch

from advex.dashboard.cache import SharedLRU
from advex.dashboard.jobs import Job, JobQueue
from advex.errors import AdvexError
from advex.zoo import ZooEntry

IMAGE_DATASETS = ("mnist", "fashion-mnist", "cifar10")
MODES = ("natural", "l1", "adv")
PROTOCOLS = ("fast", "paper")
MAX_STEPS = 200_000
GINI_IMAGES = 50  # DeepSHAP costs ~1 s per image on two CPU cores
ROBUST_IMAGES = 200

DATA: SharedLRU = SharedLRU(max_entries=1)  # one training set in memory at a time


def check_settings(dataset: str, mode: str, eps: float, lam: float, protocol: str, steps: int | None) -> None:
    """Reject impossible settings with a message that says what is allowed."""
    if dataset not in IMAGE_DATASETS:
        raise AdvexError(f"unknown image data set {dataset!r}; choose one of {', '.join(IMAGE_DATASETS)}")
    if mode not in MODES:
        raise AdvexError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if protocol not in PROTOCOLS:
        raise AdvexError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if mode == "adv" and not (isinstance(eps, (int, float)) and math.isfinite(eps) and 0 < eps <= 1):
        raise AdvexError(f"eps = {eps!r} is impossible: pixels lie in [0, 1], so choose 0 < eps <= 1 (MNIST: 0.3)")
    if mode == "l1" and not (isinstance(lam, (int, float)) and math.isfinite(lam) and 0 < lam <= 10):
        raise AdvexError(f"lambda = {lam!r} is impossible here; choose 0 < lambda <= 10 (the paper: 0.01)")
    if steps is not None and not (isinstance(steps, int) and 1 <= steps <= MAX_STEPS):
        raise AdvexError(f"steps = {steps!r}: choose between 1 and {MAX_STEPS}, or leave it to the protocol")


def model_name(mode: str, eps: float, lam: float, protocol: str, steps: int, stamp: float | None = None) -> str:
    """``adv_0.3-fast-500steps-20250101-120000``: the zoo's name plus protocol, steps and time (never clashes)."""
    base = ZooEntry.for_mode(mode, eps, lam).name
    return f"{base}-{protocol}-{steps}steps-{time.strftime('%Y%m%d-%H%M%S', time.localtime(stamp))}"


def _load_data(dataset: str, data_dir=None):
    from advex.data.images import load_image_dataset

    return DATA.get_or_compute((dataset, str(data_dir)), lambda: load_image_dataset(dataset, data_dir=data_dir))


def evaluate(model: torch.nn.Module, data, dataset: str, eps: float, job: Job | None = None) -> dict:
    """Card metrics: clean test accuracy, PGD accuracy (paper schedule) on a subset, mean Gini of IG and DeepSHAP."""
    from advex.attacks.pgd import paper_pgd_schedule
    from advex.evaluation.accuracy import clean_accuracy, pgd_accuracy
    from advex.zoo import PAPER_EPS, mean_gini_attributions

    def say(fraction: float, text: str) -> None:
        if job is not None:
            job.report(fraction, text)

    say(0.96, "evaluating: clean accuracy")
    metrics: dict = {"clean_accuracy": clean_accuracy(model, data.X_test, data.y_test),
                     "test_examples": int(len(data.y_test))}
    robust = []
    n_robust = min(ROBUST_IMAGES, len(data.y_test))
    for attack_eps in sorted({PAPER_EPS.get(dataset, 8 / 255), eps} - {0.0}):
        say(0.97, f"evaluating: PGD accuracy at eps = {attack_eps:g}")
        steps, step_size = paper_pgd_schedule(dataset, attack_eps)
        accuracy = pgd_accuracy(model, data.X_test[:n_robust], data.y_test[:n_robust], attack_eps, steps, step_size)
        robust.append({"eps": attack_eps, "attack": "PGD, random start", "steps": steps, "step_size": step_size,
                       "accuracy": accuracy, "n_images": n_robust})
    metrics["robust_accuracy"] = robust
    say(0.98, f"evaluating: Gini of IG and DeepSHAP on {GINI_IMAGES} test images")
    device = next(model.parameters()).device
    n = min(GINI_IMAGES, len(data.y_test))
    # on a copy: shap's DeepExplainer leaves tensors on the modules it hooked, which must not be saved
    gini = mean_gini_attributions(copy.deepcopy(model), torch.as_tensor(data.X_test[:n], device=device),
                                  torch.as_tensor(data.y_test[:n], device=device), data.X_train)
    metrics["gini"] = {**gini, "images": f"first {n} test images"}
    return metrics


def run_training(job: Job, data_dir=None, out_dir=None, model_kwargs: dict | None = None) -> dict:
    """Train, evaluate and save the model of ``job.settings``; return its card."""
    from advex.device import describe_device
    from advex.models.io import read_card, save_model
    from advex.training.image import train_image_model
    from advex.zoo import user_models_dir

    s = job.settings
    check_settings(s["dataset"], s["mode"], s["eps"], s["lam"], s["protocol"], s.get("steps"))
    job.report(0.0, f"loading {s['dataset']}")
    data = _load_data(s["dataset"], data_dir)

    def on_progress(step: int, total: int, metrics: dict) -> None:
        job.report(0.95 * step / total, f"step {step} of {total}: loss {metrics['loss']:.3f}, "
                                        f"accuracy {metrics['accuracy']:.1%}", metrics)

    model, history = train_image_model(
        s["dataset"], s["mode"], eps=s["eps"], lam=s["lam"], protocol=s["protocol"], seed=s.get("seed", 0),
        steps=s.get("steps"), data=data, progress_callback=on_progress, should_stop=job.should_stop,
        model_kwargs=model_kwargs, progress=False,
    )
    card = {
        "name": model_name(s["mode"], s["eps"], s["lam"], s["protocol"], history["completed_steps"]),
        "dataset": s["dataset"], "mode": s["mode"], "eps": float(s["eps"]) if s["mode"] == "adv" else 0.0,
        "lam": float(s["lam"]) if s["mode"] == "l1" else 0.0, "seed": s.get("seed", 0), "protocol": s["protocol"],
        "planned_steps": history["steps"], "steps": history["completed_steps"],
        "stopped_early": history["stopped_early"], "device": describe_device(torch.device(history["device"])),
        "train_time_s": round(history["train_time_s"], 2), "train_log": history["log"],
        "data_credit": data.credit, "trained_in": "dashboard",
    }
    card.update(evaluate(model, data, s["dataset"], card["eps"], job))
    folder = (out_dir or user_models_dir()) / s["dataset"]
    stem = folder / card["name"]
    save_model(model.cpu(), stem, card)
    return {**read_card(stem), "stem": str(stem)}


def make_queue() -> JobQueue:
    """The server's queue: one job at a time, eight waiting at most."""
    return JobQueue(run_training, max_running=1, max_queued=8, keep_finished=20)


def server_queue() -> JobQueue:
    """The one queue of this server process (created on first use, shared by every session)."""
    import streamlit as st

    @st.cache_resource(show_spinner=False)
    def _queue() -> JobQueue:
        return make_queue()

    return _queue()


def session_owner() -> str:
    """A random id for this browser session, kept in its session state (jobs belong to it)."""
    import uuid

    import streamlit as st

    return st.session_state.setdefault("advex_owner", uuid.uuid4().hex)


def log_frame(job: Job):
    """The job's curves as a table: step, loss, accuracy."""
    import pandas as pd

    return pd.DataFrame(job.log, columns=["step", "loss", "accuracy", "lr", "eps", "elapsed_s"])
