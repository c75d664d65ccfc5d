"""Benign pocket-sized items: keys, coins, pens, a glasses case, and lead.

Small but dense: a coin or a key absorbs like a blade of the same size, and
a pen is as long and thin as one, so these are the commonest false alarms.
Lead (fishing weights, a patch of X-ray apron) is rare but blacker than
anything else in a bag.
"""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import blob, box_shell, centred, closed, disk, moved, stroke, uniform
from training.synth.parts import ObjectModel, Part, arc, ellipse, polygon, rect, rounded_rect

__all__ = ["make_coins", "make_glasses_case", "make_keys", "make_lead", "make_pens"]


def _key(rng: np.random.Generator) -> np.ndarray:
    """A pin-tumbler key outline: round or square bow at the origin, blade along +x with cuts below."""
    r, blade = uniform(rng, 1.0, 1.5), uniform(rng, 3.0, 5.0)
    half = 0.4
    root = np.sqrt(r * r - half * half)
    cuts = np.linspace(blade, 0.3, 7)
    depth = rng.uniform(0.05, 0.3, len(cuts)) * np.resize([1.0, 0.0], len(cuts))
    edge = [(root + x, -half + d) for x, d in zip(cuts, depth)]
    theta = np.rad2deg(np.arcsin(half / r))
    bow = arc(r, -theta, -360 + theta, n=14)
    if rng.random() < 0.4:  # square bow
        bow = np.clip(bow, -0.85 * r, 0.85 * r)
    return polygon([(root, half), (root + blade, half), (root + blade + 0.3, 0.0)] + edge + [tuple(p) for p in bow])


def make_keys(rng: np.random.Generator) -> ObjectModel:
    """A key ring (3-4 cm) with 1-5 steel or brass keys (6-8 cm), maybe a car fob."""
    ring_d = uniform(rng, 2.5, 3.5)
    parts = [stroke("steel", closed(disk(ring_d, n=20)), 0.2, 0.35)]  # a split ring is two turns of wire
    n = int(rng.integers(1, 6))
    for a in rng.uniform(0, 360, n):
        t = np.deg2rad(a)
        key = Part(str(rng.choice(["steel", "brass"])), 0.2, outline=_key(rng))
        parts += moved([key], angle_deg=float(a), dx=float(np.cos(t) * (ring_d / 2 + 0.8)),
                       dy=float(np.sin(t) * (ring_d / 2 + 0.8)))
    fob = bool(rng.random() < 0.3)
    if fob:  # remote key: plastic shell, small board, coin cell
        fx = -ring_d / 2 - 3.8
        parts += [Part("plastic", 1.4, outline=rounded_rect(6.0, 3.2, 1.2, cx=fx), profile="round"),
                  Part("pcb", 0.1, outline=rect(4.0, 2.4, cx=fx)),
                  Part("steel", 0.32, outline=disk(2.0, cx=fx - 0.8))]
    return centred("keys", parts, {"keys": n, "fob": fob, "ring_cm": ring_d})


def make_coins(rng: np.random.Generator) -> ObjectModel:
    """2-8 coins (1.5-3 cm, 0.15-0.25 cm thick), scattered in a pocket-sized group or stacked."""
    n = int(rng.integers(2, 9))
    stacked = bool(rng.random() < 0.2)
    spread = 0.15 if stacked else uniform(rng, 1.5, 4.0)
    # a purse holds a few denominations: each a size, a thickness and an alloy
    kinds = [(uniform(rng, 1.5, 3.0), uniform(rng, 0.15, 0.25), str(rng.choice(["brass", "steel"], p=[0.6, 0.4])))
             for _ in range(int(rng.integers(1, 4)))]
    parts = []
    for x, y in rng.normal(0, spread, (n, 2)):
        d, t, metal = kinds[int(rng.integers(len(kinds)))]
        parts.append(Part(metal, t, outline=disk(d, cx=float(x), cy=float(y), n=24)))
    return centred("coins", parts, {"count": n, "stacked": stacked, "kinds": kinds})


def _pen(rng: np.random.Generator) -> list[Part]:
    """A ballpoint: barrel, the refill's brass tip, a spring, a clip (the plastic refill barely shows)."""
    length, d = uniform(rng, 13.0, 14.5), uniform(rng, 0.8, 1.1)
    metal = rng.random() < 0.25
    barrel = (Part(str(rng.choice(["aluminium", "brass"])), d, outline=rect(length, d), profile="tube", wall_cm=0.05)
              if metal else Part("plastic", d, outline=rect(length, d), profile="tube", wall_cm=0.1))
    x = length / 2
    return [barrel,
            stroke("brass", np.float32([[x - 1.0, 0], [x - 0.2, 0]]), 0.2),
            stroke("steel", np.float32([[x - 2.5, 0], [x - 1.3, 0]]), 0.35, 0.06, profile="tube", wall=0.03),
            stroke("steel" if metal else "plastic", np.float32([[-x + 0.5, d / 2], [-x + 5.0, d / 2]]), 0.3, 0.08,
                   profile="flat")]


