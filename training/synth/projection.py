"""Threat image projection (TIP): put a simulated threat into a scan, physically.

Raw dual-energy pairs: the scan's calibrated transmissions are decomposed
into photoelectric and Compton line integrals (A_p, A_c, the basis the
renderer adds objects in), the threat's are added, and the scan is
attenuated by T(A + threat) / T(A) per channel. Multiplying by the threat's
own transmission would be exact only for a monochromatic beam: with the
polychromatic beam, 4 mm of steel over 3 mm of steel reads 45 % brighter in
the high channel than the product of the two (beam hardening).

Pseudo-colour RGB scans: each pixel's high-channel absorbance and material
ratio R = a_low / a_high are read back through an inverse of the display (the
nearest colour of its table over (a_high, R)), the threat is added in the
same basis, and the result is rendered with the scan's own display: a known
one, or one calibrated from the scan (`calibrate_palette`).

Outside the threat's footprint every pixel is returned bit for bit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache, lru_cache

import cv2
import numpy as np
from scipy.spatial import cKDTree

from pipeline.xray.materials import (
    DEFAULT_SPECTRUM,
    Spectrum,
    basis_functions,
    channel_weights,
    transmission,
    transmission_table,
)
from pipeline.xray.screen import Display, pseudo_colour_absorbance
from training.synth.parts import ObjectModel
from training.synth.profiles import default_profile
from training.synth.render import Footprint, Pose, ScannerReadout, rasterise
from training.synth.scene import OCCLUDER_ABSORBANCE

__all__ = [
    "Projected",
    "ScanPalette",
    "calibrate_palette",
    "pose_in_region",
    "project_raw",
    "project_rgb",
    "threat_footprint",
]


@dataclass
class Projected:
    """A scan with a threat projected into it; the images not given stay None."""

    high: np.ndarray | None  # (H, W) uint16
    low: np.ndarray | None  # (H, W) uint16
    rgb: np.ndarray | None  # (H, W, 3) uint8
    box: tuple[int, int, int, int] | None  # tight (x1, y1, x2, y2) of the covered pixels, x2/y2 exclusive
    footprint: Footprint | None  # the threat's line integrals as projected (blur included)
    occluded: float = 0.0  # share of its pixels behind what dims the high channel by OCCLUDER_ABSORBANCE or more


def pose_in_region(rng: np.random.Generator, threat: ObjectModel, region: tuple[float, float, float, float],
                   px_per_cm: float, *, tilt_prob: float = 0.4, tries: int = 30) -> Pose:
    """A random pose (rotation, flip, tilt as the scene draws them) whose box lies inside region (x1, y1, x2, y2)."""
    x0, y0, x1, y1 = threat.extent_cm()
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    mid = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    rx1, ry1, rx2, ry2 = region
    pose = None
    for _ in range(tries):
        tilt = float(rng.uniform(0.55, 1.0)) if threat.tilt and rng.random() < tilt_prob else 1.0
        pose = Pose(0.0, 0.0, px_per_cm, float(rng.uniform(0, 360)), tilt, float(rng.uniform(0, 180)),
                    bool(rng.random() < 0.5))
        pts = pose.apply(corners)
        # the offsets that keep the posed box inside the region
        free_lo, free_hi = np.array([rx1, ry1]) - pts.min(0), np.array([rx2, ry2]) - pts.max(0)
        if np.all(free_hi >= free_lo):
            at = rng.uniform(free_lo, free_hi)
            return dataclasses.replace(pose, x=float(at[0]), y=float(at[1]))
    # larger than the region in every orientation tried: centre it, ends overhang
    centre = pose.apply(mid[None])[0]
    return dataclasses.replace(pose, x=(rx1 + rx2) / 2 - float(centre[0]), y=(ry1 + ry2) / 2 - float(centre[1]))


def threat_footprint(threat: ObjectModel, pose: Pose, shape: tuple[int, int], *, blur_px: float = 0.0,
                     spectrum: Spectrum = DEFAULT_SPECTRUM) -> Footprint | None:
    """The threat's line integrals in a frame of `shape`, softened by a detector blur of sigma `blur_px`."""
    fp = rasterise(threat, pose, shape)
    if fp is None or fp.box() is None:
        return None
    if blur_px <= 0:
        return fp
    pad = int(np.ceil(3 * blur_px))
    h, w = fp.a_p.shape
    x0, y0 = max(fp.x0 - pad, 0), max(fp.y0 - pad, 0)
    x1, y1 = min(fp.x0 + w + pad, shape[1]), min(fp.y0 + h + pad, shape[0])
    maps = np.zeros((y1 - y0, x1 - x0, 2), np.float32)
    maps[fp.y0 - y0:fp.y0 - y0 + h, fp.x0 - x0:fp.x0 - x0 + w] = np.stack([fp.a_p, fp.a_c], -1)
    maps = cv2.GaussianBlur(maps, (0, 0), blur_px, borderType=cv2.BORDER_CONSTANT)
    # the blur's far tail dims the beam by under 0.2 %, below the belt's photon noise: not part of the threat
    t_high = transmission_table(spectrum).both(maps[..., 0], maps[..., 1])[..., 1]
    maps[t_high > 0.998] = 0.0
    soft = Footprint(x0, y0, np.ascontiguousarray(maps[..., 0]), np.ascontiguousarray(maps[..., 1]))
    return soft if soft.box() is not None else None


