"""The shipped detector weights: where they are, and what to say when weights are not there or cannot be read.

The files live in ``models/weights/`` beside this module, so the defaults hold
from any working directory and in an installed package (they are package data).
Every command and service takes its default from here.
"""

from __future__ import annotations

import codecs
from pathlib import Path

__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEFAULT_WEIGHTS",
    "WEIGHTS_DIR",
    "WeightsError",
    "first_line",
    "missing_weights",
    "require_weights",
    "what_file_is",
]

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


class WeightsError(ValueError):
    """A weights file that is there but cannot be loaded, said in one line: the file and what is wrong with it.

    A ``ValueError``: the input, not the machine, is at fault; the CLI prints it as one line (exit code 2).
    The loaders of every format raise it (`models.checkpoint`, `models.export`, the runtimes).
    """

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"cannot load detector weights {self.path}: {problem}")


# what a weights file given by mistake most often is, by its first bytes
_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"II*\x00", "a TIFF image"),
          (b"MM\x00*", "a TIFF image"), (b"PK\x03\x04", "a zip archive"), (b"\x1f\x8b", "a gzip file"))


def what_file_is(path: Path | str) -> str:
    """What the bytes of ``path`` look like, for an error message: "the file is a PNG image", "... is empty"."""
    with Path(path).open("rb") as f:
        head = f.read(256)
    if not head:
        return "the file is empty"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return f"the file is {kind}"
    try:  # incremental: a character cut at the end of the head is not an error
        codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return f"the file starts with bytes {head[:8].hex(' ')}"
    return f"the file starts with bytes {head[:8].hex(' ')}" if b"\x00" in head else "the file is text"


def first_line(err: BaseException | str, *, limit: int = 160) -> str:
    """The first non-empty line of ``err``'s message, cut to ``limit`` characters (its type where it has none)."""
    line = next((part.strip() for part in str(err).splitlines() if part.strip()),
                type(err).__name__ if isinstance(err, BaseException) else "")
    return line if len(line) <= limit else line[: limit - 3] + "..."
