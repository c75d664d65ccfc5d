"""Benign metal look-alikes that are not threats: the catalogue of them all, and the tools among them.

A screwdriver shaft images like a blade's spine, a fork like a knife, a hinge
or a stapler like a wrench's head, a padlock shackle like a trigger guard.
A detector that only learned "dark blue and elongated" flags all of them, so
the scenes carry these at their real sizes and materials to teach it which
metal shapes are not threats. None of them is one of the five threat classes:
no table knives (a knife), no waiter's friend (it has a folding blade), no
ratchet with a socket head (a wrench).

``LOOKALIKES`` and ``DENSE_LOOKALIKES`` list every look-alike. This module
builds the tools (screwdrivers, hex keys, a ratchet driver, a tape measure, a
torch, a stapler); ``clutter_grooming`` the grooming kit, ``clutter_kitchen``
the cutlery and corkscrews, ``clutter_hardware`` the hangers, hinges, locks
and other hardware.

Each object is built with its long axis along x and centred on its extent;
``meta`` holds the sub-type, the sampled sizes and ``length_cm``, the longer
side of the extent. ``subtype`` forces a sub-type (tests, previews); the
generator is drawn from the same way either way. Rendering cost grows with
the part count, so repeated pieces (chain links, bits in a rack) are drawn
as one polyline or one outline wherever they can be.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.synth.clutter_grooming import (
    make_hair_clips,
    make_hair_dryer,
    make_nail_clippers,
    make_nail_file,
    make_safety_pins,
    make_tweezers,
)
from training.synth.clutter_hardware import (
    make_belt_buckle,
    make_carabiner,
    make_chain,
    make_coat_hanger,
    make_door_handle,
    make_hinge,
    make_padlock,
)
from training.synth.clutter_kitchen import make_corkscrew, make_cutlery
from training.synth.clutter_shapes import (
    box_shell,
    chance,
    closed,
    disk,
    lookalike,
    moved,
    pick,
    polyline,
    ribbon,
    rod,
    stroke,
    uniform,
)
from training.synth.outlines import bar_row
from training.synth.parts import ObjectModel, Part, arc, polygon, rect, rounded_rect, transform

__all__ = [
    "DENSE_LOOKALIKES",
    "LOOKALIKES",
    "make_hex_key",
    "make_precision_screwdrivers",
    "make_ratchet_driver",
    "make_screwdriver",
    "make_stapler",
    "make_tape_measure",
    "make_torch",
]


# --- drivers and keys ------------------------------------------------------------------------------


def _bit(cx: float, cy: float = 0.0, angle_deg: float = 0.0) -> Part:
    """A 1/4-inch hex screwdriver bit, 2.5 cm long."""
    return Part("steel", 0.65, outline=rect(2.5, 0.7, cx=cx, cy=cy, angle_deg=angle_deg), profile="round")


def _driver_handle(length: float, d: float, material: str) -> Part:
    """A driver handle along -x from x = 0, round in section, swelling from the ferrule to full girth."""
    x = np.linspace(0.0, -length, 10)
    w = d * np.minimum(0.62 + 0.38 * (-x / length) / 0.3, 1.0)
    return Part(material, d, outline=ribbon(np.stack([x, np.zeros_like(x)], 1), w, cap_end=0.35 * d), profile="round")


def make_screwdriver(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A flat or Phillips screwdriver (15-32 cm), or a bit driver with a few loose bits (13-24 cm)."""
    sub = pick(rng, ["flat", "phillips", "bit_driver"], p=[0.4, 0.4, 0.2], forced=subtype)
    bits = sub == "bit_driver"
    shaft_l = uniform(rng, 4.0, 10.0) if bits else uniform(rng, 7.5, 20.0)
    # thicker shafts go with longer blades: 0.4 cm at 7.5 cm, 0.8 cm at 20 cm
    d_blade = float(np.clip(0.4 + 0.032 * (shaft_l - 7.5) + rng.normal(0, 0.05), 0.4, 0.8))
    d = uniform(rng, 0.9, 1.1) if bits else d_blade
    hl = uniform(rng, 10.0, 12.5) if bits else uniform(rng, 8.0, 12.0)
    hd = uniform(rng, 3.2, 3.8) if bits else uniform(rng, 2.4, 3.6)
    handle = pick(rng, ["plastic", "wood"], p=[0.8, 0.2])
    tip_end = shaft_l - (0.2 if bits else 1.4)
    parts = [_driver_handle(hl, hd, handle), rod("steel", -0.45 * hl, tip_end, d)]  # the tang runs into the handle
    if handle == "wood":  # a brass or steel ferrule where the shaft enters
        parts.append(Part(pick(rng, ["brass", "steel"]), 0.62 * hd, outline=rect(1.0, 0.62 * hd, cx=-0.5),
                          profile="tube", wall_cm=0.05))
    meta: dict = dict(shaft_cm=shaft_l, shaft_d_cm=d, handle=handle)
    if sub == "flat":
        w = d * uniform(rng, 1.1, 1.35)
        roll = np.deg2rad(uniform(rng, 0.0, 90.0))  # the forged blade lies face up, on edge or between
        t = 0.35 * d
        width = max(w * abs(np.cos(roll)), t)
        tip = polygon([(shaft_l - 1.4, -d / 2), (shaft_l - 0.15, -width / 2), (shaft_l, -width / 2 + 0.03),
                       (shaft_l, width / 2 - 0.03), (shaft_l - 0.15, width / 2), (shaft_l - 1.4, d / 2)])
        parts.append(Part("steel", min(t / max(abs(np.cos(roll)), 1e-3), w), outline=tip))
    elif sub == "phillips":
        cone = polygon([(shaft_l - 1.4, -d / 2), (shaft_l - 0.15, -0.12 * d), (shaft_l, 0.0), (shaft_l - 0.15, 0.12 * d),
                        (shaft_l - 1.4, d / 2)])
        parts.append(Part("steel", d, outline=cone, profile="round"))
    else:
        parts.append(_bit(shaft_l + 0.8))
        n = int(rng.integers(2, 6))
        for _ in range(n):
            side = 1.0 if chance(rng, 0.5) else -1.0
            parts.append(_bit(uniform(rng, -hl + 1.5, shaft_l), side * uniform(rng, hd / 2 + 0.8, hd / 2 + 3.5),
                              uniform(rng, 0.0, 180.0)))
        meta["loose_bits"] = n
    return lookalike("screwdriver", sub, parts, meta)