# --- basis decomposition: (a_low, a_high) -> (A_p, A_c), exactly inverting the renderer's table ---

_JAC_STRIDE = 8  # the Jacobian only steers Newton's steps; a coarse table of it is enough


@cache
def _basis(spectrum: Spectrum) -> tuple[np.ndarray, np.ndarray]:
    """-ln T over the renderer's (A_p, A_c) table (S, S, 2); d(-ln T)/dA on every 8th node (S', S', channel, basis)."""
    tt = transmission_table(spectrum)
    log_t = -np.log(np.maximum(tt.table, 1e-30)).astype(np.float32)
    grid = np.linspace(0.0, 1.0, tt.steps)[::_JAC_STRIDE] ** 2
    f_p, f_c = basis_functions()
    p = np.exp(-np.outer(grid * tt.a_p_max, f_p))
    c = np.exp(-np.outer(grid * tt.a_c_max, f_c))
    jac = []
    for w in channel_weights(spectrum):  # low, high
        t = (p * w) @ c.T
        jac.append(np.stack([((p * w * f_p) @ c.T) / t, ((p * w) @ (c * f_c).T) / t], -1))
    return log_t, np.stack(jac, -2).astype(np.float32)


def _decompose(a_low: np.ndarray, a_high: np.ndarray, spectrum: Spectrum) -> tuple[np.ndarray, np.ndarray]:
    """Line integrals (A_p, A_c) whose table absorbances are (a_low, a_high); 1-D float32 in, out.

    Newton's method on the table interpolated bilinearly between its nodes, so a
    frame the renderer made is decomposed into the very nodes it was rendered
    from. Absorbance pairs no material mix can give clamp to the nearest edge.
    """
    tt = transmission_table(spectrum)
    log_t, jac = _basis(spectrum)
    top, jtop = tt.steps - 1, jac.shape[0] - 1
    k_p, k_c = top**2 / tt.a_p_max, top**2 / tt.a_c_max  # A -> squared table index
    a = np.stack([a_low, a_high], -1).astype(np.float32)
    a_p, a_c = (np.maximum(a @ np.linalg.inv(jac[0, 0]).T, 0.0).T).astype(np.float32)  # thin-object start
    for _ in range(12):  # measured: 8 reach the renderer's node for every pixel, 12 leave room
        u, v = np.sqrt(a_p * k_p), np.sqrt(a_c * k_c)
        i, j = np.minimum(u.astype(np.int32), top - 1), np.minimum(v.astype(np.int32), top - 1)
        fu, fv = np.minimum(u - i, 1.0)[:, None], np.minimum(v - j, 1.0)[:, None]
        est = ((log_t[i, j] * (1 - fu) + log_t[i + 1, j] * fu) * (1 - fv)
               + (log_t[i, j + 1] * (1 - fu) + log_t[i + 1, j + 1] * fu) * fv)
        r = est - a
        jm = jac[np.minimum(np.rint(u / _JAC_STRIDE).astype(np.int32), jtop),
                 np.minimum(np.rint(v / _JAC_STRIDE).astype(np.int32), jtop)]
        det = jm[:, 0, 0] * jm[:, 1, 1] - jm[:, 0, 1] * jm[:, 1, 0]
        a_p = np.clip(a_p - (jm[:, 1, 1] * r[:, 0] - jm[:, 0, 1] * r[:, 1]) / det, 0.0, tt.a_p_max)
        a_c = np.clip(a_c - (jm[:, 0, 0] * r[:, 1] - jm[:, 1, 0] * r[:, 0]) / det, 0.0, tt.a_c_max)
    # land on the nearest node: a rendered frame holds node values, known to ~0.01 node after 16-bit
    # rounding, and the lookups that follow are nearest-node anyway
    nodes = []
    for a_b, k, a_max in ((a_p, k_p, tt.a_p_max), (a_c, k_c, tt.a_c_max)):
        i = np.rint(np.sqrt(a_b.astype(np.float64) * k))
        nodes.append(((i / top) ** 2 * a_max).astype(np.float32))
    return nodes[0], nodes[1]


