"""Benign electronics: laptops, tablets, phones, chargers, power banks, cables,
earphones and dry cells.

Electronics are what makes real bags hard: battery cells, transformer
windings and circuit boards absorb like metal over large areas and hide what
lies under them, and a populated board is a field of small dark specks
(chips, capacitors, screws) a detector must not mistake for parts of a gun.
Sizes and thicknesses follow real devices; the chassis long axis is x.

A board holds a hundred components, but the renderer pays per part, so each
kind of component is one ``outlines.joined`` polygon: its pieces joined by
bridges the renderer draws 1 px wide, which read as the traces and wires
between them.
"""

from __future__ import annotations

import math

import numpy as np

from training.synth.clutter_shapes import (
    box_shell,
    centred,
    closed,
    coil_path,
    disk,
    moved,
    smooth_path,
    stroke,
    uniform,
    wire,
)
from training.synth.outlines import comb, discs, joined, rects
from training.synth.parts import ObjectModel, Part, ellipse, rect, rounded_rect

__all__ = ["board", "make_batteries", "make_cable", "make_charger", "make_earphones", "make_laptop", "make_phone",
           "make_power_bank", "make_tablet", "meander"]


def board(rng: np.random.Generator, w: float, h: float, *, cx: float = 0.0, cy: float = 0.0, pitch: float = 1.2,
          mix: tuple[float, float, float, float] = (0.3, 0.5, 0.1, 0.1), screws: bool = True) -> list[Part]:
    """A populated circuit board, w x h cm, in at most five parts whatever its size.

    The board is a grid of ``pitch`` cm cells, each holding, with the
    probabilities in ``mix``, a chip (leadframe, die and solder as copper), a
    cluster of SMD passives (nickel electrodes as steel), an electrolytic
    capacitor standing up (rolled aluminium foil) or nothing; screws hold the
    corners unless ``screws`` is False.
    """
    nx, ny = max(int(w / pitch), 1), max(int(h / pitch), 1)
    pw, ph = w / nx, h / ny
    iy, ix = np.divmod(np.arange(nx * ny), nx)
    ix = np.where(iy % 2 == 1, nx - 1 - ix, ix)  # snake order keeps the bridges short
    xs, ys = cx - w / 2 + (ix + 0.5) * pw, cy - h / 2 + (iy + 0.5) * ph
    what = rng.choice(4, size=xs.size, p=mix)
    what[(ix % (nx - 1 or 1) == 0) & (iy % (ny - 1 or 1) == 0)] = 3  # corners keep clear for the screws
    parts = [Part("pcb", uniform(rng, 0.1, 0.16), outline=rect(w, h, cx=cx, cy=cy))]
    k = what == 0
    if k.any():
        cw, ch = rng.uniform(0.35, 0.85, (2, k.sum())) * np.float32([[pw], [ph]])
        parts.append(Part("copper", uniform(rng, 0.03, 0.05), outline=joined(rects(xs[k], ys[k], cw, ch))))
    k = what == 1
    if k.any():  # three 0402-1206 parts per cluster cell, at fixed sub-positions
        sub = np.float32([[-0.25, -0.25], [0.25, -0.2], [0.0, 0.25]]) * np.float32([pw, ph])
        px, py = (xs[k][:, None] + sub[:, 0]).ravel(), (ys[k][:, None] + sub[:, 1]).ravel()
        long, short = rng.uniform(0.1, 0.32, px.size), rng.uniform(0.05, 0.16, px.size)
        turn = rng.random(px.size) < 0.5
        parts.append(Part("steel", uniform(rng, 0.04, 0.07),
                          outline=joined(rects(px, py, np.where(turn, short, long), np.where(turn, long, short)))))
    k = what == 2
    if k.any():  # rolled foil: about a third of the can's height is aluminium
        d = rng.uniform(0.45, 0.8, k.sum()) * min(pw, ph)
        parts.append(Part("aluminium", uniform(rng, 0.3, 0.6), outline=joined(discs(xs[k], ys[k], d))))
    if not screws:
        return parts
    sx, sy = w / 2 - min(0.35, pw / 2), h / 2 - min(0.35, ph / 2)
    parts.append(Part("steel", 0.4, outline=joined(discs(cx + np.float32([-sx, sx, sx, -sx]),
                                                         cy + np.float32([-sy, -sy, sy, sy]), 0.3, n=8))))
    return parts


