"""Benign personal effects: clothes, shoes, an umbrella, books, a zipped pouch.

Soft goods fill most of a bag. Folded cloth is mostly air but 5-10 cm of it
still absorbs like 2-4 cm of water. On a scan it is never a flat fill: the
weave and rumples mottle it, every fold, hem and seam where the cloth lies
doubled draws a line, and the metal on it (zips, buttons, rivets, eyelets,
buckles, umbrella ribs) draws small dark marks a detector must learn to
ignore. Folded garments and shoes are textured parts with their folds and
seams stroked over them; small repeated metal bits are one joined outline.
"""

from __future__ import annotations

import numpy as np

from training.synth.clutter_pocket import make_pens
from training.synth.clutter_shapes import blob, centred, closed, coil_path, disk, moved, stroke, uniform, zip_parts
from training.synth.outlines import comb, discs, joined, rects
from training.synth.parts import ObjectModel, Part, ellipse, polygon, rect

__all__ = ["make_books", "make_clothes", "make_shoes", "make_umbrella", "make_zip_pouch"]

# garment: (width range, height range, thickness range, squareness) in cm, folded as packed
_GARMENTS = {
    "tshirt": ((25, 35), (20, 30), (2, 4), 0.7),
    "shirt": ((25, 35), (20, 30), (2, 4), 0.8),
    "jeans": ((30, 45), (20, 35), (4, 8), 0.8),
    "trousers": ((28, 42), (20, 32), (3, 6), 0.8),
    "hoodie": ((30, 50), (25, 40), (5, 10), 0.6),
    "sweater": ((30, 45), (25, 35), (4, 9), 0.6),
    "jacket": ((32, 50), (28, 40), (5, 10), 0.7),
    "dress": ((28, 42), (22, 34), (2, 5), 0.6),
    "underwear": ((14, 22), (10, 16), (1, 2.5), 0.5),
    "socks": ((8, 14), (6, 10), (4, 7), 0.2),
    "scarf": ((25, 40), (12, 22), (1, 3), 0.9),
    "cap": ((18, 26), (16, 20), (3, 5), 0.3),
}
_GARMENT_P = (0.17, 0.1, 0.1, 0.06, 0.1, 0.09, 0.06, 0.05, 0.09, 0.1, 0.04, 0.04)


def _seed(rng: np.random.Generator) -> int:
    """A texture seed drawn from the object's generator, so a garment always rumples the same way."""
    return int(rng.integers(2**31))


def _cloth(rng: np.random.Generator, t: float, outline: np.ndarray, *, profile: str = "round",
           grain: tuple[float, float] = (1.0, 4.0)) -> Part:
    """Cloth with rumples: a smooth random thickness field of 30-60 % over 1-4 cm features."""
    return Part("cloth", t, outline=outline, profile=profile, texture=uniform(rng, 0.3, 0.6),
                texture_cm=uniform(rng, *grain), texture_seed=_seed(rng))


def _folds(rng: np.random.Generator, w: float, h: float, t: float, *, flap_x: float, width: float) -> Part:
    """The hem round a folded garment and its fold lines, one stroke of doubled cloth.

    The path runs round the hem, then across the garment along 1-3 slightly
    crooked fold lines, stepping between them along the edge, and ends along
    the edge of the folded-over flap.
    """
    hem = closed(blob(rng, 0.97 * w, 0.97 * h, wobble=0.02, squareness=0.8))
    path = [hem]
    side = -1.0
    for y in np.sort(rng.uniform(-0.38, 0.38, int(rng.integers(1, 4)))) * h:
        xs = np.linspace(side, -side, 4) * rng.uniform(0.3, 0.47, 4) * w
        ys = y + rng.normal(0, 0.02 * h, 4) + np.linspace(-1, 1, 4) * uniform(rng, -0.08, 0.08) * h
        path += [np.float32([[side * 0.47 * w, y]]), np.stack([xs, ys], 1)]
        side = -side
    end = flap_x + uniform(rng, -1, 1)
    path.append(np.float32([[side * 0.47 * w, 0.46 * h], [flap_x, 0.46 * h], [end, -0.46 * h]]))
    return stroke("cloth", np.concatenate(path).astype(np.float32), width, t * uniform(rng, 0.2, 0.6), profile="flat")


