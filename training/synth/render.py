"""Rasterise posed objects into line-integral maps, and read the maps out
through a dual-energy detector into a raw uint16 pair and a pseudo-colour image.

Maps: every object adds its photoelectric and Compton line integrals (A_p,
A_c; see materials.basis_coefficients) to two float32 frame maps. Sums are
order-independent: X-rays see through things, they do not occlude.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.xray.materials import DEFAULT_SPECTRUM, Spectrum, basis_coefficients, transmission_table
from pipeline.xray.screen import RAW_AIR_LEVEL, RAW_OFFSET, Display, absorbance_lut, render_raw, transmission_lut
from training.synth.parts import ObjectModel, Part

__all__ = ["Footprint", "LineIntegrals", "Pose", "preview", "rasterise", "ScannerReadout"]

_SHIFT = 3  # fixed-point bits for sub-pixel polygon edges in cv2.fillPoly
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Pose:
    """Where and how an object lies on the belt, in frame pixels.

    ``tilt`` < 1 foreshortens the object along ``tilt_axis_deg`` (it lies
    tilted out of the belt plane); plates then cross the beam obliquely and
    their path length grows as 1 / tilt.
    """

    x: float
    y: float
    px_per_cm: float
    angle_deg: float = 0.0
    tilt: float = 1.0
    tilt_axis_deg: float = 0.0
    flip: bool = False

    def apply(self, pts_cm: np.ndarray) -> np.ndarray:
        """Map (N, 2) object points in cm to frame pixels."""
        p = np.asarray(pts_cm, dtype=np.float64)
        if self.flip:
            p = p * (-1.0, 1.0)
        if self.tilt != 1.0:
            a = np.deg2rad(self.tilt_axis_deg)
            u = np.array([np.cos(a), np.sin(a)])
            along = p @ u
            p = p + np.outer(along * (self.tilt - 1.0), u)
        t = np.deg2rad(self.angle_deg)
        c, s = np.cos(t), np.sin(t)
        p = p @ np.array([[c, s], [-s, c]]) * self.px_per_cm
        return p + (self.x, self.y)


@dataclass
class Footprint:
    """An object's line integrals over its bounding box (x0, y0) + shape, in pixels."""

    x0: int
    y0: int
    a_p: np.ndarray  # (h, w) float32
    a_c: np.ndarray  # (h, w) float32

    @property
    def slices(self) -> tuple[slice, slice]:
        h, w = self.a_p.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)

    def mask(self) -> np.ndarray:
        """Pixels the object's material covers, bool (h, w)."""
        return (self.a_p > 0) | (self.a_c > 0)

    def box(self) -> tuple[int, int, int, int] | None:
        """Tight (x1, y1, x2, y2) of the covered pixels in frame coords, x2/y2 exclusive."""
        m = self.mask()
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        if rows.size == 0:
            return None
        return self.x0 + int(cols[0]), self.y0 + int(rows[0]), self.x0 + int(cols[-1]) + 1, self.y0 + int(rows[-1]) + 1


