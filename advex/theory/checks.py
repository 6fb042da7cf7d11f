"""The registry of numerical checks of the theory, run by ``advex theory``; the checks of Theorem 3.1 and Sections 4-5.

Every check returns a :class:`CheckResult`: the equation it tests, the largest violation or
relative error it measured, and the tolerance. Monte Carlo checks compare in units of the
standard error with tolerance ``Z_TOL`` = 4 on ``check_basics.MC_SAMPLES`` draws (see
:mod:`advex.theory.check_basics`); seeds are fixed. Exact checks use floating-point tolerances.
"control" checks run a deliberately broken case (a wrong bound, a distribution that breaks
FEAT-TRANS or conditional independence, a non-convex loss) and pass when the violation IS
detected - evidence that the checks can fail. The checks of Theorem E.1 (App. E) live in
:mod:`advex.theory.multiclass_checks` and are registered here.

The building blocks (:func:`case1_violation`, :func:`bound_violation`, :func:`limit_violation`)
take an :class:`ExpectedUpdate`, so the tests reuse them on broken inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from advex.data.feat_trans import (
    FeatTransDistribution,
    ViolatingDistribution,
    contiguous_groups,
    graded_strengths,
    singleton_groups,
)
from advex.losses import LOSSES, MarginLoss
from advex.theory import check_basics, multiclass_checks
from advex.theory.check_basics import Z_TOL, CheckResult, z_scores
from advex.theory.ig_identity import ACTIVATIONS, compare_ig, random_ig_problem
from advex.theory.regimes import group_regime
from advex.theory.sgd_update import ExpectedUpdate, exact_update, monte_carlo_update
from advex.theory.stable_ig import check_stable_ig
from advex.theory.trajectories import natural_vs_adversarial

BoundFn = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def theorem_bound(g_prime_bar: float, a_sw: np.ndarray, eps: float) -> np.ndarray:
    """The right-hand side of eq. 12: g'bar (a_S^w - eps)."""
    return g_prime_bar * (np.asarray(a_sw) - eps)


def _bound_gap(u: ExpectedUpdate, bound: BoundFn) -> tuple[np.ndarray, np.ndarray]:
    """Delta_S^w - bound(g'bar, a_S^w, eps) per group with a standard error.

    For the theorem's own bound this is the directly estimated ``group_gap``; for another
    bound c g'bar the extra term's error is added (Minkowski), which over-states the s.e.
    """
    shift = theorem_bound(u.g_prime_bar, u.group_strength, u.eps) - bound(u.g_prime_bar, u.group_strength, u.eps)
    extra = np.abs(shift / u.g_prime_bar) * u.g_prime_bar_se if u.g_prime_bar > 0 else np.zeros_like(shift)
    return u.group_gap + shift, u.group_gap_se + extra


def case1_violation(u: ExpectedUpdate, S: np.ndarray) -> tuple[float, float]:
    """Largest deviation from eq. 11 (Delta_i = g'bar a_i, for i in S with w_S = 0) and its tolerance.

    Monte Carlo: max z-score, tolerance Z_TOL. Exact: max relative error, tolerance 1e-9.
    """
    if np.any(u.w[S] != 0):
        raise ValueError("eq. 11 applies only when all weights of S are zero")
    if u.method == "exact":
        scale = np.maximum(np.abs(u.g_prime_bar * u.strengths[S]), 1e-300)
        return float(np.max(np.abs(u.gap[S]) / scale)), 1e-9
    return float(np.max(z_scores(u.gap[S], u.gap_se[S]))), Z_TOL


