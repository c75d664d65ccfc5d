"""The profile maths of Task-Driven Cropping (Micromachines 2022, 13(4), 565, section 4).

A mid-level feature map F (C, h, w) of the detector's backbone is squeezed to
an energy map, the energy map to a column profile (sum over rows) and a row
profile (sum over columns). The paper finds a bag's bounds on each profile by
differencing it, median filtering the differences (artifact spikes), min-max
normalising, and scanning from both ends for the first value above k.
"""

from __future__ import annotations

import numpy as np

__all__ = ["energy_map", "first_above", "level_bounds", "median_filter", "minmax", "paper_bounds", "profile_edges"]


def energy_map(features: np.ndarray) -> np.ndarray:
    """F_avg: (C, h, w) features -> (h, w) mean over channels of |F_i|, float32."""
    if features.ndim != 3:
        raise ValueError(f"expected a (C, h, w) feature map, got shape {features.shape}")
    return np.abs(np.asarray(features, np.float32)).mean(axis=0)


def median_filter(values: np.ndarray, kernel: int) -> np.ndarray:
    """1-D running median of odd width ``kernel``, ends padded by reflection.

    A running median keeps steps and monotone ramps where they are and removes
    any bump or dip narrower than ``kernel // 2 + 1`` samples: a thin scanner
    line goes, a bag's edge stays.
    """
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"kernel must be a positive odd number, got {kernel}")
    values = np.asarray(values, np.float64)
    half, n = kernel // 2, values.size
    if kernel == 1 or n == 0:
        return values.copy()
    if n > half:  # reflected ends: a one-cell bump at the rim (zero padding in the convolutions) goes like any other
        padded = np.concatenate([values[half:0:-1], values, values[-2 : -half - 2 : -1]])
    else:
        padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
    windows = np.lib.stride_tricks.as_strided(padded, (n, kernel), (padded.strides[0],) * 2, writeable=False)
    return np.sort(windows, axis=1)[:, half]


def minmax(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant array becomes all zeros."""
    values = np.asarray(values, np.float64)
    if values.size == 0:
        return values.copy()
    lo, span = values.min(), np.ptp(values)
    return (values - lo) / span if span > 0 else np.zeros_like(values)


def profile_edges(profile: np.ndarray, kernel: int = 9) -> np.ndarray:
    """|F_c(i+1) - F_c(i)|, median filtered with ``kernel``, min-max normalised: (n - 1,) in [0, 1]."""
    return minmax(median_filter(np.abs(np.diff(np.asarray(profile, np.float64))), kernel))


def first_above(values: np.ndarray, k: float) -> tuple[int, int] | None:
    """Indices of the first value above ``k`` from the start and from the end, or None when none is."""
    above = np.flatnonzero(np.asarray(values) > k)
    if above.size == 0:
        return None
    return int(above[0]), int(above[-1])


def paper_bounds(profile: np.ndarray, k: float = 0.15, kernel: int = 9) -> tuple[int, int] | None:
    """The paper's bounds on one profile (n,): cells [start, stop) of the object, or None when nothing rises above k.

    Difference i lies between cells i and i + 1, so the first one above ``k``
    opens the object at cell i + 1 and the last one closes it after cell i.
    """
    hit = first_above(profile_edges(profile, kernel), k)
    if hit is None:
        return None
    first, last = hit
    return first + 1, max(last + 1, first + 2)


def level_bounds(profile: np.ndarray, k: float = 0.15, kernel: int = 9) -> tuple[int, int] | None:
    """The same scan on the profile itself (median filtered, min-max normalised): cells [start, stop), or None."""
    hit = first_above(minmax(median_filter(profile, kernel)), k)
    return None if hit is None else (hit[0], hit[1] + 1)
