"""The MNIST / Fashion-MNIST network of J.1 (the network of Madry et al., 2017).

conv 5x5x32 -> ReLU -> 2x2 max-pool -> conv 5x5x64 -> ReLU -> 2x2 max-pool -> fc 1024 -> ReLU -> fc 10.
Every ReLU and max-pool is its own module, used once, so shap's DeepExplainer
attributes correctly (it mis-attributes reused or functional activations).
"""

from __future__ import annotations

import torch
from torch import nn


class MadryCNN(nn.Module):
    """Returns class logits of shape (N, n_classes) for inputs (N, in_channels, image_size, image_size) in [0, 1]."""

    def __init__(self, in_channels: int = 1, n_classes: int = 10, image_size: int = 28, hidden: int = 1024) -> None:
        super().__init__()
        self.in_channels, self.n_classes, self.image_size, self.hidden = in_channels, n_classes, image_size, hidden
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * (image_size // 4) ** 2, hidden)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))

    def architecture(self) -> dict:
        return {
            "arch": "mnist_cnn",
            "in_channels": self.in_channels,
            "n_classes": self.n_classes,
            "image_size": self.image_size,
            "hidden": self.hidden,
        }
