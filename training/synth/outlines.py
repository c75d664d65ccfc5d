"""Outlines that stand for many pieces: a whole field of them as one polygon or polyline.

The renderer pays per part (one ``cv2.fillPoly`` or ``cv2.polylines`` call
each), so a field of small pieces (the chips on a board, a shoe's eyelets,
the bits in a rack, a heatsink's fins) is drawn as one part whose outline
visits every piece. ``rects`` and ``discs`` make the pieces, ``joined``
strings them into one polygon, ``bar_row`` is a row of bars on a shared base
line and ``comb`` a square-wave path to stroke.

The catch is the bridges. ``joined`` steps from one piece to the next and
back, and ``bar_row`` runs along the bars' base line, on lines that enclose
no area; but ``cv2.fillPoly`` still draws every edge, so each bridge renders
as a line 1 px wide of the part's material. On a circuit board
that reads as the traces between components, which is why boards are drawn
this way; elsewhere keep the bridges short (``clutter_electronics.board``
visits its cells in snake order) or run them where a faint line belongs
(along a seam, inside a wall). ``fillPoly`` fills by crossing parity, so
pieces must not overlap (an overlap cancels) and a piece inside another cuts
a hole in it.
"""

from __future__ import annotations

import numpy as np

from training.synth.parts import polygon

__all__ = ["bar_row", "comb", "discs", "joined", "rects"]


def joined(rings) -> np.ndarray:
    """Several outlines as one polygon (N, 2), so a field of small pieces costs one part.

    ``rings`` is a list of (k, 2) outlines or an (n, k, 2) array. The polygon
    walks each outline from its first vertex back to it, steps to the next
    one's first vertex, and at the end walks the steps back: bridges of zero
    area, drawn 1 px wide. Pieces must not overlap (overlaps cancel); an
    outline wound the other way inside another cuts a hole.
    """
    if isinstance(rings, np.ndarray):
        a = rings.astype(np.float32)
        return np.concatenate([np.concatenate([a, a[:, :1]], 1).reshape(-1, 2), a[-2::-1, 0]])
    rings = [np.asarray(r, np.float32) for r in rings]
    back = [r[:1] for r in rings[-2::-1]]
    return np.concatenate([np.concatenate([r, r[:1]]) for r in rings] + back).astype(np.float32)


def rects(xs, ys, ws, hs) -> np.ndarray:
    """Axis-aligned rectangles, (n, 4, 2) cm, for ``joined``; arguments broadcast."""
    xs, ys, ws, hs = np.broadcast_arrays(*(np.asarray(v, np.float32) for v in (xs, ys, ws, hs)))
    u = np.float32([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    return np.stack([xs, ys], -1)[:, None] + u * np.stack([ws, hs], -1)[:, None]


def discs(xs, ys, ds, n: int = 10) -> np.ndarray:
    """Circles of diameter ds as n-gons, (k, n, 2) cm, for ``joined``; arguments broadcast."""
    xs, ys, ds = np.broadcast_arrays(*(np.asarray(v, np.float32) for v in (xs, ys, ds)))
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    u = np.stack([np.cos(t), np.sin(t)], 1).astype(np.float32)
    return np.stack([xs, ys], -1)[:, None] + u * (ds / 2)[:, None, None]


def comb(xs, y0: float, y1: float) -> np.ndarray:
    """A square wave through the teeth at xs running from y0 to y1 (fins, laminations, ribs), (2n, 2) cm."""
    xs = np.repeat(np.asarray(xs, np.float32), 2)
    ys = np.where((np.arange(xs.size) + 1) // 2 % 2 == 0, y0, y1)
    return np.stack([xs, ys], 1).astype(np.float32)


def bar_row(n: int, pitch: float, w: float, h: float, *, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    """n parallel w x h bars, pitch apart along x, as one outline joined along a zero-width base line."""
    # one fillPoly instead of n: the bars share their lower edge line, which encloses no area
    x0 = cx - (n - 1) * pitch / 2
    pts = []
    for i in range(n):
        xa = x0 + i * pitch - w / 2
        pts += [(xa, cy - h / 2), (xa, cy + h / 2), (xa + w, cy + h / 2), (xa + w, cy - h / 2)]
    return polygon(pts)
