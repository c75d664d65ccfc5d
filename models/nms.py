"""Confidence filtering and non-maximum suppression, shared by every runtime.

No torchvision on our machines, and TensorRT, ONNX Runtime and PyTorch all end
in the same arrays, so post-processing is done once, here: candidates in NumPy,
the greedy suppression itself `pipeline.boxes.nms` (OpenCV's C++ loop; a
Python step per kept box cost more than 2 ms per image), the same one the
alert stage merges regions with.
"""

from __future__ import annotations

import numpy as np

from pipeline.boxes import box_iou, nms, nms_reference

__all__ = ["MAX_CANDIDATES", "box_iou", "nms", "nms_reference", "postprocess"]

# More candidates than this per image means an untrained or broken model;
# keep the best ones so that NMS time stays bounded.
MAX_CANDIDATES = 30_000


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
