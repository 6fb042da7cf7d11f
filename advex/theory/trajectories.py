"""SGD trajectories of 1-layer models, natural (eps = 0) vs l_inf(eps)-adversarial (Section 3, App. E).

Binary: minibatch SGD on the adversarial loss g(eps ||w||_1 - y <w, x>) (eq. 8) with the gradient of
eq. 9, recording the weights, the natural and robust accuracy, the Gini index of |w| and the
mean Gini of the IG vectors (eq. I.67; IG by Lemma 4.1 relative to the baseline u = 0, the
class midpoint under FEAT-TRANS). Theorem 3.1 predicts that adversarial training prunes the
weak features (|a_i| < eps) that natural training keeps. Multi-class: the k one-vs-all
classifiers of App. E.1 trained on L_T at the joint attack delta* (eqs. E.52-E.54), the setting of
Theorem E.1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from advex.attacks.closed_form import adversarial_loss_gradient
from advex.attribution.closed_form import closed_form_ig
from advex.data.feat_trans import MultiClassDistribution, one_vs_all_labels
from advex.losses import MarginLoss
from advex.metrics.gini import gini
from advex.theory.multiclass import mean_update


@dataclass(frozen=True)
class Trajectory:
    """What one SGD run recorded; row k of every array belongs to ``steps[k]``."""

    eps: float
    loss: str
    steps: np.ndarray  # (R,) SGD step numbers, starting at 0
    weights: np.ndarray  # (R, d)
    accuracy: np.ndarray  # (R,) natural accuracy on the evaluation set (ties count one half)
    robust_accuracy: np.ndarray  # (R,) accuracy under the eq. 7 attack: y <w, x> - eps ||w||_1 > 0 (ties one half)
    weight_gini: np.ndarray  # (R,) Gini of |w|
    ig_gini: np.ndarray  # (R,) mean Gini of IG(x) over the evaluation set

    @property
    def final_weights(self) -> np.ndarray:
        """Mean of the recorded weights over the last quarter of the run (smooths SGD noise)."""
        tail = max(1, len(self.steps) // 4)
        return self.weights[-tail:].mean(axis=0)


def _accuracy(margins: np.ndarray) -> float:
    """Share of positive margins, a tie (margin 0, e.g. at w = 0) counting as a coin flip."""
    return float(np.mean(margins > 0) + 0.5 * np.mean(margins == 0))


def _record(w: np.ndarray, X_eval: np.ndarray, y_eval: np.ndarray, eps: float) -> tuple[float, float, float, float]:
    margins = y_eval * (X_eval @ w)
    robust = _accuracy(margins - eps * np.abs(w).sum())
    if not np.any(w):
        return _accuracy(margins), robust, float("nan"), float("nan")
    ig = closed_form_ig(w, X_eval, baseline=0.0, activation=expit)  # eq. 15, F = sigmoid(<w, x>)
    return (
        _accuracy(margins),
        robust,
        float(gini(w)),
        float(np.nanmean(gini(ig))),
    )


def train_sgd(
    X: np.ndarray,
    y: np.ndarray,
    eps: float,
    loss: MarginLoss,
    rng: np.random.Generator,
    n_steps: int = 400,
    lr: float = 0.1,
    batch_size: int = 32,
    w0: np.ndarray | None = None,
    X_eval: np.ndarray | None = None,
    y_eval: np.ndarray | None = None,
    n_records: int = 81,
) -> Trajectory:
    """Train w by minibatch SGD on the l_inf(eps)-adversarial loss (eqs. 8-9); eps = 0 is natural training.

    Labels ``y`` are in {-1, +1}. ``n_records`` evenly spaced steps (including 0 and the last) are
    recorded on (X_eval, y_eval), which default to the training set.
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],) or not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError("X must be (n, d) and y a length-n vector of labels in {-1, +1}")
    if n_steps < 1 or lr <= 0 or batch_size < 1 or eps < 0:
        raise ValueError("need n_steps >= 1, lr > 0, batch_size >= 1 and eps >= 0")
    X_eval = X if X_eval is None else np.asarray(X_eval, dtype=np.float64)
    y_eval = y if y_eval is None else np.asarray(y_eval, dtype=np.float64)
    w = np.zeros(X.shape[1]) if w0 is None else np.array(w0, dtype=np.float64)
    record_at = set(np.unique(np.linspace(0, n_steps, n_records).round().astype(int)).tolist())
    steps, weights, rows = [], [], []
    for step in range(n_steps + 1):
        if step in record_at:
            steps.append(step)
            weights.append(w.copy())
            rows.append(_record(w, X_eval, y_eval, eps))
        if step == n_steps:
            break
        batch = rng.integers(0, X.shape[0], size=batch_size)
        w -= lr * adversarial_loss_gradient(loss, w, X[batch], y[batch], eps).mean(axis=0)  # eq. 9
    acc, robust, w_gini, ig_gini = (np.array(col) for col in zip(*rows))
    return Trajectory(float(eps), loss.name, np.array(steps), np.array(weights), acc, robust, w_gini, ig_gini)


