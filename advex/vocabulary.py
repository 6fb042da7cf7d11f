"""The paper's vocabulary in one place: training modes, settings, data sets and the paper's hyper-parameters.

Every other module imports these names; none defines its own copy.

- Modes (Section 6): ``natural`` (n), ``l1`` (l, l1-regularized) and ``adv`` (a, l_inf(eps)-adversarial).
- :class:`Setting` is a mode with the one hyper-parameter it trains with: eps for ``adv``,
  lambda for ``l1``, nothing for ``natural`` (the rule is applied when a Setting is made).
- The paper's settings per data set: the eps and lambda of Table 1, the eps its robust accuracy
  is measured at (J.1), and the attribution defaults of J.1 (IG steps, reference, output).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from advex.data.registry import DATASETS, IMAGE_DATASETS, TABULAR_DATASETS
from advex.errors import AdvexError

__all__ = [
    "MODES", "MODE_KEYS", "MODE_OF_KEY", "KEYS", "MODE_LABELS", "MODE_COLORS", "IMAGE_DATASETS", "TABULAR_DATASETS",
    "SYNTHETIC", "TABULAR_CHOICES", "ALL_DATASETS", "DATASET_TITLES", "IG_STEPS", "TRAIN_SAMPLE_SIZE", "IG_TRAIN_SAMPLE_SIZE", "REFERENCES",
    "REFERENCE_DESCRIPTIONS", "PAPER_REFERENCE", "TABULAR_REFERENCES", "OUTPUTS", "PAPER_OUTPUT", "OUTPUT_DESCRIPTIONS",
    "PaperSettings", "PAPER", "TABLE1_IMAGE_DATASETS", "TABLE1_TABULAR_DATASETS", "paper_settings", "check_dataset",
    "check_choice", "check_nonnegative", "Setting", "table1_settings",
]

# --- training modes -------------------------------------------------------------------------
MODES = ("natural", "l1", "adv")
MODE_KEYS = {"natural": "n", "l1": "l", "adv": "a"}  # Table 1's names for the three models
MODE_OF_KEY = {key: mode for mode, key in MODE_KEYS.items()}
KEYS = tuple(MODE_KEYS.values())  # ("n", "l", "a")
MODE_LABELS = {"natural": "natural", "l1": "l1-regularized", "adv": "adversarial"}
MODE_COLORS = {"natural": "#4C72B0", "l1": "#55A868", "adv": "#C44E52"}

# --- data sets (from the data registry) -----------------------------------------------------
SYNTHETIC = "synthetic"  # FEAT-TRANS data generated in code (Section 2)
TABULAR_CHOICES = (*TABULAR_DATASETS, SYNTHETIC)
ALL_DATASETS = (*DATASETS, SYNTHETIC)
DATASET_TITLES = {
    "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
    "mushroom": "Mushroom", "spambase": "Spambase", SYNTHETIC: "Synthetic (FEAT-TRANS)",
}

# --- attribution (J.1) ----------------------------------------------------------------------
IG_STEPS = 50  # Gauss-Legendre points of the IG integral (eq. 13)
TRAIN_SAMPLE_SIZE = 100  # k of the `train-sample` reference (shap's usual background size)
# IG against k training images integrates k paths (k x IG_STEPS passes per image): in the ablation 30 keep the mean
# Gini within 0.003 of k = 100 (zoo mnist/adv_0.3, 50 images: 0.8230 vs 0.8196; k = 10 gives 0.854) at 30% of the cost.
IG_TRAIN_SAMPLE_SIZE = 30
REFERENCES = ("black", "train-sample", "mean", "blur", "uniform")
REFERENCE_DESCRIPTIONS = {
    "black": "all-zero input (the black image; the zero row for tabular data): J.1 and the authors' code",
    "train-sample": f"{TRAIN_SAMPLE_SIZE} random training examples (seeded); DeepSHAP's usual background",
    "mean": "the mean training example",
    "blur": "a Gaussian-blurred copy of the input (sigma 5 pixels; images only)",
    "uniform": "uniform noise in [0, 1] (seeded; images only)",
}
PAPER_REFERENCE = "black"  # the reference of J.1's IG and of the authors' DeepSHAP
TABULAR_REFERENCES = ("black", "mean", "train-sample")  # blur and uniform are for images
OUTPUTS = ("probability", "logit")
PAPER_OUTPUT = "probability"  # J.1: "the predicted probability of the true class"
OUTPUT_DESCRIPTIONS = {
    "probability": "the predicted probability of the class (J.1)",
    "logit": "the class's logit (pre-softmax score; binary models: the log-odds, +z for class 1, -z for class 0)",
}


# --- the paper's settings per data set ------------------------------------------------------
@dataclass(frozen=True)
class PaperSettings:
    """Table 1's eps (a-model) and lambda (l-model) for a data set, and the eps of its robust accuracy."""

    eps: float
    lam: float
    robust_eps: float


