"""Parametric models of the five SIXray-D threat classes: gun, knife, wrench, pliers, scissors.

A factory draws every parameter from the generator it is given, so one seed
gives one object. Sizes are real sizes in cm, and a part's thickness is the
path length a ray crossing the object as it lies on the belt sees in that
material: a pistol slide is a steel box as wide as the gun, a blade is a 0.2 cm plate
with a thinner bevel along its edge, a magazine sits inside the grip and both
attenuate. Each object is built with its long axis along x and then centred
on its extent. ``subtype`` and ``opened`` force a sub-type or a state (for
tests and previews); the generator is drawn from the same way either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from training.synth.clutter_shapes import bezier, chance, closed, disk, keyhole, moved, pick, ribbon, stroke, uniform
from training.synth.parts import ObjectModel, Part, arc, ellipse, polygon, rect, rounded_rect, transform

__all__ = ["THREATS", "make_gun", "make_knife", "make_pliers", "make_scissors", "make_threat", "make_wrench"]

# --- shared geometry -------------------------------------------------------------------------------


def _clip_below(poly: np.ndarray, y_max: float) -> np.ndarray:
    """The part of a polygon at or below y = y_max (one Sutherland-Hodgman pass)."""
    out = []
    for p, q in zip(poly, np.roll(poly, -1, axis=0)):
        if p[1] <= y_max:
            out.append(p)
        if (p[1] <= y_max) != (q[1] <= y_max):
            out.append(p + (y_max - p[1]) / (q[1] - p[1]) * (q - p))
    return polygon(out)


def _mirror_y(parts: list[Part]) -> list[Part]:
    """Parts mirrored about the x axis (y -> -y)."""
    return moved(parts, mirror=True, angle_deg=180.0)


def _plate(material: str, t: float, outline: np.ndarray, profile: str = "flat") -> Part:
    return Part(material, float(t), outline=outline, profile=profile)


def _threat(label: str, sub: str, parts: list[Part], meta: dict) -> ObjectModel:
    """The finished threat, centred on its extent, with its length in meta."""
    x0, y0, x1, y1 = ObjectModel(label, parts).extent_cm()
    parts = moved(parts, dx=-(x0 + x1) / 2, dy=-(y0 + y1) / 2)
    meta = {"subtype": sub, **{k: round(v, 3) if isinstance(v, float) else v for k, v in meta.items()},
            "length_cm": round(max(x1 - x0, y1 - y0), 2)}
    return ObjectModel(f"{label}/{sub}", parts, label=label, meta=meta)


# --- gun ---------------------------------------------------------------------------------------------
# Side view, barrel axis on y = 0 pointing to +x; the grip hangs below and behind.


def _grip(length: float, widths, angle_deg: float, clip_y: float, back_x: float, *, bend: float = 0.0):
    """A grip outline hanging at angle_deg to the barrel from the line y = clip_y, and its placing.

    Local coordinates: u down the grip (0 at the clip line), v across it (+v to the front).
    Returns the outline and a function mapping local (u, v) points to the gun's frame,
    shifted so the grip's back edge meets the frame at x = back_x.
    """
    u = np.linspace(-3.0, length, 20)
    centre = np.stack([u, -bend * np.clip(u / length, 0, None) ** 2], 1)  # bend > 0: the butt curls back
    widths = np.interp(u, np.linspace(-3.0, length, len(widths)), widths)
    local = ribbon(centre, widths, cap_end=min(widths[-1] / 2, 1.2))
    outline = transform(local, angle_deg=-angle_deg, dy=clip_y)
    outline = _clip_below(outline, clip_y)
    on_line = outline[np.abs(outline[:, 1] - clip_y) < 1e-4]
    dx = back_x - float(on_line[:, 0].min())

    def place(points) -> np.ndarray:
        return transform(polygon(points), angle_deg=-angle_deg, dx=dx, dy=clip_y)

    return outline + np.float32([dx, 0.0]), place


def _barrel(x0: float, x1: float, d: float, wall: float) -> Part:
    """A steel barrel along y = 0 seen from the side: a tube (stroke caps are round, so ends are pulled in)."""
    return stroke("steel", polygon([(x0, 0.0), (x1, 0.0)]), d, profile="tube", wall=wall)


def _guard_and_trigger(material: str, front: tuple[float, float], place, depth: float, grip_front: float) -> list[Part]:
    """Trigger guard (a round bar from the frame round to the grip front) and the trigger in it."""
    fx, fy = front
    a, b = place([(0.0, grip_front), (1.0, grip_front)])  # the grip's front strap, one cm apart
    ex, ey = a + (b - a) * ((a[1] - fy + depth) / (a[1] - b[1]))  # where the guard meets it, depth below the frame
    corner = bezier((fx - 0.15, fy - depth + 0.9), (fx - 0.25, fy - depth), (fx - 1.1, fy - depth), n=8)
    guard = np.concatenate([polygon([(fx, fy + 0.2)]), corner, polygon([(ex, ey)])])
    tx = ex + 0.55 * (fx - ex)
    drop = depth * 0.75
    trigger = bezier((tx, fy + 0.1), (tx + 0.5, fy - 0.5 * drop), (tx, fy - drop), (tx - 0.5, fy - drop), n=8)
    return [stroke(material, guard, 0.45, 0.9), stroke(material, trigger, 0.4, 0.6, profile="flat")]


def _pistol(rng: np.random.Generator, compact: bool) -> tuple[list[Part], dict]:
    length = uniform(rng, 15.0, 17.0) if compact else uniform(rng, 17.5, 21.0)
    height = uniform(rng, 2.7, 3.1) if compact else uniform(rng, 2.9, 3.5)
    width = uniform(rng, 2.1, 2.6) if compact else uniform(rng, 2.3, 2.9)
    # screening sets (SIXray among them) are dominated by all-metal handguns and replicas
    polymer = chance(rng, 0.4 if compact else 0.3)
    grip_angle = uniform(rng, 100.0, 115.0)
    grip_len = uniform(rng, 7.0, 9.0) if compact else uniform(rng, 9.5, 12.0)
    grip_depth = uniform(rng, 4.4, 5.0) if compact else uniform(rng, 4.7, 5.6)
    frame_h = uniform(rng, 1.0, 1.5)
    overhang = uniform(rng, 0.3, 2.5)  # slide beyond the frame's dust cover
    bore = uniform(rng, 1.2, 1.45)
    yb, yt = -0.42 * height, 0.58 * height
    yf = yb - frame_h
    L = length
    slide = polygon([(0, yb), (L - 0.4, yb), (L, yb + 0.4), (L, yt - 0.3), (L - 0.3, yt), (L - 0.8, yt),
                     (L - 0.9, yt + 0.3), (L - 1.3, yt + 0.3), (L - 1.5, yt), (1.6, yt), (1.4, yt + 0.45),
                     (0.3, yt + 0.45), (0.2, yt), (0, yt - 0.3)])
    frame_mat, frame_t = ("plastic", 0.9 * width) if polymer else ("steel", 1.1)
    grip, place = _grip(grip_len, [grip_depth] * 2, grip_angle, yf, 0.2)
    front = L - overhang
    frame = polygon([(-0.9, yb - 0.1), (front, yb), (front, yf + 0.35), (front - 0.35, yf), (0.2, yf),
                     (-0.6, yb - 0.5)])
    # the slide is a steel box round the barrel and recoil spring: a ray crosses its two side walls,
    # and runs along a wall only near its top and bottom edges (a tube section, not solid steel)
    parts = [Part("steel", width, outline=slide, profile="tube", wall_cm=uniform(rng, 0.35, 0.5)),
             _barrel(1.0 + bore / 2, L + 0.1 - bore / 2, bore, 0.3),
             _plate(frame_mat, frame_t, frame)]
    if polymer:
        parts.append(_plate("plastic", uniform(rng, 2.9, 3.3), grip, "round"))
    else:  # a steel grip frame under wood, plastic or rubber panels
        parts.append(_plate("steel", 0.5, grip))
        panel = place(rounded_rect(grip_len - 1.2, grip_depth - 1.0, 0.8, cx=grip_len / 2 - 0.2, cy=0.0))
        parts.append(_plate(pick(rng, ["wood", "plastic", "rubber"]), 2.0, panel, "round"))
    mag_depth = min(grip_depth - 1.6, 3.4)
    loaded = uniform(rng, 0.0, 1.0)
    has_mag = chance(rng, 0.8)
    if has_mag:
        top, bottom, v0 = -frame_h * 0.8, grip_len + 0.2, 0.2 - mag_depth / 2
        parts.append(_plate("steel", 0.2, place(rect(bottom - top, mag_depth, cx=(top + bottom) / 2, cy=0.2))))
        if loaded > 0.2:  # cartridges: brass cases behind, lead bullets to the front
            u1 = top + 0.15 + loaded * (bottom - top - 1.5)
            cases = rect(u1 - top - 0.15, mag_depth - 1.2, cx=(top + 0.15 + u1) / 2, cy=v0 + 0.1 + (mag_depth - 1.2) / 2)
            bullets = rect(u1 - top - 0.15, 0.85, cx=(top + 0.15 + u1) / 2, cy=v0 + mag_depth - 0.15 - 0.45)
            parts += [_plate("brass", 0.25, place(cases)), _plate("lead", 0.9, place(bullets))]
    guard_len = min(uniform(rng, 3.6, 4.6), front - float(place([(0.0, grip_depth / 2)])[0, 0]) - 0.4)
    gx = float(place([(0.0, grip_depth / 2)])[0, 0]) + guard_len
    parts += _guard_and_trigger(frame_mat, (gx, yf), place, uniform(rng, 2.2, 2.6), grip_depth / 2)
    hammer = not polymer and chance(rng, 0.75)
    if hammer:
        parts.append(_plate("steel", 0.7, polygon([(0.3, yb - 0.1), (0.2, yb + 0.9), (-0.5, yb + 1.2),
                                                    (-0.9, yb + 0.9), (-0.5, yb + 0.5), (-0.5, yb - 0.2)])))
    meta = dict(frame="polymer" if polymer else "steel", slide_length_cm=L, slide_width_cm=width,
                grip_angle_deg=grip_angle, magazine=has_mag, loaded=has_mag and loaded > 0.2, hammer=hammer)
    return parts, meta


def _revolver(rng: np.random.Generator) -> tuple[list[Part], dict]:
    cyl_len, cyl_d = uniform(rng, 3.6, 4.3), uniform(rng, 3.3, 4.0)
    bl = float(rng.choice([5.0, 8.0, 10.0, 12.0])) * uniform(rng, 0.95, 1.05)  # snub to service length
    bore = uniform(rng, 1.5, 1.9)
    grip_angle = uniform(rng, 100.0, 115.0)
    yc = -(cyl_d / 2 - 0.75)  # the bore lines up with the top chamber
    y_top, y_bot = yc + cyl_d / 2 + 0.55, yc - cyl_d / 2 - 0.45
    xf, xr = cyl_len + uniform(rng, 0.9, 1.4), -uniform(rng, 1.0, 1.4)
    y_grip = y_bot - 0.6
    outer = polygon([(xf, y_top - 0.15), (xr + 0.2, y_top), (xr - 0.6, y_top - 0.7), (xr - 0.8, yc),
                     (xr - 0.9, y_grip), (0.7 * cyl_len, y_grip), (xf, y_bot + 0.3)])
    window = rounded_rect(cyl_len + 0.1, cyl_d + 0.1, 0.3, cx=cyl_len / 2, cy=yc)
    cylinder = rounded_rect(cyl_len, cyl_d, 0.35, cx=cyl_len / 2, cy=yc)
    lug = bl * uniform(rng, 0.45, 1.0)  # full underlug or ejector-rod shroud
    grip_len = uniform(rng, 8.0, 10.5)
    gw = uniform(rng, 3.2, 3.7)
    grip, place = _grip(grip_len, [gw, gw * 1.08, gw * 0.95], grip_angle, y_grip, xr - 0.9,
                        bend=uniform(rng, 0.0, 1.5))
    grip_mat = pick(rng, ["wood", "rubber", "plastic"])
    parts = [_plate("steel", 0.55 * cyl_d, cylinder, "round"),  # six bored chambers: about half is steel
             _plate("steel", uniform(rng, 1.2, 1.5), keyhole(outer, window)),
             _barrel(xf, xf + bl - bore / 2, bore, 0.45),
             _plate("steel", 0.9, rect(lug, 0.9, cx=xf + lug / 2, cy=-bore / 2 - 0.3)),
             _plate(grip_mat, uniform(rng, 3.0, 3.6), grip, "round"),
             _plate("steel", 0.7, place(rect(grip_len * 0.85 + 1.0, 1.2, cx=grip_len * 0.85 / 2 - 0.5, cy=-0.2)))]
    loaded = chance(rng, 0.7)
    if loaded:  # rims and cases behind, bullets in the front of the chambers
        parts += [_plate("brass", 0.3, rect(cyl_len - 1.2, cyl_d - 0.6, cx=(cyl_len - 1.2) / 2 + 0.05, cy=yc)),
                  _plate("lead", 0.9, rect(1.0, cyl_d - 0.8, cx=cyl_len - 0.7, cy=yc))]
    parts += _guard_and_trigger("steel", (0.9 * cyl_len, y_grip + 0.2), place, uniform(rng, 2.0, 2.5), gw / 2)
    hammer = chance(rng, 0.8)
    if hammer:
        spur = uniform(rng, 0.6, 1.3)
        parts.append(_plate("steel", 0.7, polygon([(xr + 0.2, y_top - 0.2), (xr - 0.6, y_top + spur * 0.7),
                                                    (xr - 0.6 - spur, y_top + spur), (xr - 0.9, y_top - 0.3),
                                                    (xr - 0.7, yc)])))
    meta = dict(barrel_cm=bl, cylinder_d_cm=cyl_d, grip_angle_deg=grip_angle, grip=grip_mat, loaded=loaded, hammer=hammer)
    return parts, meta


def make_gun(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A handgun in side view: full-size or compact semi-automatic pistol, or a revolver (14-25 cm)."""
    sub = pick(rng, ["pistol", "compact", "revolver"], p=[0.45, 0.25, 0.3], forced=subtype)
    parts, meta = _revolver(rng) if sub == "revolver" else _pistol(rng, compact=sub == "compact")
    return _threat("gun", sub, parts, meta)


