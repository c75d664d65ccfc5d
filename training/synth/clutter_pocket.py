"""Benign pocket-sized items: keys, coins, pens, a glasses case, and lead.

Small but dense: a coin or a key absorbs like a blade of the same size, and
a pen is as long and thin as one, so these are the commonest false alarms.
What tells them apart on a scan is detail: a key's milled groove, a
bimetallic coin's two alloys, a pen's spring and refill, a pair of glasses'
hinge screws and core wires. Lead (fishing weights, a patch of X-ray apron)
is rare but blacker than anything else in a bag.
"""

from __future__ import annotations

import numpy as np

from training.synth.clutter_electronics import board
from training.synth.clutter_shapes import blob, box_shell, centred, closed, disk, moved, stroke, uniform
from training.synth.outlines import comb, discs, joined
from training.synth.parts import ObjectModel, Part, arc, ellipse, polygon, rect, rounded_rect

__all__ = ["make_coins", "make_glasses_case", "make_keys", "make_lead", "make_pens"]


def _key(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A pin-tumbler key outline: round or square bow at the origin, blade along +x with cuts below.

    Returns the outline and where the blade starts (x, cm).
    """
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
    outline = polygon([(root, half), (root + blade, half), (root + blade + 0.3, 0.0)] + edge + [tuple(p) for p in bow])
    return outline, float(root)


def _keyed(rng: np.random.Generator) -> list[Part]:
    """One key: a thin blank whose blade carries a thicker ridge beside the milled groove; maybe a plastic head."""
    outline, root = _key(rng)
    metal = str(rng.choice(["steel", "brass"]))
    tip = float(outline[1, 0])
    parts = [Part(metal, 0.15, outline=outline),
             stroke(metal, np.float32([[root, 0.2], [tip, 0.2]]), 0.25, 0.1, profile="flat")]
    if rng.random() < 0.3:  # a rubber or plastic cover over the bow, to tell keys apart
        parts.append(Part("plastic", 0.6, outline=ellipse(1.6, 1.5, cx=-0.1, n=16), profile="round"))
    return parts


def make_keys(rng: np.random.Generator) -> ObjectModel:
    """A key ring (3-4 cm) with 1-5 steel or brass keys (6-8 cm), maybe a car fob or a tag."""
    ring_d = uniform(rng, 2.5, 3.5)
    t = np.linspace(0, 4 * np.pi, 40)  # a split ring is two turns of flat wire
    r = ring_d / 2 - 0.08 * t / (4 * np.pi)
    parts = [stroke("steel", np.stack([r * np.cos(t), r * np.sin(t)], 1).astype(np.float32), 0.2, 0.2)]
    n = int(rng.integers(1, 6))
    for a in rng.uniform(0, 360, n):
        t = np.deg2rad(a)
        parts += moved(_keyed(rng), angle_deg=float(a), dx=float(np.cos(t) * (ring_d / 2 + 0.8)),
                       dy=float(np.sin(t) * (ring_d / 2 + 0.8)))
    fob = bool(rng.random() < 0.3)
    if fob:  # remote key: plastic shell, a populated board, a coin cell in its steel can
        fx = -ring_d / 2 - 3.8
        parts += [Part("plastic", 1.4, outline=rounded_rect(6.0, 3.2, 1.2, cx=fx), profile="round"),
                  *board(rng, 4.0, 2.4, cx=fx, pitch=0.5, mix=(0.3, 0.4, 0.0, 0.3), screws=False),
                  Part("steel", 0.32, outline=disk(2.0, cx=fx - 0.8))]
    elif rng.random() < 0.3:  # a metal tag or bottle opener on the ring
        parts.append(Part(str(rng.choice(["steel", "aluminium", "brass"])), 0.2,
                          outline=joined([rounded_rect(5.0, 2.5, 0.6, cx=-ring_d / 2 - 2.8),
                                          disk(0.8, cx=-ring_d / 2 - 0.9, n=10)[::-1]])))
    return centred("keys", parts, {"keys": n, "fob": fob, "ring_cm": ring_d})


def _coin(rng: np.random.Generator, kind: tuple, x: float, y: float) -> list[Part]:
    """A coin with its struck relief; a bimetallic one is a ring of one alloy round a core of another."""
    d, t, metal, bimetal = kind
    relief = {"texture": 0.15, "texture_cm": 0.3, "texture_seed": int(rng.integers(2**31))}
    if not bimetal:
        return [Part(metal, t, outline=disk(d, cx=x, cy=y, n=24), **relief)]
    core = "steel" if metal == "brass" else "brass"
    return [Part(metal, t, outline=joined([disk(d, cx=x, cy=y, n=24), disk(0.65 * d, cx=x, cy=y, n=16)[::-1]])),
            Part(core, t, outline=disk(0.65 * d, cx=x, cy=y, n=16), **relief)]


def make_coins(rng: np.random.Generator) -> ObjectModel:
    """2-8 coins (1.5-3 cm, 0.15-0.25 cm thick), scattered in a pocket-sized group or stacked, maybe in a wallet."""
    n = int(rng.integers(2, 9))
    stacked = bool(rng.random() < 0.2)
    spread = 0.15 if stacked else uniform(rng, 1.5, 4.0)
    # a purse holds a few denominations: each a size, a thickness, an alloy, and whether it is bimetallic
    kinds = [(uniform(rng, 1.5, 3.0), uniform(rng, 0.15, 0.25), str(rng.choice(["brass", "steel"], p=[0.6, 0.4])),
              bool(rng.random() < 0.25)) for _ in range(int(rng.integers(1, 4)))]
    parts = []
    for x, y in rng.normal(0, spread, (n, 2)):
        parts += _coin(rng, kinds[int(rng.integers(len(kinds)))], float(x), float(y))
    wallet = bool(rng.random() < 0.3)
    if wallet:  # a leather wallet round them with a bank card: its chip, and its antenna coil round the edge
        parts += [Part("leather", uniform(rng, 0.5, 1.0), outline=rounded_rect(11.5, 9.5, 1.0), texture=0.3,
                       texture_cm=1.5, texture_seed=int(rng.integers(2**31))),
                  Part("plastic", 0.08, outline=rounded_rect(8.6, 5.4, 0.3, cx=0.5)),
                  Part("copper", 0.03, outline=rect(1.1, 0.9, cx=-2.0, cy=0.5)),
                  stroke("copper", closed(rect(7.8, 4.6, cx=0.5)), 0.1, 0.01, profile="flat"),
                  Part("steel", 0.15, outline=disk(1.2, cx=5.2, n=12))]
    return centred("coins", parts, {"count": n, "stacked": stacked, "kinds": kinds, "wallet": wallet})


def _pen(rng: np.random.Generator) -> list[Part]:
    """A ballpoint: barrel, refill with its brass tip, a spring, a clip (a plastic refill barely shows)."""
    length, d = uniform(rng, 13.0, 14.5), uniform(rng, 0.8, 1.1)
    metal = rng.random() < 0.25
    barrel = (Part(str(rng.choice(["aluminium", "brass"])), d, outline=rect(length, d), profile="tube", wall_cm=0.05)
              if metal else Part("plastic", d, outline=rect(length, d), profile="tube", wall_cm=0.1))
    x = length / 2
    refill = ("steel", 0.02) if metal else ("plastic", 0.05)  # metal pens take steel refills
    return [barrel,
            Part(refill[0], 0.3, outline=rect(length - 2.0, 0.3, cx=0.5), profile="tube", wall_cm=refill[1]),
            stroke("brass", np.float32([[x - 1.0, 0], [x - 0.2, 0]]), 0.2),
            stroke("steel", np.ascontiguousarray(comb(np.linspace(x - 2.5, x - 1.3, 10), -0.17, 0.17)), 0.03, 0.03),
            stroke("steel" if metal else "plastic", np.float32([[-x + 0.5, d / 2], [-x + 5.0, d / 2]]), 0.3, 0.08,
                   profile="flat")]


def _pencil(rng: np.random.Generator) -> list[Part]:
    """A wooden pencil: a graphite core down its length, maybe an aluminium ferrule and eraser at the end."""
    length = uniform(rng, 13.0, 16.0)
    parts = [Part("wood", 0.75, outline=polygon([(-length / 2, -0.37), (length / 2 - 1.8, -0.37), (length / 2, 0.0),
                                                  (length / 2 - 1.8, 0.37), (-length / 2, 0.37)]), profile="round"),
             stroke("pcb", np.float32([[-length / 2, 0], [length / 2 - 0.1, 0]]), 0.2)]  # graphite and clay
    if rng.random() < 0.5:
        parts += [Part("aluminium", 0.75, outline=rect(1.2, 0.78, cx=-length / 2 - 0.3), profile="tube", wall_cm=0.03),
                  Part("rubber", 0.7, outline=rect(0.8, 0.7, cx=-length / 2 - 1.1), profile="round")]
    return parts


def _marker(rng: np.random.Generator) -> list[Part]:
    """A felt marker or highlighter: a fat plastic barrel holding an ink-soaked wick, and its cap."""
    length, d = uniform(rng, 12.5, 14.0), uniform(rng, 1.3, 1.8)
    return [Part("plastic", d, outline=rect(length, d), profile="tube", wall_cm=0.12),
            Part("water", 0.7 * d, outline=rect(length - 3.0, 0.6 * d, cx=-0.5), profile="round"),
            Part("plastic", d + 0.2, outline=rect(3.5, d + 0.2, cx=length / 2 - 1.2), profile="tube", wall_cm=0.15)]


def make_pens(rng: np.random.Generator) -> ObjectModel:
    """1-3 pens, pencils or markers, 12.5-19 cm long, loose or side by side."""
    n = int(rng.integers(1, 4))
    parts: list[Part] = []
    kinds = []
    for i in range(n):
        kind = str(rng.choice(["pen", "pencil", "marker"], p=[0.65, 0.2, 0.15]))
        kinds.append(kind)
        item = {"pen": _pen, "pencil": _pencil, "marker": _marker}[kind](rng)
        parts += moved(item, angle_deg=uniform(rng, -15, 15), dx=uniform(rng, -2, 2), dy=1.8 * i)
    return centred("pens", parts, {"count": n, "kinds": kinds})


def _glasses(rng: np.random.Generator, w: float, h: float) -> list[Part]:
    """Folded spectacles: lenses, rims, folded temples (steel wire cores in plastic ones), hinge screws, pads."""
    lens = str(rng.choice(["plastic", "glass"], p=[0.8, 0.2]))
    frame = str(rng.choice(["steel", "plastic"]))
    lw = 0.42 * w
    cxs = (-lw / 2 * 1.05, lw / 2 * 1.05)
    parts = [Part(lens, 0.25, outline=joined([ellipse(lw / 2, 0.36 * h, cx=c, n=20) for c in cxs]))]
    rim = np.concatenate([ellipse(lw / 2, 0.36 * h, cx=c, n=20) for c in cxs])
    fw = 0.15 if frame == "steel" else 0.45
    parts.append(stroke(frame, closed(rim), fw, fw))
    temples = [np.float32([[-w / 2 + 1.0, s * 0.25 * h], [w / 2 - 1.5, s * 0.3 * h]]) for s in (1, -1)]
    parts += [stroke(frame, t, fw + 0.1, fw) for t in temples]
    if frame == "plastic":  # the steel core wires that let plastic temples be bent to fit
        parts += [stroke("steel", t * np.float32([0.85, 1.0]), 0.08, 0.08) for t in temples]
    # hinge screws and barrels at the outer corners, nose pads on their wire arms
    hinges = [rect(0.8, 0.5, cx=s * (w / 2 - 1.2), cy=0.3 * h) for s in (-1, 1)]
    parts.append(Part("steel", 0.3, outline=joined(hinges)))
    pads = discs(np.float32([-0.12, 0.12]) * lw, -0.1 * h, 0.8, n=10)
    parts.append(Part("plastic", 0.3, outline=joined(pads)))
    return parts


def make_glasses_case(rng: np.random.Generator) -> ObjectModel:
    """A clamshell glasses case, 15-17 x 5.5-7 cm (thin tinplate or hard plastic), usually with glasses."""
    w, h = uniform(rng, 15, 17), uniform(rng, 5.5, 7.0)
    steel = bool(rng.random() < 0.5)
    shell = blob(rng, w, h, wobble=0.02, squareness=0.5)
    parts = [Part("steel" if steel else "plastic", uniform(rng, 3.5, 4.5), outline=shell, profile="tube",
                  wall_cm=0.03 if steel else 0.2),
             # the felt lining, and the spring-steel hinge strip along the back
             Part("cloth", 0.3, outline=shell * 0.96, texture=0.4, texture_cm=0.8,
                  texture_seed=int(rng.integers(2**31))),
             stroke("steel", np.float32([[-0.3 * w, 0.45 * h], [0.3 * w, 0.45 * h]]), 0.4, 0.15, profile="flat")]
    glasses = bool(rng.random() < 0.7)
    if glasses:
        parts += _glasses(rng, w, h)
    return centred("glasses_case", parts, {"w_cm": w, "h_cm": h, "steel_case": steel, "glasses": glasses})


def _tackle(rng: np.random.Generator) -> list[Part]:
    """Hooks and swivels loose in a tackle box: thin steel J's and small brass double loops."""
    parts = []
    for x, y in rng.uniform(-5, 5, (int(rng.integers(1, 4)), 2)):
        s = uniform(rng, 1.0, 2.5)
        hook = np.float32([[0, 2], [0, 0], *arc(0.35 * s, 180, 360, cx=0.35 * s)[1:], [0.7 * s, 0.5]])
        parts.append(stroke("steel", hook * np.float32([1, s / 2]) + np.float32([x, y]), 0.06))
    swivel = np.concatenate([closed(disk(0.4, cx=-0.5, n=8)), closed(disk(0.4, cx=0.5, n=8))])
    parts.append(stroke("brass", swivel + np.float32(rng.uniform(-4, 4, 2)), 0.08))
    return parts


def make_lead(rng: np.random.Generator) -> ObjectModel:
    """Lead: a few fishing sinkers (1-4 cm), maybe with tackle in a box, or a lead-apron patch (10-30 cm)."""
    apron = bool(rng.random() < 0.4)
    if apron:  # 0.25-0.5 mm lead-equivalent sheet in a quilted vinyl cover
        w, h = uniform(rng, 10, 30), uniform(rng, 8, 20)
        quilt = comb(np.linspace(-0.45, 0.45, 6) * w, -h / 2, h / 2)
        parts = [Part("lead", uniform(rng, 0.025, 0.05), outline=blob(rng, w, h, wobble=0.02, squareness=0.8)),
                 Part("plastic", 0.1, outline=blob(rng, w + 2, h + 2, wobble=0.02, squareness=0.8)),
                 stroke("plastic", quilt, 0.3, 0.1, profile="flat")]
        return centred("lead", parts, {"apron": True, "w_cm": w, "h_cm": h})
    n_big, n_shot = int(rng.integers(2, 5)), int(rng.integers(0, 7))
    parts = []
    for _ in range(n_big):  # drop and bank sinkers, round in section, with a brass swivel or wire eye
        length = uniform(rng, 2.5, 4.0)
        width = length * uniform(rng, 0.4, 0.55)
        tear = polygon(np.concatenate([arc(width / 2, 90, 270, cx=-length / 2 + width / 2, n=10),
                                       [(length / 2, 0.0)]]))
        eye = closed(disk(0.5, cx=length / 2 + 0.3, n=8))
        parts += moved([Part("lead", width, outline=tear, profile="round"), stroke("brass", eye, 0.08)],
                       angle_deg=uniform(rng, 0, 360), dx=uniform(rng, -4, 4), dy=uniform(rng, -3, 3))
    for x, y in rng.uniform(-4, 4, (n_shot, 2)):  # split shot
        d = uniform(rng, 0.5, 1.0)
        parts.append(Part("lead", d, outline=disk(d, cx=float(x), cy=float(y), n=12), profile="round"))
    box = bool(rng.random() < 0.5)
    if box:
        parts += box_shell(rounded_rect(13.0, 10.0, 1.0), material="plastic", plate_cm=0.3, wall_cm=0.15, depth_cm=3.0)
        parts += _tackle(rng)
    return centred("lead", parts, {"apron": False, "sinkers": n_big, "shot": n_shot, "box": box})
