"""Turn a logit model into the probability functions F that the attributions explain (Section 4, J.1).

advex models return logits: shape (N,) for binary models (logistic regression), (N, K) for
multiclass ones. IG and DeepSHAP explain a predicted *probability*: of the true class for images
(J.1), of the predicted label's class for tabular data. Every non-linearity here is its own
``nn.Module`` used once, so shap's DeepExplainer (which hooks modules, not functional calls)
applies its DeepLIFT rules to it.
"""

from __future__ import annotations

import torch
from torch import nn


def is_binary_output(logits: torch.Tensor) -> bool:
    """True for a binary model's logits: shape (N,) or (N, 1)."""
    return logits.ndim == 1 or (logits.ndim == 2 and logits.shape[1] == 1)


class ProbabilityOutput(nn.Module):
    """Class probabilities (N, K) of a logit model, so captum can take ``target`` = class index.

    Binary logit z (shape (N,)): ``stack([1 - p, p], dim=1)`` with p = sigmoid(z) = P(label 1);
    multiclass logits: ``softmax(logits, dim=1)``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.sigmoid = nn.Sigmoid()
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        if is_binary_output(logits):
            p = self.sigmoid(logits.reshape(-1))
            return torch.stack([1.0 - p, p], dim=1)
        return self.softmax(logits)


class Exp(nn.Module):
    """Elementwise exp as a module (shap's DeepExplainer treats it with the DeepLIFT rescale rule).

    Inputs are clamped at ``MAX_EXPONENT`` so float32 never overflows: a logit gap z_j - z_k of
    80 already means p_k < e^-80, and confident models reach gaps near 100 (inf would turn
    DeepSHAP into NaN).
    """

    MAX_EXPONENT = 80.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x.clamp(max=self.MAX_EXPONENT))


class Reciprocal(nn.Module):
    """Elementwise 1/x as a module (shap's DeepExplainer treats it with the DeepLIFT rescale rule)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.reciprocal(x)


class ClassProbability(nn.Module):
    """The predicted probability of one class, shape (N, 1): a single-output F for DeepSHAP.

    Binary: P(class 1) = sigmoid(z), P(class 0) = sigmoid(-z). Multiclass: the softmax probability
    of class k written as p_k = 1 / sum_j exp(z_j - z_k), i.e. linear -> Exp -> sum -> Reciprocal.
    This decomposition (the one shap's TensorFlow explainer uses for softmax) lets DeepLIFT credit
    inputs that act on p_k through *any* logit; shap's PyTorch rule for an ``nn.Softmax`` module is
    elementwise and would pass credit through z_k alone.
    """

    def __init__(self, model: nn.Module, class_index: int) -> None:
        super().__init__()
        self.model = model
        self.class_index = int(class_index)
        self.sigmoid = nn.Sigmoid()
        self.exp = Exp()
        self.reciprocal = Reciprocal()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        if is_binary_output(logits):
            z = logits.reshape(-1, 1)
            return self.sigmoid(z if self.class_index == 1 else -z)
        k = self.class_index
        gaps = logits - logits[:, k : k + 1]
        return self.reciprocal(self.exp(gaps).sum(dim=1, keepdim=True))
