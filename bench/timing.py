"""The benchmarks' one timer: the median wall time of repeated calls."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeats: int = 5, *, warm_up: bool = True,
                   before: Callable[[], object] | None = None) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` (after one untimed call when ``warm_up``); ``before`` runs untimed first."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
