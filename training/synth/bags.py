"""Bags and trays: the containers that clutter and threats are packed into.

A bag is an ObjectModel of its own structure (shell, frame, handles, wheels,
zips) plus the interior polygon where contents go, both in cm with the
origin at the bag's centre and the long axis along x. Bags lie flat on the
belt, so they are not tilted.

Why bag edges look dark: the beam crosses the top and bottom faces once each,
but near the edge it runs through the curved shell at a grazing angle and
along the vertical side walls for their whole height. We model the faces as
one plate, the curved edges as a tube-profile band and the side walls as a
thin stroke as thick as the wall is tall.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np

from training.synth.clutter_shapes import blob, closed, disk, stroke, uniform, zip_parts
from training.synth.parts import ObjectModel, Part, rect, rounded_rect

__all__ = ["Bag", "BagKind", "make_bag"]

BagKind = Literal["suitcase", "backpack", "handbag", "tray"]
_KIND_P: dict[str, float] = {"suitcase": 0.35, "backpack": 0.35, "handbag": 0.22, "tray": 0.08}


@dataclass
class Bag:
    """A bag's own structure and where its contents go."""

    model: ObjectModel  # the bag's structure, label None
    interior: np.ndarray  # (N, 2) float32 polygon in cm, same frame as model
    kind: str


def _shell(face: np.ndarray, band_line: np.ndarray, *, material: str, wall: float, band: float,
           side_line: np.ndarray | None = None, side_cm: float = 0.0) -> list[Part]:
    """Faces as a plate (two walls), curved edges as a tube band, and optionally the vertical side walls."""
    parts = [Part(material, 2 * wall, outline=face),
             stroke(material, closed(band_line), band, band, profile="tube", wall=wall)]
    if side_line is not None and side_cm > 0:
        parts.append(stroke(material, closed(side_line), wall, side_cm, profile="flat"))
    return parts


def _inset(outline: np.ndarray, by: float, w: float, h: float) -> np.ndarray:
    """A smooth convex outline shrunk about the origin so its w x h box loses `by` cm on every side."""
    return (outline * np.float32([(w - 2 * by) / w, (h - 2 * by) / h])).astype(np.float32)


def _edge(length: float, width: float, corner: float, by: float) -> np.ndarray:
    """A rounded-rectangle footprint shrunk by `by` cm on every side, corner radius shrinking with it."""
    return rounded_rect(length - 2 * by, width - 2 * by, max(corner - by, 0.5))


def _wheel(rng: np.random.Generator, x: float, y: float, d: float, t: float) -> list[Part]:
    """A rubber wheel and its steel axle: edge-on when the axle lies across the case, face-on when it points up."""
    if rng.random() < 0.5:
        return [Part("rubber", d, outline=rect(d, t, cx=x, cy=y), profile="round"),
                stroke("steel", np.float32([[x, y - t / 2 - 0.4], [x, y + t / 2 + 0.4]]), 0.7)]
    return [Part("rubber", t, outline=disk(d, cx=x, cy=y)), Part("steel", t + 0.8, outline=disk(0.7, cx=x, cy=y, n=12))]


def _trolley(rng: np.random.Generator, *, top: float, rail_l: float, gauge: float) -> list[Part]:
    """Telescopic handle: two nested aluminium rails each side of the centre line, a plastic grip across the top."""
    rw = uniform(rng, 2.2, 3.0)
    parts = [Part("aluminium", t, outline=rect(rail_l, w, cx=top - rail_l / 2, cy=y), profile="tube", wall_cm=0.15)
             for y in (-gauge / 2, gauge / 2) for w, t in ((rw, 1.5), (rw - 0.5, 1.1))]
    return parts + [Part("plastic", 2.5, outline=rect(3.0, gauge + rw + 2, cx=top - 1.5), profile="round"),
                    Part("plastic", 0.3, outline=rect(rail_l, gauge + rw + 3, cx=top - rail_l / 2))]


