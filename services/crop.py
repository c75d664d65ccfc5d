"""The crop service: raw scans in, their bag regions out (`lanewatch.scans.cropped`), one record per region.

Each raw record is checked and decoded (`pipeline.codec.decode_scan` against the size and format its
metadata announces; failures are dead-lettered), cropped by task-driven cropping (`pipeline.crop`,
reading the detector's own backbone features), and every region is published with its box in frame
pixels, `region_index`/`region_count` (so the alert service knows when a scan is complete) and the
crop's bytes in the scan's own form: 8-bit PNG for pseudo-colour scans (JPEG scans too: no second
lossy step), `dual-png16` for dual-energy ones.

`LANEWATCH_CROP_METHOD` picks `tdc` (default), `canny` or `none` (whole frame). TDC needs the detector
checkpoint (`.pt`, or a `.onnx` with its `.pt` beside it); without one the service says so in its log
and `/healthz` and crops nothing (whole frames), which never hides a threat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from pipeline.codec import Scan, decode_scan, encode_dual, encode_rgb
from pipeline.crop import Cropper, CropRegion, canny_crop, no_crop, whole_frame
from pipeline.kafka import Inbound
from pipeline.messages import Box, CroppedRegion, RawScan
from pipeline.state import LaneStateStore
from services.frames import network_image
from services.runner import Out, Result, ServiceSettings, Stage, Topics, each_record, event

__all__ = ["DEFAULT_WEIGHTS", "CropSettings", "CropStage", "crop_scan", "load_cropper", "make_stage"]

log = logging.getLogger(__name__)
DEFAULT_WEIGHTS = Path("models/weights/aspp_yolo_nano.onnx")


class CropSettings(ServiceSettings):
    """`LANEWATCH_CROP_METHOD`, `LANEWATCH_WEIGHTS` (the detector whose backbone TDC reads), `LANEWATCH_CROP_THREADS`."""

    crop_method: Literal["tdc", "canny", "none"] = "tdc"
    weights: Path = Field(DEFAULT_WEIGHTS, description="detector weights; TDC reads the .pt checkpoint's backbone")
    crop_threads: int = Field(1, ge=1, description="ONNX Runtime threads for TDC's feature extractor")


def load_cropper(method: str, weights: Path, *, threads: int = 1) -> tuple[Cropper, str, str]:
    """(cropper, the input mode it reads, the method actually used); TDC falls back to whole frames without weights."""
    if method == "canny":
        return canny_crop, "rgb", "canny"
    if method == "tdc":
        try:
            from training.cropping.benchmark import load_tdc

            cropper = load_tdc(weights, threads=threads)
            return cropper, cropper.extractor.input_format, "tdc"
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            event(log, "TDC unavailable: cropping nothing (whole frames)", level=logging.WARNING,
                  weights=str(weights), error=str(err))
    return no_crop, "rgb", "none"


def crop_scan(scan: Scan, regions: Sequence[CropRegion]) -> list[tuple[CropRegion, bytes, str, int, int]]:
    """Each region's (region, encoded crop, format, width, height), in the scan's own form."""
    out = []
    for r in regions:
        if scan.rgb is not None:
            data, fmt = encode_rgb(np.ascontiguousarray(scan.rgb[r.y1 : r.y2, r.x1 : r.x2])), "rgb-png"
        else:
            high, low = (np.ascontiguousarray(a[r.y1 : r.y2, r.x1 : r.x2]) for a in (scan.high, scan.low))
            data, fmt = encode_dual(high, low), "dual-png16"
        out.append((r, data, fmt, r.x2 - r.x1, r.y2 - r.y1))
    return out


class CropStage(Stage):
    """Raw scans in, regions out."""

    name = "crop"

    def __init__(self, store: LaneStateStore, topics: Topics, *, cropper: Cropper, mode: str, method: str,
                 max_payload_bytes: int) -> None:
        self.store, self.out, self.cropper, self.mode, self.method = store, topics, cropper, mode, method
        self.max_payload_bytes = max_payload_bytes
        self.topics = (topics.raw,)

    def handle(self, batch: Sequence[Inbound]) -> list[Result]:
        return each_record(batch, self._one)

    def _one(self, record: Inbound) -> list[Out]:
        meta = record.meta(RawScan)
        data = record.payload(meta, self.store)
        scan = decode_scan(data, expect_format=meta.format, expect_size=(meta.width, meta.height),
                           max_bytes=self.max_payload_bytes)
        w, h = scan.size
        regions = self.cropper(network_image(scan, self.mode))
        # a cropper's regions are in frame pixels; clip defensively so the schema's frame check always holds
        regions = [r.model_copy(update={"x2": min(r.x2, w), "y2": min(r.y2, h)}) for r in regions] or [whole_frame(w, h)]
        outs = []
        base = meta.model_dump(include={"scan_id", "lane_id", "scanner_id", "view", "view_count", "captured_at", "seq"})
        for i, (r, payload, fmt, cw, ch) in enumerate(crop_scan(scan, regions)):
            region = CroppedRegion(
                **base, format=fmt, width=cw, height=ch, frame_width=w, frame_height=h, region_index=i,
                region_count=len(regions), box=Box(x1=r.x1, y1=r.y1, x2=r.x2, y2=r.y2), confidence=r.confidence,
                method=self.method if r.reason in ("bag", "whole") and self.method != "none" else "full-frame",
            )
            outs.append(Out(self.out.cropped, region, payload))
        return outs

    def health(self) -> tuple[bool, dict[str, Any]]:
        return True, {"crop_method": self.method, "input_mode": self.mode}


def make_stage(settings: CropSettings) -> Callable[[LaneStateStore, Topics], CropStage]:
    """The stage factory `services.runner.serve` calls once Redis is connected."""
    cropper, mode, method = load_cropper(settings.crop_method, settings.weights, threads=settings.crop_threads)
    return lambda store, topics: CropStage(store, topics, cropper=cropper, mode=mode, method=method,
                                           max_payload_bytes=settings.max_payload_bytes)
