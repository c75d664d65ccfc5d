"""Knives of several kinds: kitchen, dagger, folding, utility and multi-tool, blades thinning from spine to edge. (see `training.synth.threats`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.synth.clutter_shapes import chance, disk, moved, pick, ribbon, uniform
from training.synth.parts import ObjectModel, Part, ellipse, polygon, rect, rounded_rect, transform
from training.synth.threat_parts import finish_threat, plate

__all__ = ["KNIFE_MIX", "make_knife"]

# How often each kind is drawn. SIXray's real knives are mostly large fixed blades (their longest side about a
# third of the scan's diagonal, 1.75x a handgun's; the simulator's about a handgun's). Drawing fixed blades
# more often (kitchen 0.45, dagger 0.25, folding 0.15, utility 0.1, multi-tool 0.05) was measured (README,
# `lanewatch train`): knife AP stayed about 0.1 on the simulator and 0.006 on real scans, so size is not what
# keeps knives from being learned, and the mix stays as the shipped weights were trained on.
KNIFE_MIX = {"kitchen": 0.3, "dagger": 0.15, "folding": 0.25, "utility": 0.15, "multitool": 0.15}

# Blade along +x from the heel (x = 0) to the tip, spine up and edge down; the handle runs along -x.


def _blade(length: float, top, bottom, t: float, *, bevel: float, edge_t: float, double: bool = False,
           dx: float = 0.0, n: int = 24) -> list[Part]:
    """A blade between spine and edge curves over x in [0, length]: a plate plus thinner bevels along the edges."""
    x = np.linspace(0.0, length, n)
    yt, yb = top(x), bottom(x)
    b = np.minimum(bevel, (0.3 if double else 0.45) * (yt - yb))
    lo, hi = yb + b, (yt - b if double else yt)

    def band(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
        return polygon(np.concatenate([np.stack([x + dx, upper], 1), np.stack([x + dx, lower], 1)[::-1]]))

    parts = [plate("steel", t, band(hi, lo)), plate("steel", edge_t, band(lo, yb))]
    return parts + [plate("steel", edge_t, band(yt, hi))] if double else parts


def _curve_down(x: np.ndarray, start: float, end: float, drop: float, power: float = 2.0) -> np.ndarray:
    """0 before start, then falling by drop at end along s**power: a spine or an edge belly."""
    return -drop * np.clip((x - start) / max(end - start, 1e-6), 0.0, 1.0) ** power


def _handle(rng: np.random.Generator, length: float, width: float, *, y: float, blade_t: float,
            materials: Sequence[str] = ("wood", "plastic", "steel", "rubber")) -> tuple[list[Part], str]:
    """A fixed-blade handle along -x from x = 0: scales or a moulded grip over the tang, or a hollow steel one."""
    mat = pick(rng, materials)
    x = np.linspace(0.0, -length, 14)
    s = x / -length
    centre = np.stack([x, y - uniform(rng, 0.0, 0.4) * s**2], 1)  # handles drop a little towards the butt
    w = width * (1 + uniform(rng, 0.0, 0.12) * np.sin(np.pi * s) + uniform(rng, 0.0, 0.15) * s**4)
    thick = uniform(rng, 1.4, 2.2)
    outline = ribbon(centre, w, cap_end=width * 0.3)
    if mat == "steel":  # a pressed steel shell, hollow
        return [Part("steel", thick * 0.8, outline=outline, profile="tube", wall_cm=0.08)], mat
    parts = [plate(mat, thick, outline, "round")]
    full_tang = mat != "rubber" and chance(rng, 0.7)
    k = 13 if full_tang else 8
    parts.append(plate("steel", blade_t if full_tang else 0.5, ribbon(centre[:k], w[:k] * (0.6 if full_tang else 0.3))))
    if full_tang:
        rivet = pick(rng, ["brass", "steel"])
        for f in np.linspace(0.25, 0.8, int(rng.integers(2, 4))):
            parts.append(plate(rivet, thick * 0.8, disk(0.45, cx=-f * length, cy=float(np.interp(f, s, centre[:, 1]))), "round"))
    return parts, mat


def _kitchen(rng: np.random.Generator) -> tuple[list[Part], dict]:
    style = pick(rng, ["chef", "santoku", "slicer", "paring"])
    # length range, height/length, where the spine starts to fall, drop of the tip (in heights), where the belly starts
    lo, hi, hr, sp, dr, bs = {"chef": (16, 30, 0.21, 0.6, 0.45, 0.45), "santoku": (13, 18, 0.27, 0.7, 0.9, 0.8),
                              "slicer": (18, 25, 0.14, 0.65, 0.5, 0.6), "paring": (7, 11, 0.22, 0.5, 0.4, 0.5)}[style]
    L = uniform(rng, lo, hi)
    h = L * hr * uniform(rng, 0.85, 1.15)
    drop = dr * h
    t = uniform(rng, 0.15, 0.2) if style == "paring" else uniform(rng, 0.18, 0.3)
    parts = _blade(L, lambda x: _curve_down(x, sp * L, L, drop), lambda x: -h - _curve_down(x, bs * L, L, h - drop, 1.8),
                   t, bevel=min(0.3 * h, uniform(rng, 0.4, 0.9)), edge_t=uniform(rng, 0.05, 0.09))
    hw = uniform(rng, 1.8, 2.5) if style != "paring" else uniform(rng, 1.5, 1.9)
    handle, mat = _handle(rng, min(0.45 * L + uniform(rng, 4.0, 6.0), 14.0), hw, y=0.15 - hw / 2, blade_t=t)
    if style in ("chef", "santoku") and mat != "steel" and chance(rng, 0.5):
        handle.append(plate("steel", 1.3, rounded_rect(1.2, hw + 0.1, 0.4, cx=-0.4, cy=0.15 - hw / 2), "round"))
    return parts + handle, dict(style=style, blade_cm=L, blade_height_cm=h, handle=mat)


def _dagger(rng: np.random.Generator) -> tuple[list[Part], dict]:
    L, h = uniform(rng, 12.0, 28.0), uniform(rng, 2.0, 3.8)
    straight, q = uniform(rng, 0.0, 0.6), uniform(rng, 0.7, 1.1)

    def top(x: np.ndarray) -> np.ndarray:
        return h / 2 * np.minimum(1.0, (1 - x / L) / (1 - straight)) ** q

    t = uniform(rng, 0.25, 0.4)
    parts = _blade(L, top, lambda x: -top(x), t, bevel=uniform(rng, 0.4, 0.7), edge_t=uniform(rng, 0.06, 0.1), double=True)
    metal = pick(rng, ["steel", "brass"])
    gw, gh = uniform(rng, 0.6, 1.2), h + uniform(rng, 1.5, 5.0)
    hl, hw = uniform(rng, 9.0, 12.0), uniform(rng, 2.0, 2.8)
    handle, mat = _handle(rng, hl, hw, y=0.0, blade_t=t, materials=("wood", "leather", "plastic", "rubber"))
    parts += [plate(metal, uniform(rng, 0.8, 1.4), rounded_rect(gw, gh, 0.25, cx=-gw / 2))]
    parts += moved(handle, dx=-gw)
    parts.append(plate(metal, 2.0, ellipse(0.9, hw * 0.6, cx=-gw - hl - 0.5), "round"))
    return parts, dict(blade_cm=L, blade_height_cm=h, handle=mat, guard=metal)


def _folding(rng: np.random.Generator, opened: bool | None) -> tuple[list[Part], dict]:
    L, h = uniform(rng, 5.5, 10.0), uniform(rng, 1.8, 2.8)
    t = uniform(rng, 0.25, 0.35)
    is_open = chance(rng, 0.5) if opened is None else opened
    blade = _blade(L, lambda x: h / 2 + _curve_down(x, 0.55 * L, L, 0.35 * h),
                   lambda x: -h / 2 - _curve_down(x, 0.5 * L, L, 0.65 * h, 1.8),
                   t, bevel=0.35 * h, edge_t=0.08, dx=0.8)
    blade.append(plate("steel", t, rounded_rect(1.9, h, 0.45 * h, cx=-0.1)))  # tang round the pivot
    hl, hh = L + uniform(rng, 1.8, 2.8), h + uniform(rng, 0.4, 0.8)
    x = np.linspace(1.2, 1.2 - hl, 12)
    centre = np.stack([x, -uniform(rng, 0.0, 0.5) * ((1.2 - x) / hl) ** 2], 1)
    w = hh * (1 - 0.1 * np.sin(np.pi * (1.2 - x) / hl))
    scale = pick(rng, ["plastic", "wood", "aluminium"])
    scales = ribbon(centre, w, cap_start=0.6, cap_end=0.6)
    parts = [plate(scale, 0.5, scales) if scale == "aluminium" else plate(scale, uniform(rng, 0.9, 1.3), scales, "round"),
             plate("steel", uniform(rng, 0.15, 0.25), ribbon(centre, w * 0.88, cap_start=0.4, cap_end=0.4)),  # liners
             plate("steel", 1.2, disk(uniform(rng, 0.8, 1.1)), "round")]  # pivot screw
    if chance(rng, 0.6):  # pocket clip at the butt
        clip = uniform(rng, 4.0, 6.0)
        parts.append(plate("steel", 0.12, rect(clip, 0.9, cx=2.0 - hl + clip / 2, cy=hh / 2 - 0.4)))
    parts += blade if is_open else moved(blade, angle_deg=180.0)
    return parts, dict(open=is_open, blade_cm=L, handle_cm=hl, handle=scale)


def _utility(rng: np.random.Generator) -> tuple[list[Part], dict]:
    style = pick(rng, ["box_cutter", "snap_off"])
    if style == "box_cutter":  # body along -x, the trapezoid blade out of the nose at the bottom
        bl, bh = uniform(rng, 14.0, 17.0), uniform(rng, 2.6, 3.3)
        body = polygon([(-bl, -0.3 * bh), (-bl + 0.6, -bh / 2), (-1.5, -bh / 2), (0, -0.35 * bh), (0, -0.05 * bh),
                        (-3.0, bh / 2), (-bl + 1.0, bh / 2), (-bl, 0.2 * bh)])
        metal_body = chance(rng, 0.6)
        e, yb = uniform(rng, 0.0, 2.2), -0.33 * bh
        blade = polygon([(e - 6.1, yb), (e, yb), (e - 1.1, yb + 1.9), (e - 5.0, yb + 1.9)])
        parts = [plate("aluminium", 0.5, body) if metal_body else plate("plastic", uniform(rng, 1.4, 1.8), body, "round"),
                 plate("steel", 0.06, blade), plate("steel", 1.5, disk(0.7, cx=-0.55 * bl, cy=0.0), "round")]
        if metal_body and chance(rng, 0.5):  # spare blades stored in the handle
            parts.append(plate("steel", 0.06 * int(rng.integers(2, 6)), transform(blade, dx=-bl + 6.5 - e)))
        return parts, dict(style=style, body="aluminium" if metal_body else "plastic", blade_cm=6.1, exposed_cm=e)
    bl, bw = uniform(rng, 13.0, 17.0), 0.9 if chance(rng, 0.5) else 1.8  # 9 or 18 mm blades
    e, blade_len = uniform(rng, 0.5, 4.0), uniform(rng, 8.0, 10.0)
    y0 = -bw / 2
    blade = polygon([(e - blade_len, y0), (e, y0), (e - bw * 0.6, y0 + bw), (e - blade_len, y0 + bw)])
    body = ribbon(polygon([(0.0, 0.0), (-bl, 0.0)]), bw + uniform(rng, 0.9, 1.4), cap_start=0.5, cap_end=0.8)
    parts = [plate("plastic", uniform(rng, 1.2, 1.6), body, "round"),
             plate("steel", 0.1, rect(bl * 0.85, bw + 0.2, cx=-bl * 0.45)),  # the metal blade channel
             plate("steel", 0.05, blade)]
    return parts, dict(style=style, body="plastic", blade_cm=blade_len, exposed_cm=e)


def _sak_tool(name: str, body_len: float, body_h: float) -> np.ndarray:
    """Outline of one Swiss-army-knife tool, pivot at the origin, opened along +x."""
    L, h = {"blade": (0.8, 0.55), "small_blade": (0.55, 0.42), "saw": (0.75, 0.45),
            "opener": (0.5, 0.45), "awl": (0.45, 0.2)}[name]
    L, h = L * body_len, h * body_h
    if name in ("blade", "small_blade"):
        x = np.linspace(0.6, L, 12)
        top = h / 2 + _curve_down(x, 0.6 * L, L, 0.3 * h)
        bottom = -h / 2 - _curve_down(x, 0.5 * L, L, 0.7 * h, 1.8)
        return polygon(np.concatenate([[(-0.35, -h / 2), (-0.35, h / 2)], np.stack([x, top], 1), np.stack([x, bottom], 1)[::-1]]))
    if name == "saw":
        x = np.arange(0.8, L - 0.6, 0.3)
        teeth = np.stack([x, -h / 2 - 0.12 * (np.arange(len(x)) % 2)], 1)
        return polygon(np.concatenate([[(-0.35, -h / 2), (-0.35, h / 2), (L - 0.4, h / 2), (L, 0.0)], teeth[::-1]]))
    if name == "opener":  # screwdriver tip with the bottle-opener hook
        return polygon([(-0.35, -h / 2), (-0.35, h / 2), (L - 0.3, h / 2), (L, h * 0.2), (L, -h * 0.2),
                        (L - 0.6, -h / 2), (L - 1.0, -h * 0.1), (L - 1.6, -h / 2)])
    return polygon([(-0.35, -h / 2), (-0.35, h / 2), (1.0, h / 2), (L, 0.0), (1.0, -h / 2)])  # awl


def _multitool(rng: np.random.Generator) -> tuple[list[Part], dict]:
    bl, bh = uniform(rng, 8.4, 11.1), uniform(rng, 2.2, 2.7)
    layers = int(rng.integers(2, 6))
    liner = pick(rng, ["aluminium", "brass"])
    ends = (bl / 2 - 0.8, -(bl / 2 - 0.8))
    parts = [plate("plastic", 0.6, rounded_rect(bl, bh, 0.45 * bh), "round"),
             plate(liner, 0.1 * (layers + 1), rounded_rect(bl - 0.3, bh - 0.4, 0.4 * bh)),
             plate("steel", 0.18 * layers, rounded_rect(bl * 0.92, bh * 0.7, 0.3 * bh))]  # the folded tools
    parts += [plate("steel", 0.5 + 0.3 * layers, disk(0.35, cx=x), "round") for x in ends]
    names = ["blade", "small_blade", "saw", "opener", "awl"]
    n_open = int(rng.integers(1, 4))
    opened = [names[i] for i in rng.choice(len(names), n_open, replace=False)]
    for i, name in enumerate(opened):
        angle = 180.0 if chance(rng, 0.5) else uniform(rng, 30.0, 170.0)
        right = i % 2 == 0  # alternate ends so two opened tools do not lie on each other
        tool = plate("steel", 0.25, _sak_tool(name, bl, bh))
        parts += moved([tool], angle_deg=180.0 - angle if right else angle, dx=ends[0] if right else ends[1])
    return parts, dict(body_cm=bl, layers=layers, opened_tools=opened)


def make_knife(rng: np.random.Generator, *, subtype: str | None = None, opened: bool | None = None) -> ObjectModel:
    """A knife: kitchen, dagger, folding (open or closed), utility cutter or Swiss-army multi-tool (7-40 cm)."""
    sub = pick(rng, list(KNIFE_MIX), p=list(KNIFE_MIX.values()), forced=subtype)
    build = {"kitchen": _kitchen, "dagger": _dagger, "utility": _utility, "multitool": _multitool,
             "folding": lambda r: _folding(r, opened)}[sub]
    parts, meta = build(rng)
    return finish_threat("knife", sub, parts, meta)
