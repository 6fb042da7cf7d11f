"""Benchmarks of the data loaders (target: loading MNIST from its .gz IDX files < ~2 s).

Run: python bench/bench_data.py [--data-dir ../shared/data] [--repeats 5]
Prints medians. "cold" clears the in-process IDX cache before each run (a fresh process);
"warm" reloads with it (e.g. a dashboard rerun).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from timing import median_seconds

from advex.data.images import _read_idx_cached, load_image_dataset
from advex.data.tabular import load_mushroom, load_spambase


def main() -> None:
    default_dir = os.environ.get("ADVEX_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=default_dir)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    root, repeats = Path(args.data_dir), args.repeats
    cases = {
        "mushroom (parse + one-hot + split)": lambda: load_mushroom(root),
        "spambase (parse + standardise + split)": lambda: load_spambase(root),
    }
    for name in ("mnist", "fashion-mnist"):
        cases[f"{name} all splits, cold"] = (lambda n=name: load_image_dataset(n, root), _read_idx_cached.cache_clear)
        cases[f"{name} all splits, warm"] = lambda n=name: load_image_dataset(n, root)
        cases[f"{name} test split, cold"] = (
            lambda n=name: load_image_dataset(n, root, split="test"), _read_idx_cached.cache_clear,
        )
    for label, case in cases.items():
        fn, before = case if isinstance(case, tuple) else (case, None)
        print(f"{label:<42} median {median_seconds(fn, repeats, warm_up=False, before=before):.3f} s  ({repeats} runs)")


if __name__ == "__main__":
    main()
