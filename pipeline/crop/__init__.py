"""Cropping of conveyor frames to their bags: Task-Driven Cropping (TDC) and the baselines it is measured against.

Every cropper is a `Cropper`: a uint8 (H, W, 3) frame in, a non-empty list of
`CropRegion` (frame pixels, x2/y2 exclusive, confidence) out. Pure functions:
no I/O, no torch; TDC takes its feature extractor as a callable.
"""

from pipeline.crop.baselines import canny_crop, no_crop
from pipeline.crop.regions import FALLBACK_CONFIDENCE, Cropper, CropRegion, contains, frame_regions, kept_area, whole_frame
from pipeline.crop.tdc import BeltReference, TaskDrivenCropper, TDCConfig, tdc_regions

__all__ = [
    "FALLBACK_CONFIDENCE",
    "BeltReference",
    "CropRegion",
    "Cropper",
    "TDCConfig",
    "TaskDrivenCropper",
    "canny_crop",
    "contains",
    "frame_regions",
    "kept_area",
    "no_crop",
    "tdc_regions",
    "whole_frame",
]
