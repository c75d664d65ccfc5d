"""Run a detector on the regions of a frame and merge its boxes in frame coordinates.

Regions are cut out, scaled and laid on the engine's square input canvas
(the rest filled with the empty-belt value of its input mode); boxes come
back in frame pixels (DESIGN.md section 3). Two ways:

- separate: one canvas per region, each region as large as the canvas allows
  (a letterbox of the crop); a frame's canvases go through the runtime as one
  batch and duplicates where regions overlap are merged by class-wise NMS;
- packed: all regions of a frame at one scale, side by side (or one above
  the other, whichever allows the larger scale) on one canvas, so several
  bags cost one detector pass.

``max_zoom`` caps how much larger than on the letterboxed full frame a
region may be drawn: a detector trained on full frames has seen objects at
that scale (and its scale augmentation) only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from models.nms import nms
from models.runtime import DetectorRuntime
from pipeline.crop.regions import CropRegion
from training.augment import background_for

__all__ = ["Placement", "detect_regions", "pack"]

# Belt between packed regions, in canvas pixels: keeps a box from spanning two bags.
PACK_GAP = 8


class Placement(NamedTuple):
    """Where a region went on a canvas: canvas = (frame - region origin) * scale + (dx, dy)."""

    region: CropRegion
    scale: float
    dx: int
    dy: int

    def canvas_box(self) -> tuple[float, float, float, float]:
        r = self.region
        return self.dx, self.dy, self.dx + (r.x2 - r.x1) * self.scale, self.dy + (r.y2 - r.y1) * self.scale


def pack(
    image: np.ndarray, regions: Sequence[CropRegion], size: int, *, fill: Sequence[int], max_scale: float | None = None
) -> tuple[np.ndarray, list[Placement]]:
    """One (size, size, 3) canvas holding ``regions`` at one scale (at most ``max_scale``), centred, in a row or a column."""
    ws = np.array([r.x2 - r.x1 for r in regions], np.float64)
    hs = np.array([r.y2 - r.y1 for r in regions], np.float64)
    free = size - PACK_GAP * (len(regions) - 1)
    row = min(free / ws.sum(), size / hs.max())
    column = min(free / hs.sum(), size / ws.max())
    in_row = row >= column
    scale = min(max(row, column), max_scale or np.inf)
    sizes = [(max(1, min(size, round(w * scale))), max(1, min(size, round(h * scale)))) for w, h in zip(ws, hs, strict=True)]
    extent = sum(nw if in_row else nh for nw, nh in sizes) + PACK_GAP * (len(regions) - 1)
    at = max(0, (size - extent) // 2)
    canvas = np.empty((size, size, 3), np.uint8)
    canvas[:] = np.asarray(fill, np.uint8)
    placements = []
    for r, (nw, nh) in zip(regions, sizes, strict=True):
        dx, dy = (at, (size - nh) // 2) if in_row else ((size - nw) // 2, at)
        nw, nh = min(nw, size - dx), min(nh, size - dy)
        crop = np.ascontiguousarray(image[r.y1 : r.y2, r.x1 : r.x2])
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        canvas[dy : dy + nh, dx : dx + nw] = cv2.resize(crop, (nw, nh), interpolation=interp)
        placements.append(Placement(r, scale, dx, dy))
        at += (nw if in_row else nh) + PACK_GAP
    return canvas, placements


def _unpack(det: np.ndarray, placements: Sequence[Placement]) -> np.ndarray:
    """Canvas boxes (K, 6) to frame pixels, each by the region its centre falls in (boxes on the belt between are dropped)."""
    cx, cy = (det[:, 0] + det[:, 2]) / 2, (det[:, 1] + det[:, 3]) / 2
    rows = []
    for p in placements:
        x1, y1, x2, y2 = p.canvas_box()
        mine = det[(cx >= x1) & (cx < x2) & (cy >= y1) & (cy < y2)].astype(np.float64)
        r = p.region
        mine[:, [0, 2]] = ((mine[:, [0, 2]] - p.dx) / p.scale).clip(0, r.x2 - r.x1) + r.x1
        mine[:, [1, 3]] = ((mine[:, [1, 3]] - p.dy) / p.scale).clip(0, r.y2 - r.y1) + r.y1
        rows.append(mine)
    return np.concatenate(rows) if rows else np.zeros((0, 6))


def detect_regions(
    runtime: DetectorRuntime,
    image: np.ndarray,
    regions: Sequence[CropRegion],
    *,
    packed: bool = False,
    max_zoom: float | None = None,
    conf_threshold: float = 0.001,
    iou_threshold: float = 0.6,
) -> tuple[np.ndarray, float]:
    """Detections (K, 6) rows (x1, y1, x2, y2, score, class_id) in frame pixels, and the seconds it took.

    The time covers cutting, scaling, inference and merging: what the detect
    stage spends on this frame.
    """
    start = time.perf_counter()
    size = runtime.img_size
    max_scale = max_zoom * size / max(image.shape[:2]) if max_zoom else None
    groups = [list(regions)] if packed else [[r] for r in regions]
    canvases, placements = zip(
        *(pack(image, g, size, fill=background_for(runtime.input_format), max_scale=max_scale) for g in groups), strict=True
    )
    x = np.stack(canvases).transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1 / 255)
    found = runtime.detect(np.ascontiguousarray(x), conf_threshold=conf_threshold, iou_threshold=iou_threshold)
    dets = np.concatenate([_unpack(d, p) for d, p in zip(found, placements, strict=True)])
    if len(regions) > 1 and len(dets):
        # offset each class far apart so that one NMS pass never suppresses across classes
        shifted = dets[:, :4] + dets[:, 5:6] * (1.0 + dets[:, :4].max())
        dets = dets[nms(shifted, dets[:, 4], iou_threshold)]
    return dets, time.perf_counter() - start
