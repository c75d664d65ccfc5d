"""Benign containers, toiletries and food: bottles, cans, spray cans, thermoses, wash kits, food.

Liquids are the commonest large absorbers in cabin bags: 7 cm of water
absorbs about as much of the high-energy beam as 3 mm of steel. Containers
mostly lie on their side (long axis x); a few stand upright, where the beam
runs down the whole height of the liquid and the wall. The small metal in
them is what draws the eye on a scan: crimped tube ends, aerosol valves and
springs, razor blades, the staples that anchor a toothbrush's tufts. Food
is never uniform: bread, rice and nuts are grainy, so food parts carry a
texture.
"""

from __future__ import annotations

import dataclasses

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
    zip_parts,
)
from training.synth.outlines import comb, discs, joined, rects
from training.synth.parts import ObjectModel, Part, arc, polygon, rect, rounded_rect

__all__ = ["make_bottle", "make_can", "make_empty_bottle", "make_food", "make_spray_can", "make_thermos",
           "make_toiletries"]


def _grainy(rng: np.random.Generator, amplitude: tuple[float, float], feature_cm: tuple[float, float]) -> dict:
    """Texture arguments for a Part: relative amplitude and feature size drawn from the ranges."""
    return {"texture": uniform(rng, *amplitude), "texture_cm": uniform(rng, *feature_cm),
            "texture_seed": int(rng.integers(2**31))}


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
    if material == "glass":  # the thick base and its punt, seen edge-on across the bottom end
        parts.append(stroke("glass", np.float32([[x0 + 0.3, -0.8 * r], [x0 + 0.3, 0.8 * r]]), 0.6, 0.8 * d,
                            profile="flat"))
    elif rng.random() < 0.6:  # moulded PET rings round the body: each adds wall where the beam grazes it
        xs = np.linspace(x0 + 0.15 * body, x1 - 0.1 * body, int(rng.integers(3, 8)))
        parts.append(stroke("plastic", np.ascontiguousarray(comb(xs, -0.95 * r, 0.95 * r)), 0.3, 0.25,
                            profile="flat"))
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
    """A drinks can (aluminium, 5.3-6.6 cm x 11-17 cm) or a food tin (steel, beaded, chunky contents), nearly full."""
    tin = bool(rng.random() < 0.25)
    material, wall = ("steel", 0.02) if tin else ("aluminium", uniform(rng, 0.01, 0.015))
    d = uniform(rng, 6.0, 10.0) if tin else uniform(rng, 5.3, 6.6)
    length = uniform(rng, 5.0, 12.0) if tin else uniform(rng, 11.0, 17.0)
    fill = uniform(rng, 0.85, 0.97)
    upright = bool(rng.random() < 0.25)
    if upright:
        parts = upright_cylinder(d, length, material=material, wall_cm=wall, end_cm=0.03, fill=fill)
        if not tin:  # the ring pull on the lid
            parts.append(Part("aluminium", 0.06, outline=rounded_rect(2.0, 1.2, 0.5, cx=0.15 * d)))
    else:
        parts = lying_cylinder(length, d, material=material, wall_cm=wall, fill=fill)
        # the seamed ends seen edge-on: a line of rolled metal across each end
        parts += [stroke(material, np.float32([[s * length / 2, -d / 2], [s * length / 2, d / 2]]), 0.3, 0.3)
                  for s in (-1, 1)]
        if tin:  # beads rolled round the body to stiffen it
            xs = np.linspace(-0.35, 0.35, int(rng.integers(3, 7))) * length
            parts.append(stroke("steel", np.ascontiguousarray(comb(xs, -0.48 * d, 0.48 * d)), 0.15, 0.1,
                                profile="flat"))
    if tin:  # beans, soup, fish: lumpy, not a clean liquid
        i = 2 if upright else 1
        parts[i] = dataclasses.replace(parts[i], **_grainy(rng, (0.2, 0.4), (0.6, 1.5)))
    return centred("can", parts, {"tin": tin, "d_cm": d, "length_cm": length, "fill": fill, "upright": upright})