def _folded_run(rng: np.random.Generator, x: float, w: float, h: float) -> np.ndarray:
    """A front zip's path: down the garment, and back up a little way where the garment is folded over."""
    back = uniform(rng, 0.15, 0.35) * w * (1 if x < 0 else -1)
    turn = uniform(rng, -0.1, 0.3) * h
    return np.float32([[x, -0.4 * h], [x, 0.4 * h], [x + back, 0.4 * h], [x + back, turn]])


def _fasteners(rng: np.random.Generator, name: str, w: float, h: float) -> list[Part]:
    """The buttons, zips, rivets, eyelets and loops a garment of this kind carries."""
    x = uniform(rng, -0.25, 0.25) * w
    if name in ("shirt", "dress") and rng.random() < 0.8:  # a row of buttons down the placket
        ys = np.linspace(-0.38, 0.38, int(rng.integers(4, 8))) * h
        return [Part("plastic", 0.3, outline=joined(discs(x, ys, uniform(rng, 1.0, 1.4), n=10)))]
    if name in ("jeans", "trousers"):  # fly zip, waistband button, belt loops; jeans carry rivets
        top = 0.4 * h
        zip_metal = "brass" if name == "jeans" else str(rng.choice(["steel", "plastic"]))
        parts = zip_parts(rng, np.float32([[x, top - uniform(rng, 12, 18)], [x, top - 1.5]]), material=zip_metal)
        loops = rects(np.linspace(-0.42, 0.42, 5) * w, top, 1.2, 4.0)
        parts.append(Part("cloth", 1.2, outline=joined(loops)))
        if name == "jeans":  # rivets at the pocket corners just under the waistband, in a row with the button
            xs = np.sort(np.append(np.float32([-0.35, -0.2, 0.2, 0.35]) * w, x + 1.5))
            metal = joined(discs(xs, top - 0.8, np.where(np.isclose(xs, x + 1.5), 1.7, 0.8), n=10))
        else:
            metal = disk(1.7, cx=x + 1.5, cy=top - 0.8, n=14)
        parts.append(Part("brass" if name == "jeans" else "steel", 0.4, outline=metal))
        return parts
    if name == "hoodie":  # a drawstring through two metal eyelets; maybe a front zip
        ey = np.float32([-0.12, 0.12]) * w
        cord = np.float32([[ey[0], 0.42 * h], [ey[0] - 1, 0.1 * h], [ey[0] + 1, -0.2 * h], [ey[0] + 3, -0.25 * h]])
        cord2 = cord[::-1] * np.float32([-1, 1]) + np.float32([0, uniform(rng, -3, 3)])
        parts = [stroke("cloth", np.concatenate([cord[::-1], cord2[::-1]]), 0.6, 0.5),
                 Part(str(rng.choice(["steel", "brass"])), 0.15, outline=joined(discs(ey, 0.42 * h, 0.9, n=10)))]
        if rng.random() < 0.6:  # a long front zip, folded over with the garment
            parts += zip_parts(rng, _folded_run(rng, x, w, h))
        return parts
    if name == "jacket":  # a metal zip folded with the jacket, press studs down a storm flap
        parts = zip_parts(rng, _folded_run(rng, x, w, h), material=str(rng.choice(["steel", "brass"])))
        studs = discs(uniform(rng, 0.1, 0.3) * w, np.linspace(-0.35, 0.35, int(rng.integers(3, 6))) * h, 1.3, n=12)
        parts.append(Part("steel", 0.25, outline=joined(studs)))
        return parts
    if name == "underwear":  # elastic waistband: rubber threads sewn in a channel
        return [stroke("rubber", np.float32([[-0.45 * w, 0.4 * h], [0.45 * w, 0.42 * h]]), 2.0, 0.3,
                       profile="flat")]
    return []


