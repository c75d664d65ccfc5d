"""The detect service: regions in (`lanewatch.scans.cropped`), detections in frame pixels out (`lanewatch.detections`).

Records are batched dynamically (`pipeline.batcher`, in the shared runner): a batch runs when
`LANEWATCH_MAX_BATCH` regions are queued or the oldest has waited `LANEWATCH_MAX_DELAY_MS`, as Triton's
dynamic batcher does (the defaults come from `lanewatch bench batching`). Each record becomes the
detector's input (`pipeline.canvas.region_input`: a canvas viewed in place, or a crop letterboxed), the
batch's canvases go through the runtime in one call per canvas shape (`run_canvases`; a fixed-size model
gets them padded to its square), and boxes go back to the frame through the placements.

Scores below `LANEWATCH_CONF_THRESHOLD` are dropped here; per-class alert thresholds are the alert
service's business, so keep this low.

The scan-level gate (`LANEWATCH_GATE`, off by default): an image-level threat classifier
(`lanewatch train --task classify`, CHR) scores each record's input first; records whose highest
class probability is below `LANEWATCH_GATE_THRESHOLD` skip the detector and go out with no detections
and the engine `gate:<classifier>`, so every outcome says whether the detector saw the scan. What a
threshold buys (scans/s) and costs (threat scans passed as clean) is in the README's gate table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from models.shipped import DEFAULT_WEIGHTS, require_weights
from pipeline.canvas import detections_message, region_input, run_canvases
from pipeline.messages import CroppedRegion
from pipeline.state import LaneStateStore
from services.runner import Envelope, Out, Result, ServiceSettings, Stage, Topics, event, guarded

__all__ = ["DetectSettings", "DetectStage", "make_stage"]

log = logging.getLogger(__name__)


class DetectSettings(ServiceSettings):
    """`LANEWATCH_WEIGHTS`, `LANEWATCH_MAX_BATCH`, `LANEWATCH_MAX_DELAY_MS`, `LANEWATCH_CONF_THRESHOLD`, ..."""

    weights: Path = Field(DEFAULT_WEIGHTS, description="detector weights: .onnx (ONNX Runtime), .pt (PyTorch), "
                                                         ".engine/.plan (TensorRT)")
    # chosen by `lanewatch bench batching` on the 2-core machine (README: Benchmarks): the highest saturation
    # throughput (106 images/s, bare engine 112) whose p99 at half load stayed lowest among the ties
    max_batch: int = Field(4, ge=1, le=256, description="regions per inference batch")
    max_delay_ms: float = Field(20.0, ge=0, description="longest a region waits for its batch to fill")
    # a floor under the alert policy's thresholds (0.088, from `eval detector --target-recall 0.9`): what detect
    # drops, no rule can alert on
    conf_threshold: float = Field(0.05, ge=0, le=1, description="scores below are dropped before NMS")
    iou_threshold: float = Field(0.45, gt=0, le=1, description="NMS IoU within one region")
    threads: int | None = Field(None, ge=1, description="inference threads (ONNX Runtime intra-op); default all cores")
    spin: bool = Field(True, description="ONNX Runtime threads busy-wait between batches (lowest latency); turn off "
                                         "where the other services share the cores")
    gate: Path | None = Field(None, description="image-level threat classifier (.onnx or .pt from `lanewatch train --task "
                                                "classify`): records it scores below gate_threshold skip the detector")
    gate_threshold: float = Field(0.05, ge=0, le=1, description="the gate passes a record to the detector when its "
                                                                "highest class probability reaches this")


class DetectStage(Stage):
    """Regions in, detections out; one runtime call per batch."""

    name = "detect"

    def __init__(self, store: LaneStateStore, topics: Topics, *, runtime, engine: str, max_payload_bytes: int,
                 conf_threshold: float = 0.05, iou_threshold: float = 0.45, gate=None, gate_threshold: float = 0.05,
                 gate_engine: str = "gate") -> None:
        self.store, self.names, self.runtime, self.engine = store, topics, runtime, engine
        self.max_payload_bytes, self.conf_threshold, self.iou_threshold = max_payload_bytes, conf_threshold, iou_threshold
        self.gate, self.gate_threshold, self.gate_engine = gate, gate_threshold, gate_engine
        self.inputs = {topics.cropped: CroppedRegion}

    def process(self, batch: Sequence[Envelope]) -> list[Result]:
        results: list[Result | None] = [None] * len(batch)
        t0 = time.perf_counter()
        # a region that cannot become the detector's input is rejected alone
        ready = guarded(batch, lambda env: (env.meta, *region_input(
            env.meta, env.payload, size=self.runtime.img_size, mode=self.runtime.input_format,
            max_bytes=self.max_payload_bytes)), results)
        if not ready:
            return results  # type: ignore[return-value]
        t1 = time.perf_counter()
        free = [i for i, r in enumerate(results) if r is None]
        timings = {"preprocess": round(1000 * (t1 - t0), 2)}
        if self.gate is not None:
            scores = self.gate.scores([canvas for *_, canvas in ready]).max(axis=1)
            tg = time.perf_counter()
            timings["gate"] = round(1000 * (tg - t1), 2)
            if self.metrics is not None:
                self.metrics.observe_latency("gate", tg - t1)
            passed = scores >= self.gate_threshold
            for i, (meta, placements, _), keep in zip(free, ready, passed, strict=True):
                if not keep:  # confidently clean: no detector, no detections, and the engine says so
                    results[i] = [Out(self.names.detections, detections_message(
                        meta, np.zeros((0, 6), np.float32), placements, self.runtime.class_names,
                        engine=self.gate_engine, batch_size=len(ready), timings_ms=dict(timings)))]
            free = [i for i, keep in zip(free, passed, strict=True) if keep]
            ready = [r for r, keep in zip(ready, passed, strict=True) if keep]
            if not ready:
                return results  # type: ignore[return-value]
        t_infer = time.perf_counter()
        rows = run_canvases(self.runtime, [canvas for *_, canvas in ready], conf_threshold=self.conf_threshold,
                            iou_threshold=self.iou_threshold)
        t2 = time.perf_counter()
        if self.metrics is not None:
            self.metrics.observe_latency("preprocess", t1 - t0)
            self.metrics.observe_latency("infer", t2 - t_infer)
        timings["infer"] = round(1000 * (t2 - t_infer), 2)
        for i, (meta, placements, _), det in zip(free, ready, rows, strict=True):
            results[i] = [Out(self.names.detections, detections_message(
                meta, det, placements, self.runtime.class_names, engine=self.engine, batch_size=len(ready),
                timings_ms=timings))]
        return results  # type: ignore[return-value]

    def health(self) -> tuple[bool, dict[str, Any]]:
        return True, {"engine": self.engine, "img_size": self.runtime.img_size,
                      "dynamic_size": bool(self.runtime.dynamic_size)}


def make_stage(settings: DetectSettings) -> Callable[[LaneStateStore, Topics], DetectStage]:
    """Load the runtime now (a missing weights file fails the start, loudly), then the stage factory."""
    from models.runtime import load_runtime, runtime_for

    weights = require_weights(settings.weights, how="LANEWATCH_WEIGHTS")
    runtime = load_runtime(weights, threads=settings.threads, spin=settings.spin)
    engine = f"{runtime_for(weights)}:{weights.stem}"
    event(log, "detector loaded", engine=engine, img_size=runtime.img_size, classes=list(runtime.class_names),
          input_format=runtime.input_format)
    gate, gate_engine = None, "gate"
    if settings.gate is not None:
        from models.runtime.classifier import ScanClassifier

        gate = ScanClassifier(require_weights(settings.gate, how="LANEWATCH_GATE"), threads=settings.threads)
        if tuple(gate.class_names) != tuple(runtime.class_names):
            raise ValueError(f"LANEWATCH_GATE {settings.gate} scores {list(gate.class_names)}, the detector finds "
                             f"{list(runtime.class_names)}: a gate must know the detector's classes")
        gate_engine = f"gate:{settings.gate.stem}"
        event(log, "gate loaded", gate=str(settings.gate), threshold=settings.gate_threshold)
    return lambda store, topics: DetectStage(
        store, topics, runtime=runtime, engine=engine, max_payload_bytes=settings.max_payload_bytes,
        conf_threshold=settings.conf_threshold, iou_threshold=settings.iou_threshold,
        gate=gate, gate_threshold=settings.gate_threshold, gate_engine=gate_engine,
    )
