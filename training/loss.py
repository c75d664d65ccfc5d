"""Detection loss of the anchor-based detector: YOLOv5 target assignment, CIoU/GIoU + BCE.

Inputs are the network's raw outputs, one tensor per level (strides 8, 16,
32), each (N, A, H, W, 5 + C) = (tx, ty, tw, th, obj, cls...), and targets
(T, 6) = (img_idx, cls, cx, cy, w, h) in input pixels (`training.data.collate`).

Assignment (YOLOv5): a target goes to every anchor whose width and height
ratios to it are all within ``anchor_t`` (4.0) of each other, at the cell
holding its centre and at the two neighbouring cells its centre is nearest
to (the box parametrisation ``xy = 2*sigmoid - 0.5`` reaches 0.5 cell
beyond its cell), which triples the positives per target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from models.decode import decode_boxes_xywh

__all__ = ["DetectionLoss", "bbox_ciou", "bbox_giou", "bbox_iou", "box_sigmoids"]

BoxLoss = Literal["ciou", "giou"]
# neighbour offsets in cells: self, left, up, right, down
_OFFSETS = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], dtype=torch.float32) * 0.5


def _iou_parts(box1: Tensor, box2: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """IoU, union and the enclosing box's width/height for (..., 4) cxcywh boxes; also the xyxy corners."""
    (x1, y1, w1, h1), (x2, y2, w2, h2) = box1.unbind(-1), box2.unbind(-1)
    a1, b1, a2, b2 = x1 - w1 / 2, y1 - h1 / 2, x1 + w1 / 2, y1 + h1 / 2
    c1, d1, c2, d2 = x2 - w2 / 2, y2 - h2 / 2, x2 + w2 / 2, y2 + h2 / 2
    inter = (torch.min(a2, c2) - torch.max(a1, c1)).clamp(0) * (torch.min(b2, d2) - torch.max(b1, d1)).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    cw = torch.max(a2, c2) - torch.min(a1, c1)
    ch = torch.max(b2, d2) - torch.min(b1, d1)
    return inter / union, union, cw, ch, (w1, h1, w2, h2)


def bbox_iou(box1: Tensor, box2: Tensor, eps: float = 1e-7) -> Tensor:
    """Plain IoU of (..., 4) boxes (cx, cy, w, h), element-wise; shape (...)."""
    return _iou_parts(box1, box2, eps)[0]


def bbox_giou(box1: Tensor, box2: Tensor, eps: float = 1e-7) -> Tensor:
    """Generalised IoU (Rezatofighi et al. 2019): IoU - (enclosing - union) / enclosing; in (-1, 1]."""
    iou, union, cw, ch, _ = _iou_parts(box1, box2, eps)
    enclosing = cw * ch + eps
    return iou - (enclosing - union) / enclosing


def bbox_ciou(box1: Tensor, box2: Tensor, eps: float = 1e-7) -> Tensor:
    """Complete IoU (Zheng et al. 2020): IoU - centre distance^2 / enclosing diagonal^2 - alpha * v.

    v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2 measures aspect mismatch and
    alpha = v / (1 - IoU + v) weighs it; alpha is treated as a constant in
    the gradient, as the paper prescribes. Boxes (..., 4) cxcywh; shape (...).
    """
    iou, _, cw, ch, (w1, h1, w2, h2) = _iou_parts(box1, box2, eps)
    diag2 = cw**2 + ch**2 + eps
    rho2 = (box2[..., 0] - box1[..., 0]) ** 2 + (box2[..., 1] - box1[..., 1]) ** 2
    v = (4 / math.pi**2) * (torch.atan(w2 / (h2 + eps)) - torch.atan(w1 / (h1 + eps))) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / diag2 + v * alpha)


def box_sigmoids(tbox: Tensor, anchors: Tensor) -> Tensor:
    """The sigmoids of (t_x, t_y, t_w, t_h) that decode to ``tbox`` (P, 4) (dx, dy, w, h in grid units relative
    to the cell) for ``anchors`` (P, 2) in grid units: inverts `models.decode.decode_boxes_xywh`; in [0, 1]."""
    xy = (tbox[:, :2] + 0.5) / 2
    wh = (tbox[:, 2:4] / anchors).clamp(min=0).sqrt() / 2
    return torch.cat((xy, wh), 1).clamp(0, 1)