def _wheels(rng: np.random.Generator, length: float, width: float, spinner: bool) -> list[Part]:
    """Wheels in plastic housings at the two bottom (-x) corners: two per corner for spinners."""
    d, t = uniform(rng, 4.5, 6.5), uniform(rng, 1.8, 2.5)
    wx = -length / 2 + d / 2 + 1.0
    parts = []
    for side in (-1, 1):
        wy = side * (width / 2 - t - 1.5)
        housing = rounded_rect(d + 3.0, t + 3.0, 1.0, cx=wx + 1.0, cy=wy)
        parts.append(Part("plastic", 4.0, outline=housing, profile="round"))
        # a spinner's front and back wheels land almost on top of each other in the projection
        for dx in ((-0.8, 0.8) if spinner else (0.0,)):
            parts += _wheel(rng, wx + dx, wy, d, t)
    return parts


def _suitcase(rng: np.random.Generator) -> Bag:
    """Hard- or soft-shell suitcase, 35-80 x 25-55 cm: trolley rails to the top (+x), wheels at the bottom."""
    length = uniform(rng, 35, 80)
    width = float(np.clip(length * uniform(rng, 0.6, 0.75), 25, 55))
    depth = length * uniform(rng, 0.33, 0.45)
    build = str(rng.choice(["hard", "aluminium", "soft"], p=[0.65, 0.1, 0.25]))
    # polycarbonate shell, aluminium shell, or nylon over a wire frame
    material, (lo, hi) = {"hard": ("plastic", (0.2, 0.35)), "aluminium": ("aluminium", (0.08, 0.1)),
                          "soft": ("plastic", (0.08, 0.12))}[build]
    wall = uniform(rng, lo, hi)
    corner, band = uniform(rng, 4, 8), uniform(rng, 3, 6)
    edge = partial(_edge, length, width, corner)
    parts = _shell(edge(band), edge(band / 2), material=material, wall=wall, band=band, side_line=edge(wall / 2),
                   side_cm=depth - band)
    if build == "soft":  # a steel wire keeps a soft case's shape along its rim
        parts.append(stroke("steel", closed(edge(band / 2)), 0.4))
    if build == "aluminium" or rng.random() < 0.15:  # framed case: aluminium rim, steel latches
        parts.append(stroke("aluminium", closed(edge(0.6)), 1.2, 2.0, profile="tube", wall=0.15))
        parts += [Part("steel", 0.4, outline=rect(3.0, 2.0, cx=s * length / 4, cy=width / 2 - 1.0)) for s in (-1, 1)]
    else:  # the zip round the seam, seen edge-on in the side wall
        parts += zip_parts(rng, closed(edge(0.5)), edge_on=True)
    trolley = bool(rng.random() < 0.9)
    if trolley:
        parts += _trolley(rng, top=length / 2 - band - 1.0, rail_l=(length - 2 * band) * uniform(rng, 0.8, 0.9),
                          gauge=width * uniform(rng, 0.45, 0.6))
    handle_l = uniform(rng, 12, 16)
    x, y = length / 2 - 1.2, width / 2 - 1.2  # carry handles folded flat against the top and the side
    parts += [stroke("plastic", np.float32([[x, -handle_l / 2], [x, handle_l / 2]]), 2.0, 3.0),
              stroke("plastic", np.float32([[-handle_l / 2, y], [handle_l / 2, y]]), 2.0, 3.0)]
    spinner = bool(rng.random() < 0.65)
    parts += _wheels(rng, length, width, spinner)
    parts += [Part("plastic", 2.0, outline=rect(6.0, 2.5, cx=length / 4, cy=-width / 2 + 2.0), profile="round"),
              Part("steel", 0.6, outline=rect(2.5, 1.5, cx=length / 4, cy=-width / 2 + 2.0))]  # TSA lock
    if rng.random() < 0.5:  # the lid's divider panel closes with a zip across the case
        parts += zip_parts(rng, np.float32([[0.0, -width / 2 + band + 2], [0.0, width / 2 - band - 2]]))
    if rng.random() < 0.5:  # compression straps
        y = width / 2 - band
        parts += [stroke("plastic", np.float32([[x, -y], [x, y]]), 2.5, 0.15, profile="flat")
                  for x in (-length / 4, length / 4)]
    meta = {"length_cm": length, "width_cm": width, "depth_cm": depth, "build": build, "wall_cm": wall,
            "trolley": trolley, "spinner": spinner}
    model = ObjectModel("suitcase", parts, label=None, tilt=False, meta=meta)
    return Bag(model, edge(band + 0.5), "suitcase")