def _cells(rng: np.random.Generator, n: int, *, span: float, depth: float, cy: float,
           cylindrical: bool) -> list[Part]:
    """A row of n Li-ion cells side by side across `span` cm: 18650 cans or flat pouches, one part each kind."""
    pitch = span / n
    xs = -span / 2 + pitch * (np.arange(n) + 0.5)
    if cylindrical:  # 18650 cells lie on their side: a steel can around 1.8 cm of cell
        return [Part("steel", 1.8, outline=joined(rects(xs, cy, 1.8, 6.5)), profile="tube", wall_cm=0.025),
                Part("battery", 1.75, outline=joined(rects(xs, cy, 1.75, 6.4)), profile="round")]
    cells = joined(rects(xs, cy, pitch - 0.3, depth))
    # the nickel tabs and the protection strip along one end of the pack
    tabs = joined(rects(xs, cy + depth / 2 + 0.35, 0.5, 0.7))
    return [Part("battery", uniform(rng, 0.45, 0.7), outline=cells), Part("steel", 0.02, outline=tabs)]


def make_laptop(rng: np.random.Generator) -> ObjectModel:
    """A closed laptop, 30-40 x 19-28 cm: shell, display, keyboard, board, cells, cooling, speakers, hinges."""
    w = uniform(rng, 30, 40)
    h = w * uniform(rng, 0.63, 0.7)
    depth = uniform(rng, 1.4, 2.4)
    shell = str(rng.choice(["aluminium", "plastic"], p=[0.6, 0.4]))
    skin = uniform(rng, 0.08, 0.15) if shell == "aluminium" else uniform(rng, 0.15, 0.25)
    cylindrical = bool(rng.random() < 0.3)
    n_cells = int(rng.integers(3, 7)) if cylindrical else int(rng.integers(2, 5))
    # front (palm rest, y < 0) holds the cells, the back half the board and cooling; hinges on the back edge
    parts = box_shell(rounded_rect(w, h, 1.0), material=shell, plate_cm=2 * skin, wall_cm=skin, depth_cm=depth)
    parts.append(Part("glass", uniform(rng, 0.1, 0.2), outline=rect(w - 2.0, h - 2.0)))
    parts.append(_keyboard(rng, 0.85 * w, 0.36 * h, cy=0.1 * h))
    parts.append(Part("steel", 0.05, outline=rect(0.35 * w, 0.22 * h, cy=-0.3 * h)))  # trackpad stiffener
    parts += _cells(rng, n_cells, span=0.75 * w, depth=0.3 * h, cy=-0.28 * h, cylindrical=cylindrical)
    bw, bh = uniform(rng, 0.45, 0.65) * w, uniform(rng, 0.26, 0.34) * h
    bx = uniform(rng, -0.5, 0.5) * (w - bw - 8.0) / 2 - 3.0
    by = h / 2 - 1.5 - bh / 2
    parts += board(rng, bw, bh, cx=bx, cy=by, pitch=uniform(rng, 0.9, 1.4), mix=(0.3, 0.5, 0.05, 0.15))
    # processor under a copper plate; two flattened heat pipes run to a fin stack at the fan's outlet
    fan = uniform(rng, 5.0, 7.0)
    fx, fy = min(bx + bw / 2 + fan / 2 + 0.5, w / 2 - fan / 2 - 2.0), by
    px, py = bx - bw / 6, by
    parts.append(Part("copper", 0.1, outline=rect(3.2, 3.2, cx=px, cy=py)))
    fins_y = fy + fan / 2 + 0.6
    pipe = np.float32([[px, py - 0.5], [fx - fan / 2, fins_y - 0.4], [fx + fan / 2, fins_y - 0.4],
                       [fx + fan / 2, fins_y + 0.4], [fx - fan / 2, fins_y + 0.4], [px, py + 0.5]])
    parts.append(stroke("copper", pipe, 0.6, uniform(rng, 0.06, 0.1), profile="flat"))
    fins = comb(fx - fan / 2 + np.arange(0.0, fan, 0.25), fins_y, fins_y + 1.2)
    parts.append(stroke("aluminium", fins, 0.08, 0.6, profile="flat"))  # thin fins seen edge-on
    parts += [Part("plastic", 0.5, outline=disk(fan, cx=fx, cy=fy)),
              Part("steel", 0.5, outline=disk(1.4, cx=fx, cy=fy, n=12))]
    # speakers in the front corners: plastic boxes with neodymium magnets
    sx = np.float32([-1, 1]) * (w / 2 - 2.5)
    parts.append(Part("plastic", 1.0, outline=joined(rects(sx, -h / 2 + 2.5, 3.0, 2.0))))
    parts.append(Part("steel", 0.35, outline=joined(rects(sx, -h / 2 + 2.5, 1.2, 0.7))))
    # hinges, side ports and the screws along the rim, all steel about as deep; their bridges run in the wall
    hinge_w = uniform(rng, 2.0, 3.5)
    ports = np.sort(rng.uniform(-0.3, 0.3, 3) * h)
    xw, yw = w / 2 - 0.3, h / 2 - 0.3  # where the rounded corners' wall crosses the screw line
    right = [np.roll(rect(1.0, 1.3, cx=w / 2 - 0.5, cy=float(ports[2])), -1, 0), np.float32([[xw, yw]])]
    hinges = [np.roll(rect(hinge_w, 1.2, cx=s * (w / 2 - 3.5), cy=h / 2 - 0.7), -2, 0) for s in (1, -1)]
    left = [np.float32([[-xw, yw]]), *[rect(1.0, 1.3, cx=-(w / 2 - 0.5), cy=float(y)) for y in ports[1::-1]]]
    parts.append(Part("steel", uniform(rng, 0.35, 0.6), outline=joined(right + hinges + left)))
    xs = np.linspace(-(w / 2 - 1.5), w / 2 - 1.5, int(rng.integers(3, 6)))
    rim = [*discs(xs, -yw, 0.35, n=8), np.float32([[xw, -yw]]), np.float32([[xw, yw]]), *discs(xs[::-1], yw, 0.35, n=8)]
    parts.append(Part("steel", 0.5, outline=joined(rim)))
    meta = {"w_cm": w, "h_cm": h, "depth_cm": depth, "shell": shell, "skin_cm": skin, "cells": n_cells,
            "cylindrical_cells": cylindrical}
    return centred("laptop", parts, meta)


