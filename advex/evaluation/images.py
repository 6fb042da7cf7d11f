"""The images a model is evaluated on and the training images that references need (``EvalImages``).

The `train-sample` and `mean` references (``advex.vocabulary.REFERENCES``) are drawn from
training images. :func:`advex.zoo.catalogue.load_eval_images` builds the pool: the test set, or
without the data on disk the zoo's shipped sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from advex.errors import AdvexError


@dataclass
class EvalImages:
    """The image pool a model is evaluated on, and the training images that references are drawn from."""

    dataset: str
    X: np.ndarray  # (N, C, H, W) float32 in [0, 1]
    y: np.ndarray  # (N,) int64
    pool: str  # "test set" or "zoo sample"
    X_train: np.ndarray  # training images (or the set-aside sample images) for the train-sample / mean references
    train_from: str  # where X_train comes from, in words
    reserved: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # pool rows in X_train

    def choose(self, n_images: int, seed: int = 0) -> np.ndarray:
        """Sorted pool indices of ``n_images`` images drawn with ``seed`` (the same for every model: paired dG needs it).

        ``n_images`` larger than the pool takes the whole pool.
        """
        if n_images < 1:
            raise AdvexError(f"n_images must be >= 1, got {n_images}")
        candidates = np.setdiff1d(np.arange(len(self.y)), self.reserved)
        order = np.random.default_rng(seed).permutation(candidates)
        return np.sort(order[: min(n_images, len(order))])
