"""Convolution building blocks shared by the backbone and the neck.

All blocks keep the spatial size unless they are given ``stride=2``; dilated
(atrous) 3x3 convolutions get padding ``dilation`` so they keep it as well.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

ActFactory = Callable[[], nn.Module]

ACTIVATIONS: dict[str, ActFactory] = {
    "silu": lambda: nn.SiLU(inplace=True),
    # 0.1 as in YOLOv3/v4's Darknet.
    "leaky": lambda: nn.LeakyReLU(0.1, inplace=True),
}


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) + BatchNorm2d + activation: (N, c_in, H, W) -> (N, c_out, H/s, W/s)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int = 1,
        stride: int = 1,
        *,
        dilation: int = 1,
        groups: int = 1,
        act: ActFactory = ACTIVATIONS["silu"],
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=False),
            # eps/momentum as YOLOv5: the PyTorch defaults train less stably with small batches.
            nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03),
            act(),
        )


class Bottleneck(nn.Module):
    """1x1 then (optionally atrous) 3x3 conv with a residual: (N, c, H, W) -> (N, c, H, W)."""

    def __init__(self, c: int, *, shortcut: bool = True, dilation: int = 1, act: ActFactory) -> None:
        super().__init__()
        self.cv1 = ConvBNAct(c, c, 1, act=act)
        self.cv2 = ConvBNAct(c, c, 3, dilation=dilation, act=act)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


class CSPBlock(nn.Module):
    """Cross-stage partial block (YOLOv5 "C3"): (N, c_in, H, W) -> (N, c_out, H, W).

    Half the channels go through ``n`` bottlenecks, the other half bypass them;
    the two halves are concatenated and fused by a 1x1 conv.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        n: int = 1,
        shortcut: bool = True,
        dilation: int = 1,
        act: ActFactory = ACTIVATIONS["silu"],
    ) -> None:
        super().__init__()
        hidden = c_out // 2
        self.cv1 = ConvBNAct(c_in, hidden, 1, act=act)
        self.cv2 = ConvBNAct(c_in, hidden, 1, act=act)
        self.blocks = nn.Sequential(
            *(Bottleneck(hidden, shortcut=shortcut, dilation=dilation, act=act) for _ in range(n))
        )
        self.cv3 = ConvBNAct(2 * hidden, c_out, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.blocks(self.cv1(x)), self.cv2(x)), dim=1))
