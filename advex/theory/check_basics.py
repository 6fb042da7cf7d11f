"""What every numerical check of ``advex theory`` shares: the result row, z-scores and the sample size.

Monte Carlo checks compare in units of the standard error (z = |difference| / s.e.) with tolerance
``Z_TOL`` = 4, a two-sided false-alarm rate of 6e-5 per comparison (95% intervals are +-1.96 s.e.),
on ``MC_SAMPLES`` draws per estimate (seeds fixed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

Z_TOL = 4.0
MC_SAMPLES = 200_000


@dataclass(frozen=True)
class CheckResult:
    """One row of ``advex theory``: a named check of an equation and its outcome."""

    name: str
    equation: str
    measure: str
    value: float
    tolerance: float
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict:
        """JSON-ready dict (floats stay floats; inf/nan become strings)."""
        row = asdict(self)
        for key in ("value", "tolerance"):
            if not np.isfinite(row[key]):
                row[key] = str(row[key])
        return row


def z_scores(diff: np.ndarray, se: np.ndarray) -> np.ndarray:
    """|diff| / se, with 0 where both vanish and inf where only se does."""
    diff, se = np.abs(np.asarray(diff, dtype=float)), np.asarray(se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.where(diff == 0, 0.0, np.inf))