PAPER = {
    "mnist": PaperSettings(eps=0.3, lam=0.01, robust_eps=0.3),
    "fashion-mnist": PaperSettings(eps=0.1, lam=0.01, robust_eps=0.1),
    "cifar10": PaperSettings(eps=1.0 / 255, lam=1e-5, robust_eps=8.0 / 255),
    "mushroom": PaperSettings(eps=0.1, lam=0.02, robust_eps=0.1),
    "spambase": PaperSettings(eps=0.1, lam=0.02, robust_eps=0.1),
    SYNTHETIC: PaperSettings(eps=0.1, lam=0.02, robust_eps=0.1),
}
TABLE1_IMAGE_DATASETS = ("mnist", "fashion-mnist")  # the image rows we can measure (no CIFAR-10 copy here)
TABLE1_TABULAR_DATASETS = TABULAR_DATASETS


def paper_settings(dataset: str) -> PaperSettings:
    """The paper's settings for ``dataset``; a clear error naming the known data sets otherwise."""
    try:
        return PAPER[dataset]
    except KeyError:
        raise AdvexError(f"unknown data set {dataset!r}; known data sets: {', '.join(PAPER)}") from None


def check_dataset(dataset: str, allowed: tuple[str, ...] = ALL_DATASETS, what: str = "data set") -> str:
    """``dataset`` if it is one of ``allowed``, else an error listing them."""
    if dataset not in allowed:
        raise AdvexError(f"unknown {what} {dataset!r}; choose one of {', '.join(allowed)}")
    return dataset


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``allowed``, else an error naming ``what`` and the choices."""
    if value not in allowed:
        raise AdvexError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")
    return value


def check_nonnegative(value: float, name: str) -> float:
    """``value`` as a float if it is finite and >= 0, else an error naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AdvexError(f"{name} must be a number >= 0, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise AdvexError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


@dataclass(frozen=True)
class Setting:
    """A training mode and the hyper-parameter it trains with: eps for ``adv``, lambda for ``l1``.

    The other value is dropped when the Setting is made, so ``Setting("natural", eps=0.3)`` equals
    ``Setting("natural")``: a model's identity depends only on what its training used.
    """

    mode: str
    eps: float = 0.0
    lam: float = 0.0

    def __post_init__(self) -> None:
        check_choice(self.mode, MODES, "training mode")
        eps = check_nonnegative(self.eps, "eps") if self.mode == "adv" else 0.0
        lam = check_nonnegative(self.lam, "lambda") if self.mode == "l1" else 0.0
        object.__setattr__(self, "eps", eps)
        object.__setattr__(self, "lam", lam)

    @classmethod
    def of_key(cls, key: str, eps: float = 0.0, lam: float = 0.0) -> Setting:
        """The setting of Table 1's model ``key`` ("n", "l" or "a")."""
        check_choice(key, KEYS, "model key")
        return cls(MODE_OF_KEY[key], eps, lam)

    @classmethod
    def paper(cls, dataset: str, mode: str) -> Setting:
        """The setting of ``mode`` that Table 1 uses for ``dataset``."""
        settings = paper_settings(dataset)
        return cls(mode, settings.eps, settings.lam)

    @property
    def key(self) -> str:
        """Table 1's name of the model: "n", "l" or "a"."""
        return MODE_KEYS[self.mode]

    @property
    def label(self) -> str:
        """The mode in words: natural, l1-regularized, adversarial."""
        return MODE_LABELS[self.mode]

    @property
    def color(self) -> str:
        return MODE_COLORS[self.mode]

    @property
    def value(self) -> float:
        """The one hyper-parameter this mode trains with (0 for natural)."""
        return {"natural": 0.0, "l1": self.lam, "adv": self.eps}[self.mode]

    @property
    def name(self) -> str:
        """The file name of such a model: ``natural``, ``l1_<lambda>`` or ``adv_<eps>``."""
        return {"natural": "natural", "l1": f"l1_{self.lam:g}", "adv": f"adv_{self.eps:g}"}[self.mode]

    def describe(self) -> str:
        """E.g. "adversarial eps=0.3", "l1-regularized lambda=0.01", "natural"."""
        return {"natural": self.label, "l1": f"{self.label} lambda={self.lam:g}",
                "adv": f"{self.label} eps={self.eps:g}"}[self.mode]

    def short(self) -> str:
        """Table 1's row label: "n", "l (lam=0.01)", "a (eps=0.3)"."""
        return {"natural": "n", "l1": f"l (lam={self.lam:g})", "adv": f"a (eps={self.eps:g})"}[self.mode]


def table1_settings(dataset: str) -> dict[str, Setting]:
    """The n, l and a settings of Table 1 for ``dataset``, keyed "n", "l", "a"."""
    return {MODE_KEYS[mode]: Setting.paper(dataset, mode) for mode in MODES}
