"""The croppers TDC is measured against: no crop, and the conventional Canny-edge bounding crop."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.crop.regions import FALLBACK_CONFIDENCE, CropRegion, whole_frame

__all__ = ["canny_crop", "no_crop"]


def no_crop(frame: np.ndarray) -> list[CropRegion]:
    """The whole frame, as the detector would see it without cropping."""
    return [whole_frame(frame.shape[1], frame.shape[0])]


def canny_crop(frame: np.ndarray, *, low: int = 50, high: int = 150, blur: int = 5) -> list[CropRegion]:
    """The bounding box of every Canny edge pixel of the grey frame (Gaussian ``blur`` first; 0 for none).

    This is the paper's conventional baseline: one box, however many bags, and
    any scanner line or noise edge stretches it. No edge at all: the whole frame.
    """
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    if blur:
        grey = cv2.GaussianBlur(grey, (blur, blur), 0)
    edges = cv2.findNonZero(cv2.Canny(grey, low, high))
    height, width = frame.shape[:2]
    if edges is None:
        return [whole_frame(width, height, confidence=FALLBACK_CONFIDENCE, reason="flat")]
    x, y, w, h = cv2.boundingRect(edges)
    return [CropRegion(x1=x, y1=y, x2=x + w, y2=y + h, confidence=1.0)]
