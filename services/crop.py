"""The crop service: raw scans in, their bag regions out (`lanewatch.scans.cropped`), one record per region.

The core is `pipeline.canvas.crop_scan`: the scan is checked against its metadata and decoded once (a
bad one is dead-lettered), cropped (`LANEWATCH_CROP_METHOD`: `tdc`, task-driven cropping on the
detector's own backbone features, or `canny`, or `none`), and sent as `LANEWATCH_CROP_OUTPUT`:

- `canvas` (default): the detector's input itself, raw `canvas-u8` with the placements that map boxes
  back to the frame: regions scaled up to the zoom the detector was trained with, all bags of a scan on
  one canvas (`LANEWATCH_PACK_REGIONS`) cut to its bags (`LANEWATCH_TRIM_CANVAS`; `pipeline.canvas`
  says why). A PNG round trip between crop and detect cost more CPU than the detector's own work;
- `crop`: each region's bytes in the scan's own form, for detectors that do not share these weights.

Every record carries `region_index`/`region_count`, so the alert service knows when a scan is complete.
Each scan view is also kept in Redis as operators see it (`lw:scan:{scan_id}:{view}`: the scanner's
PNG/JPEG as it came, or a raw pair's pseudo-colour rendering as JPEG) for `LANEWATCH_SCAN_PENDING_TTL_S`;
the alert service keeps the views of a scan that raised an alert for longer.
Without a detector checkpoint TDC says so in the log and `/healthz` and crops nothing (whole frames),
which never hides a threat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from models.shipped import DEFAULT_WEIGHTS, require_weights
from pipeline.canvas import CanvasLayout, crop_scan
from pipeline.crop import Cropper, canny_crop, no_crop
from pipeline.messages import RawScan
from pipeline.state import LaneStateStore
from services.runner import Envelope, Out, Result, ServiceSettings, Stage, Topics, each_record, event

__all__ = ["CropSettings", "CropStage", "load_cropper", "make_stage"]

log = logging.getLogger(__name__)


class CropSettings(ServiceSettings):
    """`LANEWATCH_CROP_METHOD`, `LANEWATCH_WEIGHTS` (the detector whose backbone TDC reads), `LANEWATCH_CROP_THREADS`,
    `LANEWATCH_SCAN_PENDING_TTL_S`."""

    crop_method: Literal["tdc", "canny", "none"] = "tdc"
    weights: Path = Field(DEFAULT_WEIGHTS, description="detector weights; TDC reads the .pt checkpoint's backbone")
    crop_threads: int = Field(1, ge=1, description="ONNX Runtime threads for TDC's feature extractor")
    crop_output: Literal["canvas", "crop"] = Field("canvas", description="canvas: the detector's raw input; crop: encoded crops")
    pack_regions: bool = Field(True, description="canvas output: all regions of a scan on one canvas (one detector pass)")
    max_zoom: float | None = Field(None, gt=0, description="canvas output: largest region scale over the full frame's; "
                                   "default: the zoom the detector was trained with (its metadata), else 1")
    trim_canvas: bool = Field(True, description="canvas output: cut each canvas to its bags (sides in multiples of the "
                                                "detector's stride) instead of sending the full square")
    scan_pending_ttl_s: int = Field(900, gt=0, description="how long a scan's image is kept in Redis unless its alert "
                                                           "keeps it longer (LANEWATCH_SCAN_RETENTION_S, alert service)")


def load_cropper(method: str, weights: Path, *, threads: int = 1) -> tuple[Cropper, str, str]:
    """(cropper, the input mode it reads, the method actually used); TDC falls back to whole frames without weights."""
    if method == "canny":
        return canny_crop, "rgb", "canny"
    if method == "tdc":
        try:
            from models.features import load_tdc

            cropper = load_tdc(weights, threads=threads)
            return cropper, cropper.extractor.input_format, "tdc"
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            event(log, "TDC unavailable: cropping nothing (whole frames)", level=logging.WARNING,
                  weights=str(weights), error=str(err))
    return no_crop, "rgb", "none"


class CropStage(Stage):
    """Raw scans in, regions out."""

    name = "crop"

    def __init__(self, store: LaneStateStore, topics: Topics, *, cropper: Cropper, mode: str, method: str,
                 max_payload_bytes: int, canvas: CanvasLayout | None = None, scan_pending_ttl_s: int = 900) -> None:
        self.store, self.names, self.cropper, self.mode, self.method = store, topics, cropper, mode, method
        self.max_payload_bytes, self.canvas, self.scan_pending_ttl_s = max_payload_bytes, canvas, scan_pending_ttl_s
        self.inputs = {topics.raw: RawScan}

    def process(self, batch: Sequence[Envelope]) -> list[Result]:
        return each_record(batch, self._one)

    def _one(self, env: Envelope) -> list[Out]:
        meta = env.meta
        cropped = crop_scan(meta, env.payload, self.cropper, mode=self.mode, layout=self.canvas, method=self.method,
                            max_bytes=self.max_payload_bytes)
        self.store.put_scan_image(meta.scan_id, meta.view, cropped.image, ttl_s=self.scan_pending_ttl_s)
        return [Out(self.names.cropped, message, payload) for message, payload in cropped.records]

    def health(self) -> tuple[bool, dict[str, Any]]:
        spec = self.canvas
        out = "crop" if spec is None else f"canvas {'up to ' if spec.trim else ''}{spec.size}px {spec.input_format}"
        return True, {"crop_method": self.method, "input_mode": self.mode, "output": out}


def make_stage(settings: CropSettings) -> Callable[[LaneStateStore, Topics], CropStage]:
    """The stage factory `services.runner.serve` calls once Redis is connected."""
    cropper, mode, method = load_cropper(settings.crop_method, settings.weights, threads=settings.crop_threads)
    canvas = None
    if settings.crop_output == "canvas":
        from models.runtime import weights_info

        # canvas output needs the detector's input size and mode: no weights, no start
        weights = require_weights(settings.weights, how="LANEWATCH_WEIGHTS")
        canvas = CanvasLayout.for_detector(weights_info(weights), packed=settings.pack_regions,
                                           trim=settings.trim_canvas, max_zoom=settings.max_zoom)
        event(log, "canvas output", size=canvas.size, input_format=canvas.input_format, max_zoom=canvas.max_zoom,
              packed=canvas.packed, trim=canvas.trim)
    return lambda store, topics: CropStage(store, topics, cropper=cropper, mode=mode, method=method,
                                           max_payload_bytes=settings.max_payload_bytes, canvas=canvas,
                                           scan_pending_ttl_s=settings.scan_pending_ttl_s)
