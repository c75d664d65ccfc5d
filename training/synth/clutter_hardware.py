"""Hardware look-alikes: coat hangers, hinges, door handles, padlocks, chains and locks, carabiners, buckles.

How look-alikes are built (long axis along x, centred on the extent, ``meta``
with the sub-type, the sampled sizes and ``length_cm``; ``subtype`` forces a
sub-type without changing the draws) and why the scenes carry them is in
``clutter_tools``, whose ``LOOKALIKES`` lists them all.
"""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import (
    bezier,
    box_shell,
    chance,
    closed,
    coil_path,
    disk,
    keyhole,
    lookalike,
    moved,
    pick,
    polyline,
    ribbon,
    rod,
    smooth_path,
    stroke,
    uniform,
)
from training.synth.outlines import bar_row
from training.synth.parts import ObjectModel, Part, arc, ellipse, rect, rounded_rect, transform

__all__ = [
    "make_belt_buckle",
    "make_carabiner",
    "make_chain",
    "make_coat_hanger",
    "make_door_handle",
    "make_hinge",
    "make_padlock",
]


def _hook(rng: np.random.Generator, base: tuple[float, float], rise: float, R: float) -> np.ndarray:
    """A hanger hook from its base up, curling over to one side; swivelled hooks are seen foreshortened."""
    bx, by = base
    curl = arc(R, 0.0, uniform(rng, 200.0, 240.0), cx=-R, cy=by + rise, n=12)
    pts = np.concatenate([[(0.0, by)], curl])
    pts[:, 0] *= np.cos(np.deg2rad(uniform(rng, 60.0, 90.0))) if chance(rng, 0.25) else 1.0
    pts[:, 0] *= 1.0 if chance(rng, 0.5) else -1.0
    return pts + np.float32([bx, 0.0])


