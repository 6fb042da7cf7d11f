"""Benchmarks of the tabular half, and the protocol measurement.

Speed (issue targets: one retrain <= 1 s median; `advex table1` tabular well under 60 s per protocol):
    python bench/bench_tabular.py [--data-dir ../shared/data] [--repeats 7]
Protocol measurement (both protocols over seeds and the authors' protocol with one element at a time
set back to the paper's, or with --reverse the paper's with one element taken from the authors'; mean and
spread of dG and AcDrop over seeds):
    python bench/bench_tabular.py --ablation [--reverse] [--seeds 0 1 2 3 4] [--datasets mushroom spambase]
Prints medians / tables with the machine; the README quotes them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import pandas as pd

from advex.experiments.tabular import fit_model, load_tabular_or_synthetic, run_tabular_comparison, tabular_table1_rows
from advex.experiments.tabular_ablation import l1_on_kernel_and_bias, measure, one_at_a_time, summarize
from advex.experiments.tabular_protocols import PROTOCOLS, tabular_protocol
from advex.vocabulary import Setting


def median_seconds(repeats: int, fn, *args, **kwargs) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(data_dir: str, repeats: int) -> None:
    for name in ("mushroom", "spambase", "synthetic"):
        for protocol in PROTOCOLS.values():
            data = load_tabular_or_synthetic(name, data_dir=data_dir, protocol=protocol)
            for setting in (Setting("natural"), Setting("adv", eps=0.1)):
                t = median_seconds(repeats, fit_model, data, setting, protocol=protocol)
                print(f"retrain one {name} model ({setting.describe()}, {protocol.name} protocol): median {t:.3f} s")
            t = median_seconds(3, run_tabular_comparison, data, eps=0.1, lam=0.02, protocol=protocol)
            print(f"{name} ({protocol.name}): slider move = train n, l, a + IG + Gini + FI: median {t:.3f} s")
    for protocol in PROTOCOLS:
        t = median_seconds(3, lambda protocol=protocol: [tabular_table1_rows(n, data_dir=data_dir, protocol=protocol)
                                                         for n in ("mushroom", "spambase")])
        print(f"advex table1 --datasets mushroom spambase --protocol {protocol} (compute only): median {t:.2f} s")


def ablation(data_dir: str, seeds: list[int], datasets: list[str], reverse: bool) -> None:
    """The authors' protocol with one element at a time set back to the paper's (``reverse``: the paper's
    protocol with one element at a time taken from the authors'), both protocols, and l1 on the bias too."""
    authors, paper = tabular_protocol("authors"), tabular_protocol("paper")
    protocols = one_at_a_time(paper, authors) if reverse else [*one_at_a_time(authors, paper), l1_on_kernel_and_bias(authors)]
    started = time.perf_counter()
    frame = measure(protocols, datasets, seeds, data_dir, progress=lambda m: print(m, flush=True))
    summary = summarize(frame)
    with pd.option_context("display.width", 200, "display.max_rows", 200, "display.float_format", "{:.4f}".format):
        print(summary.to_string(index=False))
    print(f"seeds {seeds}; {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("ADVEX_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--data-dir", default=default_data)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ablation", action="store_true", help="measure the protocols and the one-element-at-a-time ablation")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--datasets", nargs="+", default=["mushroom", "spambase"])
    parser.add_argument("--reverse", action="store_true", help="ablate from the paper's protocol towards the authors'")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f}")
    if args.ablation:
        ablation(args.data_dir, args.seeds, args.datasets, args.reverse)
    else:
        speed(args.data_dir, args.repeats)


if __name__ == "__main__":
    main()
