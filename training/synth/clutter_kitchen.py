"""Kitchen look-alikes: forks, spoons, corkscrews and bottle openers (no table knives: those are knives).

How look-alikes are built (long axis along x, centred on the extent, ``meta``
with the sub-type, the sampled sizes and ``length_cm``; ``subtype`` forces a
sub-type without changing the draws) and why the scenes carry them is in
``clutter_tools``, whose ``LOOKALIKES`` lists them all.
"""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import (
    chance,
    closed,
    disk,
    keyhole,
    lookalike,
    moved,
    pick,
    ribbon,
    rod,
    strip,
    stroke,
    uniform,
)
from training.synth.parts import ObjectModel, Part, ellipse, polygon, rounded_rect

__all__ = ["make_corkscrew", "make_cutlery"]


def _fork(L: float, wb: float, wn: float, W: float, n: int, tine_len: float) -> np.ndarray:
    """A fork outline from the butt (x = 0) to the tine tips (x = L)."""
    xs, xn, g = L - tine_len, 0.58 * L, 0.22
    x = np.linspace(wb / 2, xs, 16)
    half = np.interp(x, [wb / 2, 0.15 * L, xn, xs - 0.3 * tine_len, xs], [0.85 * wb, wb, wn, 0.9 * W, W]) / 2
    tw = (W - (n - 1) * g) / n
    tines = []
    for k in range(n):
        hi = W / 2 - k * (tw + g)
        lo = hi - tw
        if k:
            tines.append((xs, hi))
        tines += [(L - 0.2, hi), (L, (hi + lo) / 2), (L - 0.2, lo)]
        if k < n - 1:
            tines += [(xs, lo), (xs - 0.12, lo - g / 2)]
    # the strip runs from the head's top edge round the butt to its bottom edge; the tines close it
    return polygon(np.concatenate([strip(x, half, butt=0.85 * wb / 2), polygon(tines)[::-1]]))


