"""Pseudo-colour rendering of a dual-energy scan, the way operators see it.

A scanner estimates the effective atomic number of each pixel from how much
more the low-energy channel is absorbed than the high-energy one. That ratio
R = ln(T_low) / ln(T_high) also drifts with thickness (beam hardening), so,
like a real scanner, we calibrate against reference materials: for each high-
channel absorbance a_H we know R for plastic, water, aluminium and steel of
the thickness that gives that a_H, and interpolate Z_eff between them. Hue
follows the operator convention (orange organic Z < 10, green mixed 10-18,
blue metal > 18); brightness follows absorbance; nothing in the beam is white.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from training.synth.materials import transmission, zeff

__all__ = ["pseudo_colour", "pseudo_colour_absorbance", "zeff_map"]

_REFERENCES = ("plastic", "water", "aluminium", "steel", "copper")
_A_MAX = 7.0  # high-channel absorbance beyond which a pixel is black anyway
_A_STEPS = 192
_R_MIN, _R_MAX, _R_STEPS = 1.0, 8.0, 160

# Operator palette: (Z_eff, RGB at full saturation)
_HUES = ((6.0, (250, 150, 20)), (9.0, (240, 170, 40)), (12.0, (100, 190, 50)), (16.0, (60, 170, 110)), (20.0, (40, 110, 230)), (30.0, (30, 70, 210)))


def _a_grid() -> np.ndarray:
    return (np.linspace(0.0, 1.0, _A_STEPS) ** 2) * _A_MAX


@cache
def _calibration() -> tuple[np.ndarray, np.ndarray]:
    """Z_eff table over (a_H, R) from the reference materials' exact curves."""
    a_grid = _a_grid()
    thick = np.geomspace(1e-3, 60.0, 160)
    z_refs, r_refs = [], []
    for name in _REFERENCES:
        tl, th = np.array([transmission(name, t) for t in thick]).T
        a_h, a_l = -np.log(np.maximum(th, 1e-12)), -np.log(np.maximum(tl, 1e-12))
        keep = a_h < 12
        r = np.interp(a_grid, a_h[keep], (a_l / np.maximum(a_h, 1e-9))[keep])
        z_refs.append(zeff(name))
        r_refs.append(r)
    r_refs = np.maximum.accumulate(np.array(r_refs), axis=0)  # keep R monotone in Z at each a_H
    r_axis = np.linspace(_R_MIN, _R_MAX, _R_STEPS)
    table = np.stack([np.interp(r_axis, r_refs[:, i] + 1e-6 * np.arange(len(_REFERENCES)), z_refs) for i in range(_A_STEPS)])
    return table.astype(np.float32), r_axis  # (A_STEPS, R_STEPS)


@cache
def _colour_lut() -> np.ndarray:
    """RGB uint8 table over (a_H index, R index)."""
    z, _ = _calibration()
    zs = np.array([h[0] for h in _HUES])
    rgb = np.stack([np.interp(z, zs, [h[1][c] for h in _HUES]) for c in range(3)], axis=-1)
    a = _a_grid()[:, None, None]
    # photon noise on empty belt (|a| ~ 0.02) must stay white, as on a scanner screen
    saturation = 1.0 - np.exp(-np.maximum(a - 0.03, 0.0) / 0.12)
    value = np.exp(-0.6 * a)
    colour = value * ((1.0 - saturation) * 255.0 + saturation * rgb)
    return np.clip(np.rint(colour), 0, 255).astype(np.uint8)


@cache
def _colour_lut_rgba() -> np.ndarray:
    lut = _colour_lut().reshape(-1, 3)
    rgba = np.concatenate([lut, np.full((len(lut), 1), 255, np.uint8)], axis=1)
    return np.ascontiguousarray(rgba).view(np.uint32).ravel()


def _indices(a_h: np.ndarray, a_l: np.ndarray) -> np.ndarray:
    # the material estimate is spatially smoothed, as scanners do: R is noisy where thin
    sa_h = cv2.blur(a_h, (3, 3))
    np.maximum(sa_h, np.float32(1e-3), out=sa_h)
    r = cv2.divide(cv2.blur(a_l, (3, 3)), sa_h)
    r -= np.float32(_R_MIN)
    r *= np.float32((_R_STEPS - 1) / (_R_MAX - _R_MIN))
    r += np.float32(0.5)
    np.clip(r, 0, _R_STEPS - 1, out=r)
    ia = cv2.sqrt(np.maximum(a_h, np.float32(0.0)) * np.float32((_A_STEPS - 1) ** 2 / _A_MAX))
    ia += np.float32(0.5)
    np.minimum(ia, np.float32(_A_STEPS - 1), out=ia)
    idx = ia.astype(np.int32)
    idx *= _R_STEPS
    idx += r.astype(np.int32)
    return idx


def pseudo_colour_absorbance(a_high: np.ndarray, a_low: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) from absorbances -ln T (H, W) float32 of both channels."""
    rgba = np.take(_colour_lut_rgba(), _indices(a_high, a_low))  # one 4-byte gather per pixel
    return cv2.cvtColor(rgba.view(np.uint8).reshape(*rgba.shape, 4), cv2.COLOR_RGBA2RGB)


def _absorbance(t: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(t, 1e-6, 1.0)).astype(np.float32)


def pseudo_colour(t_high: np.ndarray, t_low: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) from calibrated transmissions (H, W) in (0, 1]."""
    return pseudo_colour_absorbance(_absorbance(t_high), _absorbance(t_low))


def zeff_map(t_high: np.ndarray, t_low: np.ndarray) -> np.ndarray:
    """Estimated effective atomic number per pixel, float32 (H, W)."""
    return _calibration()[0].ravel()[_indices(_absorbance(t_high), _absorbance(t_low))]
