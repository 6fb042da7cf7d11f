"""The two protocols of the tabular experiments, each in one place: how the data are split and encoded,
how the models are trained, and how their attributions are measured.

``paper`` is Appendix J.1 as written (and advex's behaviour before the authors' code was read):
70/30 split, Adam(0.01), batch 32, 30 epochs, IG of eq. 13 by 50-point Gauss-Legendre
quadrature, Gini of eq. I.67 over the whole test split.

``authors`` follows the public code of the paper (github jfc43/advex, One-layer-Experiments,
``{mushroom,spambase}_1layer_tf2.py``, ``advtrain/``, ``ig/approx.py``, ``utils.py``):

- split: ``train_test_split(test_size=0.2)`` then ``train_test_split(test_size=0.2)`` of the rest for a
  validation part nothing uses; unstratified. Their code draws both from numpy's global generator
  seeded once (``np.random.seed(312)``) with no per-call seed, and each grid point of a run gets the
  next split; here ``RandomState(seed)`` draws both, so a seed fixes the split.
- data: Mushroom label-encoded by the values' full names ('?' a value), every column one-hot
  (117 columns, constant veil-type included), label 1 = poisonous. Spambase standardised; the
  statistics are those of a random 75% of the rows, as their train.csv shows. Their spambase/all.csv
  is not public (only train.csv/test.csv, which no script reads), so its row order, and whether it
  is exactly train.csv + test.csv, cannot be checked; their mushroom/all.csv is, as a multiset of
  rows, this repository's UCI file so encoded (checked once by hand, not in the tests).
- model: one sigmoid unit, kernel and bias ~ N(0, 0.05^2) (``tf.random_normal_initializer()``).
- training: ``tf.keras.optimizers.Ftrl(learning_rate=0.01)`` (TF 2.0 defaults), batch 32, 30 epochs of
  which the first 2 are clean (``clean_epochs = params.clean_epochs or 2`` with 0 in every yaml), then
  only perturbed batches x - eps y sgn(w) (no clipping); the l1 term lambda ||w||_1 on the kernel only;
  Keras' BinaryCrossentropy on probabilities, clipped to [1e-7, 1 - 1e-7] in eager mode.
- attribution: IG of P(label 1) against the all-zero row by a 20-step left Riemann sum
  (alphas 0, 1/20, ..., 19/20); DeepSHAP with one all-zero background row; Gini of
  |attribution| + 1e-7 over the first min(1000, n_test) test rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from advex.metrics.gini import gini
from advex.training.tabular import LogisticTrainer
from advex.vocabulary import IG_STEPS, Setting, check_choice


@dataclass(frozen=True)
class TabularProtocol:
    """Everything that differs between ways of running the tabular experiments (see the module docstring)."""

    name: str
    # data: advex.data.tabular loaders
    test_size: float = 0.3
    val_size: float = 0.0
    stratify: bool = True
    mushroom_encoding: str = "uci"
    spambase_scaling: str = "train"
    # training: LogisticTrainer hyper-parameters
    optimizer: str = "adam"
    learning_rate: float = 0.01
    epochs: int = 30
    batch_size: int = 32
    init: str = "uniform"
    clean_epochs: int = 0
    l1_scope: str = "kernel"
    probability_clip: float = 0.0
    # attribution: captum's quadrature of eq. 13, and the Gini of eq. I.67
    ig_method: str = "gausslegendre"
    ig_steps: int = IG_STEPS
    gini_epsilon: float = 0.0  # added to |attribution| before the Gini
    gini_rows: int | None = None  # the first test rows measured (None: all)

    def data_options(self, name: str) -> dict:
        """Keyword arguments of :func:`advex.data.tabular.load_tabular` for data set ``name``."""
        options = {"test_size": self.test_size, "val_size": self.val_size, "stratify": self.stratify}
        if name == "mushroom":
            options["encoding"] = self.mushroom_encoding
        if name == "spambase":
            options["scaling"] = self.spambase_scaling
        return options

    def trainer(self, setting: Setting, seed: int = 0) -> LogisticTrainer:
        """An unfitted LogisticTrainer for ``setting`` with this protocol's training hyper-parameters."""
        return LogisticTrainer(
            setting.mode, setting.eps, setting.lam, optimizer=self.optimizer, learning_rate=self.learning_rate,
            epochs=self.epochs, batch_size=self.batch_size, init=self.init, clean_epochs=self.clean_epochs,
            l1_scope=self.l1_scope, probability_clip=self.probability_clip, seed=seed,
        )

    def measured_rows(self, n_test: int) -> int:
        """How many test rows (the first ones) the Gini is averaged over."""
        return n_test if self.gini_rows is None else min(self.gini_rows, n_test)

    def gini(self, attributions: np.ndarray) -> np.ndarray:
        """Per-row Gini (eq. I.67) of |attribution| + gini_epsilon, for every row given."""
        values = np.abs(np.asarray(attributions, dtype=np.float64))
        return gini(values.reshape(len(values), -1) + self.gini_epsilon)

    def describe(self) -> dict:
        """The protocol's fields, for JSON output."""
        return dataclasses.asdict(self)


PAPER_PROTOCOL = TabularProtocol("paper")
AUTHORS_PROTOCOL = TabularProtocol(
    "authors",
    test_size=0.2, val_size=0.2, stratify=False, mushroom_encoding="authors", spambase_scaling="authors",
    optimizer="ftrl", init="normal", clean_epochs=2, probability_clip=1e-7,
    ig_method="riemann_left", ig_steps=20, gini_epsilon=1e-7, gini_rows=1000,
)
PROTOCOLS = {protocol.name: protocol for protocol in (PAPER_PROTOCOL, AUTHORS_PROTOCOL)}
PROTOCOL_NAMES = tuple(PROTOCOLS)

# The elements in which the protocols can differ, each a group of fields that go together.
ELEMENTS: dict[str, tuple[str, ...]] = {
    "split": ("test_size", "val_size", "stratify"),
    "Spambase scaling": ("spambase_scaling",),
    "Mushroom encoding": ("mushroom_encoding",),
    "optimizer": ("optimizer",),
    "warm-up": ("clean_epochs",),
    "init": ("init",),
    "loss clipping": ("probability_clip",),
    "l1 scope": ("l1_scope",),
    "IG quadrature": ("ig_method", "ig_steps"),
    "Gini epsilon/rows": ("gini_epsilon", "gini_rows"),
}


def tabular_protocol(name: str) -> TabularProtocol:
    """The protocol called ``name`` ("paper" or "authors"); an AdvexError naming the choices otherwise."""
    return PROTOCOLS[check_choice(name, PROTOCOL_NAMES, "tabular protocol")]


def with_element(base: TabularProtocol, element: str, source: TabularProtocol) -> TabularProtocol:
    """``base`` with the fields of ``element`` taken from ``source`` (one element changed), named after the change."""
    fields = ELEMENTS[check_choice(element, tuple(ELEMENTS), "protocol element")]
    return dataclasses.replace(base, name=f"{base.name} with {source.name} {element}",
                               **{field: getattr(source, field) for field in fields})


def differing_elements(first: TabularProtocol, second: TabularProtocol) -> list[str]:
    """The elements in which two protocols differ."""
    return [element for element, fields in ELEMENTS.items()
            if any(getattr(first, field) != getattr(second, field) for field in fields)]
