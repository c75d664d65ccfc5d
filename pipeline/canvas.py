"""The crop -> detect hand-off: a frame's regions on the detector's canvases, and boxes back in frame pixels.

One place for what every caller of the detector does between a frame and its
boxes: the crop service lays regions out (`CanvasLayout.lay`), the detect
service runs a batch of canvases (`run_canvases`) and maps boxes back through
their placements (`pipeline.preprocess.unpack`); `detect_frame` is the whole
path for one frame in one process, which `lanewatch detect`, `eval crop` and
the benchmarks call, so they measure what the services run.

The layout comes from the detector's own metadata (`CanvasLayout.for_detector`):
its input side and mode, the zoom it was trained with and at which input size,
and its largest stride (trimmed canvas sides are multiples of it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from pipeline.boxes import nms
from pipeline.crop.regions import CropRegion
from pipeline.preprocess import Placement, background_for, canvases_for, stack_canvases, unpack

__all__ = ["CanvasDetector", "CanvasLayout", "clip_to_frame", "detect_frame", "merge_regions", "run_canvases"]


class CanvasDetector(Protocol):
    """What the canvas path needs of a detector runtime (`models.runtime.DetectorRuntime` is one)."""

    metadata: dict[str, Any]

    @property
    def img_size(self) -> int: ...

    @property
    def input_format(self) -> str: ...

    def detect_canvases(self, canvases: np.ndarray, *, conf_threshold: float, iou_threshold: float) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class CanvasLayout:
    """How the regions of one frame go onto a detector's input canvases.

    ``size``: the detector's input side; ``input_format``: "rgb" or "dual";
    ``max_zoom``: a region is drawn at most this many times larger than the
    whole frame letterboxed to ``zoom_reference`` (None: no cap); ``packed``:
    all regions of a frame on one canvas (one detector pass) or one canvas
    each; ``trim``: canvases cut to their regions in multiples of this many
    pixels (None: always ``size`` square).
    """

    size: int
    input_format: str = "rgb"
    max_zoom: float | None = 1.0
    packed: bool = True
    zoom_reference: int | None = None
    trim: int | None = None

    @classmethod
    def for_detector(cls, metadata: Mapping[str, Any], *, packed: bool = True, trim: bool = True,
                     max_zoom: float | None = None) -> CanvasLayout:
        """The layout for a detector with this metadata; ``max_zoom`` overrides the zoom it was trained with."""
        size = int(metadata["img_size"])
        return cls(size=size, input_format=str(metadata["input_format"]),
                   max_zoom=float(max_zoom or metadata.get("max_zoom", 1.0)), packed=packed,
                   zoom_reference=int(metadata.get("train_img_size", size)),
                   trim=max(int(s) for s in metadata["strides"]) if trim else None)

    @property
    def fill(self) -> tuple[int, int, int]:
        """The empty belt of the input mode: what uncovered canvas gets."""
        return background_for(self.input_format)

    def replace(self, **changes: Any) -> CanvasLayout:
        return replace(self, **changes)

    def lay(self, image: np.ndarray, regions: Sequence[CropRegion]) -> list[tuple[np.ndarray, list[Placement]]]:
        """(canvas, placements) for the regions of `image` (already in this layout's input mode)."""
        return canvases_for(image, regions, self.size, fill=self.fill, packed=self.packed, max_zoom=self.max_zoom,
                            zoom_reference=self.zoom_reference, trim=self.trim)


def run_canvases(runtime: CanvasDetector, canvases: Sequence[np.ndarray], *, conf_threshold: float,
                 iou_threshold: float) -> list[np.ndarray]:
    """Detections (K, 6) in canvas pixels per canvas: one runtime call per canvas shape where the model runs any size.

    Padding a batch to its largest canvas costs the pixels trimming saved, and batching buys a
    single-threaded CPU session nothing (15.6 ms per 416 px image at batch 4, 15.7 at batch 1), so
    a model with free input sizes (``dynamic_size``) gets each shape as its own batch. A fixed-size
    one (TensorRT, an older export) pads every canvas to its square anyway: one call.
    """
    fill = background_for(runtime.input_format)
    by_shape = getattr(runtime, "dynamic_size", False)
    groups: dict[tuple[int, ...] | None, list[int]] = {}
    for i, c in enumerate(canvases):
        groups.setdefault(c.shape if by_shape else None, []).append(i)
    rows: list[np.ndarray | None] = [None] * len(canvases)
    for members in groups.values():
        found = runtime.detect_canvases(stack_canvases([canvases[i] for i in members], fill),
                                        conf_threshold=conf_threshold, iou_threshold=iou_threshold)
        for i, det in zip(members, found, strict=True):
            rows[i] = det
    return rows  # type: ignore[return-value]


def clip_to_frame(dets: np.ndarray, width: int, height: int) -> np.ndarray:
    """(K, 6+) frame rows with boxes clipped to the frame, those left empty (entirely in padding) dropped."""
    dets = np.asarray(dets, np.float64).copy()
    dets[:, [0, 2]] = np.clip(dets[:, [0, 2]], 0, width)
    dets[:, [1, 3]] = np.clip(dets[:, [1, 3]], 0, height)
    return dets[(dets[:, 2] > dets[:, 0]) & (dets[:, 3] > dets[:, 1])]


def merge_regions(dets: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Class-wise NMS over (K, 6+) frame rows from several regions: one box where overlapping regions both saw it."""
    if len(dets) < 2:
        return dets
    # offset each class far apart so that one NMS pass never suppresses across classes
    shifted = dets[:, :4] + dets[:, 5:6] * (1.0 + np.abs(dets[:, :4]).max())
    return dets[nms(shifted, dets[:, 4], iou_threshold)]


def detect_frame(runtime: CanvasDetector, image: np.ndarray, regions: Sequence[CropRegion], layout: CanvasLayout, *,
                 conf_threshold: float, iou_threshold: float) -> np.ndarray:
    """Detections (K, 6) rows (x1, y1, x2, y2, score, class_id) in frame pixels for the regions of one frame.

    What the crop and detect services do to a scan, in one call: lay the regions
    on canvases, run them, map the boxes back and clip them to the frame (as the
    detect stage does), and merge duplicates class by class where regions
    overlap (as the alert stage merges a scan's parts).
    """
    laid = layout.lay(image, regions)
    found = run_canvases(runtime, [c for c, _ in laid], conf_threshold=conf_threshold, iou_threshold=iou_threshold)
    dets = np.concatenate([unpack(d, p) for d, (_, p) in zip(found, laid, strict=True)])
    h, w = image.shape[:2]
    return merge_regions(clip_to_frame(dets, w, h), iou_threshold)
