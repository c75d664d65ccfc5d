"""Scissors with blades and ring handles of metal or plastic, opened or closed. (see `training.synth.threats`)."""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import bezier, chance, closed, disk, moved, pick, ribbon, stroke, uniform
from training.synth.parts import ObjectModel, Part, ellipse, polygon
from training.synth.threat_parts import finish_threat, mirror_y, plate

__all__ = ["make_scissors"]

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
        return [loop, plate("steel", 1.3 * t, ribbon(centre, 0.35 + 0.35 * rx / max(rx, 1.0)))]
    # moulded plastic handle over a steel tang that stops part way
    return [loop, plate("plastic", loop_t, ribbon(centre, band + 0.4), "round"), plate("steel", t, ribbon(centre[:6], 0.6))]


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
    blade = plate("steel", t, _scissor_blade(Lb, w, tip))

    def bent(part: Part) -> Part:  # curved nail-scissor blades bend the same way, so after mirroring
        p = part.outline
        return plate("steel", t, polygon(np.stack([p[:, 0], p[:, 1] + bend * np.clip(p[:, 0] / Lb, 0, None) ** 2], 1)))

    half_a = [bent(blade)] + _scissor_handle(material, r_thumb, r_thumb, band, shank, t, loop_t, office)
    half_b = [bent(mirror_y([blade])[0])] + mirror_y(_scissor_handle(material, *r_finger, band, shank, t, loop_t, office))
    is_open = chance(rng, 0.5) if opened is None else opened
    angle = uniform(rng, 10.0, 60.0) if is_open else 0.0
    parts = moved(half_a, angle_deg=angle / 2) + moved(half_b, angle_deg=-angle / 2)
    parts.append(plate("steel", 2 * t + 0.3, disk(uniform(rng, 0.5, 0.8) * scale + 0.1), "round"))  # pivot screw
    meta = dict(blade_cm=Lb, open=is_open, angle_deg=angle, loops=material, pointed=tip == 0.0)
    return finish_threat("scissors", sub, parts, meta)
