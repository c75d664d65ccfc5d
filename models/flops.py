"""Parameter and FLOP counts for model cards, from forward hooks on the convolutions.

Counts multiply-accumulates of Conv2d and Linear layers only (BatchNorm,
activations, pooling and additions are a few percent and fold away or fuse at
inference). FLOPs are reported as 2 x MACs, the convention of YOLOv5 and
Ultralytics model tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelProfile:
    """Size and cost of one forward pass over one image."""

    params: int
    macs: int
    img_size: int

    @property
    def gflops(self) -> float:
        return 2 * self.macs / 1e9


def count_params(model: nn.Module) -> int:
    """Number of parameters (buffers such as BatchNorm statistics not included)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of Conv2d and Linear layers for ``model(x)``, per image of the batch."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() // output.shape[0] * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() // output.shape[0] * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def profile(model: nn.Module, *, img_size: int, in_channels: int = 3) -> ModelProfile:
    """Parameters and MACs of ``model`` on one (1, in_channels, img_size, img_size) image."""
    device = next(model.parameters()).device
    x = torch.zeros(1, in_channels, img_size, img_size, device=device)
    return ModelProfile(params=count_params(model), macs=count_macs(model, x), img_size=img_size)
