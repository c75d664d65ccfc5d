"""Anchor boxes by k-means on training box sizes with 1 - IoU as the distance.

Euclidean k-means on (w, h) lets large boxes dominate the error; 1 - IoU of
boxes aligned at a common corner weighs a 10-pixel miss on a small pair of
scissors as much as a 50-pixel miss on a large gun (YOLOv2's argument).
"""

from __future__ import annotations

import numpy as np


def wh_iou(boxes_wh: np.ndarray, anchors_wh: np.ndarray) -> np.ndarray:
    """IoU of sizes aligned at a common corner: boxes (N, 2) x anchors (K, 2) -> (N, K)."""
    boxes_wh = np.asarray(boxes_wh, np.float64).reshape(-1, 2)
    anchors_wh = np.asarray(anchors_wh, np.float64).reshape(-1, 2)
    inter = np.minimum(boxes_wh[:, None, :], anchors_wh[None, :, :]).prod(axis=2)
    union = boxes_wh.prod(axis=1)[:, None] + anchors_wh.prod(axis=1)[None, :] - inter
    return inter / union


def mean_best_iou(boxes_wh: np.ndarray, anchors: np.ndarray) -> float:
    """Mean over boxes (N, 2) of the IoU with their best anchor; ``anchors`` any shape (..., 2)."""
    return float(wh_iou(boxes_wh, anchors).max(axis=1).mean())


def letterboxed_wh(boxes_wh: np.ndarray, image_wh: np.ndarray, img_size: int) -> np.ndarray:
    """Box sizes (N, 2) in original pixels -> (N, 2) after letterboxing each image (N, 2) to ``img_size``."""
    scale = img_size / np.asarray(image_wh, np.float64).reshape(-1, 2).max(axis=1)
    return np.asarray(boxes_wh, np.float64).reshape(-1, 2) * scale[:, None]


def _seed_centroids(boxes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding under the 1 - IoU distance: (k, 2)."""
    centroids = [boxes[rng.integers(len(boxes))]]
    for _ in range(1, k):
        dist = 1.0 - wh_iou(boxes, np.array(centroids)).max(axis=1)
        weights = dist**2
        if weights.sum() <= 0:
            raise ValueError(f"need at least {k} distinct box sizes for {k} anchors")
        centroids.append(boxes[rng.choice(len(boxes), p=weights / weights.sum())])
    return np.array(centroids)


def _lloyd(boxes: np.ndarray, centroids: np.ndarray, max_iter: int) -> np.ndarray:
    """Assign to the highest-IoU centroid, move centroids to their members' median, until stable."""
    assigned = None
    for _ in range(max_iter):
        iou = wh_iou(boxes, centroids)
        new = iou.argmax(axis=1)
        if assigned is not None and np.array_equal(new, assigned):
            break
        assigned = new
        for j in range(len(centroids)):
            members = boxes[assigned == j]
            if len(members):
                centroids[j] = np.median(members, axis=0)
            else:
                # An empty cluster takes the box its own centroid fits worst.
                centroids[j] = boxes[np.argmin(iou[np.arange(len(boxes)), assigned])]
    return centroids


def kmeans_anchors(
    boxes_wh: np.ndarray,
    *,
    num_scales: int = 3,
    per_scale: int = 3,
    seed: int = 0,
    restarts: int = 5,
    max_iter: int = 300,
) -> np.ndarray:
    """Anchors (num_scales, per_scale, 2) of (w, h), same units as ``boxes_wh`` (N, 2).

    ``boxes_wh`` are training box sizes in pixels at the letterboxed training
    size (see ``letterboxed_wh``). Sorted by area and grouped, smallest first,
    so row i is the anchor set of the i-th detection scale (stride 8, 16, 32).
    The best of ``restarts`` seeded runs by ``mean_best_iou``; deterministic for a ``seed``.
    """
    boxes = np.asarray(boxes_wh, np.float64).reshape(-1, 2)
    boxes = boxes[(boxes > 0).all(axis=1)]
    k = num_scales * per_scale
    if len(np.unique(boxes, axis=0)) < k:
        raise ValueError(f"need at least {k} distinct positive box sizes, got {len(np.unique(boxes, axis=0))}")
    rng = np.random.default_rng(seed)
    best, best_fitness = None, -1.0
    for _ in range(restarts):
        centroids = _lloyd(boxes, _seed_centroids(boxes, k, rng), max_iter)
        fitness = mean_best_iou(boxes, centroids)
        if fitness > best_fitness:
            best, best_fitness = centroids, fitness
    best = best[np.argsort(best.prod(axis=1), kind="stable")]
    return best.reshape(num_scales, per_scale, 2)
