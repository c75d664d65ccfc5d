"""Confidence filtering and non-maximum suppression, shared by every runtime.

No torchvision on our machines, and TensorRT, ONNX Runtime and PyTorch all end
in the same arrays, so post-processing is done once, here: candidates in NumPy,
the greedy suppression itself in OpenCV (`cv2.dnn.NMSBoxes`, C++), which keeps
exactly the boxes the NumPy loop `nms_reference` keeps, 30-40x faster on a
detector's few hundred candidates (a Python step per kept box cost more than
2 ms per image).
"""

from __future__ import annotations

import cv2
import numpy as np

# More candidates than this per image means an untrained or broken model;
# keep the best ones so that NMS time stays bounded.
MAX_CANDIDATES = 30_000


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


def _candidates(pred: np.ndarray, conf_threshold: float, multi_label: bool) -> tuple[np.ndarray, ...]:
    """(boxes (K, 4), scores (K,), class ids (K,)) of one image's rows (M, 5 + C) above the threshold."""
    pred = pred[pred[:, 4] > conf_threshold]  # score = obj * p_c <= obj: a cheap first cut
    scores = pred[:, 4:5] * pred[:, 5:]  # (K, C)
    if multi_label:
        rows, classes = np.nonzero(scores > conf_threshold)
        best = scores[rows, classes]
    else:
        classes = scores.argmax(axis=1)
        best = scores[np.arange(len(pred)), classes]
        rows = np.nonzero(best > conf_threshold)[0]
        classes, best = classes[rows], best[rows]
    if len(best) > MAX_CANDIDATES:
        top = np.argpartition(-best, MAX_CANDIDATES)[:MAX_CANDIDATES]
        rows, classes, best = rows[top], classes[top], best[top]
    return pred[rows, :4], best, classes


def postprocess(
    decoded: np.ndarray,
    *,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    max_det: int = 300,
    class_agnostic: bool = False,
    multi_label: bool = False,
) -> list[np.ndarray]:
    """Decoded (N, M, 5 + C) rows (x1, y1, x2, y2, obj, p_1..p_C) -> per image (K, 6) float32.

    Output rows are (x1, y1, x2, y2, score, class_id), score = obj * p_class,
    best score first, K <= ``max_det``. Each box keeps its best class unless
    ``multi_label``, where every class scoring above ``conf_threshold`` is a
    candidate. NMS is per class unless ``class_agnostic``.
    """
    decoded = np.asarray(decoded, dtype=np.float32)
    if decoded.ndim != 3 or decoded.shape[2] < 6:
        raise ValueError(f"expected decoded detections (N, M, 5 + C), got shape {decoded.shape}")
    results = []
    for pred in decoded:
        boxes, scores, classes = _candidates(pred, conf_threshold, multi_label)
        if len(scores) == 0:
            results.append(np.zeros((0, 6), np.float32))
            continue
        if class_agnostic:
            shifted = boxes
        else:
            # Move each class into its own region of the plane, far enough that boxes
            # of different classes cannot overlap: one NMS pass then serves all classes.
            span = float(boxes.max() - boxes.min()) + 1.0
            shifted = boxes.astype(np.float64) + (classes * span)[:, None]
        keep = nms(shifted, scores, iou_threshold, max_keep=max_det)
        results.append(
            np.concatenate((boxes[keep], scores[keep, None], classes[keep, None]), axis=1).astype(np.float32)
        )
    return results
