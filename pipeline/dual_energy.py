"""The dual-energy 3-channel transform of DESIGN.md section 4.

A dual-energy scanner gives two uint16 images, high and low energy. Networks
take three 8-bit channels, built as in the CLCXray paper (eq. 1):

    ch1 = high / 256
    ch2 = low / 256
    ch3 = 510 * sigmoid(R) - 255,  R = high / low

R grows with the effective atomic number of what the ray crossed (low-energy
photons are absorbed more by high-Z material), so ch3 carries the material
information that the pseudo-colour rendering encodes as hue.
"""

from __future__ import annotations

import numpy as np

__all__ = ["to_three_channel", "ratio_channel"]

# R = high/low lies in [0, 65535]; sigmoid saturates long before, so a LUT over a
# clipped, finely quantised R is exact to within one grey level and avoids a
# float exp per pixel.
_R_MAX = 16.0
_R_STEPS = 16384
_R_LUT = np.clip(
    np.rint(510.0 / (1.0 + np.exp(-np.linspace(0.0, _R_MAX, _R_STEPS + 1))) - 255.0), 0, 255
).astype(np.uint8)


def ratio_channel(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """ch3 = 510*sigmoid(high/low) - 255 as uint8, shape (H, W)."""
    r = high.astype(np.float32) / np.maximum(low.astype(np.float32), 1.0)
    idx = np.minimum(r, _R_MAX) * (_R_STEPS / _R_MAX)
    return _R_LUT[(idx + 0.5).astype(np.int32)]


def to_three_channel(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Stack a uint16 (H, W) high/low pair into the uint8 (H, W, 3) network input."""
    if high.shape != low.shape or high.ndim != 2:
        raise ValueError(f"high and low must be equal 2-D arrays, got {high.shape} and {low.shape}")
    if high.dtype != np.uint16 or low.dtype != np.uint16:
        raise ValueError(f"high and low must be uint16, got {high.dtype} and {low.dtype}")
    out = np.empty((*high.shape, 3), dtype=np.uint8)
    out[..., 0] = high >> 8
    out[..., 1] = low >> 8
    out[..., 2] = ratio_channel(high, low)
    return out