def _backpack(rng: np.random.Generator) -> Bag:
    """Soft backpack, 38-52 x 26-34 cm: fabric body, back padding, straps, zips, buckles."""
    length, width = uniform(rng, 38, 52), uniform(rng, 26, 34)
    band, wall = uniform(rng, 4, 7), uniform(rng, 0.06, 0.1)
    body = blob(rng, length, width, wobble=0.04, squareness=0.55)
    parts = _shell(_inset(body, band, length, width), _inset(body, band / 2, length, width), material="plastic",
                   wall=wall, band=band)
    parts.append(Part("foam", uniform(rng, 1.5, 3.0), outline=_inset(body, 0.12 * width, length, width)))
    frame = str(rng.choice(["none", "sheet", "stays"], p=[0.6, 0.25, 0.15]))
    if frame == "sheet":  # laptop-sleeve board
        parts.append(Part("plastic", uniform(rng, 0.2, 0.3), outline=rect(0.7 * length, 0.6 * width)))
    elif frame == "stays":  # aluminium stays along the back
        parts += [Part("aluminium", 0.3, outline=rect(0.75 * length, 2.2, cy=s * 0.18 * width)) for s in (-1, 1)]
    for s in (-1, 1):  # shoulder straps from the top down to the bottom corners, adjusters at their ends
        a, b = np.array([length / 2 - 4, s * 4.0]), np.array([-length / 2 + 5, s * (width / 2 - 4)])
        bend = np.array([0.0, s * 4.0])
        path = np.float32([a + (b - a) * f + bend * np.sin(np.pi * f) for f in np.linspace(0, 1, 8)])
        parts.append(stroke("plastic", path, uniform(rng, 5, 7), 0.3, profile="flat"))
        parts.append(Part("plastic", 0.5, outline=rect(2.5, 4.0, cx=b[0] + 3.0, cy=b[1])))
    if rng.random() < 0.5:  # sternum strap buckle
        parts.append(Part("plastic", 0.8, outline=rect(5.0, 2.5, cx=0.15 * length)))
    x = length / 2  # the grab loop on top
    parts.append(stroke("plastic", np.float32([[x - 2, -4], [x - 0.5, 0], [x - 2, 4]]), 2.5, 0.3, profile="flat"))
    rim = np.roll(_inset(body, 0.4, length, width), len(body) // 2, axis=0)  # start at the bottom (-x)
    parts += zip_parts(rng, rim[rim[:, 0] > -0.1 * length], edge_on=True)  # the main zip round the top
    pocket = np.float32([[-0.1 * length, y] for y in np.linspace(-0.35 * width, 0.35 * width, 6)])
    parts += zip_parts(rng, pocket)
    meta = {"length_cm": length, "width_cm": width, "wall_cm": wall, "frame": frame}
    model = ObjectModel("backpack", parts, label=None, tilt=False, meta=meta)
    return Bag(model, _inset(body, band + 0.5, length, width), "backpack")


def _handbag(rng: np.random.Generator) -> Bag:
    """Leather handbag, 25-40 x 18-30 cm body, tapering to the top (+y), with handles and hardware."""
    length, width = uniform(rng, 25, 40), uniform(rng, 18, 30)
    taper = uniform(rng, 0.0, 0.25)
    body = blob(rng, length, width, wobble=0.02, squareness=0.8)
    body = (body * np.stack([1 - taper * (body[:, 1] / width + 0.5), np.ones(len(body))], 1)).astype(np.float32)
    band, wall = uniform(rng, 3, 5), uniform(rng, 0.12, 0.25)
    parts = _shell(_inset(body, band, length, width), _inset(body, band / 2, length, width), material="leather",
                   wall=wall, band=band)
    top = width / 2 - 1.0
    a = (1 - taper) * length * uniform(rng, 0.25, 0.35)
    rise = uniform(rng, 8, 15) * (1 if rng.random() < 0.6 else -1)  # standing up or flopped over the bag
    metal = str(rng.choice(["steel", "brass"]))
    for off in (0.0, 1.0):  # front and back handles, nearly on top of each other
        t = np.linspace(0, np.pi, 12)
        arch = np.stack([a * np.cos(t) + off, top + rise * np.sin(t)], 1).astype(np.float32)
        parts.append(stroke("leather", arch, uniform(rng, 1.5, 2.5), uniform(rng, 1.0, 1.5)))
        parts += [stroke(metal, closed(disk(1.8, cx=x + off, cy=top, n=12)), 0.35) for x in (-a, a)]
    closure = str(rng.choice(["clasp", "zip"]))
    if closure == "clasp":  # magnetic snap
        parts.append(Part("steel", 0.4, outline=disk(1.8, cy=top - 2.0, n=16)))
    else:
        parts += zip_parts(rng, np.float32([[-0.35 * length, top - 0.8], [0.35 * length, top - 0.8]]), material=metal)
    if rng.random() < 0.4:  # metal feet on the base
        feet = np.array([-0.35, -0.12, 0.12, 0.35]) * length
        parts += [Part(metal, 0.6, outline=disk(1.3, cx=x, cy=-width / 2 + 1.8, n=12)) for x in feet]
    if rng.random() < 0.25:  # a chain shoulder strap lying across the bag
        t = np.linspace(0, np.pi, 16)
        chain = np.stack([0.45 * length * np.cos(t), top - uniform(rng, 0.3, 0.8) * width * np.sin(t)], 1)
        parts.append(stroke(metal, chain.astype(np.float32), 0.8, 0.5))
    meta = {"length_cm": length, "width_cm": width, "wall_cm": wall, "taper": taper, "closure": closure}
    model = ObjectModel("handbag", parts, label=None, tilt=False, meta=meta)
    return Bag(model, _inset(body, band + 0.5, length, width), "handbag")


def _tray(rng: np.random.Generator) -> Bag:
    """Airport screening tray, 55-70 x 38-48 cm: plastic bottom, sloped walls, a rolled rim."""
    length, width, height = uniform(rng, 55, 70), uniform(rng, 38, 48), uniform(rng, 9, 14)
    rim, slope = uniform(rng, 1.5, 2.0), uniform(rng, 2.0, 3.5)
    wall = uniform(rng, 0.3, 0.45)
    # the beam crosses a wall leaning `lean` from vertical at grazing incidence
    lean = np.arctan2(slope, height)
    floor = _edge(length, width, 6.0, rim + slope)
    parts = [Part("plastic", uniform(rng, 0.35, 0.6), outline=floor),
             stroke("plastic", closed(_edge(length, width, 6.0, rim + slope / 2)), slope,
                    min(wall / np.sin(lean), height), profile="flat"),
             stroke("plastic", closed(_edge(length, width, 6.0, rim / 2)), rim, rim, profile="tube", wall=wall)]
    n_ribs = int(rng.integers(0, 4))
    x = length / 2 - rim - slope - 3
    for y in (np.arange(n_ribs) - (n_ribs - 1) / 2) * 8.0:  # stiffening ribs under the floor
        parts.append(stroke("plastic", np.float32([[-x, y], [x, y]]), 0.6, 0.8))
    meta = {"length_cm": length, "width_cm": width, "height_cm": height, "ribs": n_ribs}
    model = ObjectModel("tray", parts, label=None, tilt=False, meta=meta)
    return Bag(model, floor, "tray")


_FACTORIES = {"suitcase": _suitcase, "backpack": _backpack, "handbag": _handbag, "tray": _tray}


def make_bag(rng: np.random.Generator, kind: BagKind | None = None) -> Bag:
    """A random bag of the given kind (or of a random kind), centred on the origin."""
    if kind is None:
        kind = str(rng.choice(list(_KIND_P), p=list(_KIND_P.values())))
    if kind not in _FACTORIES:
        raise ValueError(f"unknown bag kind {kind!r}; known: {sorted(_FACTORIES)}")
    bag = _FACTORIES[kind](rng)
    return Bag(bag.model, np.asarray(bag.interior, np.float32), bag.kind)
