"""Wrenches: open-end, ring and combination spanners, and adjustable wrenches. (see `training.synth.threats`)."""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import bezier, chance, closed, disk, keyhole, moved, pick, ribbon, stroke, uniform
from training.synth.parts import ObjectModel, Part, arc, polygon, rect, transform
from training.synth.threat_parts import finish_threat, plate

__all__ = ["make_wrench"]

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
        left = plate("steel", head_t, _open_head(s_left, r_left, cx=x_left, angle_deg=180 - tilt))
    parts = [left, plate("steel", head_t, _open_head(s, R, cx=x_right, angle_deg=tilt))]
    w_left, w_right = 1.2 * r_left, 1.1 * R
    x0 = x_left + np.sqrt(r_left**2 - (w_left / 2) ** 2)  # handle corners on the head rims
    x1 = x_right - np.sqrt(R**2 - (w_right / 2) ** 2)
    x = np.linspace(x0, x1, 12)
    f = (x - x0) / (x1 - x0)
    w = w_left + (w_right - w_left) * f - 0.25 * min(w_left, w_right) * np.sin(np.pi * f)  # waisted
    parts.append(plate("steel", t, ribbon(np.stack([x, np.zeros_like(x)], 1), w)))
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
    parts = [plate("steel", t, body), plate("steel", t, jaw),
             stroke("steel", polygon([(xc - (worm_len - worm_d) / 2, yc), (xc + (worm_len - worm_d) / 2, yc)]), worm_d)]
    grip = chance(rng, 0.35)
    if grip:
        k = 6
        parts.append(plate(pick(rng, ["rubber", "plastic"]), t + uniform(rng, 0.6, 1.0),
                            ribbon(neck + u[k:] * d, w[k:] + 0.5, cap_end=0.55 * wm + 0.3), "round"))
    # lay the handle along -x
    parts = moved(parts, angle_deg=180.0 - float(np.degrees(np.arctan2(d[1], d[0]))))
    return parts, dict(capacity_cm=cap, opening_cm=a, grip=grip)


def make_wrench(rng: np.random.Generator, *, subtype: str | None = None) -> ObjectModel:
    """A wrench: combination (ring + open end), double open-end or adjustable (10-30 cm)."""
    sub = pick(rng, ["combination", "open_end", "adjustable"], p=[0.4, 0.25, 0.35], forced=subtype)
    L = uniform(rng, 10.0, 30.0)
    parts, meta = _adjustable(rng, L) if sub == "adjustable" else _spanner(rng, L, ring=sub == "combination")
    return finish_threat("wrench", sub, parts, meta)
