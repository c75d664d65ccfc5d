"""The shipped detector weights: where they are, and what to say when weights are not there.

The files live in ``models/weights/`` beside this module, so the defaults hold
from any working directory and in an installed package (they are package data).
Every command and service takes its default from here.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_CHECKPOINT", "DEFAULT_WEIGHTS", "WEIGHTS_DIR", "missing_weights", "require_weights"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "aspp_yolo_nano.onnx"  # ONNX Runtime: the CPU default of every runtime path
DEFAULT_CHECKPOINT = WEIGHTS_DIR / "aspp_yolo_nano.pt"  # PyTorch: training's --init, and the backbone TDC reads


def missing_weights(path: Path | str, *, how: str = "--weights") -> FileNotFoundError:
    """The error for detector weights that are not at `path`: the path tried and the remedy that fits.

    ``how`` names the setting that chose the path (a flag or an environment variable).
    """
    path = Path(path)
    if path.resolve().parent == WEIGHTS_DIR:
        return FileNotFoundError(
            f"no detector weights at {path}: the shipped weights are missing from this checkout; restore them "
            f"(git checkout -- models/weights) or rebuild them with `make weights` (about 90 minutes on 2 cores)")
    return FileNotFoundError(
        f"no detector weights at {path}: check {how}, or leave it unset to use the shipped {DEFAULT_WEIGHTS}")


def require_weights(path: Path | str, *, how: str = "--weights") -> Path:
    """`path` as a Path if it is a file, else `missing_weights`'s error."""
    path = Path(path)
    if not path.is_file():
        raise missing_weights(path, how=how)
    return path