def bound_violation(u: ExpectedUpdate, bound: BoundFn = theorem_bound) -> tuple[float, float]:
    """Largest excess of Delta_S^w over the bound of eq. 12, over the groups with w_S != 0.

    Monte Carlo: signed z-score max((Delta_S^w - bound) / s.e.), tolerance Z_TOL (one-sided).
    Exact: max (Delta_S^w - bound) / g'bar, tolerance 1e-10. Negative values mean slack.
    """
    gap, se = _bound_gap(u, bound)
    valid = ~np.isnan(gap)
    if not np.any(valid):
        raise ValueError("eq. 12 needs a group with a non-zero weight")
    if u.method == "exact":
        return float(np.max(gap[valid]) / max(u.g_prime_bar, 1e-300)), 1e-10
    return float(np.max(np.sign(gap[valid]) * z_scores(gap[valid], se[valid]))), Z_TOL


def limit_violation(u: ExpectedUpdate, k: int, bound: BoundFn = theorem_bound) -> float:
    """|Delta_S^w - bound| for group k: relative to |bound| if exact, as a z-score if Monte Carlo."""
    gap, se = _bound_gap(u, bound)
    if u.method == "exact":
        return float(abs(gap[k]) / max(abs(bound(u.g_prime_bar, u.group_strength, u.eps)[k]), 1e-300))
    return float(z_scores(gap[k], se[k]))


def with_scaled_group(w: np.ndarray, S: np.ndarray, t: float) -> np.ndarray:
    """w with the weights of S multiplied by t (t -> 0 is the limit of Theorem 3.1, case 2)."""
    w = np.array(w, dtype=np.float64)
    w[S] *= t
    return w


# ---- random problems -------------------------------------------------------------------------


def random_distribution(family: str, rng: np.random.Generator) -> FeatTransDistribution:
    """Groups of sizes 2, 3, 3, 4, within-group correlation 0.5, random strengths and noise scales."""
    d = 12
    noise = rng.uniform(0.5, 1.5, size=d)
    strengths = rng.uniform(-0.6, 0.6, size=d) * (noise if family == "bernoulli" else 1.0)
    return FeatTransDistribution(strengths, contiguous_groups([2, 3, 3, 4]), family, noise, within_group_correlation=0.5)


def random_weights(dist, rng: np.random.Generator, zero_group: int | None = None) -> np.ndarray:
    """Random weights, those of group ``zero_group`` set to zero."""
    w = rng.normal(scale=0.7, size=dist.d)
    if zero_group is not None:
        w[dist.groups[zero_group]] = 0.0
    return w


def _update(dist, w, eps, loss, rng, method: str) -> ExpectedUpdate:
    if method == "exact":
        return exact_update(dist, w, eps, loss)
    return monte_carlo_update(dist, w, eps, loss, check_basics.MC_SAMPLES, rng)


# ---- the checks --------------------------------------------------------------------------------


def check_mc_matches_exact(loss: MarginLoss, rng: np.random.Generator) -> CheckResult:
    """Monte Carlo and exact expected updates agree: Delta_i, g'bar and Delta_S^w (eqs. 6, 9, 10)."""
    dist = random_distribution("gaussian", rng)
    w, eps = random_weights(dist, rng, zero_group=0), float(rng.uniform(0.05, 0.8))
    mc, ex = monte_carlo_update(dist, w, eps, loss, check_basics.MC_SAMPLES, rng), exact_update(dist, w, eps, loss)
    valid = ~np.isnan(ex.group_delta)
    z = np.concatenate([
        z_scores(mc.delta - ex.delta, mc.delta_se),
        z_scores([mc.g_prime_bar - ex.g_prime_bar], [mc.g_prime_bar_se]),
        z_scores(mc.group_delta[valid] - ex.group_delta[valid], mc.group_delta_se[valid]),
    ])
    return CheckResult(
        f"update MC = exact [{loss.name}]", "eq. 9-10, 6", "max |MC - exact| / s.e.", float(z.max()), Z_TOL,
        bool(z.max() <= Z_TOL), f"gaussian d=12, eps={eps:.3f}, n={check_basics.MC_SAMPLES}",
    )


