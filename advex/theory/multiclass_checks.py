"""The checks of Theorem E.1 (App. E, multi-class one-vs-all models), registered in :mod:`advex.theory.checks`.

Part 1 (w_ij = 0 => E Delta w_ij = a_ij g'bar_i) and part 2 in its Case-I form (eq. E.62:
E[sgn(w_ij) Delta w_ij] <= g'bar_i (a_ij sgn(w_ij) - eps)) are checked where the proof's hypotheses
hold: the pair (i, j) satisfies FEAT-EXP and FEAT-INDEP (i owns feature j, or a_j = 0) and, in
part 2, no other classifier uses feature j, so the joint attack always moves x_j against
classifier i (Case I, eq. E.55); part 1 needs the whole column j to be zero, else delta*_j != 0.
The other features may be shared, so the attack on them is a genuine multi-class trade-off.
Controls show the limits: a too-tight bound, a feature shared with another classifier (Case II
on part of the points, where the theorem needs the constant g*_i of DIST-EXPC, eqs. E.44-E.49,
which is not checked), and pairs without FEAT-EXP.
"""

from __future__ import annotations

import numpy as np

from advex.data.feat_trans import MultiClassDistribution, graded_multiclass_distribution
from advex.losses import LOSSES, MarginLoss
from advex.theory import check_basics
from advex.theory.check_basics import Z_TOL, CheckResult, z_scores
from advex.theory.multiclass import MultiClassUpdate, exact_multiclass_update, monte_carlo_multiclass_update
from advex.theory.trajectories import seeded_multiclass_run

FAMILY_LOSS = {"uniform": "logistic", "laplace": "hinge", "bernoulli": "softplus_hinge"}  # one MC run each


def random_multiclass_distribution(family: str, rng: np.random.Generator, k: int = 4, d: int = 5) -> MultiClassDistribution:
    """k classes, d features owned by classes 0, 1, ..., k-1, 0, ...; random strengths and noise, the last a = 0."""
    noise = rng.uniform(0.5, 1.5, size=d)
    strengths = rng.uniform(-0.6, 0.6, size=d) * (noise if family == "bernoulli" else 1.0)
    strengths[-1] = 0.0  # pure noise: FEAT-EXP holds for every classifier
    return MultiClassDistribution(k, np.arange(d) % k, strengths, family, noise)


def owner_weights(dist: MultiClassDistribution, rng: np.random.Generator, shared: np.ndarray | None = None) -> np.ndarray:
    """Random W in which each feature is used by its owner only, except the ``shared`` features, used by every classifier."""
    W = np.zeros((dist.n_classes, dist.d))
    W[dist.owners, np.arange(dist.d)] = rng.normal(scale=0.7, size=dist.d)
    if shared is not None:
        W[:, shared] = rng.normal(scale=0.7, size=(dist.n_classes, len(shared)))
    return W


def _mc(dist, W, eps, loss, rng) -> MultiClassUpdate:
    return monte_carlo_multiclass_update(dist, W, eps, loss, check_basics.MC_SAMPLES, rng)


def part1_violation(u: MultiClassUpdate, mask: np.ndarray) -> float:
    """Largest deviation from part 1 (E Delta w_ij = a_ij g'bar_i) over ``mask``: rel. error if exact, else z."""
    if np.any(u.W[mask] != 0):
        raise ValueError("part 1 of Theorem E.1 applies only to zero weights")
    if u.method == "exact":  # relative to g'bar_i |a_j|, the size of the owner's update (a_ij may be 0)
        scale = u.g_prime_bar[:, None] * np.abs(u.strengths).max(axis=0, keepdims=True)
        return float(np.max(np.abs(u.gap[mask]) / np.maximum(scale[mask], 1e-12)))
    return float(np.max(z_scores(u.gap[mask], u.gap_se[mask])))


def part2_violation(u: MultiClassUpdate, mask: np.ndarray, extra_eps: float = 0.0) -> float:
    """Largest excess of E[sgn(w_ij) Delta w_ij] over g'bar_i (a_ij sgn(w_ij) - (1 + extra_eps) eps) (eq. E.62) on ``mask``.

    Exact: in units of g'bar_i; Monte Carlo: signed z (the extra term's error added, which over-states the s.e.).
    ``extra_eps`` > 0 tightens the bound (a control).
    """
    if np.any(u.W[mask] == 0):
        raise ValueError("part 2 of Theorem E.1 applies only to non-zero weights")
    excess = u.gap + extra_eps * u.eps * u.g_prime_bar[:, None]
    if u.method == "exact":
        return float(np.max((excess / u.g_prime_bar[:, None])[mask]))
    se = u.gap_se + extra_eps * u.eps * u.g_prime_bar_se[:, None]
    return float(np.max((np.sign(excess) * z_scores(excess, se))[mask]))


