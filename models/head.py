"""The YOLO detection head: one 1x1 conv per scale, raw per-anchor predictions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class YOLOHead(nn.Module):
    """Per scale i: (N, c_i, H_i, W_i) -> (N, A, H_i, W_i, 5 + C) raw (tx, ty, tw, th, obj, cls...)."""

    def __init__(
        self,
        in_channels: Sequence[int],
        *,
        num_classes: int,
        num_anchors: int = 3,
        strides: Sequence[int],
        prior_image_size: int,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_anchors = num_anchors
        self.num_outputs = 5 + num_classes
        self.convs = nn.ModuleList(nn.Conv2d(c, num_anchors * self.num_outputs, 1) for c in in_channels)
        self._init_biases(strides, prior_image_size)

    def _init_biases(self, strides: Sequence[int], image_size: int) -> None:
        # YOLOv5's priors, so early training is not swamped by false positives:
        # about 8 objects per image spread over the (image_size / s)^2 cells of a
        # scale, and a class probability of about 0.6 / C.
        for conv, stride in zip(self.convs, strides, strict=True):
            bias = conv.bias.detach().view(self.num_anchors, self.num_outputs)
            bias[:, 4] += math.log(8 / (image_size / stride) ** 2)
            bias[:, 5:] += math.log(0.6 / (self.num_classes - 0.99))

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        outputs = []
        for conv, x in zip(self.convs, features, strict=True):
            y = conv(x)  # (N, A * (5 + C), H, W)
            n, _, h, w = y.shape
            # (N, A, 5 + C, H, W) -> (N, A, H, W, 5 + C)
            outputs.append(y.view(n, self.num_anchors, self.num_outputs, h, w).permute(0, 1, 3, 4, 2).contiguous())
        return outputs
