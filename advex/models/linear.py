"""The 1-layer network of eq. 14, F(x) = A(<w, x> + b), as logistic regression."""

from __future__ import annotations

import torch
from torch import nn


class LogisticRegression(nn.Module):
    """Logistic regression: the logit <w, x> + b; sigmoid(logit) = P(y = 1 | x) (eq. 14, A = sigmoid)."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.n_features = n_features
        self.linear = nn.Linear(n_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)

    @property
    def weight(self) -> torch.Tensor:
        """The weight vector w of eq. 14, shape (d,)."""
        return self.linear.weight.detach()[0]

    @property
    def bias(self) -> float:
        return float(self.linear.bias.detach()[0])

    def architecture(self) -> dict:
        """Constructor arguments, stored in the model card so the model can be rebuilt."""
        return {"arch": "logistic", "n_features": self.n_features}
