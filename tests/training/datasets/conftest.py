"""Fixtures that write small scans and annotations in the real on-disk formats."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.datasets import CLCXRAY, Box, Sample

# Every image write_rgb writes is white with this RGB value at (row 1, col 2).
KNOWN_PIXEL_RGB = (200, 120, 30)


def _write_rgb(path: Path, width: int, height: int) -> Path:
    rgb = np.full((height, width, 3), 255, np.uint8)
    rgb[1, 2] = KNOWN_PIXEL_RGB
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _write_raw(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return path


def _raw_pair(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    high = np.full((height, width), 40000, np.uint16)
    low = np.full((height, width), 20000, np.uint16)
    high[0, 0], low[0, 0] = 65535, 256
    return high, low


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def write_rgb() -> Callable[[Path, int, int], Path]:
    """Write a white pseudo-colour image (PNG or JPEG by suffix) with KNOWN_PIXEL_RGB at (1, 2)."""
    return _write_rgb


@pytest.fixture
def write_raw() -> Callable[[Path, np.ndarray], Path]:
    """Write an array (uint16 for raw scans) as PNG or TIFF."""
    return _write_raw


@pytest.fixture
def raw_pair() -> Callable[[int, int], tuple[np.ndarray, np.ndarray]]:
    """Make a uint16 (H, W) high/low pair: 40000/20000 everywhere, 65535/256 at (0, 0)."""
    return _raw_pair


@pytest.fixture
def simulator_dir(tmp_path: Path) -> tuple[Path, list[Sample]]:
    """A simulator output folder with images/ and raw/ written, and its samples (annotations not written)."""
    root = tmp_path / "sim"
    samples = []
    for stem, (w, h) in (("scan_0001", (64, 48)), ("scan_0002", (50, 40))):
        high, low = _raw_pair(w, h)
        samples.append(
            Sample(
                image_id=stem,
                width=w,
                height=h,
                image=_write_rgb(root / "images" / f"{stem}.png", w, h),
                high=_write_raw(root / "raw" / f"{stem}_high.png", high),
                low=_write_raw(root / "raw" / f"{stem}_low.png", low),
                boxes=[
                    Box(x1=0, y1=0, x2=10, y2=8, label="gun", occlusion="OL1"),
                    Box(x1=12.25, y1=5.5, x2=30.75, y2=20.125, label="knife", occlusion="OL3", difficult=True),
                    Box(x1=20, y1=10, x2=w, y2=h, label="scissors"),
                ],
                bags=[(1.0, 2.0, 40.5, 30.0), (0.0, 0.0, float(w), float(h))],
            )
        )
    samples[1] = samples[1].model_copy(update={"boxes": [], "bags": []})  # an empty belt
    return root, samples


# A SIXray-D style file as labelImg writes it: 1-based inclusive, no extensions.
FOREIGN_VOC = """<annotation>
    <folder>VOC2007</folder>
    <filename>P00042.jpg</filename>
    <size><width>100</width><height>80</height><depth>3</depth></size>
    <object>
        <name>gun</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>
        <bndbox><xmin>41</xmin><ymin>11</ymin><xmax>60</xmax><ymax>30</ymax></bndbox>
    </object>
    <object>
        <name>{name}</name><difficult>1</difficult>
        <bndbox><xmin>{xmin}</xmin><ymin>1</ymin><xmax>{xmax}</xmax><ymax>80</ymax></bndbox>
    </object>
    <object></object>
</annotation>
"""


@pytest.fixture
def make_voc(tmp_path: Path) -> Callable[..., Path]:
    """Write ``Annotations/P00042.xml`` + ``JPEGImages/P00042.jpg``; return the XML path."""

    def make(name: str = "Knife", xmin: str = "1", xmax: str = "100") -> Path:
        _write_rgb(tmp_path / "JPEGImages" / "P00042.jpg", 100, 80)
        return _write_text(tmp_path / "Annotations" / "P00042.xml", FOREIGN_VOC.format(name=name, xmin=xmin, xmax=xmax))

    return make


@pytest.fixture
def make_opixray() -> Callable[[Path, str, dict[str, str]], Path]:
    """Write an OPIXray split (``<split>_image/*.jpg`` 400x300, ``<split>_annotation/*.txt``); return its folder."""

    def make(root: Path, split: str, annotations: dict[str, str]) -> Path:
        for stem, text in annotations.items():
            _write_rgb(root / split / f"{split}_image" / f"{stem}.jpg", 400, 300)
            _write_text(root / split / f"{split}_annotation" / f"{stem}.txt", text)
        return root / split

    return make


SIXRAY_XML = """<annotation><filename>P00001.jpg</filename>
<size><width>90</width><height>60</height><depth>3</depth></size>
<object><name>Gun</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>
<object><name>Hammer</name><bndbox><xmin>50</xmin><ymin>5</ymin><xmax>90</xmax><ymax>60</ymax></bndbox></object>
</annotation>"""


@pytest.fixture
def make_sixray(tmp_path: Path) -> Callable[[], Path]:
    """Write an original SIXray root: JPEGImage/, Annotation/P00001.xml, ImageSet/10/test.csv."""

    def make() -> Path:
        for stem in ("P00001", "N0000007"):
            _write_rgb(tmp_path / "JPEGImage" / f"{stem}.jpg", 90, 60)
        _write_text(tmp_path / "Annotation" / "P00001.xml", SIXRAY_XML)
        _write_text(
            tmp_path / "ImageSet" / "10" / "test.csv",
            "name,Gun,Knife,Wrench,Pliers,Scissors,Hammer\nP00001,1,-1,-1,-1,-1,1\nN0000007,-1,-1,-1,-1,-1,0\n",
        )
        return tmp_path

    return make


@pytest.fixture
def make_clcxray(tmp_path: Path) -> Callable[[], Path]:
    """Write a CLCXray-style release: annotations/instances_train2017.json beside train2017/; return the JSON."""

    def make() -> Path:
        images = tmp_path / "train2017"
        _write_rgb(images / "000001.jpg", 120, 90)
        _write_rgb(images / "000002.jpg", 60, 40)
        # Raw pairs by the documented convention: beside the image, or in a sibling raw/ folder.
        pairs = ((images, "000001", ".png", (120, 90)), (tmp_path / "raw", "000002", ".tiff", (60, 40)))
        for folder, stem, suffix, (w, h) in pairs:
            high, low = _raw_pair(w, h)
            _write_raw(folder / f"{stem}_high{suffix}", high)
            _write_raw(folder / f"{stem}_low{suffix}", low)
        data = {
            "images": [
                {"id": 1, "file_name": "000001.jpg", "width": 120, "height": 90},
                {"id": 7, "file_name": "000002.jpg", "width": 60, "height": 40},
            ],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 5, "bbox": [10, 20, 30.5, 40], "area": 1220, "iscrowd": 0},
                {"id": 2, "image_id": 1, "category_id": 6, "bbox": [0, 0, 120, 90], "area": 10800, "iscrowd": 0},
                {"id": 3, "image_id": 7, "category_id": 4, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 1},
            ],
            "categories": [{"id": i, "name": name, "supercategory": "none"} for i, name in enumerate(CLCXRAY, 1)],
        }
        return _write_text(tmp_path / "annotations" / "instances_train2017.json", json.dumps(data))

    return make
