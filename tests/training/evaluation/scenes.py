"""Tiny hand-made scenes: 10x10 boxes placed by their top-left corner, detections on them."""

from __future__ import annotations

import numpy as np

from training.datasets.records import Box, Sample

CLASSES = ("gun", "knife")


def box(x: float, y: float, label: str = "gun", **fields: object) -> Box:
    """A 10x10 GT box with its top-left corner at (x, y)."""
    return Box(x1=x, y1=y, x2=x + 10, y2=y + 10, label=label, **fields)


def sample(image_id: str, *boxes: Box, size: tuple[int, int] = (200, 100)) -> Sample:
    """A (width, height) scan holding `boxes`."""
    return Sample(image_id=image_id, width=size[0], height=size[1], image=f"{image_id}.png", boxes=list(boxes))


def det(x: float, y: float, score: float, class_id: int = 0) -> list[float]:
    """A detection row for the 10x10 box at (x, y): on a GT there, IoU 1."""
    return [x, y, x + 10, y + 10, score, class_id]


def dets(*rows: list[float]) -> np.ndarray:
    """Rows as a (K, 6) array."""
    return np.array(rows, dtype=np.float64).reshape(-1, 6)
