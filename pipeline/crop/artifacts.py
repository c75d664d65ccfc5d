"""Scanner lines in an energy map: thin, and crossing the whole frame.

Dead or hot detector rows and source-flicker columns run from one edge of a
frame to the other; nothing a passenger packs does. A run of at most
``max_width`` rows (columns) whose energy stands above ``level`` across at
least ``coverage`` of the frame is such a line: its cells are replaced by the
rows (columns) on either side, so it neither stretches a crop nor glues two
bags together.
"""

from __future__ import annotations

import numpy as np

__all__ = ["line_runs", "remove_lines"]


def line_runs(energy: np.ndarray, *, level: float, coverage: float = 0.97, max_width: int = 3) -> list[tuple[int, int]]:
    """Runs [start, stop) of rows of ``energy`` (h, w) that look like full-width scanner lines."""
    full = (energy > level).mean(axis=1) >= coverage
    edges = np.flatnonzero(np.diff(np.concatenate([[False], full, [False]]).astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a <= max_width]


def remove_lines(energy: np.ndarray, *, level: float, coverage: float = 0.97, max_width: int = 3) -> np.ndarray:
    """``energy`` (h, w) with full-width row lines and full-height column lines patched from their neighbours."""
    out = np.array(energy, np.float64)
    for axis_view in (out, out.T):  # rows, then columns (a view: patches land in ``out``)
        h = axis_view.shape[0]
        for start, stop in line_runs(axis_view, level=level, coverage=coverage, max_width=max_width):
            above, below = axis_view[start - 1] if start > 0 else None, axis_view[stop] if stop < h else None
            sides = [s for s in (above, below) if s is not None]
            if sides:
                axis_view[start:stop] = np.minimum.reduce(sides) if len(sides) == 2 else sides[0]
    return out