def _attenuation(a_low: np.ndarray, a_high: np.ndarray, f_p: np.ndarray, f_c: np.ndarray,
                 spectrum: Spectrum) -> np.ndarray:
    """Factor (N, 2) (low, high) by which a threat (f_p, f_c) dims pixels of absorbances (a_low, a_high)."""
    tt = transmission_table(spectrum)
    a_p, a_c = _decompose(a_low, a_high, spectrum)
    # the renderer's own (nearest-node) lookups, so projecting equals rendering
    before = tt.both(a_p, a_c)
    after = tt.both(a_p + f_p, a_c + f_c)
    return np.clip(after / np.maximum(before, 1e-30), 0.0, 1.0)


def project_raw(high: np.ndarray, low: np.ndarray, threat: ObjectModel, pose: Pose, *, detector: ScannerReadout | None = None,
                blur_px: float | None = None, noise_rng: np.random.Generator | None = None) -> Projected:
    """Project a posed threat into a raw (high, low) uint16 pair read out by `detector` (default profile's).

    ``blur_px`` softens the threat like the detector's point spread (default:
    its ``psf_sigma_px``). ``noise_rng`` adds the photon noise the darker
    pixels lack: scaling a noisy pixel scales its noise by T, physics by sqrt(T).
    """
    det = detector or default_profile().detector
    fp = threat_footprint(threat, pose, high.shape, blur_px=det.psf_sigma_px if blur_px is None else blur_px,
                          spectrum=det.spectrum)
    high, low = high.copy(), low.copy()
    if fp is None:
        return Projected(high, low, None, None, None)
    sl, m = fp.slices, fp.mask()
    h_px, l_px = high[sl][m], low[sl][m]
    a_high = det.absorbance(h_px)
    ratio = _attenuation(det.absorbance(l_px), a_high, fp.a_p[m], fp.a_c[m], det.spectrum)
    span = det.air_level - det.offset
    for raw, px, k in ((high, h_px, 1), (low, l_px, 0)):
        # scale the signal itself, not the clipped transmission: unattenuated pixels keep their exact value
        signal = (px.astype(np.float64) - det.offset) * ratio[:, k]
        if noise_rng is not None:
            quanta = det.quanta[k]
            scale = span / quanta  # raw units per quantum
            missing = (np.maximum(signal, 0.0) * scale * (1.0 - ratio[:, k])
                       + (scale * det.electronic_noise) ** 2 * (1.0 - ratio[:, k] ** 2))
            signal += np.sqrt(missing) * noise_rng.standard_normal(signal.shape)
        raw[sl][m] = np.clip(np.rint(signal + det.offset), 0, 65535).astype(np.uint16)
    return Projected(high, low, None, fp.box(), fp, float(np.mean(a_high >= OCCLUDER_ABSORBANCE)))


