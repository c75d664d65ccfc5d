"""Scanner profiles: what makes one scanner make's scans look unlike another's, as data.

A profile is a JSON file (``pipeline/xray/scanners/<name>.json``, shared with
the services, which show raw pairs on its screen; or any path): the tube spectrum and filtration (`Spectrum`), the detector's photon
counts, noise, blur and pixel pitch, and the screen (`Display`: palette,
display curve, saturation, background tone). Real scanners differ most in
palette and display, so the shipped profiles vary those most.

One shipped profile is marked ``held_out``: training never uses it by
default, so a detector tested on it shows how well it carries over to a
scanner it has not seen ("train on the others, test on the held-out one").
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from pipeline.xray.materials import Spectrum
from pipeline.xray.screen import DEFAULT_SCANNER, SCANNER_DIR, Display, display_from_dict, scanner_file
from training.synth.render import ScannerReadout

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILE_DIR",
    "ScannerProfile",
    "default_profile",
    "held_out_profiles",
    "load_profile",
    "profile_names",
    "training_profiles",
]

PROFILE_DIR = SCANNER_DIR
DEFAULT_PROFILE = DEFAULT_SCANNER
_DETECTOR_KEYS = {"quanta", "electronic_noise", "row_gain_sigma", "psf_sigma_px", "offset", "air_level"}


@dataclass(frozen=True)
class ScannerProfile:
    """One scanner make: its detector (beam, read-out, screen) and pixel pitch."""

    name: str
    description: str
    detector: ScannerReadout
    pixel_pitch_mm: float
    held_out: bool = False
    # belt tones a site's screens show, with how often: one scanner make ships white and grey settings
    backgrounds: tuple[tuple[tuple[int, int, int], float], ...] = ()
    # JPEG quality range the scanner (or its archive) stores screen images at; None: lossless PNG
    jpeg_quality: tuple[int, int] | None = None

    def detector_for(self, rng) -> ScannerReadout:
        """The detector with one of the profile's belt tones drawn from ``rng`` (the display's own if none)."""
        if not self.backgrounds:
            return self.detector
        weights = np.array([w for _, w in self.backgrounds], np.float64)
        tone = self.backgrounds[int(rng.choice(len(weights), p=weights / weights.sum()))][0]
        return dataclasses.replace(self.detector, display=dataclasses.replace(self.display, background=tone))

    @property
    def display(self) -> Display:
        """The profile's screen."""
        assert self.detector.display is not None  # set by every loaded profile
        return self.detector.display

    @property
    def native_px_per_cm(self) -> float:
        """The finest sampling the detector resolves, pixels per cm at the belt."""
        return 10.0 / self.pixel_pitch_mm

    def jittered(self, rng, amount: float) -> ScannerProfile:
        """The profile with its screen perturbed at random (domain randomisation), ``amount`` in [0, 1].

        Real scanners of one make still differ in palette, display curve and
        settings: hues turn by up to 12 degrees times ``amount``, palette stops move
        by up to 1.5 Z, the display and saturation curves stretch by up to 40 %,
        the belt tone, material drift and edge enhancement vary. The beam and
        detector stay, so raw pairs are unchanged.
        """
        if not 0.0 <= amount <= 1.0:
            raise ValueError(f"jitter amount must be in [0, 1], got {amount}")
        if amount == 0.0:
            return self
        d = self.display
        u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
        spread = lambda r: float(np.exp(rng.uniform(-np.log(1 + r * amount), np.log(1 + r * amount))))  # noqa: E731
        turn = u(-12, 12) * amount
        z_shift = u(-1.5, 1.5) * amount
        palette = tuple((z + z_shift, _turn_hue(rgb, turn)) for z, rgb in d.palette)
        grey = int(np.clip(np.mean(d.background) + u(-20, 20) * amount, 200, 255))
        display = dataclasses.replace(
            d, palette=palette, background=(grey, grey, max(grey - int(u(0, 4)), 0)),
            value_knee=d.value_knee * spread(0.4), value_gamma=d.value_gamma * spread(0.3),
            saturation_scale=d.saturation_scale * spread(0.4), z_drift=max(0.0, d.z_drift + u(-0.5, 0.5) * amount),
            sharpen=max(0.0, d.sharpen + u(-0.8, 0.8) * amount),
        )
        return dataclasses.replace(self, detector=dataclasses.replace(self.detector, display=display), backgrounds=())

    def to_dict(self) -> dict:
        """The profile as JSON-ready data, the form `load_profile` reads."""
        d, s, disp = self.detector, self.detector.spectrum, self.display
        return {
            "name": self.name,
            "description": self.description,
            "held_out": self.held_out,
            "spectrum": {"kvp": s.kvp, "al_filter_cm": s.al_filter_cm, "front_cu_eq_cm": s.front_cu_eq_cm,
                         "inter_cu_cm": s.inter_cu_cm},
            "detector": {k: list(v) if isinstance(v, tuple) else v for k, v in
                         ((k, getattr(d, k)) for k in sorted(_DETECTOR_KEYS))},
            "pixel_pitch_mm": self.pixel_pitch_mm,
            "backgrounds": [[list(tone), w] for tone, w in self.backgrounds],
            "jpeg_quality": None if self.jpeg_quality is None else list(self.jpeg_quality),
            "display": {**{k: getattr(disp, k) for k in disp.__dataclass_fields__
                           if k not in ("background", "palette", "brightness", "thin_tint")},
                        "thin_tint": None if disp.thin_tint is None else list(disp.thin_tint),
                        "background": list(disp.background),
                        "palette": [[z, list(rgb)] for z, rgb in disp.palette],
                        "brightness": [list(b) for b in disp.brightness]},
        }


