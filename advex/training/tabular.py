"""Natural, l1-regularized and l_inf(eps)-adversarial training of 1-layer models (J.1 tabular protocol).

The adversarial loss of a batch is computed exactly with the closed-form attack
(eq. 7, 8) and its gradient with eq. 9, so no inner attack loop is needed. Training is
vectorized numpy (one Adam step per mini-batch), seeded and deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import expit

from advex.attacks.closed_form import adversarial_margin
from advex.losses import get_loss
from advex.models.linear import LogisticRegression

MODES = ("natural", "l1", "adv")
ProgressCallback = Callable[[int, int, dict], None]


@dataclass
class TabularProtocol:
    """Optimizer settings of J.1 for Mushroom and Spambase: Adam, lr 0.01, batch 32, 30 epochs."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    adam_eps: float = 1e-7  # TensorFlow/Keras default, as in the paper's TF 2.0 code


@dataclass
class LogisticTrainer:
    """A scikit-learn style estimator for the 1-layer network of eq. 14 with A = sigmoid.

    ``mode`` is "natural" (eq. 1), "l1" (eq. 1 + lam ||w||_1) or "adv" (eq. 2, with the inner max
    in closed form, eq. 8). ``loss`` is any LOSS-INC loss of :mod:`advex.losses`.
    """

    mode: str = "natural"
    eps: float = 0.0
    lam: float = 0.0
    loss: str = "logistic"
    protocol: TabularProtocol = field(default_factory=TabularProtocol)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown training mode {self.mode!r}; choose one of {MODES}")
        for name in ("eps", "lam"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        get_loss(self.loss)

    @property
    def effective_eps(self) -> float:
        return float(self.eps) if self.mode == "adv" else 0.0

    @property
    def effective_lam(self) -> float:
        return float(self.lam) if self.mode == "l1" else 0.0

    def fit(self, X: np.ndarray, y: np.ndarray, progress: ProgressCallback | None = None) -> LogisticTrainer:
        """Train on features ``X`` (n, d) and labels ``y`` in {0, 1}; ``progress(epoch, epochs, metrics)`` after each epoch."""
        X = np.asarray(X, dtype=np.float64)
        labels = np.asarray(y)
        if X.ndim != 2 or len(X) != len(labels) or len(X) == 0:
            raise ValueError(f"X must be (n, d) with one label per row; got X {X.shape}, y {labels.shape}")
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("labels must be 0 or 1")
        signs = 2.0 * labels - 1.0  # the paper's y in {-1, +1}
        loss = get_loss(self.loss)
        p, rng = self.protocol, np.random.default_rng(self.seed)
        n, d = X.shape
        bound = 1.0 / math.sqrt(d)
        w = rng.uniform(-bound, bound, size=d)  # torch.nn.Linear's default initialisation
        b = 0.0
        m_w, v_w, m_b, v_b = np.zeros(d), np.zeros(d), 0.0, 0.0
        eps, lam, step = self.effective_eps, self.effective_lam, 0
        self.history_: list[dict] = []
        for epoch in range(p.epochs):
            order = rng.permutation(n)
            for start in range(0, n, p.batch_size):
                batch = order[start : start + p.batch_size]
                xb, yb = X[batch], signs[batch]
                # eq. 9: dL/dw = -g'(z)(y x - sgn(w) eps), z = eps ||w||_1 - y(<w,x> + b)
                g_prime = loss.g_prime(adversarial_margin(w, xb, yb, eps, b))
                grad_w = -(g_prime * yb) @ xb / len(batch) + (eps * g_prime.mean() + lam) * np.sign(w)
                grad_b = -(g_prime * yb).mean()
                step += 1
                m_w = p.beta1 * m_w + (1 - p.beta1) * grad_w
                v_w = p.beta2 * v_w + (1 - p.beta2) * grad_w**2
                m_b = p.beta1 * m_b + (1 - p.beta1) * grad_b
                v_b = p.beta2 * v_b + (1 - p.beta2) * grad_b**2
                correction = math.sqrt(1 - p.beta2**step) / (1 - p.beta1**step)
                w = w - p.lr * correction * m_w / (np.sqrt(v_w) + p.adam_eps)
                b = b - p.lr * correction * m_b / (math.sqrt(v_b) + p.adam_eps)
            metrics = {
                "epoch": epoch + 1,
                "loss": float(loss.g(adversarial_margin(w, X, signs, eps, b)).mean() + lam * np.abs(w).sum()),
                "train_accuracy": float(((X @ w + b > 0) == (labels == 1)).mean()),
            }
            self.history_.append(metrics)
            if progress is not None:
                progress(epoch + 1, p.epochs, metrics)
        self.coef_, self.intercept_ = w, b
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Columns: P(label 0), P(label 1)."""
        p1 = expit(self.decision_function(X))
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(np.int64)

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy with the 0.5 probability threshold (J.1)."""
        return float((self.predict(X) == np.asarray(y)).mean())

    def to_module(self) -> LogisticRegression:
        """The trained model as a torch module (for captum, shap and saving)."""
        module = LogisticRegression(len(self.coef_))
        with torch.no_grad():
            module.linear.weight.copy_(torch.as_tensor(self.coef_, dtype=torch.float32)[None, :])
            module.linear.bias.fill_(float(self.intercept_))
        return module.eval()
