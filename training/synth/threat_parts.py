"""Geometry the threat models share: clipping, mirroring, plates, and finishing a threat on its extent."""

from __future__ import annotations

import numpy as np

from training.synth.clutter_shapes import moved
from training.synth.parts import ObjectModel, Part, polygon

__all__ = ["clip_below", "finish_threat", "mirror_y", "plate"]

def clip_below(poly: np.ndarray, y_max: float) -> np.ndarray:
    """The part of a polygon at or below y = y_max (one Sutherland-Hodgman pass)."""
    out = []
    for p, q in zip(poly, np.roll(poly, -1, axis=0)):
        if p[1] <= y_max:
            out.append(p)
        if (p[1] <= y_max) != (q[1] <= y_max):
            out.append(p + (y_max - p[1]) / (q[1] - p[1]) * (q - p))
    return polygon(out)


def mirror_y(parts: list[Part]) -> list[Part]:
    """Parts mirrored about the x axis (y -> -y)."""
    return moved(parts, mirror=True, angle_deg=180.0)


def plate(material: str, t: float, outline: np.ndarray, profile: str = "flat") -> Part:
    return Part(material, float(t), outline=outline, profile=profile)


def finish_threat(label: str, sub: str, parts: list[Part], meta: dict) -> ObjectModel:
    """The finished threat, centred on its extent, with its length in meta."""
    x0, y0, x1, y1 = ObjectModel(label, parts).extent_cm()
    parts = moved(parts, dx=-(x0 + x1) / 2, dy=-(y0 + y1) / 2)
    meta = {"subtype": sub, **{k: round(v, 3) if isinstance(v, float) else v for k, v in meta.items()},
            "length_cm": round(max(x1 - x0, y1 - y0), 2)}
    return ObjectModel(f"{label}/{sub}", parts, label=label, meta=meta)