def seeded_run(
    dist,
    eps: float,
    loss: MarginLoss,
    seed: int = 0,
    n_train: int = 2000,
    n_eval: int = 500,
    n_steps: int = 400,
    lr: float = 0.1,
    batch_size: int = 32,
    n_records: int = 81,
) -> Trajectory:
    """One SGD run on a seeded sample of ``dist``; runs with the same seed share data and minibatches."""
    rng = np.random.default_rng(seed)
    X, y = dist.sample(n_train, rng)
    X_eval, y_eval = dist.sample(n_eval, rng)
    return train_sgd(X, y, eps, loss, np.random.default_rng(seed + 1), n_steps, lr, batch_size,
                     X_eval=X_eval, y_eval=y_eval, n_records=n_records)


def natural_vs_adversarial(dist, eps: float, loss: MarginLoss, seed: int = 0, **kwargs) -> tuple[Trajectory, Trajectory]:
    """Train twice on the same seeded sample and minibatches: naturally (eps = 0) and adversarially (eps).

    Keyword arguments go to :func:`seeded_run`; differences between the runs come from eps alone.
    """
    return seeded_run(dist, 0.0, loss, seed, **kwargs), seeded_run(dist, eps, loss, seed, **kwargs)


@dataclass(frozen=True)
class MultiClassTrajectory:
    """What one one-vs-all SGD run recorded (App. E.1); row r of every array belongs to ``steps[r]``."""

    eps: float
    loss: str
    steps: np.ndarray  # (R,)
    weights: np.ndarray  # (R, k, d)
    accuracy: np.ndarray  # (R,) share of argmax_i <w_i, x> = class on the evaluation set (ties count 1/k)
    weight_gini: np.ndarray  # (R,) Gini of |W| over all k d weights (eq. I.67)

    @property
    def final_weights(self) -> np.ndarray:
        """Mean of the recorded weights over the last quarter of the run (smooths SGD noise)."""
        tail = max(1, len(self.steps) // 4)
        return self.weights[-tail:].mean(axis=0)


def _multiclass_accuracy(W: np.ndarray, X: np.ndarray, classes: np.ndarray) -> float:
    scores = X @ W.T
    top = scores == scores.max(axis=1, keepdims=True)
    return float(np.mean(top[np.arange(len(classes)), classes] / top.sum(axis=1)))


def seeded_multiclass_run(
    dist: MultiClassDistribution,
    eps: float,
    loss: MarginLoss,
    seed: int = 0,
    n_train: int = 2000,
    n_eval: int = 500,
    n_steps: int = 400,
    lr: float = 0.1,
    batch_size: int = 32,
    n_records: int = 41,
) -> MultiClassTrajectory:
    """Minibatch SGD of the k one-vs-all classifiers from W = 0 on L_T at the joint attack (eqs. E.52-E.54).

    Runs with the same seed share the data and the minibatches, so natural (eps = 0) and adversarial
    runs differ by eps alone.
    """
    if n_steps < 1 or lr <= 0 or batch_size < 1 or eps < 0:
        raise ValueError("need n_steps >= 1, lr > 0, batch_size >= 1 and eps >= 0")
    rng = np.random.default_rng(seed)
    X, classes = dist.sample(n_train, rng)
    X_eval, classes_eval = dist.sample(n_eval, rng)
    Y = one_vs_all_labels(classes, dist.n_classes)
    batches = np.random.default_rng(seed + 1)
    W = np.zeros((dist.n_classes, dist.d))
    record_at = set(np.unique(np.linspace(0, n_steps, n_records).round().astype(int)).tolist())
    steps, weights, accuracy, w_gini = [], [], [], []
    for step in range(n_steps + 1):
        if step in record_at:
            steps.append(step)
            weights.append(W.copy())
            accuracy.append(_multiclass_accuracy(W, X_eval, classes_eval))
            w_gini.append(float(gini(W.ravel())) if np.any(W) else float("nan"))
        if step == n_steps:
            break
        batch = batches.integers(0, n_train, size=batch_size)
        W += lr * mean_update(W, X[batch], Y[batch], eps, loss)  # eq. E.54: Delta w_ij = -dL_T/dw_ij at x + delta*
    return MultiClassTrajectory(float(eps), loss.name, np.array(steps), np.array(weights), np.array(accuracy),
                                np.array(w_gini))
