"""ASPP-YOLO: CSP-Darknet with atrous deep stages, ASPP instead of SPP, PAN neck, YOLO head.

After "Improved YOLOv4 for dangerous goods detection in X-ray inspection
combined with atrous convolution and transfer learning", sized down (YOLOv5
width/depth multipliers) so that "nano" trains on a 2-core CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

from models.aspp import ASPP
from models.backbone import STAGE_NAMES, build_backbone
from models.blocks import ACTIVATIONS
from models.doam import DOAM
from models.head import YOLOHead
from models.label_aware import LABEL_AWARE, LabelAware, LabelAwareHead
from models.neck import PAFPN

Size = Literal["nano", "small"]
Backbone = Literal["cspdarknet", "efficientnet-lite0"]
BACKBONES: tuple[str, ...] = ("cspdarknet", "efficientnet-lite0")
Anchors = tuple[tuple[tuple[float, float], ...], ...]

STRIDES = (8, 16, 32)
# YOLOv5 at width = depth = 1: channels per stage and CSP depths for dark2..dark5 and the neck.
_BASE_CHANNELS = (64, 128, 256, 512, 1024)
_BASE_DEPTHS = (3, 6, 9, 3)
_BASE_NECK_DEPTH = 3


@dataclass(frozen=True)
class SizeSpec:
    """Width and depth multipliers of one model size, and a cap on channels (as YOLOv8's)."""

    width: float
    depth: float
    max_channels: int = 1024

    def channels(self) -> tuple[int, ...]:
        # Multiples of 8 keep convolutions on vectorised CPU paths.
        return tuple(min(self.max_channels, int(math.ceil(c * self.width / 8)) * 8) for c in _BASE_CHANNELS)

    def depths(self) -> tuple[int, ...]:
        return tuple(max(1, round(n * self.depth)) for n in _BASE_DEPTHS)

    def neck_depth(self) -> int:
        return max(1, round(_BASE_NECK_DEPTH * self.depth))


SIZES: dict[str, SizeSpec] = {
    # nano: one bottleneck per CSP block and at most 192 channels (the stride-32
    # layers hold most parameters but little compute), so it trains within 45 min on 2 cores.
    "nano": SizeSpec(width=0.25, depth=0.15, max_channels=192),
    "small": SizeSpec(width=0.5, depth=0.33),
}


@dataclass(frozen=True)
class DetectorConfig:
    """Everything needed to rebuild a detector; stored in checkpoints as ``to_dict()``.

    ``anchors``: 3 scales (stride 8 first) x 3 anchors of (w, h) in input pixels at ``img_size``.
    """

    size: Size
    num_classes: int
    class_names: tuple[str, ...]
    anchors: Anchors
    img_size: int = 416
    in_channels: int = 3
    activation: Literal["silu", "leaky"] = "silu"
    # "cspdarknet": trained from scratch, sized by ``size``; "efficientnet-lite0": ImageNet-pretrained
    # (the neck and head are still sized by ``size``)
    backbone: Backbone = "cspdarknet"
    # the De-occlusion Attention Module (`models.doam`) refines the image before the backbone reads it;
    # checkpoints from before it existed have no key and load as False
    doam: bool = False
    # the label-aware mechanism (`models.label_aware`) in the head: "cls" (LAcls), "reg" (LAreg) or "none";
    # checkpoints from before it existed have no key and load as "none"
    label_aware: LabelAware = "none"

    def __post_init__(self) -> None:
        # Accept lists or arrays; store hashable tuples.
        object.__setattr__(self, "class_names", tuple(str(n) for n in self.class_names))
        anchors = tuple(tuple((float(w), float(h)) for w, h in scale) for scale in self.anchors)
        object.__setattr__(self, "anchors", anchors)
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {tuple(SIZES)}, got {self.size!r}")
        if len(self.class_names) != self.num_classes or self.num_classes < 1:
            raise ValueError(f"{len(self.class_names)} class names for {self.num_classes} classes")
        if len(self.anchors) != len(STRIDES) or any(len(scale) != 3 for scale in self.anchors):
            raise ValueError("anchors must be 3 scales x 3 anchors x (w, h)")
        if self.img_size % max(STRIDES):
            raise ValueError(f"img_size must be a multiple of {max(STRIDES)}, got {self.img_size}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if not isinstance(self.doam, bool):
            raise ValueError(f"doam must be true or false, got {self.doam!r}")
        if self.label_aware not in LABEL_AWARE:
            raise ValueError(f"label_aware must be one of {LABEL_AWARE}, got {self.label_aware!r}")
        if self.backbone != "cspdarknet" and self.in_channels != 3:
            raise ValueError(f"the {self.backbone} backbone takes 3-channel input, got in_channels={self.in_channels}")

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, str, int and float only: safe for JSON and ``torch.load(weights_only=True)``."""
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        d["anchors"] = [[list(a) for a in scale] for scale in self.anchors]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectorConfig:
        return cls(**d)


class ASPPYOLO(nn.Module):
    """(N, C_in, H, W) float in [0, 1], H and W multiples of 32 -> 3 raw maps (N, 3, H/s, W/s, 5 + C), s = 8, 16, 32.

    The last axis is (tx, ty, tw, th, obj, cls_1..cls_C) before any activation;
    ``models.decode`` turns it into boxes. ``forward`` returns the same thing
    in train and eval mode: the loss is a separate function. ``doam``, where given, refines
    the image (same shape) before the backbone reads it, in ``forward`` and ``features`` alike.
    """

    strides = STRIDES
    feature_names = STAGE_NAMES
    # Set by the builders; a model assembled from parts by hand has none.
    config: DetectorConfig | None = None

    def __init__(
        self,
        backbone: nn.Module,
        aspp: nn.Module,
        neck: nn.Module,
        head: YOLOHead,
        *,
        anchors: torch.Tensor,
        doam: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if anchors.shape != (len(STRIDES), head.num_anchors, 2):
            raise ValueError(f"anchors must be ({len(STRIDES)}, {head.num_anchors}, 2), got {tuple(anchors.shape)}")
        self.doam = doam  # first: the image passes through it before the backbone
        self.backbone = backbone
        self.aspp = aspp
        self.neck = neck
        self.head = head
        self.register_buffer("anchors", anchors.float())  # (3, 3, 2) (w, h) in input pixels

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    @property
    def in_channels(self) -> int:
        """Channels of the input images (3 for pseudo-colour and for the dual-energy form)."""
        return next(m for m in self.backbone.modules() if isinstance(m, nn.Conv2d)).in_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-2] % STRIDES[-1] or x.shape[-1] % STRIDES[-1]:
            raise ValueError(f"height and width must be multiples of {STRIDES[-1]}, got {tuple(x.shape[-2:])}")
        return self.head(self.head_inputs(x))

    def head_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The neck's three maps the head reads (stride 8 first); training's label-aware pass starts from them."""
        p3, p4, p5 = self.backbone(self.refine(x))
        return tuple(self.neck((p3, p4, self.aspp(p5))))

    def refine(self, x: torch.Tensor) -> torch.Tensor:
        """The image the backbone reads: ``x`` through DOAM where the detector has it, else ``x`` itself."""
        return x if self.doam is None else self.doam(x)

    def features(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Backbone map of stage ``name`` (see ``feature_names``): (N, c, H/s, W/s); deeper stages are not run.

        Call it in eval mode (under ``torch.no_grad``) for cropping: in train mode BatchNorm would update its statistics.
        """
        return self.backbone.features(self.refine(x), name)

    def feature_channels(self, name: str) -> int:
        """Channels of the map ``features(x, name)`` returns."""
        return self.backbone.channels[name]


def detector_from_config(config: DetectorConfig, *, pretrained_backbone: bool = False) -> ASPPYOLO:
    """Assemble a freshly initialised ASPP-YOLO from ``config``, kept as ``model.config``.

    ``pretrained_backbone`` starts a pretrained backbone (efficientnet-lite0) from its ImageNet
    weights, as training does; a checkpoint's own weights are loaded over a plain one.
    """
    spec = SIZES[config.size]
    channels = spec.channels()
    act = ACTIVATIONS[config.activation]
    backbone: nn.Module
    if config.backbone == "efficientnet-lite0":
        from models.lite_backbone import build_lite_backbone

        backbone = build_lite_backbone(pretrained=pretrained_backbone, out5=channels[-1])
    else:
        backbone = build_backbone(
            channels=channels, depths=spec.depths(), dilations=(1, 1, 2, 2), in_channels=config.in_channels, act=act
        )
    c3, c4, c5 = backbone.out_channels
    model = ASPPYOLO(
        backbone,
        ASPP(c5, c5, rates=(2, 4, 6), act=act),
        PAFPN((c3, c4, c5), depth=spec.neck_depth(), act=act),
        _head(config, (c3, c4, c5)),
        anchors=torch.tensor(config.anchors, dtype=torch.float32),
        doam=DOAM(config.in_channels, act=act) if config.doam else None,
    )
    model.config = config
    return model


def _head(config: DetectorConfig, channels: tuple[int, int, int]) -> YOLOHead:
    kw = {"num_classes": config.num_classes, "strides": STRIDES, "prior_image_size": config.img_size}
    if config.label_aware == "none":
        return YOLOHead(channels, **kw)
    return LabelAwareHead(channels, mode=config.label_aware, **kw)


def build_detector(
    *,
    size: Size,
    num_classes: int,
    anchors: Sequence[Sequence[Sequence[float]]],
    class_names: Sequence[str] | None = None,
    img_size: int = 416,
    in_channels: int = 3,
    activation: Literal["silu", "leaky"] = "silu",
    backbone: Backbone = "cspdarknet",
    pretrained_backbone: bool = True,
    doam: bool = False,
    label_aware: LabelAware = "none",
) -> ASPPYOLO:
    """A freshly initialised ASPP-YOLO; ``class_names`` default to ``class0``, ``class1``, ...

    A pretrained ``backbone`` starts from its ImageNet weights unless ``pretrained_backbone`` is False;
    ``doam`` puts the De-occlusion Attention Module (`models.doam.DOAM`) in front of it; ``label_aware``
    gives the head the label-aware mechanism (`models.label_aware`, "cls" or "reg").
    """
    names = class_names if class_names is not None else [f"class{i}" for i in range(num_classes)]
    config = DetectorConfig(size=size, num_classes=num_classes, class_names=names, anchors=anchors,
                            img_size=img_size, in_channels=in_channels, activation=activation, backbone=backbone,
                            doam=doam, label_aware=label_aware)
    return detector_from_config(config, pretrained_backbone=pretrained_backbone)
