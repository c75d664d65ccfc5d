"""Turning frames into the detector's square input, and its boxes back into frame pixels.

The detector reads a square ``size`` x ``size`` canvas; a frame of any aspect
goes onto it by a letterbox (scaled to fit, centred, the rest filled with the
empty-belt value of the input mode: white in pseudo-colour). `Letterbox`
remembers the placement so boxes found on the canvas map back exactly
(DESIGN.md section 3: boxes are always in the original frame's pixels).
Regions (bags found by cropping) go onto canvases the same way: `pack` lays
one or several regions at one scale on a canvas and `unpack` maps the boxes
found on it back to the frame, each through the region its centre falls in.

Pure numpy and OpenCV: the services, training and the benchmarks share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from pipeline.crop.regions import CropRegion
from pipeline.dual_energy import ratio_channel

__all__ = [
    "DUAL_BACKGROUND", "PACK_GAP", "RGB_BACKGROUND", "Letterbox", "Placement", "background_for", "canvases_for",
    "blank", "letterbox", "pack", "placement", "resize_into", "stack_canvases", "unpack",
]

# The empty belt: what padding and uncovered canvas get. Pseudo-colour air is
# white. In the dual-energy 3-channel form air is full-scale transmission in
# both energies (ch1 = ch2 = 255) and high/low = 1, so ch3 = 510*sigmoid(1) - 255.
RGB_BACKGROUND: tuple[int, int, int] = (255, 255, 255)
_FULL_SCALE = np.full((1, 1), 65535, np.uint16)
DUAL_BACKGROUND: tuple[int, int, int] = (255, 255, int(ratio_channel(_FULL_SCALE, _FULL_SCALE)[0, 0]))  # (255, 255, 118)
# Belt between packed regions, in canvas pixels: keeps a box from spanning two bags.
PACK_GAP = 8


# Below this scale a single bilinear pass skips pixels (aliasing on thin threats and belt noise)
LINEAR_MIN_SCALE = 0.75


def resize_into(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``src`` resized to fill ``dst`` (a view is fine), anti-aliased when it shrinks, about 5x faster than INTER_AREA.

    INTER_AREA averages every source pixel, but for a non-integer ratio OpenCV takes its
    generic path: 1-2 ms for one bag of a 640x480 frame, more than the TDC crop itself. Here
    a shrink to ``LINEAR_MIN_SCALE`` or more is one bilinear pass (0.4 grey levels from
    INTER_AREA on average); a stronger one is bilinear to k times the target (k the smallest
    integer keeping that pass at ``LINEAR_MIN_SCALE`` or more), then INTER_AREA at the exact integer
    ratio k, OpenCV's fast path (0.3 grey levels from INTER_AREA). Enlargements are bilinear.
    """
    h, w = dst.shape[:2]
    sh, sw = src.shape[:2]
    scale = max(w / sw, h / sh)
    if scale >= LINEAR_MIN_SCALE:
        return cv2.resize(src, (w, h), dst=dst, interpolation=cv2.INTER_LINEAR)
    k = int(np.ceil(LINEAR_MIN_SCALE / scale))  # the bilinear pass scales by k * scale, in [0.75, 1.5)
    big = cv2.resize(src, (k * w, k * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(big, (w, h), dst=dst, interpolation=cv2.INTER_AREA)


_BLANKS: dict[tuple[int, int, tuple[int, ...]], np.ndarray] = {}


def _template(h: int, w: int, fill: Sequence[int]) -> np.ndarray:
    """A cached (h, w, 3) canvas of ``fill``; read it, never write it."""
    key = (h, w, tuple(int(v) for v in fill))
    template = _BLANKS.get(key)
    if template is None:
        if len(_BLANKS) > 256:  # trimmed canvases come in a few dozen shapes; bound it anyway
            _BLANKS.clear()
        template = _BLANKS[key] = np.full((h, w, 3), key[2], np.uint8)
    return template


def blank(size: int | tuple[int, int], fill: Sequence[int]) -> np.ndarray:
    """A new (h, w, 3) canvas of ``fill`` (``size``: h = w, or (h, w)): a copy of a cached one.

    A memcpy; broadcasting the fill over a 416 px canvas costs ten times that.
    """
    h, w = (size, size) if isinstance(size, int) else size
    return _template(h, w, fill).copy()


def stack_canvases(canvases: Sequence[np.ndarray], fill: Sequence[int]) -> np.ndarray:
    """Canvases of different shapes as one (N, H, W, 3) batch, each padded below and to the right with ``fill``.

    Placements are measured from a canvas's top-left corner, so padding below and to the right
    moves nothing: trimmed canvases (`pack`'s ``trim``) batch together at the cost of the largest
    one in the batch, not of a square.
    """
    h = max(c.shape[0] for c in canvases)
    w = max(c.shape[1] for c in canvases)
    if all(c.shape[:2] == (h, w) for c in canvases):
        return np.stack(canvases)
    out = np.empty((len(canvases), h, w, 3), np.uint8)
    out[:] = _template(h, w, fill)
    for o, c in zip(out, canvases, strict=True):
        o[: c.shape[0], : c.shape[1]] = c
    return out


def background_for(mode: str) -> tuple[int, int, int]:
    """The empty-belt pixel of input `mode` ("rgb" or "dual")."""
    if mode not in ("rgb", "dual"):
        raise ValueError(f"mode must be 'rgb' or 'dual', got {mode!r}")
    return RGB_BACKGROUND if mode == "rgb" else DUAL_BACKGROUND


class Letterbox(NamedTuple):
    """How a frame went onto the canvas: canvas = frame * (sx, sy) + (dx, dy)."""

    sx: float
    sy: float
    dx: int
    dy: int

    def to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        """Map (K, 4) canvas boxes back to frame pixels."""
        out = np.asarray(xyxy, np.float64).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.dx) / self.sx
        out[:, [1, 3]] = (out[:, [1, 3]] - self.dy) / self.sy
        return out


def letterbox(image: np.ndarray, size: int, *, fill: Sequence[int] = (255, 255, 255)) -> tuple[np.ndarray, Letterbox]:
    """Fit a uint8 (H, W, 3) image into a (size, size, 3) canvas, aspect kept, centred, padded with `fill`."""
    h, w = image.shape[:2]
    lb = placement(w, h, size)
    nw, nh = round(w * lb.sx), round(h * lb.sy)
    canvas = blank(size, fill)
    window = canvas[lb.dy : lb.dy + nh, lb.dx : lb.dx + nw]
    if (nw, nh) != (w, h):
        resize_into(image, window)
    else:
        window[:] = image
    return canvas, lb


def placement(width: int, height: int, size: int) -> Letterbox:
    """Where `letterbox` puts a width x height frame on a size x size canvas."""
    r = size / max(width, height)
    nw, nh = max(1, round(width * r)), max(1, round(height * r))
    # rounding makes the two axes' scales differ slightly; boxes use the exact ones
    return Letterbox(nw / width, nh / height, (size - nw) // 2, (size - nh) // 2)


class Placement(NamedTuple):
    """Where a region went on a canvas: canvas = (frame - region origin) * scale + (dx, dy).

    ``transposed``: the canvas was transposed afterwards (x and y swapped), so boxes found on it
    are swapped back before the formula is inverted; `canvas_box` is before the transposition.
    """

    region: CropRegion
    scale: float
    dx: int
    dy: int
    transposed: bool = False

    def canvas_box(self) -> tuple[float, float, float, float]:
        r = self.region
        return self.dx, self.dy, self.dx + (r.x2 - r.x1) * self.scale, self.dy + (r.y2 - r.y1) * self.scale


def pack(
    image: np.ndarray,
    regions: Sequence[CropRegion],
    size: int,
    *,
    fill: Sequence[int],
    max_scale: float | None = None,
    trim: int | None = None,
) -> tuple[np.ndarray, list[Placement]]:
    """One canvas holding ``regions`` at one scale (at most ``max_scale``), centred, in a row or a column.

    The row or the column, whichever allows the larger scale; one region is a letterbox of its
    crop. The canvas is (size, size, 3), or with ``trim`` (the detector's largest stride) cut to
    the laid regions rounded up to multiples of ``trim`` (each side at most ``size``): a fully
    convolutional detector then spends its time on bags, not on empty belt. Bags rarely have
    the canvas's aspect, so this saves a quarter to a third of the pixels (`lanewatch bench pareto`).
    A trimmed canvas taller than wide is transposed to lie landscape (placements say so), so that
    a batch of them, padded to its largest, stays as small as its members: the detector is
    trained on flipped and quarter-turned scans, and a transposition is one of each.
    """
    ws = np.array([r.x2 - r.x1 for r in regions], np.float64)
    hs = np.array([r.y2 - r.y1 for r in regions], np.float64)
    free = size - PACK_GAP * (len(regions) - 1)
    row = min(free / ws.sum(), size / hs.max())
    column = min(free / hs.sum(), size / ws.max())
    in_row = row >= column
    scale = min(max(row, column), max_scale or np.inf)
    sizes = [(max(1, min(size, round(w * scale))), max(1, min(size, round(h * scale)))) for w, h in zip(ws, hs, strict=True)]
    extent = sum(nw if in_row else nh for nw, nh in sizes) + PACK_GAP * (len(regions) - 1)
    across = max(nh if in_row else nw for nw, nh in sizes)
    h = w = size
    if trim:
        long, short = (min(size, -(-n // trim) * trim) for n in (extent, across))  # up to the stride, at most size
        w, h = (long, short) if in_row else (short, long)
    canvas = blank((h, w), fill)
    at = max(0, ((w if in_row else h) - extent) // 2)
    placements = []
    for r, (nw, nh) in zip(regions, sizes, strict=True):
        dx, dy = (at, (h - nh) // 2) if in_row else ((w - nw) // 2, at)
        nw, nh = min(nw, w - dx), min(nh, h - dy)
        # resize straight into the canvas: no intermediate copy of the crop or of the result
        resize_into(image[r.y1 : r.y2, r.x1 : r.x2], canvas[dy : dy + nh, dx : dx + nw])
        placements.append(Placement(r, scale, dx, dy))
        at += (nw if in_row else nh) + PACK_GAP
    if trim and h > w:
        canvas = cv2.transpose(canvas)
        placements = [p._replace(transposed=True) for p in placements]
    return canvas, placements


def unpack(det: np.ndarray, placements: Sequence[Placement]) -> np.ndarray:
    """Canvas boxes (K, 6+) to frame pixels, each by the region its centre falls in (boxes on the belt between are dropped)."""
    det = np.asarray(det)
    if placements and placements[0].transposed:  # back to the canvas as laid out
        det = det[:, [1, 0, 3, 2, *range(4, det.shape[1])]]
    cx, cy = (det[:, 0] + det[:, 2]) / 2, (det[:, 1] + det[:, 3]) / 2
    rows = []
    for p in placements:
        x1, y1, x2, y2 = p.canvas_box()
        mine = det[(cx >= x1) & (cx < x2) & (cy >= y1) & (cy < y2)].astype(np.float64)
        r = p.region
        mine[:, [0, 2]] = ((mine[:, [0, 2]] - p.dx) / p.scale).clip(0, r.x2 - r.x1) + r.x1
        mine[:, [1, 3]] = ((mine[:, [1, 3]] - p.dy) / p.scale).clip(0, r.y2 - r.y1) + r.y1
        rows.append(mine)
    return np.concatenate(rows) if rows else np.zeros((0, det.shape[1] if det.ndim == 2 else 6))


def canvases_for(
    image: np.ndarray,
    regions: Sequence[CropRegion],
    size: int,
    *,
    fill: Sequence[int],
    packed: bool = True,
    max_zoom: float | None = None,
    zoom_reference: int | None = None,
    trim: int | None = None,
) -> list[tuple[np.ndarray, list[Placement]]]:
    """The detector's canvases for the regions of one frame: one canvas for all (`packed`) or one each.

    ``max_zoom`` caps a region's scale at that many times the scale of the
    whole frame letterboxed to ``zoom_reference`` (default ``size``): a
    detector has seen objects only as large as its training (zoom crops,
    scale augmentation) showed them, so the reference is its training input
    size, whatever canvas it runs on now. ``trim``: see `pack`.
    """
    if not regions:
        raise ValueError("no regions to lay out")
    max_scale = max_zoom * (zoom_reference or size) / max(image.shape[:2]) if max_zoom else None
    groups = [list(regions)] if packed else [[r] for r in regions]
    return [pack(image, g, size, fill=fill, max_scale=max_scale, trim=trim) for g in groups]