class LineIntegrals:
    """The two frame maps everything adds into."""

    def __init__(self, height: int, width: int) -> None:
        self.a_p = np.zeros((height, width), np.float32)
        self.a_c = np.zeros((height, width), np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        return self.a_p.shape

    def add(self, fp: Footprint) -> None:
        sl = fp.slices
        self.a_p[sl] += fp.a_p
        self.a_c[sl] += fp.a_c


def _thickness(mask: np.ndarray, part: Part, gain: float, px_per_cm: float) -> np.ndarray:
    """Path length (cm) per pixel of one rasterised part, float32 like mask."""
    if part.profile == "flat":
        return mask.astype(np.float32) * np.float32(part.thickness_cm * gain)
    d = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    r_px = max(float(d.max()), 1.0)
    u = np.minimum(d / np.float32(r_px), 1.0)  # 0 at the edge, 1 on the centre line
    # both profiles are exactly 0 where d is (outside the mask): no masking multiply needed
    if part.profile == "round":
        return np.float32(part.thickness_cm) * np.sqrt(np.maximum(1.0 - (1.0 - u) ** 2, 0.0))
    # tube: chord through an annulus, in units of the outer radius, scaled so the
    # full outer diameter equals thickness_cm (elliptical sections allowed)
    r_cm = r_px / px_per_cm
    ri = max(0.0, 1.0 - part.wall_cm / max(r_cm, 1e-6))
    x2 = (1.0 - u) ** 2
    chord = np.sqrt(np.maximum(1.0 - x2, 0.0)) - np.sqrt(np.maximum(ri * ri - x2, 0.0))
    return np.float32(part.thickness_cm) * chord


def _texture(shape: tuple[int, int], part: Part, px_per_cm: float) -> np.ndarray:
    """A random field of mean about 1 and relative amplitude ``part.texture``, float32 (h, w).

    Half blotches (a smooth field: uneven stuffing, grain), half folds: thin
    ridges where a second smooth field crosses zero, the crumpled lines that
    folded cloth draws on a real scan.
    """
    h, w = shape
    step = max(part.texture_cm * px_per_cm, 2.0)
    gh, gw = int(h / step) + 2, int(w / step) + 2
    grid = np.random.default_rng(part.texture_seed).standard_normal((2, gh, gw)).astype(np.float32)
    size = (int(gw * step), int(gh * step))
    blotch = cv2.resize(grid[0], size, interpolation=cv2.INTER_CUBIC)[:h, :w]
    folds = cv2.resize(grid[1], size, interpolation=cv2.INTER_CUBIC)[:h, :w]
    ridges = np.exp(np.float32(-3.0) * np.abs(folds))
    field = np.float32(0.3) * blotch + np.float32(1.4) * ridges - np.float32(0.45)
    return np.maximum(1.0 + np.float32(part.texture) * field, 0.0)


def rasterise(obj: ObjectModel, pose: Pose, frame_shape: tuple[int, int]) -> Footprint | None:
    """Line integrals of a posed object, clipped to the frame; None if nothing lands in it."""
    # one pose transform for all parts' points (row by row the same arithmetic as part by part)
    points = [p.points() for p in obj.parts]
    ends = np.cumsum([len(q) for q in points])[:-1]
    posed = list(zip(obj.parts, np.split(pose.apply(np.concatenate(points)), ends)))
    pads = [p.width_cm * pose.px_per_cm / 2 + 2 for p in obj.parts]
    lo = np.min([q.min(0) - pad for (_, q), pad in zip(posed, pads)], axis=0)
    hi = np.max([q.max(0) + pad for (_, q), pad in zip(posed, pads)], axis=0)
    fh, fw = frame_shape
    x0, y0 = max(int(np.floor(lo[0])), 0), max(int(np.floor(lo[1])), 0)
    x1, y1 = min(int(np.ceil(hi[0])) + 1, fw), min(int(np.ceil(hi[1])) + 1, fh)
    if x1 <= x0 or y1 <= y0:
        return None
    a_p = np.zeros((y1 - y0, x1 - x0), np.float32)
    a_c = np.zeros_like(a_p)
    for part, q in posed:
        q = q - (x0, y0)
        # rasterise in the part's own box to keep the distance transform small
        m = part.width_cm * pose.px_per_cm / 2 + 2
        bx0 = max(int(np.floor(q[:, 0].min() - m)), 0)
        by0 = max(int(np.floor(q[:, 1].min() - m)), 0)
        bx1 = min(int(np.ceil(q[:, 0].max() + m)) + 1, a_p.shape[1])
        by1 = min(int(np.ceil(q[:, 1].max() + m)) + 1, a_p.shape[0])
        if bx1 <= bx0 or by1 <= by0:
            continue
        mask = np.zeros((by1 - by0 + 2, bx1 - bx0 + 2), np.uint8)  # 1 px border for the distance transform
        pts = np.round((q - (bx0 - 1, by0 - 1)) * _ONE).astype(np.int32)
        if part.outline is not None:
            cv2.fillPoly(mask, [pts], 1, cv2.LINE_8, _SHIFT)
        else:
            width = max(int(round(part.width_cm * pose.px_per_cm)), 1)
            cv2.polylines(mask, [pts], False, 1, width, cv2.LINE_8, _SHIFT)
        if not mask.any():
            continue
        gain = 1.0 / pose.tilt if part.profile == "flat" else 1.0
        if part.path is not None and part.width_cm * pose.px_per_cm < 1.0:
            gain *= part.width_cm * pose.px_per_cm  # a sub-pixel stroke drawn 1 px wide: keep its material
        t = _thickness(mask, part, min(gain, 2.5), pose.px_per_cm)[1:-1, 1:-1]
        if part.profile != "flat" and gain != 1.0:
            t *= np.float32(gain)
        if part.texture > 0:
            t *= _texture(t.shape, part, pose.px_per_cm)
        kp, kc = basis_coefficients(part.material)
        a_p[by0:by1, bx0:bx1] += np.float32(kp) * t
        a_c[by0:by1, bx0:bx1] += np.float32(kc) * t
    return Footprint(x0, y0, a_p, a_c)


@dataclass(frozen=True)
class ScannerReadout:
    """A dual-energy line scanner's detector read-out, simulated.

    Rows are detector elements, columns are time (the belt moves along x).
    ``quanta`` are the mean detected quanta per pixel with nothing in the beam
    (low, high): photon noise is Gaussian with variance equal to the count
    (Poisson at these counts), plus electronic noise. Each row has its own
    gain error (fixed-pattern streaks after imperfect calibration). Values are
    offset + signal scaled so air sits at ``air_level``, then clipped to 16 bits
    (saturation). ``spectrum`` is the beam; ``display`` the screen the
    pseudo-colour is shown on (None: the default scanner profile's).
    """

    quanta: tuple[float, float] = (2500.0, 6000.0)
    electronic_noise: float = 6.0
    row_gain_sigma: float = 0.002
    psf_sigma_px: float = 0.6
    offset: float = RAW_OFFSET
    air_level: float = RAW_AIR_LEVEL
    spectrum: Spectrum = DEFAULT_SPECTRUM
    display: Display | None = None

    def read_out(self, maps: LineIntegrals, rng: np.random.Generator, *, noise: bool = True,
                 blur_px: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw (high, low) uint16 images for the line-integral maps.

        ``blur_px`` overrides the point-spread sigma (pixels of this frame):
        a frame drawn finer than the detector's pitch is that much blurrier.
        """
        both = transmission_table(self.spectrum).both(maps.a_p, maps.a_c)  # (H, W, 2): low, high
        sigma = self.psf_sigma_px if blur_px is None else blur_px
        if sigma > 0:
            both = cv2.GaussianBlur(both, (0, 0), sigma)
        if noise:
            # OpenCV's normal generator is ~4x faster than numpy's; seed it from ours
            cv2.setRNGSeed(int(rng.integers(1, 2**31 - 1)))
            z = np.empty_like(both)
            cv2.randn(z.reshape(z.shape[0], -1), 0.0, 1.0)  # one plane: a scalar std covers every value
            gain = 1.0 + self.row_gain_sigma * rng.standard_normal((both.shape[0], 1, 2), dtype=np.float32)
        # one plane per channel from here, as views (element-wise work needs no copy; splitting cost two):
        # numpy broadcasts a per-channel scalar over a trailing axis of 2 several times slower than over a plane
        planes = (both[..., 0], both[..., 1])  # (low, high)
        zs = (z[..., 0], z[..., 1]) if noise else None
        span = np.float32(self.air_level - self.offset)
        out = []
        for c in (1, 0):  # high, low
            raw = planes[c]
            raw *= span  # mean signal, raw units
            if noise:
                # variance in raw units: scale^2 (quanta * T + e^2) = scale * mean + (scale * e)^2
                scale = float(span) / self.quanta[c]  # raw units per quantum
                sd = raw * np.float32(scale)
                sd += np.float32((scale * self.electronic_noise) ** 2)
                cv2.sqrt(sd, sd)
                sd *= zs[c]
                raw += sd
                raw *= gain[:, :, c]
            raw += np.float32(self.offset)
            out.append(np.clip(raw, 0, 65535, out=raw).astype(np.uint16))
        return out[0], out[1]

    def transmission(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated transmission in (0, 1] from a raw channel (the scanner's air/dark calibration)."""
        return self.transmission_lut()[raw]

    def absorbance(self, raw: np.ndarray) -> np.ndarray:
        """-ln(transmission) from a raw channel, float32."""
        return self.absorbance_lut()[raw]

    def pseudo_colour(self, high: np.ndarray, low: np.ndarray) -> np.ndarray:
        """What the operator sees: RGB uint8 (H, W, 3) rendered from a raw (high, low) pair."""
        return render_raw(high, low, display=self.display, spectrum=self.spectrum, offset=self.offset,
                          air_level=self.air_level)

    def transmission_lut(self) -> np.ndarray:
        """Transmission for every 16-bit raw value (65536,) float32."""
        return transmission_lut(self.offset, self.air_level)

    def absorbance_lut(self) -> np.ndarray:
        """-ln(transmission) for every 16-bit raw value (65536,) float32."""
        return absorbance_lut(self.offset, self.air_level)


def preview(obj: ObjectModel, *, px_per_cm: float = 8.0, pose: Pose | None = None, noise: bool = False) -> np.ndarray:
    """Pseudo-colour RGB image (uint8) of one object alone on the belt."""
    x0, y0, x1, y1 = obj.extent_cm()
    margin = 2.0
    w = int((x1 - x0 + 2 * margin) * px_per_cm) + 1
    h = int((y1 - y0 + 2 * margin) * px_per_cm) + 1
    pose = pose or Pose(x=(margin - x0) * px_per_cm, y=(margin - y0) * px_per_cm, px_per_cm=px_per_cm)
    maps = LineIntegrals(h, w)
    fp = rasterise(obj, pose, maps.shape)
    if fp is not None:
        maps.add(fp)
    det = ScannerReadout()
    high, low = det.read_out(maps, np.random.default_rng(0), noise=noise)
    return det.pseudo_colour(high, low)
