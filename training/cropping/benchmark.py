"""The cropping benchmark behind `lanewatch eval crop`: croppers side by side on labelled frames.

Every frame is decoded once and given to every method; per method the result
holds retention and area (`training.cropping.metrics.retention`), the
cropper's milliseconds per frame and, with a detector, VOC mAP@0.5 of the
detector run on the method's regions (boxes mapped back to frame pixels) and
the detector's milliseconds per frame on those regions. The "none" method is
the detector on full frames.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from models.features import load_tdc
from models.runtime import DetectorRuntime
from pipeline.crop import Cropper, CropRegion, canny_crop, no_crop
from training.cropping.detection import detect_regions
from training.cropping.metrics import retention
from training.datasets.loader import load_image
from training.datasets.records import Sample
from training.evaluation import evaluate

__all__ = ["METHODS", "benchmark", "format_table", "load_tdc", "method_croppers"]

METHODS = ("tdc", "canny", "none")


def _timed(cropper: Cropper, image: np.ndarray) -> tuple[list[CropRegion], float]:
    start = time.perf_counter()
    regions = cropper(image)
    return regions, time.perf_counter() - start


def benchmark(
    samples: Sequence[Sample],
    croppers: Mapping[str, Cropper],
    *,
    mode: str = "rgb",
    detector: DetectorRuntime | None = None,
    packed: bool = False,
    max_zoom: float | None = None,
    trim: bool = False,
    progress: Callable[[int], object] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, list[CropRegion]]]]:
    """Metrics per method, and the regions per method and image id; ``packed``, ``max_zoom``, ``trim``: see `detect_regions`."""
    if not samples:
        raise ValueError("no frames to benchmark on")
    regions: dict[str, dict[str, list[CropRegion]]] = {m: {} for m in croppers}
    crop_s = {m: 0.0 for m in croppers}
    detect_s = {m: 0.0 for m in croppers}
    detections: dict[str, dict[str, np.ndarray]] = {m: {} for m in croppers}
    warm = load_image(samples[0], mode)
    for cropper in croppers.values():  # first calls build sessions and caches: keep them out of the timings
        rs = cropper(warm)
        if detector is not None:
            detect_regions(detector, warm, rs, packed=packed, max_zoom=max_zoom, trim=trim)
    for s in samples:
        image = load_image(s, mode)
        for name, cropper in croppers.items():
            rs, seconds = _timed(cropper, image)
            regions[name][s.image_id] = rs
            crop_s[name] += seconds
            if detector is not None:
                detections[name][s.image_id], seconds = detect_regions(detector, image, rs, packed=packed, max_zoom=max_zoom,
                                                                       trim=trim)
                detect_s[name] += seconds
        if progress is not None:
            progress(1)
    n = len(samples)
    if detector is not None:  # threats of classes the detector does not know cannot count against it
        known = [s.model_copy(update={"boxes": [b for b in s.boxes if b.label in detector.class_names]}) for s in samples]
    results = {}
    for name in croppers:
        result = retention(samples, regions[name])
        result["ms_per_frame"] = 1000 * crop_s[name] / n
        if detector is not None:
            result["map50"] = evaluate(known, detections[name], detector.class_names)["map50"]
            result["detector_ms_per_frame"] = 1000 * detect_s[name] / n
            result["packed"], result["max_zoom"], result["trim"] = packed, max_zoom, trim
            result["total_ms_per_frame"] = result["ms_per_frame"] + result["detector_ms_per_frame"]
        results[name] = result
    return results, regions


def method_croppers(methods: Sequence[str], tdc: Callable[[], Cropper] | None) -> dict[str, Cropper]:
    """The croppers of ``methods``; ``tdc`` builds the TDC one (it needs weights)."""
    croppers: dict[str, Cropper] = {}
    for m in methods:
        if m == "tdc":
            if tdc is None:
                raise ValueError("tdc needs a detector checkpoint to read features from")
            croppers[m] = tdc()
        elif m == "canny":
            croppers[m] = canny_crop
        elif m == "none":
            croppers[m] = no_crop
        else:
            raise ValueError(f"unknown method {m!r}; expected one of {METHODS}")
    return croppers


def format_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The results of `benchmark` as a text table, one row per method."""
    columns = [
        ("box_retention", "box ret.", "{:.2%}"),
        ("bag_retention", "bag ret.", "{:.2%}"),
        ("area_kept", "area kept", "{:.1%}"),
        ("regions_per_frame", "regions", "{:.2f}"),
        ("fallback_rate", "fallback", "{:.1%}"),
        ("ms_per_frame", "crop ms", "{:.2f}"),
        ("map50", "mAP@0.5", "{:.4f}"),
        ("detector_ms_per_frame", "detect ms", "{:.1f}"),
        ("total_ms_per_frame", "total ms", "{:.1f}"),
    ]
    shown = [c for c in columns if any(c[0] in r for r in results.values())]
    lines = [f"{'method':<8}" + "".join(f"{title:>11}" for _, title, _ in shown)]
    for name, r in results.items():
        cells = [("-" if r.get(key) is None else fmt.format(r[key])) for key, _, fmt in shown]
        lines.append(f"{name:<8}" + "".join(f"{c:>11}" for c in cells))
    return "\n".join(lines)