def check_case1(method: str, family: str, rng: np.random.Generator) -> CheckResult:
    """Theorem 3.1 case 1: with w_S = 0, Delta_i = g'bar a_i for i in S (eq. 11), all three losses."""
    worst, tol = 0.0, Z_TOL
    for loss in LOSSES.values():
        dist = random_distribution(family, rng)
        zero_groups = range(len(dist.groups)) if method == "exact" else [int(rng.integers(len(dist.groups)))]
        for k in zero_groups:  # exact: every group in turn; Monte Carlo: one (each costs a sample)
            w = random_weights(dist, rng, zero_group=k)
            value, tol = case1_violation(_update(dist, w, float(rng.uniform(0, 1)), loss, rng, method), dist.groups[k])
            worst = max(worst, value)
    measure = "max rel. error" if method == "exact" else "max z = |Delta_i - g'bar a_i| / s.e."
    return CheckResult(f"case 1 grow from zero [{method}, {family}]", "eq. 11", measure, worst, tol, bool(worst <= tol))


def check_case2_bound(method: str, family: str, rng: np.random.Generator, n_draws: int = 1) -> CheckResult:
    """Theorem 3.1 case 2: Delta_S^w <= g'bar (a_S^w - eps) for every group (eq. 12), all three losses."""
    worst, tol = -np.inf, Z_TOL
    for loss in LOSSES.values():
        for _ in range(n_draws):
            dist = random_distribution(family, rng)
            u = _update(dist, random_weights(dist, rng), float(rng.uniform(0, 1)), loss, rng, method)
            value, tol = bound_violation(u)
            worst = max(worst, value)
    measure = "max (Delta_S^w - bound) / g'bar" if method == "exact" else "max signed z of Delta_S^w - bound"
    return CheckResult(f"case 2 bound [{method}, {family}]", "eq. 12", measure, worst, tol, bool(worst <= tol),
                       f"{3 * n_draws} draws x 4 groups")


def check_case2_limit(method: str, family: str, rng: np.random.Generator, scales=(1e-1, 1e-2, 1e-3)) -> CheckResult:
    """Equality in eq. 12 as w_S -> 0: the gap shrinks with the scale t of w_S (exact) / is within noise (MC)."""
    worst, shrinking = 0.0, True
    for loss in LOSSES.values():
        dist = random_distribution(family, rng)
        w, eps, S = random_weights(dist, rng), float(rng.uniform(0.05, 1)), dist.groups[1]
        gaps = [limit_violation(_update(dist, with_scaled_group(w, S, t), eps, loss, rng, method), 1) for t in scales]
        shrinking &= method != "exact" or bool(np.all(np.diff(gaps) < 0))
        worst = max(worst, gaps[-1])
    tol = 1e-2 if method == "exact" else Z_TOL
    measure = f"|Delta_S^w - bound| / |bound| at t={scales[-1]:g}" if method == "exact" else f"z at t={scales[-1]:g}"
    return CheckResult(f"case 2 equality as w_S -> 0 [{method}, {family}]", "eq. 12 (limit)", measure, worst, tol,
                       bool(worst <= tol and shrinking), "gap decreases with t" if method == "exact" else "")


REGIME_CASES: dict[str, tuple[float, float]] = {  # regime -> (a_0, sign of w_0); eps = 0.3
    "grow": (0.4, 0.0),
    "misaligned": (0.4, -1.0),
    "aligned_weak": (0.1, 1.0),
    "aligned_strong": (0.8, 1.0),
}