# ---- the checks -----------------------------------------------------------------------------------


def check_e1_mc_matches_exact(loss: MarginLoss, rng: np.random.Generator) -> CheckResult:
    """Monte Carlo (joint attack found by search) and exact expected updates agree: E Delta w_ij, g'bar_i, gaps (eqs. E.50-E.54)."""
    dist = random_multiclass_distribution("gaussian", rng)
    W = np.zeros((dist.n_classes, dist.d))
    users = rng.integers(dist.n_classes, size=dist.d)  # any one classifier per feature, owner or not
    W[users, np.arange(dist.d)] = rng.normal(scale=0.7, size=dist.d) * (rng.random(dist.d) < 0.8)
    eps = float(rng.uniform(0.05, 0.8))
    mc, ex = _mc(dist, W, eps, loss, rng), exact_multiclass_update(dist, W, eps, loss)
    # g' lies in [0, 1]; where no draw saw g' < 1 (hinge, P ~ 1e-7) the s.e. is 0: floor it at 1/n (rule of three)
    gp_se = np.maximum(mc.g_prime_bar_se, 1.0 / mc.n_samples)
    z = np.concatenate([z_scores(mc.delta - ex.delta, mc.delta_se).ravel(), z_scores(mc.g_prime_bar - ex.g_prime_bar, gp_se),
                        z_scores(mc.gap - ex.gap, mc.gap_se).ravel()])
    return CheckResult(f"E.1 update MC = exact [{loss.name}]", "eq. E.50-E.54", "max |MC - exact| / s.e.", float(z.max()),
                       Z_TOL, bool(z.max() <= Z_TOL), f"k=4, d=5, eps={eps:.3f}, n={check_basics.MC_SAMPLES}")


def check_e1_part1(method: str, family: str, rng: np.random.Generator) -> CheckResult:
    """Theorem E.1 part 1: a zero column j gives E Delta w_ij = a_ij g'bar_i for every FEAT-EXP pair (i, j).

    Exact: all three losses, own-feature weights, each column zero in turn. Monte Carlo: one loss, one
    zero column, all other features shared by every classifier (a joint attack).
    """
    worst = 0.0
    losses = list(LOSSES.values()) if method == "exact" else [LOSSES[FAMILY_LOSS[family]]]
    for loss in losses:
        dist = random_multiclass_distribution(family, rng)
        columns = range(dist.d) if method == "exact" else [int(rng.integers(dist.d))]
        for j in columns:
            shared = None if method == "exact" else np.delete(np.arange(dist.d), j)
            W = owner_weights(dist, rng, shared)
            W[:, j] = 0.0
            eps = float(rng.uniform(0.0, 1.0))
            u = exact_multiclass_update(dist, W, eps, loss) if method == "exact" else _mc(dist, W, eps, loss, rng)
            mask = np.zeros_like(W, dtype=bool)
            mask[:, j] = dist.feat_exp_holds()[:, j]
            worst = max(worst, part1_violation(u, mask))
    tol = 1e-9 if method == "exact" else Z_TOL
    measure = "max rel. error" if method == "exact" else "max z = |Delta_ij - a_ij g'bar_i| / s.e."
    detail = "3 losses, each column in turn" if method == "exact" else f"{losses[0].name}, other features shared"
    return CheckResult(f"E.1 part 1: zero weight grows [{method}, {family}]", "Thm E.1 (1), eq. E.51", measure, worst, tol,
                       bool(worst <= tol), detail)


