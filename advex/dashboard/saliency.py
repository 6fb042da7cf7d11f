"""Saliency maps for the dashboard (Figure 1, J.6-J.10): attribute, measure, mask, and read uploads.

IG (eq. 13, 50 steps, zero baseline) and DeepSHAP explain the predicted probability of one
class (the true class for test images, J.1/J.4; for an upload, the class the user picks).
Sparseness is the Gini index of |attribution| over all pixels (eq. I.67). Results are cached
per (models' file versions, image, class, method) for the whole server.
"""

from __future__ import annotations

import copy
import hashlib
import io
import threading
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

from advex.dashboard.cache import SharedLRU
from advex.errors import AdvexError
from advex.metrics.gini import gini

METHODS = {"IG": "Integrated Gradients", "SHAP": "DeepSHAP"}
IG_STEPS = 50
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000  # refuse decompression bombs before decoding
UPLOAD_TYPES = ("png", "jpg", "jpeg")


@dataclass
class Saliency:
    """One model's explanation of one image."""

    attribution: np.ndarray  # (C, H, W)
    gini: float  # G(|attribution|), eq. I.67
    probability: float  # F(x): predicted probability of the explained class
    predicted: int  # the model's predicted class


SHAP_LOCK = threading.Lock()  # DeepSHAP is memory-hungry: one run per server at a time
RESULTS: SharedLRU[list[Saliency]] = SharedLRU(max_entries=512)
PREDICTIONS: SharedLRU[np.ndarray] = SharedLRU(max_entries=32)


def image_digest(x: np.ndarray) -> str:
    """A short content hash of an image batch (cache key)."""
    array = np.ascontiguousarray(x, dtype=np.float32)
    return hashlib.blake2b(array.tobytes() + str(array.shape).encode(), digest_size=12).hexdigest()


def attribute(model: nn.Module, x: torch.Tensor, target: torch.Tensor, method: str,
              background: torch.Tensor | None = None) -> torch.Tensor:
    """IG (50 steps, zero baseline) or DeepSHAP of class ``target``'s probability, shaped like ``x``."""
    if method == "IG":
        from advex.attribution.integrated_gradients import integrated_gradients

        return integrated_gradients(model, x, target, baseline=0.0, n_steps=IG_STEPS)
    if method == "SHAP":
        from advex.attribution.deep_shap import deep_shap

        if background is None:
            raise AdvexError("DeepSHAP needs a background sample of training images")
        with SHAP_LOCK:
            return deep_shap(private_copy(model), x, target, background)
    raise AdvexError(f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}")


def private_copy(model: nn.Module) -> nn.Module:
    """A copy of a shared model for DeepSHAP: shap hooks the modules it explains (and leaves tensors on
    them), which would change the gradients of every other session using the same model meanwhile."""
    return copy.deepcopy(model)


def explain(model: nn.Module, x: np.ndarray, target: np.ndarray, method: str,
            background: torch.Tensor | None = None) -> list[Saliency]:
    """Attribution, its Gini, and the class probability and prediction for each image of ``x`` (N, C, H, W)."""
    inputs = torch.as_tensor(np.asarray(x, dtype=np.float32))
    labels = torch.as_tensor(np.asarray(target, dtype=np.int64)).reshape(-1)
    maps = attribute(model, inputs, labels, method, background).detach().cpu().numpy()
    with torch.no_grad():
        logits = model(inputs)
        probabilities = torch.softmax(logits, dim=1) if logits.ndim == 2 else None
    ginis = gini(maps.reshape(len(maps), -1))
    return [
        Saliency(maps[i], float(ginis[i]), float(probabilities[i, labels[i]]), int(probabilities[i].argmax()))
        for i in range(len(maps))
    ]


def cached_explain(model_key: tuple, model: nn.Module, x: np.ndarray, target: np.ndarray, method: str,
                   background: torch.Tensor | None = None) -> list[Saliency]:
    """:func:`explain`, computed once per (model version, images, classes, method) for the whole server."""
    key = (model_key, image_digest(x), tuple(int(t) for t in np.asarray(target).reshape(-1)), method)
    return RESULTS.get_or_compute(key, lambda: explain(model, x, target, method, background))


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


def image_from_upload(raw: bytes, channels: int, size: int, invert: bool | None = None) -> tuple[np.ndarray, bool]:
    """Decode an uploaded PNG/JPEG into the model's input: float32 (channels, size, size) in [0, 1].

    Grey-scale models get the luminance; the picture is fitted into a square (padded with its
    border colour) and resized. ``invert`` (None: automatic, when the picture is mostly light)
    turns dark-on-light drawings into the white-on-black of MNIST-like data. Returns the array
    and whether it was inverted. Non-images, corrupt files and huge images raise AdvexError.
    """
    if len(raw) == 0:
        raise AdvexError("the uploaded file is empty; upload a PNG or JPEG image")
    if len(raw) > MAX_UPLOAD_BYTES:
        raise AdvexError(f"the upload is {len(raw) / 2**20:.1f} MiB; upload an image under {MAX_UPLOAD_BYTES // 2**20} MiB")
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            width, height = probe.size
            kind = probe.format
        if width * height > MAX_UPLOAD_PIXELS:
            raise AdvexError(f"the image is {width}x{height} pixels; upload one under {MAX_UPLOAD_PIXELS // 10**6} megapixels")
        if kind not in ("PNG", "JPEG"):
            raise AdvexError(f"the upload is a {kind} image; upload a PNG or JPEG")
        with Image.open(io.BytesIO(raw)) as picture:
            picture.load()
            picture = picture.convert("L" if channels == 1 else "RGB")
    except UnidentifiedImageError:
        raise AdvexError("the upload is not an image PIL can read; upload a PNG or JPEG file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise AdvexError(f"the image could not be decoded ({err}); upload an intact PNG or JPEG") from None
    side = max(picture.size)
    corner = picture.getpixel((0, 0))
    square = Image.new(picture.mode, (side, side), corner)
    square.paste(picture, ((side - picture.size[0]) // 2, (side - picture.size[1]) // 2))
    square = square.resize((size, size), Image.Resampling.LANCZOS)
    array = np.asarray(square, dtype=np.float32) / 255.0
    array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    if invert is None:
        invert = channels == 1 and float(array.mean()) > 0.5
    if invert:
        array = 1.0 - array
    return np.clip(array, 0.0, 1.0).astype(np.float32), bool(invert)