class DetectionLoss(nn.Module):
    """YOLOv5-style loss; `forward(outputs, targets)` returns (total, {"box", "obj", "cls"}).

    The total is summed over the three parts and multiplied by the batch size,
    as YOLOv5 does, so its learning rate (0.01 SGD) and weight decay carry
    over; the components are per image. Gains (YOLOv5 hyp.scratch): box 0.05,
    obj 1.0 * (img_size/640)^2 (objectness is averaged over all cells, which
    grow with the image), cls 0.5 * C/80 (the class BCE is averaged over C
    logits, so fewer classes means more gradient per logit). Objectness per
    level is weighted (4.0, 1.0, 0.4): fine levels have many more cells, each
    mostly background.
    """

    def __init__(
        self,
        *,
        anchors: Tensor,
        strides: Sequence[int],
        num_classes: int,
        img_size: int,
        box_loss: BoxLoss = "ciou",
        anchor_t: float = 4.0,
        balance: Sequence[float] = (4.0, 1.0, 0.4),
        box_gain: float = 0.05,
        obj_gain: float = 1.0,
        cls_gain: float = 0.5,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if box_loss not in ("ciou", "giou"):
            raise ValueError(f"box_loss must be 'ciou' or 'giou', got {box_loss!r}")
        # anchors (L, A, 2) in input pixels -> grid units of their level
        self.register_buffer("anchors", anchors.detach().float() / torch.as_tensor(strides, dtype=torch.float32).view(-1, 1, 1))
        self.strides = tuple(int(s) for s in strides)
        self.num_classes = num_classes
        self.box_fn = bbox_ciou if box_loss == "ciou" else bbox_giou
        self.anchor_t = anchor_t
        self.balance = tuple(balance)
        self.gains = (box_gain, obj_gain * (img_size / 640) ** 2, cls_gain * num_classes / 80)
        self.cls_pos, self.cls_neg = 1.0 - 0.5 * label_smoothing, 0.5 * label_smoothing
        self.bce = nn.BCEWithLogitsLoss()

    def build_targets(self, outputs: Sequence[Tensor], targets: Tensor) -> list[tuple[Tensor, ...]]:
        """Per level: (img, anchor, gy, gx) indices of positives, their target box (dx, dy, w, h) in grid units relative to the cell, and class."""
        na, nt = self.anchors.shape[1], targets.shape[0]
        device = targets.device
        ai = torch.arange(na, device=device, dtype=targets.dtype).view(na, 1).expand(na, nt)
        tt = torch.cat((targets[None].expand(na, nt, 6), ai[..., None]), 2)  # (A, T, 7): img, cls, xywh, anchor
        offsets = _OFFSETS.to(device)
        assigned = []
        for level, out in enumerate(outputs):
            h, w = out.shape[2:4]
            anchors = self.anchors[level]
            t = tt.clone()
            t[..., 2:6] /= self.strides[level]
            if nt:
                r = t[..., 4:6] / anchors[:, None]
                t = t[torch.max(r, 1 / r).max(2).values < self.anchor_t]  # (n, 7)
                gxy = t[:, 2:4]
                gxi = torch.tensor([w, h], device=device, dtype=t.dtype) - gxy
                j, k = ((gxy % 1 < 0.5) & (gxy > 1)).T
                l_, m = ((gxi % 1 < 0.5) & (gxi > 1)).T
                pick = torch.stack((torch.ones_like(j), j, k, l_, m))  # (5, n)
                t = t.repeat(5, 1, 1)[pick]
                off = (torch.zeros_like(gxy)[None] + offsets[:, None])[pick]
            else:
                t, off = tt[0], torch.zeros((0, 2), device=device)
            b, c = t[:, 0].long(), t[:, 1].long()
            gxy, gwh, a = t[:, 2:4], t[:, 4:6], t[:, 6].long()
            gij = (gxy - off).long()
            gi, gj = gij[:, 0].clamp(0, w - 1), gij[:, 1].clamp(0, h - 1)
            assigned.append((b, a, gj, gi, torch.cat((gxy - gij, gwh), 1), c))
        return assigned

    def assigned(self, maps: Sequence[Tensor], targets: Tensor, *, bins: int = 0) -> list[tuple[Tensor, Tensor | None]]:
        """The labels this loss assigns, as the label-aware head (`models.label_aware`) reads them in training.

        ``maps``: per level anything shaped (N, ..., H, W) or (N, A, H, W, K) with H, W at axes 2 and 3 (the raw
        outputs, or the neck's maps the head reads). Per level: the class map (N, A, H, W), and with ``bins`` the
        bin map (N, A, H, W, 4) of each assigned box parameter's sigmoid (tx, ty, tw, th of `models.decode`) in
        ``bins`` equal bins of (0, 1); -1 where nothing is assigned. Where two targets share a cell and anchor,
        the later one's label stands (as its loss target does).
        """
        device, out = targets.device, []
        n, na = maps[0].shape[0], self.anchors.shape[1]
        for level, (b, a, gj, gi, tbox, tcls) in enumerate(self.build_targets(maps, targets)):
            h, w = maps[level].shape[2:4]
            cls_map = torch.full((n, na, h, w), -1, dtype=torch.long, device=device)
            cls_map[b, a, gj, gi] = tcls
            bin_map = None
            if bins:
                bin_map = torch.full((n, na, h, w, 4), -1, dtype=torch.long, device=device)
                bin_map[b, a, gj, gi] = (box_sigmoids(tbox, self.anchors[level][a]) * bins).long().clamp(0, bins - 1)
            out.append((cls_map, bin_map))
        return out

    def bin_loss(self, dists: Sequence[Tensor], labels: Sequence[tuple[Tensor, Tensor | None]]) -> Tensor:
        """Cross-entropy of the label-aware head's bin logits [(N, A, H, W, 4, B)] against the assigned bins,
        with the box gain, times the batch size (as the total of `forward`)."""
        losses = []
        for dist, (_, bin_map) in zip(dists, labels, strict=True):
            assert bin_map is not None
            keep = bin_map >= 0
            if keep.any():
                losses.append(nn.functional.cross_entropy(dist[keep], bin_map[keep]))
        if not losses:
            return dists[0].sum() * 0.0
        return torch.stack(losses).mean() * self.gains[0] * dists[0].shape[0]

    def forward(self, outputs: Sequence[Tensor], targets: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Loss of raw outputs [(N, A, H, W, 5 + C)] * levels against targets (T, 6); returns (total * N, parts)."""
        device = outputs[0].device
        lbox, lobj, lcls = (torch.zeros((), device=device) for _ in range(3))
        for level, (out, (b, a, gj, gi, tbox, tcls)) in enumerate(zip(outputs, self.build_targets(outputs, targets))):
            tobj = torch.zeros(out.shape[:4], device=device, dtype=out.dtype)
            if len(b):
                p = out[b, a, gj, gi]  # (n, 5 + C)
                # in grid units relative to the cell: stride 1, cell (0, 0), as the target box
                pbox = decode_boxes_xywh(p, self.anchors[level][a], 1.0, torch.zeros(2, device=device))
                iou = self.box_fn(pbox, tbox)
                lbox = lbox + (1.0 - iou).mean()
                # objectness learns the IoU it achieves, so its score ranks box quality
                tobj[b, a, gj, gi] = iou.detach().clamp(0).to(tobj.dtype)
                if self.num_classes > 1:
                    tc = torch.full_like(p[:, 5:], self.cls_neg)
                    tc[torch.arange(len(b), device=device), tcls] = self.cls_pos
                    lcls = lcls + self.bce(p[:, 5:], tc)
            lobj = lobj + self.bce(out[..., 4], tobj) * self.balance[level]
        lbox, lobj, lcls = lbox * self.gains[0], lobj * self.gains[1], lcls * self.gains[2]
        total = lbox + lobj + lcls
        parts = {"box": lbox.item(), "obj": lobj.item(), "cls": lcls.item()}
        return total * outputs[0].shape[0], parts
