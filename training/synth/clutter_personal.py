"""Benign personal effects: clothes, shoes, an umbrella, books, a zipped pouch.

Soft goods fill most of a bag. Folded cloth is mostly air but 5-10 cm of it
still absorbs like 2-4 cm of water, and the metal on it (zips, buckles,
shanks, umbrella ribs) draws thin dark lines that a detector must learn to
ignore.
"""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import blob, centred, closed, coil_path, disk, moved, stroke, uniform, zip_parts
from training.synth.parts import ObjectModel, Part, ellipse, polygon, rect

__all__ = ["make_books", "make_clothes", "make_shoes", "make_umbrella", "make_zip_pouch"]

# garment: (width range, height range, thickness range, squareness) in cm
_GARMENTS = {
    "tshirt": ((25, 35), (20, 30), (2, 4), 0.7),
    "shirt": ((25, 35), (20, 30), (2, 4), 0.8),
    "jeans": ((30, 45), (20, 35), (4, 8), 0.8),
    "hoodie": ((30, 50), (25, 40), (5, 10), 0.6),
    "sweater": ((30, 45), (25, 35), (4, 9), 0.6),
    "socks": ((8, 14), (6, 10), (4, 7), 0.2),
}
_GARMENT_P = (0.25, 0.15, 0.15, 0.12, 0.13, 0.2)


def _garment(rng: np.random.Generator, name: str) -> list[Part]:
    """One folded garment with its fastenings, centred on the origin."""
    (w0, w1), (h0, h1), (t0, t1), square = _GARMENTS[name]
    w, h = uniform(rng, w0, w1), uniform(rng, h0, h1)
    parts = [Part("cloth", uniform(rng, t0, t1), outline=blob(rng, w, h, wobble=0.05, squareness=square),
                  profile="round")]
    if name == "shirt":  # a row of buttons down the folded front
        x = uniform(rng, -0.2, 0.2) * w
        parts += [Part("plastic", 0.3, outline=disk(uniform(rng, 1.0, 1.4), cx=x, cy=y, n=12))
                  for y in np.linspace(-0.35 * h, 0.35 * h, int(rng.integers(3, 5)))]
    elif name == "jeans":  # brass fly zip, shank button, rivets
        x = uniform(rng, -0.3, 0.3) * w
        parts += zip_parts(rng, np.float32([[x, -0.3 * h], [x, -0.3 * h + uniform(rng, 10, 18)]]), material="brass")
        parts.append(Part("brass", 0.5, outline=disk(1.7, cx=x + 1.5, cy=0.35 * h, n=16)))
    elif name == "hoodie" and rng.random() < 0.6:  # a long front zip folded back and forth with the garment
        ys = np.linspace(-0.35 * h, 0.35 * h, int(rng.integers(2, 4)))
        xs = np.where(np.arange(len(ys)) % 2 == 0, -0.35 * w, 0.35 * w)
        parts += zip_parts(rng, np.stack([xs, ys], 1).astype(np.float32))
    return parts


def _belt(rng: np.random.Generator) -> list[Part]:
    """A rolled leather belt and its steel buckle."""
    strap = coil_path(rng, uniform(rng, 4.0, 6.0), turns=2.2, tail_cm=4.0)
    bw = uniform(rng, 3.0, 4.0)
    buckle = closed(rect(bw + 1.0, uniform(rng, 3.5, 5.0), cx=strap[-1][0], cy=strap[-1][1]))
    return [stroke("leather", strap, bw, 0.4, profile="flat"), stroke("steel", buckle, 0.5, 0.4),
            stroke("steel", np.float32([strap[-1], strap[-1] + (bw / 2 + 0.5, 0)]), 0.25)]


