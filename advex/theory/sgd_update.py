"""Expected SGD update under the l_inf(eps)-adversarial loss (Section 3, eqs. 6 and 9-12).

For a 1-layer model with weights w, one SGD step on a point (x, y) with unit learning
rate changes w_i by Delta w_i = g'(m) (y x_i - sgn(w_i) eps) with m = eps ||w||_1 - y <w, x>
(eq. 9). Theorem 3.1 is about its expectation Delta_i (and g'bar = E g'(m), eq. 10).

Two independent computations of the expectation are offered:

* :func:`monte_carlo_update` - sample means with standard errors (any distribution);
* :func:`exact_update` - for the gaussian family, where m | y is normal with the same
  law for both labels, so g'bar and E[g'(m) y x_i] reduce to 1-D normal integrals:
  the normal CDF/PDF for hinge loss, an exponentially accurate trapezoidal rule for the
  smooth losses, and the Gaussian regression identity (Stein) for the noise term.

Both report, for every feature, ``gap_i = Delta_i - g'bar (a_i - sgn(w_i) eps)``, which is
0 by eq. 11 when w_S = 0 and whose w-weighted group average (eq. 6) is
``Delta_S^w - g'bar (a_S^w - eps)``, <= 0 by eq. 12.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from advex.attacks.closed_form import adversarial_loss_gradient, adversarial_margin
from advex.data.feat_trans import FeatTransDistribution
from advex.losses import HINGE, MarginLoss

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def weighted_average(q: np.ndarray, w: np.ndarray, S: np.ndarray) -> np.ndarray:
    """The w-weighted average of q over S, q_S^w = sum_S w_i q_i / sum_S |w_i| (Definition WTD-AV, eq. 6).

    ``q`` may carry leading axes (..., d); NaN where w_i = 0 for all i in S (undefined).
    """
    w_s = np.asarray(w, dtype=np.float64)[S]
    norm = np.abs(w_s).sum()
    if norm == 0:
        return np.full(np.shape(q)[:-1], np.nan)
    return (np.asarray(q, dtype=np.float64)[..., S] @ w_s) / norm


@dataclass(frozen=True)
class ExpectedUpdate:
    """Expected SGD update of eq. 9 at weights w, per feature and per group S (eqs. 6, 10-12).

    Standard errors are 0 for exact results. ``group_*`` arrays follow ``groups``;
    entries are NaN for groups whose weights are all zero (eq. 6 undefined).
    """

    method: str  # "monte-carlo" or "exact"
    n_samples: int  # Monte Carlo sample size (0 for exact)
    eps: float
    strengths: np.ndarray  # a_i
    w: np.ndarray
    groups: list[np.ndarray]
    delta: np.ndarray  # Delta_i = E[Delta w_i], eq. 9
    delta_se: np.ndarray
    g_prime_bar: float  # eq. 10
    g_prime_bar_se: float
    gap: np.ndarray  # Delta_i - g'bar (a_i - sgn(w_i) eps)
    gap_se: np.ndarray
    group_delta: np.ndarray  # Delta_S^w
    group_delta_se: np.ndarray
    group_gap: np.ndarray  # Delta_S^w - g'bar (a_S^w - eps)
    group_gap_se: np.ndarray

    @property
    def feature_bound(self) -> np.ndarray:
        """g'bar (a_i - sgn(w_i) eps): eq. 11's value where w_i = 0, eq. 12's bound (times sgn w_i) for S = {i}."""
        return self.g_prime_bar * (self.strengths - np.sign(self.w) * self.eps)

    @property
    def group_strength(self) -> np.ndarray:
        """a_S^w, the w-weighted average directed strength of each group (eq. 6 with q = a)."""
        return np.array([weighted_average(self.strengths, self.w, S) for S in self.groups])

    @property
    def group_bound(self) -> np.ndarray:
        """The right-hand side of eq. 12, g'bar (a_S^w - eps), per group."""
        return self.g_prime_bar * (self.group_strength - self.eps)

    @property
    def delta_ci95(self) -> tuple[np.ndarray, np.ndarray]:
        """95% confidence interval of Delta_i (a point for exact results)."""
        return self.delta - Z95 * self.delta_se, self.delta + Z95 * self.delta_se

    @property
    def group_delta_ci95(self) -> tuple[np.ndarray, np.ndarray]:
        """95% confidence interval of Delta_S^w."""
        return self.group_delta - Z95 * self.group_delta_se, self.group_delta + Z95 * self.group_delta_se


