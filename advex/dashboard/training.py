"""Training jobs of the *Train a model* page: train, evaluate, and save into the user's model folder.

A job trains with :func:`advex.zoo.build.train_and_save` (GPU when there is one), reporting loss
and accuracy as it goes, with the ``live`` protocol also the guard's held-out accuracies and the
explanation probe (the IG map of a fixed test image and the mean Gini of a few, every few steps),
and stopping when asked; then it measures what the zoo's cards hold (clean test accuracy, PGD
accuracy with the paper's schedule on a subset, mean Gini of IG and DeepSHAP on the first test
images) and saves weights and card atomically in ``user_models_dir()/<dataset>/``, where every
view lists it at once. A stopped job's model is saved too (``stopped_early`` in its card).

Before a start the page shows a time estimate from a step time measured on this server
(:func:`speed`, once per server and setting).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from advex.dashboard.cache import SharedLRU
from advex.dashboard.jobs import Job, JobQueue
from advex.errors import AdvexError
from advex.vocabulary import IMAGE_DATASETS, Setting, check_choice

MAX_STEPS = 200_000
GINI_IMAGES = 50  # mean Gini of a dashboard-trained model: 50 test images keep the evaluation under a minute on a CPU
ROBUST_IMAGES = 200

DATA: SharedLRU = SharedLRU(max_entries=1)  # one training set in memory at a time
SPEEDS: SharedLRU = SharedLRU(max_entries=16)  # measured step times, per data set, mode, protocol and device
PICTURE_KEYS = ("probe_map", "probe_image", "probe_label")
CURVE_COLUMNS = ["step", "loss", "accuracy", "lr", "eps", "elapsed_s", "heldout_accuracy", "heldout_pgd_accuracy",
                 "probe_gini"]


def default_protocol() -> str:
    """``fast`` on a GPU (about a minute for MNIST there), ``live`` on a CPU (single-step attacks, minutes)."""
    from advex.device import default_device

    return "fast" if default_device().type == "cuda" else "live"


def protocol_steps(dataset: str, mode: str, protocol: str, steps: int | None) -> int:
    """The number of steps a job runs: ``steps``, else the protocol's."""
    from advex.training.image import get_protocol

    proto = get_protocol(dataset, protocol)
    return steps or (proto.adversarial_steps if mode == "adv" else proto.natural_steps)


def speed(dataset: str, mode: str, eps: float, protocol: str) -> dict:
    """This server's measured step time (and guard check and probe time) for a setting; measured once per server."""
    from advex.device import default_device
    from advex.training.image import measure_speed

    device = default_device()
    key = (dataset, mode, protocol, device.type)
    return SPEEDS.get_or_compute(key, lambda: measure_speed(dataset, mode, eps or 0.3, protocol=protocol,
                                                            device=str(device), steps=3))


def estimate_text(dataset: str, mode: str, eps: float, protocol: str, steps: int | None) -> str:
    """One line: the estimated training time of a job, and what it was computed from."""
    from advex.device import default_device
    from advex.training.image import estimate_seconds

    if dataset == "cifar10" and default_device().type == "cpu":
        return ("CIFAR-10 trains the paper's WRN-28-10: on a CPU a single step takes minutes, so no time is measured "
                "here; train it on a GPU (`advex train` on a GPU machine) and copy the model over.")
    measured = speed(dataset, mode, eps, protocol)
    total = protocol_steps(dataset, mode, protocol, steps)
    seconds = estimate_seconds(dataset, mode, protocol, total, measured)
    amp = " in bf16" if measured["amp"] == "bf16" else ""
    checks = f", {measured['guard_check_s']:.1f} s per robustness check" if measured["guard_check_s"] else ""
    return (f"Estimated training time on this server: **{duration(seconds)}** for {total:,} steps "
            f"(measured here: {measured['step_s']:.3f} s per step{amp}{checks}), then a minute or two of evaluation.")


def duration(seconds: float) -> str:
    """``45 s``, ``3.5 min``, ``2.1 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def check_settings(dataset: str, mode: str, eps: float, lam: float, protocol: str, steps: int | None) -> Setting:
    """The setting to train, or an error that says what is allowed."""
    from advex.training.image import PROTOCOLS

    check_choice(dataset, IMAGE_DATASETS, "image data set")
    check_choice(protocol, PROTOCOLS, "protocol")
    setting = Setting(mode, eps, lam)
    if mode == "adv" and not 0 < setting.eps <= 1:
        raise AdvexError(f"eps = {eps!r} is impossible: pixels lie in [0, 1], so choose 0 < eps <= 1 (MNIST: 0.3)")
    if mode == "l1" and not 0 < setting.lam <= 10:
        raise AdvexError(f"lambda = {lam!r} is impossible here; choose 0 < lambda <= 10 (the paper: 0.01)")
    if steps is not None and not (isinstance(steps, int) and 1 <= steps <= MAX_STEPS):
        raise AdvexError(f"steps = {steps!r}: choose between 1 and {MAX_STEPS}, or leave it to the protocol")
    return setting


def model_name(setting: Setting, protocol: str, steps: int, stamp: float | None = None) -> str:
    """``adv_0.3-fast-500steps-20250101-120000``: the zoo's name plus protocol, steps and time (never clashes)."""
    return f"{setting.name}-{protocol}-{steps}steps-{time.strftime('%Y%m%d-%H%M%S', time.localtime(stamp))}"