def check_e1_part2(method: str, family: str, rng: np.random.Generator, n_draws: int = 1) -> CheckResult:
    """Theorem E.1 part 2, Case I: E[sgn(w_ij) Delta w_ij] <= g'bar_i (a_ij sgn(w_ij) - eps) for own features (eq. E.62).

    Exact: own-feature weights only (separable attack). Monte Carlo: features 0 and 1 used by their
    owner only, the others by every classifier. Own weights are scaled by 10^U(-3, 0), so some bounds are nearly tight.
    """
    worst = -np.inf
    losses = list(LOSSES.values()) if method == "exact" else [LOSSES[FAMILY_LOSS[family]]]
    for loss in losses:
        for _ in range(n_draws):
            dist = random_multiclass_distribution(family, rng)
            own = np.arange(dist.d) if method == "exact" else np.array([0, 1])
            W = owner_weights(dist, rng, None if method == "exact" else np.arange(2, dist.d))
            W[dist.owners[own], own] *= 10.0 ** rng.uniform(-3, 0, size=own.size)  # small |w_ij|: E.62 nearly tight
            eps = float(rng.uniform(0.0, 1.0))
            u = exact_multiclass_update(dist, W, eps, loss) if method == "exact" else _mc(dist, W, eps, loss, rng)
            mask = np.zeros_like(W, dtype=bool)
            mask[dist.owners[own], own] = True
            worst = max(worst, part2_violation(u, mask & (W != 0)))
    tol = 1e-10 if method == "exact" else Z_TOL
    measure = "max (rate - bound) / g'bar_i" if method == "exact" else "max signed z of rate - bound"
    detail = f"3 losses x {n_draws} draws" if method == "exact" else f"{losses[0].name}, 3 of 5 features shared"
    return CheckResult(f"E.1 part 2: bound, Case I [{method}, {family}]", "eq. E.62", measure, worst, tol,
                       bool(worst <= tol), detail)


def check_e1_weak_weights(rng: np.random.Generator, eps: float = 0.3, t: float = 1e-2) -> CheckResult:
    """Weak (0 < a sgn(w) < eps) and misaligned own weights shrink under eps (E.62 < 0); weak ones grow at eps = 0.

    k = 4 classes, one strong (a = 1) and one weak (a = 0.1) feature per class, |w_ij| = t, gaussian, exact.
    """
    dist = graded_multiclass_distribution(4, 1, 1, strong=1.0, weak=0.1)
    weak = np.abs(dist.strengths) < eps
    worst_adv, worst_nat = -np.inf, np.inf
    for loss in LOSSES.values():
        signs = rng.choice([-1.0, 1.0], size=dist.d)
        W = np.zeros((dist.n_classes, dist.d))
        W[dist.owners, np.arange(dist.d)] = t * signs * np.sign(dist.strengths)  # aligned where signs = +1
        aligned = signs > 0
        adv, nat = exact_multiclass_update(dist, W, eps, loss), exact_multiclass_update(dist, W, 0.0, loss)
        j = np.arange(dist.d)
        rate_adv = adv.rate[dist.owners, j] / adv.g_prime_bar[dist.owners]
        rate_nat = nat.rate[dist.owners, j] / nat.g_prime_bar[dist.owners]
        shrinking = (weak & aligned) | ~aligned
        worst_adv = max(worst_adv, float(np.max(rate_adv[shrinking])))
        if np.any(weak & aligned):
            worst_nat = min(worst_nat, float(np.min(rate_nat[weak & aligned])))
    passed = worst_adv < 0 < worst_nat
    return CheckResult("E.1 weak weights shrink (adv) / grow (natural)", "eq. E.62", "max rate / g'bar_i under eps",
                       worst_adv, 0.0, bool(passed),
                       f"k=4, a in (1, 0.1), eps={eps}, |w|={t:g}; min weak aligned rate at eps=0: {worst_nat:.3g} (> 0)")


def check_e1_pruning(rng: np.random.Generator, eps: float = 0.3) -> CheckResult:
    """SGD of 3 one-vs-all classifiers: adversarial training prunes the weak features, natural training keeps them.

    r = (mean |w_ij| over weak / over strong features) adversarial over natural, weights averaged over
    the last quarter of the run; passes if r <= 0.25 and the Gini of |W| is higher under adversarial training.
    """
    dist = graded_multiclass_distribution(3, 1, 2, strong=1.0, weak=0.1)
    strong = np.abs(dist.strengths) >= 1.0
    worst, gini_ok = 0.0, True
    for loss in LOSSES.values():
        seed = int(rng.integers(1 << 31))
        nat, adv = (seeded_multiclass_run(dist, e, loss, seed=seed) for e in (0.0, eps))
        ratio = [np.abs(run.final_weights[:, ~strong]).mean() / np.abs(run.final_weights[:, strong]).mean() for run in (nat, adv)]
        worst = max(worst, ratio[1] / ratio[0])
        gini_ok &= bool(adv.weight_gini[-1] > nat.weight_gini[-1])
    return CheckResult("E.1 SGD prunes weak features, k=3 (adv vs natural)", "Thm E.1, eq. E.54",
                       "(weak/strong |w|) adv / natural", worst, 0.25, bool(worst <= 0.25 and gini_ok),
                       f"3 classes x (1 strong a=1, 2 weak a=0.1), eps={eps}; Gini(|W|) higher under adv: {gini_ok}")


