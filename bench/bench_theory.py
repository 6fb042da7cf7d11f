"""Speed of the Theory page: every widget change must recompute in <= 300 ms on 2 cores.

Times, uncached, what the page recomputes when one widget changes: the view function of
the panel (advex.dashboard.theory_view) plus its plotly figures (advex.dashboard.theory_charts).
Each repeat uses a new argument value, like a user moving a slider. Optionally (--page) also
the whole page rerun in Streamlit's AppTest after an eps change. Prints medians.
Run: ``python bench/bench_theory.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from advex.dashboard import theory_charts as charts
from advex.dashboard import theory_view as views

TARGET_S = 0.300
PRESET = dict(n_strong=3, n_weak=20, strong=1.0, weak=0.05)


def _time(fn: Callable[[int], object], repeats: int) -> list[float]:
    fn(-1)  # warm-up (imports, first-call caches)
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - start)
    return times


def _report(name: str, times: list[float]) -> None:
    median = statistics.median(times)
    verdict = "OK" if median <= TARGET_S else "SLOW"
    print(f"{name:<52} median {1000 * median:7.1f} ms  (max {1000 * max(times):7.1f}, n={len(times)})  "
          f"target <= {1000 * TARGET_S:.0f} ms  {verdict}")


def _eps(k: int) -> float:
    return 0.05 + 0.013 * (k + 1)


def theorem31(family: str, weights: str) -> Callable[[int], object]:
    def run(k: int) -> object:
        eps = _eps(k)
        view = views.theorem31_view(eps, "logistic", family, weights=weights, **PRESET)
        charts.update_bars(view)
        return charts.group_sweep(view, eps, "weak")
    return run


def theorem31_new_preset(family: str, weights: str) -> Callable[[int], object]:
    """A preset slider moves (n_weak): the sample and the weights are recomputed too (cold caches)."""
    def run(k: int) -> object:
        preset = dict(PRESET, n_weak=21 + k)
        view = views.theorem31_view(0.2, "logistic", family, weights=weights, **preset)
        charts.update_bars(view)
        return charts.group_sweep(view, 0.2, "weak")
    return run


def trajectories_new_preset(k: int) -> object:
    """A preset slider moves: both SGD runs are recomputed."""
    preset = dict(PRESET, n_weak=21 + k)
    natural, adversarial = views.trajectory_view(0.3, "logistic", "gaussian", n_steps=400, **preset)
    charts.weight_paths(natural, adversarial, views.feature_names(preset["n_strong"], preset["n_weak"]))
    return charts.gini_curves(natural, adversarial)


def trajectories(n_steps: int) -> Callable[[int], object]:
    def run(k: int) -> object:
        natural, adversarial = views.trajectory_view(_eps(k), "logistic", "gaussian", n_steps=n_steps, **PRESET)
        charts.weight_paths(natural, adversarial, views.feature_names(PRESET["n_strong"], PRESET["n_weak"]))
        return charts.gini_curves(natural, adversarial)
    return run


def theorem_e1(n_classes: int, weights: str, family: str, n_weak: int = 2) -> Callable[[int], object]:
    """The Theorem E.1 panel after an eps change: exact (gaussian, own features) or Monte Carlo with the joint attack."""
    def run(k: int) -> object:
        view = views.theorem_e1_view(n_classes, _eps(k), 1.0, 0.1, n_weak, weights, "logistic", family)
        return charts.e1_update_bars(view)
    return run


def lemma41(k: int) -> object:
    _, _, _, comparison = views.lemma41_view("sigmoid", 20, k + 1)
    return charts.ig_comparison_bars(comparison), charts.ig_comparison_frame(comparison)


def theorem51(k: int) -> object:
    return views.theorem51_view("logistic", _eps(k), 10, k + 1)


def page_rerun(repeats: int, key: str) -> list[float]:
    """Whole-page reruns in AppTest after the slider ``key`` moves (AppTest reruns the script, not just the fragment)."""
    from streamlit.testing.v1 import AppTest

    page = Path(__file__).resolve().parents[1] / "pages" / "5_Theory.py"
    at = AppTest.from_file(str(page), default_timeout=120)
    at.run()
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        at.slider(key=key).set_value(round(_eps(k) + 0.2, 2)).run()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target is for 2 cores)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--page", action="store_true", help="also time whole-page reruns in AppTest")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}; preset: {PRESET}")
    for family in ("gaussian", "laplace", "bernoulli"):
        for weights in ("zero", "small", "natural"):
            _report(f"Theorem 3.1 view + 2 charts [{family}, w={weights}]", _time(theorem31(family, weights), args.repeats))
    for family in ("gaussian", "laplace"):
        _report(f"  same, after a preset change [{family}, w=natural]", _time(theorem31_new_preset(family, "natural"), args.repeats))
    for n_steps in (400, 800):
        _report(f"SGD trajectories + 2 charts, eps change [{n_steps} steps]", _time(trajectories(n_steps), args.repeats))
    _report("  same, after a preset change [400 steps]", _time(trajectories_new_preset, args.repeats))
    _report("Lemma 4.1 view + chart [d=20]", _time(lemma41, args.repeats))
    _report("Theorem 5.1 view [d=10, 1024 vertices + ascent]", _time(theorem51, args.repeats))
    for n_classes, weights, family, n_weak in ((3, "own", "gaussian", 2), (6, "own", "gaussian", 3), (3, "shared", "gaussian", 2),
                                               (6, "shared", "laplace", 3), (6, "own", "bernoulli", 3)):
        label = f"Theorem E.1 view + chart [k={n_classes}, {n_weak} weak/class, {weights}, {family}]"
        _report(label, _time(theorem_e1(n_classes, weights, family, n_weak), args.repeats))
    if args.page:
        _report("whole page rerun in AppTest after a Theorem 3.1 eps change", page_rerun(args.repeats, "t31_eps"))
        _report("whole page rerun in AppTest after a Theorem E.1 eps change", page_rerun(args.repeats, "e1_eps"))


if __name__ == "__main__":
    main()