def _keyboard(rng: np.random.Generator, w: float, h: float, *, cy: float) -> Part:
    """The keyboard's backplate: a sheet with a hole under every key, which is what shows as a grid."""
    cols, rows = int(w / 1.9), int(h / 1.9)
    pw, ph = w / cols, h / rows
    iy, ix = np.divmod(np.arange(cols * rows), cols)
    holes = rects(-w / 2 + (ix + 0.5) * pw, cy - h / 2 + (iy + 0.5) * ph, pw - 0.4, ph - 0.4)[:, ::-1]
    return Part(str(rng.choice(["steel", "aluminium"])), 0.06, outline=joined([rect(w, h, cy=cy), *holes]))


def make_tablet(rng: np.random.Generator) -> ObjectModel:
    """A tablet, 17-28 x 12-20 cm: metal back and frame, glass front, two flat cells, a board, magnets."""
    w = uniform(rng, 17, 28)
    h = w * uniform(rng, 0.66, 0.75)
    depth = uniform(rng, 0.6, 0.9)
    back = str(rng.choice(["aluminium", "plastic"], p=[0.75, 0.25]))
    outline = rounded_rect(w, h, 1.0)
    parts = box_shell(outline, material=back, plate_cm=0.08 if back == "aluminium" else 0.15, wall_cm=0.25,
                      depth_cm=depth)
    parts.append(Part("glass", uniform(rng, 0.1, 0.15), outline=rect(w - 0.4, h - 0.4)))
    parts += _cells(rng, 2, span=0.6 * w, depth=0.75 * h, cy=0.0, cylindrical=False)
    parts += board(rng, 0.16 * w, 0.8 * h, cx=0.38 * w, pitch=uniform(rng, 0.7, 1.0), mix=(0.35, 0.5, 0.0, 0.15))
    # speaker magnets in the corners; on the left the row of magnets that holds a cover, on the right the camera
    n_mag = int(rng.integers(6, 12))
    sx, sy = w / 2 - 1.5, h / 2 - 1.5
    left = [rect(1.5, 1.0, cx=-sx, cy=-sy), *rects(-w / 2 + 0.6, np.linspace(-0.35, 0.35, n_mag) * h, 0.5, 0.6),
            rect(1.5, 1.0, cx=-sx, cy=sy)]
    right = [rect(1.5, 1.0, cx=sx, cy=-sy), disk(1.0, cx=sx - 1.5, cy=sy - 0.5, n=12), rect(1.5, 1.0, cx=sx, cy=sy)]
    parts += [Part("steel", 0.3, outline=joined(left)), Part("steel", 0.3, outline=joined(right))]
    return centred("tablet", parts, {"w_cm": w, "h_cm": h, "depth_cm": depth, "back": back})


