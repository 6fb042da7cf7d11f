"""Synthetic data satisfying Assumption FEAT-TRANS (Section 2, eqs. 3-4) and its multi-class form (App. E.1).

:class:`FeatTransDistribution` satisfies Assumption FEAT-TRANS by construction:
``E[x_i | y] = a_i y`` (eq. 3), hence ``E[y x_i] = a_i`` (eq. 4), the *directed
strength* of feature i. Its feature groups S are conditionally independent of
one another given y (the hypothesis of Theorem 3.1); inside a group the noise
may be correlated. Noise around ``a_i y`` comes from one of several families,
coupled through a Gaussian copula so every marginal is exact:

* ``gaussian``  - x_i | y ~ N(a_i y, noise_i^2);
* ``uniform``   - a_i y + noise_i * U(-sqrt 3, sqrt 3)  (conditional std noise_i);
* ``laplace``   - a_i y + noise_i * Laplace(0, 1/sqrt 2) (conditional std noise_i);
* ``bernoulli`` - binary feature x_i = y * noise_i * s_i, s_i = +-1 with
  E[s_i] = a_i / noise_i (needs |a_i| <= noise_i), like a centred one-hot column.

:class:`ViolatingDistribution` deliberately breaks the hypotheses (untranslated
features: E[x_i | y] = a_i y + b_i; or noise shared across groups, so groups are
no longer conditionally independent) so tests can show that checks can fail.

:class:`MultiClassDistribution` has k classes with one-vs-all labels y_i (App. E.1):
feature j is a FEAT-TRANS feature of its owner's problem, x_j = a_j y_{o(j)} + noise_j.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

FAMILIES: tuple[str, ...] = ("gaussian", "uniform", "laplace", "bernoulli")


def singleton_groups(d: int) -> list[np.ndarray]:
    """Every feature its own group: the features are conditionally independent given y."""
    return [np.array([i]) for i in range(d)]


def contiguous_groups(sizes: list[int]) -> list[np.ndarray]:
    """Groups of consecutive features with the given sizes, e.g. [2, 3] -> [[0,1], [2,3,4]]."""
    bounds = np.cumsum([0, *sizes])
    return [np.arange(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]


def graded_strengths(
    n_strong: int,
    n_weak: int,
    strong: float = 1.0,
    weak: float = 0.05,
    alternate_signs: bool = False,
) -> np.ndarray:
    """The "a few strong, many weak" preset of directed strengths a_i (eq. 4).

    The first ``n_strong`` features have |a_i| = ``strong``, the next ``n_weak``
    have |a_i| = ``weak``. With ``alternate_signs`` every second feature points
    the other way (a_i < 0), so both aligned and misaligned weights occur.
    """
    if n_strong < 0 or n_weak < 0 or n_strong + n_weak == 0:
        raise ValueError("graded_strengths needs n_strong, n_weak >= 0 with at least one feature")
    a = np.concatenate([np.full(n_strong, float(strong)), np.full(n_weak, float(weak))])
    if alternate_signs:
        a[1::2] *= -1.0
    return a


def _check_groups(groups: list[np.ndarray], d: int) -> None:
    flat = np.concatenate([np.asarray(g, dtype=int).ravel() for g in groups]) if groups else np.array([], int)
    if flat.size != d or not np.array_equal(np.sort(flat), np.arange(d)):
        raise ValueError(f"groups must partition range({d}) (each feature in exactly one group); got {groups!r}")


def _group_correlated_normals(
    n: int,
    groups: list[np.ndarray],
    d: int,
    within: float,
    across: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Standard normals (n, d): corr ``within + across`` inside a group, ``across`` between groups."""
    z = np.sqrt(1.0 - within - across) * rng.standard_normal((n, d))
    if within > 0:
        for g in groups:
            z[:, g] += np.sqrt(within) * rng.standard_normal((n, 1))
    if across > 0:
        z += np.sqrt(across) * rng.standard_normal((n, 1))
    return z


