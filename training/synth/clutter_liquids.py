"""Benign containers and food: bottles, cans, spray cans, toiletries, thermoses, food.

Liquids are the commonest large absorbers in cabin bags: 7 cm of water
absorbs about as much of the high-energy beam as 3 mm of steel. Containers
mostly lie on their side (long axis x); a few stand upright, where the beam
runs down the whole height of the liquid and the wall.
"""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import (
    blob,
    box_shell,
    centred,
    disk,
    lying_cylinder,
    moved,
    pooled_liquid,
    stroke,
    uniform,
    upright_cylinder,
)
from training.synth.parts import ObjectModel, Part, arc, polygon, rect, rounded_rect

__all__ = ["make_bottle", "make_can", "make_empty_bottle", "make_food", "make_spray_can", "make_thermos",
           "make_toiletries"]


def _bottle_parts(rng: np.random.Generator, *, material: str, d: float, length: float, wall: float,
                  fill: float, upright: bool) -> list[Part]:
    """A bottle with its neck along +x (lying) or seen from above (upright)."""
    neck_d = uniform(rng, 0.3, 0.4) * d
    cap = "plastic" if material == "plastic" or rng.random() < 0.5 else "steel"
    cap_t = 0.15 if cap == "plastic" else 0.03
    if upright:
        parts = upright_cylinder(d, length, material=material, wall_cm=wall, end_cm=max(wall, 0.05), fill=fill)
        return parts + [Part(cap, 2 * cap_t, outline=disk(neck_d + 0.2, n=16))]
    neck_l, shoulder = uniform(rng, 0.1, 0.18) * length, uniform(rng, 0.12, 0.22) * length
    body = length - neck_l - shoulder
    x0, x1, x2 = -length / 2, -length / 2 + body, length / 2 - neck_l
    r, rn = d / 2, neck_d / 2
    top = [(x0 + 0.15 * r, r), (x1, r), (x1 + 0.5 * shoulder, 0.5 * (r + rn) + 0.1 * r), (x2, rn)]
    outline = polygon([(x0, 0.85 * r)] + top + [(x, -y) for x, y in top[::-1]] + [(x0, -0.85 * r)])
    parts = [Part(material, d, outline=outline, profile="tube", wall_cm=wall),
             Part(material, neck_d, outline=rect(neck_l, neck_d, cx=x2 + neck_l / 2), profile="tube", wall_cm=wall),
             Part(cap, neck_d + 0.3, outline=rect(1.8, neck_d + 0.3, cx=length / 2 + 0.7), profile="tube",
                  wall_cm=cap_t)]
    if fill > 0:
        parts.append(pooled_liquid(body - 2 * wall, d - 2 * wall, fill, cx=(x0 + x1) / 2))
    return parts


def _sample_bottle(rng: np.random.Generator, fill: float) -> tuple[list[Part], dict]:
    material = str(rng.choice(["plastic", "glass"], p=[0.7, 0.3]))
    if material == "plastic":  # PET, 0.33-1.5 l
        d, length, wall = uniform(rng, 5.5, 9.0), uniform(rng, 16, 32), uniform(rng, 0.03, 0.06)
    else:  # wine, beer, sauce bottles
        d, length, wall = uniform(rng, 5.5, 8.5), uniform(rng, 18, 32), uniform(rng, 0.25, 0.45)
    upright = bool(rng.random() < 0.15)
    parts = _bottle_parts(rng, material=material, d=d, length=length, wall=wall, fill=fill, upright=upright)
    return parts, {"material": material, "d_cm": d, "length_cm": length, "wall_cm": wall, "fill": fill,
                   "upright": upright}


def make_bottle(rng: np.random.Generator) -> ObjectModel:
    """A plastic or glass bottle, 16-32 cm x 5.5-9 cm, holding 60-100 % water."""
    parts, meta = _sample_bottle(rng, uniform(rng, 0.6, 1.0))
    return centred("bottle", parts, meta)


def make_empty_bottle(rng: np.random.Generator) -> ObjectModel:
    """An empty plastic or glass bottle, 16-32 cm x 5.5-9 cm."""
    parts, meta = _sample_bottle(rng, 0.0)
    return centred("empty_bottle", parts, meta)