def make_precision_screwdrivers(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A plastic case (10-20 cm) of 4-7 precision screwdrivers, or of a handle and 8-24 small bits."""
    sub = pick(rng, ["drivers", "bits"], p=[0.6, 0.4], forced=subtype)
    handle = pick(rng, ["aluminium", "plastic"], p=[0.6, 0.4])
    parts: list[Part] = []
    if sub == "drivers":
        n = int(rng.integers(4, 8))
        length, hd = uniform(rng, 8.5, 10.5), uniform(rng, 0.75, 1.0)
        hl = 0.55 * length
        for i, d in enumerate(np.linspace(0.15, uniform(rng, 0.25, 0.35), n)):
            y = i * (hd + 0.25)
            parts += [Part(handle, hd, outline=rounded_rect(hl, hd, 0.15, cx=-hl / 2, cy=y), profile="round"),
                      rod("steel", -0.3 * hl, length - hl, float(d), y=y)]
        w, h, cx, cy = length + 1.5, n * (hd + 0.25) + 0.9, length / 2 - hl, (n - 1) * (hd + 0.25) / 2
        meta: dict = dict(drivers=n, driver_cm=length)
    else:
        n = int(rng.integers(8, 25))
        rows = 1 if n <= 12 else 2
        per_row = -(-n // rows)
        length = uniform(rng, 9.0, 10.5)
        parts += [Part(handle, 1.1, outline=rounded_rect(length - 3.0, 1.1, 0.3, cx=-1.5), profile="round"),
                  rod("steel", length / 2 - 3.5, length / 2, 0.4)]
        for r in range(rows):  # 4 mm bits standing side by side in a moulded rack
            bars = bar_row(per_row if r < rows - 1 else n - per_row * r, 0.65, 0.4, 2.8, cy=-2.5 - 3.3 * r)
            parts.append(Part("steel", 0.4, outline=bars, profile="round"))
        w, h = max(length + 1.5, per_row * 0.65 + 1.5), 1.1 + 3.3 * rows + 1.6
        cx, cy = 0.0, -(h / 2) + 1.4
        meta = dict(bits=n, rows=rows)
    shell = rounded_rect(w, h, 0.6, cx=cx, cy=cy)
    parts += box_shell(shell, material="plastic", plate_cm=0.4, wall_cm=0.15, depth_cm=uniform(rng, 1.5, 2.5))
    return lookalike("precision_screwdrivers", sub, parts, {**meta, "handle": handle})


_HEX_CM = (0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)  # ISO 2936 sizes across flats


def _allen(s: float, long_scale: float = 1.0) -> np.ndarray:
    """Centre line of an L-shaped hex key of size s: short arm up the y axis, long arm along +x."""
    long, short, r = (2.7 + 11.3 * s) * long_scale, 0.9 + 3.0 * s, 0.9 * s  # ISO 2936 arm lengths, fitted
    return polygon(np.concatenate([[(0.0, short)], arc(r, 180.0, 270.0, cx=r, cy=r, n=5), [(long, 0.0)]]))


def make_hex_key(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """1-3 loose L-shaped hex keys (1.5-10 mm, 5-18 cm; up to 27 cm as a group) or a folding set (8-11 cm)."""
    sub = pick(rng, ["loose", "folding"], p=[0.6, 0.4], forced=subtype)
    if sub == "loose":
        n = 1 if chance(rng, 0.6) else int(rng.integers(2, 4))
        sizes = sorted(float(s) for s in rng.choice(_HEX_CM, n, replace=False))
        parts = []
        for i, s in enumerate(sizes):
            key = stroke("steel", _allen(s, 1.3 if chance(rng, 0.3) else 1.0), 1.05 * s, 1.1 * s)
            parts += moved([key], angle_deg=uniform(rng, -25, 25) if i else 0.0, dx=uniform(rng, -2, 2) * i,
                           dy=2.5 * i)
        return lookalike("hex_key", sub, parts, dict(sizes_cm=sizes))
    sizes = [float(s) for s in _HEX_CM[: int(rng.integers(7, 9))]]  # 1.5-6 or 1.5-8 mm
    bl = uniform(rng, 8.0, 11.0)
    stack = sum(sizes)
    body = pick(rng, ["plastic", "aluminium"], p=[0.6, 0.4])
    outline = rounded_rect(bl, uniform(rng, 2.0, 2.8), 0.9)
    n_open = int(rng.integers(0, 3))
    opened = [float(s) for s in rng.choice(sizes, n_open, replace=False)]
    pivots = (bl / 2 - 0.6, -(bl / 2 - 0.6))
    parts = [Part("plastic", stack + 0.8, outline=outline, profile="round") if body == "plastic"
             else Part("aluminium", 0.6, outline=outline),  # two side plates
             # the folded keys lie stacked along the body: a bar as wide as the largest, as deep as all of them
             Part("steel", 0.85 * (stack - sum(opened)), outline=rect(bl - 1.0, max(sizes)), profile="round")]
    parts += [Part("steel", stack + 0.8, outline=disk(0.7, cx=x, n=12), profile="round") for x in pivots]
    for i, s in enumerate(opened):
        x, sign = pivots[i % 2], (1.0 if i % 2 == 0 else -1.0)
        a = np.deg2rad(uniform(rng, 30.0, 180.0))
        tip = (x + sign * (-np.cos(a)) * (bl - 1.0), np.sin(a) * (bl - 1.0))
        parts.append(stroke("steel", polyline((x, 0.0), tip), 1.05 * s, 1.1 * s))
    return lookalike("hex_key", sub, parts, dict(sizes_cm=sizes, opened_cm=opened, body=body, body_cm=bl))


def make_ratchet_driver(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A multi-bit ratchet screwdriver: inline (16-25 cm, bits stored in the handle) or stubby (9-13 cm)."""
    sub = pick(rng, ["inline", "stubby"], p=[0.7, 0.3], forced=subtype)
    inline = sub == "inline"
    hl = uniform(rng, 10.0, 13.0) if inline else uniform(rng, 5.5, 7.5)
    hd = uniform(rng, 3.4, 4.0) if inline else uniform(rng, 3.4, 4.2)
    shank_l = uniform(rng, 4.0, 9.0) if inline else uniform(rng, 1.5, 2.5)
    sd = uniform(rng, 0.9, 1.2)
    parts = [_driver_handle(hl, hd, "plastic"),
             # the ratchet: a gear ring and pawls in a steel collar at the front of the handle
             Part("steel", 0.7 * hd, outline=rect(1.8, 0.7 * hd, cx=-0.7), profile="tube", wall_cm=0.35),
             rod("steel", -0.8, shank_l, sd), _bit(shank_l + 0.8)]
    stored = int(rng.integers(3, 5)) if inline else 0
    if stored:  # spare bits side by side in a cassette in the butt
        cassette = transform(bar_row(stored, 0.75, 0.7, 2.5), angle_deg=90.0, dx=-hl + 2.2)
        parts.append(Part("steel", 0.65, outline=cassette, profile="round"))
    return lookalike("ratchet_driver", sub, parts, dict(handle_cm=hl, shank_cm=shank_l, stored_bits=stored))


# --- household things ------------------------------------------------------------------------------


def make_tape_measure(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A steel tape measure: pocket (2-3 m, 5-6 cm case), standard (5 m) or long (8 m, 8-9 cm); pulled out to 60 cm."""
    sub = pick(rng, ["pocket", "standard", "long"], p=[0.35, 0.45, 0.2], forced=subtype)
    metres, tw, side = {"pocket": (uniform(rng, 2.0, 3.0), 1.3, uniform(rng, 5.0, 5.8)),
                        "standard": (5.0, 1.9, uniform(rng, 6.5, 7.2)),
                        "long": (8.0, 2.5, uniform(rng, 7.8, 8.8))}[sub]
    pulled = 0.0 if chance(rng, 0.65) else uniform(rng, 3.0, 50.0)
    ri = 0.16 * side
    # the coil lies edge-on to the beam, which runs down the tape's width through ~85 % steel
    ro = float(np.sqrt(ri**2 + (100.0 * metres - pulled) * 0.014 / (np.pi * 0.85)))
    c = (-0.06 * side, 0.04 * side)
    parts = box_shell(rounded_rect(1.05 * side, side, 0.25 * side), material="plastic", plate_cm=0.5, wall_cm=0.25,
                      depth_cm=tw + 1.3)
    parts += [stroke("steel", closed(disk(ri + ro, cx=c[0], cy=c[1], n=28)), ro - ri, 0.85 * tw, profile="flat"),
              Part("steel", 0.5, outline=disk(1.8 * ri, cx=c[0], cy=c[1], n=16))]  # the recoil spring in the hub
    y = -side / 2 + 0.6
    if pulled > 0:  # the blade is cupped: a little more than its 0.14 mm face-on
        parts.append(Part("steel", 0.03, outline=rect(pulled, tw, cx=0.525 * side + pulled / 2, cy=y + tw / 2 - 0.3)))
    parts.append(Part("steel", 0.7, outline=rect(0.12, tw + 0.3, cx=0.525 * side + pulled + 0.06, cy=y + tw / 2 - 0.3)))
    clip = chance(rng, 0.7)
    if clip:
        parts.append(Part("steel", 0.12, outline=rounded_rect(0.7 * side, 1.4, 0.4, cy=0.1 * side)))
    return lookalike("tape_measure", sub, parts, dict(tape_m=metres, tape_cm=tw, pulled_cm=pulled, clip=clip))


# (length, diameter) of cells, cm
_CELLS = {"AAA": (4.45, 1.05), "AA": (5.0, 1.45), "CR123": (3.45, 1.7), "18650": (6.5, 1.85), "D": (6.15, 3.3)}


def make_torch(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A torch: a penlight on 2-3 small cells (11-20 cm), a tactical light (11-18 cm) or a D-cell one (22-36 cm)."""
    sub = pick(rng, ["penlight", "tactical", "maglite"], p=[0.35, 0.45, 0.2], forced=subtype)
    if sub == "penlight":
        cell = pick(rng, ["AAA", "AA"])
        n, head_l, tail, wall = int(rng.integers(2, 4)), uniform(rng, 2.5, 3.5), uniform(rng, 1.0, 2.0), 0.1
    elif sub == "tactical":
        cell = pick(rng, ["18650", "CR123"])
        n, head_l, tail, wall = 1 if cell == "18650" else 2, uniform(rng, 3.0, 4.5), uniform(rng, 1.5, 2.5), 0.18
    else:
        cell = "D"
        n, head_l, tail, wall = int(rng.integers(2, 5)), uniform(rng, 6.5, 7.5), uniform(rng, 2.0, 3.0), 0.2
    cl, cd = _CELLS[cell]
    bd = cd + 2 * wall + 0.1
    hd = bd * (uniform(rng, 1.05, 1.15) if sub == "penlight" else uniform(rng, 1.2, 1.6))
    body_l = n * cl + tail + 0.5
    x_head = body_l / 2  # body from -body_l/2 to the head's back
    case = "plastic" if sub == "penlight" and chance(rng, 0.3) else "aluminium"
    head = polygon([(x_head - 0.2, -bd / 2), (x_head + 0.4 * head_l, -hd / 2), (x_head + head_l, -hd / 2),
                    (x_head + head_l, hd / 2), (x_head + 0.4 * head_l, hd / 2), (x_head - 0.2, bd / 2)])
    x_cells = -body_l / 2 + tail
    parts = [Part(case, bd, outline=rect(body_l, bd), profile="tube", wall_cm=wall),
             Part(case, hd, outline=head, profile="tube", wall_cm=wall + 0.1),
             Part("aluminium", 0.8 * hd, outline=polygon([(x_head + 0.2, -0.3 * bd), (x_head + head_l - 0.4, -0.4 * hd),
                                                          (x_head + head_l - 0.4, 0.4 * hd), (x_head + 0.2, 0.3 * bd)]),
                  profile="tube", wall_cm=0.05),  # the reflector
             Part(pick(rng, ["glass", "plastic"]), 0.8 * hd, outline=rect(0.25, 0.85 * hd, cx=x_head + head_l - 0.25)),
             Part("pcb", 0.5 * bd, outline=rect(0.16, 0.6 * bd, cx=x_head + 0.1)),
             # the cells' steel cans end to end, and each cell's dense core
             Part("steel", cd, outline=rect(n * cl, cd, cx=x_cells + n * cl / 2), profile="tube", wall_cm=0.025)]
    parts += [Part("battery", cd - 0.06, outline=rect(cl - 0.3, cd - 0.06, cx=x_cells + (i + 0.5) * cl),
                   profile="round") for i in range(n)]
    spring = polyline((x_cells - tail + 0.4, 0.0), (x_cells, 0.0))
    parts.append(stroke("steel", spring, 0.6 * cd, 0.2, profile="tube", wall=0.03))
    return lookalike("torch", sub, parts, dict(cells=f"{n}x{cell}", body=case, head_cm=hd))


def make_stapler(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A desk stapler (12.5-19 cm) or a mini one (6-8.5 cm): steel channel, staples, spring; shut or opened flat."""
    sub = pick(rng, ["desk", "mini"], p=[0.6, 0.4], forced=subtype)
    desk = sub == "desk"
    L = uniform(rng, 12.5, 19.0) if desk else uniform(rng, 6.0, 8.5)
    w = uniform(rng, 3.5, 5.0) if desk else uniform(rng, 2.0, 2.8)
    metal = chance(rng, 0.5 if desk else 0.6)
    cw = 1.3 if desk else 1.0  # the channel holds 26/6 or No.10 staples
    outline = rounded_rect(L, w, 0.3 * w, cx=L / 2)
    base = (box_shell(outline, material="steel", plate_cm=0.1, wall_cm=0.1, depth_cm=0.8) if metal
            # a plastic base still carries a steel plate with the anvil
            else [Part("plastic", 1.0, outline=outline, profile="round"),
                  Part("steel", 0.1, outline=rounded_rect(0.9 * L, 0.6 * w, 0.2 * w, cx=L / 2))])
    base.append(Part("steel", 0.15, outline=rect(2.0, 1.6 * cw, cx=L - 1.6)))  # the anvil
    cover = rounded_rect(0.98 * L, 0.8 * w, 0.3 * w, cx=0.49 * L)
    upper = (box_shell(cover, material="steel", plate_cm=0.1, wall_cm=0.08, depth_cm=1.0) if metal
             else [Part("plastic", 1.4, outline=cover, profile="round")])
    upper += box_shell(rect(0.8 * L, cw, cx=0.5 * L), material="steel", plate_cm=0.06, wall_cm=0.06, depth_cm=0.9)
    staples = uniform(rng, 0.0, 0.6 * L)
    if staples > 0.5:  # a strip of staples: the crowns face-on, the legs down the beam along both edges
        upper += box_shell(rect(staples, cw - 0.1, cx=0.88 * L - staples / 2), material="steel", plate_cm=0.05,
                           wall_cm=0.06, depth_cm=0.6)
    pusher = polyline((0.15 * L, 0.0), (0.85 * L - staples, 0.0))  # the spring that feeds the staples
    upper.append(stroke("steel", pusher, 0.5 * cw, 0.5 * cw, profile="tube", wall=0.04))
    opened = chance(rng, 0.25)
    parts = base + (moved(upper, mirror=True) if opened else upper)  # opened flat about the hinge at x = 0
    parts.append(stroke("steel", polyline((0.3 * w, -0.4 * w), (0.3 * w, 0.4 * w)), 0.3))  # the hinge pin
    return lookalike("stapler", sub, parts,
                     dict(length_nominal_cm=L, steel_body=metal, staples_cm=staples, open=opened))


# --- the catalogue ---------------------------------------------------------------------------------


# kind -> (factory, relative frequency), on the same scale as clutter.CLUTTER (clothes 3.0, keys 0.6):
# grooming kit and cutlery travel in many bags, tools and hardware in few.
LOOKALIKES: dict[str, tuple[Callable[[np.random.Generator], ObjectModel], float]] = {
    "cutlery": (make_cutlery, 0.4),
    "nail_clippers": (make_nail_clippers, 0.4),
    "hair_clips": (make_hair_clips, 0.4),
    "padlock": (make_padlock, 0.3),
    "tweezers": (make_tweezers, 0.25),
    "belt_buckle": (make_belt_buckle, 0.2),
    "torch": (make_torch, 0.25),
    "hair_dryer": (make_hair_dryer, 0.25),
    "nail_file": (make_nail_file, 0.2),
    "carabiner": (make_carabiner, 0.2),
    "safety_pins": (make_safety_pins, 0.15),
    "screwdriver": (make_screwdriver, 0.15),
    "precision_screwdrivers": (make_precision_screwdrivers, 0.1),
    "hex_key": (make_hex_key, 0.1),
    "corkscrew": (make_corkscrew, 0.1),
    "coat_hanger": (make_coat_hanger, 0.1),
    "tape_measure": (make_tape_measure, 0.1),
    "stapler": (make_stapler, 0.1),
    "chain": (make_chain, 0.1),
    "ratchet_driver": (make_ratchet_driver, 0.05),
    "hinge": (make_hinge, 0.05),
    "door_handle": (make_door_handle, 0.03),
}


# Kinds that, in every draw, absorb at least as much of the high-energy beam as about 1 mm of steel
# over 6 cm^2 or more (clutter.DENSE_KINDS' test), so they can hide part of a threat.
# Measured over 60 draws each at 4 px/cm, the smallest such area is 11-22 cm^2 for these; thin or
# mostly hollow kinds (a single hex key, a wire hanger, hair clips) and kinds with an odd thin draw
# (door_handle: an aluminium pull on its standoffs, 2 cm^2) are left out.
DENSE_LOOKALIKES: frozenset[str] = frozenset({
    "padlock", "torch", "stapler", "tape_measure", "hinge", "chain", "cutlery", "ratchet_driver",
})
