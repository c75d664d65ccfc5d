"""Pseudo-colour rendering of a dual-energy scan, the way operators see it.

A scanner estimates the effective atomic number of each pixel from how much
more the low-energy channel is absorbed than the high-energy one. That ratio
R = ln(T_low) / ln(T_high) also drifts with thickness (beam hardening), so,
like a real scanner, we calibrate against reference materials: for each high-
channel absorbance a_H we know R for plastic, water, aluminium and steel of
the thickness that gives that a_H, and interpolate Z_eff between them.

The screen is a scanner's own (`Display`, part of a scanner profile): hue
from Z_eff along the vendor's palette (orange organic, green mixed, blue
metal, at vendor-specific boundaries), saturation growing with absorbance
(thin things are pale tints of the background), and brightness from a
compressive display curve, so a few millimetres of steel are mid-to-dark
blue and black is kept for what the beam did not cross.

Scanner makes are data (`scanners/<name>.json`: beam, read-out, screen); the
services show a raw pair to a pseudo-colour model with `render_raw` on the
default scanner's screen, and the simulator renders its frames through the
same functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np

from pipeline.xray.materials import DEFAULT_SPECTRUM, Spectrum, transmission, zeff

__all__ = [
    "DEFAULT_SCANNER", "RAW_AIR_LEVEL", "RAW_OFFSET", "SCANNER_DIR", "Display", "absorbance_lut", "display_from_dict",
    "display_value", "load_screen", "pseudo_colour", "pseudo_colour_absorbance", "render_raw", "scanner_file",
    "transmission_lut", "zeff_map",
]

_REFERENCES = ("plastic", "water", "aluminium", "steel", "copper")
_A_MAX = 9.5  # high-channel absorbance where the table stops (T < 1e-4: the read-out floor)
_A_STEPS = 192
_R_MIN, _R_MAX, _R_STEPS = 1.0, 8.0, 160
_LOW_FLOOR = 8.0  # low-channel absorbance (T_L < 3.4e-4: a quantum or two) past which R means nothing
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Display:
    """A scanner screen: palette, display curve, saturation curve and background tone.

    Colour of a thing at high-channel absorbance a and effective atomic number Z:
    ``V(a) ** g(Z) * ((1 - S(a)) * white + S(a) * palette(Z))`` with
    ``V(a) = (1 - ln(1 + a / value_knee) / ln(1 + black_at / value_knee)) ** value_gamma``
    (compressive: fine steps where things are thin, black only at ``black_at``),
    ``S(a) = saturation_max * (1 - exp(-a / saturation_scale))`` and ``g`` the
    ``brightness`` exponent over Z (organics stay brighter than metal on most
    screens). It fades in from the ``background`` tone over the first
    ``background_fade`` of absorbance, so photon noise on an empty belt keeps the
    belt's tone. ``palette``: (Z_eff, RGB at full saturation), increasing in Z.
    ``monochrome`` screens show V alone, in grey. ``z_drift`` shifts the hue
    towards metal by that much Z per unit of absorbance (up to 3): many
    vendors' material calibration drifts so with thickness, and thick
    organics turn green on their screens. ``base`` is what a pale thing fades
    to: ``white``, or the ``background`` tone (thin things darker than the belt).
    ``thin_tint`` is the hue thin things of any material take (weight
    ``exp(-a / thin_scale)``): some screens tint every faint layer alike, as the
    pale yellow-green of a SIXray scanner's bag fabric. ``sharpen`` is the
    screen's edge enhancement: an unsharp mask of that amount (Gaussian
    ``sharpen_sigma_px``) on both absorbances before colouring, which is why
    wires and rims stand out crisply on operators' screens.
    """

    background: RGB
    palette: tuple[tuple[float, RGB], ...]
    value_knee: float = 0.5
    black_at: float = 7.0
    value_gamma: float = 1.0
    brightness: tuple[tuple[float, float], ...] = ((6.0, 1.0), (30.0, 1.0))
    z_drift: float = 0.0
    base: str = "white"
    thin_tint: RGB | None = None
    thin_scale: float = 0.15
    sharpen: float = 0.0
    sharpen_sigma_px: float = 1.5
    saturation_scale: float = 0.9
    saturation_max: float = 0.95
    background_fade: float = 0.04
    monochrome: bool = False
    material_blur: int = 3

    def __post_init__(self) -> None:
        zs = [z for z, _ in self.palette]
        if len(zs) < 2 or any(b <= a for a, b in zip(zs, zs[1:])):
            raise ValueError("palette needs two or more (Z_eff, RGB) stops in increasing Z")
        for rgb in [self.background] + [c for _, c in self.palette]:
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ValueError(f"colours are three values 0-255, got {rgb}")
        if not 0 < self.value_knee < self.black_at:
            raise ValueError("need 0 < value_knee < black_at")
        if self.saturation_scale <= 0 or not 0 <= self.saturation_max <= 1 or self.value_gamma <= 0:
            raise ValueError("saturation_scale and value_gamma must be > 0, saturation_max in [0, 1]")
        if len(self.brightness) < 1 or any(g <= 0 for _, g in self.brightness):
            raise ValueError("brightness needs (Z_eff, exponent > 0) stops")
        if self.background_fade <= 0:
            raise ValueError("background_fade must be > 0")
        if self.thin_tint is not None and (len(self.thin_tint) != 3 or not all(0 <= v <= 255 for v in self.thin_tint)):
            raise ValueError(f"thin_tint is three values 0-255, got {self.thin_tint}")
        if self.sharpen < 0 or self.sharpen_sigma_px <= 0:
            raise ValueError("sharpen must be >= 0 and sharpen_sigma_px > 0")
        if self.thin_scale <= 0:
            raise ValueError("thin_scale must be > 0")
        if self.base not in ("white", "background"):
            raise ValueError("base is 'white' or 'background'")
        if self.material_blur < 1:
            raise ValueError("material_blur is a box size in pixels, at least 1")


def display_value(display: Display, a: np.ndarray) -> np.ndarray:
    """Brightness in [0, 1] the display curve gives high-channel absorbance a (any shape)."""
    a = np.maximum(np.asarray(a, np.float64), 0.0)
    v = 1.0 - np.log1p(a / display.value_knee) / np.log1p(display.black_at / display.value_knee)
    return np.clip(v, 0.0, 1.0) ** display.value_gamma


def _display_saturation(display: Display, a: np.ndarray) -> np.ndarray:
    return display.saturation_max * (1.0 - np.exp(-np.maximum(a, 0.0) / display.saturation_scale))


def _a_grid() -> np.ndarray:
    return (np.linspace(0.0, 1.0, _A_STEPS) ** 2) * _A_MAX


@cache
def _calibration(spectrum: Spectrum = DEFAULT_SPECTRUM) -> tuple[np.ndarray, np.ndarray]:
    """Z_eff table over (a_H, R) from the reference materials' exact curves."""
    a_grid = _a_grid()
    thick = np.geomspace(1e-3, 60.0, 160)
    z_refs, r_refs = [], []
    for name in _REFERENCES:
        tl, th = np.array([transmission(name, t, spectrum) for t in thick]).T
        a_h, a_l = -np.log(np.maximum(th, 1e-12)), -np.log(np.maximum(tl, 1e-12))
        keep = a_h < 12
        r = np.interp(a_grid, a_h[keep], (a_l / np.maximum(a_h, 1e-9))[keep])
        z_refs.append(zeff(name))
        r_refs.append(r)
    r_refs = np.maximum.accumulate(np.array(r_refs), axis=0)  # keep R monotone in Z at each a_H
    r_axis = np.linspace(_R_MIN, _R_MAX, _R_STEPS)
    table = np.stack([np.interp(r_axis, r_refs[:, i] + 1e-6 * np.arange(len(_REFERENCES)), z_refs) for i in range(_A_STEPS)])
    return table.astype(np.float32), r_axis  # (A_STEPS, R_STEPS)