def make_can(rng: np.random.Generator) -> ObjectModel:
    """A drinks can (aluminium, 5.3-6.6 cm x 11-17 cm) or a food tin (steel), nearly full."""
    tin = bool(rng.random() < 0.25)
    material, wall = ("steel", 0.02) if tin else ("aluminium", uniform(rng, 0.01, 0.015))
    d = uniform(rng, 6.0, 10.0) if tin else uniform(rng, 5.3, 6.6)
    length = uniform(rng, 5.0, 12.0) if tin else uniform(rng, 11.0, 17.0)
    fill = uniform(rng, 0.85, 0.97)
    upright = bool(rng.random() < 0.25)
    if upright:
        parts = upright_cylinder(d, length, material=material, wall_cm=wall, end_cm=0.03, fill=fill)
    else:
        parts = lying_cylinder(length, d, material=material, wall_cm=wall, fill=fill)
        # the seamed ends seen edge-on: a line of rolled metal across each end
        parts += [stroke(material, np.float32([[s * length / 2, -d / 2], [s * length / 2, d / 2]]), 0.3, 0.3)
                  for s in (-1, 1)]
    return centred("can", parts, {"tin": tin, "d_cm": d, "length_cm": length, "fill": fill, "upright": upright})


def make_spray_can(rng: np.random.Generator) -> ObjectModel:
    """An aerosol (deodorant, hairspray), 12-22 x 4.5-6.5 cm: tinplate or aluminium can, liquid, cap."""
    material, wall = ("steel", 0.025) if rng.random() < 0.7 else ("aluminium", 0.045)
    d, length = uniform(rng, 4.5, 6.5), uniform(rng, 12, 22)
    cap_l = uniform(rng, 3.0, 5.0)
    fill = uniform(rng, 0.6, 0.9)  # liquefied propellant included
    parts = lying_cylinder(length - cap_l, d, material=material, wall_cm=wall, fill=fill, cx=-cap_l / 2)
    cap = rect(cap_l, d - 0.1, cx=(length - cap_l) / 2)
    parts.append(Part("plastic", d, outline=cap, profile="tube", wall_cm=0.12))
    parts.append(stroke("steel", np.float32([[length / 2 - cap_l - 0.2, 0], [length / 2 - cap_l + 1.0, 0]]), 0.4))
    return centred("spray_can", parts, {"material": material, "d_cm": d, "length_cm": length, "fill": fill})


def make_thermos(rng: np.random.Generator) -> ObjectModel:
    """A vacuum flask or travel cup, 15-30 x 6.5-9 cm: two nested steel tubes, a plastic cap, maybe a drink."""
    d, length = uniform(rng, 6.5, 9.0), uniform(rng, 15, 30)
    gap, wall = uniform(rng, 0.3, 0.5), uniform(rng, 0.04, 0.07)
    fill = uniform(rng, 0.3, 0.9) if rng.random() < 0.5 else 0.0
    cap_l = uniform(rng, 3.5, 6.0)
    if rng.random() < 0.2:  # standing
        parts = upright_cylinder(d, length, material="steel", wall_cm=wall, end_cm=wall)
        parts += upright_cylinder(d - 2 * gap, length - 2 * gap, material="steel", wall_cm=wall, end_cm=wall, fill=fill)
        parts.append(Part("plastic", 1.0, outline=disk(0.6 * d)))
    else:
        body = length - cap_l
        parts = lying_cylinder(body, d, material="steel", wall_cm=wall, cx=-cap_l / 2)
        parts += lying_cylinder(body - 2 * gap, d - 2 * gap, material="steel", wall_cm=wall, fill=fill, cx=-cap_l / 2)
        parts.append(Part("plastic", d, outline=rect(cap_l, d, cx=body / 2), profile="tube", wall_cm=0.25))
    return centred("thermos", parts, {"d_cm": d, "length_cm": length, "fill": fill})


def _toothpaste(rng: np.random.Generator) -> list[Part]:
    length, w = uniform(rng, 12, 19), uniform(rng, 3.5, 5.0)
    outline = polygon([(-length / 2, -0.55 * w), (length / 2 - 1.5, -w / 2), (length / 2 - 1.5, w / 2),
                       (-length / 2, 0.55 * w)])
    return [Part("plastic", 0.08, outline=outline),
            Part("water", uniform(rng, 1.5, 2.5), outline=rect(length - 3.0, 0.8 * w, cx=-0.5), profile="round"),
            Part("plastic", 2.0, outline=rect(1.5, 2.2, cx=length / 2 - 0.75), profile="round")]


def _jar(rng: np.random.Generator) -> list[Part]:
    return upright_cylinder(uniform(rng, 5.0, 8.0), uniform(rng, 4.5, 6.0), material="plastic", wall_cm=0.2,
                            end_cm=0.2, fill=uniform(rng, 0.75, 0.95))