# --- pseudo-colour: reading (a_high, R) back from a display's colours ---

_A_NODES = np.linspace(0.0, 1.0, 192) ** 2 * 9.5  # the display table's own nodes (pseudo_colour._a_grid)
_R_NODES = np.linspace(1.0, 8.0, 160)
_A_FLOOR = float(-np.log(1e-4))  # absorbance at the simulated read-out floor (pipeline.xray.screen.transmission_lut)


@dataclass(frozen=True)
class _DisplayInverse:
    tree: cKDTree  # over the display's distinct colours
    colours: np.ndarray  # (K, 3) float32 those colours
    a_high: np.ndarray  # (K,) mean high-channel absorbance of each distinct colour
    ratio: np.ndarray  # (K,) its material ratio R


@lru_cache(maxsize=16)  # one per calibrated scan in flight; each holds ~1 MB
def _display_inverse(display: Display, spectrum: Spectrum) -> _DisplayInverse:
    """Every colour the display shows over its (a_high, R) nodes, ready for nearest-colour lookups."""
    # render each node as a block wider than the material blur, so the blur sees only that node
    b = display.material_blur + 2
    a_h = np.repeat(np.repeat(np.broadcast_to(_A_NODES[:, None], (_A_NODES.size, _R_NODES.size)), b, 0), b, 1)
    r = np.repeat(np.repeat(np.broadcast_to(_R_NODES[None, :], (_A_NODES.size, _R_NODES.size)), b, 0), b, 1)
    rgb = pseudo_colour_absorbance(a_h.astype(np.float32), (a_h * r).astype(np.float32), display, spectrum)
    colours = rgb[b // 2::b, b // 2::b].reshape(-1, 3)
    a_n = np.repeat(_A_NODES, _R_NODES.size)
    r_n = np.tile(_R_NODES, _A_NODES.size)
    keys, inv = np.unique(colours, axis=0, return_inverse=True)
    inv = inv.ravel()
    n = np.bincount(inv, minlength=len(keys))
    a_high = np.bincount(inv, a_n, len(keys)) / n
    r_lo, r_hi = np.full(len(keys), np.inf), np.full(len(keys), -np.inf)
    np.minimum.at(r_lo, inv, r_n)
    np.maximum.at(r_hi, inv, r_n)
    # a colour several materials share (beyond the palette's ends, on a grey screen, near the belt's tone)
    # is read as the one of them nearest to water, what bags mostly hold
    ref_a, ref_r = _organic_ratio(spectrum)
    ratio = np.clip(np.interp(a_high, ref_a, ref_r), r_lo, r_hi)
    return _DisplayInverse(cKDTree(keys.astype(np.float32)), keys.astype(np.float32), a_high.astype(np.float32),
                           ratio.astype(np.float32))


@cache
def _organic_ratio(spectrum: Spectrum) -> tuple[np.ndarray, np.ndarray]:
    """R of water over a_high: what a pixel of unknown material is taken to be (bags are mostly organic)."""
    t = np.geomspace(1e-3, 80.0, 200)
    tl, th = np.array([transmission("water", x, spectrum) for x in t]).T
    a_h, a_l = -np.log(th), -np.log(tl)
    return a_h, a_l / a_h


def _nearest(rgb: np.ndarray, inverse: _DisplayInverse) -> np.ndarray:
    """Index (N,) of the display colour nearest each of (N, 3) uint8 colours."""
    packed = rgb.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], np.uint32)
    keys, inv = np.unique(packed, return_inverse=True)  # scans repeat colours: look each up once
    cols = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], -1).astype(np.float32)
    return inverse.tree.query(cols)[1][inv.ravel()]


