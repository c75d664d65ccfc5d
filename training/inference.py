"""Run a detector runtime over scans and map its boxes back to scan pixels.

Shared by `lanewatch eval detector` and `lanewatch detect`: letterbox each
scan to the engine's input size (white padding: empty belt is white), batch,
run the runtime with NMS, and undo the letterbox so boxes are in the
coordinates of the original scan (DESIGN.md section 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from models.runtime import DetectorRuntime
from pipeline.preprocess import background_for, letterbox
from training.datasets.loader import load_image
from training.datasets.records import Sample

__all__ = ["detect_frames", "detect_samples"]


def detect_samples(
    runtime: DetectorRuntime,
    samples: Sequence[Sample],
    *,
    conf_threshold: float = 0.001,
    iou_threshold: float = 0.6,
    batch: int = 8,
    progress: Callable[[int], object] | None = None,
) -> dict[str, np.ndarray]:
    """Detections per image id: (K, 6) rows (x1, y1, x2, y2, score, class_id) in scan pixels."""
    out: dict[str, np.ndarray] = {}
    for start in range(0, len(samples), batch):
        chunk = samples[start : start + batch]
        images = [load_image(s, runtime.input_format) for s in chunk]
        found = detect_frames(runtime, images, conf_threshold=conf_threshold, iou_threshold=iou_threshold)
        out.update((s.image_id, det) for s, det in zip(chunk, found, strict=True))
        if progress:
            progress(len(chunk))
    return out


def detect_frames(
    runtime: DetectorRuntime, images: Sequence[np.ndarray], *, conf_threshold: float = 0.001, iou_threshold: float = 0.6
) -> list[np.ndarray]:
    """Whole frames (in the runtime's input mode) letterboxed and run as one batch; boxes back in frame pixels."""
    fill = background_for(runtime.input_format)
    laid = [letterbox(image, runtime.img_size, fill=fill) for image in images]
    found = runtime.detect_canvases(np.stack([c for c, _ in laid]), conf_threshold=conf_threshold, iou_threshold=iou_threshold)
    out = []
    for image, (_, lb), det in zip(images, laid, found, strict=True):
        det = det.astype(np.float64)
        det[:, :4] = lb.to_frame(det[:, :4])
        det[:, [0, 2]] = det[:, [0, 2]].clip(0, image.shape[1])
        det[:, [1, 3]] = det[:, [1, 3]].clip(0, image.shape[0])
        out.append(det)
    return out
