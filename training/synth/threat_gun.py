"""Guns built from their parts: pistols (full-size and compact) and revolvers, some part-disassembled. (see `training.synth.threats`)."""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import bezier, chance, keyhole, pick, ribbon, stroke, uniform
from training.synth.parts import ObjectModel, Part, polygon, rect, rounded_rect, transform
from training.synth.threat_parts import clip_below, finish_threat, plate

__all__ = ["make_gun"]

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
    outline = clip_below(outline, clip_y)
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
             plate(frame_mat, frame_t, frame)]
    if polymer:
        parts.append(plate("plastic", uniform(rng, 2.9, 3.3), grip, "round"))
    else:  # a steel grip frame under wood, plastic or rubber panels
        parts.append(plate("steel", 0.5, grip))
        panel = place(rounded_rect(grip_len - 1.2, grip_depth - 1.0, 0.8, cx=grip_len / 2 - 0.2, cy=0.0))
        parts.append(plate(pick(rng, ["wood", "plastic", "rubber"]), 2.0, panel, "round"))
    mag_depth = min(grip_depth - 1.6, 3.4)
    loaded = uniform(rng, 0.0, 1.0)
    has_mag = chance(rng, 0.8)
    if has_mag:
        top, bottom, v0 = -frame_h * 0.8, grip_len + 0.2, 0.2 - mag_depth / 2
        parts.append(plate("steel", 0.2, place(rect(bottom - top, mag_depth, cx=(top + bottom) / 2, cy=0.2))))
        if loaded > 0.2:  # cartridges: brass cases behind, lead bullets to the front
            u1 = top + 0.15 + loaded * (bottom - top - 1.5)
            cases = rect(u1 - top - 0.15, mag_depth - 1.2, cx=(top + 0.15 + u1) / 2, cy=v0 + 0.1 + (mag_depth - 1.2) / 2)
            bullets = rect(u1 - top - 0.15, 0.85, cx=(top + 0.15 + u1) / 2, cy=v0 + mag_depth - 0.15 - 0.45)
            parts += [plate("brass", 0.25, place(cases)), plate("lead", 0.9, place(bullets))]
    guard_len = min(uniform(rng, 3.6, 4.6), front - float(place([(0.0, grip_depth / 2)])[0, 0]) - 0.4)
    gx = float(place([(0.0, grip_depth / 2)])[0, 0]) + guard_len
    parts += _guard_and_trigger(frame_mat, (gx, yf), place, uniform(rng, 2.2, 2.6), grip_depth / 2)
    hammer = not polymer and chance(rng, 0.75)
    if hammer:
        parts.append(plate("steel", 0.7, polygon([(0.3, yb - 0.1), (0.2, yb + 0.9), (-0.5, yb + 1.2),
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
    parts = [plate("steel", 0.55 * cyl_d, cylinder, "round"),  # six bored chambers: about half is steel
             plate("steel", uniform(rng, 1.2, 1.5), keyhole(outer, window)),
             _barrel(xf, xf + bl - bore / 2, bore, 0.45),
             plate("steel", 0.9, rect(lug, 0.9, cx=xf + lug / 2, cy=-bore / 2 - 0.3)),
             plate(grip_mat, uniform(rng, 3.0, 3.6), grip, "round"),
             plate("steel", 0.7, place(rect(grip_len * 0.85 + 1.0, 1.2, cx=grip_len * 0.85 / 2 - 0.5, cy=-0.2)))]
    loaded = chance(rng, 0.7)
    if loaded:  # rims and cases behind, bullets in the front of the chambers
        parts += [plate("brass", 0.3, rect(cyl_len - 1.2, cyl_d - 0.6, cx=(cyl_len - 1.2) / 2 + 0.05, cy=yc)),
                  plate("lead", 0.9, rect(1.0, cyl_d - 0.8, cx=cyl_len - 0.7, cy=yc))]
    parts += _guard_and_trigger("steel", (0.9 * cyl_len, y_grip + 0.2), place, uniform(rng, 2.0, 2.5), gw / 2)
    hammer = chance(rng, 0.8)
    if hammer:
        spur = uniform(rng, 0.6, 1.3)
        parts.append(plate("steel", 0.7, polygon([(xr + 0.2, y_top - 0.2), (xr - 0.6, y_top + spur * 0.7),
                                                    (xr - 0.6 - spur, y_top + spur), (xr - 0.9, y_top - 0.3),
                                                    (xr - 0.7, yc)])))
    meta = dict(barrel_cm=bl, cylinder_d_cm=cyl_d, grip_angle_deg=grip_angle, grip=grip_mat, loaded=loaded, hammer=hammer)
    return parts, meta


def make_gun(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A handgun in side view: full-size or compact semi-automatic pistol, or a revolver (14-25 cm)."""
    sub = pick(rng, ["pistol", "compact", "revolver"], p=[0.45, 0.25, 0.3], forced=subtype)
    parts, meta = _revolver(rng) if sub == "revolver" else _pistol(rng, compact=sub == "compact")
    return finish_threat("gun", sub, parts, meta)
