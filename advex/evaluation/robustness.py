"""Robust accuracy of an image classifier under an l_inf(eps) attack: the paper's PGD or AutoAttack.

- ``pgd``: PGD with one random start and the paper's schedule (App. J.1, :func:`paper_pgd_schedule`),
  the attack behind the paper's robust accuracies.
- ``autoattack``: AutoAttack "standard" (Croce & Hein, ICML 2020, arXiv:2003.01690), RobustBench's
  convention: APGD-CE, APGD-T (9 target classes), FAB-T (9 target classes), 100 iterations each, then
  Square (5,000 queries), each run on the images that survived the attacks before it. An image is
  robust only if no attack of the ensemble breaks it (the per-image worst case). The attacks are the
  authors' own code, as RobustBench packages it (``pyautoattack``); none is re-implemented here.

Gradient-masking check (AutoAttack only): Square is a black-box attack, so on a model with informative
gradients it should almost never break an image that all three white-box attacks left standing.
:func:`gradient_masking_check` counts those images and flags the evaluation when Square's advantage is
larger than AutoAttack's own tolerance (0.2 points of accuracy) beyond binomial noise over the images.

Evaluation runs on an eval-mode copy of the model, on the model's device (CPU or CUDA), in float32;
the caller's model, its flags and torch's global random state are left as they were.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata

import numpy as np
import torch
from scipy.stats import beta
from torch import nn

import advex
from advex.attacks.pgd import paper_pgd_schedule, pgd_attack
from advex.errors import AdvexError
from advex.vocabulary import check_choice

ATTACKS = ("pgd", "autoattack")
AUTOATTACK_LIBRARY = "pyautoattack"
WHITE_BOX = ("apgd-ce", "apgd-t", "fab-t")  # AutoAttack standard's gradient-based attacks, in its order
BLACK_BOX = "square"
STANDARD_ITERATIONS = 100  # AutoAttack standard: APGD-CE, APGD-T and FAB-T iterations
STANDARD_SQUARE_QUERIES = 5000
STANDARD_TARGET_CLASSES = 9
MASKING_TOLERANCE = 0.002  # AutoAttack's own tolerance for Square's advantage (its check_square_sr)
MASKING_CONFIDENCE = 0.95
_LIBRARY_LOGGER = "auto-attack"
_MAX_LIBRARY_WARNINGS = 20

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class MaskingCheck:
    """Images robust to every white-box attack but broken by Square, and whether that exceeds noise."""

    square_only: int
    n_images: int
    difference: float  # square_only / n_images: the accuracy Square alone removes
    lower_bound: float  # one-sided Clopper-Pearson lower bound of that rate at ``confidence``
    tolerance: float
    confidence: float
    flagged: bool

    def to_dict(self) -> dict:
        rule = (f"flagged when the one-sided {self.confidence:.0%} Clopper-Pearson lower bound of "
                f"(images broken only by Square) / (images) exceeds {self.tolerance:.1%}")
        return {**asdict(self), "rule": rule}


@dataclass(frozen=True)
class RobustAccuracy:
    """Accuracy under attack, the per-image robust mask, the number of images and the attack's description.

    ``robust`` is a bool array (numpy, or a torch tensor when ``X`` was one): True where the image is
    classified correctly and no attack broke it. ``attack`` is JSON-able, ready for a model card.
    """

    accuracy: float
    robust: np.ndarray | torch.Tensor
    n_images: int
    attack: dict
    masking: MaskingCheck | None = None

    def to_dict(self) -> dict:
        """The JSON-able summary for a model card (the attack's description holds the masking check)."""
        return {"accuracy": self.accuracy, "n_images": self.n_images, "attack": self.attack}


def gradient_masking_check(n_images: int, square_only: int, tolerance: float = MASKING_TOLERANCE,
                           confidence: float = MASKING_CONFIDENCE) -> MaskingCheck:
    """Flag gradient masking when Square beats the white-box attacks by more than binomial noise.

    ``square_only`` of ``n_images`` images survived APGD-CE, APGD-T and FAB-T but not Square. Flagged when
    the one-sided ``confidence`` Clopper-Pearson lower bound of ``square_only / n_images``, i.e.
    ``Beta(1 - confidence; k, n - k + 1)``, exceeds ``tolerance`` (default AutoAttack's 0.2 points).
    """
    if n_images < 1 or not 0 <= square_only <= n_images:
        raise AdvexError(f"need 0 <= square_only <= n_images and n_images >= 1, got {square_only} of {n_images}")
    if not 0 <= tolerance < 1 or not 0 < confidence < 1:
        raise AdvexError(f"tolerance must be in [0, 1) and confidence in (0, 1), got {tolerance} and {confidence}")
    lower = float(beta.ppf(1 - confidence, square_only, n_images - square_only + 1)) if square_only else 0.0
    return MaskingCheck(square_only=int(square_only), n_images=int(n_images), difference=square_only / n_images,
                        lower_bound=lower, tolerance=float(tolerance), confidence=float(confidence),
                        flagged=lower > tolerance)


# --- input checks ---------------------------------------------------------------------------
def _as_cpu_tensor(values, name: str, dtype: torch.dtype) -> torch.Tensor:
    try:
        tensor = values.detach().cpu() if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    except (TypeError, ValueError, RuntimeError) as error:
        raise AdvexError(f"{name} must be a numpy array or torch tensor of numbers: {error}") from None
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise AdvexError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    return tensor.to(dtype)


def _check_images(X, y, n_images: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``X`` as float32 (n, C, H, W) in [0, 1] and ``y`` as int64 (n,), cut to the first ``n_images``."""
    x = _as_cpu_tensor(X, "X", torch.float32)
    if x.ndim != 4:
        raise AdvexError(f"X must be images of shape (n, channels, height, width), got shape {tuple(x.shape)}")
    labels = _as_cpu_tensor(y, "y", torch.float64)
    if labels.ndim != 1 or labels.shape[0] != x.shape[0]:
        raise AdvexError(f"y must be one label per image: X has {x.shape[0]} images, y has shape {tuple(labels.shape)}")
    if x.shape[0] == 0:
        raise AdvexError("X and y are empty: give at least one image")
    if n_images is not None:
        if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or not 1 <= n_images <= x.shape[0]:
            raise AdvexError(f"n_images must be an integer from 1 to {x.shape[0]} (the images given), or None; got {n_images!r}")
        x, labels = x[:n_images], labels[:n_images]
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise AdvexError("X must hold finite pixel values in [0, 1] (divide 8-bit images by 255)")
    if not torch.isfinite(labels).all() or (labels != labels.round()).any() or (labels < 0).any():
        raise AdvexError("y must hold class indices (integers >= 0)")
    return x.contiguous(), labels.to(torch.int64)


def _check_eps(eps) -> float:
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise AdvexError(f"eps must be a number > 0, got {eps!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise AdvexError(f"eps must be a finite number > 0 (at eps 0 robust accuracy is clean accuracy), got {eps!r}")
    return value


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise AdvexError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _evaluation_copy(model: nn.Module) -> tuple[nn.Module, torch.device]:
    """An eval-mode copy of ``model`` whose parameters need no gradient, and the device it lives on."""
    if not isinstance(model, nn.Module):
        raise AdvexError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    copied = copy.deepcopy(model).eval()
    for parameter in copied.parameters():
        parameter.requires_grad_(False)
    return copied, device


def _n_classes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> int:
    with torch.no_grad():
        logits = model(x[:1].to(device))
    if logits.ndim != 2 or logits.shape[0] != 1:
        raise AdvexError(f"the model must return logits of shape (n, classes), got shape {tuple(logits.shape)}")
    n_classes = int(logits.shape[1])
    if int(y.max()) >= n_classes:
        raise AdvexError(f"y holds class {int(y.max())} but the model has {n_classes} classes (0 to {n_classes - 1})")
    return n_classes


# --- the attacks ----------------------------------------------------------------------------
def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1) == y


def _pgd_robust(model, x, y, device, eps, steps, step_size, seed, batch_size, progress) -> torch.Tensor:
    """Per-image robustness under PGD with random start (App. J.1), batch by batch."""
    generator = torch.Generator(device=device).manual_seed(seed)
    robust = torch.zeros(len(y), dtype=torch.bool)
    for part in _batches(len(y), batch_size):
        xb, yb = x[part].to(device), y[part].to(device)
        x_adv = pgd_attack(model, xb, yb, eps, steps, step_size, random_start=True, generator=generator)
        robust[part] = _correct(model, x_adv, yb).cpu()
        if progress is not None:
            progress(part.stop, len(y))
    return robust


class _CollectWarnings(logging.Handler):
    """Keeps the AutoAttack library's warnings (zero gradients, randomized model...) for the description."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.messages and len(self.messages) < _MAX_LIBRARY_WARNINGS:
            self.messages.append(message)


def _autoattack(model, eps: float, n_classes: int, seed: int, device: torch.device, iterations: int, square_queries: int):
    """The library's AutoAttack "standard", with the iteration budget and target classes set if asked."""
    try:
        from pyautoattack import AutoAttack
    except ImportError:
        raise AdvexError("AutoAttack needs the pyautoattack package, a dependency of advex: pip install -e .") from None

    attack = AutoAttack(model, eps=eps, norm="Linf", version="standard", seed=seed, device=device)
    targets = min(STANDARD_TARGET_CLASSES, n_classes - 1)
    for part in (attack.apgd, attack.apgd_targeted, attack.fab):
        part.n_iter = iterations
    attack.apgd_targeted.n_target_classes = targets
    attack.fab.n_target_classes = targets
    attack.square.n_queries = square_queries
    return attack, targets


def _autoattack_batch(attack, model, xb: torch.Tensor, yb: torch.Tensor, counts: dict[str, int]) -> torch.Tensor:
    """Run the ensemble on one batch, each attack on the survivors of the ones before; add the survivors to ``counts``."""
    robust = _correct(model, xb, yb)
    counts["clean"] += int(robust.sum())
    for name in counts:
        if name == "clean":
            continue
        index = robust.nonzero().flatten()
        if len(index):
            attack.attacks_to_run = [name]  # one attack at a time, as the library's run_standard_evaluation_individual
            _, predicted = attack.run_standard_evaluation(xb[index], yb[index], batch_size=len(index))
            robust[index] = predicted.to(robust.device) == yb[index]
        counts[name] += int(robust.sum())
    return robust.cpu()


def _autoattack_robust(model, x, y, device, eps, n_classes, seed, batch_size, progress, iterations, square_queries):
    attack, targets = _autoattack(model, eps, n_classes, seed, device, iterations, square_queries)
    order = tuple(attack.attacks_to_run)
    counts = dict.fromkeys(("clean", *order), 0)
    robust = torch.zeros(len(y), dtype=torch.bool)
    library_logger = logging.getLogger(_LIBRARY_LOGGER)
    collector, propagate = _CollectWarnings(), library_logger.propagate
    library_logger.addHandler(collector)
    library_logger.propagate = False  # the library's warnings go to the description, not to stderr
    try:
        for part in _batches(len(y), batch_size):
            robust[part] = _autoattack_batch(attack, model, x[part].to(device), y[part].to(device), counts)
            if progress is not None:
                progress(part.stop, len(y))
    finally:
        library_logger.removeHandler(collector)
        library_logger.propagate = propagate
    standard = (iterations, square_queries, targets) == (STANDARD_ITERATIONS, STANDARD_SQUARE_QUERIES, STANDARD_TARGET_CLASSES)
    description = {
        "name": "AutoAttack",
        "version": "standard",
        "standard_budget": standard,
        "library": AUTOATTACK_LIBRARY,
        "library_version": metadata.version(AUTOATTACK_LIBRARY),
        "reference": "Croce & Hein, ICML 2020, arXiv:2003.01690 (RobustBench's evaluation)",
        "attacks": list(order),
        "iterations": {name: iterations for name in WHITE_BOX},
        "square_queries": square_queries,
        "restarts": dict.fromkeys(order, 1),
        "target_classes": {"apgd-t": targets, "fab-t": targets},
        "robust_after": counts,
        "accuracy_after": {name: count / len(y) for name, count in counts.items()},
        "clean_accuracy": counts["clean"] / len(y),
        "library_warnings": collector.messages,
    }
    masking = gradient_masking_check(len(y), counts[WHITE_BOX[-1]] - counts[BLACK_BOX])
    return robust, description, masking


def robust_accuracy(
    model: nn.Module,
    X,
    y,
    eps: float,
    attack: str = "pgd",
    *,
    dataset: str | None = None,
    steps: int | None = None,
    step_size: float | None = None,
    n_images: int | None = None,
    seed: int = 0,
    batch_size: int = 250,
    progress: Progress | None = None,
    iterations: int = STANDARD_ITERATIONS,
    square_queries: int = STANDARD_SQUARE_QUERIES,
) -> RobustAccuracy:
    """Accuracy of ``model`` on the first ``n_images`` of ``(X, y)`` under an l_inf(``eps``) ``attack``.

    ``attack="pgd"``: the paper's PGD (App. J.1); its schedule comes from ``dataset``
    (:func:`paper_pgd_schedule`) unless ``steps`` and ``step_size`` are given.
    ``attack="autoattack"``: AutoAttack standard (per-image worst case over APGD-CE, APGD-T, FAB-T and
    Square), with the gradient-masking check; ``iterations`` and ``square_queries`` below the standard
    100 and 5,000 are for quick checks only (the description then says ``standard_budget: false``).
    ``X``: images (n, C, H, W) in [0, 1], numpy or torch; the model returns logits.
    ``progress(done, total)`` is called after each batch of images.
    """
    check_choice(attack, ATTACKS, "attack")
    eps = _check_eps(eps)
    batch_size = _check_count(batch_size, "batch_size")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise AdvexError(f"seed must be an integer, got {seed!r}")
    x, labels = _check_images(X, y, n_images)
    copied, device = _evaluation_copy(model)
    n_classes = _n_classes(copied, x, labels, device)
    masking = None
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        if attack == "pgd":
            if steps is None or step_size is None:
                if dataset is None:
                    raise AdvexError("PGD needs its schedule: give dataset (the paper's schedule, App. J.1) or steps and step_size")
                steps, step_size = paper_pgd_schedule(dataset, eps)
            steps = _check_count(steps, "steps")
            robust = _pgd_robust(copied, x, labels, device, eps, steps, float(step_size), int(seed), batch_size, progress)
            description = {"name": "PGD", "library": "advex", "library_version": advex.__version__,
                           "reference": "Madry et al., ICLR 2018; schedule of the paper's App. J.1",
                           "steps": steps, "step_size": float(step_size), "restarts": 1, "random_start": True}
        else:
            if n_classes < 4:
                raise AdvexError(f"AutoAttack's targeted attacks need at least 4 classes, the model has {n_classes}; use attack='pgd'")
            robust, description, masking = _autoattack_robust(
                copied, x, labels, device, eps, n_classes, int(seed), batch_size, progress,
                _check_count(iterations, "iterations"), _check_count(square_queries, "square_queries"))
    accuracy = int(robust.sum()) / len(labels)
    description.update(eps=eps, norm="Linf", n_images=len(labels), seed=int(seed), accuracy=accuracy)
    if masking is not None:
        description["masking"] = masking.to_dict()
    mask = robust.to(X.device) if isinstance(X, torch.Tensor) else robust.numpy()
    return RobustAccuracy(accuracy=accuracy, robust=mask, n_images=len(labels), attack=description, masking=masking)
