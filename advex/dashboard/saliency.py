"""Saliency maps for the dashboard (Figure 1, J.6-J.10): attribute, measure and mask (uploads: advex.data.uploads).

IG (eq. 13, 50 steps), DeepSHAP and the explainers beyond the paper (advex.attribution.METHODS) explain
one class's output (the true class for test images, J.1/J.4; for an upload, the class the user picks)
against a chosen reference (where the method uses one): by default the paper's, the black image and the
predicted probability. The page names a method by a short URL value (``?method=IG``, ``SHAP``, ...).
Sparseness is the Gini index of |attribution| over all pixels (eq. I.67). Results are cached
per (models' file versions, image, class, method) for the whole server.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from advex.attribution.methods import METHOD_LABELS
from advex.dashboard.cache import SharedLRU
from advex.errors import AdvexError
from advex.metrics.gini import gini
from advex.vocabulary import PAPER_OUTPUT, PAPER_REFERENCE

# The page's URL values (IG and SHAP as in the paper's Table 1) -> advex.attribution's method names.
METHOD_NAMES = {"IG": "ig", "SHAP": "deepshap", "Saliency": "saliency", "InputXGradient": "input-x-gradient",
                "SmoothGrad": "smoothgrad", "GradientSHAP": "gradient-shap", "DeepLIFT": "deeplift"}
METHODS = {value: METHOD_LABELS[name] for value, name in METHOD_NAMES.items()}  # URL value -> label
URL_VALUES = {name: value for value, name in METHOD_NAMES.items()}  # advex.attribution name -> URL value


@dataclass
class Saliency:
    """One model's explanation of one image."""

    attribution: np.ndarray  # (C, H, W)
    gini: float  # G(|attribution|), eq. I.67
    probability: float  # F(x): predicted probability of the explained class
    predicted: int  # the model's predicted class


SHAP_LOCK = threading.Lock()  # shap's explainer is not thread-safe: one run per server at a time
RESULTS: SharedLRU[list[Saliency]] = SharedLRU(max_entries=512)
PREDICTIONS: SharedLRU[np.ndarray] = SharedLRU(max_entries=32)


def image_digest(x: np.ndarray) -> str:
    """A short content hash of an image batch (cache key)."""
    array = np.ascontiguousarray(x, dtype=np.float32)
    return hashlib.blake2b(array.tobytes() + str(array.shape).encode(), digest_size=12).hexdigest()


def explain(model: nn.Module, x: np.ndarray, target: np.ndarray, method: str, reference: str = PAPER_REFERENCE,
            output: str = PAPER_OUTPUT, X_train: np.ndarray | None = None) -> list[Saliency]:
    """Attribution (``method`` a URL value of :data:`METHODS`, against ``reference``, explaining ``output``), its Gini,
    the class probability and the prediction for each image of ``x`` (N, C, H, W)."""
    from advex.attribution import explain as attribute

    if method not in METHODS:
        raise AdvexError(f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}")
    inputs = np.asarray(x, dtype=np.float32)
    labels = np.asarray(target, dtype=np.int64).reshape(-1)
    with SHAP_LOCK if method == "SHAP" else contextlib.nullcontext():
        maps = attribute(model, inputs, labels, method=METHOD_NAMES[method], reference=reference, output=output,
                         X_train=X_train)
    with torch.no_grad():
        probabilities = torch.softmax(model(torch.as_tensor(inputs)), dim=1)
    ginis = gini(maps)
    return [
        Saliency(maps[i], float(ginis[i]), float(probabilities[i, labels[i]]), int(probabilities[i].argmax()))
        for i in range(len(maps))
    ]


def cached_explain(model_key: tuple, model: nn.Module, x: np.ndarray, target: np.ndarray, method: str,
                   reference: str = PAPER_REFERENCE, output: str = PAPER_OUTPUT,
                   X_train: np.ndarray | None = None) -> list[Saliency]:
    """:func:`explain`, computed once per (model version, images, classes, method, reference, output) for the server."""
    key = (model_key, image_digest(x), tuple(int(t) for t in np.asarray(target).reshape(-1)), method, reference, output)
    return RESULTS.get_or_compute(key, lambda: explain(model, x, target, method, reference, output, X_train))


def predictions(model_key: tuple, model: nn.Module, X: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """Predicted classes of the pool ``X`` (cached per model version and pool)."""

    def compute() -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                out.append(model(torch.as_tensor(X[start : start + batch_size])).argmax(1).numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    return PREDICTIONS.get_or_compute((model_key, image_digest(X)), compute)


def misclassified(predicted: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
    """Pool indices that at least one of the models gets wrong, ascending."""
    wrong = np.zeros(len(y), dtype=bool)
    for values in predicted.values():
        wrong |= values != y
    return np.flatnonzero(wrong)


def next_of_class(y: np.ndarray, label: int, after: int) -> int:
    """The first pool index after ``after`` whose label is ``label`` (wrapping around)."""
    hits = np.flatnonzero(np.asarray(y) == label)
    if hits.size == 0:
        raise AdvexError(f"no image of class {label} in the pool")
    later = hits[hits > after]
    return int(later[0] if later.size else hits[0])


def top_mass_mask(values: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the fewest entries of |values| holding ``fraction`` of the total attribution mass.

    Entries are taken in order of decreasing |value| until their sum reaches ``fraction`` of
    sum |values|; a sparse map reaches it with few pixels. ``fraction`` = 1 keeps everything.
    """
    if not 0.0 < fraction <= 1.0:
        raise AdvexError(f"the kept share of attribution mass must lie in (0, 1], got {fraction}")
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    flat = magnitude.reshape(-1)
    total = flat.sum()
    if fraction >= 1.0 or total == 0:
        return np.ones(magnitude.shape, dtype=bool)
    order = np.argsort(-flat, kind="stable")
    cumulative = np.cumsum(flat[order])
    n_keep = int(np.searchsorted(cumulative, fraction * total * (1 - 1e-12)) + 1)
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[:n_keep]] = True
    return mask.reshape(magnitude.shape)


def pixel_map(attribution: np.ndarray) -> np.ndarray:
    """A (H, W) map to draw from a (C, H, W) attribution: the sum over colour channels."""
    return np.asarray(attribution).sum(axis=0)
