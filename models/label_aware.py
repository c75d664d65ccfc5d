"""The label-aware mechanism (LA) as a head option of the YOLO head: LAcls and LAreg.

After Zhao, Zhu, Dou, Deng and Wang, "Detecting Overlapped Objects in X-Ray Security Imagery by a
Label-Aware Mechanism" (IEEE TIFS 2022, the CLCXray paper). The stored sources hold only its
abstract, so this cites no section or equation numbers; the structure follows the abstract and the
issue that asked for it: LA "establishes the associations between feature channels and different
labels and adjusts the features according to the assigned labels (or pseudo labels)".

How it works here, per scale and per anchor, on the feature map ``F`` (N, c, H, W) the head reads:

1. A first prediction ``z = W F + b`` (the plain head's 1x1 convolution).
2. A label per cell: in training the label the loss assigned to that anchor and cell where it has
   one, elsewhere (and always at inference) the pseudo-label ``k = argmax z``.
3. Channel weights from the gradient of the prediction with respect to the features. For a 1x1
   convolution that gradient is exact and needs no backward pass: ``dz_k / dF = W_k``, the weight
   row of the label. LA boosts the label's channels and subtracts those of the strongest wrong
   label ``j``: ``g = W_k - W_j``, scaled to unit RMS over the channels.
4. The features re-weighted, ``F' = F * (1 + gamma * g)``, and predicted again by the same
   convolution. ``gamma`` (one per scale) starts at 0, so a head with LA starts as the head
   without it: ``--init WEIGHTS --label-aware ...`` fine-tunes the detector from where it is.

LAcls takes the labels from the class scores and re-predicts objectness and class. LAreg does the
same on a discretised regression: each box parameter's sigmoid (tx, ty, tw, th in `models.decode`,
each in (0, 1)) gets a distribution over ``bins`` bins from an extra 1x1 convolution (trained with
cross-entropy against the bin of the assigned box), its labels are the bins, and it re-predicts the
box. The first prediction is trained too (`training.trainer`), so the pseudo-labels mean something.

Every step is a fixed graph (argmax, gather of weight rows, a product and a convolution), so the
pseudo-label pass runs inside the exported ONNX graph; the output keeps the plain head's layout
(N, A, H, W, 5 + C) and every runtime decodes it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.head import YOLOHead

__all__ = ["LABEL_AWARE", "LabelAwareHead", "LabelAware"]

LabelAware = Literal["none", "cls", "reg"]
LABEL_AWARE: tuple[str, ...] = ("none", "cls", "reg")
_BOX = 4  # tx, ty, tw, th


class LabelAwareHead(YOLOHead):
    """The YOLO head with LAcls (``mode="cls"``) or LAreg (``mode="reg"``); same output as `YOLOHead`.

    ``forward(features)`` is the inference path (pseudo-labels). ``forward_train(features, labels)``
    returns (refined outputs, first outputs, bin logits or None) for the loss; ``labels`` per scale is
    (class map (N, A, H, W), bin map (N, A, H, W, 4) or None), -1 where the loss assigned nothing.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        *,
        num_classes: int,
        num_anchors: int = 3,
        strides: Sequence[int],
        prior_image_size: int,
        mode: Literal["cls", "reg"],
        bins: int = 8,
    ) -> None:
        super().__init__(in_channels, num_classes=num_classes, num_anchors=num_anchors, strides=strides,
                         prior_image_size=prior_image_size)
        if mode not in ("cls", "reg"):
            raise ValueError(f"mode must be 'cls' or 'reg', got {mode!r}")
        if bins < 2:
            raise ValueError(f"bins must be at least 2, got {bins}")
        self.mode, self.bins = mode, bins
        self.gamma = nn.Parameter(torch.zeros(len(self.convs)))
        # LAreg's discretised regression: per anchor, 4 box parameters x bins logits
        self.dist = (nn.ModuleList(nn.Conv2d(c, num_anchors * _BOX * bins, 1) for c in in_channels)
                     if mode == "reg" else None)

    def forward(self, features: Sequence[Tensor]) -> list[Tensor]:
        return self.forward_train(features)[0]

    def forward_train(
        self, features: Sequence[Tensor], labels: Sequence[tuple[Tensor, Tensor | None]] | None = None
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor] | None]:
        refined, first, dists = [], [], []
        for level, x in enumerate(features):
            given = None if labels is None else labels[level]
            out, raw, dist = self._level(level, x, given)
            refined.append(out)
            first.append(raw)
            dists.append(dist)
        return refined, first, (dists if self.mode == "reg" else None)

    def _level(self, level: int, x: Tensor, given: tuple[Tensor, Tensor | None] | None):
        conv = self.convs[level]
        n, c, h, w = x.shape
        a, k = self.num_anchors, self.num_outputs
        raw = conv(x).view(n, a, k, h, w).permute(0, 1, 3, 4, 2).contiguous()  # (N, A, H, W, K)
        weight = conv.weight.view(a, k, c)
        if self.mode == "cls":
            rows = slice(4, k)  # objectness and classes are predicted again
            g = self._channel_weights(raw[..., 5:], weight[:, 5:], None if given is None else given[0])
            dist = None
        else:
            rows = slice(0, _BOX)
            dist_conv = self.dists_of(level)
            dist = dist_conv(x).view(n, a, _BOX, self.bins, h, w).permute(0, 1, 4, 5, 2, 3)  # (N, A, H, W, 4, B)
            dist_weight = dist_conv.weight.view(a, _BOX, self.bins, c)
            bins = None if given is None else given[1]
            g = sum(
                self._channel_weights(dist[..., r, :], dist_weight[:, r], None if bins is None else bins[..., r])
                for r in range(_BOX)
            )
        g = g / (g.pow(2).mean(-1, keepdim=True).sqrt() + 1e-6)  # (N, A, H, W, c), unit RMS per cell
        refined = x.unsqueeze(1) * (1 + self.gamma[level] * g.permute(0, 1, 4, 2, 3))  # (N, A, c, H, W)
        again = torch.einsum("nachw,akc->nahwk", refined, weight[:, rows]) + conv.bias.view(1, a, 1, 1, k)[..., rows]
        out = torch.cat((raw[..., : rows.start], again, raw[..., rows.stop:]), dim=-1)
        return out, raw, dist

    def dists_of(self, level: int) -> nn.Conv2d:
        assert self.dist is not None
        return self.dist[level]

    @staticmethod
    def _channel_weights(logits: Tensor, weight: Tensor, assigned: Tensor | None) -> Tensor:
        """logits (N, A, H, W, L) over L labels, weight (A, L, c) their rows -> (N, A, H, W, c): W_k - W_j.

        ``k``: the assigned label where ``assigned`` (N, A, H, W) is >= 0, else the pseudo-label (argmax);
        ``j``: the strongest other label. The gathers read rows of a flattened (A * L, c) table, so the
        graph exports as plain Gather nodes.
        """
        a, labels, c = weight.shape
        k = logits.argmax(-1)
        if assigned is not None:
            k = torch.where(assigned >= 0, assigned, k)
        if labels > 1:
            is_k = torch.arange(labels, device=logits.device) == k.unsqueeze(-1)
            j = logits.masked_fill(is_k, float("-inf")).argmax(-1)
        anchor = torch.arange(a, device=logits.device).view(1, a, 1, 1) * labels
        table = weight.reshape(a * labels, c)
        g = F.embedding(anchor + k, table)
        return g - F.embedding(anchor + j, table) if labels > 1 else g
