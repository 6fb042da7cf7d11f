"""Sweeps: grids of eps x lambda x seed trials run as Ray tasks, resumable, their results read back as DataFrames.

- :mod:`advex.sweeps.grid`: the TOML grid format (``sweeps/*.toml``) and its :class:`Trial` list.
- :mod:`advex.sweeps.runner`: :func:`run_sweep` on a local Ray or a cluster (what moves between nodes).
- :mod:`advex.sweeps.store`: the results folder, :func:`read_results` and :func:`across_seeds`.
"""

from advex.sweeps.grid import Grid, Resources, Trial, load_grid, parse_grid, zoo_trials
from advex.sweeps.runner import SweepSummary, execute_trial, run_sweep
from advex.sweeps.store import ResultsStore, across_seeds, card_metrics, read_results

__all__ = [
    "Grid", "Resources", "Trial", "load_grid", "parse_grid", "zoo_trials", "SweepSummary", "execute_trial", "run_sweep",
    "ResultsStore", "across_seeds", "card_metrics", "read_results",
]