def _aerosol(rng: np.random.Generator, d: float, length: float, material: str, wall: float,
             fill: float) -> list[Part]:
    """An aerosol lying along x, valve at +x: can, liquid, domed base, valve cup, spring, dip tube, cap."""
    cap_l = uniform(rng, 0.18, 0.25) * length
    body = length - cap_l
    x0, x1 = -length / 2, length / 2 - cap_l
    parts = lying_cylinder(body, d, material=material, wall_cm=wall, fill=fill, cx=(x0 + x1) / 2)
    # the domed base pushed into the can, and the valve cup crimped on the top, seen edge-on
    parts.append(stroke(material, np.float32([[x0 + 0.2, -0.45 * d], [x0 + 0.8, 0.0], [x0 + 0.2, 0.45 * d]]), 0.3,
                        0.5, profile="flat"))
    parts.append(Part("steel", 0.5, outline=rect(0.8, 0.5 * d, cx=x1 - 0.3), profile="round"))
    spring = np.stack([np.linspace(x1 - 2.0, x1 - 0.6, 9), np.tile([-0.2, 0.2], 5)[:9]], 1).astype(np.float32)
    parts += [stroke("steel", spring, 0.05),
              stroke("plastic", np.float32([[x1 - 2.0, 0.0], [x0 + 1.0, uniform(rng, -0.3, 0.3) * d]]), 0.35),
              Part("plastic", d, outline=rect(cap_l, d - 0.1, cx=x1 + cap_l / 2), profile="tube", wall_cm=0.12)]
    return parts


def make_spray_can(rng: np.random.Generator) -> ObjectModel:
    """An aerosol (deodorant, hairspray), 12-22 x 4.5-6.5 cm: tinplate or aluminium can, valve, dip tube, cap."""
    material, wall = ("steel", 0.025) if rng.random() < 0.7 else ("aluminium", 0.045)
    d, length = uniform(rng, 4.5, 6.5), uniform(rng, 12, 22)
    fill = uniform(rng, 0.6, 0.9)  # liquefied propellant included
    parts = _aerosol(rng, d, length, material, wall, fill)
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
        x0, x1 = -length / 2, length / 2 - cap_l
        parts = lying_cylinder(body, d, material="steel", wall_cm=wall, cx=-cap_l / 2)
        parts += lying_cylinder(body - 2 * gap, d - 2 * gap, material="steel", wall_cm=wall, fill=fill, cx=-cap_l / 2)
        # the welded neck where the two walls meet, the base cap, the lid's thread and gasket
        parts += [stroke("steel", np.float32([[x1, -d / 2], [x1 - gap, -d / 2 + gap], [x1 - gap, d / 2 - gap],
                                              [x1, d / 2]]), 0.2, 0.8, profile="flat"),
                  stroke("steel", np.float32([[x0 + 0.1, -0.45 * d], [x0 + 0.1, 0.45 * d]]), 0.25, 0.8,
                         profile="flat"),
                  Part("plastic", d, outline=rect(cap_l, d, cx=body / 2), profile="tube", wall_cm=0.25),
                  Part("rubber", 0.6 * d, outline=rect(0.5, 0.7 * d, cx=x1 + 0.6), profile="round")]
    return centred("thermos", parts, {"d_cm": d, "length_cm": length, "fill": fill})


def _toothpaste(rng: np.random.Generator) -> list[Part]:
    """A squeezed tube: laminate (or aluminium, maybe with a metal cap), its crimped flat end, paste, a cap."""
    length, w = uniform(rng, 12, 19), uniform(rng, 3.5, 5.0)
    metal = bool(rng.random() < 0.3)  # ointments and paints come in aluminium tubes
    outline = polygon([(-length / 2, -0.55 * w), (length / 2 - 1.5, -w / 2), (length / 2 - 1.5, w / 2),
                       (-length / 2, 0.55 * w)])
    crimp = np.float32([[-length / 2 + 0.4, -0.55 * w], [-length / 2 + 0.4, 0.55 * w]])
    return [Part("aluminium" if metal else "plastic", 0.03 if metal else 0.08, outline=outline),
            stroke("aluminium" if metal else "plastic", crimp, 0.8, 0.2 if metal else 0.3, profile="flat"),
            Part("water", uniform(rng, 1.5, 2.5), outline=rect(length - 3.0, 0.8 * w, cx=-0.5), profile="round"),
            Part("steel", 2.0, outline=rect(1.5, 2.0, cx=length / 2 - 0.75), profile="tube", wall_cm=0.03)
            if metal and rng.random() < 0.5 else
            Part("plastic", 2.0, outline=rect(1.5, 2.2, cx=length / 2 - 0.75), profile="round")]


