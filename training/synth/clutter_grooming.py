"""Grooming-kit look-alikes: tweezers, nail clippers and files, hair clips, safety pins, hair dryers.

How look-alikes are built (long axis along x, centred on the extent, ``meta``
with the sub-type, the sampled sizes and ``length_cm``; ``subtype`` forces a
sub-type without changing the draws) and why the scenes carry them is in
``clutter_tools``, whose ``LOOKALIKES`` lists them all.
"""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import (
    blob,
    chance,
    closed,
    disk,
    lookalike,
    moved,
    pick,
    polyline,
    ribbon,
    rod,
    smooth_path,
    strip,
    stroke,
    uniform,
    wire,
)
from training.synth.outlines import bar_row
from training.synth.parts import ObjectModel, Part, arc, polygon, rect, rounded_rect, transform

__all__ = [
    "make_hair_clips",
    "make_hair_dryer",
    "make_nail_clippers",
    "make_nail_file",
    "make_safety_pins",
    "make_tweezers",
]


def make_tweezers(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """Steel tweezers (8.5-12 cm) with slant or pointed tips, lying flat: the two legs one over the other."""
    sub = pick(rng, ["slant", "pointed"], p=[0.6, 0.4], forced=subtype)
    L, wb, t = uniform(rng, 8.5, 12.0), uniform(rng, 0.7, 1.0), uniform(rng, 0.05, 0.08)
    tip, cut = (uniform(rng, 0.3, 0.45), 0.35) if sub == "slant" else (0.08, 0.0)
    # on a belt they fall flat; the legs' spread is along the beam and does not show
    legs = polygon([(0.0, -wb / 2), (0.6 * L, -0.45 * wb), (L - cut, -tip / 2), (L, tip / 2), (0.6 * L, 0.45 * wb),
                    (0.0, wb / 2)])
    parts = [Part("steel", 2 * t, outline=legs), Part("steel", t, outline=rect(1.2, wb, cx=0.6))]  # the welded back
    return lookalike("tweezers", sub, parts, dict(length_nominal_cm=L, sheet_cm=t))


def make_nail_clippers(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """Lever nail clippers, fingernail (5.5-6.5 cm) or toenail (7.5-9 cm); lever stowed or swung out (up to 16 cm)."""
    sub = pick(rng, ["fingernail", "toenail"], p=[0.75, 0.25], forced=subtype)
    small = sub == "fingernail"
    L = uniform(rng, 5.5, 6.5) if small else uniform(rng, 7.5, 9.0)
    w = uniform(rng, 1.2, 1.5) if small else uniform(rng, 1.5, 1.9)
    pin = (L - 1.3, 0.0)
    jaw = arc(w * 0.7, -40.0, 40.0, cx=L - 0.15 - w * 0.7, n=6)
    parts = [Part("steel", uniform(rng, 0.22, 0.3), outline=rounded_rect(L, w, 0.45 * w, cx=L / 2)),  # two leaves
             stroke("steel", jaw, 0.3, 0.5, profile="flat"),  # jaws bent towards each other, met edge-on
             Part("steel", 1.0, outline=disk(0.3, cx=pin[0], n=10), profile="round")]  # through leaves and lever
    swung = chance(rng, 0.35)
    angle = uniform(rng, 60.0, 180.0) * (1 if chance(rng, 0.5) else -1) if swung else 0.0
    lever = Part("steel", 0.13, outline=rounded_rect(0.85 * L, 0.85 * w, 0.35 * w, cx=-0.85 * L / 2 + 0.5))
    parts += moved([lever], angle_deg=angle, dx=pin[0])
    ring = chance(rng, 0.3)
    if ring:  # a split ring through the hole at the back
        parts.append(stroke("steel", closed(disk(1.6, cx=-0.5, n=16)), 0.12, 0.2))
    return lookalike("nail_clippers", sub, parts, dict(length_nominal_cm=L, lever_deg=angle, ring=ring))


def make_nail_file(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A steel nail file with a pointed cleaner tip, plain (12-18 cm) or in a plastic handle (13-18 cm)."""
    sub = pick(rng, ["plain", "handled"], p=[0.5, 0.5], forced=subtype)
    L, w, t = uniform(rng, 12.0, 18.0), uniform(rng, 0.9, 1.4), uniform(rng, 0.08, 0.12)
    x0 = 0.0 if sub == "plain" else 0.35 * L
    x = np.array([x0 + w / 2, L - 1.6, L])
    blade = strip(x, np.array([w / 2, w / 2, 0.04]), butt=w / 2 if sub == "plain" else 0.0)
    parts = [Part("steel", t, outline=blade, texture=0.3, texture_cm=0.3, texture_seed=int(rng.integers(1 << 30)))]
    if sub == "handled":
        hw = uniform(rng, 1.3, 1.8)
        grip = rounded_rect(x0 + 1.5, hw, 0.45 * hw, cx=(x0 + 1.5) / 2)
        parts.append(Part("plastic", uniform(rng, 0.8, 1.2), outline=grip, profile="round"))
    return lookalike("nail_file", sub, parts, dict(length_nominal_cm=L, plate_cm=t))


def _bobby_pin(L: float) -> np.ndarray:
    """A hair grip: a straight leg and a crimped one joined by a tight bend at x = 0."""
    x = np.linspace(0.2, L, 14)
    wavy = np.stack([x, -0.1 - 0.07 * (1 - np.cos(2 * np.pi * 3.5 * x / L))], 1)
    return polygon(np.concatenate([[(L - 0.2, 0.1)], arc(0.1, 90.0, 270.0, cx=0.2, n=5), wavy]))


def make_hair_clips(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """2-8 bobby pins or 1-4 snap clips (4.5-6.5 cm, up to 16 cm loose) or a claw clip with a steel spring (7-11 cm)."""
    sub = pick(rng, ["bobby_pins", "snap_clips", "claw_clip"], p=[0.5, 0.3, 0.2], forced=subtype)
    parts: list[Part] = []
    if sub == "claw_clip":
        L, h = uniform(rng, 7.0, 11.0), uniform(rng, 3.5, 5.0)
        parts = [Part("plastic", 2.0, outline=blob(rng, L, h, wobble=0.04, squareness=0.4), profile="round"),
                 Part("plastic", 0.8, outline=bar_row(int(L / 1.1), 1.05, 0.5, 1.6, cy=-h / 2 - 0.5), profile="round"),
                 # the coil spring and the hinge pin
                 stroke("steel", polyline((-1.2, 0.2 * h), (1.2, 0.2 * h)), 0.8, 0.8, profile="tube", wall=0.06),
                 rod("steel", -0.42 * L, 0.42 * L, 0.18, y=0.2 * h)]
        return lookalike("hair_clips", sub, parts, dict(clip_cm=L))
    n = int(rng.integers(2, 9)) if sub == "bobby_pins" else int(rng.integers(1, 5))
    bunched = chance(rng, 0.4)
    for i in range(n):
        L = uniform(rng, 4.5, 6.5) if sub == "bobby_pins" else uniform(rng, 4.5, 6.0)
        if sub == "bobby_pins":
            part = stroke("steel", _bobby_pin(L), 0.15, 0.06, profile="flat")  # flattened wire
        else:  # a pressed teardrop frame of two sprung sheets
            drop = strip(np.array([0.6, 0.7 * L, L]), np.array([0.6, 0.45, 0.2]), butt=0.6)
            part = stroke("steel", closed(drop), 0.3, 0.1, profile="flat")
        if bunched:
            parts += moved([part], angle_deg=uniform(rng, -6, 6), dy=0.35 * i)
        else:
            parts += moved([part], angle_deg=uniform(rng, 0, 360), dx=uniform(rng, -4, 4), dy=uniform(rng, -3, 3))
    return lookalike("hair_clips", sub, parts, dict(count=n, bunched=bunched))


def make_safety_pins(rng: np.random.Generator) -> ObjectModel:
    """1-6 steel or brass safety pins (2.2-5.5 cm; up to 15 cm loose), closed or open, loose or in a row."""
    n = int(rng.integers(1, 7))
    metal = pick(rng, ["steel", "brass"], p=[0.75, 0.25])
    in_row = chance(rng, 0.4)
    parts: list[Part] = []
    size = uniform(rng, 2.2, 5.5)
    for i in range(n):
        L = size * uniform(rng, 0.9, 1.1) if in_row else uniform(rng, 2.2, 5.5)
        d, h = 0.06 + 0.012 * L, 0.18 * L + 0.1
        r = 0.55 * h
        opened = chance(rng, 0.25)
        a = np.deg2rad(-uniform(rng, 15.0, 50.0) if opened else 0.0)
        reach = L - 0.3 if not opened else L + 0.2
        point = (np.cos(a) * reach - np.sin(a) * 0.45 * h, np.sin(a) * reach + np.cos(a) * 0.45 * h)
        # clasp end of the top leg, one and a half turns of the spring coil, the pin leg out to its point
        path = np.concatenate([[(L - 0.5, 0.8 * h)], arc(r, 60.0, 630.0, cx=-0.6 * r, cy=h / 2, n=14), [point]])
        clasp = rounded_rect(0.7, 0.9 * h, 0.2, cx=L - 0.35, cy=0.55 * h)
        pin = [stroke(metal, polygon(path), d), Part(metal, 0.15, outline=clasp)]
        if in_row:
            parts += moved(pin, dy=1.3 * h * i)
        else:
            parts += moved(pin, angle_deg=uniform(rng, 0, 360), dx=uniform(rng, -3, 3), dy=uniform(rng, -3, 3))
    return lookalike("safety_pins", "safety_pin", parts, dict(count=n, material=metal, in_row=in_row))


def make_hair_dryer(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A hairdryer (15-22 cm body) or straightener (24-30 cm): plastic, a motor or heater plates, a cable (to 75 cm)."""
    sub = pick(rng, ["hairdryer", "straightener"], p=[0.5, 0.5], forced=subtype)
    cable_l = uniform(rng, 10.0, 40.0)
    if sub == "hairdryer":
        bl, bd = uniform(rng, 15.0, 22.0), uniform(rng, 6.5, 9.0)
        hl, hw = uniform(rng, 10.0, 13.0), uniform(rng, 3.2, 4.0)
        folded = chance(rng, 0.3)  # a travel dryer's handle folded up along the barrel
        a = np.deg2rad(-uniform(rng, 95.0, 110.0) if not folded else -172.0)
        root = np.float32([-0.1 * bl, -0.3 * bd])
        u = np.float32([np.cos(a), np.sin(a)])
        handle = ribbon(np.stack([root + s * hl * u for s in np.linspace(0, 1, 6)]), hw, cap_end=0.5 * hw)
        mx = -bl / 2 + 4.0
        zig = np.stack([np.linspace(mx + 2.5, bl / 2 - 1.5, 17), 0.3 * bd * np.resize([-1.0, 1.0], 17)], 1)
        parts = [Part("plastic", bd, outline=rounded_rect(bl, bd, 0.3 * bd), profile="tube", wall_cm=0.25),
                 Part("plastic", 0.8 * hw, outline=handle, profile="tube", wall_cm=0.25),
                 Part("steel", 2.2, outline=rect(2.6, 3.0, cx=mx), profile="round"),  # motor laminations
                 Part("copper", 1.0, outline=rect(2.2, 2.6, cx=mx + 0.2), profile="round"),  # and windings
                 Part("plastic", 2.0, outline=rect(1.4, 0.8 * bd, cx=mx - 2.3)),  # the fan, edge-on
                 # nichrome coil on a mica cross: a few turns per cm average out to a faint zigzag
                 stroke("steel", zig.astype(np.float32), 0.35, 0.04, profile="flat"),
                 Part("pcb", 0.16, outline=transform(rect(3.0, 1.4), angle_deg=float(np.rad2deg(a)),
                                                     dx=float(root[0] + 0.4 * hl * u[0]),
                                                     dy=float(root[1] + 0.4 * hl * u[1])))]  # switch board
        end, heading = root + hl * u, float(np.rad2deg(a))
        meta: dict = dict(barrel_cm=bl, folded=folded)
    else:
        L, aw = uniform(rng, 24.0, 30.0), uniform(rng, 2.5, 3.4)
        x = np.linspace(0.0, L, 10)
        arm = ribbon(np.stack([x, np.zeros_like(x)], 1), np.interp(x, [0, 0.5 * L, 0.6 * L, L], [2.6, 2.6, aw, aw]),
                     cap_start=1.0, cap_end=0.4 * aw)
        pl = uniform(rng, 9.0, 11.0)
        half = [Part("plastic", 1.8, outline=arm, profile="tube", wall_cm=0.2),
                Part("aluminium", 0.35, outline=rect(pl, aw - 0.5, cx=L - 1.2 - pl / 2)),  # the heater plate
                Part("pcb", 0.16, outline=rect(6.0, 1.6, cx=6.0))]
        opened = chance(rng, 0.4)
        a = uniform(rng, 8.0, 20.0) if opened else 0.0
        parts = half + moved(half[:2], angle_deg=a)  # the other arm over the first, or swung open
        parts.append(Part("steel", 0.8, outline=disk(1.2, cx=0.8, n=12), profile="round"))  # hinge spring and pin
        end, heading = np.float32([-1.0, 0.0]), 180.0 + uniform(rng, -30, 30)
        meta = dict(arm_cm=L, open=opened)
    cable = smooth_path(rng, cable_l, step=1.5, curvature=0.08, heading_deg=heading, start=tuple(end))
    parts += wire(cable, jacket_cm=0.7, core_cm=0.25)
    return lookalike("hair_dryer", sub, parts, {**meta, "cable_cm": cable_l})