def _load_data(dataset: str, data_dir=None):
    from advex.data.images import load_image_dataset

    return DATA.get_or_compute((dataset, str(data_dir)), lambda: load_image_dataset(dataset, data_dir=data_dir))


def run_training(job: Job, data_dir=None, out_dir=None, model_kwargs: dict | None = None) -> dict:
    """Train, evaluate and save the model of ``job.settings`` (:func:`advex.zoo.build.train_and_save`); return its card."""
    from advex.evaluation.report import EvaluationPlan
    from advex.zoo.build import train_and_save

    s = job.settings
    setting = check_settings(s["dataset"], s["mode"], s["eps"], s["lam"], s["protocol"], s.get("steps"))
    job.report(0.0, f"loading {s['dataset']}")
    data = _load_data(s["dataset"], data_dir)

    def on_progress(step: int, total: int, metrics: dict) -> None:
        pictures = {key: metrics.pop(key) for key in PICTURE_KEYS if key in metrics}
        if pictures:
            job.show({"step": step, "gini": metrics.get("probe_gini"), **pictures})
        message = f"step {step} of {total}: loss {metrics['loss']:.3f}, accuracy {metrics['accuracy']:.1%}"
        if "heldout_pgd_accuracy" in metrics:
            message += f", PGD accuracy (held-out) {metrics['heldout_pgd_accuracy']:.1%}"
        if metrics.get("guard") in ("rollback", "stop"):
            message += ("; catastrophic overfitting: back to the best weights"
                        + (", smaller attack step" if metrics["guard"] == "rollback" else ", training stops"))
        job.report(0.95 * step / total, message, metrics)

    plan = EvaluationPlan(gini_images=GINI_IMAGES, robust_images=ROBUST_IMAGES, seed=s.get("seed", 0))
    steps = protocol_steps(s["dataset"], setting.mode, s["protocol"], s.get("steps"))
    return train_and_save(
        s["dataset"], setting, out_dir, name=model_name(setting, s["protocol"], steps),
        protocol=s["protocol"], seed=s.get("seed", 0), steps=s.get("steps"), data=data, plan=plan,
        progress_callback=on_progress, should_stop=job.should_stop, model_kwargs=model_kwargs,
        extra_card={"trained_in": "dashboard"}, log=lambda message: job.report(0.96, message),
    )


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


def stop_note(card: dict) -> str:
    """How a saved model's training ended early, for the page ("" when it ran all its steps)."""
    if not card.get("stopped_early"):
        return ""
    events = ((card.get("train_attack") or {}).get("guard") or {}).get("events") or []
    if events and events[-1].get("action") == "stop":
        return (f" (stopped at step {events[-1]['step']} by the catastrophic-overfitting guard, with the weights of "
                f"step {events[-1]['restored_step']})")
    return " (stopped early)"


def log_frame(job: Job) -> pd.DataFrame:
    """The job's curves as a table: step, loss, batch accuracy, lr, eps, seconds; held-out accuracies and Gini at checks."""
    return pd.DataFrame(list(job.log), columns=CURVE_COLUMNS)


def live_map_figure(picture: dict, presenting: bool) -> go.Figure:
    """The probe's test image beside its IG map at the latest probe (signed, red positive), titled with the Gini."""
    from advex.dashboard.plots import saliency_grid, style

    image = np.asarray(picture["probe_image"], dtype=np.float32)
    image = image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)
    title = f"step {picture['step']}: Gini {picture['gini']:.3f}"
    figure = saliency_grid([image], ["IG"], [[np.asarray(picture["probe_map"])]], [[title]],
                           [f"label {picture['probe_label']}"], signed=True, overlay=False, cell=260)
    return style(figure, presenting, 340)


def curve_figures(frame: pd.DataFrame, presenting: bool) -> list[tuple[str, go.Figure]]:
    """The live curves: held-out clean and PGD accuracy (else batch accuracy), mean Gini of the probe's maps, loss."""
    from advex.dashboard.plots import MODEL_COLORS, curves, style

    figures = []
    checks = frame.dropna(subset=["heldout_pgd_accuracy"]).rename(
        columns={"heldout_accuracy": "clean", "heldout_pgd_accuracy": "PGD-10"})
    if len(checks):
        accuracy = curves(checks, "step", ["clean", "PGD-10"], "Accuracy on held-out training images", "accuracy")
        for trace, color in zip(accuracy.data, (MODEL_COLORS["natural"], MODEL_COLORS["adversarial"])):
            trace.line.color = color
    else:
        accuracy = curves(frame, "step", ["accuracy"], "Training accuracy (batch)", "accuracy")
    figures.append(("accuracy", accuracy))
    probes = frame.dropna(subset=["probe_gini"]).rename(columns={"probe_gini": "mean Gini"})
    if len(probes):
        figures.append(("gini", curves(probes, "step", ["mean Gini"], "Mean Gini of IG (eq. I.67), fixed test images",
                                       "Gini index")))
    figures.append(("loss", curves(frame, "step", ["loss"], "Training loss", "cross-entropy")))
    return [(name, style(figure, presenting, 260)) for name, figure in figures]
