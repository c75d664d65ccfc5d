"""Freeform outlines, recurring sub-assemblies and the shared draws of clutter, bags and threats.

Everything is in cm in the object's own frame, as in ``parts``. Outlines are
float32 (N, 2) arrays; sub-assemblies (cables, zips, shells, cylinders) are
lists of Parts, concatenated by the factories and placed with ``moved``.
``uniform``, ``pick`` and ``chance`` are the factories' draws; ``centred`` and
``lookalike`` finish an object.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from training.synth.parts import ObjectModel, Part, ellipse, polygon, rect, transform

__all__ = [
    "bezier",
    "blob",
    "box_shell",
    "centred",
    "chance",
    "closed",
    "coil_path",
    "disk",
    "keyhole",
    "lookalike",
    "lying_cylinder",
    "moved",
    "pick",
    "polyline",
    "pooled_liquid",
    "ribbon",
    "rod",
    "smooth_path",
    "strip",
    "stroke",
    "uniform",
    "upright_cylinder",
    "wire",
    "zip_parts",
]


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A plain float in [lo, hi), so meta stays JSON-friendly."""
    return float(rng.uniform(lo, hi))


def pick(rng: np.random.Generator, options: Sequence[str], p: Sequence[float] | None = None,
         forced: str | None = None) -> str:
    """One of the options; a forced one still uses up the draw, so the rest of the object is the same."""
    drawn = str(options[int(rng.choice(len(options), p=p))])
    if forced is not None and forced not in options:
        raise ValueError(f"unknown sub-type {forced!r}; known: {list(options)}")
    return forced or drawn


def chance(rng: np.random.Generator, p: float) -> bool:
    """True with probability p (one draw)."""
    return bool(rng.random() < p)


def disk(d: float, *, cx: float = 0.0, cy: float = 0.0, n: int = 20) -> np.ndarray:
    """Circle of diameter d as an n-gon."""
    return ellipse(d / 2, d / 2, cx=cx, cy=cy, n=n)


def closed(points: np.ndarray) -> np.ndarray:
    """The outline as a polyline that returns to its first point (for stroking a rim)."""
    return np.concatenate([points, points[:1]]).astype(np.float32)


def polyline(*points) -> np.ndarray:
    """A polyline through the given (x, y) points."""
    return polygon(points)


def bezier(*ctrl, n: int = 16) -> np.ndarray:
    """Points along the Bezier curve of the control points, (n, 2)."""
    c = np.asarray(ctrl, np.float64)
    t = np.linspace(0.0, 1.0, n)[:, None]
    k = len(c) - 1
    return polygon(sum(math.comb(k, i) * t**i * (1 - t) ** (k - i) * c[i] for i in range(k + 1)))


def ribbon(centre, widths, *, cap_start: float = 0.0, cap_end: float = 0.0, n_cap: int = 6) -> np.ndarray:
    """Outline of a strip of varying width along a centre line, with optional rounded ends."""
    c = np.asarray(centre, np.float64)
    w = np.broadcast_to(np.asarray(widths, np.float64), (len(c),))[:, None] / 2
    tan = np.gradient(c, axis=0)
    tan /= np.linalg.norm(tan, axis=1, keepdims=True)
    nrm = np.stack([-tan[:, 1], tan[:, 0]], 1)
    phi = np.linspace(0.0, np.pi, n_cap + 2)[1:-1, None]

    def cap(i: int, length: float, sign: float) -> np.ndarray:  # from the left side round to the right
        return c[i] + nrm[i] * w[i] * np.cos(phi) + sign * tan[i] * length * np.sin(phi)

    return polygon(np.concatenate([c + nrm * w, cap(-1, cap_end, 1.0), (c - nrm * w)[::-1], cap(0, cap_start, -1.0)[::-1]]))


def strip(x: np.ndarray, half: np.ndarray, *, butt: float = 0.0) -> np.ndarray:
    """Outline symmetric about y = 0 with half-width ``half`` over x, its x[0] end rounded by ``butt``."""
    x, half = np.asarray(x, np.float64), np.asarray(half, np.float64)
    phi = np.linspace(0.5 * np.pi, 1.5 * np.pi, 9)[1:-1]
    cap = np.stack([x[0] + butt * np.cos(phi), half[0] * np.sin(phi)], 1)
    return polygon(np.concatenate([np.stack([x[::-1], half[::-1]], 1), cap, np.stack([x, -half], 1)]))


def keyhole(outer: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """One outline for a plate with a hole: the rim, a cut of no width, the hole the other way round."""
    # the renderer fills one outline per part, so the hole is reached along a zero-width cut
    def area(p: np.ndarray) -> float:
        return float(np.sum(p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1]))

    outer = outer if area(outer) > 0 else outer[::-1]
    hole = hole if area(hole) < 0 else hole[::-1]
    d = ((outer[:, None] - hole[None]) ** 2).sum(-1)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    h = np.roll(hole, -j, axis=0)
    return polygon(np.concatenate([outer[: i + 1], h, h[:1], outer[i:]]))


