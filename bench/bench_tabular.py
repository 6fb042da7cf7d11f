"""Benchmarks of the tabular half (issue targets: one retrain <= 1 s median; `advex table1` tabular <= 60 s).

Run: python bench/bench_tabular.py [--data-dir ../shared/data] [--repeats 7]
Prints medians; the README's Performance section quotes them with the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from advex.experiments.tabular import fit_model, load_tabular_or_synthetic, run_tabular_comparison, tabular_table1_rows


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("ADVEX_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores")
    for name in ("mushroom", "spambase", "synthetic"):
        data = load_tabular_or_synthetic(name, data_dir=args.data_dir)
        for key, label in (("n", "natural"), ("a", "adversarial eps=0.1")):
            t = median_seconds(lambda: fit_model(data, key, eps=0.1, lam=0.02), args.repeats)
            print(f"retrain one {name} model ({label}, J.1 protocol): median {t:.3f} s")
        t = median_seconds(lambda: run_tabular_comparison(data, eps=0.1, lam=0.02), 3)
        print(f"{name}: slider move = train n, l, a + IG + Gini + FI: median {t:.3f} s")
    t = median_seconds(lambda: [tabular_table1_rows(n, data_dir=args.data_dir) for n in ("mushroom", "spambase")], 3)
    print(f"advex table1 --datasets mushroom spambase (compute only): median {t:.2f} s")


if __name__ == "__main__":
    main()