# --- knife -------------------------------------------------------------------------------------------
# Blade along +x from the heel (x = 0) to the tip, spine up and edge down; the handle runs along -x.


def _blade(length: float, top, bottom, t: float, *, bevel: float, edge_t: float, double: bool = False,
           dx: float = 0.0, n: int = 24) -> list[Part]:
    """A blade between spine and edge curves over x in [0, length]: a plate plus thinner bevels along the edges."""
    x = np.linspace(0.0, length, n)
    yt, yb = top(x), bottom(x)
    b = np.minimum(bevel, (0.3 if double else 0.45) * (yt - yb))
    lo, hi = yb + b, (yt - b if double else yt)

    def band(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
        return polygon(np.concatenate([np.stack([x + dx, upper], 1), np.stack([x + dx, lower], 1)[::-1]]))

    parts = [_plate("steel", t, band(hi, lo)), _plate("steel", edge_t, band(lo, yb))]
    return parts + [_plate("steel", edge_t, band(yt, hi))] if double else parts


def _curve_down(x: np.ndarray, start: float, end: float, drop: float, power: float = 2.0) -> np.ndarray:
    """0 before start, then falling by drop at end along s**power: a spine or an edge belly."""
    return -drop * np.clip((x - start) / max(end - start, 1e-6), 0.0, 1.0) ** power


def _handle(rng: np.random.Generator, length: float, width: float, *, y: float, blade_t: float,
            materials: Sequence[str] = ("wood", "plastic", "steel", "rubber")) -> tuple[list[Part], str]:
    """A fixed-blade handle along -x from x = 0: scales or a moulded grip over the tang, or a hollow steel one."""
    mat = pick(rng, materials)
    x = np.linspace(0.0, -length, 14)
    s = x / -length
    centre = np.stack([x, y - uniform(rng, 0.0, 0.4) * s**2], 1)  # handles drop a little towards the butt
    w = width * (1 + uniform(rng, 0.0, 0.12) * np.sin(np.pi * s) + uniform(rng, 0.0, 0.15) * s**4)
    thick = uniform(rng, 1.4, 2.2)
    outline = ribbon(centre, w, cap_end=width * 0.3)
    if mat == "steel":  # a pressed steel shell, hollow
        return [Part("steel", thick * 0.8, outline=outline, profile="tube", wall_cm=0.08)], mat
    parts = [_plate(mat, thick, outline, "round")]
    full_tang = mat != "rubber" and chance(rng, 0.7)
    k = 13 if full_tang else 8
    parts.append(_plate("steel", blade_t if full_tang else 0.5, ribbon(centre[:k], w[:k] * (0.6 if full_tang else 0.3))))
    if full_tang:
        rivet = pick(rng, ["brass", "steel"])
        for f in np.linspace(0.25, 0.8, int(rng.integers(2, 4))):
            parts.append(_plate(rivet, thick * 0.8, disk(0.45, cx=-f * length, cy=float(np.interp(f, s, centre[:, 1]))), "round"))
    return parts, mat


def _kitchen(rng: np.random.Generator) -> tuple[list[Part], dict]:
    style = pick(rng, ["chef", "santoku", "slicer", "paring"])
    # length range, height/length, where the spine starts to fall, drop of the tip (in heights), where the belly starts
    lo, hi, hr, sp, dr, bs = {"chef": (16, 30, 0.21, 0.6, 0.45, 0.45), "santoku": (13, 18, 0.27, 0.7, 0.9, 0.8),
                              "slicer": (18, 25, 0.14, 0.65, 0.5, 0.6), "paring": (7, 11, 0.22, 0.5, 0.4, 0.5)}[style]
    L = uniform(rng, lo, hi)
    h = L * hr * uniform(rng, 0.85, 1.15)
    drop = dr * h
    t = uniform(rng, 0.15, 0.2) if style == "paring" else uniform(rng, 0.18, 0.3)
    parts = _blade(L, lambda x: _curve_down(x, sp * L, L, drop), lambda x: -h - _curve_down(x, bs * L, L, h - drop, 1.8),
                   t, bevel=min(0.3 * h, uniform(rng, 0.4, 0.9)), edge_t=uniform(rng, 0.05, 0.09))
    hw = uniform(rng, 1.8, 2.5) if style != "paring" else uniform(rng, 1.5, 1.9)
    handle, mat = _handle(rng, min(0.45 * L + uniform(rng, 4.0, 6.0), 14.0), hw, y=0.15 - hw / 2, blade_t=t)
    if style in ("chef", "santoku") and mat != "steel" and chance(rng, 0.5):
        handle.append(_plate("steel", 1.3, rounded_rect(1.2, hw + 0.1, 0.4, cx=-0.4, cy=0.15 - hw / 2), "round"))
    return parts + handle, dict(style=style, blade_cm=L, blade_height_cm=h, handle=mat)


def _dagger(rng: np.random.Generator) -> tuple[list[Part], dict]:
    L, h = uniform(rng, 12.0, 28.0), uniform(rng, 2.0, 3.8)
    straight, q = uniform(rng, 0.0, 0.6), uniform(rng, 0.7, 1.1)

    def top(x: np.ndarray) -> np.ndarray:
        return h / 2 * np.minimum(1.0, (1 - x / L) / (1 - straight)) ** q

    t = uniform(rng, 0.25, 0.4)
    parts = _blade(L, top, lambda x: -top(x), t, bevel=uniform(rng, 0.4, 0.7), edge_t=uniform(rng, 0.06, 0.1), double=True)
    metal = pick(rng, ["steel", "brass"])
    gw, gh = uniform(rng, 0.6, 1.2), h + uniform(rng, 1.5, 5.0)
    hl, hw = uniform(rng, 9.0, 12.0), uniform(rng, 2.0, 2.8)
    handle, mat = _handle(rng, hl, hw, y=0.0, blade_t=t, materials=("wood", "leather", "plastic", "rubber"))
    parts += [_plate(metal, uniform(rng, 0.8, 1.4), rounded_rect(gw, gh, 0.25, cx=-gw / 2))]
    parts += moved(handle, dx=-gw)
    parts.append(_plate(metal, 2.0, ellipse(0.9, hw * 0.6, cx=-gw - hl - 0.5), "round"))
    return parts, dict(blade_cm=L, blade_height_cm=h, handle=mat, guard=metal)


def _folding(rng: np.random.Generator, opened: bool | None) -> tuple[list[Part], dict]:
    L, h = uniform(rng, 5.5, 10.0), uniform(rng, 1.8, 2.8)
    t = uniform(rng, 0.25, 0.35)
    is_open = chance(rng, 0.5) if opened is None else opened
    blade = _blade(L, lambda x: h / 2 + _curve_down(x, 0.55 * L, L, 0.35 * h),
                   lambda x: -h / 2 - _curve_down(x, 0.5 * L, L, 0.65 * h, 1.8),
                   t, bevel=0.35 * h, edge_t=0.08, dx=0.8)
    blade.append(_plate("steel", t, rounded_rect(1.9, h, 0.45 * h, cx=-0.1)))  # tang round the pivot
    hl, hh = L + uniform(rng, 1.8, 2.8), h + uniform(rng, 0.4, 0.8)
    x = np.linspace(1.2, 1.2 - hl, 12)
    centre = np.stack([x, -uniform(rng, 0.0, 0.5) * ((1.2 - x) / hl) ** 2], 1)
    w = hh * (1 - 0.1 * np.sin(np.pi * (1.2 - x) / hl))
    scale = pick(rng, ["plastic", "wood", "aluminium"])
    scales = ribbon(centre, w, cap_start=0.6, cap_end=0.6)
    parts = [_plate(scale, 0.5, scales) if scale == "aluminium" else _plate(scale, uniform(rng, 0.9, 1.3), scales, "round"),
             _plate("steel", uniform(rng, 0.15, 0.25), ribbon(centre, w * 0.88, cap_start=0.4, cap_end=0.4)),  # liners
             _plate("steel", 1.2, disk(uniform(rng, 0.8, 1.1)), "round")]  # pivot screw
    if chance(rng, 0.6):  # pocket clip at the butt
        clip = uniform(rng, 4.0, 6.0)
        parts.append(_plate("steel", 0.12, rect(clip, 0.9, cx=2.0 - hl + clip / 2, cy=hh / 2 - 0.4)))
    parts += blade if is_open else moved(blade, angle_deg=180.0)
    return parts, dict(open=is_open, blade_cm=L, handle_cm=hl, handle=scale)


def _utility(rng: np.random.Generator) -> tuple[list[Part], dict]:
    style = pick(rng, ["box_cutter", "snap_off"])
    if style == "box_cutter":  # body along -x, the trapezoid blade out of the nose at the bottom
        bl, bh = uniform(rng, 14.0, 17.0), uniform(rng, 2.6, 3.3)
        body = polygon([(-bl, -0.3 * bh), (-bl + 0.6, -bh / 2), (-1.5, -bh / 2), (0, -0.35 * bh), (0, -0.05 * bh),
                        (-3.0, bh / 2), (-bl + 1.0, bh / 2), (-bl, 0.2 * bh)])
        metal_body = chance(rng, 0.6)
        e, yb = uniform(rng, 0.0, 2.2), -0.33 * bh
        blade = polygon([(e - 6.1, yb), (e, yb), (e - 1.1, yb + 1.9), (e - 5.0, yb + 1.9)])
        parts = [_plate("aluminium", 0.5, body) if metal_body else _plate("plastic", uniform(rng, 1.4, 1.8), body, "round"),
                 _plate("steel", 0.06, blade), _plate("steel", 1.5, disk(0.7, cx=-0.55 * bl, cy=0.0), "round")]
        if metal_body and chance(rng, 0.5):  # spare blades stored in the handle
            parts.append(_plate("steel", 0.06 * int(rng.integers(2, 6)), transform(blade, dx=-bl + 6.5 - e)))
        return parts, dict(style=style, body="aluminium" if metal_body else "plastic", blade_cm=6.1, exposed_cm=e)
    bl, bw = uniform(rng, 13.0, 17.0), 0.9 if chance(rng, 0.5) else 1.8  # 9 or 18 mm blades
    e, blade_len = uniform(rng, 0.5, 4.0), uniform(rng, 8.0, 10.0)
    y0 = -bw / 2
    blade = polygon([(e - blade_len, y0), (e, y0), (e - bw * 0.6, y0 + bw), (e - blade_len, y0 + bw)])
    body = ribbon(polygon([(0.0, 0.0), (-bl, 0.0)]), bw + uniform(rng, 0.9, 1.4), cap_start=0.5, cap_end=0.8)
    parts = [_plate("plastic", uniform(rng, 1.2, 1.6), body, "round"),
             _plate("steel", 0.1, rect(bl * 0.85, bw + 0.2, cx=-bl * 0.45)),  # the metal blade channel
             _plate("steel", 0.05, blade)]
    return parts, dict(style=style, body="plastic", blade_cm=blade_len, exposed_cm=e)


def _sak_tool(name: str, body_len: float, body_h: float) -> np.ndarray:
    """Outline of one Swiss-army-knife tool, pivot at the origin, opened along +x."""
    L, h = {"blade": (0.8, 0.55), "small_blade": (0.55, 0.42), "saw": (0.75, 0.45),
            "opener": (0.5, 0.45), "awl": (0.45, 0.2)}[name]
    L, h = L * body_len, h * body_h
    if name in ("blade", "small_blade"):
        x = np.linspace(0.6, L, 12)
        top = h / 2 + _curve_down(x, 0.6 * L, L, 0.3 * h)
        bottom = -h / 2 - _curve_down(x, 0.5 * L, L, 0.7 * h, 1.8)
        return polygon(np.concatenate([[(-0.35, -h / 2), (-0.35, h / 2)], np.stack([x, top], 1), np.stack([x, bottom], 1)[::-1]]))
    if name == "saw":
        x = np.arange(0.8, L - 0.6, 0.3)
        teeth = np.stack([x, -h / 2 - 0.12 * (np.arange(len(x)) % 2)], 1)
        return polygon(np.concatenate([[(-0.35, -h / 2), (-0.35, h / 2), (L - 0.4, h / 2), (L, 0.0)], teeth[::-1]]))
    if name == "opener":  # screwdriver tip with the bottle-opener hook
        return polygon([(-0.35, -h / 2), (-0.35, h / 2), (L - 0.3, h / 2), (L, h * 0.2), (L, -h * 0.2),
                        (L - 0.6, -h / 2), (L - 1.0, -h * 0.1), (L - 1.6, -h / 2)])
    return polygon([(-0.35, -h / 2), (-0.35, h / 2), (1.0, h / 2), (L, 0.0), (1.0, -h / 2)])  # awl


def _multitool(rng: np.random.Generator) -> tuple[list[Part], dict]:
    bl, bh = uniform(rng, 8.4, 11.1), uniform(rng, 2.2, 2.7)
    layers = int(rng.integers(2, 6))
    liner = pick(rng, ["aluminium", "brass"])
    ends = (bl / 2 - 0.8, -(bl / 2 - 0.8))
    parts = [_plate("plastic", 0.6, rounded_rect(bl, bh, 0.45 * bh), "round"),
             _plate(liner, 0.1 * (layers + 1), rounded_rect(bl - 0.3, bh - 0.4, 0.4 * bh)),
             _plate("steel", 0.18 * layers, rounded_rect(bl * 0.92, bh * 0.7, 0.3 * bh))]  # the folded tools
    parts += [_plate("steel", 0.5 + 0.3 * layers, disk(0.35, cx=x), "round") for x in ends]
    names = ["blade", "small_blade", "saw", "opener", "awl"]
    n_open = int(rng.integers(1, 4))
    opened = [names[i] for i in rng.choice(len(names), n_open, replace=False)]
    for i, name in enumerate(opened):
        angle = 180.0 if chance(rng, 0.5) else uniform(rng, 30.0, 170.0)
        right = i % 2 == 0  # alternate ends so two opened tools do not lie on each other
        tool = _plate("steel", 0.25, _sak_tool(name, bl, bh))
        parts += moved([tool], angle_deg=180.0 - angle if right else angle, dx=ends[0] if right else ends[1])
    return parts, dict(body_cm=bl, layers=layers, opened_tools=opened)


def make_knife(rng: np.random.Generator, *, subtype: str | None = None, opened: bool | None = None) -> ObjectModel:
    """A knife: kitchen, dagger, folding (open or closed), utility cutter or Swiss-army multi-tool (7-40 cm)."""
    sub = pick(rng, ["kitchen", "dagger", "folding", "utility", "multitool"], p=[0.3, 0.15, 0.25, 0.15, 0.15], forced=subtype)
    build = {"kitchen": _kitchen, "dagger": _dagger, "utility": _utility, "multitool": _multitool,
             "folding": lambda r: _folding(r, opened)}[sub]
    parts, meta = build(rng)
    return _threat("knife", sub, parts, meta)


# --- wrench ------------------------------------------------------------------------------------------
# Handle along x; forged spanners are steel plate, thicker at the heads than along the handle.


def _open_head(s: float, R: float, *, cx: float, angle_deg: float) -> np.ndarray:
    """An open-end head: a disc of radius R with a slot s wide (the nut across flats) cut in from the side it faces."""
    half = float(np.degrees(np.arcsin(min(s / (2 * R), 0.9))))
    xb = -0.1 * s  # the slot bottom lies just past the head's centre
    slot = polygon([(xb + 0.2 * s, -s / 2), (xb, -s / 4), (xb, s / 4), (xb + 0.2 * s, s / 2)])
    return transform(np.concatenate([arc(R, half, 360 - half, n=20), slot]), angle_deg=angle_deg, dx=cx)


def _spanner(rng: np.random.Generator, L: float, ring: bool) -> tuple[list[Part], dict]:
    """Combination (ring + open end) or double open-end spanner."""
    s = float(np.clip(L * uniform(rng, 0.055, 0.075), 0.6, 2.4))
    s_left = s if ring else s * uniform(rng, 0.75, 0.92)
    t = uniform(rng, 0.5, 0.8)
    head_t = t * uniform(rng, 1.15, 1.4)
    R = s * uniform(rng, 0.95, 1.1) + 0.3
    tilt = 15.0 * (1 if chance(rng, 0.5) else -1)
    ri = 0.58 * s  # a 12-point box fits round the nut's corners
    r_left = ri + uniform(rng, 0.3, 0.45) * s + 0.2 if ring else s_left * uniform(rng, 0.95, 1.1) + 0.3
    x_left, x_right = -(L / 2 - r_left), L / 2 - R
    if ring:  # the ring's centre line runs midway between the box and the rim
        left = stroke("steel", closed(disk(ri + r_left, cx=x_left, n=28)), r_left - ri, head_t, profile="flat")
    else:
        left = _plate("steel", head_t, _open_head(s_left, r_left, cx=x_left, angle_deg=180 - tilt))
    parts = [left, _plate("steel", head_t, _open_head(s, R, cx=x_right, angle_deg=tilt))]
    w_left, w_right = 1.2 * r_left, 1.1 * R
    x0 = x_left + np.sqrt(r_left**2 - (w_left / 2) ** 2)  # handle corners on the head rims
    x1 = x_right - np.sqrt(R**2 - (w_right / 2) ** 2)
    x = np.linspace(x0, x1, 12)
    f = (x - x0) / (x1 - x0)
    w = w_left + (w_right - w_left) * f - 0.25 * min(w_left, w_right) * np.sin(np.pi * f)  # waisted
    parts.append(_plate("steel", t, ribbon(np.stack([x, np.zeros_like(x)], 1), w)))
    return parts, dict(size_cm=s, other_size_cm=s_left)


def _adjustable(rng: np.random.Generator, L: float) -> tuple[list[Part], dict]:
    """Adjustable wrench: body with the fixed jaw, sliding jaw, worm screw in a window; jaws face +y while built."""
    cap = 0.12 * L * uniform(rng, 0.9, 1.1)  # widest opening
    a = cap * uniform(rng, 0.05, 1.0)
    jw, jl, hb = 0.09 * L + 0.3, cap * uniform(rng, 1.0, 1.2), 0.13 * L + 0.4
    xl = -(cap + jw + 0.2)
    t = uniform(rng, 0.7, 1.0)
    d = np.array([np.sin(np.radians(15.0)), -np.cos(np.radians(15.0))])  # handle leans towards the fixed jaw
    neck = np.array([(xl + jw) / 2 + 0.2, -0.6 * hb])
    hl = L - jl - hb
    u = np.linspace(0.0, hl, 14)[:, None]
    wm, w0 = 0.07 * L + 0.5, 0.55 * (jw - xl)
    w = np.interp(u[:, 0], [0, 0.3 * hl, hl], [w0, wm, 1.15 * wm])
    handle = ribbon(neck + u * d, w, cap_end=0.55 * wm)
    side = np.array([-d[1], d[0]]) * w0 / 2
    head = np.concatenate([bezier(neck - side, (xl - 0.1, -0.9 * hb), (xl - 0.05, -0.3 * hb), (xl, -0.1), n=8),
                           polygon([(xl + 0.15, 0.0), (0.0, 0.0), (0.0, jl)]),  # channel, fixed jaw face
                           bezier((0.0, jl), (0.2 * jw, jl + 0.35), (jw, jl + 0.1), (jw, 0.7 * jl), n=6)[1:],
                           bezier((jw, 0.7 * jl), (jw + 0.25, 0.0), (jw + 0.2, -0.6 * hb), neck + side, n=8)[1:-1]])
    worm_d, worm_len = min(0.5 * hb, 0.3 * cap + 0.5), min(0.55 * cap + 0.5, -xl - 0.6)
    xc, yc = xl / 2, -0.5 * hb  # the worm turns in a window under the channel
    hang = neck + (hl - 0.6 * wm) * d
    window = rect(worm_len + worm_d + 0.1, worm_d + 0.15, cx=xc, cy=yc)
    body = keyhole(keyhole(np.concatenate([handle, head]), window), disk(0.45 * wm, cx=float(hang[0]), cy=float(hang[1])))
    jaw = polygon([(-a, -0.05), (-a, 0.92 * jl), (-a - 0.3 * jw, 0.92 * jl + 0.2), (-a - jw, 0.6 * jl), (-a - jw - 0.15, -0.05)])
    parts = [_plate("steel", t, body), _plate("steel", t, jaw),
             stroke("steel", polygon([(xc - (worm_len - worm_d) / 2, yc), (xc + (worm_len - worm_d) / 2, yc)]), worm_d)]
    grip = chance(rng, 0.35)
    if grip:
        k = 6
        parts.append(_plate(pick(rng, ["rubber", "plastic"]), t + uniform(rng, 0.6, 1.0),
                            ribbon(neck + u[k:] * d, w[k:] + 0.5, cap_end=0.55 * wm + 0.3), "round"))
    # lay the handle along -x
    parts = moved(parts, angle_deg=180.0 - float(np.degrees(np.arctan2(d[1], d[0]))))
    return parts, dict(capacity_cm=cap, opening_cm=a, grip=grip)


def make_wrench(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A wrench: combination (ring + open end), double open-end or adjustable (10-30 cm)."""
    sub = pick(rng, ["combination", "open_end", "adjustable"], p=[0.4, 0.25, 0.35], forced=subtype)
    L = uniform(rng, 10.0, 30.0)
    parts, meta = _adjustable(rng, L) if sub == "adjustable" else _spanner(rng, L, ring=sub == "combination")
    return _threat("wrench", sub, parts, meta)


# --- pliers ------------------------------------------------------------------------------------------
# Pivot at the origin, jaws to +x. One half carries the upper jaw and the lower handle; the other half is
# its mirror image. Opening turns the halves about the pivot in opposite senses.


def _jaw_face(kind: str, x0: float, J: float) -> np.ndarray:
    """The gripping face of the upper jaw from the tip back to x0: teeth, a pipe-grip notch, a cutter."""
    if kind == "cutting":
        return polygon([(J, 0.0), (x0, 0.0)])
    start = 0.5 if kind == "combination" else 0.3
    pitch = 0.25 if kind == "combination" else 0.18
    xt = np.arange(J, start * J, -pitch / 2)
    teeth = np.stack([xt, 0.1 * (np.arange(len(xt)) % 2)], 1)
    if kind == "combination":
        g = np.linspace(0.48, 0.28, 7) * J
        depth = 0.12 * J
        notch = np.stack([g, depth * np.sin(np.pi * (g - 0.28 * J) / (0.2 * J))], 1)
        return polygon(np.concatenate([teeth, notch, [(x0, 0.0)]]))
    return polygon(np.concatenate([teeth, [(x0, 0.0)]]))


def _pliers_half(kind: str, L: float, J: float, jaw_w: float, tip_w: float, spread: float, t: float,
                 grip: str | None, rng: np.random.Generator) -> list[Part]:
    """Upper jaw, its half of the lap joint and the lower handle, with an optional insulating sleeve."""
    rj = jaw_w * 1.15
    x0 = float(np.sqrt(rj**2 - jaw_w**2))
    x = np.linspace(x0, J, 14)
    power = {"combination": 1.6, "long_nose": 0.6, "cutting": 1.8}[kind]
    top = tip_w + (jaw_w - tip_w) * (1 - ((x - x0) / (J - x0)) ** power)
    joint_arc = arc(rj, 0.0, float(np.degrees(np.arcsin(jaw_w / rj))), n=6)
    nose = polygon([(J + 0.4 * tip_w, 0.5 * tip_w)])
    jaw = polygon(np.concatenate([joint_arc, np.stack([x, top], 1), nose, _jaw_face(kind, rj, J)]))
    hl = L - J
    w0 = min(0.06 * L + 0.4, 1.9 * rj)
    c = float(np.sqrt(rj**2 - (w0 / 2) ** 2))
    centre = bezier((-c, -0.1), (-c - 0.3 * hl, -0.35 * spread), (-0.7 * hl, -0.55 * spread), (-hl, -spread / 2), n=14)
    w = np.interp(np.linspace(0, 1, 14), [0, 0.35, 1], [w0, 0.75 * w0, 0.85 * w0])
    parts = [_plate("steel", t, jaw), _plate("steel", t / 2, disk(2 * rj)),
             _plate("steel", 0.9 * t, ribbon(centre, w, cap_end=0.3 * w0), "round")]
    if grip:
        k = 4
        parts.append(_plate(grip, t + uniform(rng, 0.5, 0.9), ribbon(centre[k:], w[k:] + uniform(rng, 0.6, 1.0), cap_end=0.8), "round"))
    return parts


def make_pliers(rng: np.random.Generator, *, subtype: str | None = None, opened: bool | None = None) -> ObjectModel:
    """Pliers: combination, long-nose or diagonal cutting, open or closed, grips optional (12-25 cm)."""
    sub = pick(rng, ["combination", "long_nose", "cutting"], forced=subtype)
    lo, hi, jf, jw, tw = {"combination": (15, 23, 0.27, 0.055, 0.4), "long_nose": (14, 24, 0.38, 0.045, 0.15),
                          "cutting": (12.5, 20, 0.18, 0.06, 0.05)}[sub]
    L = uniform(rng, lo, hi)
    J = jf * L * uniform(rng, 0.9, 1.1)
    jaw_w = jw * L * uniform(rng, 0.9, 1.1) + 0.2
    tip_w = tw * uniform(rng, 0.8, 1.2)
    spread = uniform(rng, 2.0, 4.0)
    t = uniform(rng, 0.8, 1.1)
    grip = pick(rng, ["plastic", "rubber"]) if chance(rng, 0.65) else None
    angle = uniform(rng, 15.0, 40.0)
    is_open = chance(rng, 0.5) if opened is None else opened
    angle = angle if is_open else 0.0
    half = _pliers_half(sub, L, J, jaw_w, tip_w, spread, t, grip, rng)
    parts = moved(half, angle_deg=angle / 2) + moved(_mirror_y(half), angle_deg=-angle / 2)
    parts.append(_plate("steel", 1.2 * t, disk(uniform(rng, 0.6, 0.9)), "round"))  # the rivet
    meta = dict(length_nominal_cm=L, jaw_cm=J, open=is_open, angle_deg=angle, grips=grip or "none")
    return _threat("pliers", sub, parts, meta)


# --- scissors ----------------------------------------------------------------------------------------
# Pivot at the origin, blades to +x. Each half is a blade and, on the other side of the axis, its loop.


def _scissor_blade(Lb: float, w: float, tip: float) -> np.ndarray:
    """A blade with a convex back above and a straight edge below, running round the pivot behind."""
    x = np.linspace(0.0, Lb, 14)
    back = tip + (w / 2 - tip) * (1 - (x / Lb) ** 2)
    edge = -(w / 2) * (1 - x / Lb)
    rear = polygon([(-0.5, 0.4 * w), (-0.7, 0.0), (-0.5, -0.4 * w)])
    nose = polygon([(Lb + 0.6 * tip, 0.4 * tip)]) if tip > 0 else polygon(np.zeros((0, 2)))
    return polygon(np.concatenate([np.stack([x, back], 1), nose, np.stack([x, edge], 1)[::-1], rear]))


def _scissor_handle(material: str, rx: float, ry: float, band: float, shank: float, t: float, loop_t: float,
                    office: bool) -> list[Part]:
    """The lower loop of a half and the shank that joins it to the pivot."""
    cx, cy = -(shank + rx + 0.5), -(ry + band / 2 + 0.15)
    centre = bezier((-0.4, -0.1), (-0.4 - shank * 0.5, -0.2), (cx + rx * 0.7, cy + ry * 0.4), n=10)
    loop = stroke(material, closed(ellipse(rx, ry, cx=cx, cy=cy, n=28)), band, loop_t)
    if not office:
        return [loop, _plate("steel", 1.3 * t, ribbon(centre, 0.35 + 0.35 * rx / max(rx, 1.0)))]
    # moulded plastic handle over a steel tang that stops part way
    return [loop, _plate("plastic", loop_t, ribbon(centre, band + 0.4), "round"), _plate("steel", t, ribbon(centre[:6], 0.6))]


def make_scissors(rng: np.random.Generator, *, subtype: str | None = None, opened: bool | None = None) -> ObjectModel:
    """Scissors: office (plastic loops), all-steel or small nail scissors, open up to 60 degrees or closed (8-25 cm)."""
    sub = pick(rng, ["office", "steel", "nail"], forced=subtype)
    office = sub == "office"
    Lb = {"office": uniform(rng, 8.0, 13.0), "steel": uniform(rng, 6.0, 11.0), "nail": uniform(rng, 3.4, 4.4)}[sub]
    w = {"office": uniform(rng, 1.4, 2.0), "steel": uniform(rng, 1.2, 1.8), "nail": uniform(rng, 0.6, 0.9)}[sub]
    t = uniform(rng, 0.15, 0.2) if sub == "nail" else uniform(rng, 0.2, 0.3)
    tip = 0.0 if sub == "nail" or chance(rng, 0.6) else uniform(rng, 0.15, 0.3)
    bend = uniform(rng, 0.2, 0.6) if sub == "nail" else 0.0
    scale = 0.8 if sub == "nail" else 1.0
    material = "plastic" if office else "steel"
    band = uniform(rng, 0.6, 0.9) if office else uniform(rng, 0.3, 0.45) * (scale + 0.2)
    loop_t = uniform(rng, 0.8, 1.0) if office else uniform(rng, 0.35, 0.5)
    r_thumb = uniform(rng, 1.0, 1.3) * scale
    r_finger = (uniform(rng, 1.6, 3.2), uniform(rng, 1.1, 1.5)) if office else (r_thumb * uniform(rng, 1.0, 1.3), r_thumb)
    shank = uniform(rng, 1.8, 3.0) if sub == "nail" else uniform(rng, 1.0, 3.0)
    blade = _plate("steel", t, _scissor_blade(Lb, w, tip))

    def bent(part: Part) -> Part:  # curved nail-scissor blades bend the same way, so after mirroring
        p = part.outline
        return _plate("steel", t, polygon(np.stack([p[:, 0], p[:, 1] + bend * np.clip(p[:, 0] / Lb, 0, None) ** 2], 1)))

    half_a = [bent(blade)] + _scissor_handle(material, r_thumb, r_thumb, band, shank, t, loop_t, office)
    half_b = [bent(_mirror_y([blade])[0])] + _mirror_y(_scissor_handle(material, *r_finger, band, shank, t, loop_t, office))
    is_open = chance(rng, 0.5) if opened is None else opened
    angle = uniform(rng, 10.0, 60.0) if is_open else 0.0
    parts = moved(half_a, angle_deg=angle / 2) + moved(half_b, angle_deg=-angle / 2)
    parts.append(_plate("steel", 2 * t + 0.3, disk(uniform(rng, 0.5, 0.8) * scale + 0.1), "round"))  # pivot screw
    meta = dict(blade_cm=Lb, open=is_open, angle_deg=angle, loops=material, pointed=tip == 0.0)
    return _threat("scissors", sub, parts, meta)


THREATS: dict[str, Callable[[np.random.Generator], ObjectModel]] = {
    "gun": make_gun,
    "knife": make_knife,
    "wrench": make_wrench,
    "pliers": make_pliers,
    "scissors": make_scissors,
}


def make_threat(label: str, rng: np.random.Generator) -> ObjectModel:
    """A random threat of the given class (one of THREATS)."""
    try:
        factory = THREATS[label]
    except KeyError:
        raise ValueError(f"unknown threat class {label!r}; known: {list(THREATS)}") from None
    return factory(rng)