def check_regime(regime: str, rng: np.random.Generator, eps: float = 0.3, t: float = 1e-3) -> CheckResult:
    """Appendix D.2: feature 0 in the given regime moves as predicted, for all three losses (gaussian, exact).

    grow: Delta_0 = g'bar a_0 (sign of a_0). Otherwise: Delta_S^w / g'bar -> a_S^w - eps with the
    predicted sign (shrink/expand), and adversarial shrinkage beats natural (eps = 0) for a misaligned group.
    """
    a0, sign = REGIME_CASES[regime]
    worst, signs_ok = 0.0, True
    for loss in LOSSES.values():
        strengths = np.concatenate([[a0], rng.uniform(-0.8, 0.8, size=5)])
        dist = FeatTransDistribution(strengths, singleton_groups(6), "gaussian", 1.0)
        w = np.concatenate([[sign * t], rng.normal(size=5)])
        S = dist.groups[0]
        if group_regime(strengths, w, S, eps) != regime:
            raise ValueError(f"the scenario for {regime} is in regime {group_regime(strengths, w, S, eps)}")
        u = exact_update(dist, w, eps, loss)
        if regime == "grow":
            rate, predicted = u.delta[0] / u.g_prime_bar, a0
        else:
            rate, predicted = u.group_delta[0] / u.g_prime_bar, a0 * sign - eps
        worst = max(worst, abs(rate - predicted) / abs(predicted))
        signs_ok &= bool(np.sign(rate) == np.sign(predicted))
        if regime == "misaligned":
            signs_ok &= bool(u.group_delta[0] < exact_update(dist, w, 0.0, loss).group_delta[0])
    return CheckResult(f"D.2 regime: {regime}", "eq. 11-12, App. D.2", "max rel. error of rate Delta/g'bar", worst, 1e-2,
                       bool(worst <= 1e-2 and signs_ok), f"eps={eps}, |w_S|={t:g}; sign as predicted: {signs_ok}")


def check_lemma41(rng: np.random.Generator, n_points: int = 20) -> CheckResult:
    """Lemma 4.1: the closed-form IG (eq. 15) equals captum's numerical IG (eq. 13) for 1-layer networks."""
    worst = 0.0
    for activation in ACTIVATIONS.values():
        for d in (3, 10, 40):
            w, X, U = random_ig_problem(d, n_points, rng, scale=2.0)
            worst = max(worst, compare_ig(w, X, U, activation).max_rel_error)
    return CheckResult("Lemma 4.1 closed-form IG = numerical IG", "eq. 15", "max rel. error", worst, 1e-6,
                       bool(worst <= 1e-6), f"{len(ACTIVATIONS)} activations, d in (3, 10, 40), {n_points} points each")


def check_theorem51(loss: MarginLoss, rng: np.random.Generator, n_points: int = 12) -> CheckResult:
    """Theorem 5.1: stable-IG loss (inner max by search) = adversarial loss (eq. 18) at random w, x, y, eps."""
    worst, ascent_ok = 0.0, True
    for _ in range(n_points):
        d = int(rng.integers(2, 9))
        w, x = rng.normal(size=d), rng.normal(size=d)
        r = check_stable_ig(loss, w, x, float(rng.choice([-1, 1])), float(rng.uniform(0.05, 1.0)), rng)
        worst = max(worst, r.rel_error)
        ascent_ok &= r.ascent_max <= r.max_ig_norm + 1e-9
    return CheckResult(f"Theorem 5.1 stable-IG = adversarial [{loss.name}]", "eq. 17-18", "max rel. error",
                       worst, 1e-9, bool(worst <= 1e-9 and ascent_ok), f"{n_points} random points, d in 2..8")


def check_pruning(rng: np.random.Generator, eps: float = 0.3) -> CheckResult:
    """SGD trajectories: adversarial training prunes weak features (|a_i| < eps), natural training keeps them.

    Measures r = (mean |w_weak| / mean |w_strong|) adversarial over the same ratio natural, on the
    weights averaged over the last quarter of the run; passes if r <= 0.25 and Gini(|w|) is higher.
    """
    strengths = graded_strengths(3, 20, strong=1.0, weak=0.1, alternate_signs=True)
    dist = FeatTransDistribution(strengths, singleton_groups(strengths.size), "gaussian", 1.0)
    worst, gini_ok = 0.0, True
    for loss in LOSSES.values():
        nat, adv = natural_vs_adversarial(dist, eps, loss, seed=int(rng.integers(1 << 31)))
        ratio = [np.abs(t.final_weights[3:]).mean() / np.abs(t.final_weights[:3]).mean() for t in (nat, adv)]
        worst = max(worst, ratio[1] / ratio[0])
        gini_ok &= bool(adv.weight_gini[-1] > nat.weight_gini[-1])
    return CheckResult("SGD prunes weak features (adv vs natural)", "Thm 3.1 (Sec. 3)",
                       "(weak/strong |w|) adv / natural", worst, 0.25, bool(worst <= 0.25 and gini_ok),
                       f"3 strong (a=1), 20 weak (a=0.1), eps={eps}; Gini(|w|) higher under adv: {gini_ok}")


