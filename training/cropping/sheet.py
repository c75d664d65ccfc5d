"""A PNG of a few frames with their ground truth and every method's regions, for a person to judge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from pipeline.crop.regions import CropRegion, kept_area
from training.datasets.loader import load_image
from training.datasets.records import Sample

__all__ = ["METHOD_COLOURS", "crop_sheet"]

# BGR; "none" is the whole frame and is not drawn
METHOD_COLOURS = {"tdc": (255, 60, 0), "canny": (0, 140, 255)}
_BAG, _THREAT = (0, 170, 0), (0, 0, 255)


def _tile(sample: Sample, regions: Mapping[str, Sequence[CropRegion]], size: int, mode: str) -> np.ndarray:
    img = load_image(sample, mode)[..., ::-1].copy()
    scale = size / max(sample.width, sample.height)
    img = cv2.resize(img, (max(1, round(sample.width * scale)), max(1, round(sample.height * scale))), interpolation=cv2.INTER_AREA)

    def box(xyxy: Sequence[float], colour: tuple[int, int, int], thickness: int) -> None:
        x1, y1, x2, y2 = (v * scale for v in xyxy)
        cv2.rectangle(img, (int(x1), int(y1)), (max(int(x1), int(np.ceil(x2)) - 1), max(int(y1), int(np.ceil(y2)) - 1)), colour, thickness)

    for bag in sample.bags:
        box(bag, _BAG, 1)
    for b in sample.boxes:
        box(b.as_xyxy(), _THREAT, 2)
    for name, colour in METHOD_COLOURS.items():
        for r in regions.get(name, ()):
            box(r.as_xyxy(), colour, 2)
    tile = np.full((size + 34, size, 3), 255, np.uint8)
    tile[: img.shape[0], : img.shape[1]] = img
    area = "  ".join(
        f"{name} {kept_area(regions[name]) / (sample.width * sample.height):.0%}" for name in METHOD_COLOURS if name in regions
    )
    cv2.putText(tile, f"{sample.image_id} {sample.width}x{sample.height}", (4, size + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(tile, f"area kept: {area}", (4, size + 28), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def crop_sheet(
    samples: Sequence[Sample],
    regions: Mapping[str, Mapping[str, Sequence[CropRegion]]],
    out: Path,
    *,
    columns: int = 4,
    tile: int = 320,
    mode: str = "rgb",
) -> Path:
    """Tile ``samples`` with bags (green), threats (red) and the regions of each method (``regions[method][image_id]``)."""
    if not samples:
        raise ValueError("no frames to draw")
    tiles = [_tile(s, {m: r[s.image_id] for m, r in regions.items()}, tile, mode) for s in samples]
    th, tw = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    legend = 22
    sheet = np.full((legend + rows * (th + 4) + 4, columns * (tw + 4) + 4, 3), 90, np.uint8)
    x = 6
    for label, colour in [("bag", _BAG), ("threat", _THREAT), *((m, c) for m, c in METHOD_COLOURS.items() if m in regions)]:
        cv2.rectangle(sheet, (x, 6), (x + 14, 16), colour, -1)
        cv2.putText(sheet, label, (x + 18, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        x += 30 + 9 * len(label)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        y0, x0 = legend + 4 + r * (th + 4), 4 + c * (tw + 4)
        sheet[y0 : y0 + th, x0 : x0 + tw] = t
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), sheet):
        raise OSError(f"could not write {out}")
    return out