def _spiral(r0: float, r1: float, turns: float, *, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    """A flat spiral from radius r0 out to r1 (a charging coil, a speaker's voice coil seen from above)."""
    t = np.linspace(0, 2 * np.pi * turns, int(turns * 20))
    r = np.linspace(r0, r1, t.size)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).astype(np.float32)


def make_phone(rng: np.random.Generator) -> ObjectModel:
    """A smartphone, 13.5-16.5 x 6.5-7.8 cm: metal frame, glass faces, a cell, a populated board, cameras."""
    w, h = uniform(rng, 13.5, 16.5), uniform(rng, 6.5, 7.8)
    depth = uniform(rng, 0.75, 0.95)
    frame = str(rng.choice(["aluminium", "steel"], p=[0.75, 0.25]))
    outline = rounded_rect(w, h, 0.9)
    parts = [stroke(frame, closed(outline), 0.3, 0.85 * depth, profile="flat"),
             Part("glass", uniform(rng, 0.12, 0.18), outline=outline),  # front and back glass together
             Part("battery", uniform(rng, 0.45, 0.6), outline=rounded_rect(0.55 * w, 0.8 * h, 0.4, cx=-0.12 * w))]
    bx = 0.3 * w
    parts += board(rng, 0.3 * w, 0.8 * h, cx=bx, pitch=uniform(rng, 0.45, 0.7), mix=(0.4, 0.5, 0.0, 0.1))
    # RF shields and the SIM tray; camera modules (lenses in voice-coil magnets); at the bottom end the
    # speaker and vibration-motor magnets beside the port
    parts.append(Part("steel", 0.03, outline=joined([*rects(bx, np.float32([-0.2, 0.2]) * h, 0.25 * w, 0.35 * h),
                                                     rect(1.6, 0.4, cx=bx, cy=h / 2 - 0.3)])))
    parts.append(Part("steel", uniform(rng, 0.3, 0.4), outline=joined(discs(w / 2 - 1.2, h / 2 - 1.2 - np.float32(
        [0.0, 1.2]), 1.0, n=12))))
    parts.append(Part("steel", 0.35, outline=joined([rect(1.4, 1.0, cx=-w / 2 + 1.2, cy=-h / 2 + 1.2),
                                                     rect(0.9, 0.5, cx=-w / 2 + 0.5), rect(1.2, 0.7, cx=-w / 2 + 1.0,
                                                                                           cy=0.25 * h)])))
    coil = bool(rng.random() < 0.5)
    if coil:  # wireless charging coil: a flat copper spiral under the back glass
        parts.append(stroke("copper", _spiral(0.8, 2.0, 8, cx=-0.12 * w), 0.12, 0.03, profile="flat"))
    return centred("phone", parts, {"w_cm": w, "h_cm": h, "depth_cm": depth, "frame": frame, "coil": coil})


def _transformer(rng: np.random.Generator, size: float, depth: float, *, cx: float) -> list[Part]:
    """An E-I core (steel laminations, or ferrite as less steel) with its copper winding in the two windows."""
    laminated = bool(rng.random() < 0.4)
    win_w, win_h = 0.22 * size, 0.6 * size
    windows = rects(cx + np.float32([-0.27, 0.27]) * size, 0.0, win_w, win_h)
    core = joined([rect(size, 0.85 * size, cx=cx), *windows[:, ::-1]])
    t = 0.45 * depth if laminated else 0.25 * depth  # ferrite: iron oxide at about half the iron of steel
    parts = [Part("steel", t, outline=core),
             Part("copper", 0.25 * depth, outline=joined(rects(windows[:, 0, 0] + win_w / 2, 0.0, win_w * 0.9,
                                                              win_h * 0.9)), profile="round")]
    if laminated:  # stacked sheets seen edge-on show faint seams
        seams = comb(np.linspace(-0.4, 0.4, 9) * size, cx - size / 2, cx + size / 2)[:, ::-1]
        parts.append(stroke("steel", np.ascontiguousarray(seams), 0.05, 0.3 * depth, profile="flat"))
    return parts


