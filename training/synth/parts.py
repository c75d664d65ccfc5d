"""Object models of the simulator: parts with a material and a thickness profile.

An object (a knife, a laptop, a bag rail) is a list of parts in its own frame,
in centimetres, origin at its centre. The renderer poses it (rotation in the
belt plane, tilt out of it, flips), rasterises every part into path-length maps
and adds the attenuation. Parts are either filled polygons or stroked
polylines; the profile says how the path length varies across the part:

- ``flat``: a plate of constant thickness (blades, boards, sheet metal);
- ``round``: an ellipse in cross-section, ``thickness_cm`` at the centre line
  and falling to zero at the edges (rods, handles, bottles of liquid, wires);
- ``tube``: a hollow round section with walls ``wall_cm`` thick (cans, bottle
  walls, tubular frames, gun barrels), so its edges look darker than its middle
  the way they do on a real scanner.

``texture`` > 0 modulates the path length by a smooth random field of that
relative amplitude and ``texture_cm`` feature size (folds and rumples of
cloth, the grain of food, foam cells), seeded by ``texture_seed`` so a part
always renders the same.

Helpers build common outlines; all return float32 (N, 2) arrays in cm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from pipeline.xray.materials import MATERIALS

__all__ = [
    "ObjectModel",
    "Part",
    "arc",
    "ellipse",
    "polygon",
    "rect",
    "rounded_rect",
    "transform",
]

Profile = Literal["flat", "round", "tube"]


@dataclass(frozen=True)
class Part:
    """One homogeneous piece of an object.

    Exactly one of ``outline`` (closed polygon, (N, 2) cm) or ``path``
    (open polyline centre line, (N, 2) cm, stroked ``width_cm`` wide) is set.
    """

    material: str
    thickness_cm: float
    outline: np.ndarray | None = None
    path: np.ndarray | None = None
    width_cm: float = 0.0
    profile: Profile = "flat"
    wall_cm: float = 0.0
    texture: float = 0.0
    texture_cm: float = 2.0
    texture_seed: int = 0

    def __post_init__(self) -> None:
        if self.material not in MATERIALS:
            raise ValueError(f"unknown material {self.material!r}; known: {sorted(MATERIALS)}")
        if (self.outline is None) == (self.path is None):
            raise ValueError("a part needs exactly one of outline or path")
        if self.path is not None and self.width_cm <= 0:
            raise ValueError("a stroked path needs width_cm > 0")
        if self.thickness_cm <= 0:
            raise ValueError("thickness_cm must be positive")
        if self.profile == "tube" and self.wall_cm <= 0:
            raise ValueError("a tube needs wall_cm > 0")
        if not 0.0 <= self.texture <= 1.0 or self.texture_cm <= 0:
            raise ValueError("texture is a relative amplitude in [0, 1] and texture_cm > 0")

    def points(self) -> np.ndarray:
        """The part's defining points (outline or path), (N, 2) cm."""
        return self.outline if self.outline is not None else self.path


@dataclass
class ObjectModel:
    """A posable object: its parts in cm, centred on the origin.

    ``label`` is the threat class for threats and None for benign clutter.
    ``tilt`` allows the renderer to tilt it out of the belt plane
    (foreshortening); flat-lying things like a sheet of cloth set it False.
    """

    kind: str
    parts: list[Part]
    label: str | None = None
    tilt: bool = True
    meta: dict = field(default_factory=dict)

    def extent_cm(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) over all parts, including stroke widths."""
        pts = []
        for p in self.parts:
            pad = p.width_cm / 2
            q = p.points()
            pts.append(np.concatenate([q.min(0) - pad, q.max(0) + pad])[None])
        a = np.concatenate(pts)
        return float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 2].max()), float(a[:, 3].max())


def transform(points: np.ndarray, *, angle_deg: float = 0.0, dx: float = 0.0, dy: float = 0.0,
              sx: float = 1.0, sy: float = 1.0) -> np.ndarray:
    """Scale, then rotate counter-clockwise about the origin, then translate."""
    t = np.deg2rad(angle_deg)
    c, s = np.cos(t), np.sin(t)
    p = np.asarray(points, dtype=np.float32) * np.float32([sx, sy])
    x, y = p[:, 0], p[:, 1]
    out = np.empty(p.shape, np.float32)  # computed in float64, stored as float32 (no stack, no second copy)
    out[:, 0] = c * x - s * y + dx
    out[:, 1] = s * x + c * y + dy
    return out


def rect(w: float, h: float, *, cx: float = 0.0, cy: float = 0.0, angle_deg: float = 0.0) -> np.ndarray:
    """Rectangle w x h centred at (cx, cy), rotated by angle_deg."""
    p = np.float32([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    return transform(p, angle_deg=angle_deg, dx=cx, dy=cy)


def ellipse(a: float, b: float, *, cx: float = 0.0, cy: float = 0.0, angle_deg: float = 0.0, n: int = 32) -> np.ndarray:
    """Ellipse with semi-axes a, b as an n-gon."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return transform(np.stack([a * np.cos(t), b * np.sin(t)], 1), angle_deg=angle_deg, dx=cx, dy=cy)


def arc(r: float, start_deg: float, end_deg: float, *, cx: float = 0.0, cy: float = 0.0, n: int = 16) -> np.ndarray:
    """Points along a circular arc (an open polyline)."""
    t = np.deg2rad(np.linspace(start_deg, end_deg, n))
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).astype(np.float32)


def rounded_rect(w: float, h: float, r: float, *, cx: float = 0.0, cy: float = 0.0,
                 angle_deg: float = 0.0, n: int = 6) -> np.ndarray:
    """Rectangle with corner radius r."""
    r = min(r, w / 2, h / 2)
    corners = [(w / 2 - r, h / 2 - r, 0), (-w / 2 + r, h / 2 - r, 90), (-w / 2 + r, -h / 2 + r, 180), (w / 2 - r, -h / 2 + r, 270)]
    pts = np.concatenate([arc(r, a, a + 90, cx=x, cy=y, n=n) for x, y, a in corners])
    return transform(pts, angle_deg=angle_deg, dx=cx, dy=cy)


def polygon(points) -> np.ndarray:
    """A polygon from a list of (x, y) pairs in cm."""
    return np.asarray(points, dtype=np.float32).reshape(-1, 2)
