"""Tile annotated frames into one PNG so a person can judge them at a glance."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from training.datasets.loader import load_image
from training.datasets.records import Sample

__all__ = ["CLASS_COLOURS", "contact_sheet"]

# BGR, chosen to stand out against orange/green/blue pseudo-colour
CLASS_COLOURS = {"gun": (0, 0, 255), "knife": (255, 0, 255), "wrench": (0, 200, 255), "pliers": (255, 255, 0), "scissors": (0, 255, 0)}
_OTHER = (40, 40, 40)


def _tile(sample: Sample, size: int, mode: str) -> np.ndarray:
    img = load_image(sample, mode)[..., ::-1].copy()  # RGB -> BGR for OpenCV drawing
    for bx in sample.bags:
        x1, y1, x2, y2 = (int(round(v)) for v in bx)
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), (160, 160, 160), 1)
    scale = size / max(sample.width, sample.height)
    img = cv2.resize(img, (max(1, round(sample.width * scale)), max(1, round(sample.height * scale))), interpolation=cv2.INTER_AREA)
    for b in sample.boxes:
        colour = CLASS_COLOURS.get(b.label, _OTHER)
        p1 = (int(b.x1 * scale), int(b.y1 * scale))
        p2 = (int(np.ceil(b.x2 * scale)) - 1, int(np.ceil(b.y2 * scale)) - 1)
        cv2.rectangle(img, p1, p2, colour, 2)
        text = b.label + (f" {b.occlusion}" if b.occlusion else "")
        cv2.putText(img, text, (p1[0], max(p1[1] - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    tile = np.full((size, size, 3), 255, np.uint8)
    h, w = img.shape[:2]
    tile[(size - h) // 2 : (size - h) // 2 + h, (size - w) // 2 : (size - w) // 2 + w] = img
    caption = f"{sample.image_id} {sample.width}x{sample.height}"
    cv2.putText(tile, caption, (4, size - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def contact_sheet(samples: Sequence[Sample], out: Path, *, columns: int = 4, tile: int = 384, mode: str = "rgb") -> Path:
    """Write a grid of the samples with their threat boxes (class, occlusion) and bag boxes."""
    if not samples:
        raise ValueError("no frames to tile")
    tiles = [_tile(s, tile, mode) for s in samples]
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (tile + 4) + 4, columns * (tile + 4) + 4, 3), 90, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[4 + r * (tile + 4) : 4 + r * (tile + 4) + tile, 4 + c * (tile + 4) : 4 + c * (tile + 4) + tile] = t
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), sheet):
        raise OSError(f"could not write {out}")
    return out