def _small_bottle(rng: np.random.Generator) -> list[Part]:
    return _bottle_parts(rng, material="plastic", d=uniform(rng, 4.0, 5.5), length=uniform(rng, 10, 18),
                         wall=0.08, fill=uniform(rng, 0.75, 1.0), upright=False)


def _toothbrush(rng: np.random.Generator) -> list[Part]:
    return [stroke("plastic", np.float32([[-9, 0], [9, 0]]), 1.1, 1.0)]


def _nail_clipper(rng: np.random.Generator) -> list[Part]:
    return [Part("steel", 0.3, outline=rounded_rect(5.8, 1.4, 0.5)), Part("steel", 0.1, outline=rect(4.0, 1.0, cx=0.6))]


def make_toiletries(rng: np.random.Generator) -> ObjectModel:
    """A wash kit, about 20-30 cm across: a jar or small bottle, plus tubes, a toothbrush or clippers."""
    pool = [_toothpaste, _jar, _small_bottle, _toothbrush, _nail_clipper]
    # the first item is a jar or bottle: a wash kit always holds something liquid
    items = [pool[int(rng.choice([1, 2]))]] + [pool[int(i)] for i in rng.integers(0, len(pool), rng.integers(1, 4))]
    parts: list[Part] = []
    for i, make in enumerate(items):
        parts += moved(make(rng), angle_deg=uniform(rng, -30, 30), dx=uniform(rng, -4, 4),
                       dy=(i - len(items) / 2) * 5.0)
    if rng.random() < 0.5:  # a zipped wash bag around it all
        x0, y0 = np.min([p.points().min(0) for p in parts], 0)
        x1, y1 = np.max([p.points().max(0) for p in parts], 0)
        parts.append(Part("plastic", 0.15, outline=blob(rng, x1 - x0 + 4, y1 - y0 + 4, squareness=0.7,
                                                        cx=(x0 + x1) / 2, cy=(y0 + y1) / 2)))
    return centred("toiletries", parts, {"items": [m.__name__.lstrip("_") for m in items]})


def _fruit(rng: np.random.Generator) -> list[Part]:
    d = uniform(rng, 6.5, 9.0)
    return [Part("water", 0.9 * d, outline=blob(rng, d, d * uniform(rng, 0.9, 1.0), wobble=0.03), profile="round")]


def _banana(rng: np.random.Generator) -> list[Part]:
    r = uniform(rng, 12, 18)
    return [stroke("water", arc(r, 240, 300, cy=r), uniform(rng, 3.2, 3.8))]


def _lunch_box(rng: np.random.Generator) -> list[Part]:
    w, h = uniform(rng, 15, 20), uniform(rng, 10, 15)
    depth = uniform(rng, 5.0, 7.0)
    parts = box_shell(rounded_rect(w, h, 1.5), material="plastic", plate_cm=0.3, wall_cm=0.15, depth_cm=depth)
    return parts + [Part("water", 0.8 * depth, outline=blob(rng, w - 1.5, h - 1.5, squareness=0.6), profile="round")]


def _sandwich(rng: np.random.Generator) -> list[Part]:
    s = uniform(rng, 10, 13)
    # bread is mostly air: about 2 cm of water-equivalent through the middle
    return [Part("water", uniform(rng, 1.5, 2.2), outline=polygon([(-s / 2, -s / 2), (s / 2, -s / 2), (-s / 2, s / 2)]),
                 profile="round")]


def _snack_bar(rng: np.random.Generator) -> list[Part]:
    return [Part("water", uniform(rng, 0.8, 1.5), outline=rect(uniform(rng, 10, 16), uniform(rng, 3, 5)))]


def make_food(rng: np.random.Generator) -> ObjectModel:
    """Food, 1-3 items: fruit, a banana or a lunch box, plus maybe a sandwich or a snack bar."""
    dense = [_fruit, _banana, _lunch_box]
    items = [dense[int(rng.integers(0, 3))]] + [[_sandwich, _snack_bar, _fruit][int(i)]
                                                 for i in rng.integers(0, 3, int(rng.integers(0, 3)))]
    parts: list[Part] = []
    for i, make in enumerate(items):
        parts += moved(make(rng), angle_deg=uniform(rng, 0, 360), dx=i * 9.0, dy=uniform(rng, -3, 3))
    return centred("food", parts, {"items": [m.__name__.lstrip("_") for m in items]})

