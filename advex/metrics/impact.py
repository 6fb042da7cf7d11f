"""Feature-Value Impact and Feature Impact: aggregate IG over a data set (Appendix H)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from advex.errors import AdvexError


def feature_value_impact(attributions: np.ndarray) -> np.ndarray:
    """FV_i[D] = mean over x in D of |IG_i(x)|, per column of the exploded (one-hot) space (App. H)."""
    return np.abs(np.asarray(attributions, dtype=np.float64)).mean(axis=0)


def feature_impact(attributions: np.ndarray, feature_groups: list[str]) -> pd.Series:
    """FI of each categorical feature: the sum of FV_i over the columns of its values (App. H).

    ``feature_groups[i]`` names the feature of column i (``"odor"`` for ``"odor=n"``; a
    numeric feature is its own group). The result keeps the groups' first-appearance order.
    """
    fv = feature_value_impact(attributions)
    if len(feature_groups) != fv.shape[0]:
        raise AdvexError(f"{len(feature_groups)} feature groups for {fv.shape[0]} attribution columns; pass one group name per column")
    series = pd.Series(fv, index=pd.Index(feature_groups, name="feature"))
    return series.groupby(level=0, sort=False).sum().rename("feature_impact")