def _jar(rng: np.random.Generator) -> list[Part]:
    parts = upright_cylinder(uniform(rng, 5.0, 8.0), uniform(rng, 4.5, 6.0), material="plastic", wall_cm=0.2,
                             end_cm=0.2, fill=uniform(rng, 0.75, 0.95))
    if rng.random() < 0.4:  # a foil seal or a tinplate lid
        parts.append(Part("aluminium", 0.05, outline=parts[1].outline))
    return parts


def _small_bottle(rng: np.random.Generator) -> list[Part]:
    return _bottle_parts(rng, material="plastic", d=uniform(rng, 4.0, 5.5), length=uniform(rng, 10, 18),
                         wall=0.08, fill=uniform(rng, 0.75, 1.0), upright=False)


def _toothbrush(rng: np.random.Generator) -> list[Part]:
    """A toothbrush: handle, head, nylon tufts each anchored by a tiny steel staple; maybe electric."""
    electric = bool(rng.random() < 0.25)
    gx, gy = np.meshgrid(np.arange(6) * 0.45, (np.arange(3) - 1) * 0.35)
    tufts_x, tufts_y = 7.5 + gx.ravel(), gy.ravel()
    parts = [stroke("plastic", np.float32([[-9, 0], [6.5, 0]]), 2.6 if electric else 1.1, 2.4 if electric else 1.0),
             Part("plastic", 0.5, outline=rounded_rect(3.0, 1.3, 0.5, cx=8.6)),
             Part("plastic", 0.5, outline=joined(discs(tufts_x, tufts_y, 0.3, n=6))),
             Part("steel", 0.03, outline=joined(rects(tufts_x, tufts_y, 0.2, 0.06)))]
    if electric:  # a motor, a NiMH or Li-ion cell and the charging coil in the handle
        parts += [Part("steel", 1.0, outline=rect(2.5, 1.2, cx=3.5), profile="round"),
                  Part("battery", 1.4, outline=rect(4.5, 1.4, cx=-1.5), profile="round"),
                  Part("copper", 0.3, outline=rect(1.5, 1.6, cx=-6.5), profile="round")]
    return parts


def _razor(rng: np.random.Generator) -> list[Part]:
    """A safety razor: plastic handle, a head with 3-5 short thin blades held by two steel clips."""
    n = int(rng.integers(3, 6))
    ys = (np.arange(n) - (n - 1) / 2) * 0.2
    # the comb's end segments lie on the two clips that hold the blades at either end of the head
    blades = np.ascontiguousarray(comb(ys, -1.8, 1.8)[:, ::-1])
    return [stroke("plastic", np.float32([[0, -1.2], [0.3, -8], [0.0, -12]]), 1.2, 0.9),
            Part("plastic", 0.6, outline=rounded_rect(4.2, 1.6, 0.4, cy=0.2)),
            stroke("steel", blades + np.float32([0, 0.2]), 0.1, 0.03, profile="flat")]


def _roll_on(rng: np.random.Generator) -> list[Part]:
    """A roll-on deodorant lying down: plastic or glass bottle, liquid, the ball in its socket, a cap."""
    glass = bool(rng.random() < 0.3)
    d, length = uniform(rng, 3.5, 4.5), uniform(rng, 6.0, 9.0)
    parts = lying_cylinder(length, d, material="glass" if glass else "plastic", wall_cm=0.25 if glass else 0.1,
                           fill=uniform(rng, 0.5, 0.9))
    return parts + [Part("plastic", 2.8, outline=disk(2.8, cx=length / 2 + 0.8, n=16), profile="round"),
                    Part("plastic", d, outline=rect(3.5, d, cx=length / 2 + 1.2), profile="tube", wall_cm=0.15)]