def _read_display(rgb: np.ndarray, inverse: _DisplayInverse) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel (a_high, a_low) float32 (N,) of (N, 3) uint8 colours, by the nearest colour the display shows."""
    k = _nearest(rgb, inverse)
    return inverse.a_high[k], inverse.a_high[k] * inverse.ratio[k]


# --- a scan's own display, calibrated from its pixels ---

# How a scan's hue per material is read: a statistic of the hues in one band of the operator palette,
# compared with what the prior display shows for typical contents of that band. (Z_eff where the turn
# applies, hue band in degrees, percentile, reference materials and their thicknesses in cm.)
_HUE_ANCHORS = (
    (7.0, (0.0, 50.0), 50, (("plastic", 0.3, 20.0), ("water", 0.3, 20.0), ("cloth", 1.0, 40.0))),
    (26.0, (170.0, 280.0), 90, (("steel", 0.02, 1.0), ("copper", 0.02, 0.6))),
)
# How far those statistics stray with contents alone, on scans the prior itself rendered: organic median
# -1..+6 deg, metal 90th percentile -1..+2 (8 simulated frames), a sparsely packed bag -8. Turns shrink
# by this much; a real SIXray scan's metal reads 20-25 deg short of the shipped screens' and still turns.
_HUE_NOISE_DEG = 6.0
_MIN_BAND_PIXELS = 200
_A_BIN, _R_BIN = 4, 4  # residual table bins, in display-table nodes


@dataclass(frozen=True)
class ScanPalette:
    """A pseudo-colour scan's screen, calibrated from its own pixels.

    ``display`` is the prior screen (given, or the training profile's that
    fits the scan's colours best) refitted to the scan: its belt tone, and its
    hue per material turned to the hues the scan shows. ``residual`` (A bins,
    R bins, 3) is what the scan's own colours differ from that display by,
    over (a_high, R), fading to zero where the scan has no pixels.
    """

    display: Display
    residual: np.ndarray

    def correction(self, a_high: np.ndarray, ratio: np.ndarray) -> np.ndarray:
        """The scan's own colour offset (..., 3) float32 at absorbances a_high and material ratios R."""
        return self.residual[_bins(a_high, ratio)]


def _bins(a_high: np.ndarray, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residual-table bin (a_high index, R index) of each pixel."""
    ia = np.sqrt(np.clip(a_high, 0, _A_NODES[-1]) / _A_NODES[-1]) * (_A_NODES.size - 1) / _A_BIN
    ir = (np.clip(ratio, _R_NODES[0], _R_NODES[-1]) - _R_NODES[0]) / (_R_NODES[1] - _R_NODES[0]) / _R_BIN
    return (np.minimum(np.rint(ia), (_A_NODES.size - 1) // _A_BIN).astype(np.int32),
            np.minimum(np.rint(ir), (_R_NODES.size - 1) // _R_BIN).astype(np.int32))


def _hsv(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) float32 hue in degrees, saturation and value in [0, 1] of (N, 3) uint8 colours."""
    return cv2.cvtColor(rgb.reshape(1, -1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)[0]


def _band_hue(rgb: np.ndarray, band: tuple[float, float], pct: float, min_pixels: int) -> float | None:
    """The pct-th percentile hue of the coloured (N, 3) uint8 pixels within a hue band; None if too few."""
    hsv = _hsv(rgb)
    sel = (hsv[:, 1] > 0.25) & (hsv[:, 2] > 0.15) & (hsv[:, 0] >= band[0]) & (hsv[:, 0] < band[1])
    return float(np.percentile(hsv[sel, 0], pct)) if sel.sum() >= min_pixels else None


@lru_cache(maxsize=4)
def _reference_hues(display: Display, spectrum: Spectrum) -> tuple[float | None, ...]:
    """Each anchor's statistic on the display's own rendering of its reference materials."""
    out = []
    for _, band, pct, materials in _HUE_ANCHORS:
        a = np.array([[-np.log(t) for t in transmission(name, x, spectrum)]
                      for name, lo, hi in materials for x in np.geomspace(lo, hi, 64)], np.float32)
        b = display.material_blur + 2  # one block per sample, wider than the material blur
        a_l, a_h = (np.repeat(np.repeat(a[None, :, k], b, 0), b, 1) for k in (0, 1))
        shown = pseudo_colour_absorbance(a_h, a_l, display, spectrum)[b // 2, b // 2::b]
        out.append(_band_hue(shown, band, pct, 16))
    return tuple(out)


def calibrate_palette(rgb: np.ndarray, *, prior: Display | None = None, spectrum: Spectrum = DEFAULT_SPECTRUM,
                      max_pixels: int = 400_000) -> ScanPalette:
    """The screen a pseudo-colour scan (H, W, 3) uint8 was shown on, estimated from its pixels.

    Takes the scan's belt tone as background; starts from ``prior``, or by
    default from whichever training profile's screen shows the scan's colours
    best (nearest-colour misfit); turns the palette's hue per material to the
    scan's (anchored on its organic and its metal hues); and tabulates the
    colours left over. The display curve (absorbance to brightness) stays the
    prior's: one scan's colours cannot tell it (stretching every curve's
    absorbance axis alike shows the very same colours).
    """
    step = max(1, int(np.ceil(np.sqrt(rgb.shape[0] * rgb.shape[1] / max_pixels))))
    px = np.ascontiguousarray(rgb[::step, ::step]).reshape(-1, 3)
    hsv = _hsv(px)
    belt = (hsv[:, 1] < 0.12) & (hsv[:, 2] > 0.8)
    coloured = (hsv[:, 1] > 0.35) & (hsv[:, 2] > 0.15)
    # grey only when there is plenty to see and none of it is coloured; an empty belt tells nothing
    monochrome = (~belt).sum() >= 0.02 * len(px) and coloured.sum() < 0.01 * (~belt).sum()
    background = _belt_tone(px[belt])
    prior = prior or _best_screen(px[~belt], background, monochrome, spectrum)
    background = background or prior.background
    palette = prior.palette
    if not monochrome:
        offsets = []
        for (_, band, pct, _), ref in zip(_HUE_ANCHORS, _reference_hues(prior, spectrum)):
            seen = _band_hue(px, band, pct, _MIN_BAND_PIXELS)
            turn = 0.0 if seen is None or ref is None else seen - ref
            offsets.append(float(np.rint(np.sign(turn) * max(abs(turn) - _HUE_NOISE_DEG, 0.0))))
        stops = _hsv(np.array([c for _, c in prior.palette], np.uint8))
        stops[:, 0] = np.mod(stops[:, 0] + np.interp([z for z, _ in prior.palette], [a[0] for a in _HUE_ANCHORS],
                                                     offsets), 360.0)
        turned = np.clip(np.rint(cv2.cvtColor(stops[None], cv2.COLOR_HSV2RGB)[0] * 255.0), 0, 255).astype(int)
        palette = tuple((z, tuple(int(v) for v in c)) for (z, _), c in zip(prior.palette, turned))
    display = dataclasses.replace(prior, background=background, palette=palette,
                                  monochrome=monochrome or prior.monochrome)
    if monochrome and not prior.monochrome:  # grey shows absorbance alone: no brightness by material
        display = dataclasses.replace(display, brightness=((6.0, 1.0), (30.0, 1.0)))
    return ScanPalette(display, _residual_table(px, display, spectrum))


def _belt_tone(belt: np.ndarray) -> tuple[int, int, int] | None:
    """The most common of the pale grey (N, 3) colours (4-level bins), averaged; None if too few."""
    if len(belt) < _MIN_BAND_PIXELS:
        return None
    keys, inv, n = np.unique(belt // 4, axis=0, return_inverse=True, return_counts=True)
    tone = belt[inv.ravel() == np.argmax(n)].mean(0)
    # rounded to even levels (hue turns to whole degrees): scans of one scanner share one display,
    # and the tables cached per display stay few
    return tuple(int(v) for v in np.minimum(2 * np.rint(tone / 2), 255))


def _best_screen(px: np.ndarray, background: tuple[int, int, int] | None, monochrome: bool,
                 spectrum: Spectrum) -> Display:
    """The training profiles' screen (on the scan's belt tone) whose colours lie nearest the scan's (N, 3)."""
    from training.synth.profiles import training_profiles  # profiles are data: read when first needed

    screens = [p.display for p in training_profiles() if p.display.monochrome == monochrome]
    if not screens or len(px) == 0:
        return default_profile().display
    sample = px[:: max(1, len(px) // 20_000)]

    def misfit(display: Display) -> float:
        inverse = _display_inverse(dataclasses.replace(display, background=background or display.background), spectrum)
        return float(np.linalg.norm(sample - inverse.colours[_nearest(sample, inverse)], axis=1).mean())

    return min(screens, key=misfit)


def _residual_table(px: np.ndarray, display: Display, spectrum: Spectrum) -> np.ndarray:
    """Mean (observed - displayed) colour over (a_high, R) bins, spread into nearby empty bins and faded to 0."""
    inverse = _display_inverse(display, spectrum)
    a_h, a_l = _read_display(px, inverse)
    diff = px.astype(np.float32) - inverse.colours[_nearest(px, inverse)]  # what no (a_high, R) of it shows
    ia, ir = _bins(a_h, a_l / np.maximum(a_h, 1e-3))
    na, nr = (_A_NODES.size - 1) // _A_BIN + 1, (_R_NODES.size - 1) // _R_BIN + 1
    flat = ia * nr + ir
    count = np.bincount(flat, minlength=na * nr).reshape(na, nr).astype(np.float32)
    sums = np.stack([np.bincount(flat, diff[:, c], na * nr) for c in range(3)], -1).reshape(na, nr, 3)
    # a bin a few pixels fell in is noise; nearby bins share what they saw, and it fades where the scan saw nothing
    count_s = cv2.GaussianBlur(count, (0, 0), 1.0)
    sums_s = cv2.GaussianBlur(sums.astype(np.float32), (0, 0), 1.0)
    return (sums_s / (count_s[..., None] + 20.0)).astype(np.float32)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def project_rgb(rgb: np.ndarray, threat: ObjectModel, pose: Pose, *, display: Display | None = None,
                palette: ScanPalette | None = None, spectrum: Spectrum = DEFAULT_SPECTRUM,
                blur_px: float | None = None) -> Projected:
    """Project a posed threat into a pseudo-colour scan (H, W, 3) uint8.

    With ``display`` (the scan's known screen) the colours are read back and
    rendered through it exactly; without, through ``palette`` (default:
    `calibrate_palette` of this scan; pass it to reuse it for several
    threats). ``blur_px`` softens the threat like a detector's point spread
    (default: the default profile's). ``spectrum`` is the beam the threat's
    attenuation is computed for.
    """
    if display is None:
        palette = palette or calibrate_palette(rgb, spectrum=spectrum)
        display = palette.display
    else:
        palette = None
    blur = default_profile().detector.psf_sigma_px if blur_px is None else blur_px
    fp = threat_footprint(threat, pose, rgb.shape[:2], blur_px=blur, spectrum=spectrum)
    out = rgb.copy()
    if fp is None:
        return Projected(None, None, out, None, None)
    # read a margin round the footprint too: the display smooths the material estimate over it
    pad = display.material_blur // 2 + 1
    h, w = fp.a_p.shape
    y0, x0 = max(fp.y0 - pad, 0), max(fp.x0 - pad, 0)
    y1, x1 = min(fp.y0 + h + pad, rgb.shape[0]), min(fp.x0 + w + pad, rgb.shape[1])
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    inside = slice(fp.y0 - y0, fp.y0 - y0 + h), slice(fp.x0 - x0, fp.x0 - x0 + w)  # the footprint in the crop
    read = _read_display(crop.reshape(-1, 3), _display_inverse(display, spectrum))
    a_h, a_l = (a.reshape(crop.shape[:2]) for a in read)
    m = fp.mask()
    ratio = _attenuation(a_l[inside][m], a_h[inside][m], fp.a_p[m], fp.a_c[m], spectrum)
    new_h, new_l = a_h.copy(), a_l.copy()
    for new, old, k in ((new_h[inside], a_h[inside], 1), (new_l[inside], a_l[inside], 0)):
        new[m] -= np.log(np.maximum(ratio[:, k], 1e-30))
        # the simulated read-out floor: behind enough steel both channels saturate, as the renderer's do
        # (the display shows a saturated low channel as metal, so an unknown scanner's floor looks alike)
        new[m] = np.maximum(np.minimum(new[m], _A_FLOOR), old[m])
    before = _shown(a_h, a_l, display, palette, spectrum)
    after = _shown(new_h, new_l, display, palette, spectrum)
    # keep what the display model does not explain (texture, compression, the scan's own tint),
    # dimmed as the pixel darkens
    keep = np.clip(_luma(after) / np.maximum(_luma(before), 1.0), 0.0, 1.0)[..., None]
    colour = (after + keep * (crop.astype(np.float32) - before))[inside]
    out[fp.slices][m] = np.clip(np.rint(colour[m]), 0, 255).astype(np.uint8)
    return Projected(None, None, out, fp.box(), fp, float(np.mean(a_h[inside][m] >= OCCLUDER_ABSORBANCE)))


def _shown(a_h: np.ndarray, a_l: np.ndarray, display: Display, palette: ScanPalette | None,
           spectrum: Spectrum) -> np.ndarray:
    """Colour (H, W, 3) float32 the (calibrated) display gives absorbance maps (H, W)."""
    colour = pseudo_colour_absorbance(a_h, a_l, display, spectrum).astype(np.float32)
    if palette is not None:
        k = (display.material_blur,) * 2
        ratio = cv2.blur(a_l, k) / np.maximum(cv2.blur(a_h, k), 1e-3)
        colour += palette.correction(a_h, ratio)
    return colour


def rescreen(rgb: np.ndarray, display: Display, *, palette: ScanPalette | None = None,
             spectrum: Spectrum = DEFAULT_SPECTRUM) -> np.ndarray:
    """A pseudo-colour scan (H, W, 3) uint8 shown on another screen: read back through its own, rendered on `display`.

    Each pixel's absorbance and material ratio are read through the scan's
    screen (``palette``, default: `calibrate_palette` of the scan) and shown on
    ``display``. What the read-back loses (texture the display model does not
    explain, compression, the material ratio smoothed at edges) stays lost.
    """
    palette = palette or calibrate_palette(rgb, spectrum=spectrum)
    px = np.ascontiguousarray(rgb).reshape(-1, 3)
    a_h, a_l = _read_display(px, _display_inverse(palette.display, spectrum))
    shape = rgb.shape[:2]
    return pseudo_colour_absorbance(a_h.reshape(shape).astype(np.float32), a_l.reshape(shape).astype(np.float32),
                                    display, spectrum)