def make_clothes(rng: np.random.Generator) -> ObjectModel:
    """1-4 folded garments stacked loosely (8-50 cm each), with buttons, zips, maybe a belt."""
    names = [str(n) for n in rng.choice(list(_GARMENTS), int(rng.integers(1, 5)), p=_GARMENT_P)]
    parts: list[Part] = []
    for name in names:
        parts += moved(_garment(rng, name), angle_deg=uniform(rng, -20, 20), dx=uniform(rng, -8, 8),
                       dy=uniform(rng, -8, 8))
    belt = bool(rng.random() < 0.2)
    if belt:
        parts += moved(_belt(rng), dx=uniform(rng, -10, 10), dy=uniform(rng, -10, 10))
    return centred("clothes", parts, {"garments": names, "belt": belt}, tilt=False)


def _sole(length: float, width: float) -> np.ndarray:
    """A right-foot sole outline, heel at -x, toe at +x; the arch side (-y) is cut in."""
    s = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, 20))
    knots = [0, 0.15, 0.35, 0.55, 0.72, 0.86, 1]
    outer = np.interp(s, knots, [0.6, 0.66, 0.72, 0.85, 0.95, 0.85, 0.45])
    inner = np.interp(s, knots, [0.6, 0.62, 0.5, 0.62, 1.0, 0.95, 0.55])
    ends = np.minimum(1, np.sqrt(s / 0.08)) * np.minimum(1, np.sqrt((1 - s) / 0.15))
    x = (s - 0.5) * length
    return polygon(np.concatenate([np.stack([x, outer * ends * width / 2], 1),
                                   np.stack([x, -inner * ends * width / 2], 1)[::-1]]))


def _shoe(rng: np.random.Generator, length: float, width: float, upper: str, shank: bool) -> list[Part]:
    sole = _sole(length, width)
    wall = uniform(rng, 0.15, 0.25) if upper == "leather" else uniform(rng, 0.3, 0.5)
    parts = [Part("rubber", uniform(rng, 1.2, 2.5), outline=sole),
             Part(upper, uniform(rng, 7, 11), outline=sole * np.float32([0.97, 0.92]), profile="tube", wall_cm=wall),
             # heel block or thick heel midsole: the densest part of a shoe
             Part("rubber", uniform(rng, 1.5, 3.0), outline=ellipse(0.14 * length, 0.3 * width, cx=-0.33 * length))]
    if shank:  # a steel strip stiffening the arch of formal and work shoes
        parts.append(Part("steel", uniform(rng, 0.12, 0.2), outline=rect(uniform(rng, 8, 10), 1.2, cx=-0.12 * length)))
    return parts


def make_shoes(rng: np.random.Generator) -> ObjectModel:
    """One shoe or a pair (22-32 cm long): rubber sole, leather or fabric upper, maybe a steel shank."""
    length = uniform(rng, 22, 32)
    width = length * uniform(rng, 0.32, 0.38)
    upper = str(rng.choice(["leather", "cloth"]))
    shank = bool(upper == "leather" and rng.random() < 0.5)
    parts = _shoe(rng, length, width, upper, shank)
    pair = bool(rng.random() < 0.8)
    if pair:  # the left shoe (mirror image across x) beside it, or packed heel to toe
        left = _shoe(rng, length, width, upper, shank)
        if rng.random() < 0.5:
            parts += moved(left, angle_deg=180, mirror=True, dx=uniform(rng, -3, 3), dy=-width - 1)
        else:
            parts += moved(left, mirror=True, dy=0.8 * width)
    return centred("shoes", parts, {"length_cm": length, "upper": upper, "shank": shank, "pair": pair})