# bounded: a jittered display per frame (domain randomisation) must not grow memory without end
@lru_cache(maxsize=16)
def _colour_lut(display: Display, spectrum: Spectrum = DEFAULT_SPECTRUM) -> np.ndarray:
    """RGB uint8 table over (a_H index, R index)."""
    z, _ = _calibration(spectrum)
    a = _a_grid()[:, None, None]
    z = z + display.z_drift * np.minimum(a[..., 0], 3.0)
    zs = np.array([p[0] for p in display.palette])
    rgb = np.stack([np.interp(z, zs, [p[1][c] for p in display.palette]) for c in range(3)], axis=-1)
    if display.thin_tint is not None:
        w = np.exp(-a / display.thin_scale)
        rgb = (1.0 - w) * rgb + w * np.asarray(display.thin_tint, np.float64)
    bz, bg_exp = np.array(display.brightness).reshape(-1, 2).T
    value = display_value(display, a) ** np.interp(z, bz, bg_exp)[..., None]
    saturation = 0.0 if display.monochrome else _display_saturation(display, a)
    base = 255.0 if display.base == "white" else np.asarray(display.background, np.float64)
    colour = value * ((1.0 - saturation) * base + saturation * rgb)
    # photon noise on an empty belt (|a| ~ 0.02) must keep the belt's tone, as on a scanner screen
    fade = 1.0 - np.exp(-np.maximum(a, 0.0) / display.background_fade)
    colour = (1.0 - fade) * np.asarray(display.background, np.float64) + fade * colour
    return np.clip(np.rint(colour), 0, 255).astype(np.uint8)


