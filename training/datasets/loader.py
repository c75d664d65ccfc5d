"""Load a dataset folder of any supported layout, and decode a sample's scan.

Layouts `load_dataset` recognises, tried in this order on `root`:

====================  ===================================================
``simulator-coco``    ``annotations.json`` (+ ``images/``, ``raw/``)
``simulator-voc``     ``annotations/*.xml`` (+ ``images/``, ``raw/``)
``voc``               ``Annotations/*.xml`` + ``JPEGImages/`` (SIXray-D, VOC conversions)
``sixray``            ``Annotation/*.xml`` + ``JPEGImage/`` (original SIXray)
``sixray-txt``        ``Annotation/*.txt`` + ``Image/`` (SIXray power-bank subset)
``opixray``           ``<split>_annotation/*.txt`` + ``<split>_image/``
``coco``              ``annotations/*.json`` or ``*.json`` (CLCXray)
====================  ===================================================

When `root` itself matches none, each sub-folder that matches one is read and
the results concatenated, so ``OPIXray_Dataset/`` (``train/``, ``test/``) or a
folder holding SIXray's ``core_3000/`` and ``coreless_3000/`` load in one call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from pipeline.dual_energy import to_three_channel
from training.datasets.classes import LabelMap
from training.datasets.coco import read_coco
from training.datasets.records import DatasetFormatError, Sample
from training.datasets.sixray import read_opixray, read_sixray, read_txt_dir
from training.datasets.voc import IMAGE_DIRS, read_voc_dir

Layout = Literal["simulator-coco", "simulator-voc", "voc", "sixray", "sixray-txt", "opixray", "coco"]


def detect_layout(root: Path | str) -> Layout | None:
    """Name the layout of the dataset folder `root`, or None when none matches."""
    root = Path(root)
    if (root / "annotations.json").is_file():
        return "simulator-coco"
    for folder, layout in (("annotations", "simulator-voc"), ("Annotations", "voc"), ("Annotation", "sixray")):
        if any((root / folder).glob("*.xml")):
            return layout
    if any((root / "Annotation").glob("*.txt")):
        return "sixray-txt"
    if any(p.is_dir() for p in root.glob("*_annotation")):
        return "opixray"
    if _coco_files(root):
        return "coco"
    return None


def load_dataset(root: Path | str, *, label_map: LabelMap | None = None) -> list[Sample]:
    """Read every sample of the dataset folder `root`, whatever its layout."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetFormatError(root, "is not a folder")
    layout = detect_layout(root)
    if layout is not None:
        return _read_layout(root, layout, label_map)
    subfolders = [(p, detect_layout(p)) for p in sorted(root.iterdir()) if p.is_dir()]
    matched = [(p, layout) for p, layout in subfolders if layout is not None]
    if not matched:
        raise DatasetFormatError(
            root,
            "no known dataset layout: expected annotations.json, annotations/*.xml, Annotations/*.xml, "
            "Annotation/*.xml|*.txt, <split>_annotation/ or *.json, here or one folder down",
        )
    return [s for p, layout in matched for s in _read_layout(p, layout, label_map)]


def load_image(sample: Sample, mode: Literal["rgb", "dual"] = "rgb") -> np.ndarray:
    """Decode a sample's scan as uint8 (H, W, 3): pseudo-colour RGB, or the dual-energy 3-channel form."""
    if mode not in ("rgb", "dual"):
        raise ValueError(f"mode must be 'rgb' or 'dual', got {mode!r}")
    if mode == "rgb" and sample.image is not None:
        bgr = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DatasetFormatError(sample.image, "missing or cannot be decoded as an image")
        image, source = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), sample.image
    elif sample.high is not None and sample.low is not None:
        high, low = _read_raw(sample.high), _read_raw(sample.low)
        if mode == "dual":
            image = to_three_channel(high, low)
        else:
            # a raw-only scan shown to an "rgb" model: render pseudo-colour as a scanner would, with the
            # simulator's detector calibration (air and dark levels); other scanners' raw files need theirs
            from pipeline.xray.screen import render_raw

            image = render_raw(high, low)
        source = sample.high
    else:
        raise ValueError(f"sample {sample.image_id} has no dual-energy raw pair (high/low) to load as {mode!r}")
    if image.shape[:2] != (sample.height, sample.width):
        h, w = image.shape[:2]
        raise DatasetFormatError(source, f"is {w}x{h} but its annotation says {sample.width}x{sample.height}")
    return image


def _read_layout(root: Path, layout: Layout, label_map: LabelMap | None) -> list[Sample]:
    if layout == "simulator-coco":
        return read_coco(root / "annotations.json", root, label_map=label_map)
    if layout in ("simulator-voc", "voc"):
        folder = "annotations" if layout == "simulator-voc" else "Annotations"
        return read_voc_dir(root / folder, root=root, label_map=label_map)
    if layout == "sixray":
        return read_sixray(root, label_map=label_map)
    if layout == "sixray-txt":
        image_dir = next((root / d for d in IMAGE_DIRS if (root / d).is_dir()), root)
        return read_txt_dir(root / "Annotation", image_dir, label_map=label_map)
    if layout == "opixray":
        return read_opixray(root, label_map=label_map)
    return [s for path in _coco_files(root) for s in read_coco(path, _coco_image_root(root, path), label_map=label_map)]


def _coco_files(root: Path) -> list[Path]:
    return sorted((root / "annotations").glob("*.json")) or sorted(root.glob("*.json"))


def _coco_image_root(root: Path, json_path: Path) -> Path:
    # COCO-style releases (CLCXray among them) pair annotations/instances_<split>.json with <split>/.
    split = json_path.stem.removeprefix("instances_")
    return root / split if (root / split).is_dir() else root


def _read_raw(path: Path) -> np.ndarray:
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DatasetFormatError(path, "missing or cannot be decoded as an image")
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise DatasetFormatError(path, f"expected a 16-bit single-channel image, got {raw.dtype} {raw.shape}")
    return raw
