"""Theorem E.1: the expected SGD update of a one-vs-all 1-layer model under l_inf(eps)-adversarial training (App. E).

k classifiers w_i (rows of W, k x d) with labels y_i = +1 iff the class is i (App. E.1) and total loss
L_T(x, y; W) = sum_i g(-y_i <w_i, x>). The attack delta* maximizes L_T over ||delta||_inf <= eps
(eqs. E.52-E.53); one SGD step on x + delta* changes w_ij by

    Delta w_ij = g'(m_i) y_i (x_j + delta*_j),   m_i = -y_i <w_i, x + delta*>   (eq. E.54).

Writing delta*_j = -tau_ij y_i sgn(w_ij) eps, tau_ij = +1 when the attack on x_j hurts classifier i
(Case I, eq. E.55) and -1 when it helps it (Case II, eq. E.56), the quantity of eq. E.50 is
``rate_ij = sgn(w_ij) Delta w_ij = g'(m_i) (y_i x_j sgn(w_ij) - tau_ij eps)`` (eqs. E.57, E.63), the
growth of |w_ij|; for w_ij = 0 it is Delta w_ij itself (eq. E.50 with the SGD sign). Theorem E.1 says:

1. w_ij = 0: E Delta w_ij = a_ij g'bar_i, with g'bar_i = E g'(m_i) (eq. E.51);
2. w_ij != 0: E rate_ij <= g~ (a_ij sgn(w_ij) - eps), g~ = g'bar_i in Case I (eq. E.62) and the
   constant g*_i of Assumption DIST-EXPC in Case II (eq. E.65).

Computed here: :func:`monte_carlo_multiclass_update` (any :class:`MultiClassDistribution` and W, the
attack found exactly by :func:`multiclass_attack`) and :func:`exact_multiclass_update` (gaussian
features and a W whose columns each have at most one non-zero entry: then the attack separates and
m_i given the class is normal). Both report ``gap = rate - bound`` with the bound g'bar_i (a_ij sgn(w_ij)
- eps) (or a_ij g'bar_i where w_ij = 0), the case-I branch. Two typos of App. E are read as the text
means them: the label vector is y_i = +1 iff the class is i, and eq. E.50's w_ij = 0 case has the SGD sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advex.data.feat_trans import MultiClassDistribution, one_vs_all_labels
from advex.losses import MarginLoss
from advex.theory.sgd_update import Z95, normal_g_prime_moments

MAX_CONTESTED = 12  # features used by >= 2 classifiers: the attack enumerates 2^c vertices
_CHUNK_ELEMENTS = 1 << 22  # loss evaluations per chunk of the vertex search (bounded memory)


def _validate(W: np.ndarray, k: int, d: int, eps: float) -> np.ndarray:
    W = np.array(W, dtype=np.float64)  # a copy: results keep the W they were computed at
    if W.shape != (k, d):
        raise ValueError(f"W must have shape (k, d) = ({k}, {d}), got {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("W must be finite")
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps}")
    return W


def contested_features(W: np.ndarray) -> np.ndarray:
    """Indices of the features that two or more classifiers use (their attack direction is a trade-off)."""
    return np.flatnonzero((np.asarray(W) != 0).sum(axis=0) >= 2)


def multiclass_attack(W: np.ndarray, X: np.ndarray, Y: np.ndarray, eps: float, loss: MarginLoss) -> np.ndarray:
    """delta* (n, d) maximizing L_T(x + delta, y; W) over ||delta||_inf <= eps (eqs. E.52-E.53), exactly.

    A feature that only classifier r uses gets r's worst case -y_r sgn(w_rj) eps (only g(m_r) depends
    on it and g is non-decreasing); a feature no classifier uses gets 0 (sgn(0) = 0, as in eq. 7).
    The contested features are set by enumerating the vertices of their box: L_T is convex in delta,
    so a maximum lies at a vertex. Ties go to the first vertex. A classifier's loss is evaluated once per
    distinct value of its own shift (classifiers that do not use a contested feature are constant and left out).
    """
    W, X, Y = np.asarray(W, dtype=np.float64), np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    used = W != 0
    delta = np.zeros_like(X)
    single = np.flatnonzero(used.sum(axis=0) == 1)
    if single.size:
        owner = used[:, single].argmax(axis=0)
        delta[:, single] = -Y[:, owner] * np.sign(W[owner, single]) * eps
    contested = contested_features(W)
    if contested.size == 0 or eps == 0:
        return delta
    if contested.size > MAX_CONTESTED:
        raise ValueError(f"{contested.size} features are used by several classifiers; the exact attack enumerates "
                         f"2^c vertices and allows c <= {MAX_CONTESTED}: use fewer features or sparser weights")
    c = contested.size
    signs = 1.0 - 2.0 * ((np.arange(2**c)[:, None] >> np.arange(c)[None, :]) & 1)  # (V, c) vertices
    shift = eps * signs @ W[:, contested].T  # (V, k): <w_i, delta_v> on the contested features
    base = -Y * ((X + delta) @ W.T)  # (n, k) margins without the contested perturbation
    # classifier i's term takes one value per distinct shift[:, i] (2^c_i of them): evaluate g there, then gather
    terms = [(i, *np.unique(shift[:, i], return_inverse=True)) for i in range(W.shape[0]) if np.ptp(shift[:, i]) > 0]
    best = np.empty(X.shape[0], dtype=int)
    step = max(1, _CHUNK_ELEMENTS // shift.size)
    for lo in range(0, X.shape[0], step):
        hi = min(lo + step, X.shape[0])
        total = np.zeros((hi - lo, shift.shape[0]))
        for i, values, where in terms:
            total += loss.g(base[lo:hi, i, None] - Y[lo:hi, i, None] * values[None, :])[:, where]
        best[lo:hi] = total.argmax(axis=1)
    delta[:, contested] = eps * signs[best]
    return delta


def attacked_slopes(
    W: np.ndarray, X: np.ndarray, Y: np.ndarray, eps: float, loss: MarginLoss
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The attack delta* (n, d), the attacked points x + delta* (n, d) and g'(m_i) (n, k), m_i = -y_i <w_i, x + delta*>."""
    delta = multiclass_attack(W, X, Y, eps, loss)
    X_adv = X + delta
    return delta, X_adv, loss.g_prime(-Y * (X_adv @ W.T))


