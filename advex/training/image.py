"""Train the paper's image models: natural, l1-regularized and l_inf(eps)-PGD-adversarial (App. J.1).

Protocols (``protocol=``):

* ``"paper"`` -- App. J.1 and the paper's code. MNIST / Fashion-MNIST (MadryCNN): Adam, lr 1e-4,
  batch 50, 25,000 steps natural (with or without l1), 100,000 steps adversarial, PGD with random
  start, ``eps*100+10`` steps of 0.01. CIFAR-10 (WRN): momentum 0.9, weight decay 2e-4, batch 128,
  70,000 steps, lr 0.1 / 0.01 / 0.001 switching at 40,000 / 60,000 steps, PGD ``eps_255+1`` steps
  of 1/255, random crops (pad 4) and horizontal flips.
* ``"fast"`` -- ours, for a lent GPU or a CPU: larger batches, Adam at lr 1e-3 (MNIST-like) with
  the lr divided by 10 for the last 20% of the steps, fewer steps, and for adversarial training
  a PGD of ``FAST_TRAIN_PGD_STEPS`` steps of ``2.5 * eps / steps`` (random start) with eps ramped
  up linearly from 0 over the first 30% of the steps. CIFAR-10: the paper's optimizer and attack
  with 20,000 steps and the same relative lr milestones.
* ``"live"`` -- ours, adversarial training a class can watch on a laptop CPU: a single-step
  training attack (:mod:`advex.training.fast_adversarial`) with eps ramped up linearly from 0 over
  the first 40% of the steps, a cyclic lr (linear up to ``lr`` at 40% of the run, then down to 0;
  Wong et al., 2020), the catastrophic-overfitting guard on held-out training images (PGD-10 every
  300 steps) and the explanation probe (:mod:`advex.training.monitor`) every 100 steps.
  MNIST-like data: MadryCNN, Adam, batch 100, 7,000 adversarial steps (natural and l1: 600, one
  epoch, with the probe), N-FGSM with noise U(-eps, eps) and step
  eps, not projected. N-FGSM's default noise of 2 eps left the model unable to fit eps = 0.3 MNIST
  (training accuracy about 40%, PGD-40 accuracy 44% after 3.6 minutes), FGSM with random start
  (step 1.25 eps) overfit catastrophically within two epochs (PGD-40 accuracy 3%); noise eps with
  the guard reached 84% (``bench/bench_live_training.py``). CIFAR-10: Wong et al.'s recipe (FGSM
  with random start, SGD, cyclic lr up to 0.2, 15 epochs) on the paper's WRN. On a CPU with native
  bf16 (AVX512-BF16 or AMX) the training passes run under bf16 autocast in channels-last layout
  (about twice as fast here); the guard, the probe and the evaluation run in float32.

Evaluation always uses the paper's PGD schedule (:func:`advex.attacks.pgd.paper_pgd_schedule`).

l1 penalty (``mode="l1"``): ``lam * sum_j |w_j|`` over *all* trainable parameters (weights and
biases), as the paper's code does (``tf.contrib.layers.l1_regularizer`` applied to every
trainable variable). That code adds it to the cross-entropy *summed* over a batch of 50 for
MNIST-like data and to the *mean* cross-entropy for CIFAR-10; we use the mean cross-entropy plus
``lam * L1_SCALE[dataset] * sum |w|`` (``L1_SCALE`` = 1/50 resp. 1), the same objective in
expectation for any batch size.

The training set lives on the device as one tensor (no DataLoader). On CUDA the forward passes
run under bf16 autocast; evaluation runs in float32. A seed fixes initialization, batch order
and attack noise (deterministic on CPU). With ``checkpoint=`` the run is saved atomically every
``CHECKPOINT_EVERY_S`` seconds, when ``should_stop()`` turns true, on Ctrl-C and at the end, and a
later call with the same path and settings resumes from it.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from advex.attacks.pgd import paper_pgd_schedule, pgd_attack
from advex.device import default_device
from advex.errors import AdvexError
from advex.models.cnn import MadryCNN
from advex.models.io import atomic_write_bytes
from advex.models.wrn import WideResNet
from advex.training.fast_adversarial import (
    SINGLE_STEP_ATTACKS,
    GuardSettings,
    OverfittingGuard,
    describe_attack,
    single_step_attack,
)
from advex.training.monitor import ExplanationProbe, ProbeSettings
from advex.vocabulary import IMAGE_DATASETS, MODES

PROTOCOLS = ("paper", "fast", "live")
FAST_TRAIN_PGD_STEPS = 10
LIVE_MNIST_STEPS = 7_000  # sized by bench/bench_live_training.py to about 15 minutes on 2 CPU cores
L1_SCALE = {"mnist": 1.0 / 50, "fashion-mnist": 1.0 / 50, "cifar10": 1.0}
CHECKPOINT_EVERY_S = 120.0
CHECKPOINT_FORMAT = "advex-image-checkpoint-1"

ProgressCallback = Callable[[int, int, dict], None]


@dataclass(frozen=True)
class TrainingProtocol:
    """Optimizer, batch size, step counts and the training attack of one protocol for one data set family."""

    name: str
    optimizer: str  # "adam" or "sgd" (momentum)
    lr: float
    batch_size: int
    natural_steps: int
    adversarial_steps: int
    lr_milestones: tuple[float, ...] = ()  # fractions of the run after which lr is divided by 10
    momentum: float = 0.0
    weight_decay: float = 0.0  # l2 on conv / linear weights only, as in the paper's CIFAR-10 code
    train_attack: str = "paper"  # "paper": paper_pgd_schedule; "fast": FAST_TRAIN_PGD_STEPS of 2.5*eps/steps;
    # or a single-step attack of advex.training.fast_adversarial ("fgsm-rs", "n-fgsm")
    eps_rampup: float = 0.0  # fraction of the run over which eps grows linearly from 0
    augment: bool = False  # random crop (pad 4) + horizontal flip
    lr_schedule: str = "step"  # "step": lr_milestones; "cyclic": 0 -> lr at lr_peak of the run -> 0 (Wong et al. 2020)
    lr_peak: float = 0.4
    attack_noise: float | None = None  # N-FGSM's noise radius relative to eps (None: the paper's 2)
    guard: GuardSettings | None = None  # catastrophic-overfitting guard (adversarial training only)
    probe: ProbeSettings | None = None  # IG maps and their Gini every few steps, for the Train page
    cpu_bf16: bool = False  # bf16 autocast and channels-last on a CPU with native bf16


_PROTOCOLS: dict[tuple[str, str], TrainingProtocol] = {
    ("paper", "mnist"): TrainingProtocol("paper", "adam", 1e-4, 50, 25_000, 100_000),
    ("fast", "mnist"): TrainingProtocol(
        "fast", "adam", 1e-3, 256, 3_000, 6_000, lr_milestones=(0.8,), train_attack="fast", eps_rampup=0.3
    ),
    ("live", "mnist"): TrainingProtocol(
        "live", "adam", 2e-3, 100, 600, LIVE_MNIST_STEPS, train_attack="n-fgsm", attack_noise=1.0, eps_rampup=0.4,
        lr_schedule="cyclic", guard=GuardSettings(every=300, images=200), probe=ProbeSettings(every=100), cpu_bf16=True,
    ),
    ("paper", "cifar10"): TrainingProtocol(
        "paper", "sgd", 0.1, 128, 70_000, 70_000, lr_milestones=(4 / 7, 6 / 7), momentum=0.9,
        weight_decay=2e-4, augment=True,
    ),
    ("fast", "cifar10"): TrainingProtocol(
        "fast", "sgd", 0.1, 128, 20_000, 20_000, lr_milestones=(4 / 7, 6 / 7), momentum=0.9,
        weight_decay=2e-4, augment=True,
    ),
    # Wong et al. (2020)'s CIFAR-10 recipe (15 epochs of FGSM-RS, cyclic lr up to 0.2) on the paper's WRN.
    ("live", "cifar10"): TrainingProtocol(
        "live", "sgd", 0.2, 128, 5_900, 5_900, momentum=0.9, weight_decay=5e-4, train_attack="fgsm-rs",
        augment=True, lr_schedule="cyclic", guard=GuardSettings(every=500, images=200),
        probe=ProbeSettings(every=200), cpu_bf16=True,
    ),
}


def get_protocol(dataset: str, protocol: str) -> TrainingProtocol:
    """The :class:`TrainingProtocol` named ``protocol`` ("paper", "fast" or "live") for ``dataset``."""
    _check_dataset(dataset)
    if protocol not in PROTOCOLS:
        raise AdvexError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    return _PROTOCOLS[(protocol, "cifar10" if dataset == "cifar10" else "mnist")]


def default_model(dataset: str, **kwargs) -> nn.Module:
    """The paper's network for ``dataset``: MadryCNN (MNIST-like) or WRN-28-10 (CIFAR-10); ``kwargs`` override."""
    _check_dataset(dataset)
    if dataset == "cifar10":
        return WideResNet(**kwargs)
    return MadryCNN(**kwargs)


