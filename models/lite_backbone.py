"""EfficientNet-Lite0 as a detector backbone: the CSP-Darknet interface over ImageNet-pretrained stages.

The detector sees pseudo-colour (or dual-energy) frames in [0, 1]; the
ImageNet weights expect (x - 127) / 128 on 0..255, so the adapter scales its
input first (one multiply-add, exported with the graph). Its stages answer to
the same names and strides as `models.backbone.CSPDarknet` (``stem`` at 2,
``dark2`` .. ``dark5`` at 4 .. 32), so task-driven cropping, which reads an
early stage of the detector's own backbone, works with either.

As in the seed method (ASPP-YOLOv4 "combined with atrous convolution and
transfer learning"), the stride-32 stage's depthwise convolutions are
dilated by 2 by default: a wider receptive field for long, thin threats at
no cost in resolution or parameters. The ImageNet weights load either way.
"""

from __future__ import annotations

import torch
from torch import nn

from models.backbone import STAGE_NAMES
from models.blocks import ConvBNAct
from models.efficientnet_lite import INPUT_MEAN, INPUT_STD, EfficientNetLite, efficientnet_lite0


def _relu6() -> nn.Module:
    return nn.ReLU6(inplace=True)

__all__ = ["LiteBackbone", "build_lite_backbone"]


class LiteBackbone(nn.Module):
    """(N, 3, H, W) in [0, 1] -> (c3 (N, 40, H/8, W/8), c4 (N, 112, H/16, W/16), c5 (N, out5, H/32, W/32)).

    ``features(x, name)`` returns one named stage's map, running nothing
    deeper; ``channels`` gives each stage's channels, as CSP-Darknet does.
    ``out5`` projects the stride-32 map (1x1 conv) to that many channels for
    the neck: ASPP's four 3x3 branches on Lite0's 320 channels would cost more
    than the whole backbone.
    """

    def __init__(self, net: EfficientNetLite, *, out5: int | None = None) -> None:
        super().__init__()
        self.stem = net.stem
        self.blocks = net.blocks
        # the last block at each stride: stride 2 is the stem's first block (Lite0's 16-channel stage)
        ends: dict[int, int] = {}
        stride = 2
        for i, block in enumerate(net.blocks):
            stride *= block.depthwise[0].stride[0]
            ends[stride] = i
        self._ends = {name: ends[2 ** (k + 1)] for k, name in enumerate(STAGE_NAMES)}
        self.channels = {name: net.blocks[i].c_out for name, i in self._ends.items()}
        c5 = self.channels["dark5"]
        self.project5 = ConvBNAct(c5, out5, 1, act=_relu6) if out5 and out5 != c5 else nn.Identity()
        self._out5 = out5 or c5
        # [0, 1] -> (255 x - 127) / 128 as one affine map
        self.register_buffer("_scale", torch.tensor(255.0 / INPUT_STD), persistent=False)
        self.register_buffer("_shift", torch.tensor(-INPUT_MEAN / INPUT_STD), persistent=False)

    @property
    def out_channels(self) -> tuple[int, int, int]:
        """Channels of the dark3, dark4 and (projected) dark5 maps that ``forward`` returns."""
        return self.channels["dark3"], self.channels["dark4"], self._out5

    def _run(self, x: torch.Tensor, last: int, taps: tuple[int, ...]) -> list[torch.Tensor]:
        x = self.stem(x * self._scale + self._shift)
        outs = []
        for i in range(last + 1):
            x = self.blocks[i](x)
            if i in taps:
                outs.append(x)
        return outs

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) -> (dark3, dark4, dark5) maps at strides 8, 16, 32."""
        taps = (self._ends["dark3"], self._ends["dark4"], self._ends["dark5"])
        c3, c4, c5 = self._run(x, taps[-1], taps)
        return c3, c4, self.project5(c5)

    def freeze(self, until: str) -> None:
        """Stop training the stages up to and including ``until`` (their weights stay as pretrained)."""
        if until not in self._ends:
            raise KeyError(f"unknown stage {until!r}; expected one of {STAGE_NAMES}")
        for module in (self.stem, *self.blocks[: self._ends[until] + 1]):
            for p in module.parameters():
                p.requires_grad_(False)

    def features(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """The output of stage ``name``, (N, c, H/s, W/s); stages after it are not run."""
        if name not in self._ends:
            raise KeyError(f"unknown stage {name!r}; expected one of {STAGE_NAMES}")
        return self._run(x, self._ends[name], (self._ends[name],))[0]


def build_lite_backbone(*, pretrained: bool = True, dilations: tuple[int, int] = (1, 2),
                        out5: int | None = None) -> LiteBackbone:
    """EfficientNet-Lite0's stem and blocks as a detector backbone (head and classifier dropped).

    ``pretrained`` loads the ImageNet weights (training from them); a
    detector rebuilt from a checkpoint takes its own weights instead.
    """
    return LiteBackbone(efficientnet_lite0(pretrained=pretrained, dilations=dilations), out5=out5)
