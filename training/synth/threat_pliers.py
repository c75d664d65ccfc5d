"""Pliers of several jaw kinds, opened or closed about their pivot. (see `training.synth.threats`)."""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import bezier, chance, disk, moved, pick, ribbon, uniform
from training.synth.parts import ObjectModel, Part, arc, polygon
from training.synth.threat_parts import finish_threat, mirror_y, plate

__all__ = ["make_pliers"]

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
    parts = [plate("steel", t, jaw), plate("steel", t / 2, disk(2 * rj)),
             plate("steel", 0.9 * t, ribbon(centre, w, cap_end=0.3 * w0), "round")]
    if grip:
        k = 4
        parts.append(plate(grip, t + uniform(rng, 0.5, 0.9), ribbon(centre[k:], w[k:] + uniform(rng, 0.6, 1.0), cap_end=0.8), "round"))
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
    parts = moved(half, angle_deg=angle / 2) + moved(mirror_y(half), angle_deg=-angle / 2)
    parts.append(plate("steel", 1.2 * t, disk(uniform(rng, 0.6, 0.9)), "round"))  # the rivet
    meta = dict(length_nominal_cm=L, jaw_cm=J, open=is_open, angle_deg=angle, grips=grip or "none")
    return finish_threat("pliers", sub, parts, meta)