@lru_cache(maxsize=16)
def _colour_lut_rgba(display: Display, spectrum: Spectrum = DEFAULT_SPECTRUM) -> np.ndarray:
    lut = _colour_lut(display, spectrum).reshape(-1, 3)
    rgba = np.concatenate([lut, np.full((len(lut), 1), 255, np.uint8)], axis=1)
    return np.ascontiguousarray(rgba).view(np.uint32).ravel()


# ---- scanner screens as data, and raw pairs shown on them -------------------------------------------------------

SCANNER_DIR = Path(__file__).with_name("scanners")  # one JSON per scanner make (the simulator's profiles too)
DEFAULT_SCANNER = "sixray"
# the raw read-out's calibration (16-bit values): the dark offset, and where air (T = 1) reads
RAW_OFFSET, RAW_AIR_LEVEL = 300.0, 62000.0


def display_from_dict(data: dict) -> Display:
    """A `Display` from a scanner JSON's ``display`` section (lists where the dataclass has tuples)."""
    disp = dict(data)
    disp["background"] = tuple(int(v) for v in disp["background"])
    disp["palette"] = tuple((float(z), tuple(int(v) for v in rgb)) for z, rgb in disp["palette"])
    if disp.get("thin_tint") is not None:
        disp["thin_tint"] = tuple(int(v) for v in disp["thin_tint"])
    if "brightness" in disp:
        disp["brightness"] = tuple((float(z), float(g)) for z, g in disp["brightness"])
    return Display(**disp)


def scanner_file(name_or_path: str | Path) -> Path:
    """The JSON of a shipped scanner by name, or the file given by path; ValueError when there is none."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = SCANNER_DIR / f"{name_or_path}.json"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in SCANNER_DIR.glob("*.json")))
            raise ValueError(f"unknown scanner profile {str(name_or_path)!r}; known: {known} "
                             "(or give the path of a profile .json)")
    elif not path.is_file():
        raise ValueError(f"scanner profile file {path} does not exist")
    return path


@cache
def load_screen(name_or_path: str | Path = DEFAULT_SCANNER) -> tuple[Display, Spectrum]:
    """A scanner's screen and beam: what a raw pair of its is shown with."""
    path = scanner_file(name_or_path)
    try:
        data = json.loads(path.read_text())
        return display_from_dict(data["display"]), Spectrum(**data.get("spectrum", {}))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"scanner profile {path}: {exc}") from None


def _default_display() -> Display:
    return load_screen()[0]


@cache
def transmission_lut(offset: float = RAW_OFFSET, air_level: float = RAW_AIR_LEVEL) -> np.ndarray:
    """Calibrated transmission for every 16-bit raw value (65536,) float32: the scanner's air/dark calibration."""
    t = (np.arange(65536, dtype=np.float64) - offset) / (air_level - offset)
    return np.clip(t, 1e-4, 1.0).astype(np.float32)