# ---- controls: broken cases that must be caught --------------------------------------------------


def control_wrong_bound(rng: np.random.Generator) -> CheckResult:
    """A wrong bound must be flagged: eq. 12 with eps dropped fails the equality limit; g'(a - 2 eps) fails the bound."""
    dist = random_distribution("laplace", rng)
    w, S = random_weights(dist, rng), dist.groups[1]
    u_small = monte_carlo_update(dist, with_scaled_group(w, S, 1e-3), 0.4, LOSSES["logistic"], check_basics.MC_SAMPLES, rng)
    z_no_eps = limit_violation(u_small, 1, bound=lambda gp, a, eps: gp * a)
    z_double, _ = bound_violation(u_small, bound=lambda gp, a, eps: gp * (a - 2 * eps))
    value = min(z_no_eps, z_double)
    return CheckResult("control: wrong bounds are caught", "eq. 12 altered", "min z of the violations", value, Z_TOL,
                       bool(value > Z_TOL), f"z(no eps, limit)={z_no_eps:.1f}, z(2 eps, bound)={z_double:.1f}")


def control_broken_distribution(rng: np.random.Generator) -> CheckResult:
    """Distributions breaking FEAT-TRANS (offsets) or conditional independence (shared noise) must be flagged."""
    base = FeatTransDistribution(np.array([0.5, 0.3, -0.2, 0.4]), singleton_groups(4), "gaussian", 1.0)
    w = np.array([0.0, 1.0, -1.5, 2.0])
    loss = LOSSES["logistic"]
    untranslated = ViolatingDistribution(base, offsets=0.8)
    z_trans, _ = case1_violation(monte_carlo_update(untranslated, w, 0.2, loss, check_basics.MC_SAMPLES, rng), base.groups[0])
    shared = ViolatingDistribution(base, cross_group_correlation=0.6)
    z_indep, _ = case1_violation(monte_carlo_update(shared, w, 0.2, loss, check_basics.MC_SAMPLES, rng), base.groups[0])
    value = min(z_trans, z_indep)
    return CheckResult("control: broken distributions are caught", "eq. 11 hypotheses", "min z of the violations",
                       value, Z_TOL, bool(value > Z_TOL), f"z(no FEAT-TRANS)={z_trans:.1f}, z(groups dependent)={z_indep:.1f}")


SIGMOID_LOSS = MarginLoss(  # non-decreasing but not convex: outside LOSS-CVX
    name="sigmoid (non-convex)",
    g=lambda z: 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float))),
    g_prime=lambda z: np.exp(-np.asarray(z, dtype=float)) / (1.0 + np.exp(-np.asarray(z, dtype=float))) ** 2,
    formula="g(z) = 1 / (1 + e^-z)",
)


def control_nonconvex_loss(rng: np.random.Generator) -> CheckResult:
    """Theorem 5.1 needs convex g: for the non-convex sigmoid loss eq. 18 must be seen to fail."""
    worst = 0.0
    for _ in range(8):
        w, x = rng.normal(size=4), rng.normal(size=4)
        r = check_stable_ig(SIGMOID_LOSS, 2 * w, x, 1.0, 1.0, rng, g_torch=torch.sigmoid)
        worst = max(worst, r.rel_error)
    return CheckResult("control: non-convex loss breaks eq. 18", "eq. 18 without LOSS-CVX", "max rel. error",
                       worst, 1e-9, bool(worst > 1e-9), "g = sigmoid, 8 random points")


@dataclass(frozen=True)
class Check:
    """A registered check: a name and a function of a seeded generator."""

    name: str
    run: Callable[[np.random.Generator], CheckResult]