def blob(rng: np.random.Generator, w: float, h: float, *, wobble: float = 0.06, squareness: float = 0.0,
         n: int = 48, cx: float = 0.0, cy: float = 0.0, angle_deg: float = 0.0) -> np.ndarray:
    """Smooth random outline with a w x h bounding box (before rotation).

    A superellipse (squareness 0: ellipse, 1: nearly a rounded rectangle)
    whose radius wobbles by a few low-frequency harmonics, the way a folded
    garment or a stuffed bag bulges.
    """
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    e = 2.0 / (2.0 + 8.0 * squareness)
    c, s = np.cos(t), np.sin(t)
    k = np.arange(2, 6)[:, None]
    r = 1 + (wobble * rng.normal(size=(4, 1)) / (k - 1) * np.cos(k * t + rng.uniform(0, 2 * np.pi, (4, 1)))).sum(0)
    x, y = np.sign(c) * np.abs(c) ** e * r, np.sign(s) * np.abs(s) ** e * r
    x = (x - (x.max() + x.min()) / 2) * (w / np.ptp(x))
    y = (y - (y.max() + y.min()) / 2) * (h / np.ptp(y))
    return transform(np.stack([x, y], 1), angle_deg=angle_deg, dx=cx, dy=cy)


def smooth_path(rng: np.random.Generator, length: float, *, step: float = 1.0, curvature: float = 0.1,
                heading_deg: float | None = None, start: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Random smooth centre line of the given length (cm), like a dropped cable.

    Curvature (rad/cm) along the line is a sum of three slow sines of
    amplitude about ``curvature``, so the line bends without kinks.
    """
    n = max(int(np.ceil(length / step)), 2) + 1
    s = np.linspace(0.0, length, n)
    kappa = np.zeros(n)
    for _ in range(3):
        wavelength = rng.uniform(0.3, 1.2) * length
        kappa += rng.normal(0.0, curvature) * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi))
    h0 = np.deg2rad(rng.uniform(0, 360) if heading_deg is None else heading_deg)
    heading = h0 + np.concatenate([[0.0], np.cumsum(kappa[:-1] * np.diff(s))])
    ds = np.diff(s, prepend=0.0)
    xy = np.stack([np.cumsum(np.cos(heading) * ds), np.cumsum(np.sin(heading) * ds)], 1)
    return (xy + np.asarray(start)).astype(np.float32)


def coil_path(rng: np.random.Generator, radius: float, turns: float, *, tail_cm: float = 10.0) -> np.ndarray:
    """A loosely coiled bundle: jittered oval loops, with a loose tail at each end."""
    n = int(turns * 24)
    t = np.linspace(0.0, 2 * np.pi * turns, n)
    squash = rng.uniform(0.6, 1.0)
    r = radius * (1 + 0.08 * rng.normal(size=n).cumsum() / np.sqrt(np.arange(1, n + 1)))
    drift = rng.normal(0, 0.15 * radius, 2) * (t[:, None] / t[-1])
    loops = np.stack([r * np.cos(t), squash * r * np.sin(t)], 1) + drift
    heads = [np.rad2deg(np.arctan2(*(loops[i] - loops[j])[::-1])) for i, j in ((0, 1), (-1, -2))]
    lead = smooth_path(rng, tail_cm * rng.uniform(0.3, 1.5), curvature=0.05, heading_deg=heads[0], start=loops[0])
    tail = smooth_path(rng, tail_cm * rng.uniform(0.3, 1.5), curvature=0.05, heading_deg=heads[1], start=loops[-1])
    return np.concatenate([lead[::-1], loops[1:-1], tail]).astype(np.float32)


def stroke(material: str, path: np.ndarray, width: float, thickness: float | None = None, *,
           profile: str = "round", wall: float = 0.0) -> Part:
    """A stroked polyline; a round stroke is as thick as it is wide unless told."""
    return Part(material, thickness if thickness is not None else width, path=np.asarray(path, np.float32),
                width_cm=width, profile=profile, wall_cm=wall)


def rod(material: str, x0: float, x1: float, d: float, *, y: float = 0.0) -> Part:
    """A round bar of diameter d along y = const."""
    return stroke(material, polyline((x0, y), (x1, y)), d)


def wire(path: np.ndarray, *, jacket_cm: float, core_cm: float, core: str = "copper") -> list[Part]:
    """An insulated conductor: plastic jacket with a metal core, both round."""
    return [stroke("plastic", path, jacket_cm), stroke(core, path, core_cm)]


def zip_parts(rng: np.random.Generator, path: np.ndarray, *, edge_on: bool = False,
              material: str | None = None) -> list[Part]:
    """Zip teeth along a path plus the slider somewhere on it.

    Lying flat, the beam crosses the tape and teeth face-on (metal about
    0.1 cm of interlocked teeth); in a side wall it runs along the teeth row
    edge-on, a narrow but much longer path.
    """
    material = material or str(rng.choice(["plastic", "steel", "brass"], p=[0.4, 0.35, 0.25]))
    width = uniform(rng, 0.6, 1.0) if material != "plastic" else uniform(rng, 0.5, 0.8)
    face_cm = 0.1 if material != "plastic" else 0.25
    teeth = (stroke(material, path, 0.3, 0.5 * width, profile="flat") if edge_on
             else stroke(material, path, width, face_cm, profile="flat"))
    i = int(rng.integers(0, len(path) - 1))
    (x0, y0), (x1, y1) = path[i], path[i + 1]
    angle = float(np.rad2deg(np.arctan2(y1 - y0, x1 - x0)))
    # sliders are die-cast zinc alloy: as dense as steel for our purposes
    slider = Part("steel", 0.35, outline=rect(2.2, 1.1 + 0.4 * width, cx=x0, cy=y0, angle_deg=angle))
    return [teeth, slider]


def box_shell(outline: np.ndarray, *, material: str, plate_cm: float, wall_cm: float, depth_cm: float) -> list[Part]:
    """A closed case seen from above: its faces as one plate, its side walls as a rim.

    The beam runs down the side walls for the whole depth of the case,
    which is why cases have dark edges.
    """
    return [Part(material, plate_cm, outline=outline),
            stroke(material, closed(outline), wall_cm, depth_cm, profile="flat")]


def lying_cylinder(length: float, d: float, *, material: str, wall_cm: float, fill: float = 0.0,
                   liquid: str = "water", cx: float = 0.0, cy: float = 0.0) -> list[Part]:
    """A can or tube lying on its side: tube-profile wall plus round-profile contents."""
    parts = [Part(material, d, outline=rect(length, d, cx=cx, cy=cy), profile="tube", wall_cm=wall_cm)]
    if fill > 0:
        parts.append(pooled_liquid(length - 2 * wall_cm, d - 2 * wall_cm, fill, liquid=liquid, cx=cx, cy=cy))
    return parts


def pooled_liquid(length: float, bore: float, fill: float, *, liquid: str = "water", cx: float = 0.0,
                  cy: float = 0.0) -> Part:
    """Liquid filling a share of a horizontal bore: below half full it is a narrower pool."""
    width = bore * 2 * np.sqrt(fill * (1 - fill)) if fill < 0.5 else bore
    return Part(liquid, bore * fill, outline=rect(length, width, cx=cx, cy=cy), profile="round")


def upright_cylinder(d: float, height: float, *, material: str, wall_cm: float, end_cm: float,
                     fill: float = 0.0, liquid: str = "water", cx: float = 0.0, cy: float = 0.0) -> list[Part]:
    """A can or jar standing up: a ring as dark as the wall is tall, the two ends, the liquid column."""
    parts = [stroke(material, closed(disk(d - wall_cm, cx=cx, cy=cy, n=28)), wall_cm, height, profile="flat"),
             Part(material, 2 * end_cm, outline=disk(d - wall_cm, cx=cx, cy=cy, n=28))]
    if fill > 0:
        parts.append(Part(liquid, (height - 2 * end_cm) * fill, outline=disk(d - 2 * wall_cm, cx=cx, cy=cy, n=28)))
    return parts


def moved(parts: list[Part], *, angle_deg: float = 0.0, dx: float = 0.0, dy: float = 0.0,
          mirror: bool = False) -> list[Part]:
    """Parts mirrored (about the y axis), rotated, then translated: a rigid move."""
    sx = -1.0 if mirror else 1.0
    out = []
    for p in parts:
        key = "outline" if p.outline is not None else "path"
        pts = transform(p.points(), angle_deg=angle_deg, dx=dx, dy=dy, sx=sx)
        out.append(dataclasses.replace(p, **{key: pts}))
    return out


def centred(kind: str, parts: list[Part], meta: dict, *, tilt: bool = True) -> ObjectModel:
    """A benign ObjectModel whose extent is centred on the origin."""
    x0, y0, x1, y1 = ObjectModel(kind, parts).extent_cm()
    return ObjectModel(kind, moved(parts, dx=-(x0 + x1) / 2, dy=-(y0 + y1) / 2), label=None, tilt=tilt, meta=meta)


def lookalike(kind: str, sub: str, parts: list[Part], meta: dict, *, tilt: bool = True) -> ObjectModel:
    """A finished benign look-alike, centred, with its sub-type and longer side (``length_cm``) in meta."""
    obj = centred(kind, parts, {"subtype": sub, **meta}, tilt=tilt)
    x0, y0, x1, y1 = obj.extent_cm()
    obj.meta["length_cm"] = round(max(x1 - x0, y1 - y0), 2)
    return obj