def _garment(rng: np.random.Generator, name: str) -> list[Part]:
    """One folded garment with its folds, seams and fastenings, centred on the origin."""
    (w0, w1), (h0, h1), (t0, t1), square = _GARMENTS[name]
    w, h, t = uniform(rng, w0, w1), uniform(rng, h0, h1), uniform(rng, t0, t1)
    if name == "scarf":
        return _scarf(rng, w, h, t)
    if name == "cap":
        return _cap(rng, w, h, t)
    outline = blob(rng, w, h, wobble=0.05, squareness=square)
    if name == "socks":  # a rolled pair: a lumpy ball, the cuff folded over it
        return [_cloth(rng, t, outline, grain=(1.0, 2.0)), stroke("cloth", closed(outline * 0.8), 0.8, 0.4 * t)]
    knit = name in ("sweater", "hoodie")
    parts = [_cloth(rng, t, outline, grain=(1.0, 2.0) if knit else (1.5, 4.0))]
    # one side folded over: a flat layer of part of the garment that steps the thickness
    flap_x = uniform(rng, -0.2, 0.2) * w
    side = 1.0 if rng.random() < 0.5 else -1.0
    fw = 0.46 * w - side * flap_x
    parts.append(Part("cloth", uniform(rng, 0.25, 0.45) * t,
                      outline=blob(rng, fw, 0.92 * h, wobble=0.03, squareness=0.8, cx=flap_x + side * fw / 2)))
    seam_w = uniform(rng, 1.0, 1.5) if knit else uniform(rng, 0.3, 1.0)  # ribbed hems of knits are wider
    parts.append(_folds(rng, w, h, t, flap_x=flap_x, width=seam_w))
    return parts + _fasteners(rng, name, w, h)


def _scarf(rng: np.random.Generator, w: float, h: float, t: float) -> list[Part]:
    """A scarf folded into overlapping layers, its fringe a comb of twisted yarn at one end."""
    parts = []
    for _ in range(int(rng.integers(2, 4))):
        band = blob(rng, w * uniform(rng, 0.8, 1.0), h * uniform(rng, 0.5, 0.8), wobble=0.04, squareness=0.9,
                    cy=uniform(rng, -0.2, 0.2) * h, angle_deg=uniform(rng, -8, 8))
        parts.append(_cloth(rng, t, band, profile="flat", grain=(1.0, 3.0)))
    fringe = comb(np.linspace(-0.3, 0.3, 12) * h, w / 2 - 0.5, w / 2 + 3.0)[:, ::-1]
    parts.append(stroke("cloth", np.ascontiguousarray(fringe), 0.4, 0.4))
    return parts


def _cap(rng: np.random.Generator, w: float, h: float, t: float) -> list[Part]:
    """A baseball cap: a hollow crown (dark rim, six seams to a button), a stiffened brim, a strap."""
    r = 0.35 * w
    parts = [Part("cloth", 2 * r, outline=ellipse(r, 0.45 * h, cx=-0.12 * w), profile="tube", wall_cm=0.3,
                  texture=0.3, texture_cm=1.5, texture_seed=_seed(rng))]
    a = np.deg2rad(np.arange(6) * 60 + 30)
    star = np.zeros((12, 2), np.float32)
    star[1::2] = np.stack([r * np.cos(a) - 0.12 * w, 0.45 * h * np.sin(a)], 1)
    star[0::2, 0] = -0.12 * w
    parts.append(stroke("cloth", star, 0.4, 0.3 * t, profile="flat"))
    ang = np.linspace(-np.pi / 2, np.pi / 2, 13)  # the brim: a D sticking out of the crown's front
    brim = np.stack([-0.12 * w + 0.6 * r + 0.3 * w * np.cos(ang), 0.42 * h * np.sin(ang)], 1).astype(np.float32)
    parts += [Part("plastic", 0.25, outline=brim),
              Part("steel", 0.08, outline=disk(1.4, cx=-0.12 * w, n=12)),
              Part(str(rng.choice(["steel", "plastic"])), 0.2, outline=rect(2.5, 1.2, cx=-0.12 * w - r + 0.8))]
    return parts


def _belt(rng: np.random.Generator) -> list[Part]:
    """A rolled leather belt and its steel buckle."""
    strap = coil_path(rng, uniform(rng, 4.0, 6.0), turns=2.2, tail_cm=4.0)
    bw = uniform(rng, 3.0, 4.0)
    buckle = closed(rect(bw + 1.0, uniform(rng, 3.5, 5.0), cx=strap[-1][0], cy=strap[-1][1]))
    return [stroke("leather", strap, bw, 0.4, profile="flat"), stroke("steel", buckle, 0.5, 0.4),
            stroke("steel", np.float32([strap[-1], strap[-1] + (bw / 2 + 0.5, 0)]), 0.25)]