def _comb(rng: np.random.Generator) -> list[Part]:
    """A pocket comb: a spine and a row of teeth."""
    length = uniform(rng, 12, 18)
    teeth = comb(np.linspace(-length / 2 + 0.3, length / 2 - 0.3, int(length / 0.25)), 0.0, 2.0)
    return [Part("plastic", 0.25, outline=rect(length, 0.8, cy=-0.4)), stroke("plastic", teeth, 0.08, 0.25,
                                                                               profile="flat")]


def _mini_aerosol(rng: np.random.Generator) -> list[Part]:
    return _aerosol(rng, uniform(rng, 3.5, 4.5), uniform(rng, 9, 13), "aluminium", 0.04, uniform(rng, 0.6, 0.9))


def _nail_clipper(rng: np.random.Generator) -> list[Part]:
    return [Part("steel", 0.3, outline=rounded_rect(5.8, 1.4, 0.5)), Part("steel", 0.1, outline=rect(4.0, 1.0, cx=0.6))]


_KIT = [_toothpaste, _jar, _small_bottle, _toothbrush, _razor, _roll_on, _comb, _mini_aerosol, _nail_clipper]
_KIT_P = np.float32([0.2, 0.08, 0.1, 0.18, 0.14, 0.08, 0.08, 0.07, 0.07])


def make_toiletries(rng: np.random.Generator) -> ObjectModel:
    """A wash kit, about 20-30 cm across: a jar or bottle, plus tubes, a toothbrush, a razor, a comb..."""
    # the first item is a jar or bottle: a wash kit always holds something liquid
    extra = rng.choice(len(_KIT), int(rng.integers(1, 4)), p=_KIT_P / _KIT_P.sum())
    items = [_KIT[int(rng.choice([1, 2]))]] + [_KIT[int(i)] for i in extra]
    parts: list[Part] = []
    for i, make in enumerate(items):
        parts += moved(make(rng), angle_deg=uniform(rng, -30, 30), dx=uniform(rng, -4, 4),
                       dy=(i - len(items) / 2) * 5.0)
    if rng.random() < 0.5:  # a zipped wash bag around it all
        x0, y0 = np.min([p.points().min(0) for p in parts], 0)
        x1, y1 = np.max([p.points().max(0) for p in parts], 0)
        bag = blob(rng, x1 - x0 + 4, y1 - y0 + 4, squareness=0.7, cx=(x0 + x1) / 2, cy=(y0 + y1) / 2)
        parts.append(Part("plastic", 0.15, outline=bag, **_grainy(rng, (0.3, 0.5), (1.0, 2.5))))
        top = bag[np.argsort(bag[:, 1])[-1]]
        parts += zip_parts(rng, np.float32([[x0 + 1, top[1] - 0.8], [x1 - 1, top[1] - 0.8]]))
    return centred("toiletries", parts, {"items": [m.__name__.lstrip("_") for m in items]})


def _fruit(rng: np.random.Generator) -> list[Part]:
    """An apple or orange: its flesh a little uneven."""
    d = uniform(rng, 6.5, 9.0)
    return [Part("water", 0.9 * d, outline=blob(rng, d, d * uniform(rng, 0.9, 1.0), wobble=0.03), profile="round",
                 **_grainy(rng, (0.1, 0.2), (1.0, 2.0)))]


def _banana(rng: np.random.Generator) -> list[Part]:
    r = uniform(rng, 12, 18)
    return [Part("water", uniform(rng, 3.2, 3.8), outline=np.concatenate([arc(r + 1.7, 240, 300, cy=r),
                                                                          arc(r - 1.7, 300, 240, cy=r)]),
                 profile="round", **_grainy(rng, (0.1, 0.2), (1.0, 2.0)))]