def make_charger(rng: np.random.Generator) -> ObjectModel:
    """A wall charger (4-6 cm) or a laptop power brick (10-15 cm): case, transformer, capacitors, board."""
    brick = bool(rng.random() < 0.5)
    w = uniform(rng, 10, 15) if brick else uniform(rng, 4, 6)
    h = w * uniform(rng, 0.45, 0.55) if brick else w * uniform(rng, 0.8, 1.0)
    depth = uniform(rng, 2.5, 3.3)
    parts = box_shell(rounded_rect(w, h, 0.6), material="plastic", plate_cm=0.4, wall_cm=0.2, depth_cm=depth)
    core = min(0.35 * w, 0.7 * h, 3.2)
    cx = -w / 2 + 0.4 + core * 0.6
    parts += board(rng, w - 0.8, h - 0.8, pitch=0.6 if brick else 0.45, mix=(0.1, 0.3, 0.0, 0.6),
                   screws=False)
    parts += _transformer(rng, core, depth, cx=cx)
    # bulk electrolytic capacitors lying down: aluminium cans around rolled foil
    n_caps = int(rng.integers(1, 3)) if brick else 1
    cap_d, cap_l = min(1.6, 0.35 * h), min(2.5, 0.3 * w)
    ys = (np.arange(n_caps) - (n_caps - 1) / 2) * (cap_d + 0.2)
    caps = joined(rects(cx + core / 2 + 0.3 + cap_l / 2, ys, cap_l, cap_d))
    parts += [Part("aluminium", cap_d, outline=caps, profile="tube", wall_cm=0.03),
              Part("aluminium", 0.4 * cap_d, outline=caps, profile="round")]
    wound = False
    if brick:  # heatsink plates bent round the switching parts; the output cable maybe wound round the brick
        parts.append(stroke("aluminium", closed(rect(0.25 * w, 0.6 * h, cx=0.32 * w)), 0.15, 0.8 * depth,
                            profile="flat"))
        wound = bool(rng.random() < 0.5)
        if wound:
            loops = _wound(rng, w, h + 0.8, turns=uniform(rng, 2.0, 5.0))
            parts += wire(loops, jacket_cm=0.45, core_cm=0.15) + _plug(loops[-1], loops[-2], "barrel")
        else:  # a detachable cable: only the moulded socket shows
            parts.append(Part("brass", 0.3, outline=joined(rects(w / 2 - 0.6, np.float32([-0.3, 0.3]), 0.8, 0.2))))
    else:  # mains prongs folded against the case
        parts.append(Part("brass", 0.15, outline=joined(rects(w / 2 - 1.0, np.float32([-0.25, 0.25]) * h, 1.8, 0.6))))
    return centred("charger", parts, {"w_cm": w, "h_cm": h, "depth_cm": depth, "brick": brick, "wound": wound})


def _wound(rng: np.random.Generator, w: float, h: float, *, turns: float) -> np.ndarray:
    """A cable wound round the middle of a w x h brick: seen from above, every turn crosses it twice."""
    n = max(int(2 * turns), 2)
    xs = (np.arange(n + 1) - n / 2) * uniform(rng, 0.5, 0.9) + rng.normal(0, 0.15, n + 1)
    ys = np.where(np.arange(n + 1) % 2 == 0, -h / 2, h / 2)
    path = np.stack([xs, ys], 1)
    tail = np.float32([[xs[-1] + 1.0, ys[-1] * 0.6], [0.3 * w, ys[-1] * 0.2]])  # the end tucked under the turns
    return np.concatenate([path, tail]).astype(np.float32)


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
    if cylindrical:  # cells lie along the case, side by side, joined by nickel strips at the ends
        ys = (np.arange(n) - (n - 1) / 2) * 1.9
        cans = joined(rects(-1.2, ys, 6.5, 1.8))
        parts += [Part("steel", 1.8, outline=cans, profile="tube", wall_cm=0.025),
                  Part("battery", 1.75, outline=joined(rects(-1.2, ys, 6.4, 1.75)), profile="round"),
                  Part("steel", 0.03, outline=joined(rects(np.float32([-4.5, 2.1]), 0.0, 0.3, 1.9 * n - 0.2)))]
    else:
        parts += [Part("battery", depth - 0.4, outline=rect(w - 3.0, h - 0.6, cx=-1.2)),
                  Part("steel", 0.03, outline=joined(rects(w / 2 - 2.9, np.float32([-0.2, 0.2]) * h, 0.8, 0.5)))]
    parts += board(rng, 2.0, h - 0.5, cx=w / 2 - 1.4, pitch=0.5, mix=(0.3, 0.4, 0.0, 0.3), screws=False)
    parts.append(Part("steel", 0.15, outline=joined(rects(w / 2 - 0.7, np.float32([-0.25, 0.25]) * h, 1.4, 0.7))))
    return centred("power_bank", parts, {"w_cm": w, "h_cm": h, "cells": n, "cylindrical_cells": cylindrical,
                                         "case": case})


