"""The wide residual network of App. J.1 for CIFAR-10 (Zagoruyko & Komodakis, 2016; Madry et al., 2017).

Laid out as in Madry et al.'s CIFAR-10 model, which the paper uses: a 3x3 conv with 16
filters, three stages of pre-activation residual units (BN -> ReLU -> 3x3 conv, twice) with
``16*k, 32*k, 64*k`` filters and strides 1, 2, 2, a shortcut that average-pools and
zero-pads channels where the shape changes, then BN -> ReLU -> global average pool -> fc.
``depth = 6 n + 4`` gives ``n`` units per stage: WRN-28-10 is ``depth=28, widen_factor=10``
(Madry et al.'s code uses 5 units per stage, ``depth=34``). Madry et al. use leaky ReLUs
(slope 0.1); here plain ReLUs, as in the original wide residual network.

Every activation is its own ``nn.ReLU`` module used exactly once, and no functional
activations are used, so shap's DeepExplainer attributes correctly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from advex.errors import AdvexError


class PadShortcut(nn.Module):
    """Shortcut of a unit whose shape changes: ``stride`` average pooling, then zero-padding of channels."""

    def __init__(self, in_filters: int, out_filters: int, stride: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        extra = out_filters - in_filters
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(self.pool(x), (0, 0, 0, 0, *self.pad))


class ResidualUnit(nn.Module):
    """Pre-activation unit: ``shortcut(x or a(x)) + conv(relu(bn(conv(a(x)))))`` with ``a = relu o bn``."""

    def __init__(self, in_filters: int, out_filters: int, stride: int, activate_before_residual: bool) -> None:
        super().__init__()
        self.activate_before_residual = activate_before_residual
        self.bn1 = nn.BatchNorm2d(in_filters)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_filters, out_filters, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_filters)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_filters, out_filters, 3, stride=1, padding=1, bias=False)
        same_shape = in_filters == out_filters and stride == 1
        self.shortcut = nn.Identity() if same_shape else PadShortcut(in_filters, out_filters, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu1(self.bn1(x))
        residual_input = activated if self.activate_before_residual else x
        out = self.conv2(self.relu2(self.bn2(self.conv1(activated))))
        return out + self.shortcut(residual_input)


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor``: logits (N, n_classes) for images (N, in_channels, 32, 32) in [0, 1]."""

    def __init__(self, depth: int = 28, widen_factor: int = 10, in_channels: int = 3, n_classes: int = 10) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise AdvexError(f"WRN depth must be 6n+4 with n >= 1 (e.g. 28 or 34), got {depth}")
        if widen_factor < 1:
            raise AdvexError(f"WRN widen_factor must be >= 1, got {widen_factor}")
        self.depth, self.widen_factor, self.in_channels, self.n_classes = depth, widen_factor, in_channels, n_classes
        units = (depth - 4) // 6
        filters = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.init_conv = nn.Conv2d(in_channels, filters[0], 3, padding=1, bias=False)
        layers: list[nn.Module] = []
        for stage, stride in enumerate((1, 2, 2)):
            for unit in range(units):
                first = unit == 0
                layers.append(
                    ResidualUnit(
                        filters[stage] if first else filters[stage + 1],
                        filters[stage + 1],
                        stride if first else 1,
                        activate_before_residual=first and stage == 0,
                    )
                )
        self.units = nn.Sequential(*layers)
        self.final_bn = nn.BatchNorm2d(filters[3])
        self.final_relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(filters[3], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.units(self.init_conv(x))
        return self.fc(self.flatten(self.pool(self.final_relu(self.final_bn(x)))))

    def architecture(self) -> dict:
        return {
            "arch": "wide_resnet",
            "depth": self.depth,
            "widen_factor": self.widen_factor,
            "in_channels": self.in_channels,
            "n_classes": self.n_classes,
        }