def make_pens(rng: np.random.Generator) -> ObjectModel:
    """1-3 ballpoint pens, 13-14.5 cm long, loose or side by side."""
    n = int(rng.integers(1, 4))
    parts: list[Part] = []
    for i in range(n):
        parts += moved(_pen(rng), angle_deg=uniform(rng, -15, 15), dx=uniform(rng, -2, 2), dy=1.5 * i)
    return centred("pens", parts, {"count": n})


def make_glasses_case(rng: np.random.Generator) -> ObjectModel:
    """A clamshell glasses case, 15-17 x 5.5-7 cm (thin tinplate or hard plastic), usually with glasses."""
    w, h = uniform(rng, 15, 17), uniform(rng, 5.5, 7.0)
    steel = bool(rng.random() < 0.5)
    parts = [Part("steel" if steel else "plastic", uniform(rng, 3.5, 4.5), outline=blob(rng, w, h, wobble=0.02,
                                                                                          squareness=0.5),
                  profile="tube", wall_cm=0.03 if steel else 0.2)]
    glasses = bool(rng.random() < 0.7)
    if glasses:
        lens = str(rng.choice(["plastic", "glass"], p=[0.8, 0.2]))
        frame = str(rng.choice(["steel", "plastic"]))
        lw = 0.42 * w
        for s in (-1, 1):
            parts.append(Part(lens, 0.25, outline=ellipse(lw / 2, 0.3 * h * 1.2, cx=s * lw / 2 * 1.05, n=20)))
        rim = np.concatenate([ellipse(lw / 2, 0.36 * h, cx=s * lw / 2 * 1.05, n=20) for s in (-1, 1)])
        fw = 0.15 if frame == "steel" else 0.45
        parts.append(stroke(frame, closed(rim), fw, fw))
        temples = [np.float32([[-w / 2 + 1.0, s * 0.25 * h], [w / 2 - 1.5, s * 0.3 * h]]) for s in (-1, 1)]
        parts += [stroke(frame, t, fw + 0.1, fw) for t in temples]
    return centred("glasses_case", parts, {"w_cm": w, "h_cm": h, "steel_case": steel, "glasses": glasses})


def make_lead(rng: np.random.Generator) -> ObjectModel:
    """Lead: a few fishing sinkers (1-4 cm), maybe in a tackle box, or a lead-apron patch (10-30 cm)."""
    apron = bool(rng.random() < 0.4)
    if apron:  # 0.25-0.5 mm lead-equivalent sheet in a vinyl cover
        w, h = uniform(rng, 10, 30), uniform(rng, 8, 20)
        parts = [Part("lead", uniform(rng, 0.025, 0.05), outline=blob(rng, w, h, wobble=0.02, squareness=0.8)),
                 Part("plastic", 0.1, outline=blob(rng, w + 2, h + 2, wobble=0.02, squareness=0.8))]
        return centred("lead", parts, {"apron": True, "w_cm": w, "h_cm": h})
    n_big, n_shot = int(rng.integers(2, 5)), int(rng.integers(0, 7))
    parts = []
    for _ in range(n_big):  # drop and bank sinkers, round in section
        length = uniform(rng, 2.5, 4.0)
        width = length * uniform(rng, 0.4, 0.55)
        tear = polygon(np.concatenate([arc(width / 2, 90, 270, cx=-length / 2 + width / 2, n=10),
                                       [(length / 2, 0.0)]]))
        parts += moved([Part("lead", width, outline=tear, profile="round")], angle_deg=uniform(rng, 0, 360),
                       dx=uniform(rng, -4, 4), dy=uniform(rng, -3, 3))
    for x, y in rng.uniform(-4, 4, (n_shot, 2)):  # split shot
        d = uniform(rng, 0.5, 1.0)
        parts.append(Part("lead", d, outline=disk(d, cx=float(x), cy=float(y), n=12), profile="round"))
    box = bool(rng.random() < 0.5)
    if box:
        parts += box_shell(rounded_rect(13.0, 10.0, 1.0), material="plastic", plate_cm=0.3, wall_cm=0.15, depth_cm=3.0)
    return centred("lead", parts, {"apron": False, "sinkers": n_big, "shot": n_shot, "box": box})