def _check_dataset(dataset: str) -> None:
    if dataset not in IMAGE_DATASETS:
        raise AdvexError(f"unknown image data set {dataset!r}; use one of {', '.join(IMAGE_DATASETS)}")


def _validate(mode: str, eps: float, lam: float, steps: int | None) -> None:
    if mode not in MODES:
        raise AdvexError(f"unknown training mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "adv" and not (math.isfinite(eps) and eps > 0):
        raise AdvexError(f"adversarial training needs eps > 0 (pixel units in [0, 1]), got {eps}")
    if mode == "l1" and not (math.isfinite(lam) and lam > 0):
        raise AdvexError(f"l1 training needs lam > 0, got {lam}")
    if steps is not None and steps < 1:
        raise AdvexError(f"steps must be >= 1, got {steps}")


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """``sum_j |w_j|`` over all trainable parameters, weights and biases (the paper's l1 regularizer)."""
    return sum(p.abs().sum() for p in model.parameters() if p.requires_grad)


def _make_optimizer(model: nn.Module, proto: TrainingProtocol) -> torch.optim.Optimizer:
    if proto.optimizer == "adam":
        fused = next(model.parameters()).device.type == "cuda"
        return torch.optim.Adam(model.parameters(), lr=proto.lr, fused=fused)
    decayed = [p for n, p in model.named_parameters() if p.ndim > 1]  # conv / linear kernels
    others = [p for n, p in model.named_parameters() if p.ndim <= 1]  # biases, BatchNorm
    return torch.optim.SGD(
        [{"params": decayed, "weight_decay": proto.weight_decay}, {"params": others, "weight_decay": 0.0}],
        lr=proto.lr,
        momentum=proto.momentum,
    )


def learning_rate(proto: TrainingProtocol, step: int, total: int) -> float:
    """The lr of step ``step`` (0-based) of ``total``.

    "step": ``proto.lr`` divided by 10 at each milestone fraction of ``total``. "cyclic" (Wong et al.,
    2020): rises linearly from 0 to ``proto.lr`` at ``lr_peak * total`` steps, then falls linearly to 0.
    """
    if proto.lr_schedule == "cyclic":
        return float(np.interp(step + 1, [0, proto.lr_peak * total, total], [0.0, proto.lr, 0.0]))
    passed = sum(step >= round(m * total) for m in proto.lr_milestones)
    return proto.lr * 0.1**passed


def check_interval(every: int, total: int) -> int:
    """Steps between two guard checks or probes: ``every``, but at least ten times in a short run."""
    return max(1, min(every, total // 10))


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 autocast is faster than float32."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(probe is not None and probe() for probe in probes)


def _uses_amp(proto: TrainingProtocol, device: torch.device) -> bool:
    return device.type == "cuda" or (proto.cpu_bf16 and device.type == "cpu" and cpu_has_native_bf16())


def _train_attack(dataset: str, proto: TrainingProtocol, eps: float) -> dict:
    """The training attack's description: method, steps and step size (at the full eps)."""
    if proto.train_attack in SINGLE_STEP_ATTACKS:
        return describe_attack(proto.train_attack, eps, proto.attack_noise)
    steps, step_size = (FAST_TRAIN_PGD_STEPS, 2.5 * eps / FAST_TRAIN_PGD_STEPS) if proto.train_attack == "fast" \
        else paper_pgd_schedule(dataset, eps)
    return {"steps": steps, "step_size": step_size}


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop with 4-pixel zero padding and random horizontal flip, per image, on the device."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=generator, device=x.device)
    dx = torch.randint(0, 9, (n,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    out = padded[batch, channels, rows, cols]
    flip = torch.rand(n, generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


class _BatchOrder:
    """Batch indices on the device: epoch ``e`` walks a permutation seeded by ``(seed, e)``, so any step can resume."""

    def __init__(self, seed: int, n: int, batch_size: int, device: torch.device) -> None:
        self.seed, self.n, self.batch_size, self.device = seed, n, min(batch_size, n), device
        self.per_epoch = n // self.batch_size
        self.epoch, self.perm = -1, None

    def __call__(self, step: int) -> torch.Tensor:
        epoch, position = divmod(step, self.per_epoch)
        if epoch != self.epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self.epoch, self.perm = epoch, torch.randperm(self.n, generator=generator).to(self.device)
        return self.perm[position * self.batch_size : (position + 1) * self.batch_size]


def _as_tensor(X, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X).to(device=device, dtype=dtype)


def _run_config(dataset, mode, eps, lam, proto, seed, total, architecture) -> dict:
    return {
        "dataset": dataset, "mode": mode, "eps": float(eps), "lam": float(lam), "protocol": asdict(proto),
        "seed": int(seed), "steps": int(total), "architecture": architecture,
    }


def _save_checkpoint(path: Path, config: dict, step: int, model, optimizer, log: list, train_time: float,
                     guard: OverfittingGuard | None) -> None:
    buffer = io.BytesIO()
    torch.save(
        {
            "format": CHECKPOINT_FORMAT, "config": config, "step": step, "train_time_s": train_time, "log": log,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "guard": guard.state_dict() if guard is not None else None,
        },
        buffer,
    )
    atomic_write_bytes(path, buffer.getvalue())


def _load_checkpoint(path: Path, config: dict) -> dict | None:
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise AdvexError(f"checkpoint {path} cannot be read ({err}); delete it to start over") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise AdvexError(f"{path} is not an advex image-training checkpoint; delete it or choose another path")
    if state["config"] != config:
        raise AdvexError(
            f"checkpoint {path} belongs to another run ({state['config']['dataset']}, {state['config']['mode']}, "
            f"eps={state['config']['eps']}, lam={state['config']['lam']}, steps={state['config']['steps']}); "
            "use the same settings to resume, or delete it / choose another checkpoint path"
        )
    return state


def _held_out_split(n: int, held_out: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(training indices, held-out indices): ``held_out`` images of a permutation seeded by ``seed`` are set aside."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + 17)).to(device)
    return order[held_out:], order[:held_out]


def _probe_images(data, X: torch.Tensor, Y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The probe's fixed images: the first test images, or the first training images when there is no test set."""
    X_test = getattr(data, "X_test", None)
    if X_test is not None and len(X_test) > 0:
        return np.asarray(X_test, dtype=np.float32), np.asarray(data.y_test, dtype=np.int64)
    return X.cpu().numpy(), Y.cpu().numpy()


def train_image_model(
    dataset: str,
    mode: str,
    eps: float = 0.0,
    lam: float = 0.0,
    protocol: str = "fast",
    seed: int = 0,
    steps: int | None = None,
    device: str | torch.device | None = None,
    data_dir: str | Path | None = None,
    checkpoint: str | Path | None = None,
    progress_callback: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    model_kwargs: dict | None = None,
    data=None,
    progress: bool = True,
) -> tuple[nn.Module, dict]:
    """Train the paper's network for ``dataset`` naturally, with l1 (``lam``) or adversarially (``eps``).

    ``steps`` overrides the protocol's step count (lr schedule, eps ramp-up and check intervals scale
    with it). ``data`` may pass an already loaded :class:`advex.data.images.ImageDataset`; else it is
    loaded from ``data_dir``. ``progress_callback(step, total, metrics)`` is called every ~1% of the run
    and at every guard check and probe (then ``metrics`` also holds ``probe_map``, ``probe_image`` and
    ``probe_label``, numpy arrays and an int the log leaves out); ``should_stop()`` is polled every step
    and ends the run early (checkpoint saved). ``model_kwargs`` override the architecture.
    Returns ``(model, history)`` with the model in eval mode on ``device``; ``history`` holds the
    run's settings, ``log`` (step, loss, accuracy, lr, eps; at checks the held-out accuracies, at
    probes the mean Gini), ``completed_steps``, ``stopped_early``, ``train_time_s``, ``time_per_step_s``,
    ``step_time_s`` (median of a step alone), ``train_attack`` (with the guard's record), the device.
    """
    _check_dataset(dataset)
    _validate(mode, eps, lam, steps)
    proto = get_protocol(dataset, protocol)
    total = steps or (proto.adversarial_steps if mode == "adv" else proto.natural_steps)
    device = torch.device(device) if device is not None else default_device()
    use_amp = _uses_amp(proto, device)
    channels_last = use_amp and device.type == "cpu"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    if data is None:
        from advex.data.images import load_image_dataset

        data = load_image_dataset(dataset, data_dir=data_dir, seed=seed)
    X = _as_tensor(data.X_train, device)
    Y = _as_tensor(data.y_train, device, torch.long)
    if len(Y) == 0:
        raise AdvexError(f"the {dataset} training set is empty; check the data files (`advex data fetch {dataset}`)")

    torch.manual_seed(seed)
    model = default_model(dataset, **(model_kwargs or {})).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = _make_optimizer(model, proto)
    config = _run_config(dataset, mode, eps, lam, proto, seed, total, model.architecture())

    guard = None
    train_index = torch.arange(len(Y), device=device)
    if mode == "adv" and proto.guard is not None:
        held_out = min(proto.guard.images, len(Y) // 5)
        if held_out > 0:
            train_index, check_index = _held_out_split(len(Y), held_out, seed, device)
            guard = OverfittingGuard(X[check_index], Y[check_index], eps, proto.guard, seed)
    probe = ExplanationProbe(*_probe_images(data, X, Y), proto.probe) if proto.probe is not None else None
    guard_every = check_interval(proto.guard.every, total) if guard is not None else 0
    probe_every = check_interval(proto.probe.every, total) if probe is not None else 0

    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    start_step, log, train_time = 0, [], 0.0
    state = _load_checkpoint(ckpt_path, config) if ckpt_path is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step, log, train_time = int(state["step"]), list(state["log"]), float(state["train_time_s"])
        if guard is not None and state.get("guard") is not None:
            guard.load_state_dict(state["guard"])

    attack = _train_attack(dataset, proto, eps) if mode == "adv" else None
    single_step = single_step_attack(proto.train_attack, proto.attack_noise) if proto.train_attack in SINGLE_STEP_ATTACKS else None
    l1_weight = lam * L1_SCALE[dataset] if mode == "l1" else 0.0
    generator = torch.Generator(device=device)
    batch_order = _BatchOrder(seed, len(train_index), proto.batch_size, device)
    log_every = max(total // 100, 1)
    step = start_step
    stopped_early = guard_stopped = False
    step_seconds: list[float] = []
    check_seconds = {"guard": 0.0, "probe": 0.0}
    last_save = run_start = time.perf_counter()
    time_before = train_time

    def save() -> None:
        if ckpt_path is not None:
            elapsed = time_before + time.perf_counter() - run_start
            _save_checkpoint(ckpt_path, config, step, model, optimizer, log, elapsed, guard)

    def watch(metrics: dict) -> dict:
        """Guard check and probe due at this step: their scalars go into ``metrics``; the probe's map is returned."""
        pictures = {}
        nonlocal guard_stopped
        if guard is not None and (step % guard_every == 0 or step == total):
            started = time.perf_counter()
            action, record = guard.check(step, model, optimizer)
            check_seconds["guard"] += time.perf_counter() - started
            metrics.update(heldout_accuracy=record["clean_accuracy"], heldout_pgd_accuracy=record["pgd_accuracy"])
            if action != "ok":
                metrics["guard"] = action
            guard_stopped = action == "stop"
        if probe is not None and (step % probe_every == 0 or step == total):
            started = time.perf_counter()
            measured = probe.measure(model)
            check_seconds["probe"] += time.perf_counter() - started
            metrics["probe_gini"] = measured["gini"]
            pictures = {"probe_map": measured["map"], "probe_image": probe.image(), "probe_label": probe.label()}
        return pictures

    model.train()
    bar = tqdm(total=total, initial=start_step, desc=f"{dataset} {mode}", disable=not progress, leave=False)
    try:
        while step < total:
            if should_stop is not None and should_stop():
                stopped_early = True
                break
            started = time.perf_counter()
            lr = learning_rate(proto, step, total)
            for group in optimizer.param_groups:
                group["lr"] = lr
            generator.manual_seed(seed * 1_000_003 + step)
            idx = train_index[batch_order(step)]
            xb, yb = X[idx], Y[idx]
            if proto.augment:
                xb = _augment(xb, generator)
            eps_now = eps * min(1.0, (step + 1) / (proto.eps_rampup * total)) if proto.eps_rampup else eps
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                if mode == "adv":
                    model.eval()  # BatchNorm (WRN) uses running statistics while attacking, and they stay unchanged
                    if single_step is not None:
                        xb = single_step(model, xb, yb, eps_now, guard.step_scale if guard else 1.0, generator)
                    else:
                        step_size = attack["step_size"] * eps_now / eps if proto.train_attack == "fast" \
                            else attack["step_size"]
                        xb = pgd_attack(model, xb, yb, eps_now, attack["steps"], step_size, generator=generator)
                    model.train()
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb)
            objective = loss + l1_weight * l1_penalty(model) if l1_weight else loss
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            optimizer.step()
            step += 1
            if len(step_seconds) < 50:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                step_seconds.append(time.perf_counter() - started)
            bar.update(1)
            metrics = {"step": step, "loss": float(loss.detach()), "accuracy": float((logits.argmax(1) == yb).float().mean()),
                       "lr": lr, "eps": float(eps_now)}
            pictures = watch(metrics)
            if step % log_every == 0 or step == total or len(metrics) > 5 or guard_stopped:
                train_time = time_before + time.perf_counter() - run_start
                metrics["elapsed_s"] = train_time
                log.append(metrics)
                bar.set_postfix(loss=f"{metrics['loss']:.3f}", acc=f"{metrics['accuracy']:.3f}")
                if progress_callback is not None:
                    progress_callback(step, total, {**metrics, **pictures})
            if guard_stopped:
                break
            if ckpt_path is not None and time.perf_counter() - last_save > CHECKPOINT_EVERY_S:
                save()
                last_save = time.perf_counter()
    except KeyboardInterrupt:
        save()
        raise
    finally:
        bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    train_time = time_before + time.perf_counter() - run_start
    save()
    if channels_last:
        model = model.to(memory_format=torch.contiguous_format)
    model.eval()
    done = step - start_step
    if attack is not None and guard is not None:
        attack = {**attack, "final_step_scale": guard.step_scale, "guard": guard.summary()}
    history = {
        **config,
        "protocol_name": proto.name,
        "log": log,
        "completed_steps": step,
        "stopped_early": stopped_early or guard_stopped,
        "stopped_by": "request" if stopped_early else "overfitting guard" if guard_stopped else None,
        "train_time_s": train_time,
        "time_per_step_s": (train_time - time_before) / done if done else float("nan"),
        "step_time_s": float(np.median(step_seconds)) if step_seconds else float("nan"),
        "guard_check_s": check_seconds["guard"] / max(len(guard.checks), 1) if guard is not None else None,
        "probe_s": check_seconds["probe"] / max(1, sum("probe_gini" in entry for entry in log)) if probe else None,
        "train_attack": attack,
        "l1_weight_per_mean_loss": l1_weight,
        "device": str(device),
        "amp": "bf16" if use_amp else "none",
    }
    return model, history


def measure_speed(dataset: str, mode: str, eps: float = 0.0, protocol: str = "live", device: str | None = None,
                  steps: int = 4, model_kwargs: dict | None = None) -> dict:
    """Time ``steps`` training steps of ``protocol`` on random images here: median step, guard check and probe (s).

    The basis of a time estimate before a run (:func:`estimate_seconds`).
    """
    proto = get_protocol(dataset, protocol)
    shape = (3, 32, 32) if dataset == "cifar10" else (1, 28, 28)
    n = proto.batch_size + (5 * proto.guard.images if proto.guard is not None and mode == "adv" else 0)
    rng = np.random.default_rng(0)
    images = rng.random((n, *shape), dtype=np.float32)
    labels = rng.integers(0, 10, n)
    probe_images = proto.probe.images if proto.probe is not None else 1
    data = SimpleNamespace(X_train=images, y_train=labels, X_test=images[:probe_images], y_test=labels[:probe_images])
    _, history = train_image_model(dataset, mode, eps=eps, lam=1e-3, protocol=protocol, steps=steps, device=device,
                                   data=data, progress=False, model_kwargs=model_kwargs)
    return {"step_s": history["step_time_s"], "guard_check_s": history["guard_check_s"] or 0.0,
            "probe_s": history["probe_s"] or 0.0, "device": history["device"], "amp": history["amp"]}


def estimate_seconds(dataset: str, mode: str, protocol: str, steps: int | None, speed: dict) -> float:
    """Training time of a run of ``steps`` (None: the protocol's) from :func:`measure_speed`'s timings."""
    proto = get_protocol(dataset, protocol)
    total = steps or (proto.adversarial_steps if mode == "adv" else proto.natural_steps)
    checks = total // check_interval(proto.guard.every, total) if proto.guard is not None and mode == "adv" else 0
    probes = total // check_interval(proto.probe.every, total) if proto.probe is not None else 0
    return total * speed["step_s"] + checks * speed["guard_check_s"] + probes * speed["probe_s"]
