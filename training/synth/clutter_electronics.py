"""Benign electronics: laptops, tablets, phones, chargers, power banks, cables,
earphones and dry cells.

Electronics are what makes real bags hard: battery cells, transformer
windings and circuit boards absorb like metal over large areas and hide what
lies under them. Sizes and thicknesses follow real devices; the chassis long
axis is x.
"""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import (
    box_shell,
    centred,
    closed,
    coil_path,
    disk,
    lying_cylinder,
    moved,
    smooth_path,
    stroke,
    uniform,
    wire,
)
from training.synth.parts import ObjectModel, Part, ellipse, rect, rounded_rect

__all__ = ["make_batteries", "make_cable", "make_charger", "make_earphones", "make_laptop", "make_phone",
           "make_power_bank", "make_tablet"]


def _cells(rng: np.random.Generator, n: int, *, span: float, depth: float, cy: float,
           cylindrical: bool) -> list[Part]:
    """A row of n Li-ion cells side by side across `span` cm: 18650 cans or flat pouches."""
    pitch = span / n
    xs = -span / 2 + pitch * (np.arange(n) + 0.5)
    if cylindrical:  # 18650 cells lie on their side: 1.8 cm of cell through the middle
        return [Part("battery", 1.8, outline=rect(1.8, 6.5, cx=float(x), cy=cy), profile="round") for x in xs]
    t = uniform(rng, 0.45, 0.7)
    return [Part("battery", t, outline=rounded_rect(pitch - 0.3, depth, 0.3, cx=float(x), cy=cy)) for x in xs]


def _screws(xy: list[tuple[float, float]], length: float = 0.5) -> list[Part]:
    """Screws standing upright: seen end-on, a dot of steel as deep as the screw is long."""
    return [Part("steel", length, outline=disk(0.3, cx=x, cy=y, n=10)) for x, y in xy]


def make_laptop(rng: np.random.Generator) -> ObjectModel:
    """A closed laptop, 30-40 x 19-28 cm: shell, display, keyboard, board, cells, hinges."""
    w = uniform(rng, 30, 40)
    h = w * uniform(rng, 0.63, 0.7)
    depth = uniform(rng, 1.4, 2.4)
    shell = str(rng.choice(["aluminium", "plastic"], p=[0.6, 0.4]))
    skin = uniform(rng, 0.08, 0.15) if shell == "aluminium" else uniform(rng, 0.15, 0.25)
    cylindrical = bool(rng.random() < 0.3)
    n_cells = int(rng.integers(3, 7)) if cylindrical else int(rng.integers(2, 5))
    # front (palm rest, y < 0) holds the cells, back half the board and cooling; hinges on the back edge
    parts = box_shell(rounded_rect(w, h, 1.0), material=shell, plate_cm=2 * skin, wall_cm=skin, depth_cm=depth)
    parts.append(Part("glass", uniform(rng, 0.1, 0.2), outline=rect(w - 2.0, h - 2.0)))
    parts.append(Part(str(rng.choice(["steel", "aluminium"])), 0.06, outline=rect(0.85 * w, 0.38 * h, cy=0.12 * h)))
    parts += _cells(rng, n_cells, span=0.75 * w, depth=0.3 * h, cy=-0.28 * h, cylindrical=cylindrical)
    bw, bh = uniform(rng, 0.45, 0.7) * w, uniform(rng, 0.28, 0.38) * h
    bx = uniform(rng, -0.5, 0.5) * (w - bw) / 2
    by = h / 2 - 1.5 - bh / 2
    parts.append(Part("pcb", uniform(rng, 0.1, 0.15), outline=rect(bw, bh, cx=bx, cy=by)))
    fan = uniform(rng, 5.0, 7.0)
    fx, fy = bx + bw / 2 - fan / 2, by
    parts += [Part(str(rng.choice(["aluminium", "plastic"])), 0.3, outline=disk(fan, cx=fx, cy=fy)),
              Part("steel", 0.5, outline=disk(1.4, cx=fx, cy=fy, n=12))]
    # flattened copper heat pipe from the processor to the fan
    pipe = np.float32([[bx - bw / 4, by - bh / 6], [(bx + fx) / 2, by + bh / 5], [fx, fy]])
    parts.append(stroke("copper", pipe, 0.7, 0.08, profile="flat"))
    hinge_w = uniform(rng, 2.0, 3.5)
    parts += [Part("steel", uniform(rng, 0.35, 0.6), outline=rect(hinge_w, 1.2, cx=s * (w / 2 - 3.5), cy=h / 2 - 1.0))
              for s in (-1, 1)]
    parts += _screws([(sx * (w / 2 - 1.2), sy * (h / 2 - 1.2)) for sx in (-1, 1) for sy in (-1, 1)])
    meta = {"w_cm": w, "h_cm": h, "depth_cm": depth, "shell": shell, "skin_cm": skin, "cells": n_cells,
            "cylindrical_cells": cylindrical}
    return centred("laptop", parts, meta)


