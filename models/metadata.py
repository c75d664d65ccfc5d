"""What a weights file says about itself: classes, input size and format, anchors.

Every runtime checks this when it loads, so an engine built for 5 classes at
416 pixels never silently reads 320-pixel dual-energy frames. In ONNX files
each key is one ``metadata_props`` entry whose value is JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # keeps this module, and the ONNX Runtime runtime with it, free of torch
    from models.detector import DetectorConfig

# Tensor names of exported graphs: (N, C_in, S, S) float32 in, (N, M, 5 + C) decoded out.
INPUT_NAME = "images"
OUTPUT_NAME = "detections"
INPUT_FORMATS = ("rgb", "dual")
REQUIRED_KEYS = ("class_names", "num_classes", "img_size", "in_channels", "strides", "anchors", "input_format")


def lanewatch_version() -> str:
    """The installed lanewatch version, or ``0+unknown`` when running from an uninstalled tree."""
    try:
        return importlib_metadata.version("lanewatch")
    except importlib_metadata.PackageNotFoundError:
        return "0+unknown"


def detector_metadata(config: DetectorConfig, *, input_format: str = "rgb", **more: Any) -> dict[str, Any]:
    """Metadata of a detector built from ``config``; ``more`` adds or overrides keys."""
    from models.detector import STRIDES

    meta = {
        "class_names": list(config.class_names),
        "num_classes": config.num_classes,
        "img_size": config.img_size,
        "in_channels": config.in_channels,
        "strides": list(STRIDES),
        "anchors": config.to_dict()["anchors"],
        "input_format": input_format,
        "size": config.size,
        "backbone": config.backbone,
        "doam": config.doam,
        "label_aware": config.label_aware,
        "lanewatch_version": lanewatch_version(),
    }
    meta.update(more)
    return validate_metadata(meta)


def validate_metadata(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` as a plain dict if it has the keys runtimes rely on and they agree; else ValueError."""
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ValueError(f"detector metadata lacks {missing}")
    if meta["input_format"] not in INPUT_FORMATS:
        raise ValueError(f"input_format must be one of {INPUT_FORMATS}, got {meta['input_format']!r}")
    if len(meta["class_names"]) != meta["num_classes"]:
        raise ValueError(f"{len(meta['class_names'])} class names for {meta['num_classes']} classes")
    if len(meta["anchors"]) != len(meta["strides"]):
        raise ValueError(f"{len(meta['anchors'])} anchor scales for {len(meta['strides'])} strides")
    return dict(meta)


@dataclass(frozen=True)
class DetectorInfo:
    """The metadata as types: what callers read (runtimes, the canvas layout, the benchmarks), by attribute.

    ``max_zoom``: the largest region scale over the full frame's the detector was trained to see, at
    ``train_img_size`` (1.0 and ``img_size`` for weights that do not say); ``doam``: the network refines
    its input with the De-occlusion Attention Module (inside the graph; False for weights that do not say);
    ``label_aware``: the head's label-aware mechanism, "cls", "reg" or "none" (its pseudo-label pass is inside
    the graph too);
    ``metadata`` keeps every key.
    """

    class_names: tuple[str, ...]
    img_size: int
    input_format: str
    in_channels: int
    strides: tuple[int, ...]
    anchors: tuple[tuple[tuple[float, float], ...], ...]
    max_zoom: float
    train_img_size: int
    backbone: str
    doam: bool
    label_aware: str
    metadata: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> DetectorInfo:
        """Validated (`validate_metadata`) and typed; ValueError when the metadata is not a detector's."""
        meta = validate_metadata(meta)
        return cls(
            class_names=tuple(str(c) for c in meta["class_names"]), img_size=int(meta["img_size"]),
            input_format=str(meta["input_format"]), in_channels=int(meta["in_channels"]),
            strides=tuple(int(s) for s in meta["strides"]),
            anchors=tuple(tuple((float(w), float(h)) for w, h in scale) for scale in meta["anchors"]),
            max_zoom=float(meta.get("max_zoom", 1.0)), train_img_size=int(meta.get("train_img_size", meta["img_size"])),
            backbone=str(meta.get("backbone", "cspdarknet")), doam=bool(meta.get("doam", False)),
            label_aware=str(meta.get("label_aware", "none")), metadata=meta,
        )

    @property
    def stride(self) -> int:
        """The largest stride: input sides must be multiples of it."""
        return max(self.strides)


def encode_metadata(meta: Mapping[str, Any]) -> dict[str, str]:
    """Each value as JSON text, for ONNX ``metadata_props`` or engine headers."""
    return {key: json.dumps(value) for key, value in meta.items()}


def decode_metadata(props: Mapping[str, str]) -> dict[str, Any]:
    """Inverse of ``encode_metadata``; entries that are not JSON (written by other tools) stay strings."""
    meta: dict[str, Any] = {}
    for key, text in props.items():
        try:
            meta[key] = json.loads(text)
        except json.JSONDecodeError:
            meta[key] = text
    return meta