def make_cutlery(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A stainless fork (15-21 cm), table spoon (16-21 cm) or teaspoon (12-15 cm): 1-2 mm steel plate."""
    sub = pick(rng, ["fork", "spoon", "teaspoon"], p=[0.4, 0.35, 0.25], forced=subtype)
    small = sub == "teaspoon"
    L = uniform(rng, 12.0, 15.0) if small else uniform(rng, 15.0, 21.0) if sub == "fork" else uniform(rng, 16.0, 21.0)
    t = uniform(rng, 0.1, 0.15) if small else uniform(rng, 0.12, 0.2)
    wb = L / 19.0 * uniform(rng, 1.4, 2.1)  # handle width near the butt
    wn = uniform(rng, 0.45, 0.7)  # at the neck
    if sub == "fork":
        n = 4 if chance(rng, 0.75) else 3
        W, tine_len = uniform(rng, 2.2, 2.7) * L / 19.0, uniform(rng, 3.3, 4.5) * L / 19.0
        parts = [Part("steel", t, outline=_fork(L, wb, wn, W, n, tine_len))]
        return lookalike("cutlery", sub, parts, dict(length_nominal_cm=L, plate_cm=t, tines=n))
    bl = L * uniform(rng, 0.3, 0.36)
    bw = bl * uniform(rng, 0.6, 0.7)
    x = np.linspace(wb / 2, L - 0.85 * bl, 12)
    half = np.interp(x, [wb / 2, 0.15 * L, x[-1]], [0.85 * wb, wb, wn]) / 2
    # the bowl is a shallow dish: the beam crosses its sloping rim obliquely, about twice the plate
    return lookalike("cutlery", sub, [Part("steel", t, outline=strip(x, half, butt=0.85 * wb / 2)),
                                      Part("steel", 2.4 * t, outline=ellipse(bl / 2, bw / 2, cx=L - bl / 2, n=28),
                                           profile="tube", wall_cm=0.41 * bw / 2)],
                     dict(length_nominal_cm=L, plate_cm=t, bowl_cm=bl))


def _worm(x0: float, length: float, *, outer: float = 1.0, wire: float = 0.28, pitch: float = 0.9) -> Part:
    """A corkscrew's helix seen from the side, along -x from x0: a sine of steel wire ending in a point."""
    x = np.linspace(0.0, length, int(8 * length / pitch) + 2)
    y = (outer - wire) / 2 * np.sin(2 * np.pi * x / pitch) * np.minimum(1.0, (length - x) / pitch + 0.2)
    return stroke("steel", np.stack([x0 - x, y], 1).astype(np.float32), wire)


def make_corkscrew(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A winged corkscrew (17-28 cm), a T-handle corkscrew (9-12 cm) or a flat bottle opener (10-18 cm); no blade."""
    sub = pick(rng, ["wing", "t_handle", "opener"], p=[0.35, 0.3, 0.35], forced=subtype)
    if sub == "opener":
        L, t = uniform(rng, 10.0, 18.0), uniform(rng, 0.2, 0.3)
        hw, sw = uniform(rng, 3.5, 4.5), uniform(rng, 1.6, 2.4)
        x = np.linspace(0.0, L - hw / 2, 10)
        outline = ribbon(np.stack([x, np.zeros_like(x)], 1), np.interp(x, [0, 0.5 * L, L - hw], [sw, sw, hw]),
                         cap_start=sw / 2, cap_end=hw / 2)
        outline = keyhole(outline, rounded_rect(0.5 * hw, 0.35 * hw, 0.12 * hw, cx=L - 0.6 * hw))  # the lifting lip
        if chance(rng, 0.5):  # a key-ring hole at the butt
            outline = keyhole(outline, disk(0.5, cx=0.2, n=10))
        return lookalike("corkscrew", sub, [Part("steel", t, outline=outline)], dict(length_nominal_cm=L, plate_cm=t))
    worm_l = uniform(rng, 5.0, 6.5)
    if sub == "t_handle":
        hl, hw = uniform(rng, 9.0, 12.0), uniform(rng, 2.0, 2.8)
        handle = pick(rng, ["wood", "plastic", "steel"], p=[0.5, 0.3, 0.2])
        y = np.linspace(-hl / 2, hl / 2, 9)
        bar = ribbon(np.stack([np.zeros_like(y), y], 1), hw * (1 - 0.25 * (2 * y / hl) ** 2), cap_start=0.3 * hw,
                     cap_end=0.3 * hw)
        shank = uniform(rng, 1.0, 2.5)
        parts = [Part(handle, 0.8 * hw if handle != "steel" else 0.6, outline=bar, profile="round"),
                 rod("steel", -hw / 2 - shank, 0.0, 0.5), _worm(-hw / 2 - shank, worm_l)]
        return lookalike("corkscrew", sub, parts, dict(handle=handle, worm_cm=worm_l))
    bl, bd = uniform(rng, 10.0, 13.0), uniform(rng, 2.4, 3.0)
    raised = chance(rng, 0.5)  # wings up: the worm wound all the way out of the bell
    out = worm_l if raised else uniform(rng, 0.5, 2.0)
    # the bell: die-cast zinc, hollow, flaring to where it sits on the bottle's neck
    parts = [Part("steel", bd, outline=polygon([(0.0, -bd / 2), (bl, -0.35 * bd), (bl, 0.35 * bd), (0.0, bd / 2)]),
                  profile="tube", wall_cm=0.15),
             _worm(0.0, out),
             rod("steel", bl - 2.0 - (0.0 if raised else worm_l - out), bl + 2.5, 0.8),  # the toothed rack
             stroke("steel", closed(disk(2.6, cx=bl + 3.6, n=16)), 0.6, 0.5)]  # the handle ring
    wl, ww = uniform(rng, 9.0, 11.0), uniform(rng, 1.2, 1.6)
    for s in (-1.0, 1.0):
        a = (uniform(rng, 20.0, 60.0) if raised else 180.0 - uniform(rng, 8.0, 18.0)) * s
        x = np.linspace(0.0, wl, 8)
        wing = ribbon(np.stack([x, np.zeros_like(x)], 1), np.interp(x, [0, 0.7 * wl, wl], [ww, ww, 1.5 * ww]),
                      cap_start=0.5 * ww, cap_end=0.75 * ww)
        parts += moved([Part("steel", 0.5, outline=wing), Part("steel", 0.7, outline=disk(1.4, n=12))],
                       angle_deg=a, dx=bl - 1.0, dy=s * 0.45 * bd)
    return lookalike("corkscrew", sub, parts, dict(bell_cm=bl, worm_cm=worm_l, wings_up=raised))
