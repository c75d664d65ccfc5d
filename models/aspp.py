"""Atrous Spatial Pyramid Pooling, the block ASPP-YOLO puts where YOLOv4 has SPP.

SPP max-pools the deepest feature map at several window sizes; ASPP instead
looks at it through parallel 3x3 convolutions with growing dilation rates plus
an image-level (global average) branch, so the head sees context at several
receptive fields without losing resolution. X-ray threats are often partly
hidden by clutter, and the wider context is what the seed paper credits for its
gain over SPP.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from models.blocks import ACTIVATIONS, ActFactory, ConvBNAct


class ImagePooling(nn.Module):
    """Global average pool, 1x1 conv, broadcast back: (N, c_in, H, W) -> (N, c_out, H, W)."""

    def __init__(self, c_in: int, c_out: int, *, act: ActFactory) -> None:
        super().__init__()
        # No BatchNorm: on a 1x1 map a batch of one has no variance to normalise.
        self.conv = nn.Conv2d(c_in, c_out, 1)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.act(self.conv(x.mean(dim=(2, 3), keepdim=True)))  # (N, c_out, 1, 1)
        # Nearest upsampling of a 1x1 map is a broadcast; expand exports to ONNX as Expand.
        return pooled.expand(-1, -1, x.shape[2], x.shape[3])


class ASPP(nn.Module):
    """(N, c_in, H, W) -> (N, c_out, H, W).

    A 1x1 conv first halves the channels (as YOLOv5's SPPF does, to keep the
    dilated branches cheap); then a 1x1 branch, one dilated 3x3 branch per rate
    and the image-pooling branch run in parallel, each giving ``branch_channels``;
    their concatenation is fused by a 1x1 conv.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        rates: Sequence[int] = (2, 4, 6),
        branch_channels: int | None = None,
        act: ActFactory = ACTIVATIONS["silu"],
    ) -> None:
        super().__init__()
        hidden = c_in // 2
        branch = branch_channels or hidden // 2
        self.rates = tuple(rates)
        self.reduce = ConvBNAct(c_in, hidden, 1, act=act)
        self.branches = nn.ModuleList(
            [ConvBNAct(hidden, branch, 1, act=act)]
            + [ConvBNAct(hidden, branch, 3, dilation=r, act=act) for r in self.rates]
            + [ImagePooling(hidden, branch, act=act)]
        )
        self.fuse = ConvBNAct(branch * len(self.branches), c_out, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        return self.fuse(torch.cat([b(x) for b in self.branches], dim=1))
