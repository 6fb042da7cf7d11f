"""The function F an attribution explains (Section 4, J.1): a class's probability or its logit.

advex models return logits: shape (N,) for binary models (logistic regression), (N, K) for
multiclass ones. ``probability`` (J.1's choice) is the softmax (sigmoid) probability of the class;
``logit`` is its logit: z_k for multiclass models, the log-odds +z (class 1) or -z (class 0) for
binary ones. Every non-linearity is its own ``nn.Module`` used once, so the DeepLIFT rules of shap
and captum (which hook modules, not functional calls) apply to it.
"""

from __future__ import annotations

import torch
from torch import nn

from advex.vocabulary import OUTPUTS, PAPER_OUTPUT, check_choice


def is_binary_output(logits: torch.Tensor) -> bool:
    """True for a binary model's logits: shape (N,) or (N, 1)."""
    return logits.ndim == 1 or (logits.ndim == 2 and logits.shape[1] == 1)


def n_classes_of(logits: torch.Tensor) -> int:
    """The number of classes of a model with these logits (2 for a binary model)."""
    return 2 if is_binary_output(logits) else int(logits.shape[1])


def class_outputs(logits: torch.Tensor, output: str = PAPER_OUTPUT) -> torch.Tensor:
    """F of every class, (N, K), from a model's logits: the probabilities or the logits (binary: K = 2, logits -z, +z)."""
    check_choice(output, OUTPUTS, "output")
    if is_binary_output(logits):
        z = logits.reshape(-1)
        signed = torch.stack([-z, z], dim=1)
        return signed if output == "logit" else torch.sigmoid(signed)
    return logits if output == "logit" else torch.softmax(logits, dim=1)


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
    """Elementwise exp as a module (DeepLIFT treats it with the rescale rule).

    Inputs are clamped at ``MAX_EXPONENT`` so float32 never overflows: a logit gap z_j - z_k of
    80 already means p_k < e^-80, and confident models reach gaps near 100 (inf would turn
    DeepSHAP into NaN).
    """

    MAX_EXPONENT = 80.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x.clamp(max=self.MAX_EXPONENT))


class Reciprocal(nn.Module):
    """Elementwise 1/x as a module (DeepLIFT treats it with the rescale rule)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.reciprocal(x)


class ClassOutput(nn.Module):
    """F(x) of one class per example, shape (N, 1): its ``probability`` or its ``logit``.

    ``forward(x, targets)`` takes the class of each row ((N,) long); without ``targets`` every row
    explains ``class_index``. Multiclass probability: p_k = 1 / sum_j exp(z_j - z_k), i.e.
    linear -> Exp -> sum -> Reciprocal, the decomposition shap's TensorFlow explainer uses for
    softmax: it lets DeepLIFT credit inputs that act on p_k through *any* logit (a rule for an
    ``nn.Softmax`` module is elementwise and would pass credit through z_k alone). Binary:
    P(class 1) = sigmoid(z), P(class 0) = sigmoid(-z); the logits are +z and -z.
    """

    def __init__(self, model: nn.Module, output: str = PAPER_OUTPUT, class_index: int = 0) -> None:
        super().__init__()
        self.model = model
        self.output = check_choice(output, OUTPUTS, "output")
        self.class_index = int(class_index)
        self.sigmoid = nn.Sigmoid()
        self.exp = Exp()
        self.reciprocal = Reciprocal()

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.model(x)
        if targets is None:
            targets = torch.full((len(x),), self.class_index, dtype=torch.long, device=x.device)
        targets = targets.reshape(-1, 1)
        if is_binary_output(logits):
            signed = logits.reshape(-1, 1) * (2 * targets - 1).to(logits.dtype)  # +z for class 1, -z for class 0
            return signed if self.output == "logit" else self.sigmoid(signed)
        chosen = logits.gather(1, targets)
        if self.output == "logit":
            return chosen
        return self.reciprocal(self.exp(logits - chosen).sum(dim=1, keepdim=True))


class ClassProbability(ClassOutput):
    """The predicted probability of class ``class_index``, shape (N, 1): a single-output F for shap's DeepExplainer."""

    def __init__(self, model: nn.Module, class_index: int) -> None:
        super().__init__(model, "probability", class_index)
