"""The course's networks as nn.Modules, and a name -> constructor registry that recipes refer to.

Every model maps (B, 1, 28, 28) images in [0, 1] to (B, 10) logits. The softmax itself lives in the loss
(`cross_entropy` on logits): computing log(softmax) in one step is what avoids the course's log(0) = NaN.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def wrap(fn):
        MODELS[name] = fn
        return fn
    return wrap


def build_model(recipe) -> nn.Module:
    """The recipe's network, initialised from the global torch RNG (seed it first)."""
    return MODELS[recipe.model](recipe)


def truncated_normal_(t: torch.Tensor, std: float = 0.1) -> torch.Tensor:
    # TF1's tf.truncated_normal: values beyond two standard deviations are redrawn.
    return nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)


class CourseBatchNorm(nn.Module):
    """Batch norm as the course used it: normalise, then a learned offset (and, if `scale`, a learned scale).

    The moving averages follow TF's ExponentialMovingAverage(decay, num_updates): the decay starts small
    ((1 + n) / (10 + n)) so test-time statistics are usable from the first evaluations, then settles at
    `decay` (0.999 in the course, i.e. PyTorch momentum 0.001).
    """

    def __init__(self, features: int, dims: int, scale: bool, decay: float = 0.999):
        super().__init__()
        cls = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.bn = cls(features, affine=False, momentum=1 - decay)
        self.decay = decay
        self.weight = nn.Parameter(torch.ones(features)) if scale else None
        self.bias = nn.Parameter(torch.zeros(features))  # the offset ("beta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            n = float(self.bn.num_batches_tracked)  # CPU scalar; one small read per layer per step
            self.bn.momentum = 1 - min(self.decay, (1 + n) / (10 + n))
        y = self.bn(x)
        shape = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
        if self.weight is not None:
            y = y * self.weight.view(shape)
        return y + self.bias.view(shape)


def _activation(name: str) -> nn.Module:
    return {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}[name]()


@register("softmax")
class Softmax(nn.Module):
    """1.0: one dense layer, 784 -> 10, weights and biases start at zero."""

    def __init__(self, recipe=None):
        super().__init__()
        self.fc = nn.Linear(784, 10)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        x = x.flatten(1)  # (B, 1, 28, 28) -> (B, 784)
        return self.fc(x)  # (B, 10) logits


@register("dense")
class Dense(nn.Module):
    """1.1 to 4.1: 784 -> hidden... -> 10, sigmoid or ReLU, optional course batch norm and dropout."""

    def __init__(self, recipe):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = 784
        for h in recipe.hidden:
            linear = nn.Linear(width, h, bias=recipe.batchnorm == "none")
            truncated_normal_(linear.weight)
            if linear.bias is not None:
                # ReLU units start slightly positive so none is dead at step 0 (the course's 0.1).
                nn.init.constant_(linear.bias, recipe.bias_init)
            layers.append(linear)
            if recipe.batchnorm != "none":
                layers.append(CourseBatchNorm(h, 1, scale=recipe.batchnorm == "scale_offset", decay=recipe.bn_decay))
            layers.append(_activation(recipe.activation))
            if recipe.dropout > 0:
                layers.append(nn.Dropout(recipe.dropout))
            width = h
        out = nn.Linear(width, 10)
        truncated_normal_(out.weight)
        nn.init.zeros_(out.bias)
        layers.append(out)
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)  # (B, 1, 28, 28) -> (B, 10)


def _same_conv(cin: int, cout: int, k: int, stride: int, size: int, bias: bool) -> nn.Sequential:
    """A conv with TF's "same" padding: output size ceil(size / stride), extra padding on the right."""
    total = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
    left, right = total // 2, total - total // 2
    conv = nn.Conv2d(cin, cout, k, stride, padding=left if left == right else 0, bias=bias)
    if left == right:
        return nn.Sequential(conv)
    return nn.Sequential(nn.ZeroPad2d((left, right, left, right)), conv)


@register("conv")
class Conv(nn.Module):
    """3.0, 3.1, 4.2: three convolutions (28 -> 28 -> 14 -> 7), a dense layer of `dense` units, 10 outputs."""

    def __init__(self, recipe):
        super().__init__()
        bn = recipe.batchnorm != "none"
        layers: list[nn.Module] = []
        cin, size = 1, 28
        for cout, k, s in zip(recipe.channels, recipe.kernels, recipe.strides):
            block = _same_conv(cin, cout, k, s, size, bias=not bn)
            layers.append(block)
            if bn:
                layers.append(CourseBatchNorm(cout, 2, scale=recipe.batchnorm == "scale_offset", decay=recipe.bn_decay))
            layers.append(nn.ReLU())
            cin, size = cout, math.ceil(size / s)
        layers += [nn.Flatten(), nn.Linear(cin * size * size, recipe.dense, bias=not bn)]
        if bn:
            layers.append(CourseBatchNorm(recipe.dense, 1, scale=recipe.batchnorm == "scale_offset", decay=recipe.bn_decay))
        layers.append(nn.ReLU())
        if recipe.dropout > 0:
            layers.append(nn.Dropout(recipe.dropout))  # after the dense layer only: conv features are few
        layers.append(nn.Linear(recipe.dense, 10))
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                truncated_normal_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, recipe.bias_init)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x):
        return self.net(x)  # (B, 1, 28, 28) -> (B, 10)


@register("bn_cnn")
class BNCNN(nn.Module):
    """fast, fast995, best: one stage per channel count, as in airbench: 3x3 conv -> 2x2 max-pool -> BatchNorm
    -> ReLU, then `stage_convs - 1` more [3x3 conv -> BatchNorm -> ReLU] (28 -> 14 -> 7 -> 3 pixels); one
    linear layer on the flattened (C, 3, 3) features.

    Pooling straight after the first conv makes batch norm and ReLU (memory-bound, most of the CPU time at
    28x28) run on a quarter of the pixels. Batch norm is what lets these nets take large steps from the first
    iteration, so a one-cycle schedule reaches 99% in about one epoch.
    """

    def __init__(self, recipe):
        super().__init__()
        layers: list[nn.Module] = []
        cin, size = 1, 28
        for cout in recipe.channels:
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(cout), nn.ReLU()]
            for _ in range(recipe.stage_convs - 1):
                layers += [nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            cin, size = cout, size // 2
        layers.append(nn.Flatten())
        if recipe.dropout > 0:
            layers.append(nn.Dropout(recipe.dropout))
        layers.append(nn.Linear(cin * size * size, 10))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)  # (B, 1, 28, 28) -> (B, 10)


def split_params(model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(weights, biases): matrices and kernels vs vectors (biases, batch-norm offsets and scales)."""
    weights = [p for p in model.parameters() if p.dim() > 1]
    biases = [p for p in model.parameters() if p.dim() <= 1]
    return weights, biases


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, (CourseBatchNorm, nn.modules.batchnorm._BatchNorm)) for m in model.modules())
