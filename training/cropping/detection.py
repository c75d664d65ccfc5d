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

import numpy as np

from models.runtime import DetectorRuntime
from pipeline.canvas import CanvasLayout, detect_frame
from pipeline.crop.regions import CropRegion

__all__ = ["detect_regions"]


def detect_regions(
    runtime: DetectorRuntime,
    image: np.ndarray,
    regions: Sequence[CropRegion],
    *,
    packed: bool = False,
    max_zoom: float | None = None,
    trim: bool = False,
    conf_threshold: float = 0.001,
    iou_threshold: float = 0.6,
) -> tuple[np.ndarray, float]:
    """Detections (K, 6) rows (x1, y1, x2, y2, score, class_id) in frame pixels, and the seconds it took.

    The services' own path (`pipeline.canvas.detect_frame`) with the detector's layout; the time covers
    cutting, scaling, inference and merging: what the detect stage spends on this frame. ``max_zoom``:
    None draws regions as large as the canvas allows. ``trim``: canvases cut to their regions, as the
    crop service sends them.
    """
    start = time.perf_counter()
    layout = CanvasLayout.for_detector(runtime.info, packed=packed, trim=trim).replace(max_zoom=max_zoom)
    dets = detect_frame(runtime, image, regions, layout, conf_threshold=conf_threshold, iou_threshold=iou_threshold)
    return dets, time.perf_counter() - start