def _latent(
    n: int,
    groups: list[np.ndarray],
    d: int,
    family: str,
    within: float,
    across: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Standard normals (gaussian family) or uniforms (other families) with the copula's dependence."""
    if within == 0 and across == 0:
        return rng.standard_normal((n, d)) if family == "gaussian" else rng.random((n, d))
    z = _group_correlated_normals(n, groups, d, within, across, rng)
    return z if family == "gaussian" else ndtr(z)


def _features(latent: np.ndarray, family: str, a: np.ndarray, scale: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x = a y + noise, the noise's marginal set by ``family`` (quantile transform of the latent uniforms).

    ``y`` is one label per row (n,) or one per feature (n, d) (the owner's label in App. E.1).
    """
    y = y[:, None] if y.ndim == 1 else y
    if family == "gaussian":
        return a * y + scale * latent
    if family == "uniform":
        return a * y + scale * np.sqrt(3.0) * (2.0 * latent - 1.0)
    if family == "laplace":
        u = latent - 0.5
        return a * y - scale * np.sign(u) * np.log1p(-2.0 * np.abs(u)) / np.sqrt(2.0)
    if family == "bernoulli":
        p_plus = 0.5 * (1.0 + a / scale)  # P(s_i = +1) so that E[s_i] = a_i / noise_i
        return y * scale * np.where(latent < p_plus, 1.0, -1.0)
    raise ValueError(f"unknown family {family!r}; choose one of {FAMILIES}")


@dataclass(frozen=True, eq=False)
class FeatTransDistribution:
    """A distribution D of (x, y) satisfying Assumption FEAT-TRANS: E[x_i | y] = a_i y (eq. 3).

    ``groups`` partition the features into sets S that are conditionally
    independent of each other given y; ``within_group_correlation`` (in [0, 1))
    correlates the noise of features inside a group. ``noise`` is the
    conditional standard deviation of x_i (for ``bernoulli``: the value
    magnitude, x_i in {-noise_i, +noise_i}). ``p_positive`` = P(y = +1).
    """

    strengths: np.ndarray
    groups: list[np.ndarray]
    family: str
    noise: float | np.ndarray
    p_positive: float = 0.5
    within_group_correlation: float = 0.0

    def __post_init__(self) -> None:
        a = np.asarray(self.strengths, dtype=np.float64).ravel()
        object.__setattr__(self, "strengths", a)
        object.__setattr__(self, "groups", [np.asarray(g, dtype=int).ravel() for g in self.groups])
        _check_groups(self.groups, a.size)
        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r}; choose one of {FAMILIES}")
        scale = np.broadcast_to(np.asarray(self.noise, dtype=np.float64), a.shape)
        if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
            raise ValueError("noise must be positive and finite for every feature")
        if self.family == "bernoulli" and np.any(np.abs(a) > scale):
            raise ValueError("the bernoulli family needs |a_i| <= noise_i (E[s_i] = a_i/noise_i lies in [-1, 1])")
        if not 0.0 < self.p_positive < 1.0:
            raise ValueError(f"p_positive must lie in (0, 1), got {self.p_positive}")
        if not 0.0 <= self.within_group_correlation < 1.0:
            raise ValueError("within_group_correlation must lie in [0, 1)")

    @property
    def d(self) -> int:
        """Number of features."""
        return self.strengths.size

    @property
    def scale(self) -> np.ndarray:
        """Per-feature noise scale as an array of shape (d,)."""
        return np.broadcast_to(np.asarray(self.noise, dtype=np.float64), self.strengths.shape).copy()

    def sample_labels(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Labels y in {-1, +1} with P(y = +1) = p_positive."""
        return np.where(rng.random(n) < self.p_positive, 1.0, -1.0)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw n points: X float64 of shape (n, d) and y in {-1, +1} of shape (n,)."""
        y = self.sample_labels(n, rng)
        latent = _latent(n, self.groups, self.d, self.family, self.within_group_correlation, 0.0, rng)
        return _features(latent, self.family, self.strengths, self.scale, y), y

    def conditional_covariance(self) -> np.ndarray:
        """Cov(x | y), the same for both labels; exact for the gaussian family (d, d)."""
        if self.family != "gaussian":
            raise ValueError("conditional_covariance is exact only for the gaussian family")
        corr = np.eye(self.d)
        for g in self.groups:
            corr[np.ix_(g, g)] += self.within_group_correlation * (1.0 - np.eye(g.size))
        s = self.scale
        return corr * np.outer(s, s)


def graded_distribution(
    n_strong: int, n_weak: int, strong: float, weak: float, family: str = "gaussian", noise: float = 1.0
) -> FeatTransDistribution:
    """"A few strong, many weak" features of alternating sign (eq. 4), each feature its own group S.

    For the bernoulli family the value magnitude is raised to max |a_i| where needed (|a_i| <= noise_i).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {FAMILIES}")
    strengths = graded_strengths(n_strong, n_weak, strong=strong, weak=weak, alternate_signs=True)
    if family == "bernoulli":
        noise = max(noise, float(np.max(np.abs(strengths))))
    return FeatTransDistribution(strengths, singleton_groups(strengths.size), family, noise)


@dataclass(frozen=True, eq=False)
class ViolatingDistribution:
    """A distribution that breaks the hypotheses of Theorem 3.1, for tests that checks can fail.

    Starts from ``base`` and adds ``offsets`` b_i to every feature, so
    E[x_i | y] = a_i y + b_i breaks Assumption FEAT-TRANS (eq. 3) where b != 0;
    and/or ``cross_group_correlation`` noise shared by all features, so the
    groups are no longer conditionally independent given y.
    """

    base: FeatTransDistribution
    offsets: np.ndarray | float = 0.0
    cross_group_correlation: float = 0.0
    family: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", self.base.family)
        rho = self.cross_group_correlation
        if not 0.0 <= rho < 1.0 - self.base.within_group_correlation:
            raise ValueError("cross_group_correlation must lie in [0, 1 - within_group_correlation)")

    @property
    def strengths(self) -> np.ndarray:
        """The a_i of the base distribution (no longer E[y x_i] when p_positive != 0.5 and b != 0)."""
        return self.base.strengths

    @property
    def groups(self) -> list[np.ndarray]:
        """The nominal groups (not conditionally independent when cross_group_correlation > 0)."""
        return self.base.groups

    @property
    def d(self) -> int:
        """Number of features."""
        return self.base.d

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw n points: X float64 of shape (n, d) and y in {-1, +1} of shape (n,)."""
        b = self.base
        y = b.sample_labels(n, rng)
        latent = _latent(n, b.groups, b.d, b.family, b.within_group_correlation, self.cross_group_correlation, rng)
        x = _features(latent, b.family, b.strengths, b.scale, y)
        return x + np.broadcast_to(np.asarray(self.offsets, dtype=np.float64), (b.d,)), y


# ---- the multi-class setting of Appendix E.1 ---------------------------------------------------


def one_vs_all_labels(classes: np.ndarray, k: int) -> np.ndarray:
    """Labels y (n, k) of the k one-vs-all classifiers: y_i = +1 iff the class is i, else -1 (App. E.1)."""
    classes = np.asarray(classes)
    return np.where(classes[:, None] == np.arange(k)[None, :], 1.0, -1.0)


@dataclass(frozen=True, eq=False)
class MultiClassDistribution:
    """k classes; feature j is a FEAT-TRANS feature of the one-vs-all problem of its owner o(j) (App. E.1).

    x_j = a_j y_{o(j)} + noise_j, the noise independent across features and of the class (one of
    ``FAMILIES``; ``noise`` as in :class:`FeatTransDistribution`). For the pair (o(j), j), and for
    every pair when a_j = 0, Assumptions FEAT-EXP (E[x_j | y_i] = a_ij y_i) and FEAT-INDEP (x_j
    independent of the other features given y_i) hold. For k >= 3 they cannot hold for all pairs
    unless a = 0: see :meth:`feat_exp_holds`.
    """

    n_classes: int
    owners: np.ndarray
    strengths: np.ndarray
    family: str = "gaussian"
    noise: float | np.ndarray = 1.0
    class_probs: np.ndarray | None = None

    def __post_init__(self) -> None:
        k = int(self.n_classes)
        if k < 2:
            raise ValueError(f"n_classes must be at least 2, got {self.n_classes}")
        a = np.asarray(self.strengths, dtype=np.float64).ravel()
        owners = np.asarray(self.owners, dtype=int).ravel()
        if owners.size != a.size or a.size == 0:
            raise ValueError(f"owners ({owners.size}) and strengths ({a.size}) need one entry per feature (d >= 1)")
        if np.any((owners < 0) | (owners >= k)):
            raise ValueError(f"owners must be class indices in 0..{k - 1}")
        probs = np.full(k, 1.0 / k) if self.class_probs is None else np.asarray(self.class_probs, dtype=np.float64).ravel()
        if probs.size != k or np.any(probs <= 0) or not np.isclose(probs.sum(), 1.0):
            raise ValueError(f"class_probs must be {k} positive numbers summing to 1")
        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r}; choose one of {FAMILIES}")
        scale = np.broadcast_to(np.asarray(self.noise, dtype=np.float64), a.shape)
        if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
            raise ValueError("noise must be positive and finite for every feature")
        if self.family == "bernoulli" and np.any(np.abs(a) > scale):
            raise ValueError("the bernoulli family needs |a_j| <= noise_j")
        for name, value in (("n_classes", k), ("owners", owners), ("strengths", a), ("class_probs", probs / probs.sum())):
            object.__setattr__(self, name, value)

    @property
    def d(self) -> int:
        """Number of features."""
        return self.strengths.size

    @property
    def scale(self) -> np.ndarray:
        """Per-feature noise scale, shape (d,)."""
        return np.broadcast_to(np.asarray(self.noise, dtype=np.float64), self.strengths.shape).copy()

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw n points: X float64 (n, d) and the classes (n,) in 0..k-1."""
        classes = np.minimum(np.searchsorted(np.cumsum(self.class_probs), rng.random(n), side="right"), self.n_classes - 1)
        latent = _latent(n, singleton_groups(self.d), self.d, self.family, 0.0, 0.0, rng)
        y_owner = one_vs_all_labels(classes, self.n_classes)[:, self.owners]
        return _features(latent, self.family, self.strengths, self.scale, y_owner), classes

    def directed_strengths(self) -> np.ndarray:
        """a_ij = E[y_i x_j] (eq. 4 for classifier i), shape (k, d): a_j E[y_i y_{o(j)}], a_j for the owner.

        E[y_i y_o] = 1 - 2 (pi_i + pi_o) for i != o (the labels differ exactly on classes i and o).
        """
        pi = self.class_probs
        same = 1.0 - 2.0 * (pi[:, None] + pi[None, :])
        np.fill_diagonal(same, 1.0)
        return same[:, self.owners] * self.strengths[None, :]

    def feat_exp_holds(self) -> np.ndarray:
        """(k, d) mask of the pairs (i, j) for which FEAT-EXP and FEAT-INDEP hold: i = o(j) or a_j = 0.

        For i != o(j), E[x_j | y_i = -1] mixes the classes and is not -E[x_j | y_i = +1] unless
        pi_i + pi_o = 1, impossible for k >= 3 (App. E.1's assumptions hold for all pairs only if a = 0).
        """
        return (np.arange(self.n_classes)[:, None] == self.owners[None, :]) | (self.strengths[None, :] == 0)


def graded_multiclass_distribution(
    n_classes: int, n_strong: int, n_weak: int, strong: float, weak: float, family: str = "gaussian", noise: float = 1.0
) -> MultiClassDistribution:
    """"A few strong, many weak" features for k classes (App. E.1): n_strong then n_weak features per class.

    Features are laid out strong first (owners 0, 1, ..., k-1, 0, ...), then weak; strengths alternate in sign as
    in :func:`graded_strengths`. The bernoulli family raises the value magnitude to max |a_j| where needed.
    """
    if n_classes < 2 or n_strong < 0 or n_weak < 0:
        raise ValueError("graded_multiclass_distribution needs n_classes >= 2 and n_strong, n_weak >= 0")
    strengths = graded_strengths(n_classes * n_strong, n_classes * n_weak, strong=strong, weak=weak, alternate_signs=True)
    if family == "bernoulli":
        noise = max(noise, float(np.max(np.abs(strengths))))
    return MultiClassDistribution(n_classes, np.arange(strengths.size) % n_classes, strengths, family, noise)