def meander(rng: np.random.Generator, length: float, half_w: float, half_h: float, *, step: float = 1.5,
            curvature: float = 0.12) -> np.ndarray:
    """A smooth random path of ``length`` cm that stays in a 2 half_w x 2 half_h box, as a cable in a bag.

    It bends like ``smooth_path`` and turns back smoothly where it meets the
    box, so a long cable loops across the whole bag instead of leaving it.
    """
    n = max(int(length / step), 2)
    s = np.arange(n) * step
    kappa = np.zeros(n)
    for _ in range(3):
        kappa += rng.normal(0.0, curvature) * np.sin(2 * np.pi * s / rng.uniform(8.0, 60.0) + rng.uniform(0, 7))
    heading, x, y = float(rng.uniform(0, 2 * np.pi)), 0.0, 0.0
    xy = [(x, y)]
    for k in (kappa * step).tolist():  # scalar math: a numpy call per step would cost 10x more
        # steer toward the centre, harder the further past the box's inner 70 % the path is
        over = max(abs(x) / half_w, abs(y) / half_h) - 0.7
        if over > 0:
            turn = (math.atan2(-y, -x) - heading + math.pi) % (2 * math.pi) - math.pi
            heading += math.copysign(min(abs(turn), 1.5 * over * step), turn)
        heading += k
        x, y = x + step * math.cos(heading), y + step * math.sin(heading)
        xy.append((x, y))
    return np.asarray(xy, np.float32)


def _plug(end: np.ndarray, toward: np.ndarray, kind: str) -> list[Part]:
    """A moulded plug at a cable end, pointing away from the cable: plastic body and metal contacts."""
    angle = float(np.rad2deg(np.arctan2(*(end - toward)[::-1])))
    body_l, body_w, shell_l, shell_w = {"usb_a": (2.5, 1.4, 1.3, 1.2), "usb_c": (2.0, 1.2, 0.9, 0.85),
                                        "barrel": (3.0, 1.2, 1.0, 0.55), "mains": (4.0, 3.2, 1.6, 0.45)}[kind]
    u = np.float32([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])
    v = np.float32([-u[1], u[0]])
    c_body, c_shell = end + u * body_l / 2, end + u * (body_l + shell_l / 2)
    body = Part("plastic", 0.6 * body_w, outline=rect(body_l, body_w, cx=c_body[0], cy=c_body[1], angle_deg=angle),
                profile="round")
    if kind == "mains":  # two brass pins standing out of the moulding
        pins = [rect(shell_l, shell_w, cx=c[0], cy=c[1], angle_deg=angle) for c in (c_shell - 0.9 * v,
                                                                                      c_shell + 0.9 * v)]
        return [body, Part("brass", shell_w, outline=joined(pins), profile="round")]
    return [body, Part("steel", 0.12, outline=rect(shell_l, shell_w, cx=c_shell[0], cy=c_shell[1], angle_deg=angle))]


def _cut(path: np.ndarray, length: float) -> np.ndarray:
    """The polyline cut where its length reaches ``length`` cm (unchanged if it is shorter)."""
    run = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    if run[-1] <= length:
        return path
    i = int(np.searchsorted(run, length))
    f = (length - run[i - 1]) / max(run[i] - run[i - 1], 1e-9)
    return np.concatenate([path[:i], path[i - 1:i] + f * (path[i:i + 1] - path[i - 1:i])]).astype(np.float32)


