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

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from pipeline.boxes import nms
from pipeline.codec import Scan, decode_canvas, decode_scan, encode_canvas, encode_dual, encode_rgb
from pipeline.crop import Cropper, frame_regions
from pipeline.crop.regions import CropRegion
from pipeline.frames import network_image, screen_image
from pipeline.messages import Box, CroppedRegion, Detection, Detections, Placed, RawScan, Rejected
from pipeline.preprocess import Placement, background_for, canvases_for, pack, stack_canvases, unpack

__all__ = [
    "CanvasDetector", "CanvasLayout", "CroppedScan", "canvas_messages", "clip_to_frame", "crop_canvas", "crop_messages", "crop_scan",
    "detect_frame", "detections_message", "merge_regions", "placements_of", "region_input", "run_canvases", "to_detections",
]
_IDENTITY = {"scan_id", "lane_id", "scanner_id", "view", "view_count", "captured_at", "seq"}


class DetectorShape(Protocol):
    """What the layout reads of a detector (`models.metadata.DetectorInfo` has it)."""

    img_size: int
    input_format: str
    max_zoom: float
    train_img_size: int

    @property
    def stride(self) -> int: ...


class CanvasDetector(Protocol):
    """What the canvas path needs of a detector runtime (`models.runtime.DetectorRuntime` is one)."""

    metadata: dict[str, Any]
    dynamic_size: bool  # runs canvases smaller than img_size at their own size (else pads them to the square)

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
    def for_detector(cls, info: DetectorShape, *, packed: bool = True, trim: bool = True,
                     max_zoom: float | None = None) -> CanvasLayout:
        """The layout for a detector (its `models.metadata.DetectorInfo`, e.g. a runtime's ``info``);
        ``max_zoom`` overrides the zoom it was trained with."""
        return cls(size=info.img_size, input_format=info.input_format, max_zoom=max_zoom or info.max_zoom,
                   packed=packed, zoom_reference=info.train_img_size, trim=info.stride if trim else None)

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
    by_shape = runtime.dynamic_size
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


# ---- the hand-off as messages: what the crop stage sends, what the detect stage reads back ---------------------


@dataclass(frozen=True)
class CroppedScan:
    """What the crop stage makes of one raw scan view: its region records, and the view as operators see it."""

    records: list[tuple[CroppedRegion, bytes]]
    image: bytes  # PNG or JPEG: the scanner's own bytes, or a raw pair's rendering (`pipeline.frames.screen_image`)


def crop_scan(meta: RawScan, data: bytes, cropper: Cropper, *, mode: str, layout: CanvasLayout | None, method: str,
              max_bytes: int) -> CroppedScan:
    """The crop stage's core: a raw scan record in, its region records and screen image out; `Rejected` for a bad scan.

    The scan is checked against the size and format its metadata announces and decoded once; `cropper`
    reads it in input `mode`. With a `layout` the regions go out laid on the detector's canvases (raw
    `canvas-u8`, never re-encoded), else each as its own pixels in the scan's form (`crop_messages`).
    """
    scan = decode_scan(data, expect_format=meta.format, expect_size=(meta.width, meta.height), max_bytes=max_bytes)
    # each input mode made once: a raw pair is rendered to pseudo-colour for the operators' screen and rgb inputs alike
    images = {"rgb": network_image(scan, "rgb")}
    for m in {mode, mode if layout is None else layout.input_format} - images.keys():
        images[m] = network_image(scan, m)
    regions = frame_regions(cropper, images[mode])
    if layout is None:
        records = crop_messages(meta, scan, regions, method=method)
    else:
        records = canvas_messages(meta, images[layout.input_format], regions, layout, method=method)
    return CroppedScan(records, screen_image(scan, data, images["rgb"]))


def region_input(meta: CroppedRegion, data: bytes, *, size: int, mode: str,
                 max_bytes: int) -> tuple[list[Placement], np.ndarray]:
    """The detect stage's input for one region record: its placements and uint8 canvas; `Rejected` when it cannot be.

    A `canvas-u8` record is the detector's input already (viewed in place, not decoded) and must fit a
    detector of side `size` reading `mode`; an encoded crop is decoded, put in `mode` and letterboxed.
    """
    if meta.format == "canvas-u8":
        if max(meta.width, meta.height) > size or meta.input_format != mode:
            raise Rejected(f"a {meta.width}x{meta.height} {meta.input_format} canvas for a detector that reads "
                           f"{size}x{size} {mode}: the crop and detect services must load the same weights")
        return placements_of(meta), decode_canvas(data, expect_size=(meta.width, meta.height))
    scan = decode_scan(data, expect_format=meta.format, expect_size=(meta.width, meta.height), max_bytes=max_bytes)
    return crop_canvas(meta, network_image(scan, mode), size, mode)


def _method_of(method: str, regions: Sequence[CropRegion]) -> str:
    """The cropping method a message reports: the cropper's, or ``full-frame`` where it fell back to whole frames."""
    return method if all(r.reason in ("bag", "whole") for r in regions) and method != "none" else "full-frame"