def _mean_se(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = samples.shape[0]
    return samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(n)


def _group_matrix(w: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Matrix M (d, n_groups) with column S = w_i / sum_S |w_i| on S: q @ M is eq. 6 for every group."""
    M = np.zeros((w.size, len(groups)))
    for k, S in enumerate(groups):
        norm = np.abs(w[S]).sum()
        if norm > 0:
            M[S, k] = w[S] / norm
        else:
            M[:, k] = np.nan  # eq. 6 undefined when w_S = 0 (or S is empty)
    return M


def _validate(w: np.ndarray, d: int, eps: float) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64).ravel()
    if w.size != d:
        raise ValueError(f"w has {w.size} entries but the distribution has d = {d} features")
    if not np.all(np.isfinite(w)):
        raise ValueError("w must be finite")
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps}")
    return w


def monte_carlo_update(
    dist,
    w: np.ndarray,
    eps: float,
    loss: MarginLoss,
    n: int,
    rng: np.random.Generator,
    groups: list[np.ndarray] | None = None,
    strengths: np.ndarray | None = None,
    sample: tuple[np.ndarray, np.ndarray] | None = None,
) -> ExpectedUpdate:
    """Monte Carlo estimate of the expected update (eq. 9) from n draws of ``dist``, with standard errors.

    ``strengths`` defaults to ``dist.strengths`` (a_i = E[y x_i], eq. 4); ``groups`` to ``dist.groups``.
    A precomputed ``sample`` (X, y) of ``dist`` replaces the n fresh draws (lets callers cache it).
    """
    w = _validate(w, dist.d, eps)
    groups = list(dist.groups if groups is None else groups)
    a = np.asarray(dist.strengths if strengths is None else strengths, dtype=np.float64)
    X, y = dist.sample(n, rng) if sample is None else sample
    n = X.shape[0]
    updates = -adversarial_loss_gradient(loss, w, X, y, eps)  # (n, d), eq. 9
    g_prime = loss.g_prime(adversarial_margin(w, X, y, eps))  # (n,), eq. 10
    gaps = updates - g_prime[:, None] * (a - np.sign(w) * eps)
    M = _group_matrix(w, groups)
    delta, delta_se = _mean_se(updates)
    gp, gp_se = _mean_se(g_prime[:, None])
    gap, gap_se = _mean_se(gaps)
    group_delta, group_delta_se = _mean_se(updates @ M)
    group_gap, group_gap_se = _mean_se(gaps @ M)
    return ExpectedUpdate(
        "monte-carlo", n, float(eps), a, w, groups, delta, delta_se, float(gp[0]), float(gp_se[0]),
        gap, gap_se, group_delta, group_delta_se, group_gap, group_gap_se,
    )


def normal_g_prime_moments(loss: MarginLoss, mu: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(E g'(m), E[g'(m) (m - mu)]) for m ~ N(mu, sigma^2), vectorized over ``mu``.

    Hinge loss: g' = 1[m > -1], so the moments are Phi((mu + 1)/sigma) and sigma phi((mu + 1)/sigma).
    Smooth losses: trapezoidal rule on +-12 sigma with step <= pi / (8 sigma) in standard units,
    exponentially accurate because g' is analytic in a strip of half-width pi around the real axis.
    """
    mu = np.asarray(mu, dtype=np.float64)
    if sigma == 0:
        return loss.g_prime(mu), np.zeros_like(mu)
    if loss.name == HINGE.name:
        t = (mu + 1.0) / sigma
        return ndtr(t), sigma * np.exp(-0.5 * t**2) / np.sqrt(2.0 * np.pi)
    step = min(0.05, np.pi / (8.0 * sigma))
    t = np.linspace(-12.0, 12.0, int(np.ceil(24.0 / step)) + 1)
    weights = np.full(t.size, t[1] - t[0]) * np.exp(-0.5 * t**2) / np.sqrt(2.0 * np.pi)
    weights[[0, -1]] *= 0.5
    gp = loss.g_prime(mu[..., None] + sigma * t)
    return gp @ weights, sigma * (gp @ (weights * t))


def exact_update(
    dist: FeatTransDistribution,
    w: np.ndarray,
    eps: float,
    loss: MarginLoss,
    groups: list[np.ndarray] | None = None,
) -> ExpectedUpdate:
    """Exact expected update (eqs. 9-10) for the gaussian family.

    Given y, x ~ N(a y, Sigma), so m = eps ||w||_1 - y <w, x> ~ N(mu, sigma^2) with
    mu = eps ||w||_1 - <w, a> and sigma^2 = w' Sigma w for both labels. With y x = a + e,
    e ~ N(0, Sigma) and Cov(e, m) = -Sigma w, the regression identity gives
    E[g'(m) y x_i] = g'bar a_i - (Sigma w)_i E[g'(m)(m - mu)] / sigma^2.
    """
    if not isinstance(dist, FeatTransDistribution) or dist.family != "gaussian":
        raise ValueError("exact_update needs a gaussian FeatTransDistribution; use monte_carlo_update otherwise")
    w = _validate(w, dist.d, eps)
    groups = list(dist.groups if groups is None else groups)
    a = dist.strengths
    cov = dist.conditional_covariance()
    cov_w = cov @ w
    sigma = float(np.sqrt(max(w @ cov_w, 0.0)))
    mu = eps * np.abs(w).sum() - w @ a
    gp, gp_centered = normal_g_prime_moments(loss, np.array(mu), sigma)
    slope = float(gp_centered) / sigma**2 if sigma > 0 else 0.0
    gap = -cov_w * slope
    delta = float(gp) * (a - np.sign(w) * eps) + gap
    M = _group_matrix(w, groups)
    zeros_d, zeros_g = np.zeros(dist.d), np.zeros(len(groups))
    return ExpectedUpdate(
        "exact", 0, float(eps), a, w, groups, delta, zeros_d, float(gp), 0.0,
        gap, zeros_d, delta @ M, zeros_g, gap @ M, zeros_g,
    )


def exact_group_sweep(
    dist: FeatTransDistribution,
    w: np.ndarray,
    eps_grid: np.ndarray,
    loss: MarginLoss,
    S: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Delta_S^w and the bound g'bar (a_S^w - eps) of eq. 12 for every eps in ``eps_grid`` (gaussian family)."""
    w = _validate(w, dist.d, 0.0)
    eps_grid = np.asarray(eps_grid, dtype=np.float64)
    cov_w = dist.conditional_covariance() @ w
    sigma = float(np.sqrt(max(w @ cov_w, 0.0)))
    mu = eps_grid * np.abs(w).sum() - w @ dist.strengths
    gp, gp_centered = normal_g_prime_moments(loss, mu, sigma)
    slope = gp_centered / sigma**2 if sigma > 0 else np.zeros_like(mu)
    a_sw = weighted_average(dist.strengths, w, S)
    gap_sw = -weighted_average(cov_w, w, S) * slope
    bound = gp * (a_sw - eps_grid)
    return bound + gap_sw, bound


def monte_carlo_group_sweep(
    dist,
    w: np.ndarray,
    eps_grid: np.ndarray,
    loss: MarginLoss,
    S: np.ndarray,
    n: int,
    rng: np.random.Generator,
    sample: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monte Carlo Delta_S^w, its standard error and the bound of eq. 12 for every eps (common random numbers).

    A precomputed ``sample`` (X, y) of ``dist`` replaces the n fresh draws.
    """
    w = _validate(w, dist.d, 0.0)
    eps_grid = np.asarray(eps_grid, dtype=np.float64)
    X, y = dist.sample(n, rng) if sample is None else sample
    n = X.shape[0]
    w_s = w[S]
    norm = np.abs(w_s).sum()
    if norm == 0:
        nan = np.full(eps_grid.shape, np.nan)
        return nan, nan, nan
    a_sw = weighted_average(dist.strengths, w, S)
    yx_s = (y[:, None] * X[:, S]) @ w_s / norm  # sum_S w_i y x_i / sum_S |w_i|
    margins = eps_grid[:, None] * np.abs(w).sum() - y[None, :] * (X @ w)[None, :]  # (n_eps, n)
    g_prime = loss.g_prime(margins)
    per_sample = g_prime * (yx_s[None, :] - eps_grid[:, None])  # eq. 9 averaged over S (eq. 6)
    delta_sw = per_sample.mean(axis=1)
    se = per_sample.std(axis=1, ddof=1) / np.sqrt(n)
    return delta_sw, se, g_prime.mean(axis=1) * (a_sw - eps_grid)
