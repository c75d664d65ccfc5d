"""VOC-style XML annotations: SIXray-D, SIXray's ``Annotation/*.xml``, VOC
conversions of OPIXray, and the simulator's ``annotations/<stem>.xml``.

Coordinates in the file are VOC's 1-based inclusive pixels: a box with corners
``(x1, y1, x2, y2)`` in our 0-based, end-exclusive convention (`records`) is
written as ``xmin = x1 + 1, ymin = y1 + 1, xmax = x2, ymax = y2`` and read back
the reverse way. The same holds for ``<bag>`` elements.

Our extensions, all optional on reading so foreign VOC files load unchanged:

- ``<object><occlusion>OL1|OL2|OL3</occlusion>`` (omitted when unknown),
- ``<raw><high>raw/x_high.png</high><low>raw/x_low.png</low></raw>``, paths
  relative to the dataset root (the folder above ``annotations/``),
- one ``<bag><xmin/><ymin/><xmax/><ymax/></bag>`` per bag in the scan,
- ``<folder>`` holds the image folder relative to the dataset root.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from training.datasets.classes import LabelMap, resolve_label
from training.datasets.records import Box, DatasetFormatError, Sample, box_from, relative_path, round_px, sample_from

# Where VOC-like datasets keep images, relative to the dataset root.
IMAGE_DIRS = ("images", "JPEGImages", "JPEGImage", "Image", "image")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".TIFF", ".JPG", ".PNG")


def read_voc_xml(
    path: Path | str,
    *,
    root: Path | str | None = None,
    image_dir: Path | str | None = None,
    label_map: LabelMap | None = None,
) -> Sample:
    """Read one VOC XML file; `root` defaults to the folder above the annotation folder."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent.parent
    try:
        ann = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise DatasetFormatError(path, f"not well-formed XML ({err})") from err
    if ann.tag != "annotation":
        raise DatasetFormatError(path, f"root element is <{ann.tag}>, expected <annotation>")
    width, height = _size(ann, path)
    filename = (ann.findtext("filename") or "").strip() or path.stem

    high = low = None
    raw = ann.find("raw")
    if raw is not None:
        high, low = (_raw_path(raw, tag, root, path) for tag in ("high", "low"))
    folders = [Path(image_dir)] if image_dir is not None else _image_folders(ann, root, path)
    image = find_image(filename, folders)
    if image is None and (high is None or low is None):
        searched = ", ".join(str(f) for f in folders)
        raise DatasetFormatError(path, f"image {filename!r} not found in {searched}")

    boxes: list[Box] = []
    for i, obj in enumerate(ann.findall("object"), 1):
        box = _read_object(obj, i, path, width, height, label_map)
        if box is not None:
            boxes.append(box)
    bags = [_corners(bag, f"<bag> {i}", path, width, height) for i, bag in enumerate(ann.findall("bag"), 1)]
    return sample_from(
        path,
        image_id=Path(filename).stem,
        width=width,
        height=height,
        image=image,
        high=high,
        low=low,
        boxes=boxes,
        bags=bags,
    )


def read_voc_dir(
    ann_dir: Path | str,
    *,
    root: Path | str | None = None,
    image_dir: Path | str | None = None,
    label_map: LabelMap | None = None,
) -> list[Sample]:
    """Read every ``*.xml`` in `ann_dir`, sorted by file name."""
    return [
        read_voc_xml(p, root=root, image_dir=image_dir, label_map=label_map)
        for p in sorted(Path(ann_dir).glob("*.xml"))
    ]