def crop_messages(meta: RawScan, scan: Scan, regions: Sequence[CropRegion], *, method: str) -> list[tuple[CroppedRegion, bytes]]:
    """One message per region with the region's pixels encoded in the scan's own form (PNG, or a raw pair)."""
    base = meta.model_dump(include=_IDENTITY)
    w, h = scan.size
    out = []
    for i, r in enumerate(regions):
        if scan.rgb is not None:
            data, fmt = encode_rgb(np.ascontiguousarray(scan.rgb[r.y1 : r.y2, r.x1 : r.x2])), "rgb-png"
        else:
            high, low = (np.ascontiguousarray(a[r.y1 : r.y2, r.x1 : r.x2]) for a in (scan.high, scan.low))
            data, fmt = encode_dual(high, low), "dual-png16"
        out.append((CroppedRegion(
            **base, format=fmt, width=r.x2 - r.x1, height=r.y2 - r.y1, frame_width=w, frame_height=h, region_index=i,
            region_count=len(regions), box=Box(x1=r.x1, y1=r.y1, x2=r.x2, y2=r.y2), confidence=r.confidence,
            method=_method_of(method, [r]),
        ), data))
    return out


def canvas_messages(meta: RawScan, image: np.ndarray, regions: Sequence[CropRegion], layout: CanvasLayout, *,
                    method: str) -> list[tuple[CroppedRegion, bytes]]:
    """The detector's canvases for the regions of `image` (in the layout's input mode), each with its placements."""
    base = meta.model_dump(include=_IDENTITY)
    h, w = image.shape[:2]
    laid = layout.lay(image, regions)
    out = []
    for i, (canvas, placements) in enumerate(laid):
        rs = [p.region for p in placements]
        out.append((CroppedRegion(
            **base, format="canvas-u8", width=canvas.shape[1], height=canvas.shape[0], frame_width=w, frame_height=h,
            region_index=i, region_count=len(laid),
            box=Box(x1=min(r.x1 for r in rs), y1=min(r.y1 for r in rs), x2=max(r.x2 for r in rs), y2=max(r.y2 for r in rs)),
            confidence=min(r.confidence for r in rs), method=_method_of(method, rs), input_format=layout.input_format,
            placements=tuple(Placed(box=Box(x1=p.region.x1, y1=p.region.y1, x2=p.region.x2, y2=p.region.y2),
                                    scale=p.scale, dx=p.dx, dy=p.dy, transposed=p.transposed) for p in placements),
        ), encode_canvas(canvas)))
    return out


def placements_of(meta: CroppedRegion) -> list[Placement]:
    """The placements a canvas message carries, as `unpack` takes them; `Rejected` when they contradict each other."""
    placements = [Placement(CropRegion(x1=int(p.box.x1), y1=int(p.box.y1), x2=int(p.box.x2), y2=int(p.box.y2),
                                       confidence=meta.confidence), p.scale, int(p.dx), int(p.dy), p.transposed)
                  for p in meta.placements]
    if len({p.transposed for p in placements}) > 1:
        raise Rejected("placements disagree on whether the canvas is transposed")
    return placements


def crop_canvas(meta: CroppedRegion, crop: np.ndarray, size: int, mode: str) -> tuple[list[Placement], np.ndarray]:
    """A region sent as its own pixels (crop output; `crop` already in the detector's input `mode`) letterboxed
    onto the detector's `size` canvas, with the placement that maps its boxes to the frame."""
    canvas, (p,) = pack(crop, [CropRegion(x1=0, y1=0, x2=meta.width, y2=meta.height, confidence=1.0)], size,
                        fill=background_for(mode))
    b = meta.box  # the crop's own pixels -> frame pixels
    region = CropRegion(x1=int(b.x1), y1=int(b.y1), x2=int(b.x1) + meta.width, y2=int(b.y1) + meta.height,
                        confidence=meta.confidence)
    return [Placement(region, p.scale, p.dx, p.dy)], canvas


def detections_message(meta: CroppedRegion, rows: np.ndarray, placements: Sequence[Placement], class_names: Sequence[str],
                       **fields: Any) -> Detections:
    """The `Detections` of one region: canvas rows mapped to the frame through `placements`; ``fields``: engine, ..."""
    found = to_detections(unpack(rows, placements), (meta.frame_width, meta.frame_height), class_names)
    return Detections(**meta.model_dump(include=_IDENTITY), region_index=meta.region_index, region_count=meta.region_count,
                      region=meta.box, detections=found, **fields)


def to_detections(rows: np.ndarray, frame_size: tuple[int, int], class_names: Sequence[str]) -> tuple[Detection, ...]:
    """(K, 6) rows x1, y1, x2, y2, score, class in frame pixels -> detections, clipped to the frame."""
    w, h = frame_size
    out = []
    for x1, y1, x2, y2, score, cls in clip_to_frame(np.asarray(rows, np.float64).reshape(-1, 6), w, h):
        c = int(cls)
        if not 0 <= c < len(class_names):
            continue  # a class the metadata does not name
        out.append(Detection(label=class_names[c], score=float(np.clip(score, 0.0, 1.0)),
                             box=Box(x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2))))
    return tuple(out)
