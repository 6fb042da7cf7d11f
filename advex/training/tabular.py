"""Natural, l1-regularized and l_inf(eps)-adversarial training of 1-layer models (J.1 tabular protocol).

:class:`LogisticTrainer` is a scikit-learn classifier. The adversarial loss of a batch is the
loss at x + delta* with the closed-form attack delta* = -eps y sgn(w) (eq. 7) computed from the
current weights, so the batch loss is g(eps ||w||_1 - y(<w, x> + b)) (eq. 8) and its gradient is
eq. 9; no inner attack loop, no clipping of x + delta* to any range (the authors' code clips none).
Training is vectorized numpy, one optimizer step per mini-batch, seeded and deterministic.

Two optimizers: Adam (J.1) and FTRL-proximal, the optimizer of the authors' tabular runs
(``tf.keras.optimizers.Ftrl(learning_rate=0.01)`` with TF 2.0's defaults).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from advex.attacks.closed_form import adversarial_margin
from advex.errors import AdvexError, TrainerInputError
from advex.losses import LOSSES, get_loss
from advex.models.linear import LogisticRegression
from advex.vocabulary import MODES, Setting, check_choice, check_nonnegative

ProgressCallback = Callable[[int, int, dict], None]

OPTIMIZERS = ("adam", "ftrl")
# "uniform": w ~ U(-1/sqrt(d), 1/sqrt(d)) (torch.nn.Linear's rule), b = 0.
# "normal": w, b ~ N(0, 0.05^2) (tf.random_normal_initializer() in the authors' code).
INITS = ("uniform", "normal")
NORMAL_INIT_STD = 0.05
L1_SCOPES = ("kernel", "all")  # lambda ||w||_1 only, or lambda (||w||_1 + |b|)
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-7  # tf.keras Adam's default (the paper's code is TF 2.0)
FTRL_LR_POWER = -0.5  # tf.keras Ftrl's defaults (TF 2.0): learning_rate_power, initial_accumulator_value
FTRL_INITIAL_ACCUMULATOR = 0.1




def keras_bce_g_prime(margin: np.ndarray, clip: float) -> np.ndarray:
    """dL/dz of Keras' BinaryCrossentropy on probabilities clipped to [clip, 1 - clip], z = -y * logit (eq. 8's margin).

    TF 2.0 in eager mode clips p = sigmoid(logit) and computes -log(p_true + clip): the derivative is
    sigma(z)(1 - sigma(z)) / (1 - sigma(z) + clip) inside the clip range and 0 where p is clipped
    (|z| > log((1 - clip) / clip)); ``clip = 0`` is the exact logistic g'(z) = sigma(z).
    """
    s = expit(margin)
    inside = np.abs(margin) < (math.log((1.0 - clip) / clip) if clip > 0 else math.inf)
    return np.where(inside, s * (1.0 - s) / (1.0 - s + clip), 0.0)


def adversarial_gradient(theta: np.ndarray, X: np.ndarray, y: np.ndarray, eps: float, g_prime) -> np.ndarray:
    """Batch-mean gradient in theta = (w, b) of g at x + delta*, delta* = -eps y sgn(w) from the current w (eq. 7).

    d/dw = -g'(z)(y x - eps sgn(w)) (eq. 9, Lemma 3) and d/db = -g'(z) y, z = eps ||w||_1 - y(<w, x> + b) (eq. 8);
    delta* is held fixed while differentiating, as in the authors' code (computed outside the tape).
    """
    w, b = theta[:-1], theta[-1]
    gp = g_prime(adversarial_margin(w, X, y, eps, b))
    return np.append(-(gp * y) @ X / len(y) + eps * gp.mean() * np.sign(w), -(gp * y).mean())


class Adam:
    """Adam (Kingma & Ba) as tf.keras implements it: bias correction folded into the step size."""

    def __init__(self, size: int, learning_rate: float) -> None:
        self.lr, self.m, self.v, self.t = learning_rate, np.zeros(size), np.zeros(size), 0

    def step(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        beta1, beta2 = ADAM_BETAS
        self.t += 1
        self.m = beta1 * self.m + (1 - beta1) * grad
        self.v = beta2 * self.v + (1 - beta2) * grad**2
        lr_t = self.lr * math.sqrt(1 - beta2**self.t) / (1 - beta1**self.t)
        return theta - lr_t * self.m / (np.sqrt(self.v) + ADAM_EPSILON)


class Ftrl:
    """FTRL-proximal (McMahan et al., 2013) exactly as TensorFlow 2.0 defines it, per coordinate.

    TF's ApplyFtrl kernel (tensorflow/core/kernels/training_ops.cc), with l1 = l2 = 0 as in
    ``tf.keras.optimizers.Ftrl(learning_rate)``::

        n_new  = n + g^2
        z     += g - (n_new^(-p) - n^(-p)) / lr * w          # p = learning_rate_power = -0.5
        w      = (sign(z) l1 - z) / (n_new^(-p) / lr + 2 l2)  if |z| > l1 else 0
        n      = n_new

    with the accumulator n starting at ``initial_accumulator_value`` = 0.1 and z at 0.
    """

    def __init__(self, size: int, learning_rate: float) -> None:
        self.lr = learning_rate
        self.n = np.full(size, FTRL_INITIAL_ACCUMULATOR)
        self.z = np.zeros(size)

    def step(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        n_new = self.n + grad**2
        power = -FTRL_LR_POWER
        self.z = self.z + grad - (n_new**power - self.n**power) / self.lr * theta
        self.n = n_new
        return -self.z / (n_new**power / self.lr)  # l1 = l2 = 0: the |z| > l1 test only maps z = 0 to w = 0


def _whole(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise AdvexError(f"{name} must be a whole number >= {low}, got {value!r}")
    return int(value)


class LogisticTrainer(ClassifierMixin, BaseEstimator):
    """The 1-layer network of eq. 14 with A = sigmoid, trained as ``mode`` ("natural", "l1" or "adv").

    ``mode`` "natural" minimises eq. 1, "l1" eq. 1 + lam ||w||_1, "adv" eq. 2 with the inner max in
    closed form (eq. 8); :class:`advex.vocabulary.Setting` keeps eps for "adv" only and lam for "l1" only.
    ``loss`` is a LOSS-INC loss of :mod:`advex.losses`; ``probability_clip`` > 0 replaces the logistic
    loss's gradient by Keras' clipped-probability cross-entropy (:func:`keras_bce_g_prime`).
    ``clean_epochs`` first epochs train with eps = 0 (the authors' warm-up). The loss is the batch mean
    plus the l1 term (on the kernel, or kernel and bias with ``l1_scope="all"``).
    Hyper-parameters are checked in :meth:`fit` (an AdvexError naming the bad one).
    """

    def __init__(
        self,
        mode: str = "natural",
        eps: float = 0.0,
        lam: float = 0.0,
        *,
        loss: str = "logistic",
        optimizer: str = "adam",
        learning_rate: float = 0.01,
        epochs: int = 30,
        batch_size: int = 32,
        init: str = "uniform",
        clean_epochs: int = 0,
        l1_scope: str = "kernel",
        probability_clip: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.mode = mode
        self.eps = eps
        self.lam = lam
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.init = init
        self.clean_epochs = clean_epochs
        self.l1_scope = l1_scope
        self.probability_clip = probability_clip
        self.seed = seed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    @property
    def setting(self) -> Setting:
        """The mode with the one hyper-parameter it trains with; a TrainerInputError names a bad one."""
        try:
            return Setting(check_choice(self.mode, MODES, "training mode"),
                           check_nonnegative(self.eps, "eps"), check_nonnegative(self.lam, "lam"))
        except AdvexError as err:
            raise TrainerInputError(str(err)) from None

    def _checked(self) -> Setting:
        """Check every hyper-parameter (scikit-learn checks them in fit, not __init__); return the Setting."""
        setting = self.setting
        try:
            check_choice(self.optimizer, OPTIMIZERS, "optimizer")
            check_choice(self.init, INITS, "init")
            check_choice(self.l1_scope, L1_SCOPES, "l1_scope")
            check_choice(self.loss, tuple(LOSSES), "loss")
            if check_nonnegative(self.learning_rate, "learning_rate") == 0:
                raise AdvexError("learning_rate must be > 0, got 0")
            if not check_nonnegative(self.probability_clip, "probability_clip") < 0.5:
                raise AdvexError(f"probability_clip must be below 0.5, got {self.probability_clip!r}")
            if self.probability_clip > 0 and self.loss != "logistic":
                raise AdvexError(f"probability_clip applies to loss='logistic' only, not {self.loss!r}")
            for name, low in (("epochs", 1), ("batch_size", 1), ("clean_epochs", 0), ("seed", 0)):
                _whole(getattr(self, name), name, low)
        except AdvexError as err:
            raise TrainerInputError(str(err)) from None
        return setting

    def fit(self, X, y, progress: ProgressCallback | None = None) -> LogisticTrainer:
        """Train on features ``X`` (n, d) and binary labels ``y``; ``progress(epoch, epochs, metrics)`` after each epoch.

        ``classes_[1]`` is the positive class (the paper's y = +1; label 1 for {0, 1} labels).
        """
        setting = self._checked()
        try:
            X, y = validate_data(self, X, y, dtype=np.float64)
            check_classification_targets(y)
        except ValueError as err:
            raise TrainerInputError(str(err)) from None
        self.classes_ = np.unique(y)
        if self.classes_.size != 2:
            raise TrainerInputError(f"Only binary classification is supported: y has {self.classes_.size} class(es) "
                                    f"{self.classes_.tolist()[:5]}; give labels of two classes (e.g. 0 and 1)")
        signs = np.where(y == self.classes_[1], 1.0, -1.0)  # the paper's y in {-1, +1}
        rng = np.random.default_rng(self.seed)
        d = X.shape[1]
        if self.init == "uniform":
            theta = np.append(rng.uniform(-1.0 / math.sqrt(d), 1.0 / math.sqrt(d), size=d), 0.0)
        else:
            theta = rng.normal(0.0, NORMAL_INIT_STD, size=d + 1)
        self.history_: list[dict] = []
        with threadpool_limits(limits=1, user_api="blas"):  # (32, d) products: more threads only add overhead
            theta = self._train(X, signs, theta, setting, rng, progress)
        self.coef_, self.intercept_ = theta[:d].copy(), float(theta[d])
        return self

    def _train(self, X, signs, theta, setting: Setting, rng, progress) -> np.ndarray:
        """The epochs of mini-batch steps on theta = (w, b); returns the final theta."""
        loss, clip = get_loss(self.loss), float(self.probability_clip)
        g_prime = (lambda margin: keras_bce_g_prime(margin, clip)) if clip > 0 else loss.g_prime
        optimizer = (Adam if self.optimizer == "adam" else Ftrl)(len(theta), float(self.learning_rate))
        l1_mask = np.ones_like(theta)
        l1_mask[-1] = 1.0 if self.l1_scope == "all" else 0.0
        n, lam = len(X), setting.lam
        for epoch in range(self.epochs):
            eps = 0.0 if epoch < self.clean_epochs else setting.eps
            order = rng.permutation(n)  # reshuffled every epoch; the last batch may be short
            for start in range(0, n, self.batch_size):
                batch = order[start : start + self.batch_size]
                gradient = adversarial_gradient(theta, X[batch], signs[batch], eps, g_prime) + lam * np.sign(theta) * l1_mask
                theta = optimizer.step(theta, gradient)
            signed_logit = signs * (X @ theta[:-1] + theta[-1])
            metrics = {
                "epoch": epoch + 1,
                "eps": eps,
                "loss": float(loss.g(eps * np.abs(theta[:-1]).sum() - signed_logit).mean() + lam * np.abs(theta * l1_mask).sum()),
                "train_accuracy": float((signed_logit > 0).mean()),
            }
            self.history_.append(metrics)
            if progress is not None:
                progress(epoch + 1, self.epochs, metrics)
        return theta

    def decision_function(self, X) -> np.ndarray:
        """The logit <w, x> + b; positive means ``classes_[1]``."""
        check_is_fitted(self)
        try:
            X = validate_data(self, X, dtype=np.float64, reset=False)
        except ValueError as err:
            raise TrainerInputError(str(err)) from None
        return X @ self.coef_ + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """Columns: P(classes_[0]), P(classes_[1])."""
        p1 = expit(self.decision_function(X))
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X) -> np.ndarray:
        """The class with probability > 0.5 (J.1's threshold)."""
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(np.int64)]

    def to_module(self) -> LogisticRegression:
        """The trained model as a torch module (for captum, shap and saving); its logit favours ``classes_[1]``."""
        check_is_fitted(self)
        module = LogisticRegression(len(self.coef_))
        with torch.no_grad():
            module.linear.weight.copy_(torch.as_tensor(self.coef_, dtype=torch.float32)[None, :])
            module.linear.bias.fill_(float(self.intercept_))
        return module.eval()
