"""The computations behind the dashboard's Theory page, as pure functions of plain arguments.

Each function is what one panel recomputes when a widget changes (the page caches them):
:func:`theorem31_view` (expected updates per feature and the eps sweep of eq. 12),
:func:`trajectory_view` (SGD paths), :func:`lemma41_view` and :func:`theorem51_view`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from advex.losses import get_loss
from advex.theory.distributions import FAMILIES, FeatTransDistribution, graded_strengths, singleton_groups
from advex.theory.ig_identity import ACTIVATIONS, IGComparison, compare_ig
from advex.theory.regimes import describe_regimes, feature_regimes
from advex.theory.sgd_update import (
    ExpectedUpdate,
    exact_group_sweep,
    exact_update,
    monte_carlo_group_sweep,
    monte_carlo_update,
    weighted_average,
)
from advex.theory.stable_ig import MAX_VERTEX_DIM, StableIGCheck, check_stable_ig
from advex.theory.trajectories import Trajectory, seeded_run, train_sgd

WEIGHT_CHOICES: tuple[str, ...] = ("zero", "small", "natural")
GROUP_CHOICES: tuple[str, ...] = ("weak", "strong", "all")
MC_SAMPLES_VIEW = 20_000
SWEEP_POINTS = 41


def preset_distribution(
    n_strong: int, n_weak: int, strong: float, weak: float, family: str, noise: float = 1.0
) -> FeatTransDistribution:
    """"A few strong, many weak" features with alternating signs, each feature its own group S."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {FAMILIES}")
    strengths = graded_strengths(n_strong, n_weak, strong=strong, weak=weak, alternate_signs=True)
    if family == "bernoulli":
        noise = max(noise, float(np.max(np.abs(strengths))))  # binary features need |a_i| <= noise
    return FeatTransDistribution(strengths, singleton_groups(strengths.size), family, noise)


def feature_names(n_strong: int, n_weak: int) -> list[str]:
    """Labels "strong 1", ..., "weak 1", ... in feature order."""
    return [f"strong {i + 1}" for i in range(n_strong)] + [f"weak {i + 1}" for i in range(n_weak)]


def current_weights(dist: FeatTransDistribution, choice: str, scale: float, loss_name: str, seed: int) -> np.ndarray:
    """The weights w at which the update is evaluated.

    ``zero``: w = 0 (every feature in the grow regime, eq. 11). ``small``: |w_i| = scale with random
    signs, every fourth weight zero (all four regimes of App. D.2 appear). ``natural``: a model
    trained by natural SGD (eps = 0, 300 steps) on 2000 draws.
    """
    rng = np.random.default_rng(seed)
    if choice == "zero":
        return np.zeros(dist.d)
    if choice == "small":
        w = scale * rng.choice([-1.0, 1.0], size=dist.d)
        w[::4] = 0.0
        return w
    if choice == "natural":
        X, y = dist.sample(2000, rng)
        return train_sgd(X, y, 0.0, get_loss(loss_name), rng, n_steps=300, n_records=2).weights[-1]
    raise ValueError(f"unknown weights choice {choice!r}; choose one of {WEIGHT_CHOICES}")


def group_indices(n_strong: int, n_weak: int, which: str) -> np.ndarray:
    """Indices of the weak, strong or all features (any union of singleton groups is a valid S)."""
    if which == "weak":
        return np.arange(n_strong, n_strong + n_weak)
    if which == "strong":
        return np.arange(n_strong)
    if which == "all":
        return np.arange(n_strong + n_weak)
    raise ValueError(f"unknown group {which!r}; choose one of {GROUP_CHOICES}")