def make_cable(rng: np.random.Generator) -> ObjectModel:
    """A charging or mains cable, 50-200 cm, looping loose across a bag, wound up, or half of each."""
    length = uniform(rng, 50, 200)
    lay = str(rng.choice(["loose", "coiled", "half"], p=[0.45, 0.3, 0.25]))
    box = uniform(rng, 12, 25), uniform(rng, 8, 16)  # half the space a loose cable spreads over in a bag
    # coils are drawn with turns to spare and cut to length: a coil's length depends on its squash and tails
    if lay == "coiled":
        radius = uniform(rng, 3.5, 8.0)
        path = coil_path(rng, radius, turns=max(1.5, length / (4.5 * radius)), tail_cm=12.0)
    elif lay == "half":  # wound up once, then unravelled: a coil with a long loose end
        radius = uniform(rng, 3.5, 6.0)
        coil = coil_path(rng, radius, turns=max(1.5, 0.5 * length / (4.5 * radius)), tail_cm=3.0)
        path = np.concatenate([coil, meander(rng, length, *box) + coil[-1]])
    else:
        path = meander(rng, length, *box, curvature=uniform(rng, 0.06, 0.2))
    path = _cut(path, length)
    mains = bool(rng.random() < 0.25)
    jacket, core = (uniform(rng, 0.6, 0.8), uniform(rng, 0.25, 0.35)) if mains else (uniform(rng, 0.3, 0.5),
                                                                                   uniform(rng, 0.1, 0.18))
    plugs = ["mains", str(rng.choice(["barrel", "usb_c"]))] if mains else [
        str(rng.choice(["usb_a", "usb_c", "barrel"])) for _ in range(2)]
    parts = wire(path, jacket_cm=jacket, core_cm=core)
    parts += _plug(path[0], path[1], plugs[0]) + _plug(path[-1], path[-2], plugs[1])
    if rng.random() < 0.25:  # a ferrite bead clamped near one plug
        i = min(8, len(path) - 2)
        c, d = path[i], path[i + 1] - path[i]
        bead = rect(3.0, 1.6, cx=c[0], cy=c[1], angle_deg=float(np.rad2deg(np.arctan2(d[1], d[0]))))
        parts.append(Part("steel", 0.5, outline=bead, profile="round"))
    length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())
    return centred("cable", parts, {"length_cm": length, "lay": lay, "coiled": lay != "loose", "jacket_cm": jacket,
                                    "core_cm": core, "plugs": plugs, "mains": mains})


def _earbud(cx: float, cy: float, angle: float) -> list[Part]:
    """One earbud: a plastic shell and nozzle around a driver (a magnet in its steel pot)."""
    t = np.deg2rad(angle)
    nozzle = (cx + 1.1 * np.cos(t), cy + 1.1 * np.sin(t))
    return [Part("plastic", 1.6, outline=ellipse(1.1, 0.9, cx=cx, cy=cy, angle_deg=angle), profile="round"),
            Part("plastic", 0.6, outline=rect(0.9, 0.6, cx=nozzle[0], cy=nozzle[1], angle_deg=angle)),
            Part("steel", 0.25, outline=joined([disk(0.95, cx=cx, cy=cy, n=12), disk(0.8, cx=cx, cy=cy, n=12)[::-1],
                                                disk(0.6, cx=cx, cy=cy, n=10)]))]