def make_tablet(rng: np.random.Generator) -> ObjectModel:
    """A tablet, 17-28 x 12-20 cm: metal back and frame, glass front, two flat cells, a board strip."""
    w = uniform(rng, 17, 28)
    h = w * uniform(rng, 0.66, 0.75)
    depth = uniform(rng, 0.6, 0.9)
    back = str(rng.choice(["aluminium", "plastic"], p=[0.75, 0.25]))
    outline = rounded_rect(w, h, 1.0)
    parts = box_shell(outline, material=back, plate_cm=0.08 if back == "aluminium" else 0.15, wall_cm=0.25,
                      depth_cm=depth)
    parts.append(Part("glass", uniform(rng, 0.1, 0.15), outline=rect(w - 0.4, h - 0.4)))
    parts += _cells(rng, 2, span=0.6 * w, depth=0.75 * h, cy=0.0, cylindrical=False)
    parts.append(Part("pcb", 0.1, outline=rect(0.18 * w, 0.8 * h, cx=0.38 * w)))
    parts += [Part("steel", 0.25, outline=rect(1.5, 1.0, cx=s * (w / 2 - 1.5), cy=-h / 2 + 1.5)) for s in (-1, 1)]
    parts.append(Part("steel", 0.3, outline=disk(1.0, cx=w / 2 - 2.0, cy=h / 2 - 2.0, n=12)))  # camera module
    return centred("tablet", parts, {"w_cm": w, "h_cm": h, "depth_cm": depth, "back": back})


def make_phone(rng: np.random.Generator) -> ObjectModel:
    """A smartphone, 13.5-16.5 x 6.5-7.8 cm: metal frame, glass faces, a cell, a stacked board."""
    w, h = uniform(rng, 13.5, 16.5), uniform(rng, 6.5, 7.8)
    depth = uniform(rng, 0.75, 0.95)
    frame = str(rng.choice(["aluminium", "steel"], p=[0.75, 0.25]))
    outline = rounded_rect(w, h, 0.9)
    parts = [stroke(frame, closed(outline), 0.3, 0.85 * depth, profile="flat"),
             Part("glass", uniform(rng, 0.12, 0.18), outline=outline),  # front and back glass together
             Part("battery", uniform(rng, 0.45, 0.6), outline=rect(0.55 * w, 0.8 * h, cx=-0.12 * w))]
    bx = 0.3 * w
    parts += [Part("pcb", 0.25, outline=rect(0.3 * w, 0.8 * h, cx=bx)),
              Part("steel", 0.04, outline=rect(0.25 * w, 0.6 * h, cx=bx)),  # RF shield cans
              Part("steel", 0.35, outline=rect(1.6, 1.4, cx=w / 2 - 1.5, cy=h / 2 - 1.4)),  # camera modules
              Part("steel", 0.25, outline=rect(1.2, 0.7, cx=-w / 2 + 1.0))]  # speaker magnet
    if rng.random() < 0.5:  # wireless charging coil: flat copper spiral under the back glass
        parts.append(stroke("copper", closed(disk(3.2, cx=-0.12 * w, n=24)), 1.0, 0.02, profile="flat"))
    return centred("phone", parts, {"w_cm": w, "h_cm": h, "depth_cm": depth, "frame": frame})


