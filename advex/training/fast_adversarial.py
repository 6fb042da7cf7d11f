"""Fast adversarial training: the single-step training attacks and the catastrophic-overfitting guard.

Training with a single-step attack (FGSM with random start, Wong et al., 2020; N-FGSM, de Jorge
et al., 2022; both in :mod:`advex.attacks.pgd`) costs two passes per image instead of the eleven
of PGD-10, but it can *catastrophically overfit* (Wong et al., 2020, Sec. 5.3): within a few
hundred steps the model learns to defeat the single-step attack while its accuracy under a
multi-step PGD falls to about zero.

:class:`OverfittingGuard` watches for that. Every ``every`` steps it measures the model's accuracy
under PGD (``pgd_steps`` steps of ``2.5 * eps / pgd_steps``, random start) at the *target* eps on a
fixed batch of training images held out from training. It keeps the weights (and optimizer state)
of the best check in memory; only a check with clean accuracy at least ``min_clean`` can be the best
(a model that cannot classify clean images, e.g. one that predicts one class, has a meaningless
"robust" accuracy near chance). A collapse is a check whose PGD accuracy is below ``(1 - drop)``
times the best, once the best is at least ``min_best``, and lower than the best by more than
``noise_se`` binomial standard errors of the best on the held-out batch (so that a batch's sampling
noise is no collapse). Then the weights of the best check are restored and the training attack's
step size is multiplied by ``step_scale``; after ``max_rollbacks`` rollbacks, the next collapse
restores the best weights and stops training. Every check and event is recorded.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from advex.attacks.pgd import fgsm_rs_attack, n_fgsm_attack, pgd_attack
from advex.errors import AdvexError

SINGLE_STEP_ATTACKS = ("fgsm-rs", "n-fgsm")
ATTACK_REFERENCES = {
    "fgsm-rs": "FGSM with random start: Wong, Rice & Kolter, Fast is better than free, ICLR 2020",
    "n-fgsm": "N-FGSM: de Jorge et al., Make some noise, NeurIPS 2022",
}
FGSM_RS_STEP = 1.25  # Wong et al.'s alpha, relative to eps
N_FGSM_NOISE = 2.0  # de Jorge et al.'s k: noise U(-k eps, k eps)
GUARD_PGD_RELATIVE_STEP = 2.5  # PGD of k steps of 2.5 * eps / k (Madry et al., 2017), as the fast protocol trains


def single_step_attack(name: str, noise: float | None = None) -> Callable[..., torch.Tensor]:
    """``attack(model, x, y, eps, scale, generator)``: single-step training attack ``name``, its step times ``scale``.

    ``noise``: N-FGSM's noise radius relative to eps (default :data:`N_FGSM_NOISE`); FGSM-RS starts
    uniformly in the eps ball and steps :data:`FGSM_RS_STEP` eps.
    """
    if name == "fgsm-rs":
        return lambda model, x, y, eps, scale, generator: fgsm_rs_attack(
            model, x, y, eps, step_size=FGSM_RS_STEP * eps * scale, generator=generator)
    if name == "n-fgsm":
        k = N_FGSM_NOISE if noise is None else noise
        return lambda model, x, y, eps, scale, generator: n_fgsm_attack(
            model, x, y, eps, noise=k * eps, step_size=eps * scale, generator=generator)
    raise AdvexError(f"unknown single-step attack {name!r}; use one of {', '.join(SINGLE_STEP_ATTACKS)}")


def describe_attack(name: str, eps: float, noise: float | None = None) -> dict:
    """The card's description of single-step attack ``name`` at ``eps``: step size, start noise radius, projection."""
    if name == "fgsm-rs":
        step, radius, projected = FGSM_RS_STEP * eps, eps, True
    else:
        step, radius, projected = eps, (N_FGSM_NOISE if noise is None else noise) * eps, False
    return {"method": name, "steps": 1, "step_size": step, "start_noise": radius, "projected": projected,
            "reference": ATTACK_REFERENCES[name]}


@dataclass(frozen=True)
class GuardSettings:
    """When and how the catastrophic-overfitting guard checks, and what counts as a collapse."""

    every: int = 300  # training steps between checks
    images: int = 200  # held-out training images the checks attack
    pgd_steps: int = 10
    drop: float = 0.3  # collapse: PGD accuracy below (1 - drop) x the best so far ...
    min_best: float = 0.1  # ... once the best is at least this
    noise_se: float = 3.0  # ... and lower than the best by more than this many binomial standard errors
    min_clean: float = 0.5  # a check can be the best only with at least this clean accuracy
    max_rollbacks: int = 2  # the next collapse restores the best weights and stops training
    step_scale: float = 0.5  # the training attack's step size is multiplied by this at each rollback


