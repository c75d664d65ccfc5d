"""A small CSP-Darknet backbone with atrous convolutions in its deep stages."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from models.blocks import ACTIVATIONS, ActFactory, ConvBNAct, CSPBlock

STAGE_NAMES = ("stem", "dark2", "dark3", "dark4", "dark5")
STAGE_STRIDES = dict(zip(STAGE_NAMES, (2, 4, 8, 16, 32), strict=True))


class CSPDarknet(nn.Module):
    """Five stages, each halving the resolution: (N, C, H, W) -> dark3, dark4, dark5 maps.

    ``stages`` must be named ``stem``, ``dark2`` .. ``dark5`` (strides 2 to 32);
    ``channels`` gives each stage's output channels.
    """

    def __init__(self, stages: dict[str, nn.Module], *, channels: Sequence[int]) -> None:
        super().__init__()
        if tuple(stages) != STAGE_NAMES:
            raise ValueError(f"stages must be {STAGE_NAMES}, got {tuple(stages)}")
        for name, module in stages.items():
            self.add_module(name, module)
        self.channels = dict(zip(STAGE_NAMES, channels, strict=True))

    @property
    def out_channels(self) -> tuple[int, int, int]:
        """Channels of the dark3, dark4, dark5 maps that ``forward`` returns."""
        return self.channels["dark3"], self.channels["dark4"], self.channels["dark5"]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, C, H, W) -> (dark3 (N, c3, H/8, W/8), dark4 (N, c4, H/16, W/16), dark5 (N, c5, H/32, W/32))."""
        outs = {}
        for name in STAGE_NAMES:
            x = getattr(self, name)(x)
            outs[name] = x
        return outs["dark3"], outs["dark4"], outs["dark5"]

    def freeze(self, until: str) -> None:
        """Stop training the stages up to and including ``until``."""
        if until not in STAGE_NAMES:
            raise KeyError(f"unknown stage {until!r}; expected one of {STAGE_NAMES}")
        for stage in STAGE_NAMES[: STAGE_NAMES.index(until) + 1]:
            for p in getattr(self, stage).parameters():
                p.requires_grad_(False)

    def features(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """The output of stage ``name``, (N, c, H/s, W/s); stages after it are not run."""
        if name not in STAGE_NAMES:
            raise KeyError(f"unknown stage {name!r}; expected one of {STAGE_NAMES}")
        for stage in STAGE_NAMES[: STAGE_NAMES.index(name) + 1]:
            x = getattr(self, stage)(x)
        return x


def build_backbone(
    *,
    channels: Sequence[int],
    depths: Sequence[int],
    dilations: Sequence[int] = (1, 1, 2, 2),
    in_channels: int = 3,
    act: ActFactory = ACTIVATIONS["silu"],
) -> CSPDarknet:
    """CSP-Darknet with ``channels`` per stage (5), CSP ``depths`` and bottleneck ``dilations`` for dark2..dark5.

    The stride-2 convolutions that open each stage stay plain; only the 3x3 convs
    inside the dark4/dark5 bottlenecks are atrous, which widens their receptive
    field at no cost in resolution or parameters.
    """
    if len(channels) != 5 or len(depths) != 4 or len(dilations) != 4:
        raise ValueError("need 5 channels, and 4 depths and dilations (dark2..dark5)")
    stages: dict[str, nn.Module] = {"stem": ConvBNAct(in_channels, channels[0], 3, 2, act=act)}
    for i, (name, n, d) in enumerate(zip(STAGE_NAMES[1:], depths, dilations, strict=True), start=1):
        stages[name] = nn.Sequential(
            ConvBNAct(channels[i - 1], channels[i], 3, 2, act=act),
            CSPBlock(channels[i], channels[i], n=n, dilation=d, act=act),
        )
    return CSPDarknet(stages, channels=channels)
