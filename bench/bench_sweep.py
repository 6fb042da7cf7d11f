"""Benchmark of sweeps on Ray (issue targets: the tabular grid with 2 workers <= 0.7x the time of 1 worker;
Ray's overhead per trial, against a direct call, <= 0.5 s).

The grid is sweeps/tabular_small.toml (2 data sets x 3 modes x 2 seeds = 12 J.1 logistic models).
Anchor, measured in the same run: the 12 trials called directly (``execute_trial``, one torch
thread, as a Ray worker runs them). Then a local Ray with 1 and with 2 CPUs runs the whole sweep
into a fresh folder: the first sweep after ``ray.init`` ("cold": workers start and import torch)
and ``--repeats`` more ("warm": workers reused). Ray's overhead per trial is measured two ways:
against the direct anchor, and as the sweep's wall time less the time the trials spent inside the
worker (same run, so other jobs on the machine weigh on both sides alike). Medians; load averages.

Run: python bench/bench_sweep.py [--data-dir ../shared/data] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import ray
import torch

from advex.sweeps import execute_trial, load_grid, read_results, run_sweep

GRID = Path(__file__).resolve().parents[1] / "sweeps" / "tabular_small.toml"


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def timed_sweep(trials, data_dir: str) -> tuple[float, float]:
    """Wall seconds of a whole sweep into a fresh folder, and the seconds its trials spent inside the workers."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        summary = run_sweep(trials, folder, data_dir=data_dir, progress=False)
        seconds = time.perf_counter() - start
        inside = float(read_results(folder)["worker_seconds"].sum())
    assert len(summary.finished) == len(trials) and not summary.failed, summary.describe()
    return seconds, inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default_data = os.environ.get("ADVEX_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--data-dir", default=default_data)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    trials = load_grid(GRID).trials
    print(f"machine: {os.cpu_count()} CPU cores; load average (1, 5, 15 min) at start: {load()}")
    torch.set_num_threads(1)
    execute_trial(trials[0], args.data_dir)  # imports and data caches warm, as in a warm Ray worker
    direct = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for trial in trials:
            execute_trial(trial, args.data_dir)
        direct.append(time.perf_counter() - start)
    t_direct = statistics.median(direct)
    print(f"direct, {len(trials)} trials in one process: median {t_direct:.2f} s ({t_direct / len(trials):.3f} s/trial)")
    results, overheads = {}, {}
    for workers in (1, 2):
        start = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        init = time.perf_counter() - start
        cold, _ = timed_sweep(trials, args.data_dir)
        runs = [timed_sweep(trials, args.data_dir) for _ in range(args.repeats)]
        ray.shutdown()
        results[workers] = statistics.median(wall for wall, _ in runs)
        overheads[workers] = statistics.median((wall * workers - inside) / len(trials) for wall, inside in runs)
        print(f"Ray, {workers} worker(s): ray.init {init:.1f} s; sweep cold {cold:.2f} s; warm median {results[workers]:.2f} s; "
              f"idle worker-seconds per trial {overheads[workers]:.3f} s")
    print(f"2 workers / 1 worker (warm medians): {results[2] / results[1]:.2f}x (target <= 0.7x)")
    print(f"Ray overhead per trial, 1 worker: (sweep - direct) / {len(trials)} = {(results[1] - t_direct) / len(trials):.3f} s; "
          f"(sweep - time inside the worker) / {len(trials)} = {overheads[1]:.3f} s (target <= 0.5 s)")
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