def _state_copy(module_or_optimizer) -> dict:
    return copy.deepcopy(module_or_optimizer.state_dict())


class OverfittingGuard:
    """Catastrophic-overfitting guard on a held-out batch ``(X, y)`` at ``eps`` (see the module docstring)."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, eps: float, settings: GuardSettings, seed: int = 0) -> None:
        if len(y) == 0:
            raise AdvexError("the overfitting guard needs at least one held-out image")
        self.X, self.y, self.eps, self.settings, self.seed = X, y, float(eps), settings, seed
        self.best_accuracy, self.best_step = -1.0, None
        self.rollbacks, self.step_scale = 0, 1.0
        self.checks: list[dict] = []
        self.events: list[dict] = []
        self._best_model: dict | None = None
        self._best_optimizer: dict | None = None

    def measure(self, model: nn.Module) -> tuple[float, float]:
        """(clean accuracy, PGD accuracy) of ``model`` on the held-out batch, in eval mode and float32."""
        was_training = model.training
        model.eval()
        try:
            steps = self.settings.pgd_steps
            generator = torch.Generator(device=self.X.device).manual_seed(self.seed * 7_919 + 1)
            adversarial = pgd_attack(model, self.X, self.y, self.eps, steps, GUARD_PGD_RELATIVE_STEP * self.eps / steps,
                                     generator=generator)
            with torch.no_grad():
                clean = (model(self.X).argmax(1) == self.y).float().mean().item()
                robust = (model(adversarial).argmax(1) == self.y).float().mean().item()
        finally:
            model.train(was_training)
        return clean, robust

    def collapsed(self, robust: float) -> bool:
        """Whether PGD accuracy ``robust`` is a collapse relative to the best check so far."""
        s, best = self.settings, self.best_accuracy
        if self.best_step is None or best < s.min_best:
            return False
        noise = s.noise_se * math.sqrt(best * (1 - best) / len(self.y))
        return robust < (1 - s.drop) * best and best - robust > noise

    def check(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[str, dict]:
        """Measure, then keep training ("ok"), roll back to the best weights ("rollback") or stop ("stop").

        Returns the action and the check's record (step, clean and PGD accuracy, action).
        """
        clean, robust = self.measure(model)
        action = "ok"
        if self.collapsed(robust):
            self.restore(model, optimizer)
            self.rollbacks += 1
            if self.rollbacks > self.settings.max_rollbacks:
                action = "stop"
            else:
                action = "rollback"
                self.step_scale *= self.settings.step_scale
            self.events.append({"step": step, "action": action, "pgd_accuracy": robust, "clean_accuracy": clean,
                                "best_pgd_accuracy": self.best_accuracy, "restored_step": self.best_step,
                                "step_scale": self.step_scale})
        elif robust >= self.best_accuracy and clean >= self.settings.min_clean:
            self.best_accuracy, self.best_step = robust, step
            self._best_model, self._best_optimizer = _state_copy(model), _state_copy(optimizer)
        record = {"step": step, "clean_accuracy": clean, "pgd_accuracy": robust, "action": action}
        self.checks.append(record)
        return action, record

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Load the weights and optimizer state of the best check (nothing happens before the first check)."""
        if self._best_model is not None:
            model.load_state_dict(self._best_model)
            optimizer.load_state_dict(self._best_optimizer)

    def summary(self) -> dict:
        """What the card records: the settings, every check, the events, the best check and the final step scale."""
        return {"settings": asdict(self.settings), "eps": self.eps, "held_out_images": len(self.y),
                "pgd": f"{self.settings.pgd_steps} steps of {GUARD_PGD_RELATIVE_STEP} eps / {self.settings.pgd_steps}, "
                       "random start",
                "best_pgd_accuracy": self.best_accuracy if self.best_step is not None else None,
                "best_step": self.best_step, "rollbacks": self.rollbacks, "step_scale": self.step_scale,
                "events": list(self.events), "checks": list(self.checks)}

    def state_dict(self) -> dict:
        """Everything needed to resume the guard from a checkpoint (best weights included)."""
        return {"best_accuracy": self.best_accuracy, "best_step": self.best_step, "rollbacks": self.rollbacks,
                "step_scale": self.step_scale, "checks": list(self.checks), "events": list(self.events),
                "best_model": self._best_model, "best_optimizer": self._best_optimizer}

    def load_state_dict(self, state: dict) -> None:
        self.best_accuracy, self.best_step = float(state["best_accuracy"]), state["best_step"]
        self.rollbacks, self.step_scale = int(state["rollbacks"]), float(state["step_scale"])
        self.checks, self.events = list(state["checks"]), list(state["events"])
        self._best_model, self._best_optimizer = state["best_model"], state["best_optimizer"]
