"""Speed of `advex beyond` over the image zoo (target: MNIST + Fashion-MNIST, 7 explainers, 6 measures, 3 models,
100 images, in <= 15 minutes on 2 CPU cores).

Runs :func:`advex.experiments.beyond.run_beyond` on the zoo's Table 1 models with an empty work folder (every cell
computed), then prints where the time went: seconds per explainer (summed over data sets and models), the six
measures, and the total. The anchor, timed in the same run, is one Saliency pass (one gradient) of the natural
MNIST model over the same 100 images; every cell's cost is a multiple of it. ``--threads`` also times IG on
20 images with 1 and 2 torch threads (why the run uses one). The machine is shared: the load average before
and after is printed. Run: ``python bench/bench_beyond.py [--n-images 100] [--work-dir DIR] [--threads]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import median_seconds

from advex.attribution import explain
from advex.device import torch_threads
from advex.experiments.beyond import BeyondGrid, image_examples, run_beyond, time_spent
from advex.metrics.measures import measure_all
from advex.vocabulary import TABLE1_IMAGE_DATASETS, table1_settings

TARGET_S = 15 * 60


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def threads_check(data_dir: str | None) -> None:
    examples = image_examples("mnist", 20, 0, data_dir)
    model = examples.load_model(table1_settings("mnist")["n"])
    before = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        seconds = median_seconds(lambda: explain(model, examples.X, examples.targets, method="ig"), 3)
        print(f"IG of 20 MNIST images, {threads} torch thread(s): median {seconds:6.2f} s")
    torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-images", type=int, default=100)
    parser.add_argument("--data-dir", default=os.environ.get("ADVEX_DATA_DIR"))
    parser.add_argument("--work-dir", default=None, help="keep the per-example results here (default: a temporary folder)")
    parser.add_argument("--threads", action="store_true", help="also time IG with 1 and 2 torch threads")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, torch {torch.__version__}; {load()}")
    if args.threads:
        threads_check(args.data_dir)
    examples = image_examples("mnist", args.n_images, 0, args.data_dir)
    model = examples.load_model(table1_settings("mnist")["n"])
    with torch_threads(1):
        anchor = median_seconds(lambda: explain(model, examples.X, examples.targets, method="saliency"))
        maps = explain(model, examples.X, examples.targets, method="ig")
    measures = median_seconds(lambda: measure_all(maps))
    print(f"anchor: Saliency of {examples.pool} (natural MNIST model, 1 thread): median {anchor:.3f} s")
    print(f"all six measures of {len(maps)} maps: median {1000 * measures:.1f} ms")
    grid = BeyondGrid(datasets=TABLE1_IMAGE_DATASETS, n_images=args.n_images)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work_dir) if args.work_dir else Path(scratch)
        started = time.perf_counter()
        rows = run_beyond(grid, data_dir=args.data_dir, work_dir=work)
        total = time.perf_counter() - started
    spent = time_spent(rows)
    computed = sum(spent.values())
    for method, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"{method:<18} {seconds:7.1f} s  {100 * seconds / max(total, 1e-9):5.1f}%  ({seconds / anchor:6.0f} x anchor)")
    print(f"loading data and models, measures, rows: {total - computed:.1f} s")
    verdict = "OK" if total <= TARGET_S else "SLOW"
    print(f"total {total:.0f} s for {len(grid.datasets)} data sets x {len(grid.methods)} explainers x {len(grid.measures)} "
          f"measures x 3 models, {args.n_images} images ({total / anchor:.0f} x anchor); target <= {TARGET_S} s  {verdict}")
    print(f"{load()}; {np.count_nonzero([row['seconds'] for row in rows])} cells computed")


if __name__ == "__main__":
    main()
