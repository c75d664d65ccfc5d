"""How well a cropper keeps what matters: threat-box and bag retention, area kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.crop.regions import CropRegion, contains, kept_area
from training.datasets.records import Sample

__all__ = ["retention"]


def retention(samples: Sequence[Sample], regions: Mapping[str, Sequence[CropRegion]]) -> dict[str, Any]:
    """Retention and area of the regions per image id against the ground truth of ``samples``.

    ``box_retention``: share of threat boxes fully inside one region;
    ``bag_retention``: the same for bags; ``area_kept``: mean over frames of
    the union of the regions over the frame area (lower keeps less belt).
    A number with nothing to count (no boxes) is None.
    """
    boxes = boxes_kept = bags = bags_kept = 0
    area = 0.0
    lost: list[str] = []
    fallbacks = count = 0
    for s in samples:
        rs = regions[s.image_id]
        inside = [any(contains(r, b.as_xyxy()) for r in rs) for b in s.boxes]
        boxes += len(inside)
        boxes_kept += sum(inside)
        if not all(inside):
            lost.append(s.image_id)
        bag_inside = [any(contains(r, bag) for r in rs) for bag in s.bags]
        bags += len(bag_inside)
        bags_kept += sum(bag_inside)
        area += kept_area(rs) / (s.width * s.height)
        fallbacks += any(r.reason in ("flat", "noisy", "all-bag") for r in rs)
        count += len(rs)
    n = len(samples)
    return {
        "frames": n,
        "boxes": boxes,
        "bags": bags,
        "box_retention": boxes_kept / boxes if boxes else None,
        "bag_retention": bags_kept / bags if bags else None,
        "area_kept": area / n if n else None,
        "regions_per_frame": count / n if n else None,
        "fallback_rate": fallbacks / n if n else None,
        "frames_losing_a_threat": lost,
    }
