"""SIXray and OPIXray in the formats they ship.

SIXray (Miao et al., CVPR 2019; MeioJane/SIXray README and ``data_list.txt``,
MeioJane/CHR ``CHR/ray.py``, the maintainer's answer in MeioJane/SIXray#8 that
``Annotation.zip`` holds every positive image's boxes, taimurhassan/TST
``utils/gTGeneratorSIXray.m`` which parses them as VOC XML)::

    JPEGImage/P00001.jpg ... N0000001.jpg
    Annotation/P00001.xml          VOC XML, one per positive image, read by `voc`
    ImageSet/<10|100|1000>/train.csv, test.csv
        name,Gun,Knife,Wrench,Pliers,Scissors      (a Hammer column may follow)
        P03198,1,-1,1,-1,-1                        1 present, -1 (or 0) absent

Per-image txt, one line per box, whitespace separated, ``<image file> <class>
<x1> <y1> <x2> <y2>`` in pixels, used by

- SIXray's power-bank subset (``core_3000/Annotation/core_battery00000001.txt``
  with images in ``Image/`` as .jpg/.TIFF; lines like ``core_battery00000001.jpg
  带电芯充电宝 <x1> <y1> <x2> <y2>``; duguanyue/ssd.sixray ``data/SIXray.py``,
  wangx26/SSD_SIXray_homework ``data/sixray.py``), and
- OPIXray (OPIXray-author/OPIXray ``DOAM/data/OPIXray.py`` and README)::

      OPIXray_Dataset/train/train_image/*.jpg, train_annotation/*.txt
      OPIXray_Dataset/test/test_image/*.jpg,  test_annotation/*.txt
      OPIXray_Dataset/test/test_knife-1.txt, -2, -3   image ids per occlusion level

  with lines like ``009000.jpg Straight_Knife 161 191 283 292``.

Those loaders divide the txt coordinates by the image size without VOC's -1,
so they are 0-based corners, x2/y2 exclusive, as in `records`. They also clip
boxes to the image and skip boxes that start beyond it (a SIXray scan file can
hold a second view); the readers here do the same. The txt files carry no image
size, so each image is decoded once to learn it.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import cv2

from training.datasets.classes import LabelMap, resolve_label
from training.datasets.records import (
    OCCLUSION_LEVELS,
    Box,
    DatasetFormatError,
    OcclusionLevel,
    Sample,
    box_from,
    round_px,
    sample_from,
)
from training.datasets.voc import IMAGE_DIRS, find_image, read_voc_dir


def read_txt_annotation(
    txt_path: Path | str,
    image_path: Path | str,
    *,
    label_map: LabelMap | None = None,
    occlusion: OcclusionLevel | None = None,
) -> Sample:
    """Read one per-image txt annotation (SIXray power banks, OPIXray) for the image at `image_path`."""
    txt_path, image_path = Path(txt_path), Path(image_path)
    width, height = image_size(image_path)
    boxes: list[Box] = []
    for n, line in enumerate(_read_text(txt_path).splitlines(), 1):
        if not line.strip():
            continue
        box = _parse_line(line, n, txt_path, width, height, label_map, occlusion)
        if box is not None:
            boxes.append(box)
    return sample_from(txt_path, image_id=image_path.stem, width=width, height=height, image=image_path, boxes=boxes)


def read_txt_dir(
    ann_dir: Path | str,
    image_dir: Path | str,
    *,
    label_map: LabelMap | None = None,
    occlusion: Mapping[str, OcclusionLevel] | None = None,
) -> list[Sample]:
    """Read every ``*.txt`` in `ann_dir` with its image from `image_dir`; `occlusion` maps image ids to levels."""
    image_dir = Path(image_dir)
    samples = []
    for txt in sorted(Path(ann_dir).glob("*.txt")):
        image = find_image(txt.stem, [image_dir])
        if image is None:
            raise DatasetFormatError(txt, f"no image named {txt.stem}.* in {image_dir}")
        level = (occlusion or {}).get(txt.stem)
        samples.append(read_txt_annotation(txt, image, label_map=label_map, occlusion=level))
    return samples


def read_opixray(split_dir: Path | str, *, label_map: LabelMap | None = None) -> list[Sample]:
    """Read one OPIXray split folder (``<split>_image/``, ``<split>_annotation/``, ``*-1|2|3.txt`` lists)."""
    split_dir = Path(split_dir)
    occlusion: dict[str, OcclusionLevel] = {}
    for digit, level in enumerate(OCCLUSION_LEVELS, 1):
        for listing in sorted(split_dir.glob(f"*-{digit}.txt")):
            ids = (Path(line.strip()).stem for line in _read_text(listing).splitlines() if line.strip())
            occlusion.update(dict.fromkeys(ids, level))
    samples = []
    for ann_dir in sorted(split_dir.glob("*_annotation")):
        image_dir = ann_dir.with_name(ann_dir.name.removesuffix("_annotation") + "_image")
        samples += read_txt_dir(ann_dir, image_dir, label_map=label_map, occlusion=occlusion)
    return samples


def read_sixray_labels(csv_path: Path | str) -> dict[str, frozenset[str]]:
    """Read a SIXray ImageSet CSV: image name -> the classes marked present (1)."""
    csv_path = Path(csv_path)
    rows = list(csv.reader(_read_text(csv_path).splitlines()))
    if not rows or not rows[0] or rows[0][0].strip() != "name":
        raise DatasetFormatError(csv_path, "first row must be the header 'name,<class>,...'")
    classes = [c.strip() for c in rows[0][1:]]
    labels = {}
    for n, row in enumerate(rows[1:], 2):
        if not row:
            continue
        if len(row) != len(classes) + 1:
            raise DatasetFormatError(csv_path, f"line {n} has {len(row)} fields, the header has {len(classes) + 1}")
        try:
            flags = [int(v) for v in row[1:]]
        except ValueError:
            raise DatasetFormatError(csv_path, f"line {n}: labels must be 1, 0 or -1, got {row[1:]}") from None
        labels[row[0].strip()] = frozenset(c for c, f in zip(classes, flags) if f == 1)
    return labels


def read_sixray(
    root: Path | str, *, labels_csv: Path | str | None = None, label_map: LabelMap | None = None
) -> list[Sample]:
    """Read original SIXray: ``Annotation/*.xml`` boxes; with `labels_csv`, that split incl. its negatives."""
    root = Path(root)
    image_dir = next((root / d for d in ("JPEGImage", *IMAGE_DIRS) if (root / d).is_dir()), root)
    xml_samples = read_voc_dir(root / "Annotation", root=root, image_dir=image_dir, label_map=label_map)
    annotated = {s.image_id: s for s in xml_samples}
    if labels_csv is None:
        return list(annotated.values())
    samples = []
    for name, present in read_sixray_labels(labels_csv).items():
        if name in annotated:
            samples.append(annotated[name])
        elif present:
            problem = f"{name} is labelled {sorted(present)} but has no Annotation/{name}.xml"
            raise DatasetFormatError(labels_csv, problem)
        else:
            image = find_image(name, [image_dir])
            if image is None:
                raise DatasetFormatError(labels_csv, f"no image named {name}.* in {image_dir}")
            width, height = image_size(image)
            samples.append(sample_from(labels_csv, image_id=name, width=width, height=height, image=image))
    return samples


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetFormatError(path, "cannot be decoded as an image")
    return image.shape[1], image.shape[0]


def _parse_line(
    line: str,
    n: int,
    path: Path,
    width: int,
    height: int,
    label_map: LabelMap | None,
    occlusion: OcclusionLevel | None,
) -> Box | None:
    tokens = line.split()
    if len(tokens) < 6:
        raise DatasetFormatError(path, f"line {n}: expected '<image> <class> x1 y1 x2 y2', got {line.strip()!r}")
    try:
        x1, y1, x2, y2 = (float(t) for t in tokens[-4:])
    except ValueError:
        raise DatasetFormatError(path, f"line {n}: coordinates {tokens[-4:]} are not all numbers") from None
    if x2 <= x1 or y2 <= y1:
        raise DatasetFormatError(path, f"line {n}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) has x2 <= x1 or y2 <= y1")
    label = resolve_label(" ".join(tokens[1:-4]), label_map, path, f"line {n}")
    x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height))
    if label is None or x2 <= x1 or y2 <= y1:
        return None  # dropped class, or a box wholly outside this view
    return box_from(
        path, f"line {n}", x1=round_px(x1), y1=round_px(y1), x2=round_px(x2), y2=round_px(y2),
        label=label, occlusion=occlusion,
    )


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Chinese class names written on Windows tools are often GBK-encoded.
        return data.decode("gb18030")