def write_voc_xml(sample: Sample, path: Path | str, *, root: Path | str | None = None) -> None:
    """Write one sample as VOC XML; file paths are stored relative to `root`."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent.parent
    ann = ET.Element("annotation")
    if sample.image is not None:
        _text(ann, "folder", relative_path(sample.image.parent, root))
        _text(ann, "filename", sample.image.name)
    else:
        _text(ann, "filename", f"{sample.image_id}.png")
    size = ET.SubElement(ann, "size")
    for tag, value in (("width", sample.width), ("height", sample.height), ("depth", 3)):
        _text(size, tag, str(value))
    if sample.high is not None and sample.low is not None:
        raw = ET.SubElement(ann, "raw")
        _text(raw, "high", relative_path(sample.high, root))
        _text(raw, "low", relative_path(sample.low, root))
    for box in sample.boxes:
        obj = ET.SubElement(ann, "object")
        _text(obj, "name", box.label)
        _text(obj, "truncated", "0")
        _text(obj, "difficult", str(int(box.difficult)))
        if box.occlusion is not None:
            _text(obj, "occlusion", box.occlusion)
        _write_corners(obj, "bndbox", box.as_xyxy())
    for bag in sample.bags:
        _write_corners(ann, "bag", bag)
    ET.indent(ann)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(ann).write(path, encoding="utf-8", xml_declaration=True)


def find_image(filename: str, folders: list[Path]) -> Path | None:
    """First existing `filename` in `folders`, trying the usual image suffixes when it has none or is absent."""
    name = Path(filename)
    candidates = [name.name] + [name.stem + s for s in IMAGE_SUFFIXES if s != name.suffix]
    for folder in folders:
        for candidate in candidates:
            if (folder / candidate).is_file():
                return folder / candidate
    return None


def _image_folders(ann: ET.Element, root: Path, path: Path) -> list[Path]:
    folders = [root / d for d in IMAGE_DIRS] + [path.parent]
    folder = (ann.findtext("folder") or "").strip()
    # Foreign files put a dataset name here ("VOC2007"), so it is only a first guess.
    return ([root / folder] if folder else []) + folders


def _read_object(
    obj: ET.Element, i: int, path: Path, width: int, height: int, label_map: LabelMap | None
) -> Box | None:
    name = (obj.findtext("name") or "").strip()
    bndbox = obj.find("bndbox")
    if not name and bndbox is None:
        return None  # SIXray ships some empty <object> placeholders
    if not name:
        raise DatasetFormatError(path, f"object {i} has no <name>")
    if bndbox is None:
        raise DatasetFormatError(path, f"object {i} ({name}) has no <bndbox>")
    label = resolve_label(name, label_map, path, f"object {i}")
    if label is None:
        return None
    occlusion = (obj.findtext("occlusion") or "").strip() or None  # Box checks the level
    x1, y1, x2, y2 = _corners(bndbox, f"<bndbox> of object {i}", path, width, height)
    difficult = (obj.findtext("difficult") or "0").strip().lower() in ("1", "true")
    return box_from(
        path, f"object {i}", x1=x1, y1=y1, x2=x2, y2=y2, label=label, occlusion=occlusion, difficult=difficult
    )


def _corners(elem: ET.Element, what: str, path: Path, width: int, height: int) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = (_number(elem, tag, what, path) for tag in ("xmin", "ymin", "xmax", "ymax"))
    if xmax < xmin:
        raise DatasetFormatError(path, f"{what} has xmax ({xmax:g}) < xmin ({xmin:g})")
    if ymax < ymin:
        raise DatasetFormatError(path, f"{what} has ymax ({ymax:g}) < ymin ({ymin:g})")
    x1, y1, x2, y2 = xmin - 1, ymin - 1, xmax, ymax
    # Public VOC conversions are often off by one at the border (0-based xmin,
    # or xmax = width + 1): clip those, let the Sample reject anything further out.
    x1, y1 = (0.0 if -1 <= v < 0 else v for v in (x1, y1))
    x2 = float(width) if width < x2 <= width + 1 else x2
    y2 = float(height) if height < y2 <= height + 1 else y2
    return (round_px(x1), round_px(y1), round_px(x2), round_px(y2))


def _write_corners(parent: ET.Element, tag: str, xyxy: tuple[float, float, float, float]) -> None:
    elem = ET.SubElement(parent, tag)
    x1, y1, x2, y2 = xyxy
    for name, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
        _text(elem, name, _format(round_px(value)))


def _size(ann: ET.Element, path: Path) -> tuple[int, int]:
    values = []
    for tag in ("width", "height"):
        text = (ann.findtext(f"size/{tag}") or "").strip()
        try:
            values.append(int(float(text)))
        except ValueError:
            raise DatasetFormatError(path, f"<size><{tag}> is {text!r}, expected a positive integer") from None
    return values[0], values[1]


def _number(elem: ET.Element, tag: str, what: str, path: Path) -> float:
    text = (elem.findtext(tag) or "").strip()
    if not text:
        raise DatasetFormatError(path, f"{what} has no <{tag}>")
    try:
        return float(text)
    except ValueError:
        raise DatasetFormatError(path, f"{what} has <{tag}> {text!r}, not a number") from None


def _raw_path(raw: ET.Element, tag: str, root: Path, path: Path) -> Path:
    text = (raw.findtext(tag) or "").strip()
    if not text:
        raise DatasetFormatError(path, f"<raw> has no <{tag}>")
    return root / text


def _format(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _text(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = text
