"""Raw head maps to boxes in input pixels (YOLOv5/v7 parametrisation).

For anchor ``(a_w, a_h)`` (input pixels) of a scale with stride ``s``, at grid
cell column ``g_x``, row ``g_y``, with raw outputs ``t``:

    c_x = (2 * sigmoid(t_x) - 0.5 + g_x) * s        box centre, input pixels
    c_y = (2 * sigmoid(t_y) - 0.5 + g_y) * s
    w   = (2 * sigmoid(t_w)) ** 2 * a_w              box size, input pixels
    h   = (2 * sigmoid(t_h)) ** 2 * a_h
    obj = sigmoid(t_obj)      p_c = sigmoid(t_c)     (independent, not softmax)

The centre can move from -0.5 to 1.5 cells, so a target may also be assigned to
the two neighbouring cells nearest its centre; the size ranges over (0, 4)
anchors, so targets should only be matched to anchors within a 4x size ratio.
The training loss must decode predictions with ``decode_boxes_xywh`` (or the
same formula) so that training and inference agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def make_grid(height: int, width: int, *, device: torch.device | None = None, dtype=torch.float32) -> torch.Tensor:
    """Cell indices (H, W, 2), last axis (g_x, g_y) = (column, row)."""
    ys = torch.arange(height, device=device, dtype=dtype)
    xs = torch.arange(width, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1)


def decode_boxes_xywh(
    raw: torch.Tensor, anchors: torch.Tensor, stride: float | torch.Tensor, grid: torch.Tensor
) -> torch.Tensor:
    """Raw (..., >=4) (t_x, t_y, t_w, t_h, ...) -> boxes (..., 4) (c_x, c_y, w, h) in input pixels.

    ``anchors`` (..., 2) (a_w, a_h) in input pixels and ``grid`` (..., 2) (g_x, g_y)
    broadcast against ``raw[..., :2]``. For a whole level: raw (N, A, H, W, 5 + C),
    anchors (1, A, 1, 1, 2), grid (1, 1, H, W, 2). For matched targets in a loss:
    raw (P, 5 + C), anchors (P, 2), grid (P, 2).
    """
    xy = (raw[..., 0:2].sigmoid() * 2 - 0.5 + grid) * stride
    wh = (raw[..., 2:4].sigmoid() * 2) ** 2 * anchors
    return torch.cat((xy, wh), dim=-1)


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) (c_x, c_y, w, h) -> (..., 4) (x1, y1, x2, y2)."""
    xy, half = boxes[..., 0:2], boxes[..., 2:4] / 2
    return torch.cat((xy - half, xy + half), dim=-1)


class Decoder(nn.Module):
    """Raw maps [(N, A, H_i, W_i, 5 + C)] -> (N, M, 5 + C), M = sum_i A * H_i * W_i.

    Output rows: (x1, y1, x2, y2) in input pixels, objectness, class probabilities;
    ordered by scale, then anchor, then row, then column.
    """

    def __init__(self, anchors: torch.Tensor, strides: Sequence[int]) -> None:
        super().__init__()
        if anchors.shape[0] != len(strides):
            raise ValueError(f"{anchors.shape[0]} anchor scales for {len(strides)} strides")
        self.strides = tuple(int(s) for s in strides)
        self.register_buffer("anchors", anchors.detach().clone().float())  # (L, A, 2)

    def forward(self, raw: Sequence[torch.Tensor]) -> torch.Tensor:
        decoded = []
        for level, (x, stride) in enumerate(zip(raw, self.strides, strict=True)):
            n, a, h, w, k = x.shape
            grid = make_grid(h, w, device=x.device, dtype=x.dtype).view(1, 1, h, w, 2)
            anchors = self.anchors[level].view(1, a, 1, 1, 2).to(x.dtype)
            boxes = xywh_to_xyxy(decode_boxes_xywh(x, anchors, stride, grid))
            decoded.append(torch.cat((boxes, x[..., 4:].sigmoid()), dim=-1).reshape(n, -1, k))
        return torch.cat(decoded, dim=1)


class DetectorWithDecode(nn.Module):
    """A detector and its decoder as one module, the graph exported to ONNX.

    (N, C_in, S, S) float in [0, 1] -> (N, M, 5 + C) decoded, before NMS.
    ``model`` needs ``anchors`` (L, A, 2) and ``strides``, as ``ASPPYOLO`` has.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.decoder = Decoder(model.anchors, model.strides)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.model(images))
