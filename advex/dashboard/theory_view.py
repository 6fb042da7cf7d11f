"""The views of the dashboard's Theory page, as pure functions of plain arguments (numbers from advex.theory).

Each function is what one panel recomputes when a widget changes (the page caches them):
:func:`theorem31_view` (expected updates per feature and the eps sweep of eq. 12),
:func:`trajectory_view` (SGD paths), :func:`theorem_e1_view` (the multi-class update of App. E),
:func:`lemma41_view` and :func:`theorem51_view`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from advex.data.feat_trans import (
    FeatTransDistribution,
    MultiClassDistribution,
    graded_distribution,
    graded_multiclass_distribution,
)
from advex.losses import get_loss
from advex.theory.check_basics import z_scores
from advex.theory.ig_identity import ACTIVATIONS, IGComparison, compare_ig
from advex.theory.multiclass import MultiClassUpdate, exact_multiclass_update, monte_carlo_multiclass_update
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
    X, y = graded_distribution(n_strong, n_weak, strong, weak, family).sample(MC_SAMPLES_VIEW, np.random.default_rng([seed, 1]))
    _read_only(X, y)
    return X, y


@lru_cache(maxsize=32)
def _cached_weights(
    n_strong: int, n_weak: int, strong: float, weak: float, family: str, choice: str, scale: float, loss_name: str, seed: int
) -> np.ndarray:
    """:func:`current_weights` of the preset distribution (independent of eps)."""
    w = current_weights(graded_distribution(n_strong, n_weak, strong, weak, family), choice, scale, loss_name, seed)
    _read_only(w)
    return w


@lru_cache(maxsize=32)
def _cached_run(
    eps: float, loss_name: str, family: str, n_strong: int, n_weak: int, strong: float, weak: float,
    n_steps: int, lr: float, seed: int,
) -> Trajectory:
    """One seeded SGD run (the natural run does not change when only the adversarial eps does)."""
    dist = graded_distribution(n_strong, n_weak, strong, weak, family)
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
    dist = graded_distribution(*preset)
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


E1_WEIGHT_CHOICES: tuple[str, ...] = ("own", "shared")
E1_SHARED_WEIGHT = 1.0  # |w_rj| of the other classifier on a shared weak feature
E1_MAX_CLASSES = 6
E1_MC_SAMPLES_VIEW = 10_000  # the joint attack enumerates 2^k vertices per point: fewer draws keep a rerun < 300 ms


def e1_feature_names(n_classes: int, n_weak: int) -> list[str]:
    """Labels "strong, class 1", ..., "weak 1, class 1", ... in the layout of graded_multiclass_distribution."""
    strong = [f"strong, class {c + 1}" for c in range(n_classes)]
    return strong + [f"weak {t // n_classes + 1}, class {t % n_classes + 1}" for t in range(n_classes * n_weak)]


def e1_weights(dist: MultiClassDistribution, choice: str, scale: float, seed: int) -> np.ndarray:
    """W at which Theorem E.1 is evaluated: each class's own features get |w| = scale with random signs, every fourth zero.

    ``shared``: the first weak feature of each class is also used by the next classifier, with weight
    -sgn(a_j) E1_SHARED_WEIGHT, large enough to set the attack's direction on it (Case II for the owner).
    """
    if choice not in E1_WEIGHT_CHOICES:
        raise ValueError(f"unknown weights choice {choice!r}; choose one of {E1_WEIGHT_CHOICES}")
    rng = np.random.default_rng([seed, 5])
    w = scale * rng.choice([-1.0, 1.0], size=dist.d)
    w[::4] = 0.0
    W = np.zeros((dist.n_classes, dist.d))
    W[dist.owners, np.arange(dist.d)] = w
    if choice == "shared":
        k = dist.n_classes
        first_weak = np.arange(k, min(2 * k, dist.d))
        W[(dist.owners[first_weak] + 1) % k, first_weak] = -np.sign(dist.strengths[first_weak]) * E1_SHARED_WEIGHT
    return W


@lru_cache(maxsize=16)
def _cached_e1_sample(n_classes: int, n_weak: int, strong: float, weak: float, family: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The Monte Carlo sample of the Theorem E.1 preset (independent of eps, W and the loss)."""
    dist = graded_multiclass_distribution(n_classes, 1, n_weak, strong, weak, family)
    X, classes = dist.sample(E1_MC_SAMPLES_VIEW, np.random.default_rng([seed, 2]))
    _read_only(X, classes)
    return X, classes


