"""The reference u an attribution measures against (the baseline of IG, eq. 13; DeepSHAP's background).

Names from :data:`advex.vocabulary.REFERENCES`:

- ``black``: the all-zero input (J.1's IG baseline and the authors' DeepSHAP reference; for tabular
  data the zero row, as the tabular experiments use).
- ``train-sample``: k training examples drawn uniformly without replacement, seeded (DeepSHAP's
  usual background); the first k of one seeded permutation, so a smaller k keeps a subset of the rows.
  A *set*: attributions average over its rows, so completeness reads sum_i A_i(x) = F(x) - mean_j F(u_j).
- ``mean``: the mean training example.
- ``blur``: each input blurred by a Gaussian of ``BLUR_SIGMA`` pixels over its last two axes, with
  a circular ('grid-wrap') boundary, so every channel keeps its mean exactly. Images only.
- ``uniform``: noise uniform in [0, 1] of the input's shape, seeded by ``seed`` and the image itself
  (the same image gets the same noise in any batch). Images only: tabular features are
  standardized or one-hot columns, for which [0, 1] noise means nothing, so it is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from advex.attribution.arguments import as_tensor
from advex.errors import AdvexError
from advex.vocabulary import PAPER_REFERENCE, REFERENCES, TRAIN_SAMPLE_SIZE, check_choice

BLUR_SIGMA = 5.0  # pixels (vocabulary.REFERENCE_DESCRIPTIONS["blur"])
NEEDS_TRAINING_DATA = ("train-sample", "mean")
IMAGES_ONLY = ("blur", "uniform")
PairAttribution = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (inputs, references, targets) -> maps


@dataclass(frozen=True)
class Reference:
    """Reference values: one per input (``per_input``, shape (N, ...)) or a set shared by all inputs ((m, ...))."""

    name: str
    values: torch.Tensor
    per_input: bool

    @property
    def size(self) -> int:
        """References each input is compared with: 1 per input, or the shared set's m."""
        return 1 if self.per_input else len(self.values)

    def pairs(self, n: int, start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(input index, reference index) of pairs ``start:stop`` of the n * size pairs, input-major."""
        stop = n * self.size if stop is None else stop
        index = torch.arange(start, stop, device=self.values.device)
        if self.per_input:
            return index, index
        return index // self.size, index % self.size

    def average(self, attribute: PairAttribution, X: torch.Tensor, targets: torch.Tensor, pairs_per_pass: int) -> torch.Tensor:
        """mean over each input's references u of ``attribute(x, u, target)``, pairs_per_pass pairs per call."""
        total = torch.zeros_like(X)
        n_pairs = len(X) * self.size
        for start in range(0, n_pairs, max(1, int(pairs_per_pass))):
            i, j = self.pairs(len(X), start, min(start + max(1, int(pairs_per_pass)), n_pairs))
            total.index_add_(0, i, attribute(X[i], self.values[j], targets[i]).to(X.dtype))
        return total / self.size


def train_sample(X_train, k: int = TRAIN_SAMPLE_SIZE, seed: int = 0) -> torch.Tensor:
    """``k`` rows of ``X_train`` drawn uniformly without replacement (all of them if fewer), seeded and nested in k; float32."""
    n = len(X_train)
    if n == 0:
        raise AdvexError("X_train is empty; the train-sample reference needs at least one training example")
    if int(k) < 1:
        raise AdvexError(f"k must be a positive number of training examples, got {k!r}")
    index = np.sort(np.random.default_rng(seed).permutation(n)[: int(k)])  # nested: the rows for k are among those for k' > k
    rows = X_train[torch.as_tensor(index)] if isinstance(X_train, torch.Tensor) else np.asarray(X_train)[index]
    return as_tensor(rows, "X_train", "pass finite training examples").to(torch.float32)


def mean_example(X_train) -> torch.Tensor:
    """The mean training example, shape (1, ...), float32 (summed in float64)."""
    if len(X_train) == 0:
        raise AdvexError("X_train is empty; the mean reference needs at least one training example")
    if isinstance(X_train, torch.Tensor):
        mean = X_train.detach().double().mean(dim=0, keepdim=True)
    else:
        mean = torch.from_numpy(np.mean(np.asarray(X_train), axis=0, keepdims=True, dtype=np.float64))
    return as_tensor(mean, "X_train", "pass finite training examples").to(torch.float32)


def blurred(X: torch.Tensor, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Each image of ``X`` ((N, C, H, W) or (N, H, W)) blurred over H, W with a circular boundary (keeps the mean)."""
    _require_images(X, "blur")
    sigmas = (0.0,) * (X.ndim - 2) + (float(sigma),) * 2
    smooth = gaussian_filter(X.detach().cpu().double().numpy(), sigma=sigmas, mode="grid-wrap")
    return torch.from_numpy(smooth).to(X.device, X.dtype)


def uniform_noise(X: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Noise uniform in [0, 1] shaped like ``X`` (images); image i's noise comes from a generator seeded with ``seed``
    and a hash of the image, so it does not depend on the batch the image comes in."""
    _require_images(X, "uniform")
    images = X.detach().to(torch.float32).cpu().numpy()
    noise = torch.empty(X.shape, dtype=torch.float64)
    for i, image in enumerate(images):
        digest = hashlib.blake2b(image.tobytes(), digest_size=8, key=int(seed).to_bytes(8, "little", signed=True)).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
        noise[i] = torch.rand(image.shape, generator=generator, dtype=torch.float64)
    return noise.to(X.device, X.dtype)


def _require_images(X: torch.Tensor, name: str) -> None:
    if X.ndim not in (3, 4):
        raise AdvexError(f"reference {name!r} needs images shaped (N, C, H, W) or (N, H, W), got inputs of shape "
                         f"{tuple(X.shape)}; for tabular rows choose one of black, mean, train-sample")


def _training_examples_like(X_train, X: torch.Tensor, name: str):
    if X_train is None:
        raise AdvexError(f"reference {name!r} needs training data: pass X_train= (the training examples, numpy or torch, "
                         f"shaped like the inputs), or choose reference='black'")
    if not hasattr(X_train, "shape") or tuple(X_train.shape[1:]) != tuple(X.shape[1:]):
        got = tuple(X_train.shape) if hasattr(X_train, "shape") else type(X_train).__name__
        raise AdvexError(f"X_train has shape {got}, but the inputs' examples have shape {tuple(X.shape[1:])}; "
                         "pass training examples shaped like the inputs, with the batch axis first")
    return X_train


def shared_values(name: str, X: torch.Tensor, X_train=None, k: int = TRAIN_SAMPLE_SIZE, seed: int = 0) -> torch.Tensor | None:
    """The values of a reference shared by all inputs (black, mean, train-sample) in X's dtype and device; None otherwise."""
    if name == "black":
        return torch.zeros_like(X[:1])
    if name == "train-sample":
        return train_sample(_training_examples_like(X_train, X, name), k, seed).to(X.device, X.dtype)
    if name == "mean":
        return mean_example(_training_examples_like(X_train, X, name)).to(X.device, X.dtype)
    return None


def make_reference(
    name: str = PAPER_REFERENCE,
    X: torch.Tensor | None = None,
    *,
    X_train=None,
    k: int = TRAIN_SAMPLE_SIZE,
    seed: int = 0,
    blur_sigma: float = BLUR_SIGMA,
    shared: torch.Tensor | None = None,
) -> Reference:
    """The reference ``name`` for the inputs ``X`` (N, ...); ``shared`` reuses values already drawn for a shared reference."""
    check_choice(name, REFERENCES, "reference")
    if name == "blur":
        return Reference(name, blurred(X, blur_sigma), per_input=True)
    if name == "uniform":
        return Reference(name, uniform_noise(X, seed), per_input=True)
    values = shared if shared is not None else shared_values(name, X, X_train, k, seed)
    return Reference(name, values.to(X.device, X.dtype), per_input=False)
