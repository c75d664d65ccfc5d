"""What a cropper returns: regions of a frame, in frame pixels, each with a confidence."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["Cropper", "CropRegion", "FALLBACK_CONFIDENCE", "contains", "frame_regions", "kept_area", "whole_frame"]

# What a whole-frame fall-back reports: "I found no reliable bag bounds".
FALLBACK_CONFIDENCE = 0.1

Reason = Literal["bag", "whole", "flat", "noisy", "all-bag"]


class CropRegion(BaseModel):
    """One region to detect on: integer frame pixels, x2/y2 exclusive, and how sure the cropper is.

    ``reason`` says why it was returned: "bag" (bounds found), "whole" (the
    method keeps the whole frame), or the fall-back cause "flat", "noisy",
    "all-bag" (the profile gave no trustworthy bounds: whole frame, low confidence).
    """

    model_config = ConfigDict(frozen=True)

    x1: int
    y1: int
    x2: int
    y2: int
    confidence: float
    reason: Reason = "bag"

    @model_validator(mode="after")
    def _check(self) -> CropRegion:
        if min(self.x1, self.y1) < 0 or self.x2 <= self.x1 or self.y2 <= self.y1:
            raise ValueError(f"not a region: ({self.x1}, {self.y1}, {self.x2}, {self.y2})")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")
        return self

    @property
    def area(self) -> int:
        """Area in square pixels."""
        return (self.x2 - self.x1) * (self.y2 - self.y1)

    def as_xyxy(self) -> tuple[int, int, int, int]:
        """Corners as ``(x1, y1, x2, y2)``."""
        return (self.x1, self.y1, self.x2, self.y2)


# A cropper: uint8 (H, W, 3) frame -> regions (never empty).
Cropper = Callable[[np.ndarray], list[CropRegion]]


def whole_frame(width: int, height: int, *, confidence: float = 1.0, reason: Reason = "whole") -> CropRegion:
    """The region covering a width x height frame."""
    return CropRegion(x1=0, y1=0, x2=width, y2=height, confidence=confidence, reason=reason)


def frame_regions(cropper: Cropper, image: np.ndarray) -> list[CropRegion]:
    """What the crop stage sends on for one frame: the cropper's regions clipped to the frame, else the whole frame.

    A cropper's regions are in frame pixels; clipping keeps the message schema's frame check true whatever
    the cropper returns, and an empty answer never drops a scan.
    """
    h, w = image.shape[:2]
    regions = [r.model_copy(update={"x2": min(r.x2, w), "y2": min(r.y2, h)}) for r in cropper(image)]
    return regions or [whole_frame(w, h)]


def contains(region: CropRegion, xyxy: Sequence[float], *, tolerance: float = 0.0) -> bool:
    """Whether the box ``xyxy`` lies fully inside ``region`` (``tolerance`` pixels of overrun allowed)."""
    x1, y1, x2, y2 = xyxy
    t = tolerance
    return x1 >= region.x1 - t and y1 >= region.y1 - t and x2 <= region.x2 + t and y2 <= region.y2 + t


def kept_area(regions: Sequence[CropRegion]) -> int:
    """Area of the union of ``regions`` in square pixels (overlaps counted once)."""
    if not regions:
        return 0
    xs = np.unique([v for r in regions for v in (r.x1, r.x2)])
    ys = np.unique([v for r in regions for v in (r.y1, r.y2)])
    covered = np.zeros((len(ys) - 1, len(xs) - 1), bool)
    for r in regions:
        covered[np.searchsorted(ys, r.y1) : np.searchsorted(ys, r.y2), np.searchsorted(xs, r.x1) : np.searchsorted(xs, r.x2)] = True
    cell = np.outer(np.diff(ys), np.diff(xs))
    return int(cell[covered].sum())
