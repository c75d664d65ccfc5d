"""What every benchmark writes: its JSON summary and its figures (matplotlib, headless)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["pyplot", "save_figure", "write_json"]


def write_json(path: Path, payload: Any) -> Path:
    """`payload` as indented JSON at `path` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def pyplot():
    """matplotlib.pyplot on the Agg backend: servers have no display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out: Path, *, dpi: int = 110) -> Path:
    """Lay out, write and close `fig` (folders created)."""
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    pyplot().close(fig)
    return out