CHECKS: list[Check] = [
    *[Check(f"mc_exact_{name}", lambda rng, loss=loss: check_mc_matches_exact(loss, rng)) for name, loss in LOSSES.items()],
    Check("case1_exact", lambda rng: check_case1("exact", "gaussian", rng)),
    *[Check(f"case1_mc_{fam}", lambda rng, fam=fam: check_case1("mc", fam, rng)) for fam in ("uniform", "laplace", "bernoulli")],
    Check("case2_bound_exact", lambda rng: check_case2_bound("exact", "gaussian", rng, n_draws=20)),
    *[Check(f"case2_bound_mc_{fam}", lambda rng, fam=fam: check_case2_bound("mc", fam, rng))
      for fam in ("uniform", "laplace", "bernoulli")],
    Check("case2_limit_exact", lambda rng: check_case2_limit("exact", "gaussian", rng)),
    Check("case2_limit_mc_laplace", lambda rng: check_case2_limit("mc", "laplace", rng)),
    *[Check(f"regime_{r}", lambda rng, r=r: check_regime(r, rng)) for r in REGIME_CASES],
    Check("lemma41", check_lemma41),
    *[Check(f"theorem51_{name}", lambda rng, loss=loss: check_theorem51(loss, rng)) for name, loss in LOSSES.items()],
    Check("sgd_pruning", check_pruning),
    Check("control_wrong_bound", control_wrong_bound),
    Check("control_broken_distribution", control_broken_distribution),
    Check("control_nonconvex_loss", control_nonconvex_loss),
    *[Check(f"e1_mc_exact_{name}", lambda rng, loss=loss: multiclass_checks.check_e1_mc_matches_exact(loss, rng))
      for name, loss in LOSSES.items()],
    Check("e1_part1_exact", lambda rng: multiclass_checks.check_e1_part1("exact", "gaussian", rng)),
    *[Check(f"e1_part1_mc_{fam}", lambda rng, fam=fam: multiclass_checks.check_e1_part1("mc", fam, rng))
      for fam in multiclass_checks.FAMILY_LOSS],
    Check("e1_part2_exact", lambda rng: multiclass_checks.check_e1_part2("exact", "gaussian", rng, n_draws=20)),
    *[Check(f"e1_part2_mc_{fam}", lambda rng, fam=fam: multiclass_checks.check_e1_part2("mc", fam, rng))
      for fam in multiclass_checks.FAMILY_LOSS],
    Check("e1_weak_weights", multiclass_checks.check_e1_weak_weights),
    Check("e1_sgd_pruning", multiclass_checks.check_e1_pruning),
    Check("control_e1_wrong_bound", multiclass_checks.control_e1_wrong_bound),
    Check("control_e1_shared_feature", multiclass_checks.control_e1_shared_feature),
    Check("control_e1_feat_exp", multiclass_checks.control_e1_feat_exp),
]


def get_check(name: str) -> Check:
    """Look up a registered check by name; the error lists the names."""
    for check in CHECKS:
        if check.name == name:
            return check
    raise ValueError(f"unknown check {name!r}; choose one of {[c.name for c in CHECKS]}")


def run_check(name: str, seed: int = 0) -> CheckResult:
    """Run one registered check with its own seeded generator (independent of the other checks)."""
    index = [c.name for c in CHECKS].index(get_check(name).name)
    return get_check(name).run(np.random.default_rng([seed, index]))


def format_table(results: list[CheckResult]) -> str:
    """The results as a fixed-width text table, one row per check."""
    header = ("check", "equation", "measure", "value", "tol", "passed")
    rows = [(r.name, r.equation, r.measure, f"{r.value:.3g}", f"{r.tolerance:.3g}", "yes" if r.passed else "NO") for r in results]
    widths = [max(len(str(row[k])) for row in [header, *rows]) for k in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    n_failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - n_failed}/{len(results)} checks passed")
    return "\n".join(lines)