def _read_only(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.setflags(write=False)


@lru_cache(maxsize=32)
def _cached_sample(n_strong: int, n_weak: int, strong: float, weak: float, family: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The Monte Carlo sample of the preset distribution (independent of eps, w and the loss)."""
    X, y = preset_distribution(n_strong, n_weak, strong, weak, family).sample(MC_SAMPLES_VIEW, np.random.default_rng([seed, 1]))
    _read_only(X, y)
    return X, y


@lru_cache(maxsize=32)
def _cached_weights(
    n_strong: int, n_weak: int, strong: float, weak: float, family: str, choice: str, scale: float, loss_name: str, seed: int
) -> np.ndarray:
    """:func:`current_weights` of the preset distribution (independent of eps)."""
    w = current_weights(preset_distribution(n_strong, n_weak, strong, weak, family), choice, scale, loss_name, seed)
    _read_only(w)
    return w


@lru_cache(maxsize=32)
def _cached_run(
    eps: float, loss_name: str, family: str, n_strong: int, n_weak: int, strong: float, weak: float,
    n_steps: int, lr: float, seed: int,
) -> Trajectory:
    """One seeded SGD run (the natural run does not change when only the adversarial eps does)."""
    dist = preset_distribution(n_strong, n_weak, strong, weak, family)
    return seeded_run(dist, eps, get_loss(loss_name), seed=seed, n_steps=n_steps, lr=lr, n_records=41)


@dataclass(frozen=True)
class Theorem31View:
    """Everything the Theorem 3.1 simulator shows for one setting of its widgets."""

    names: list[str]
    update: ExpectedUpdate  # per feature, and for the one group [S] of the sweep
    regimes: np.ndarray  # per feature, App. D.2
    reading: str  # plain-language summary
    group: np.ndarray  # S of the sweep
    eps_grid: np.ndarray
    sweep_delta: np.ndarray  # Delta_S^w at each eps
    sweep_se: np.ndarray  # its standard error (0 when exact)
    sweep_bound: np.ndarray  # g'bar (a_S^w - eps), eq. 12
    a_sw: float  # a_S^w

    @property
    def group_delta_now(self) -> float:
        """Delta_S^w at the current eps (eq. 6 applied to eq. 9); ``update.groups`` is [S]."""
        return float(self.update.group_delta[0])

    @property
    def group_delta_se_now(self) -> float:
        """Standard error of Delta_S^w at the current eps (0 when exact)."""
        return float(self.update.group_delta_se[0])

    @property
    def group_bound_now(self) -> float:
        """The bound g'bar (a_S^w - eps) of eq. 12 at the current eps."""
        return float(self.update.group_bound[0])


def theorem31_view(
    eps: float,
    loss_name: str,
    family: str,
    n_strong: int,
    n_weak: int,
    strong: float,
    weak: float,
    weights: str,
    weight_scale: float = 0.05,
    group: str = "weak",
    eps_max: float = 1.0,
    seed: int = 0,
) -> Theorem31View:
    """Expected updates per feature (exact for gaussian features, else Monte Carlo) and the eps sweep of eq. 12."""
    if not 0.0 <= eps <= eps_max:
        raise ValueError(f"eps must lie in [0, {eps_max}], got {eps}")
    loss = get_loss(loss_name)
    preset = (n_strong, n_weak, strong, weak, family)
    dist = preset_distribution(*preset)
    w = _cached_weights(*preset, weights, weight_scale if weights == "small" else 0.0, loss_name, seed)
    S = group_indices(n_strong, n_weak, group)
    sample = None if family == "gaussian" else _cached_sample(*preset, seed)
    if family == "gaussian":
        update = exact_update(dist, w, eps, loss, groups=[S])
    else:
        update = monte_carlo_update(dist, w, eps, loss, MC_SAMPLES_VIEW, None, groups=[S], sample=sample)
    eps_grid = np.linspace(0.0, eps_max, SWEEP_POINTS)
    a_sw = float(weighted_average(dist.strengths, w, S))  # NaN when w_S = 0
    if np.isnan(a_sw):
        sweep = (np.full(SWEEP_POINTS, np.nan),) * 3
    elif family == "gaussian":
        delta, bound = exact_group_sweep(dist, w, eps_grid, loss, S)
        sweep = (delta, np.zeros(SWEEP_POINTS), bound)
    else:
        sweep = monte_carlo_group_sweep(dist, w, eps_grid, loss, S, MC_SAMPLES_VIEW, None, sample=sample)
    regimes = feature_regimes(dist.strengths, w, eps)
    return Theorem31View(
        names=feature_names(n_strong, n_weak),
        update=update,
        regimes=regimes,
        reading=describe_regimes(dist.strengths, w, eps, update.g_prime_bar),
        group=S,
        eps_grid=eps_grid,
        sweep_delta=sweep[0],
        sweep_se=sweep[1],
        sweep_bound=sweep[2],
        a_sw=a_sw,
    )


def trajectory_view(
    eps: float,
    loss_name: str,
    family: str,
    n_strong: int,
    n_weak: int,
    strong: float,
    weak: float,
    n_steps: int = 400,
    lr: float = 0.1,
    seed: int = 0,
) -> tuple[Trajectory, Trajectory]:
    """Natural and adversarial SGD runs on one seeded sample of the preset distribution (same minibatches)."""
    args = (loss_name, family, n_strong, n_weak, strong, weak, n_steps, lr, seed)
    return _cached_run(0.0, *args), _cached_run(eps, *args)


def lemma41_view(activation: str, d: int, seed: int, baseline: str = "zero") -> tuple[np.ndarray, np.ndarray, np.ndarray, IGComparison]:
    """A random 1-layer network and point: (w, x, u, closed-form vs numerical IG) for Lemma 4.1."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {list(ACTIVATIONS)}")
    if not 1 <= d <= 50:
        raise ValueError(f"d must lie in 1..50, got {d}")
    rng = np.random.default_rng(seed)
    w, x = rng.normal(size=d) * 2.0 / np.sqrt(d), rng.normal(size=d)
    u = np.zeros(d) if baseline == "zero" else rng.normal(scale=0.5, size=d)
    comparison = compare_ig(w, x[None, :], u[None, :], ACTIVATIONS[activation])
    return w, x, u, comparison


def theorem51_view(loss_name: str, eps: float, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, float, StableIGCheck]:
    """A random (w, x, y) and both sides of eq. 18 at it, inner maxima by search."""
    if not 1 <= d <= MAX_VERTEX_DIM:
        raise ValueError(f"d must lie in 1..{MAX_VERTEX_DIM} (the vertex search enumerates 2^d points), got {d}")
    rng = np.random.default_rng(seed)
    w, x, y = rng.normal(size=d), rng.normal(size=d), float(rng.choice([-1.0, 1.0]))
    return w, x, y, check_stable_ig(get_loss(loss_name), w, x, y, eps, rng)