def make_charger(rng: np.random.Generator) -> ObjectModel:
    """A wall charger (4-6 cm) or a laptop power brick (10-15 cm): plastic case, transformer, board."""
    brick = bool(rng.random() < 0.5)
    w = uniform(rng, 10, 15) if brick else uniform(rng, 4, 6)
    h = w * uniform(rng, 0.45, 0.55) if brick else w * uniform(rng, 0.8, 1.0)
    depth = uniform(rng, 2.5, 3.3)
    parts = box_shell(rounded_rect(w, h, 0.6), material="plastic", plate_cm=0.4, wall_cm=0.2, depth_cm=depth)
    parts.append(Part("pcb", 0.16, outline=rect(w - 0.8, h - 0.8)))
    core = min(0.35 * w, 0.7 * h, 3.0)
    cx = -w / 2 + 0.4 + core * 0.7
    # ferrite core: iron oxide at about half the iron per cm of steel, so a thinner steel slab
    parts.append(Part("steel", 0.45 * depth / 3, outline=rect(core, core, cx=cx)))
    parts.append(stroke("copper", closed(rect(0.7 * core, 0.7 * core, cx=cx)), 0.35 * core, 0.5, profile="round"))
    # electrolytic capacitors lie on their side: thin aluminium cans
    cap_d = min(1.8, 0.3 * h)
    parts += lying_cylinder(min(2.5, 0.3 * w), cap_d, material="aluminium", wall_cm=0.03,
                            cx=cx + core / 2 + 0.3 + min(2.5, 0.3 * w) / 2, cy=0.2 * h)
    if brick:
        parts.append(Part("aluminium", 0.15, outline=rect(0.3 * w, 0.6 * h, cx=0.3 * w)))  # heatsink
    else:  # mains prongs folded against the case
        parts += [Part("brass", 0.15, outline=rect(1.8, 0.6, cx=w / 2 - 1.0, cy=s * 0.25 * h)) for s in (-1, 1)]
    return centred("charger", parts, {"w_cm": w, "h_cm": h, "depth_cm": depth, "brick": brick})


def make_power_bank(rng: np.random.Generator) -> ObjectModel:
    """A power bank, 9-15 x 2.4-8 cm: 1-3 18650 cells or a pouch in a metal or plastic case, a small board."""
    cylindrical = bool(rng.random() < 0.5)
    n = int(rng.integers(1, 4)) if cylindrical else 1
    w = 9.6 if cylindrical else uniform(rng, 9, 15)
    h = 1.9 * n + 0.5 if cylindrical else uniform(rng, 6, 8)
    case = str(rng.choice(["aluminium", "plastic"]))
    depth = 2.3 if cylindrical else uniform(rng, 1.2, 2.0)
    parts = box_shell(rounded_rect(w, h, 0.6), material=case, plate_cm=0.2 if case == "plastic" else 0.1,
                      wall_cm=0.15, depth_cm=depth)
    if cylindrical:  # cells lie along the case, side by side
        parts += [Part("battery", 1.8, outline=rect(6.5, 1.8, cx=-1.2, cy=(i - (n - 1) / 2) * 1.9), profile="round")
                  for i in range(n)]
    else:
        parts.append(Part("battery", depth - 0.4, outline=rect(w - 3.0, h - 0.6, cx=-1.2)))
    parts.append(Part("pcb", 0.12, outline=rect(2.0, h - 0.5, cx=w / 2 - 1.4)))
    parts.append(Part("steel", 0.1, outline=rect(1.4, 1.2, cx=w / 2 - 0.8)))  # USB socket shell
    return centred("power_bank", parts, {"w_cm": w, "h_cm": h, "cells": n, "cylindrical_cells": cylindrical,
                                         "case": case})


def _plug(end: np.ndarray, toward: np.ndarray, kind: str) -> list[Part]:
    """A moulded plug at a cable end, pointing away from the cable: plastic body and steel shell."""
    angle = float(np.rad2deg(np.arctan2(*(end - toward)[::-1])))
    body_l, shell_l, shell_w = {"usb_a": (2.5, 1.3, 1.2), "usb_c": (2.0, 0.9, 0.85), "barrel": (3.0, 1.0, 0.55)}[kind]
    u = np.float32([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])
    c_body, c_shell = end + u * body_l / 2, end + u * (body_l + shell_l / 2)
    return [Part("plastic", 0.8, outline=rect(body_l, 1.4, cx=c_body[0], cy=c_body[1], angle_deg=angle),
                 profile="round"),
            Part("steel", 0.12, outline=rect(shell_l, shell_w, cx=c_shell[0], cy=c_shell[1], angle_deg=angle))]


