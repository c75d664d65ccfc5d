"""Task-Driven Cropping: bag regions of a conveyor frame from the detector's own backbone features.

`tdc_regions` is the pure core: a feature map in, regions in frame pixels out.
Per axis it follows the paper (`pipeline.crop.profile`): energy map, profile,
median filter, min-max normalisation, first value above k from both ends.
Around that:

- belt reference: energy is measured against the features of an empty belt
  (``belt``), so the belt reads zero and the convolutions' zero-padding rim
  cancels out; without one the belt is the per-channel median of the map;
- scanner lines (thin, frame-crossing) are patched out of the energy map,
  and cell energy is capped (``saturate``) so that faint bag shells count;
- several bags: cells well above the belt noise are bag; each connected
  group of them (bags separated by empty belt) is profiled on its own and
  gets its own region. Splitting the column profile at belt, then each
  segment's rows, finds the same groups except where two bags sit diagonally
  (they overlap in both profiles), which connected groups still separate;
- never cut a threat: each region's bounds grow over bag cells next to them
  (a knife tip sticking out of a bag), then a safety margin is added;
- fall-back: a flat, noisy or all-bag frame gives the whole frame with
  `FALLBACK_CONFIDENCE`, so an unclear frame is never cut.

`TaskDrivenCropper` joins the core to a feature extractor (any callable
frame -> (C, h, w); `models.features.FeatureExtractor` is the real one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import cv2
import numpy as np

from pipeline.crop.artifacts import remove_lines
from pipeline.crop.profile import energy_map, level_bounds, median_filter, paper_bounds
from pipeline.crop.regions import FALLBACK_CONFIDENCE, CropRegion, Reason, whole_frame

__all__ = ["BELT_TOLERANCE", "BeltReference", "TDCConfig", "TaskDrivenCropper", "border_colour", "tdc_regions"]

Signal = Literal["diff", "level"]


@dataclass(frozen=True)
class TDCConfig:
    """Knobs of TDC; lengths are in feature cells unless said otherwise.

    ``layer`` and ``long_side`` say which feature map to compute (whoever
    builds the extractor reads them); the rest are `tdc_regions`'s.
    ``signal`` is what the k-threshold scans: "diff" is the paper's
    |F_c(i+1) - F_c(i)|, "level" the profile itself (both median filtered
    with ``kernel`` and min-max normalised). Levels given "times the belt
    noise" are multiples of the frame's 10 % energy quantile, which is always
    empty belt. Closest to the paper: ``signal="diff", split=False,
    grow=False, saturate=None`` and no belt reference (the ablation's "paper"
    variant). The defaults were chosen with `lanewatch eval crop-ablation`
    (README, `lanewatch eval crop`).
    """

    layer: str = "stem"  # backbone stage the feature extractor returns
    long_side: int = 192  # pixels of the downscaled frame's long side the backbone sees
    k: float = 0.15
    signal: Signal = "level"
    kernel: int = 9
    margin: float = 2.0
    split: bool = True  # one region per bag where empty belt separates them
    min_gap: int = 1  # cells of belt that separate two bags
    min_part: int = 16  # parts of fewer cells are noise, not bags
    saturate: float | None = 0.5  # cap cell energy at this quantile of the bag cells' energy; None: linear, as the paper
    grow: bool = True  # push bounds out over bag cells next to them: a knife tip sticking out of a bag stays in
    bag_level: float = 4.0  # a cell above this many times the belt noise is bag
    line_level: float = 3.0  # a row above this many times the belt noise across the frame is a scanner line...
    line_width: int = 5  # ...when at most this many cells thick
    max_regions: int = 8  # more parts than this: noisy, fall back
    flat_level: float = 0.3  # no column above this share of the belt's own feature energy: flat, fall back
    all_bag_share: float = 0.92  # a single part covering this share of both axes: all bag, fall back


@dataclass(frozen=True)
class _Part:
    """Cells [x0, x1) x [y0, y1) of one bag, and how clearly it stands out from the belt around it."""

    x0: int
    x1: int
    y0: int
    y1: int
    confidence: float = 1.0

    @property
    def cells(self) -> int:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


def tdc_regions(
    features: np.ndarray,
    frame_size: tuple[int, int],
    *,
    belt: np.ndarray | None = None,
    config: TDCConfig = TDCConfig(),
    shift: float = 0.0,
) -> list[CropRegion]:
    """Bag regions of a (width, height) frame from its feature map (C, h, w); never empty.

    ``belt``: features of an empty belt, (C, h, w) or (C,), to measure energy against
    (default: the per-channel median of ``features``).
    ``shift``: where a cell's receptive field is centred, in cells, relative to the
    centre of the frame tile it is mapped to (`models.features.FeatureExtractor.shift`).
    """
    width, height = frame_size
    belt = _belt_estimate(features, belt)
    energy = energy_map(np.asarray(features, np.float32) - belt)
    h, w = energy.shape

    def fallback(reason: Reason) -> list[CropRegion]:
        return [whole_frame(width, height, confidence=FALLBACK_CONFIDENCE, reason=reason)]

    if _flat(energy, belt, config):
        return fallback("flat")
    noise = max(_quantile(energy, 0.1), 1e-9)  # a tenth of any frame is empty belt
    energy = np.clip(remove_lines(energy, level=config.line_level * noise, max_width=config.line_width), 0, None)
    bag = energy > config.bag_level * noise
    # bag cells that have a bag neighbour along y (along x): lone noisy cells drop out
    along_y, along_x = _median3(bag, axis=0), _median3(bag, axis=1)
    if config.saturate is not None and bag.any():
        # a dense object (a gun, a laptop) would otherwise outweigh the faint shell of a fabric bag
        energy = np.minimum(energy, _quantile(energy[bag], config.saturate))
    windows = _components(along_y | along_x, config) if config.split else [(0, w, 0, h)]
    parts = [_refine(energy, box, config) for box in windows]
    if config.grow:
        parts = [_grow(p, along_y, along_x) for p in parts]
    parts = [p for p in parts if p.cells >= config.min_part]
    if not parts:  # energy everywhere, yet no cell stands out from the rest: no belt in sight
        return fallback("all-bag")
    if len(parts) > config.max_regions:
        return fallback("noisy")
    if len(parts) == 1 and min((parts[0].x1 - parts[0].x0) / w, (parts[0].y1 - parts[0].y0) / h) >= config.all_bag_share:
        return fallback("all-bag")
    scored = [replace(p, confidence=_confidence(energy, p, config)) for p in parts]
    return _merge_overlapping([_to_frame(p, width / w, height / h, config.margin, shift, frame_size) for p in scored])


def _belt_estimate(features: np.ndarray, belt: np.ndarray | None) -> np.ndarray:
    """``belt`` as (C, h, w) or (C, 1, 1); without one, the per-channel median of the map (most of a frame is belt)."""
    if belt is None:
        return np.median(np.asarray(features, np.float32), axis=(1, 2), keepdims=True)
    ref = np.asarray(belt, np.float32)
    return ref.reshape(-1, 1, 1) if ref.ndim == 1 else ref


def _flat(energy: np.ndarray, belt: np.ndarray, config: TDCConfig) -> bool:
    """No column stands out from the belt by ``flat_level`` of the belt's own feature energy.

    Measured on 150 simulator frames: empty belt peaks at 0.02-0.09 of the
    belt energy, the faintest bag at 0.9 and more, at every layer.
    """
    _, h, w = belt.shape
    scale = float(np.abs(belt[:, h // 2, w // 2]).mean())  # the belt's response away from the map's rim
    peak = median_filter(energy.mean(axis=0), 5).max()
    return scale <= 0 or peak < config.flat_level * scale


def _bounds(profile: np.ndarray, config: TDCConfig) -> tuple[int, int] | None:
    bounds = paper_bounds if config.signal == "diff" else level_bounds
    return bounds(profile, config.k, config.kernel)


def _components(bag: np.ndarray, config: TDCConfig) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, x1, y0, y1) of the connected groups of bag cells, gaps under ``min_gap`` cells bridged."""
    clean = bag.astype(np.uint8)
    if config.min_gap > 1:
        clean = cv2.dilate(clean, np.ones((config.min_gap, config.min_gap), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(clean, connectivity=8)
    return [(x, x + bw, y, y + bh) for x, y, bw, bh, _ in stats[1:count].tolist()]


def _refine(e: np.ndarray, box: tuple[int, int, int, int], config: TDCConfig) -> _Part:
    """The paper's bounds inside ``box``, with belt (zeros) put around it so that both edges show.

    Where the scan finds nothing (a group narrower than the median filter) the box itself is kept.
    """
    x0, x1, y0, y1 = box
    block = e[y0:y1, x0:x1]
    pad = config.kernel // 2 + 1
    belt = np.zeros(pad, np.float32)
    cols = _bounds(np.concatenate([belt, block.sum(axis=0), belt]), config) or (pad, pad + x1 - x0)
    rows = _bounds(np.concatenate([belt, block.sum(axis=1), belt]), config) or (pad, pad + y1 - y0)
    # clip to the box: the padding is belt by construction
    bx0, bx1 = max(x0, x0 + cols[0] - pad), min(x1, x0 + cols[1] - pad)
    by0, by1 = max(y0, y0 + rows[0] - pad), min(y1, y0 + rows[1] - pad)
    return _Part(bx0, bx1, by0, by1) if bx1 > bx0 and by1 > by0 else _Part(x0, x1, y0, y1)


def _grow(p: _Part, along_y: np.ndarray, along_x: np.ndarray) -> _Part:
    """Push each bound of ``p`` outwards while the next row (column) holds bag cells next to the part.

    Bag cells are median filtered along the direction of growth (``along_y``
    for rows, ``along_x`` for columns), so a lone noisy cell does not count
    but the thin tip of a knife sticking out of a bag does.
    """
    h, w = along_y.shape
    x0, x1, y0, y1 = p.x0, p.x1, p.y0, p.y1
    changed = True
    while changed:
        before = (x0, x1, y0, y1)
        while y0 > 0 and along_y[y0 - 1, max(0, x0 - 1) : x1 + 1].any():
            y0 -= 1
        while y1 < h and along_y[y1, max(0, x0 - 1) : x1 + 1].any():
            y1 += 1
        while x0 > 0 and along_x[max(0, y0 - 1) : y1 + 1, x0 - 1].any():
            x0 -= 1
        while x1 < w and along_x[max(0, y0 - 1) : y1 + 1, x1].any():
            x1 += 1
        changed = (x0, x1, y0, y1) != before
    return _Part(x0, x1, y0, y1, p.confidence)


def _median3(mask: np.ndarray, axis: int) -> np.ndarray:
    """Majority of each cell and its two neighbours along ``axis`` (a 3-tap median of a boolean map, ends repeated)."""
    m = np.moveaxis(mask.astype(np.int8), axis, 0)
    before, after = np.concatenate([m[:1], m[:-1]]), np.concatenate([m[1:], m[-1:]])
    return np.moveaxis(before + m + after >= 2, 0, axis)


def _quantile(values: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` (lower nearest rank, from at most ~4096 evenly strided samples)."""
    flat = values.ravel()
    flat = flat[:: max(1, flat.size // 4096)]
    k = min(flat.size - 1, int(q * (flat.size - 1)))
    return float(np.partition(flat, k)[k])


def _confidence(e: np.ndarray, p: _Part, config: TDCConfig) -> float:
    """1 - (energy on the ring of belt just outside the part) / (energy inside): 1 for a bag alone on clean belt."""
    inside = e[p.y0 : p.y1, p.x0 : p.x1]
    ring = max(1, round(config.margin) + 1)
    outer = e[max(0, p.y0 - ring) : p.y1 + ring, max(0, p.x0 - ring) : p.x1 + ring]
    ring_cells = outer.size - inside.size
    if inside.size == 0 or inside.mean() <= 0:
        return 0.0
    if ring_cells == 0:
        return 1.0
    return float(np.clip(1.0 - (outer.sum() - inside.sum()) / ring_cells / inside.mean(), 0.0, 1.0))


def _to_frame(p: _Part, sx: float, sy: float, margin: float, shift: float, frame_size: tuple[int, int]) -> CropRegion:
    """Cells to frame pixels, widened by ``margin`` cells, clipped to the frame."""
    width, height = frame_size
    x1 = max(0, int(np.floor((p.x0 + shift - margin) * sx)))
    y1 = max(0, int(np.floor((p.y0 + shift - margin) * sy)))
    x2 = min(width, int(np.ceil((p.x1 + shift + margin) * sx)))
    y2 = min(height, int(np.ceil((p.y1 + shift + margin) * sy)))
    return CropRegion(x1=x1, y1=y1, x2=max(x2, x1 + 1), y2=max(y2, y1 + 1), confidence=round(p.confidence, 4))


def _merge_overlapping(regions: list[CropRegion], share: float = 0.5) -> list[CropRegion]:
    """Merge two regions when their overlap is more than ``share`` of the smaller one, until none does."""
    regions = list(regions)
    merged = True
    while merged:
        merged = False
        for i in range(len(regions)):
            for j in range(i + 1, len(regions)):
                a, b = regions[i], regions[j]
                iw = min(a.x2, b.x2) - max(a.x1, b.x1)
                ih = min(a.y2, b.y2) - max(a.y1, b.y1)
                if iw > 0 and ih > 0 and iw * ih > share * min(a.area, b.area):
                    regions[i] = CropRegion(
                        x1=min(a.x1, b.x1), y1=min(a.y1, b.y1), x2=max(a.x2, b.x2), y2=max(a.y2, b.y2),
                        confidence=min(a.confidence, b.confidence),
                    )
                    del regions[j]
                    merged = True
                    break
            if merged:
                break
    return sorted(regions, key=lambda r: (r.x1, r.y1))


class BeltReference:
    """Features of an empty belt at any map size, from one pass over a square belt canvas.

    A convolutional backbone on a uniform input gives the same vector
    everywhere except within its receptive field of the edges, where the
    zero padding shows. Cell (i, j) of an (h, w) map is therefore taken from
    the big map at the same distance to its nearest edges.
    """

    def __init__(self, extractor: Callable[[np.ndarray], np.ndarray], colour: tuple[int, int, int], size: int) -> None:
        canvas = np.empty((size, size, 3), np.uint8)
        canvas[:] = np.asarray(colour, np.uint8)
        self.map = np.asarray(extractor(canvas), np.float32)  # (C, H, W)
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def like(self, h: int, w: int) -> np.ndarray:
        """The belt map (C, h, w)."""
        ref = self._cache.get((h, w))
        if ref is None:
            _, H, W = self.map.shape
            if h > H or w > W:
                raise ValueError(f"belt reference is {H}x{W} cells, asked for {h}x{w}")
            top, left = (h + 1) // 2, (w + 1) // 2  # the first half from the big map's top (left) edge, the rest from its bottom (right)
            rows = np.concatenate([self.map[:, :top], self.map[:, H - (h - top) :]], axis=1)
            ref = self._cache.setdefault((h, w), np.concatenate([rows[:, :, :left], rows[:, :, W - (w - left) :]], axis=2))
        return ref


BELT_TOLERANCE = 64  # a frame border further than this (any channel) from the input mode's belt is not belt


def border_colour(frame: np.ndarray, width: int = 2) -> tuple[int, int, int]:
    """Per-channel median of the frame's outer ``width``-pixel ring: the belt's colour where most of the rim is belt."""
    ring = np.concatenate([frame[:width].reshape(-1, 3), frame[-width:].reshape(-1, 3),
                           frame[:, :width].reshape(-1, 3), frame[:, -width:].reshape(-1, 3)])
    return tuple(int(v) for v in np.median(ring, axis=0))


@dataclass
class TaskDrivenCropper:
    """A `Cropper`: frame (H, W, 3) uint8 -> bag regions, by TDC on ``extractor``'s feature maps.

    ``belt_colour`` is the empty-belt pixel of the input mode (white for
    pseudo-colour); None estimates the belt per frame as the per-channel
    median of its map. Scanners show the empty belt in their own tone (real
    SIXray scans: white or grey 226), and the features of a grey belt against
    a white reference read as bag everywhere; so with ``match_belt`` the
    reference is built for each frame's own belt colour (its border's median,
    in steps of 4 levels, cached), unless that border is not belt-like (further
    than `BELT_TOLERANCE` from ``belt_colour``: a bag across the rim).
    ``reference_size`` is the side of the square belt canvas: at least the
    extractor's long side.
    """

    extractor: Callable[[np.ndarray], np.ndarray]
    config: TDCConfig = field(default_factory=TDCConfig)
    belt_colour: tuple[int, int, int] | None = (255, 255, 255)
    reference_size: int = 256
    match_belt: bool = True
    max_references: int = 64
    belt: BeltReference | None = field(init=False, default=None)
    _references: dict[tuple[int, int, int], BeltReference] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.belt_colour is not None:
            self.belt = self._reference(tuple(self.belt_colour))

    def _reference(self, colour: tuple[int, int, int]) -> BeltReference:
        ref = self._references.get(colour)
        if ref is None:
            if len(self._references) >= self.max_references:  # drop the oldest; the configured belt stays in self.belt
                self._references.pop(next(iter(self._references)))
            ref = self._references[colour] = BeltReference(self.extractor, colour, self.reference_size)
        return ref

    def belt_for(self, frame: np.ndarray) -> BeltReference | None:
        """The belt reference for this frame: its own belt colour's (``match_belt``), else the configured one."""
        if self.belt is None or not self.match_belt:
            return self.belt
        colour = border_colour(frame)
        if max(abs(c - d) for c, d in zip(colour, self.belt_colour, strict=True)) > BELT_TOLERANCE:
            return self.belt
        return self._reference(tuple(min(255, 4 * round(c / 4)) for c in colour))

    def __call__(self, frame: np.ndarray) -> list[CropRegion]:
        features = self.extractor(frame)
        return self.regions(features, (frame.shape[1], frame.shape[0]), belt=self.belt_for(frame))

    def regions(
        self, features: np.ndarray, frame_size: tuple[int, int], config: TDCConfig | None = None,
        belt: BeltReference | None = None,
    ) -> list[CropRegion]:
        """The regions from an already computed feature map; ``config`` overrides the cropper's (the ablation sweeps
        it), ``belt`` the reference (default: the configured belt colour's; `belt_for` gives a frame's own)."""
        belt = belt or self.belt
        reference = belt.like(*features.shape[1:]) if belt is not None else None
        shift = float(getattr(self.extractor, "shift", 0.0))
        return tdc_regions(features, frame_size, belt=reference, config=config or self.config, shift=shift)
