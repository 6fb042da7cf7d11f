"""Warm the server's shared caches in the background when it starts, so the first student waits less.

Trains the Tabular explorer's default models and the tabular curves of Figure 3, loads every image data set's pool and its natural,
l1 and adversarial models at the paper's settings. Runs once per process in a daemon thread;
failures (missing data, no zoo) are only logged: the pages explain them when visited.
"""

from __future__ import annotations

import logging
import os
import threading

LOGGER = logging.getLogger("advex.dashboard.warmup")
_started = threading.Event()


def warm_up() -> None:
    """Fill the caches the pages use first (each step independent; errors logged and skipped)."""
    from advex.dashboard import models, tabular
    from advex.data.paths import available_datasets
    from advex.vocabulary import paper_settings

    present = available_datasets()
    for name in ("synthetic", "mushroom", "spambase"):
        if name == "synthetic" or present.get(name):
            try:
                tabular.comparison(tabular.dataset(name), 0.1, 0.02)
            except Exception:  # noqa: BLE001 - a page will show the problem when visited
                LOGGER.warning("warm-up of %s failed", name, exc_info=True)
    try:
        from advex.dashboard.tradeoffs import figure3_frame

        figure3_frame([], [name for name in ("mushroom", "spambase") if present.get(name)])
    except Exception:  # noqa: BLE001
        LOGGER.warning("warm-up of the tabular trade-off curves failed", exc_info=True)
    try:
        datasets = models.image_datasets_with_models()
    except Exception:  # noqa: BLE001
        LOGGER.warning("listing the zoo failed", exc_info=True)
        return
    for dataset in datasets:
        try:
            models.eval_images(dataset)
            paper = paper_settings(dataset)
            for card in models.triplet(models.cards(dataset), paper.eps, paper.lam).values():
                models.load(card)
        except Exception:  # noqa: BLE001
            LOGGER.warning("warm-up of %s failed", dataset, exc_info=True)
    try:  # the Train page's time estimate: a few measured steps of its default job
        from advex.dashboard import training

        training.speed("mnist", "adv", paper_settings("mnist").eps, training.default_protocol())
    except Exception:  # noqa: BLE001
        LOGGER.warning("measuring the training step time failed", exc_info=True)


START_DELAY_S = 3.0  # let the first page finish rendering before the warm-up competes for the cores


WARMUP_ENV = "ADVEX_DASHBOARD_WARMUP"  # "0" turns the warm-up off


def start_once() -> None:
    """Start :func:`warm_up` in a background thread after ``START_DELAY_S``, the first time only."""
    if _started.is_set() or os.environ.get(WARMUP_ENV, "1") == "0":
        return
    _started.set()
    timer = threading.Timer(START_DELAY_S, warm_up)
    timer.name, timer.daemon = "advex-warmup", True
    timer.start()
