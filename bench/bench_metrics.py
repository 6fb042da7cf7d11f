"""Speed of the sparseness measures (target: all six for 1,000 MNIST maps, 1000 x 784, in <= 1 s on 2 cores).

The maps are MNIST test images times a Gaussian field (zero on black pixels, like IG with the
black baseline, eq. 13), or, without the data, random maps with the same share of zeros. The
anchor is one numpy sort of the same float64 array, timed in the same run (every sort-based
measure sorts once). Prints medians and each median's ratio to the anchor.
Run: ``python bench/bench_metrics.py [--data-dir ../shared/data] [--repeats 9]``.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np
from timing import median_seconds

from advex.errors import AdvexError
from advex.metrics.measures import MEASURES, measure_all

TARGET_S = 1.0
N_MAPS = 1000


def maps(data_dir: Path, seed: int = 0) -> tuple[np.ndarray, str]:
    rng = np.random.default_rng(seed)
    field = rng.normal(size=(N_MAPS, 1, 28, 28))
    try:
        from advex.data.images import load_image_dataset

        images = load_image_dataset("mnist", data_dir=data_dir, split="test").X_test[:N_MAPS]
        return np.asarray(images, dtype=np.float64).reshape(field.shape) * field, "MNIST test images x Gaussian field"
    except (AdvexError, OSError) as err:
        return field * (rng.random(field.shape) < 0.19), f"random maps, 81% zeros (no MNIST: {type(err).__name__})"


def main() -> None:
    default_dir = os.environ.get("ADVEX_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=default_dir)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    batch, source = maps(Path(args.data_dir))
    print(f"{N_MAPS} maps {batch.shape[1:]} ({source}); {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores visible, numpy {np.__version__}")
    anchor = median_seconds(lambda: np.sort(batch.reshape(N_MAPS, -1), axis=1), args.repeats)
    print(f"{'anchor: np.sort of the (1000, 784) float64 array':<52} median {1000 * anchor:7.1f} ms")
    for measure in MEASURES.values():
        seconds = median_seconds(lambda measure=measure: measure(batch), args.repeats)
        print(f"{measure.label:<52} median {1000 * seconds:7.1f} ms  ({seconds / anchor:4.1f} x anchor)")
    total = median_seconds(lambda: measure_all(batch), args.repeats)
    verdict = "OK" if total <= TARGET_S else "SLOW"
    print(f"{'all six (measure_all)':<52} median {1000 * total:7.1f} ms  ({total / anchor:4.1f} x anchor)  "
          f"target <= {1000 * TARGET_S:.0f} ms  {verdict}")


if __name__ == "__main__":
    main()