def make_earphones(rng: np.random.Generator) -> ObjectModel:
    """Wired earphones on thin leads, a wireless case (5-7 cm) with two buds, or folded headphones."""
    style = str(rng.choice(["wired", "case", "headphones"], p=[0.45, 0.4, 0.15]))
    if style == "wired":
        path = meander(rng, uniform(rng, 80, 130), uniform(rng, 6, 14), uniform(rng, 5, 10), step=0.8,
                       curvature=0.35)  # tangled
        branch = smooth_path(rng, uniform(rng, 15, 30), curvature=0.3, start=tuple(path[len(path) // 5]))
        parts = wire(path, jacket_cm=0.2, core_cm=0.06) + wire(branch, jacket_cm=0.2, core_cm=0.06)
        parts += _earbud(*path[0], 0.0) + _earbud(*branch[-1], 40.0)
        remote = path[len(path) // 3]
        parts += [Part("plastic", 0.6, outline=rect(2.2, 0.8, cx=remote[0], cy=remote[1]), profile="round"),
                  Part("pcb", 0.08, outline=rect(1.6, 0.5, cx=remote[0], cy=remote[1]))]
        end, prev = path[-1], path[-3]
        angle = float(np.rad2deg(np.arctan2(*(end - prev)[::-1])))
        plug = end + 1.2 * (end - prev) / max(float(np.linalg.norm(end - prev)), 1e-6)
        parts.append(Part("brass", 0.35, outline=rect(1.6, 0.35, cx=plug[0], cy=plug[1], angle_deg=angle),
                          profile="round"))
    elif style == "case":
        w, h = uniform(rng, 5, 7), uniform(rng, 4, 5)
        parts = box_shell(rounded_rect(w, h, 1.5), material="plastic", plate_cm=0.3, wall_cm=0.15, depth_cm=2.5)
        parts += _earbud(-0.25 * w, 0.1 * h, 20.0) + _earbud(0.25 * w, 0.1 * h, -20.0)
        parts.append(Part("battery", 0.45, outline=rect(0.6 * w, 0.3 * h, cy=-0.3 * h)))
        parts += board(rng, 0.5 * w, 0.12 * h, cy=-0.1 * h, pitch=0.3, mix=(0.3, 0.4, 0.0, 0.3), screws=False)
        # the lid hinge pin and the magnets that hold the lid and the buds
        parts.append(stroke("steel", np.float32([[-0.3 * w, h / 2 - 0.3], [0.3 * w, h / 2 - 0.3]]), 0.15))
        parts.append(Part("steel", 0.3, outline=joined(rects(np.float32([-0.35, 0.35]) * w, -0.05 * h, 0.4, 0.4))))
    else:
        parts = _headphones(rng)
    return centred("earphones", parts, {"wired": style == "wired", "style": style})


def _headphones(rng: np.random.Generator) -> list[Part]:
    """Folded over-ear headphones: two cups with big driver magnets under a spring-steel band."""
    r = uniform(rng, 3.5, 4.5)
    gap = uniform(rng, 2.0, 5.0)
    cups = [(s * (r + gap / 2), 0.0) for s in (-1, 1)]
    parts = []
    for x, y in cups:
        parts += [Part("plastic", 3.0, outline=disk(2 * r, cx=x, cy=y, n=24), profile="tube", wall_cm=0.3),
                  Part("foam", 2.0, outline=disk(2 * r - 0.5, cx=x, cy=y, n=24))]
    parts += [Part("steel", 0.5, outline=disk(2.0, cx=x, cy=y, n=14)) for x, y in cups]
    band = np.float32([[cups[0][0], r], [cups[0][0] - 0.5 * r, r + 3.0], [0, r + 5.0],
                       [cups[1][0] + 0.5 * r, r + 3.0], [cups[1][0], r]])
    parts += [stroke("plastic", band, 2.0, 1.0), stroke("steel", band, 0.6, 0.1, profile="flat")]
    return parts


def make_batteries(rng: np.random.Generator) -> ObjectModel:
    """2-6 AA or AAA dry cells, packed or loose: steel can, dense core, brass collector pin, positive nub."""
    size = str(rng.choice(["AA", "AAA"], p=[0.65, 0.35]))
    length, d = (5.0, 1.45) if size == "AA" else (4.45, 1.05)
    n = int(rng.integers(2, 7))
    packed = bool(rng.random() < 0.5)
    if packed:  # side by side: every kind of piece is one joined part
        groups = [((np.arange(n) - (n - 1) / 2) * (d + 0.05), 0.0, 0.0, 0.0)]
    else:
        groups = [(np.zeros(1), uniform(rng, -4, 4), uniform(rng, -4, 4), uniform(rng, 0, 180)) for _ in range(n)]
    parts: list[Part] = []
    for ys, x, y, angle in groups:
        cell = [Part("steel", d, outline=joined(rects(0.0, ys, length, d)), profile="tube", wall_cm=0.025),
                Part("battery", d - 0.06, outline=joined(rects(0.0, ys, length - 0.3, d - 0.06)), profile="round"),
                Part("brass", 0.12, outline=joined(rects(-0.025 * length, ys, 0.65 * length, 0.12))),
                Part("steel", 0.25, outline=joined(rects(length / 2 + 0.05, ys, 0.15, 0.5)))]
        parts += moved(cell, angle_deg=angle, dx=x, dy=y)
    return centred("batteries", parts, {"size": size, "count": n, "packed": packed})