def _lunch_box(rng: np.random.Generator) -> list[Part]:
    """A plastic lunch box of rice, pasta or salad: coarse grain, sometimes split by a divider."""
    w, h = uniform(rng, 15, 20), uniform(rng, 10, 15)
    depth = uniform(rng, 5.0, 7.0)
    parts = box_shell(rounded_rect(w, h, 1.5), material="plastic", plate_cm=0.3, wall_cm=0.15, depth_cm=depth)
    parts.append(Part("water", 0.7 * depth, outline=blob(rng, w - 1.5, h - 1.5, squareness=0.6), profile="round",
                      **_grainy(rng, (0.3, 0.5), (0.5, 1.5))))
    if rng.random() < 0.5:
        parts.append(stroke("plastic", np.float32([[0.1 * w, -h / 2], [0.1 * w, h / 2]]), 0.15, depth, profile="flat"))
    return parts


def _sandwich(rng: np.random.Generator) -> list[Part]:
    """A sandwich: porous bread, a filling layer, sometimes wrapped in crinkled foil."""
    s = uniform(rng, 10, 13)
    tri = polygon([(-s / 2, -s / 2), (s / 2, -s / 2), (-s / 2, s / 2)])
    # bread is mostly air: about 2 cm of water-equivalent through the middle
    parts = [Part("water", uniform(rng, 1.5, 2.2), outline=tri, profile="round",
                  **_grainy(rng, (0.3, 0.5), (0.4, 1.0))),
             Part("water", uniform(rng, 0.4, 0.8), outline=tri * 0.85, **_grainy(rng, (0.3, 0.6), (1.0, 2.0)))]
    if rng.random() < 0.3:
        parts.append(Part("aluminium", 0.004, outline=tri * 1.08, **_grainy(rng, (0.6, 0.9), (0.5, 1.0))))
    return parts


def _snack_bar(rng: np.random.Generator) -> list[Part]:
    """A cereal bar of nuts and oats, or a chocolate bar moulded in squares."""
    w, h = uniform(rng, 10, 16), uniform(rng, 3, 5)
    if rng.random() < 0.5:
        return [Part("water", uniform(rng, 0.8, 1.5), outline=rect(w, h), **_grainy(rng, (0.4, 0.6), (0.3, 0.6)))]
    nx, ny = int(w / 2.0), 2
    gx, gy = np.meshgrid((np.arange(nx) - (nx - 1) / 2) * w / nx, (np.arange(ny) - 0.5) * h / ny)
    squares = rects(gx.ravel(), gy.ravel(), w / nx - 0.2, h / ny - 0.2)
    return [Part("water", 0.5, outline=rect(w, h)), Part("water", uniform(rng, 0.4, 0.7), outline=joined(squares))]


def _crisps(rng: np.random.Generator) -> list[Part]:
    """A bag of crisps or nuts: mostly air, the contents blotchy."""
    w, h = uniform(rng, 12, 18), uniform(rng, 15, 22)
    return [Part("water", uniform(rng, 0.8, 1.5), outline=blob(rng, w, h, squareness=0.8),
                 **_grainy(rng, (0.6, 0.9), (1.0, 2.0))),
            stroke("plastic", np.float32([[-w / 2, h / 2 - 0.5], [w / 2, h / 2 - 0.5]]), 1.0, 0.2, profile="flat")]


def make_food(rng: np.random.Generator) -> ObjectModel:
    """Food, 1-3 items: fruit, a banana or a lunch box, plus maybe a sandwich, a snack bar, fruit, crisps."""
    dense = [_fruit, _banana, _lunch_box]
    items = [dense[int(rng.integers(0, 3))]] + [
        [_sandwich, _snack_bar, _fruit, _crisps][int(i)] for i in rng.integers(0, 4, int(rng.integers(0, 3)))]
    parts: list[Part] = []
    for i, make in enumerate(items):
        parts += moved(make(rng), angle_deg=uniform(rng, 0, 360), dx=i * 9.0, dy=uniform(rng, -3, 3))
    return centred("food", parts, {"items": [m.__name__.lstrip("_") for m in items]})
