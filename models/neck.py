"""FPN top-down plus PAN bottom-up neck (YOLOv4/v5 "PANet")."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from models.blocks import ACTIVATIONS, ActFactory, ConvBNAct, CSPBlock


class PAFPN(nn.Module):
    """Fuses the stride 8/16/32 maps top-down then bottom-up; channels in == channels out.

    (p3 (N, c3, H/8, W/8), p4 (N, c4, H/16, W/16), p5 (N, c5, H/32, W/32))
    -> (n3 (N, c3, H/8, W/8), n4 (N, c4, H/16, W/16), n5 (N, c5, H/32, W/32))
    """

    def __init__(self, channels: Sequence[int], *, depth: int = 1, act: ActFactory = ACTIVATIONS["silu"]) -> None:
        super().__init__()
        c3, c4, c5 = channels
        self.lateral5 = ConvBNAct(c5, c4, 1, act=act)
        self.top_down4 = CSPBlock(2 * c4, c4, n=depth, shortcut=False, act=act)
        self.lateral4 = ConvBNAct(c4, c3, 1, act=act)
        self.top_down3 = CSPBlock(2 * c3, c3, n=depth, shortcut=False, act=act)
        self.down3 = ConvBNAct(c3, c3, 3, 2, act=act)
        self.bottom_up4 = CSPBlock(2 * c3, c4, n=depth, shortcut=False, act=act)
        self.down4 = ConvBNAct(c4, c4, 3, 2, act=act)
        self.bottom_up5 = CSPBlock(2 * c4, c5, n=depth, shortcut=False, act=act)
        self.upsample = nn.Upsample(scale_factor=2.0, mode="nearest")

    def forward(
        self, features: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p3, p4, p5 = features
        lat5 = self.lateral5(p5)  # (N, c4, H/32, W/32)
        f4 = self.top_down4(torch.cat((self.upsample(lat5), p4), dim=1))  # (N, c4, H/16, W/16)
        lat4 = self.lateral4(f4)  # (N, c3, H/16, W/16)
        n3 = self.top_down3(torch.cat((self.upsample(lat4), p3), dim=1))  # (N, c3, H/8, W/8)
        n4 = self.bottom_up4(torch.cat((self.down3(n3), lat4), dim=1))  # (N, c4, H/16, W/16)
        n5 = self.bottom_up5(torch.cat((self.down4(n4), lat5), dim=1))  # (N, c5, H/32, W/32)
        return n3, n4, n5