def make_coat_hanger(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A wire hanger (38-43 cm, steel wire, a twisted neck) or a plastic or wooden one with a steel hook (36-47 cm)."""
    sub = pick(rng, ["wire", "plastic", "wooden"], p=[0.45, 0.4, 0.15], forced=subtype)
    if sub == "wire":
        W, H, d = uniform(rng, 38.0, 42.0), uniform(rng, 12.0, 16.0), uniform(rng, 0.2, 0.3)
        rc, tw = uniform(rng, 1.0, 2.0), uniform(rng, 1.5, 3.0)
        c = 0.29 * rc
        left = bezier((0.0, H), (-0.3 * W, 0.6 * H), (-W / 2 + c, 1.71 * rc), n=10)
        right = bezier((W / 2 - c, 1.71 * rc), (0.3 * W, 0.6 * H), (0.0, H), n=10)
        frame = np.concatenate([left, arc(rc, 135.0, 270.0, cx=-W / 2 + rc, cy=rc, n=5),
                                arc(rc, 270.0, 405.0, cx=W / 2 - rc, cy=rc, n=5), right])
        hook = _hook(rng, (0.0, H + tw), 0.8, uniform(rng, 1.8, 2.5))
        path = np.concatenate([hook[::-1], frame]).astype(np.float32)
        neck = polyline((0.0, H), (0.0, H + tw))
        parts = [stroke("steel", path, d), stroke("steel", neck, d)]  # the neck is two wires
        tube = chance(rng, 0.25)
        if tube:  # a dry-cleaner's cardboard tube on the bar
            parts.append(Part("paper", 1.2, outline=rect(W - 2 * rc - 4.0, 1.2, cy=0.0), profile="tube", wall_cm=0.08))
        return lookalike("coat_hanger", sub, parts, dict(width_cm=W, wire_cm=d, tube=tube))
    if sub == "plastic":
        W, H = uniform(rng, 36.0, 44.0), uniform(rng, 10.0, 13.0)
        body = polyline((-W / 2, 1.0), (-W / 2 + 1.0, 2.0), (0.0, H), (W / 2 - 1.0, 2.0), (W / 2, 1.0))
        parts = [stroke("plastic", body, uniform(rng, 1.2, 2.0), uniform(rng, 0.6, 1.0), profile="flat")]
        if chance(rng, 0.5):  # a trouser bar
            parts.append(stroke("plastic", polyline((-W / 2 + 1.0, 1.0), (-W / 2 + 3.0, -1.0), (W / 2 - 3.0, -1.0),
                                                    (W / 2 - 1.0, 1.0)), 1.0, 0.6, profile="flat"))
        if chance(rng, 0.3):  # skirt clips with steel springs at the ends
            parts += [Part("steel", 0.12, outline=rect(1.0, 2.5, cx=s * (W / 2 - 2.5), cy=0.8)) for s in (-1, 1)]
        d, base, R = uniform(rng, 0.35, 0.45), H - 1.5, uniform(rng, 2.0, 2.6)
    else:
        W, H = uniform(rng, 42.0, 46.0), uniform(rng, 8.0, 11.0)
        body = bezier((-W / 2 + 1.5, 2.5), (-W / 4, H), (W / 4, H), (W / 2 - 1.5, 2.5), n=14)
        parts = [stroke("wood", body, uniform(rng, 3.5, 4.5), uniform(rng, 1.2, 1.8), profile="round"),
                 # the trouser bar: a steel rod bent up into the shoulders
                 stroke("steel", polyline((3.0 - W / 2, 3.0), (3.0 - W / 2, -2.0), (W / 2 - 3.0, -2.0),
                                          (W / 2 - 3.0, 3.0)), uniform(rng, 0.5, 0.7))]
        d, base, R = uniform(rng, 0.4, 0.5), 0.75 * H - 1.0, uniform(rng, 2.0, 2.6)
    parts.append(stroke("steel", _hook(rng, (0.0, base), 3.0, R), d))
    return lookalike("coat_hanger", sub, parts, dict(width_cm=W, hook_wire_cm=d))


def make_hinge(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A steel or brass butt hinge (5-10 cm) or T-strap hinge (12-28 cm), laid open, folded shut or at a right angle."""
    sub = pick(rng, ["butt", "strap"], p=[0.75, 0.25], forced=subtype)
    metal = pick(rng, ["steel", "brass"], p=[0.6, 0.4])
    t = uniform(rng, 0.15, 0.3)
    h, w = uniform(rng, 5.0, 10.0), uniform(rng, 2.0, 4.5)
    kd = 2 * t + uniform(rng, 0.25, 0.45)  # the knuckle: both leaves rolled round the pin
    holes = [disk(0.55, cx=float(x), cy=0.6 * w, n=10) for x in np.linspace(-0.3 * h, 0.3 * h, 2 if h < 7 else 3)]
    leaf = rounded_rect(h, w - kd / 2 + 0.1, 0.2, cy=(w + kd / 2 - 0.1) / 2)
    for hole in holes:
        leaf = keyhole(leaf, hole)
    if sub == "strap":  # the strap leaf runs out from the knuckle and tapers
        L = uniform(rng, 12.0, 25.0)
        y = np.linspace(kd / 2 - 0.1, L, 8)
        strap = ribbon(np.stack([np.zeros_like(y), y], 1), np.linspace(0.45 * h, 0.25 * h, 8), cap_end=0.12 * h)
        for yh in (0.35 * L, 0.75 * L):
            strap = keyhole(strap, disk(0.55, cy=float(yh), n=10))
        other = strap
    else:
        other = leaf
    # a strap hinge standing on its strap would not stay up on a belt
    state = pick(rng, ["open", "shut", "right_angle"], p=[0.5, 0.25, 0.25] if sub == "butt" else [0.7, 0.3, 0.0])
    parts = [Part(metal, t, outline=leaf),
             stroke(metal, polyline((-h / 2, 0.0), (h / 2, 0.0)), kd, profile="tube", wall=t),
             rod("steel", -h / 2 - 0.1, h / 2 + 0.1, kd - 2 * t)]
    if state == "open":
        parts += moved([Part(metal, t, outline=other)], mirror=True, angle_deg=180.0)
    elif state == "shut":  # the second leaf folded onto the first
        parts.append(Part(metal, t, outline=other))
    else:  # standing up: the beam runs down its width
        parts.append(stroke(metal, polyline((-h / 2 + 0.1, -kd / 2), (h / 2 - 0.1, -kd / 2)), t, w, profile="flat"))
    return lookalike("hinge", sub, parts, dict(material=metal, leaf_cm=t, state=state))


def _neck(metal: str, d: float) -> Part:
    """A handle's neck seen end-on: a 1.5 cm deep collar round the 8 mm square spindle hole."""
    return stroke(metal, closed(disk((d + 0.8) / 2, n=16)), (d - 0.8) / 2, 1.5, profile="flat")


def make_door_handle(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A lever handle on a rose or backplate (12-24 cm), a knob on its rose (5-7 cm) or a bar pull (12-38 cm)."""
    sub = pick(rng, ["lever", "knob", "pull"], p=[0.5, 0.2, 0.3], forced=subtype)
    metal = pick(rng, ["steel", "brass", "aluminium"], p=[0.6, 0.25, 0.15])  # zinc die-cast counts as steel
    parts: list[Part] = []
    meta: dict = dict(material=metal)
    if sub == "pull":
        c = float(rng.choice([9.6, 12.8, 16.0, 19.2, 25.6, 32.0]))  # hole centres, the cabinet standard
        d, ov, s = uniform(rng, 1.0, 1.4), uniform(rng, 0.0, 3.0), uniform(rng, 2.5, 3.5)
        bar = Part(metal, d, outline=rect(c + 2 * ov + d, d, cy=s), profile="tube", wall_cm=0.15)
        on_side = chance(rng, 0.6)
        if on_side:  # lying on its side: the bar and its two standoffs
            parts = [bar] + [stroke(metal, polyline((x, 0.0), (x, s)), 0.9 * d) for x in (-c / 2, c / 2)]
        else:  # standing on its standoffs: the beam runs down them
            parts = [bar] + [Part(metal, s, outline=disk(0.9 * d, cx=x, cy=s, n=12)) for x in (-c / 2, c / 2)]
        return lookalike("door_handle", sub, parts, {**meta, "centres_cm": c, "on_side": on_side})
    plate = chance(rng, 0.3) if sub == "lever" else False
    if plate:  # a backplate along y, the lever across it
        ph = uniform(rng, 17.0, 24.0)
        parts += box_shell(rounded_rect(uniform(rng, 4.3, 5.0), ph, 0.8, cy=-0.2 * ph), material=metal, plate_cm=0.2,
                           wall_cm=0.15, depth_cm=0.8)
    else:  # a round rose: cover and base plate
        rd = uniform(rng, 5.0, 6.5)
        parts += box_shell(disk(rd, n=24), material=metal, plate_cm=0.3, wall_cm=0.12, depth_cm=0.9)
    if sub == "lever":
        L, lw = uniform(rng, 11.5, 15.0), uniform(rng, 1.6, 2.3)
        x = np.linspace(0.0, L, 10)
        centre = np.stack([x, -uniform(rng, 0.0, 0.8) * (x / L) ** 2], 1)
        outline = ribbon(centre, lw * np.interp(x, [0, 0.2 * L, L], [1.25, 1.0, 1.1]), cap_end=0.5 * lw)
        hollow = metal == "steel" and chance(rng, 0.4)  # stainless tube levers; die-cast ones are solid
        parts += [Part(metal, 0.8 * lw, outline=outline, profile="tube", wall_cm=0.15) if hollow
                  else Part(metal, 0.75 * lw, outline=outline, profile="round"),
                  _neck(metal, uniform(rng, 1.8, 2.3))]
        meta.update(lever_cm=L, backplate=plate, hollow=hollow)
    else:
        kd = uniform(rng, 5.0, 6.5)
        parts += [Part(metal, kd, outline=disk(kd, n=24), profile="tube", wall_cm=0.12),  # a hollow shell, end-on
                  _neck(metal, 2.4)]
        meta.update(knob_cm=kd)
    if chance(rng, 0.5):  # the square spindle, loose beside it
        sl = uniform(rng, 7.0, 11.0)
        parts += moved([stroke("steel", polyline((-sl / 2, 0.0), (sl / 2, 0.0)), 0.8, 0.8, profile="flat")],
                       angle_deg=uniform(rng, -20, 20), dx=uniform(rng, 0.0, 4.0), dy=-4.5)
    return lookalike("door_handle", sub, parts, meta)


def make_padlock(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A brass or laminated steel padlock or a luggage lock (5-16 cm with the shackle), shut, or open and turned."""
    sub = pick(rng, ["brass", "laminated", "luggage"], p=[0.4, 0.25, 0.35], forced=subtype)
    if sub == "luggage":
        w, h, t = uniform(rng, 2.8, 3.8), uniform(rng, 3.2, 4.2), uniform(rng, 1.0, 1.4)
        d, cl = uniform(rng, 0.3, 0.4), uniform(rng, 1.0, 2.2)
        body = rounded_rect(w, h, 0.5)
        # die-cast zinc shell round the dials and the shackle latch
        parts = box_shell(body, material="steel", plate_cm=0.2, wall_cm=0.15, depth_cm=t)
        parts.append(Part("steel", 0.5, outline=bar_row(3, 0.75, 0.3, 1.0, cy=-0.2 * h)))  # dial wheels, edge-on
    else:
        w = uniform(rng, 3.0, 6.0)
        h, t, d = w * uniform(rng, 1.05, 1.3), w * uniform(rng, 0.38, 0.48), w * uniform(rng, 0.13, 0.17)
        cl = w * uniform(rng, 0.4, 0.9)
        if sub == "brass":
            parts = [Part("brass", t, outline=rounded_rect(w, h, 0.18 * w))]
        else:  # stacked steel plates held by rivets
            parts = [Part("steel", t, outline=rounded_rect(w, h, 0.08 * w))]
            parts += [Part("steel", 0.3, outline=disk(0.35, cx=s * 0.33 * w, cy=-0.3 * h, n=8)) for s in (-1, 1)]
    span = 0.55 * w
    r = span / 2
    opened = chance(rng, 0.3)
    lift = uniform(rng, 0.3, 0.45) * h if opened else 0.0
    turn = np.deg2rad(uniform(rng, 0.0, 180.0) if opened and chance(rng, 0.6) else 0.0)
    top = h / 2 + cl + lift
    shackle = np.concatenate([[(-r, h / 2 - 0.1 + lift)], arc(r, 180.0, 0.0, cx=0.0, cy=top - r, n=10),
                              [(r, h / 2 - 0.25 * h + lift)]])
    shackle[:, 0] = -r + (shackle[:, 0] + r) * np.cos(turn)  # turned about its long leg
    parts.append(stroke("steel", shackle.astype(np.float32), d))
    return lookalike("padlock", sub, parts, dict(body_w_cm=w, body_h_cm=h, shackle_cm=d, open=opened,
                                                 turned_deg=float(np.rad2deg(turn))))


def _chain_sides(axis: np.ndarray, d: float) -> tuple[np.ndarray, np.ndarray]:
    """The two sides of a chain of wire d whose links meet at the axis points (one inner length apart).

    Links alternate face-on (an oval between two axis points, reaching half a
    wire past each) and edge-on (a bar from inside one oval's hole to inside
    the next). Both sides trace the bars, so a bar's path doubles as the beam
    crosses both wires of an edge-on link; each side retraces the bar a
    little to reach the next oval, which costs nothing since a part's own
    overlaps do not add.
    """
    e, bulge = 0.5 * d, 1.2 * d  # link centre line: one inner length plus a wire long, 2.4 wires wide
    sides = []
    for sign in (1.0, -1.0):
        pts = []
        for k in range(0, len(axis) - 1, 2):
            a, b = axis[k], axis[k + 1]
            span = float(np.hypot(*(b - a)))
            t = (b - a) / max(span, 1e-6)
            s = np.linspace(-e, span + e, 8)
            side = sign * bulge * np.sin(np.pi * (s + e) / (span + 2 * e))
            oval = a + s[:, None] * t + side[:, None] * np.float32([-t[1], t[0]])
            pts.append(oval)
            if k + 2 < len(axis):
                c = axis[k + 2]
                u = (c - b) / max(float(np.hypot(*(c - b))), 1e-6)
                pts.append(np.stack([b - e * u, c + e * u]))
        sides.append(np.concatenate(pts).astype(np.float32))
    return sides[0], sides[1]


def make_chain(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A short steel chain (20-60 cm), a bicycle chain lock in its sleeve (60-110 cm) or a coiled cable lock."""
    sub = pick(rng, ["chain", "chain_lock", "cable_lock"], p=[0.3, 0.35, 0.35], forced=subtype)
    meta: dict = {}
    if sub == "cable_lock":
        coiled = chance(rng, 0.7)
        path = (coil_path(rng, uniform(rng, 5.0, 8.0), uniform(rng, 2.0, 3.5), tail_cm=6.0) if coiled
                else smooth_path(rng, uniform(rng, 60.0, 110.0), step=2.0, curvature=0.06))
        core = uniform(rng, 0.8, 1.1)
        # stranded cable is about 70 % steel; a vinyl jacket round it
        parts = [stroke("plastic", path, core + 0.3), stroke("steel", path, core, 0.7 * core)]
        meta.update(coiled=coiled, cable_cm=core)
    else:
        lock = sub == "chain_lock"
        d = uniform(rng, 0.6, 1.0) if lock else uniform(rng, 0.3, 0.6)
        length = uniform(rng, 60.0, 110.0) if lock else uniform(rng, 20.0, 60.0)
        inner = uniform(rng, 3.0, 4.5) * d  # short- to long-link chain
        axis = smooth_path(rng, length, step=inner, curvature=uniform(rng, 0.02, 0.1))
        side_a, side_b = _chain_sides(axis, d)
        parts = [stroke("steel", side_a, d), stroke("steel", side_b, d)]
        if lock:
            sw = 3.4 * d + 1.2
            parts.insert(0, stroke("cloth", axis, sw, sw, profile="tube", wall=0.2))
            path = axis
        meta.update(link_wire_cm=d, links=len(axis) - 1)
    if sub != "chain":  # the lock head at one end, along the line's last step
        (x0, y0), (x1, y1) = path[-1], path[-2]
        angle = float(np.rad2deg(np.arctan2(y0 - y1, x0 - x1)))
        head = [Part("plastic", 3.0, outline=rounded_rect(7.0, 4.5, 1.5, cx=2.5), profile="round"),
                Part("steel", 1.6, outline=rounded_rect(5.0, 3.2, 0.6, cx=2.5)),
                Part("brass", 1.2, outline=rect(2.5, 1.4, cx=3.0), profile="round")]  # the lock cylinder
        parts += moved(head, angle_deg=angle, dx=float(x0), dy=float(y0))
    return lookalike("chain", sub, parts, meta, tilt=False)


def make_carabiner(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """An aluminium climbing carabiner (9.5-11.5 cm) or a small keychain one (4-8 cm), gate shut or pushed open."""
    sub = pick(rng, ["climbing", "keychain"], p=[0.45, 0.55], forced=subtype)
    climbing = sub == "climbing"
    L = uniform(rng, 9.5, 11.5) if climbing else uniform(rng, 4.0, 8.0)
    W = L * uniform(rng, 0.55, 0.68) if climbing else L * uniform(rng, 0.42, 0.55)
    d = uniform(rng, 0.9, 1.2) if climbing else uniform(rng, 0.3, 0.6)
    metal = "aluminium" if climbing else pick(rng, ["aluminium", "steel"], p=[0.5, 0.5])
    w, h = L - d, W - d
    ring = rounded_rect(w, h, 0.45 * h, n=6)
    # the gate spans the top edge from its hinge on the left to the nose halfway round the right end
    g0, g1 = ring[6], ring[3]
    frame = np.concatenate([ring[6:], ring[:4]])
    # a D: the spine end is fuller than the nose end
    skew = lambda p: np.stack([p[:, 0], p[:, 1] * (1 + 0.18 * p[:, 0] / w)], 1).astype(np.float32)  # noqa: E731
    opened = chance(rng, 0.3)
    a = np.deg2rad(-uniform(rng, 15.0, 30.0) if opened else 0.0)
    gate = skew(np.stack([g0, g0 + transform((g1 - g0)[None], angle_deg=float(np.rad2deg(a)))[0]]))
    parts = [stroke(metal, skew(frame), d)]
    style = pick(rng, ["wire", "solid"], p=[0.5, 0.5]) if climbing else "wire"
    if style == "wire":  # a loop of steel spring wire
        parts.append(stroke("steel", gate, 0.25 if climbing else 0.15))
    else:  # a solid bar with a steel spring and a steel rivet
        parts += [stroke(metal, gate, 0.8 * d), stroke("steel", gate, 0.15, 0.3),
                  Part("steel", d, outline=disk(0.6 * d, cx=float(gate[0, 0]), cy=float(gate[0, 1]), n=10),
                       profile="round")]
    locking = climbing and chance(rng, 0.4)
    if locking:  # a screw sleeve over the nose end of the gate
        mid = gate[0] + 0.8 * (gate[1] - gate[0])
        ang = float(np.rad2deg(np.arctan2(*(gate[1] - gate[0])[::-1])))
        sleeve = rect(2.2, 1.5 * d, cx=float(mid[0]), cy=float(mid[1]), angle_deg=ang)
        parts.append(Part("aluminium", 1.5 * d, outline=sleeve, profile="tube", wall_cm=0.12))
    return lookalike("carabiner", sub, parts, dict(length_nominal_cm=L, rod_cm=d, material=metal, gate=style,
                                                   open=opened, locking=locking))


def make_belt_buckle(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A loose belt buckle: frame and prong (3-6 cm), cast plate (6-9 cm) or automatic clamp; a belt stub (to 16 cm)."""
    sub = pick(rng, ["frame", "plate", "automatic"], p=[0.55, 0.25, 0.2], forced=subtype)
    metal = pick(rng, ["steel", "brass"], p=[0.75, 0.25])  # zinc alloy images like steel
    bw = uniform(rng, 2.5, 4.0)  # the belt's width
    parts: list[Part]
    if sub == "frame":
        depth, d = uniform(rng, 2.5, 4.5), uniform(rng, 0.35, 0.6)
        parts = [stroke(metal, closed(rounded_rect(depth + d, bw + 0.3 + d, uniform(rng, 0.3, 1.0))), d, 0.9 * d)]
        bar = -depth / 2 if chance(rng, 0.6) else -depth / 2 + 0.4 * depth
        if bar > -depth / 2:
            parts.append(stroke(metal, polyline((bar, -(bw + 0.3) / 2), (bar, (bw + 0.3) / 2)), 0.8 * d))
        tip = depth / 2 + d / 2 if chance(rng, 0.8) else bar - 0.6 * depth  # the prong may be folded back
        parts.append(stroke(metal, polyline((bar, 0.0), (tip, 0.0)), 0.4, 0.3))
    elif sub == "plate":
        pw, ph = uniform(rng, 6.0, 9.0), uniform(rng, 4.5, 6.0)
        outline = rounded_rect(pw, ph, uniform(rng, 0.5, 1.5)) if chance(rng, 0.6) else ellipse(pw / 2, ph / 2, n=28)
        parts = [Part(metal, uniform(rng, 0.25, 0.4), outline=outline, texture=0.25, texture_cm=0.8,
                      texture_seed=int(rng.integers(1 << 30))),  # cast relief
                 Part(metal, 1.0, outline=disk(0.9, cx=-0.25 * pw, n=12), profile="round"),  # the stud
                 stroke(metal, polyline((0.3 * pw, -0.25 * ph), (0.3 * pw, 0.25 * ph)), 0.45)]
    else:
        bl, bh = uniform(rng, 4.5, 5.5), bw + uniform(rng, 0.4, 0.8)
        parts = box_shell(rounded_rect(bl, bh, 0.4), material=metal, plate_cm=0.15, wall_cm=0.15, depth_cm=0.9)
        parts.append(Part("steel", 0.4, outline=rect(0.8, bw, cx=0.2 * bl)))  # the toothed clamp bar
    stub = sub != "plate" and chance(rng, 0.3)
    if stub:  # a cut-off end of the belt still on it
        sl = uniform(rng, 3.0, 10.0)
        x0 = float(min(p.points()[:, 0].min() for p in parts))
        parts += [Part("leather", 0.7, outline=rect(sl, bw, cx=x0 - sl / 2 + 0.5)),
                  Part("steel", 0.4, outline=disk(0.6, cx=x0 - 1.2, n=10))]
    return lookalike("belt_buckle", sub, parts, dict(material=metal, belt_cm=bw, belt_stub=stub))