@dataclass(frozen=True)
class TheoremE1View:
    """What the Theorem E.1 panel shows: every feature's owner weight w_{o(j) j}, its expected update and bound."""

    names: list[str]
    update: MultiClassUpdate  # all k x d weights
    owners: np.ndarray  # o(j): the classifier whose weight is shown for feature j
    shared: np.ndarray  # (d,) bool: a classifier other than the owner uses feature j

    def _own(self, table: np.ndarray) -> np.ndarray:
        return table[self.owners, np.arange(len(self.owners))]

    @property
    def weights(self) -> np.ndarray:
        """w_{o(j) j} per feature."""
        return self._own(self.update.W)

    @property
    def rate(self) -> np.ndarray:
        """eq. E.50 per feature: E[sgn(w) Delta w] of the owner weight (E Delta w where w = 0)."""
        return self._own(self.update.rate)

    @property
    def rate_se(self) -> np.ndarray:
        """Standard error of :attr:`rate` (0 when exact)."""
        return self._own(self.update.rate_se)

    @property
    def bound(self) -> np.ndarray:
        """a g'bar_i where w = 0 (part 1), g'bar_i (a sgn(w) - eps) otherwise (eq. E.62)."""
        return self._own(self.update.bound)

    @property
    def case1_share(self) -> np.ndarray:
        """Share of points on which the attack moves x_j against the owner (Case I, eq. E.55)."""
        return self._own(self.update.case1_share)

    @property
    def kinds(self) -> np.ndarray:
        """Per feature: "shared" (another classifier uses it: Case II possible, part 1 void), else "zero weight"
        (part 1) or "Case I" (eq. E.62 with g'bar_i applies)."""
        zero = self.weights == 0
        return np.where(self.shared, "shared", np.where(zero, "zero weight", "Case I")).astype(object)

    def max_excess(self, kind: str) -> tuple[float, float]:
        """max (rate - bound) over the features of one kind and its signed z (inf when exact); NaNs if there are none."""
        mask = self.kinds == kind
        if not np.any(mask):
            return float("nan"), float("nan")
        excess, se = (self.rate - self.bound)[mask], self._own(self.update.gap_se)[mask]
        k = int(np.argmax(excess))
        return float(excess[k]), float(np.sign(excess[k]) * z_scores(excess[k], se[k]))


def theorem_e1_view(
    n_classes: int,
    eps: float,
    strong: float,
    weak: float,
    n_weak: int,
    weights: str,
    loss_name: str,
    family: str,
    weight_scale: float = 0.05,
    seed: int = 0,
) -> TheoremE1View:
    """Theorem E.1 for one strong and ``n_weak`` weak features per class: exact for gaussian own features, else Monte Carlo."""
    if not 3 <= n_classes <= E1_MAX_CLASSES:
        raise ValueError(f"n_classes must lie in 3..{E1_MAX_CLASSES} (Theorem E.1 is about k >= 3 classes), got {n_classes}")
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must lie in [0, 1], got {eps}")
    loss = get_loss(loss_name)
    dist = graded_multiclass_distribution(n_classes, 1, n_weak, strong, weak, family)
    W = e1_weights(dist, weights, weight_scale, seed)
    if family == "gaussian" and weights == "own":
        update = exact_multiclass_update(dist, W, eps, loss)
    else:
        sample = _cached_e1_sample(n_classes, n_weak, strong, weak, family, seed)
        update = monte_carlo_multiclass_update(dist, W, eps, loss, E1_MC_SAMPLES_VIEW, None, sample=sample)
    others = (W != 0) & (np.arange(n_classes)[:, None] != dist.owners[None, :])  # weights of non-owners
    return TheoremE1View(e1_feature_names(n_classes, n_weak), update, dist.owners, others.any(axis=0))


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