def make_clothes(rng: np.random.Generator) -> ObjectModel:
    """1-4 folded garments stacked loosely (8-50 cm each), with folds, seams, fastenings, maybe a belt."""
    names = [str(n) for n in rng.choice(list(_GARMENTS), int(rng.integers(1, 5)), p=_GARMENT_P)]
    parts: list[Part] = []
    for name in names:
        parts += moved(_garment(rng, name), angle_deg=uniform(rng, -20, 20), dx=uniform(rng, -8, 8),
                       dy=uniform(rng, -8, 8))
    belt = bool(rng.random() < 0.2)
    if belt:
        parts += moved(_belt(rng), dx=uniform(rng, -10, 10), dy=uniform(rng, -10, 10))
    return centred("clothes", parts, {"garments": names, "belt": belt}, tilt=False)


def _sole(length: float, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A right-foot sole outline, heel at -x, toe at +x, the arch side (-y) cut in.

    Returns the outline, an x grid along the sole, and the narrower of its two
    half-widths at each x (to keep the tread on the sole).
    """
    s = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, 20))
    knots = [0, 0.15, 0.35, 0.55, 0.72, 0.86, 1]
    outer = np.interp(s, knots, [0.6, 0.66, 0.72, 0.85, 0.95, 0.85, 0.45])
    inner = np.interp(s, knots, [0.6, 0.62, 0.5, 0.62, 1.0, 0.95, 0.55])
    ends = np.minimum(1, np.sqrt(s / 0.08)) * np.minimum(1, np.sqrt((1 - s) / 0.15))
    x = (s - 0.5) * length
    top, bottom = outer * ends * width / 2, inner * ends * width / 2
    outline = polygon(np.concatenate([np.stack([x, top], 1), np.stack([x, -bottom], 1)[::-1]]))
    return outline, x, np.minimum(top, bottom)


def _lacing(rng: np.random.Generator, length: float, width: float, n: int) -> list[Part]:
    """Eyelets in two rows over the instep, and the lace criss-crossing them to a bow."""
    xs = np.linspace(-0.05, 0.28, n) * length
    half = np.linspace(0.2, 0.13, n) * width
    # the eyelets: one row forward, the other back, so the bridges run along the lace panels' edges
    rows = np.concatenate([np.stack([xs, half], 1), np.stack([xs, -half], 1)[::-1]])
    metal = str(rng.choice(["steel", "brass"]))
    eyelets = Part(metal, 0.1, outline=joined(discs(rows[:, 0], rows[:, 1], 0.45, n=8)))
    cross = np.stack([np.repeat(xs[::-1], 2), np.tile([1, -1], n) * np.repeat(half[::-1], 2)], 1)
    bow_x, bow_y = xs[0] - 1.0, 0.0
    bow = np.float32([[bow_x, bow_y], [bow_x - 3, 2.5], [bow_x - 4, 1.0], [bow_x, bow_y], [bow_x - 3, -2.5],
                      [bow_x - 4, -1.0], [bow_x, bow_y], [bow_x - 5, uniform(rng, -3, 3)]])
    lace = stroke("plastic", np.concatenate([cross, bow]).astype(np.float32), 0.5, 0.35)  # woven polyester
    return [eyelets, lace]


def _shoe(rng: np.random.Generator, length: float, width: float, upper: str, shank: bool, laced: bool) -> list[Part]:
    """One right shoe: treaded sole, hollow upper, heel block, maybe a shank and lacing."""
    sole, xg, half = _sole(length, width)
    wall = uniform(rng, 0.15, 0.25) if upper == "leather" else uniform(rng, 0.3, 0.5)
    # the outsole's lugs and grooves: a fine grain over the sole and ridges across it, kept inside its edge
    parts = [Part("rubber", uniform(rng, 1.0, 2.0), outline=sole, texture=uniform(rng, 0.15, 0.3),
                  texture_cm=uniform(rng, 0.4, 0.8), texture_seed=int(rng.integers(2**31))),
             Part(upper, uniform(rng, 7, 11), outline=sole * np.float32([0.97, 0.92]), profile="tube", wall_cm=wall),
             # heel block or thick heel midsole: the densest part of a shoe
             Part("rubber", uniform(rng, 1.5, 3.0), outline=ellipse(0.14 * length, 0.3 * width, cx=-0.33 * length))]
    pitch = uniform(rng, 0.8, 1.4)
    ridge_x = np.arange(-0.42 * length, 0.45 * length, pitch)
    ridge_h = np.interp(ridge_x, xg, half) * 0.85
    slant = uniform(rng, -0.6, 0.6)  # chevron or slanted lugs
    ridges = np.stack([np.repeat(ridge_x, 2), np.tile([-1, 1], ridge_x.size) * np.repeat(ridge_h, 2)], 1)
    ridges[:, 0] += slant * ridges[:, 1] * np.repeat(np.where(np.arange(ridge_x.size) % 2 == 0, 1, -1), 2)
    parts.append(stroke("rubber", ridges.astype(np.float32), uniform(rng, 0.3, 0.5), uniform(rng, 0.5, 0.9),
                        profile="flat"))
    if shank:  # a steel strip stiffening the arch of formal and work shoes
        parts.append(Part("steel", uniform(rng, 0.12, 0.2), outline=rect(uniform(rng, 8, 10), 1.2, cx=-0.12 * length)))
    if laced:
        parts += _lacing(rng, length, width, int(rng.integers(4, 8)))
    return parts


def make_shoes(rng: np.random.Generator) -> ObjectModel:
    """One shoe or a pair (22-32 cm long): treaded rubber sole, leather or fabric upper, eyelets and laces."""
    length = uniform(rng, 22, 32)
    width = length * uniform(rng, 0.32, 0.38)
    upper = str(rng.choice(["leather", "cloth"]))
    shank = bool(upper == "leather" and rng.random() < 0.5)
    laced = bool(rng.random() < 0.75)
    parts = _shoe(rng, length, width, upper, shank, laced)
    pair = bool(rng.random() < 0.8)
    if pair:  # the left shoe (mirror image across x) beside it, or packed heel to toe
        left = _shoe(rng, length, width, upper, shank, laced)
        if rng.random() < 0.5:
            parts += moved(left, angle_deg=180, mirror=True, dx=uniform(rng, -3, 3), dy=-width - 1)
        else:
            parts += moved(left, mirror=True, dy=0.8 * width)
    return centred("shoes", parts, {"length_cm": length, "upper": upper, "shank": shank, "pair": pair,
                                    "laced": laced})


def make_umbrella(rng: np.random.Generator) -> ObjectModel:
    """A folded compact umbrella (22-32 cm) or, rarely, a stick umbrella (80-95 cm)."""
    stick = bool(rng.random() < 0.1)
    length = uniform(rng, 80, 95) if stick else uniform(rng, 22, 32)
    d = uniform(rng, 4.0, 6.0)
    handle_l = uniform(rng, 6.0, 9.0)
    body = length - handle_l
    x0, x1 = -length / 2 + handle_l, length / 2
    shaft = str(rng.choice(["aluminium", "steel"]))
    # the canopy: pleated fabric, its folds running along the umbrella
    parts = [Part("cloth", 0.7 * d, outline=blob(rng, 0.9 * body, d, wobble=0.04, squareness=0.5, cx=x0 + body / 2),
                  profile="round", texture=uniform(rng, 0.3, 0.5), texture_cm=uniform(rng, 0.8, 1.5),
                  texture_seed=int(rng.integers(2**31))),
             stroke("cloth", comb(np.linspace(-0.35, 0.35, 4) * d, x0 + 0.1 * body, x1 - 0.05 * body)[:, ::-1].copy(),
                    0.4, 0.2 * d, profile="flat")]
    if stick:
        parts.append(Part(shaft, 1.0, outline=rect(body, 1.0, cx=x0 + body / 2), profile="tube", wall_cm=0.08))
        hook = np.float32([[x0, 0], [x0 - handle_l, 0], [x0 - handle_l - 2.5, 1.5], [x0 - handle_l - 2.5, 4.0],
                           [x0 - handle_l - 1.0, 5.0]])
        parts.append(stroke(str(rng.choice(["wood", "plastic"])), hook, 2.5))
    else:  # telescoping shaft: three tubes, each slimmer, pushed into each other
        segs = np.linspace(x0, x1 - 1.5, 4)
        parts += [Part(shaft, dd, outline=rect(segs[i + 1] - segs[i] + 1.0, dd, cx=(segs[i] + segs[i + 1]) / 2),
                       profile="tube", wall_cm=0.05) for i, dd in enumerate((1.1, 0.9, 0.7))]
        parts.append(Part("plastic", 3.0, outline=rect(handle_l, 3.0, cx=x0 - handle_l / 2), profile="round"))
    # all ribs as one stroke: they meet at the top notch and at the runner, where the path steps between them
    n_ribs = int(rng.choice([6, 8]))
    ribs = []
    for i in range(n_ribs):
        y = (i / (n_ribs - 1) - 0.5) * 0.6 * d
        if stick:
            rib = np.float32([[x1 - 2, 0.2 * y], [x0 + 0.3 * body, y]])
        else:  # compact ribs fold in three, doubling back along the shaft
            a, b = x1 - 1.5, x0 + 0.2 * body
            rib = np.float32([[a, y], [b, y + 0.3], [a - 0.2 * body, y + 0.5], [b + 0.1 * body, y + 0.8]])
        ribs.append(rib if i % 2 == 0 else rib[::-1])
    parts.append(stroke("steel", np.concatenate(ribs), 0.2))
    # the runner sliding on the shaft, the tip ferrule, and the strap's press stud
    parts += [Part("plastic", 1.8, outline=rect(3.0, 1.8, cx=x0 + 0.25 * body), profile="round"),
              Part("steel", 0.5, outline=rect(1.5, 0.5, cx=x1 - 0.5)),
              Part("steel", 0.25, outline=disk(1.2, cx=x0 + 0.6 * body, cy=0.45 * d, n=10))]
    return centred("umbrella", parts, {"length_cm": length, "stick": stick, "shaft": shaft, "ribs": n_ribs})


def make_zip_pouch(rng: np.random.Generator) -> ObjectModel:
    """A zipped fabric pouch or pencil case, 15-28 x 8-16 cm: seamed fabric, a zip, maybe pens or make-up."""
    contents = str(rng.choice(["pens", "make_up", "empty"], p=[0.45, 0.35, 0.2]))
    w, h = uniform(rng, 20 if contents == "pens" else 15, 28), uniform(rng, 8, 16)  # pens need a long case
    outline = blob(rng, w, h, wobble=0.03, squareness=0.8)
    parts = [Part("plastic", uniform(rng, 0.1, 0.2), outline=outline, texture=uniform(rng, 0.3, 0.5),
                  texture_cm=uniform(rng, 1.0, 2.5), texture_seed=int(rng.integers(2**31))),
             stroke("plastic", closed(outline * 0.98), 0.6, 0.3, profile="flat")]  # the bound seam round the edge
    xs = np.linspace(-0.45 * w, 0.45 * w, 8)
    path = np.stack([xs, 0.42 * h + 0.3 * np.sin(xs / w * np.pi * uniform(rng, 0.5, 2.0))], 1).astype(np.float32)
    parts += zip_parts(rng, path)
    if contents == "pens":  # a pencil case: pens, an eraser, a sharpener's small blade
        pens = make_pens(rng).parts
        parts += moved(pens, angle_deg=uniform(rng, -8, 8), dy=uniform(rng, -0.2, 0.0) * h)
        parts += [Part("rubber", 1.0, outline=rect(4.0, 2.0, cx=-0.3 * w, cy=-0.25 * h)),
                  Part("steel", 0.04, outline=rect(1.6, 0.6, cx=0.3 * w, cy=-0.28 * h))]
    elif contents == "make_up":  # a lipstick in a metal tube, a compact mirror, a mascara with its wire brush
        parts += [Part("aluminium", 1.8, outline=rect(7.0, 1.8, cx=-0.2 * w, cy=-0.1 * h), profile="tube",
                       wall_cm=0.05),
                  Part("plastic", 0.3, outline=disk(6.5, cx=0.2 * w, cy=-0.05 * h, n=24)),
                  Part("glass", 0.3, outline=disk(5.5, cx=0.2 * w, cy=-0.05 * h, n=24)),
                  Part("plastic", 1.4, outline=rect(12.0, 1.4, cx=0.0, cy=-0.3 * h), profile="tube", wall_cm=0.15),
                  stroke("steel", np.float32([[-4.0, -0.3 * h], [2.0, -0.3 * h]]), 0.06)]
    return centred("zip_pouch", parts, {"w_cm": w, "h_cm": h, "contents": contents}, tilt=False)


def _pages(rng: np.random.Generator, w: float, h: float, t: float) -> Part:
    """A block of pages: paper whose stack is a little uneven."""
    return Part("paper", t, outline=rect(w, h), texture=uniform(rng, 0.1, 0.2), texture_cm=uniform(rng, 0.5, 1.5),
                texture_seed=int(rng.integers(2**31)))


def _book(rng: np.random.Generator, w: float, h: float, t: float) -> list[Part]:
    """A bound book: pages, a glued spine, and hard cover boards (or a paperback's card)."""
    spine = np.float32([[-w / 2, -h / 2], [-w / 2, h / 2]])
    parts = [_pages(rng, w, h, t), stroke("paper", spine, uniform(rng, 1.0, 1.8), 0.25 * t)]
    if rng.random() < 0.5:  # hardback: boards overhang the pages and wrap the spine
        parts.append(Part("paper", uniform(rng, 0.3, 0.5), outline=rect(w + 0.6, h + 0.6, cx=0.1)))
    return parts


def _notebook(rng: np.random.Generator) -> list[Part]:
    """A spiral notebook: seen from above the wire coil is a row of small loops along the spine."""
    w, h = 21.0, 14.8
    ys = np.arange(-h / 2 + 0.5, h / 2 - 0.4, 0.85)
    t = np.linspace(0, 2 * np.pi, 9)
    loop = np.stack([0.45 * np.cos(t), 0.2 * np.sin(t) + 0.4 * t / (2 * np.pi)], 1)
    coil = np.concatenate([loop + (-w / 2 + 0.3, y) for y in ys]).astype(np.float32)
    return [_pages(rng, w, h, uniform(rng, 0.8, 1.5)), Part("paper", 0.15, outline=rect(w, h)),
            stroke("steel", coil, 0.1)]


def _magazine(rng: np.random.Generator) -> list[Part]:
    """A stapled magazine or brochure, A4: two staples through the fold."""
    ys = np.float32([-0.3, 0.3]) * 29.7 * uniform(rng, 0.9, 1.1)
    return [_pages(rng, 21.0, 29.7, uniform(rng, 0.3, 1.0)),
            Part("steel", 0.07, outline=joined(rects(-10.5 + 0.1, ys, 0.12, 1.2)))]


def _papers(rng: np.random.Generator) -> list[Part]:
    """Loose A4 sheets, maybe held by a paper clip (a steel wire loop) or in a plastic sleeve."""
    parts = [_pages(rng, 29.7, 21.0, uniform(rng, 0.1, 0.5))]
    if rng.random() < 0.5:
        clip = np.float32([[0, 0], [3.0, 0], [3.0, 0.8], [-0.4, 0.8], [-0.4, 0.2], [2.5, 0.2], [2.5, 0.6], [0.4, 0.6]])
        parts.append(stroke("steel", clip + np.float32([10.0, 8.5]), 0.09))
    else:
        parts.append(Part("plastic", 0.02, outline=rect(30.5, 21.8)))
    return parts


def make_books(rng: np.random.Generator) -> ObjectModel:
    """A book (18-30 cm, 2-6 cm thick) with a second one on it if thin, maybe a magazine, notebook or paper."""
    w = uniform(rng, 18, 30)
    h, t = w * uniform(rng, 0.65, 0.8), uniform(rng, 2.0, 6.0)
    parts = _book(rng, w, h, t)
    extras = []
    if t < 4.0:  # a thin book alone barely hides anything: readers pack two
        w2 = uniform(rng, 18, 30)
        extras.append("book")
        parts += moved(_book(rng, w2, w2 * uniform(rng, 0.65, 0.8), uniform(rng, 2.0, 4.0)),
                       angle_deg=uniform(rng, -20, 20), dx=uniform(rng, -3, 3), dy=uniform(rng, -3, 3))
    for _ in range(int(rng.integers(0, 3))):
        extra = str(rng.choice(["magazine", "notebook", "paper"]))
        extras.append(extra)
        item = {"magazine": _magazine, "notebook": _notebook, "paper": _papers}[extra](rng)
        parts += moved(item, angle_deg=uniform(rng, -25, 25), dx=uniform(rng, -6, 6), dy=uniform(rng, -6, 6))
    return centred("books", parts, {"w_cm": w, "h_cm": h, "thickness_cm": t, "extras": extras})
