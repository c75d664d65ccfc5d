"""Dataset records: one annotated scan (`Sample`) and its threat boxes (`Box`).

Coordinate convention, for every reader and writer in this package:
boxes are 0-based continuous pixel coordinates, ``(x1, y1)`` the top-left
corner and ``(x2, y2)`` exclusive, i.e. the last covered pixel index + 1, so
``x2 - x1`` is the width in pixels and a box covering the whole image is
``(0, 0, width, height)``. File formats convert at their edges:
VOC XML is 1-based inclusive (``xmin = x1 + 1``, ``xmax = x2``), COCO JSON is
``[x, y, w, h]`` 0-based, the SIXray/OPIXray txt files are already 0-based
corners (see `sixray`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

OcclusionLevel = Literal["OL1", "OL2", "OL3"]
OCCLUSION_LEVELS: tuple[OcclusionLevel, ...] = ("OL1", "OL2", "OL3")

# Boxes may overrun the image by this much (pixels) before a Sample is
# rejected: float rounding in converted annotations, not annotation errors.
_EDGE_SLACK = 1e-3


class DatasetFormatError(ValueError):
    """A dataset file is malformed; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def round_px(value: float) -> float:
    """Round a pixel coordinate to 1e-6 px so format round trips compare equal."""
    # VOC's +1 shift and COCO's x + w otherwise leave 1e-16 residues.
    return round(float(value), 6) + 0.0  # + 0.0 turns -0.0 into 0.0


def relative_path(file: Path, root: Path) -> str:
    """`file` relative to the dataset `root`, with forward slashes, as annotation files store it."""
    return Path(os.path.relpath(file, root)).as_posix()


class Box(BaseModel):
    """One threat instance: corners in pixels (x2/y2 exclusive) and its class."""

    model_config = ConfigDict(frozen=True)

    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    occlusion: OcclusionLevel | None = None
    difficult: bool = False

    @model_validator(mode="after")
    def _check_corners(self) -> Box:
        _check_xyxy((self.x1, self.y1, self.x2, self.y2))
        return self

    @property
    def width(self) -> float:
        """Width in pixels."""
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        """Height in pixels."""
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        """Area in square pixels."""
        return self.width * self.height

    def as_xyxy(self) -> tuple[float, float, float, float]:
        """Corners as ``(x1, y1, x2, y2)``."""
        return (self.x1, self.y1, self.x2, self.y2)


class Sample(BaseModel):
    """One annotated scan: its image files, size, threat boxes and bag boxes."""

    image_id: str
    width: int
    height: int
    image: Path | None = None  # pseudo-colour RGB file
    high: Path | None = None  # 16-bit high-energy PNG/TIFF
    low: Path | None = None  # 16-bit low-energy PNG/TIFF
    boxes: list[Box] = []
    bags: list[tuple[float, float, float, float]] = []  # (x1, y1, x2, y2), as boxes

    @model_validator(mode="after")
    def _check_sample(self) -> Sample:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size {self.width}x{self.height} is not positive")
        if self.image is None and (self.high is None or self.low is None):
            raise ValueError("needs a pseudo-colour image or both high and low raw files")
        for i, box in enumerate(self.boxes, 1):
            self._check_inside(box.as_xyxy(), f"box {i} ({box.label})")
        for i, bag in enumerate(self.bags, 1):
            _check_xyxy(bag, f"bag {i}: ")
            self._check_inside(bag, f"bag {i}")
        return self

    def _check_inside(self, xyxy: tuple[float, float, float, float], what: str) -> None:
        x2, y2 = xyxy[2], xyxy[3]
        if x2 > self.width + _EDGE_SLACK:
            raise ValueError(f"{what} has x2 ({x2:g}) beyond image width {self.width}")
        if y2 > self.height + _EDGE_SLACK:
            raise ValueError(f"{what} has y2 ({y2:g}) beyond image height {self.height}")


def _check_xyxy(xyxy: tuple[float, float, float, float], prefix: str = "") -> None:
    x1, y1, x2, y2 = xyxy
    if min(xyxy) < 0:
        raise ValueError(f"{prefix}coordinates must be >= 0, got {xyxy}")
    if x2 <= x1:
        raise ValueError(f"{prefix}x2 ({x2:g}) must be > x1 ({x1:g})")
    if y2 <= y1:
        raise ValueError(f"{prefix}y2 ({y2:g}) must be > y1 ({y1:g})")


def sample_from(path: Path | str, **fields: Any) -> Sample:
    """Build a Sample, turning validation failures into a DatasetFormatError on `path`."""
    try:
        return Sample(**fields)
    except ValidationError as err:
        raise DatasetFormatError(path, _explain(err)) from err


def box_from(path: Path | str, what: str, **fields: Any) -> Box:
    """Build a Box, turning validation failures into a DatasetFormatError on `path`."""
    try:
        return Box(**fields)
    except ValidationError as err:
        raise DatasetFormatError(path, f"{what}: {_explain(err)}") from err


def _explain(err: ValidationError) -> str:
    # pydantic prefixes our own messages with "Value error, "; the reader wants the problem.
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)
