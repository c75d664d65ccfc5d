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

from models.nms import nms
from models.runtime import DetectorRuntime
from pipeline.crop.regions import CropRegion
from pipeline.preprocess import background_for, canvases_for, stack_canvases, unpack

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

    The time covers cutting, scaling, inference and merging: what the detect
    stage spends on this frame. ``trim``: canvases cut to their regions, as the
    crop service sends them (`pipeline.preprocess.pack`).
    """
    start = time.perf_counter()
    fill = background_for(runtime.input_format)
    laid = canvases_for(image, regions, runtime.img_size, fill=fill, packed=packed, max_zoom=max_zoom,
                        zoom_reference=getattr(runtime, "metadata", {}).get("train_img_size"),
                        trim=getattr(runtime, "stride", 32) if trim else None)
    found = runtime.detect_canvases(stack_canvases([c for c, _ in laid], fill), conf_threshold=conf_threshold,
                                    iou_threshold=iou_threshold)
    dets = np.concatenate([unpack(d, p) for d, (_, p) in zip(found, laid, strict=True)])
    if len(regions) > 1 and len(dets):
        # offset each class far apart so that one NMS pass never suppresses across classes
        shifted = dets[:, :4] + dets[:, 5:6] * (1.0 + dets[:, :4].max())
        dets = dets[nms(shifted, dets[:, 4], iou_threshold)]
    return dets, time.perf_counter() - start