def make_cable(rng: np.random.Generator) -> ObjectModel:
    """A charging or mains cable, 40-200 cm, loose or coiled: copper core in a plastic jacket, two plugs."""
    length = uniform(rng, 40, 200)
    coiled = bool(length > 100 or rng.random() < 0.4)  # long cables get wound up before packing
    if coiled:
        radius = uniform(rng, 3.5, 8.0)
        path = coil_path(rng, radius, turns=max(1.5, 0.7 * length / (2 * np.pi * radius)), tail_cm=12.0)
    else:  # bends every few tens of cm, as a cable pushed into a bag does
        path = smooth_path(rng, length, step=1.5, curvature=uniform(rng, 0.06, 0.2))
    jacket, core = uniform(rng, 0.35, 0.6), uniform(rng, 0.1, 0.2)
    plugs = [str(rng.choice(["usb_a", "usb_c", "barrel"])) for _ in range(2)]
    parts = wire(path, jacket_cm=jacket, core_cm=core)
    parts += _plug(path[0], path[1], plugs[0]) + _plug(path[-1], path[-2], plugs[1])
    return centred("cable", parts, {"length_cm": length, "coiled": coiled, "jacket_cm": jacket, "core_cm": core,
                                    "plugs": plugs})


def _earbud(cx: float, cy: float, angle: float) -> list[Part]:
    """One earbud: a plastic shell around a steel driver magnet."""
    return [Part("plastic", 1.6, outline=ellipse(1.1, 0.9, cx=cx, cy=cy, angle_deg=angle), profile="round"),
            Part("steel", 0.25, outline=disk(0.8, cx=cx, cy=cy, n=12))]


def make_earphones(rng: np.random.Generator) -> ObjectModel:
    """Wired earphones on a thin cable, or a wireless case (5-7 cm) with two buds and a cell."""
    wired = bool(rng.random() < 0.45)
    if wired:
        path = smooth_path(rng, uniform(rng, 60, 120), curvature=0.3)  # tangled
        branch = smooth_path(rng, uniform(rng, 15, 30), curvature=0.3, start=tuple(path[len(path) // 5]))
        parts = wire(path, jacket_cm=0.2, core_cm=0.06) + wire(branch, jacket_cm=0.2, core_cm=0.06)
        parts += _earbud(*path[0], 0.0) + _earbud(*branch[-1], 40.0)
        parts.append(Part("brass", 0.35, outline=rect(1.6, 0.35, cx=path[-1][0], cy=path[-1][1]), profile="round"))
    else:
        w, h = uniform(rng, 5, 7), uniform(rng, 4, 5)
        parts = box_shell(rounded_rect(w, h, 1.5), material="plastic", plate_cm=0.3, wall_cm=0.15, depth_cm=2.5)
        parts += _earbud(-0.25 * w, 0.1 * h, 20.0) + _earbud(0.25 * w, 0.1 * h, -20.0)
        parts.append(Part("battery", 0.45, outline=rect(0.6 * w, 0.3 * h, cy=-0.3 * h)))
    return centred("earphones", parts, {"wired": wired})


def make_batteries(rng: np.random.Generator) -> ObjectModel:
    """2-6 AA or AAA dry cells, packed or loose: steel can, dense core, brass collector pin."""
    size = str(rng.choice(["AA", "AAA"], p=[0.65, 0.35]))
    length, d = (5.0, 1.45) if size == "AA" else (4.45, 1.05)
    n = int(rng.integers(2, 7))
    packed = bool(rng.random() < 0.5)
    parts: list[Part] = []
    for i in range(n):
        if packed:
            cx, cy, angle = 0.0, (i - (n - 1) / 2) * (d + 0.05), 0.0
        else:
            cx, cy, angle = uniform(rng, -4, 4), uniform(rng, -4, 4), uniform(rng, 0, 180)
        cell = [Part("steel", d, outline=rect(length, d), profile="tube", wall_cm=0.025),
                Part("battery", d - 0.06, outline=rect(length - 0.3, d - 0.06), profile="round"),
                stroke("brass", np.float32([[-0.35 * length, 0], [0.3 * length, 0]]), 0.12)]
        parts += moved(cell, angle_deg=angle, dx=cx, dy=cy)
    return centred("batteries", parts, {"size": size, "count": n, "packed": packed})
