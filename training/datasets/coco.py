"""COCO JSON annotations: CLCXray and the simulator's ``annotations.json``.

Boxes in the file are COCO's ``[x, y, w, h]``, 0-based, so ``x1 = x`` and
``x2 = x + w`` in our convention (`records`). ``iscrowd: 1`` regions are read
as ``difficult`` boxes (both mean "do not count a miss here" to evaluation).

CLCXray (GreysonPhoenix/CLCXray README) ships pseudo-colour images with COCO
annotations (``annotations/instances_<split>.json`` beside ``<split>/``
image folders in common redistributions) and, separately, part of its scans as
16-bit raw images; how those raw files are named is not documented. Dual-energy
pairs are therefore found, per image entry, from

1. explicit keys ``"high_file"`` / ``"low_file"`` (relative to the image root),
   which is what `write_coco` writes, else
2. the convention ``<stem>_high.<ext>`` / ``<stem>_low.<ext>`` (ext png, tif or
   tiff) in the image's own folder or in a sibling ``raw/`` folder.

Our extensions: image entries may carry ``high_file``, ``low_file`` and
``bags`` (``[[x, y, w, h], ...]``); annotations carry ``occlusion``
(``"OL1".."OL3"``, omitted when unknown) and ``difficult`` (only when true).
``file_name`` is null for a scan that has only its raw pair.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.datasets.classes import LabelMap, resolve_label
from training.datasets.records import Box, DatasetFormatError, Sample, box_from, relative_path, round_px, sample_from

RAW_SUFFIXES = (".png", ".tif", ".tiff")


def read_coco(
    json_path: Path | str, image_root: Path | str | None = None, *, label_map: LabelMap | None = None
) -> list[Sample]:
    """Read a COCO JSON file; file names are relative to `image_root` (default: the JSON's folder)."""
    json_path = Path(json_path)
    image_root = Path(image_root) if image_root is not None else json_path.parent
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetFormatError(json_path, f"not valid JSON ({err})") from err
    for key in ("images", "annotations", "categories"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise DatasetFormatError(json_path, f"needs a top-level list {key!r}")

    categories: dict[Any, str | None] = {}
    for i, cat in enumerate(data["categories"]):
        _require(cat, ("id", "name"), f"category {i}", json_path)
        categories[cat["id"]] = resolve_label(cat["name"], label_map, json_path, f"category {cat['id']}")

    boxes: dict[Any, list[Box]] = {}
    for i, img in enumerate(data["images"]):
        _require(img, ("id", "width", "height"), f"image {i}", json_path)
        if img["id"] in boxes:
            raise DatasetFormatError(json_path, f"image id {img['id']} appears twice")
        boxes[img["id"]] = []
    for i, ann in enumerate(data["annotations"]):
        what = f"annotation {ann.get('id', i) if isinstance(ann, dict) else i}"
        _require(ann, ("image_id", "category_id", "bbox"), what, json_path)
        if ann["image_id"] not in boxes:
            raise DatasetFormatError(json_path, f"{what} refers to unknown image_id {ann['image_id']}")
        if ann["category_id"] not in categories:
            raise DatasetFormatError(json_path, f"{what} refers to unknown category_id {ann['category_id']}")
        label = categories[ann["category_id"]]
        if label is not None:
            boxes[ann["image_id"]].append(_read_box(ann, label, what, json_path))

    return [_read_image(img, boxes[img["id"]], image_root, json_path) for img in data["images"]]


def write_coco(samples: Sequence[Sample], classes: Sequence[str], path: Path | str, *, root: Path | str) -> None:
    """Write samples as COCO JSON, category ids 1.. in `classes` order, file names relative to `root`."""
    path, root = Path(path), Path(root)
    category_ids = {name: i for i, name in enumerate(classes, 1)}
    images, annotations = [], []
    for image_id, sample in enumerate(samples, 1):
        entry: dict[str, Any] = {
            "id": image_id,
            "file_name": relative_path(sample.image, root) if sample.image is not None else None,
            "width": sample.width,
            "height": sample.height,
        }
        if sample.high is not None and sample.low is not None:
            entry["high_file"] = relative_path(sample.high, root)
            entry["low_file"] = relative_path(sample.low, root)
        entry["bags"] = [_xywh(bag) for bag in sample.bags]
        images.append(entry)
        for box in sample.boxes:
            if box.label not in category_ids:
                raise ValueError(f"sample {sample.image_id}: label {box.label!r} is not in classes {list(classes)}")
            ann: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": category_ids[box.label],
                "bbox": _xywh(box.as_xyxy()),
                "area": round_px(box.area),
                "iscrowd": 0,
            }
            if box.occlusion is not None:
                ann["occlusion"] = box.occlusion
            if box.difficult:
                ann["difficult"] = True
            annotations.append(ann)
    data = {
        "info": {"description": "written by lanewatch"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": name, "supercategory": "none"} for name, i in category_ids.items()],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _read_image(img: dict[str, Any], boxes: list[Box], image_root: Path, json_path: Path) -> Sample:
    file_name = img.get("file_name") or None
    image = image_root / file_name if file_name else None
    if "high_file" in img or "low_file" in img:
        _require(img, ("high_file", "low_file"), f"image {img['id']}", json_path)
        high, low = image_root / img["high_file"], image_root / img["low_file"]
    else:
        high, low = _find_raw_pair(image) if image is not None else (None, None)
    bags = [_xyxy(bag, f"image {img['id']} bag {i}", json_path) for i, bag in enumerate(img.get("bags", []), 1)]
    return sample_from(
        json_path,
        image_id=Path(file_name).stem if file_name else str(img["id"]),
        width=img["width"],
        height=img["height"],
        image=image,
        high=high,
        low=low,
        boxes=boxes,
        bags=bags,
    )


def _read_box(ann: dict[str, Any], label: str, what: str, json_path: Path) -> Box:
    x1, y1, x2, y2 = _xyxy(ann["bbox"], what, json_path)
    difficult = bool(ann.get("difficult", False)) or ann.get("iscrowd", 0) == 1
    return box_from(
        json_path, what, x1=x1, y1=y1, x2=x2, y2=y2, label=label, occlusion=ann.get("occlusion"), difficult=difficult
    )


def _find_raw_pair(image: Path) -> tuple[Path | None, Path | None]:
    for folder in (image.parent, image.parent.parent / "raw"):
        for suffix in RAW_SUFFIXES:
            high, low = folder / f"{image.stem}_high{suffix}", folder / f"{image.stem}_low{suffix}"
            if high.is_file() and low.is_file():
                return high, low
    return None, None


def _xyxy(bbox: Any, what: str, json_path: Path) -> tuple[float, float, float, float]:
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
        raise DatasetFormatError(json_path, f"{what} has bbox {bbox!r}, expected [x, y, w, h]")
    x, y, w, h = bbox
    if w <= 0 or h <= 0:
        raise DatasetFormatError(json_path, f"{what} has bbox {bbox!r} with non-positive width or height")
    return (round_px(x), round_px(y), round_px(x + w), round_px(y + h))


def _xywh(xyxy: tuple[float, float, float, float]) -> list[float]:
    x1, y1, x2, y2 = xyxy
    return [x1, y1, round_px(x2 - x1), round_px(y2 - y1)]


def _require(entry: Any, keys: tuple[str, ...], what: str, json_path: Path) -> None:
    if not isinstance(entry, dict):
        raise DatasetFormatError(json_path, f"{what} is not an object")
    missing = [k for k in keys if k not in entry]
    if missing:
        raise DatasetFormatError(json_path, f"{what} has no {', '.join(missing)}")