def make_umbrella(rng: np.random.Generator) -> ObjectModel:
    """A folded compact umbrella (22-32 cm) or, rarely, a stick umbrella (80-95 cm)."""
    stick = bool(rng.random() < 0.1)
    length = uniform(rng, 80, 95) if stick else uniform(rng, 22, 32)
    d = uniform(rng, 4.0, 6.0)
    handle_l = uniform(rng, 6.0, 9.0)
    body = length - handle_l
    x0, x1 = -length / 2 + handle_l, length / 2
    shaft = str(rng.choice(["aluminium", "steel"]))
    parts = [Part("cloth", 0.7 * d, outline=blob(rng, 0.9 * body, d, wobble=0.04, squareness=0.5, cx=x0 + body / 2),
                  profile="round"),
             Part(shaft, 1.1, outline=rect(body, 1.1, cx=x0 + body / 2), profile="tube", wall_cm=0.08),
             Part("plastic", 3.0, outline=rect(handle_l, 3.0, cx=x0 - handle_l / 2), profile="round")]
    n_ribs = int(rng.choice([6, 8]))
    for i in range(n_ribs):
        y = (i / (n_ribs - 1) - 0.5) * 0.6 * d
        if stick:
            path = np.float32([[x1 - 2, 0.2 * y], [x0 + 0.3 * body, y]])
        else:  # compact ribs fold in three, doubling back along the shaft
            a, b = x1 - 1.5, x0 + 0.2 * body
            path = np.float32([[a, y], [b, y + 0.3], [a - 0.2 * body, y + 0.5], [b + 0.1 * body, y + 0.8]])
        parts.append(stroke("steel", path, 0.2))
    return centred("umbrella", parts, {"length_cm": length, "stick": stick, "shaft": shaft, "ribs": n_ribs})


def make_zip_pouch(rng: np.random.Generator) -> ObjectModel:
    """A zipped fabric pouch or pencil case, 15-28 x 8-16 cm: thin fabric and a zip along one edge."""
    w, h = uniform(rng, 15, 28), uniform(rng, 8, 16)
    parts = [Part("plastic", uniform(rng, 0.1, 0.2), outline=blob(rng, w, h, wobble=0.03, squareness=0.8))]
    xs = np.linspace(-0.45 * w, 0.45 * w, 8)
    path = np.stack([xs, 0.42 * h + 0.3 * np.sin(xs / w * np.pi * uniform(rng, 0.5, 2.0))], 1).astype(np.float32)
    parts += zip_parts(rng, path)
    return centred("zip_pouch", parts, {"w_cm": w, "h_cm": h}, tilt=False)


def _notebook(rng: np.random.Generator) -> list[Part]:
    """A spiral notebook: the coiled wire looks like a tube edge-on along the spine."""
    w, h = 21.0, 14.8
    spine = np.float32([[-w / 2 + 0.5, -h / 2], [-w / 2 + 0.5, h / 2]])
    return [Part("paper", uniform(rng, 0.8, 1.5), outline=rect(w, h)),
            stroke("steel", spine, 0.9, profile="tube", wall=0.04)]


def make_books(rng: np.random.Generator) -> ObjectModel:
    """A book (18-30 cm, 2-6 cm thick) with a second one on it if thin, maybe a magazine, notebook or paper."""
    w = uniform(rng, 18, 30)
    h, t = w * uniform(rng, 0.65, 0.8), uniform(rng, 2.0, 6.0)
    parts = [Part("paper", t, outline=rect(w, h))]
    extras = []
    if t < 4.0:  # a thin book alone barely hides anything: readers pack two
        w2 = uniform(rng, 18, 30)
        extras.append("book")
        parts.append(Part("paper", uniform(rng, 2.0, 4.0), outline=rect(w2, w2 * uniform(rng, 0.65, 0.8),
                                                                         cx=uniform(rng, -3, 3), cy=uniform(rng, -3, 3),
                                                                         angle_deg=uniform(rng, -20, 20))))
    for _ in range(int(rng.integers(0, 3))):
        extra = str(rng.choice(["magazine", "notebook", "paper"]))
        extras.append(extra)
        if extra == "notebook":
            item = _notebook(rng)
        else:  # A4, stapled magazine or a loose stack of sheets
            item = [Part("paper", uniform(rng, 0.3, 1.5), outline=rect(29.7, 21.0))]
        parts += moved(item, angle_deg=uniform(rng, -25, 25), dx=uniform(rng, -6, 6), dy=uniform(rng, -6, 6))
    return centred("books", parts, {"w_cm": w, "h_cm": h, "thickness_cm": t, "extras": extras})
