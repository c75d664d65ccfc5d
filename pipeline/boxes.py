"""Boxes: IoU and greedy non-maximum suppression, the one implementation every layer uses.

Here in `pipeline/` (NumPy and OpenCV only) so that the alert stage, which
merges detections across a scan's regions, and the detector runtimes
(`models.nms.postprocess`) suppress boxes the same way. The greedy step runs
in OpenCV (`cv2.dnn.NMSBoxes`, C++), which keeps exactly the boxes the NumPy
loop `nms_reference` keeps, 30-40x faster on a detector's few hundred
candidates.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["box_iou", "nms", "nms_reference"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), both (x1, y1, x2, y2): (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, *, max_keep: int | None = None) -> np.ndarray:
    """Greedy NMS: indices of the kept boxes (K,), best score first, ties in index order.

    A box is dropped when its IoU with a better kept box exceeds ``iou_threshold``.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    xywh = np.concatenate((boxes[:, :2], boxes[:, 2:] - boxes[:, :2]), axis=1)
    # OpenCV only considers scores above 0 and calls two empty boxes identical: leave those cases to NumPy
    if not len(scores) or scores.min() <= 0 or xywh[:, 2:].min() <= 0:
        return nms_reference(boxes, scores, iou_threshold, max_keep=max_keep)
    keep = np.asarray(cv2.dnn.NMSBoxes(xywh, scores, 0.0, float(iou_threshold)), np.int64).reshape(-1)
    return keep if max_keep is None else keep[:max_keep]


def nms_reference(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, *, max_keep: int | None = None) -> np.ndarray:
    """`nms` in NumPy: one step per kept box, each a vectorised IoU against all boxes still in play."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size and (max_keep is None or len(keep) < max_keep):
        best, rest = order[0], order[1:]
        keep.append(best)
        order = rest[box_iou(boxes[best], boxes[rest])[0] <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