# ---- controls: cases outside the hypotheses, which must be caught --------------------------------


def control_e1_wrong_bound(rng: np.random.Generator) -> CheckResult:
    """A too-tight bound g'bar_i (a_ij sgn(w_ij) - 2 eps) must be violated by small own weights (E.62 nearly tight)."""
    dist = random_multiclass_distribution("gaussian", rng)
    W = owner_weights(dist, rng, np.arange(2, dist.d))
    W[dist.owners[:2], [0, 1]] *= 1e-3
    u = _mc(dist, W, 0.4, LOSSES["logistic"], rng)
    mask = np.zeros_like(W, dtype=bool)
    mask[dist.owners[:2], [0, 1]] = True
    z_true, z_tight = part2_violation(u, mask), part2_violation(u, mask, extra_eps=1.0)
    return CheckResult("control: E.1 too-tight bound is caught", "eq. E.62 with 2 eps", "min z of the violation",
                       z_tight, Z_TOL, bool(z_tight > Z_TOL and z_true <= Z_TOL), f"true bound: z = {z_true:.1f}")


def control_e1_shared_feature(rng: np.random.Generator) -> CheckResult:
    """A feature that another classifier uses more strongly: delta*_j follows that classifier (Case II on part of
    the points), and both E.62 with g'bar_i (small w_ij) and part 1 (w_ij = 0) must be seen to fail.

    Feature 0 belongs to class 0 (a = 0.3 < eps = 0.6); classifier 1 weighs it with -1.5; classifier 0 also
    uses feature 1 of class 1, so its margin depends on y_0 y_1, the sign of delta*_0 y_0.
    """
    dist = MultiClassDistribution(4, np.array([0, 1, 2, 3, 0]), np.array([0.3, 0.6, -0.4, 0.5, 0.0]))
    loss = LOSSES["logistic"]
    W = np.array([[0.05, 2.0, 0.0, 0.0, 0.3],  # feature 0 belongs to class 0; classifier 1 leans on it much harder
                  [-1.5, 0.8, 0.0, 0.0, 0.0],
                  [0.0, 0.0, -0.8, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 0.8, 0.0]])
    u_small = _mc(dist, W, 0.6, loss, rng)
    W[0, 0] = 0.0
    u_zero = _mc(dist, W, 0.6, loss, rng)
    mask = np.zeros_like(W, dtype=bool)
    mask[0, 0] = True
    z_bound, z_part1 = part2_violation(u_small, mask), part1_violation(u_zero, mask)
    value = min(z_bound, z_part1)
    return CheckResult("control: E.1 shared feature (Case II) is caught", "eq. E.62, Thm E.1 (1) without Case I",
                       "min z of the violations", value, Z_TOL, bool(value > Z_TOL),
                       f"z(E.62)={z_bound:.1f} with Case I on {u_small.case1_share[0, 0]:.0%} of points, z(part 1)={z_part1:.1f}")


def control_e1_feat_exp(rng: np.random.Generator) -> CheckResult:
    """Pairs (i, j) with i not the owner of j break FEAT-EXP (k >= 3): part 1 with a_ij = E[y_i x_j] must fail.

    Class 0 owns features 0-3; classifier i = 1, 2, 3 uses feature i, so its margin depends on y_i y_0 and
    E[g'(m_i) y_i x_0] = a_0 E[g'(m_i) y_i y_0] differs from a_i0 g'bar_i (column 0 zero, exact).
    """
    dist = MultiClassDistribution(4, np.array([0, 0, 0, 0, 1, 2, 3]), rng.uniform(0.3, 0.6, size=7) * rng.choice([-1, 1], 7))
    worst = 0.0
    for loss in LOSSES.values():
        W = np.zeros((dist.n_classes, dist.d))
        W[[1, 2, 3, 1, 2, 3], [1, 2, 3, 4, 5, 6]] = rng.normal(scale=0.7, size=6)
        u = exact_multiclass_update(dist, W, 0.3, loss)
        mask = np.zeros_like(W, dtype=bool)
        mask[1:, 0] = True
        worst = max(worst, part1_violation(u, mask))
    return CheckResult("control: E.1 pairs without FEAT-EXP are caught", "Thm E.1 (1) without FEAT-EXP", "max rel. error",
                       worst, 1e-3, bool(worst > 1e-3), "3 losses, exact, classifiers 1-3 on a feature of class 0")