def sample_updates(
    W: np.ndarray, X: np.ndarray, Y: np.ndarray, eps: float, loss: MarginLoss
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: Delta w_ij (n, k, d) of eq. E.54, g'(m_i) (n, k) of eq. E.51 and tau_ij (n, k, d) of eqs. E.55-E.56.

    tau_ij = -y_i sgn(w_ij) delta*_j / eps: +1 in Case I, -1 in Case II, 0 where w_ij = 0 or delta*_j = 0.
    """
    delta, X_adv, g_prime = attacked_slopes(W, X, Y, eps, loss)
    updates = (g_prime * Y)[:, :, None] * X_adv[:, None, :]
    tau = -Y[:, :, None] * np.sign(W)[None] * np.sign(delta)[:, None, :]
    return updates, g_prime, tau


def mean_update(W: np.ndarray, X: np.ndarray, Y: np.ndarray, eps: float, loss: MarginLoss) -> np.ndarray:
    """The average of eq. E.54's Delta w_ij over the points (k, d): one minibatch SGD step at unit learning rate."""
    _, X_adv, g_prime = attacked_slopes(W, X, Y, eps, loss)
    return (g_prime * Y).T @ X_adv / X.shape[0]


@dataclass(frozen=True)
class MultiClassUpdate:
    """Expected SGD update of every weight w_ij (eqs. E.50-E.51, E.54); standard errors 0 when exact."""

    method: str  # "monte-carlo" or "exact"
    n_samples: int  # Monte Carlo sample size (0 for exact)
    eps: float
    strengths: np.ndarray  # (k, d) a_ij = E[y_i x_j]
    W: np.ndarray  # (k, d)
    delta: np.ndarray  # (k, d) E Delta w_ij (eq. E.54)
    delta_se: np.ndarray
    g_prime_bar: np.ndarray  # (k,) eq. E.51
    g_prime_bar_se: np.ndarray
    rate: np.ndarray  # (k, d) eq. E.50: E[sgn(w_ij) Delta w_ij], or E Delta w_ij where w_ij = 0
    rate_se: np.ndarray
    gap: np.ndarray  # (k, d) rate - bound
    gap_se: np.ndarray
    case1_share: np.ndarray  # (k, d) P(tau_ij = +1): share of points in Case I (eq. E.55)

    @property
    def bound(self) -> np.ndarray:
        """Theorem E.1 with g~ = g'bar_i: a_ij g'bar_i where w_ij = 0 (part 1), else g'bar_i (a_ij sgn(w_ij) - eps) (eq. E.62)."""
        return self.g_prime_bar[:, None] * _bound_factor(self.strengths, self.W, self.eps)

    @property
    def rate_ci95(self) -> tuple[np.ndarray, np.ndarray]:
        """95% confidence interval of the rate of eq. E.50 (a point for exact results)."""
        return self.rate - Z95 * self.rate_se, self.rate + Z95 * self.rate_se


def _bound_factor(a: np.ndarray, W: np.ndarray, eps: float) -> np.ndarray:
    """a_ij where w_ij = 0 (Theorem E.1, part 1), a_ij sgn(w_ij) - eps otherwise (eq. E.62)."""
    return np.where(W == 0, a, a * np.sign(W) - eps)


def _se(mean: np.ndarray, mean_square: np.ndarray, n: int) -> np.ndarray:
    """Standard error of a sample mean from the first two sample moments (ddof = 1)."""
    return np.sqrt(np.maximum(mean_square - mean**2, 0.0) * n / (n - 1) / n)


def monte_carlo_multiclass_update(
    dist: MultiClassDistribution,
    W: np.ndarray,
    eps: float,
    loss: MarginLoss,
    n: int,
    rng: np.random.Generator | None,
    sample: tuple[np.ndarray, np.ndarray] | None = None,
    strengths: np.ndarray | None = None,
) -> MultiClassUpdate:
    """Monte Carlo estimate of the expected update of every w_ij (eqs. E.50-E.54) from n draws, with standard errors.

    ``strengths`` defaults to a_ij = E[y_i x_j] of ``dist``; a precomputed ``sample`` (X, classes) replaces the draws.
    Every per-point quantity is g'(m_i) times y_i (x_j + delta*_j) or a constant, so the means and standard errors
    come from the moment matrices E[g' y x'], E[g'^2 x'^2], E[g'^2 y x'] (k, d) without (n, k, d) arrays.
    """
    W = _validate(W, dist.n_classes, dist.d, eps)
    a = dist.directed_strengths() if strengths is None else np.asarray(strengths, dtype=np.float64)
    X, classes = dist.sample(n, rng) if sample is None else sample
    n = X.shape[0]
    Y = one_vs_all_labels(classes, dist.n_classes)
    delta, X_adv, gp = attacked_slopes(W, X, Y, eps, loss)
    g_sq = gp**2
    m_u, m_uu, m_gu = (gp * Y).T @ X_adv / n, g_sq.T @ X_adv**2 / n, (g_sq * Y).T @ X_adv / n  # E[u], E[u^2], E[g' u]
    m_g, m_gg = gp.mean(axis=0), g_sq.mean(axis=0)
    s = np.where(W == 0, 1.0, np.sign(W))  # eq. E.50: sgn(w_ij) Delta w_ij, Delta w_ij where w_ij = 0
    b = _bound_factor(a, W, eps)
    rate, gap = s * m_u, s * m_u - b * m_g[:, None]
    gap_sq = m_uu - 2.0 * s * b * m_gu + b**2 * m_gg[:, None]
    pos, neg = (Y > 0).astype(float), (Y < 0).astype(float)
    up, down = (delta > 0).astype(float), (delta < 0).astype(float)
    against_plus, against_minus = (pos.T @ down + neg.T @ up) / n, (pos.T @ up + neg.T @ down) / n  # y_i delta*_j < 0, > 0
    case1 = np.where(W > 0, against_plus, np.where(W < 0, against_minus, 0.0))  # tau_ij = +1 (eq. E.55)
    u_se = _se(m_u, m_uu, n)
    return MultiClassUpdate("monte-carlo", n, float(eps), a, W, m_u, u_se, m_g, _se(m_g, m_gg, n), rate, u_se,
                            gap, _se(gap, gap_sq, n), case1)


def exact_multiclass_update(dist: MultiClassDistribution, W: np.ndarray, eps: float, loss: MarginLoss) -> MultiClassUpdate:
    """Exact expected update for gaussian features and a W with at most one non-zero weight per feature.

    Then delta* depends on the class c only (each feature takes its one user's worst case), and given c,
    x ~ N(mu_c, diag(sigma^2)) with mu_cj = a_j y_{o(j)}, so m_i is normal with mean -y_i <w_i, mu_c + delta*_c>
    and variance sum_j w_ij^2 sigma_j^2. The regression identity E[g'(m) x_j] = mu_cj E g'(m) +
    Cov(x_j, m) E[g'(m)(m - mean)] / Var(m) with Cov(x_j, m_i) = -y_i w_ij sigma_j^2 gives eq. E.54 per class.
    """
    if dist.family != "gaussian":
        raise ValueError("exact_multiclass_update needs gaussian features; use monte_carlo_multiclass_update otherwise")
    k, d = dist.n_classes, dist.d
    W = _validate(W, k, d, eps)
    if contested_features(W).size:
        raise ValueError("exact_multiclass_update needs at most one non-zero weight per feature (a separable attack)")
    labels = one_vs_all_labels(np.arange(k), k)  # labels[c, i] = y_i when the class is c
    mu = labels[:, dist.owners] * dist.strengths[None, :]  # (k classes, d)
    delta_c = multiclass_attack(W, mu, labels, eps, loss)  # (k classes, d), a function of the class only
    var = dist.scale**2
    sd = np.sqrt((W**2) @ var)  # (k classifiers,)
    mean = -labels * ((mu + delta_c) @ W.T)  # (classes, classifiers)
    g0, g1 = np.empty((k, k)), np.empty((k, k))
    for i in range(k):
        g0[:, i], g1[:, i] = normal_g_prime_moments(loss, mean[:, i], float(sd[i]))
    slope = np.divide(g1, sd[None, :] ** 2, out=np.zeros_like(g1), where=sd[None, :] > 0)
    # E[g'(m_i) (x_j + delta*_j) | c] = (mu_cj + delta*_cj) g0 - y_i w_ij sigma_j^2 slope
    moment = (mu + delta_c)[:, None, :] * g0[:, :, None] - labels[:, :, None] * W[None] * var[None, None, :] * slope[:, :, None]
    pi = dist.class_probs
    delta = np.einsum("c,ci,cij->ij", pi, labels, moment)
    gp = pi @ g0
    a = dist.directed_strengths()
    rate = np.where(W == 0, delta, np.sign(W) * delta)
    tau = -labels[:, :, None] * np.sign(W)[None] * np.sign(delta_c)[:, None, :]
    zeros_kd, zeros_k = np.zeros((k, d)), np.zeros(k)
    return MultiClassUpdate("exact", 0, float(eps), a, W, delta, zeros_kd, gp, zeros_k, rate, zeros_kd,
                            rate - gp[:, None] * _bound_factor(a, W, eps), zeros_kd, np.einsum("c,cij->ij", pi, tau > 0))