@cache
def absorbance_lut(offset: float = RAW_OFFSET, air_level: float = RAW_AIR_LEVEL) -> np.ndarray:
    """-ln(transmission) for every 16-bit raw value (65536,) float32."""
    return (-np.log(transmission_lut(offset, air_level))).astype(np.float32)


def render_raw(high: np.ndarray, low: np.ndarray, *, display: Display | None = None,
               spectrum: Spectrum = DEFAULT_SPECTRUM, offset: float = RAW_OFFSET,
               air_level: float = RAW_AIR_LEVEL) -> np.ndarray:
    """What the operator sees of a raw dual-energy pair (uint16 (H, W) each): RGB uint8 (H, W, 3) on `display`
    (default: the default scanner's screen)."""
    lut = absorbance_lut(offset, air_level)
    return pseudo_colour_absorbance(lut[high], lut[low], display, spectrum)


def _indices(a_h: np.ndarray, a_l: np.ndarray, blur: int = 3) -> np.ndarray:
    # the material estimate is spatially smoothed, as scanners do: R is noisy where thin
    sa_h = cv2.blur(a_h, (blur, blur))
    np.maximum(sa_h, np.float32(1e-3), out=sa_h)
    sa_l = cv2.blur(a_l, (blur, blur))
    r = cv2.divide(sa_l, sa_h)
    r -= np.float32(_R_MIN)
    r *= np.float32((_R_STEPS - 1) / (_R_MAX - _R_MIN))
    r += np.float32(0.5)
    np.clip(r, 0, _R_STEPS - 1, out=r)
    # where the low channel reads its floor, R = a_L / a_H only falls as a_H grows and would call thick
    # steel organic; scanners show what the soft beam cannot cross as metal
    r[sa_l >= np.float32(_LOW_FLOOR)] = _R_STEPS - 1
    ia = cv2.sqrt(np.maximum(a_h, np.float32(0.0)) * np.float32((_A_STEPS - 1) ** 2 / _A_MAX))
    ia += np.float32(0.5)
    np.minimum(ia, np.float32(_A_STEPS - 1), out=ia)
    idx = ia.astype(np.int32)
    idx *= _R_STEPS
    idx += r.astype(np.int32)
    return idx


def pseudo_colour_absorbance(a_high: np.ndarray, a_low: np.ndarray, display: Display | None = None,
                             spectrum: Spectrum = DEFAULT_SPECTRUM) -> np.ndarray:
    """RGB uint8 (H, W, 3) from absorbances -ln T (H, W) float32 of both channels, on a scanner's display."""
    display = display or _default_display()
    if display.sharpen > 0:
        k = np.float32(display.sharpen)
        a_high = cv2.addWeighted(a_high, 1 + k, cv2.GaussianBlur(a_high, (0, 0), display.sharpen_sigma_px), -k, 0)
        a_low = cv2.addWeighted(a_low, 1 + k, cv2.GaussianBlur(a_low, (0, 0), display.sharpen_sigma_px), -k, 0)
    idx = _indices(a_high, a_low, display.material_blur)
    rgba = np.take(_colour_lut_rgba(display, spectrum), idx)  # one 4-byte gather per pixel
    return cv2.cvtColor(rgba.view(np.uint8).reshape(*rgba.shape, 4), cv2.COLOR_RGBA2RGB)


def _absorbance(t: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(t, 1e-6, 1.0)).astype(np.float32)


def pseudo_colour(t_high: np.ndarray, t_low: np.ndarray, display: Display | None = None,
                  spectrum: Spectrum = DEFAULT_SPECTRUM) -> np.ndarray:
    """RGB uint8 (H, W, 3) from calibrated transmissions (H, W) in (0, 1]."""
    return pseudo_colour_absorbance(_absorbance(t_high), _absorbance(t_low), display, spectrum)


def zeff_map(t_high: np.ndarray, t_low: np.ndarray, spectrum: Spectrum = DEFAULT_SPECTRUM) -> np.ndarray:
    """Estimated effective atomic number per pixel, float32 (H, W)."""
    return _calibration(spectrum)[0].ravel()[_indices(_absorbance(t_high), _absorbance(t_low))]