def _turn_hue(rgb: tuple[int, int, int], degrees: float) -> tuple[int, int, int]:
    """An RGB colour with its hue turned by ``degrees`` (saturation and value kept)."""
    import colorsys

    h, s, v = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
    r, g, b = colorsys.hsv_to_rgb((h + degrees / 360.0) % 1.0, s, v)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _profile_from_dict(data: dict, source: str) -> ScannerProfile:
    try:
        display = display_from_dict(data["display"])
        det = dict(data.get("detector", {}))
        unknown = set(det) - _DETECTOR_KEYS
        if unknown:
            raise ValueError(f"unknown detector keys {sorted(unknown)}; known: {sorted(_DETECTOR_KEYS)}")
        if "quanta" in det:
            det["quanta"] = tuple(float(q) for q in det["quanta"])
        detector = ScannerReadout(**det, spectrum=Spectrum(**data.get("spectrum", {})), display=display)
        pitch = float(data["pixel_pitch_mm"])
        if pitch <= 0:
            raise ValueError("pixel_pitch_mm must be > 0")
        backgrounds = tuple((tuple(int(v) for v in tone), float(w)) for tone, w in data.get("backgrounds", ()))
        if any(len(t) != 3 or not all(0 <= v <= 255 for v in t) or w <= 0 for t, w in backgrounds):
            raise ValueError("backgrounds are [[R, G, B], weight > 0] pairs")
        jpeg = data.get("jpeg_quality")
        if jpeg is not None:
            jpeg = (int(jpeg[0]), int(jpeg[1]))
            if not 1 <= jpeg[0] <= jpeg[1] <= 100:
                raise ValueError(f"jpeg_quality is [low, high] within 1-100, got {list(jpeg)}")
        return ScannerProfile(name=str(data["name"]), description=str(data.get("description", "")),
                              detector=detector, pixel_pitch_mm=pitch, held_out=bool(data.get("held_out", False)),
                              backgrounds=backgrounds, jpeg_quality=jpeg)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"scanner profile {source}: {exc}") from None


def profile_names() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


@cache
def load_profile(name_or_path: str | Path) -> ScannerProfile:
    """A shipped profile by name, or a profile JSON file by path."""
    path = scanner_file(name_or_path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"scanner profile {path}: not valid JSON ({exc})") from None
    return _profile_from_dict(data, str(path))


def default_profile() -> ScannerProfile:
    """The profile frames are rendered with unless told otherwise."""
    return load_profile(DEFAULT_PROFILE)


def training_profiles() -> list[ScannerProfile]:
    """Every shipped profile that is not held out."""
    return [p for p in map(load_profile, profile_names()) if not p.held_out]


def held_out_profiles() -> list[ScannerProfile]:
    """The shipped profiles kept out of training by default."""
    return [p for p in map(load_profile, profile_names()) if p.held_out]
