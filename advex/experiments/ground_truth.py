"""Concise *and* correct? Precision at k of attributions on synthetic FEAT-TRANS data, whose strong features are known.

On the synthetic set (:func:`advex.data.synthetic.make_synthetic`) every feature has a known directed
strength a_i = E[y x_i] (eq. 4): a few strong features (|a_i| = 0.8 by default) and many weak ones
(0.05). The *strong features* are those of the largest |a_i|; k is their number (5 by default).
Precision at k of one attribution map is the share of its k largest |A_i| that fall on strong
features: 1 when the map ranks exactly the strong features first, k_strong / d for a random ranking.
The paper does not measure it; it asks whether a sparser map (Section 6) is also a correct one.
"""

from __future__ import annotations

import numpy as np

from advex.errors import AdvexError

PRECISION = "precision_at_k"  # the per-example quantity's name in rows and work files
PRECISION_LABEL = "precision at k (share of the k largest |A_i| on strong features)"


def strong_features(strengths) -> np.ndarray:
    """Boolean mask of the features of the largest directed strength |a_i| (eq. 4): the truly strong ones."""
    if strengths is None:
        raise AdvexError("this data set has no known feature strengths; precision at k needs the synthetic "
                         "FEAT-TRANS set (advex.data.synthetic.make_synthetic)")
    magnitudes = np.abs(np.asarray(strengths, dtype=np.float64)).ravel()
    if magnitudes.size == 0 or not np.all(np.isfinite(magnitudes)) or magnitudes.max() <= 0:
        raise AdvexError("feature strengths must be finite with at least one non-zero; got "
                         f"{magnitudes.size} values")
    return magnitudes == magnitudes.max()


def precision_at_k(attributions, strong, k: int | None = None) -> np.ndarray:
    """Per example, the share of the k largest |A_i| that are strong features; k defaults to the number of strong ones.

    ``attributions`` (N, d) (or (N, ...) flattened per example), ``strong`` a boolean mask of d features.
    Ties at the k-th largest |A_i| are shared out evenly: the value is the expected precision when the
    tied features are ordered at random (so a constant map scores k_strong / d, never 1 by luck of
    feature order). NaN for an all-zero map, which ranks nothing.
    """
    strong = np.asarray(strong, dtype=bool).ravel()
    magnitudes = np.abs(np.asarray(attributions, dtype=np.float64))
    if magnitudes.ndim < 2 or magnitudes.shape[0] == 0:
        raise AdvexError(f"attributions must be a batch (N, d) of maps, got shape {magnitudes.shape}")
    magnitudes = magnitudes.reshape(len(magnitudes), -1)
    d = magnitudes.shape[1]
    if strong.size != d:
        raise AdvexError(f"the strong-feature mask has {strong.size} entries but the maps have {d} features")
    if not np.all(np.isfinite(magnitudes)):
        raise AdvexError("attributions contain NaN or infinity; precision at k needs finite maps")
    k = int(strong.sum()) if k is None else k
    if isinstance(k, bool) or not 1 <= int(k) <= d or int(k) != k:
        raise AdvexError(f"k must be a whole number in [1, {d}] (the number of features), got {k!r}")
    k = int(k)
    kth = -np.partition(-magnitudes, k - 1, axis=1)[:, k - 1 : k]  # the k-th largest |A_i| per example
    above, tied = magnitudes > kth, magnitudes == kth
    slots = k - above.sum(axis=1)  # places among the top k left to the tied features (1 .. number tied)
    strong_share_of_tied = (tied & strong).sum(axis=1) / tied.sum(axis=1)
    precision = ((above & strong).sum(axis=1) + slots * strong_share_of_tied) / k
    return np.where(magnitudes.sum(axis=1) > 0, precision, np.nan)
