"""Detector checkpoints (``.pt``): weights, config and free-form extras.

A checkpoint is a plain dict of tensors, str, int, float, lists and dicts, so
it loads with ``torch.load(weights_only=True)`` and never runs pickled code.
By convention ``extra["input_format"]`` ("rgb" or "dual") says which input the
detector was trained on; runtimes read it (default "rgb").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from models.detector import ASPPYOLO, DetectorConfig, detector_from_config
from models.metadata import lanewatch_version
from models.shipped import WeightsError, first_line, what_file_is

FORMAT = "lanewatch.detector"
FORMAT_VERSION = 1


def save_checkpoint(
    path: str | Path, model: ASPPYOLO, config: DetectorConfig, *, extra: dict[str, Any], half: bool = False
) -> Path:
    """Write ``model``'s weights, ``config`` and ``extra`` (plain values only) to ``path``.

    ``half`` stores floating-point tensors as float16 (half the file; release checkpoints): loading copies
    them back into the float32 model, a relative rounding of at most 2**-11 per weight. Anchors stay exact.
    """
    if model.num_classes != config.num_classes:
        raise ValueError(f"model has {model.num_classes} classes, config {config.num_classes}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # written beside and renamed over: an interrupt (Ctrl-C in training) never leaves half a checkpoint at `path`
    partial = path.with_name(path.name + ".partial")
    ckpt = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lanewatch_version": lanewatch_version(),
        "config": config.to_dict(),
        "state_dict": {k: _stored(v, half and "anchor" not in k) for k, v in model.state_dict().items()},
        "extra": dict(extra),
    }
    try:
        torch.save(ckpt, partial)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def _stored(tensor: torch.Tensor, half: bool) -> torch.Tensor:
    tensor = tensor.detach().cpu()
    return tensor.half() if half and tensor.is_floating_point() else tensor


def load_detector(
    path: str | Path, *, map_location: str | torch.device = "cpu"
) -> tuple[ASPPYOLO, DetectorConfig, dict[str, Any]]:
    """The detector in ``path`` in eval mode, its config, and the extras saved with it.

    `WeightsError` for a file that is not a lanewatch checkpoint or is damaged; FileNotFoundError where none is.
    """
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - the unpickler raises whatever the bytes lead it to
        raise _unreadable(path, err) from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise WeightsError(path, "a PyTorch file, but not a lanewatch detector checkpoint")
    if ckpt["format_version"] > FORMAT_VERSION:
        raise WeightsError(path, f"checkpoint format {ckpt['format_version']}; this lanewatch reads {FORMAT_VERSION}")
    try:
        config = DetectorConfig.from_dict(ckpt["config"])
        model = detector_from_config(config)
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise WeightsError(path, f"its weights do not fit its config ({first_line(err)})") from err
    return model.to(map_location).eval(), config, ckpt["extra"]


def _unreadable(path: Path, err: Exception) -> WeightsError:
    """What torch.load's failure on ``path`` means: a damaged checkpoint, or some other file."""
    kind = what_file_is(path)
    if kind == "the file is a zip archive":  # the container a checkpoint is written in
        return WeightsError(path, f"a damaged or truncated PyTorch checkpoint ({first_line(err)})")
    return WeightsError(path, f"not a PyTorch checkpoint ({kind})")


def trained_zoom(extra: dict[str, Any]) -> float:
    """The largest zoom-crop factor the checkpoint was trained with (1.0: full frames only).

    Bags are enlarged at most this much over the full frame at the training size. Not times the scale
    augmentation's upper end as well: measured on packed canvases (`lanewatch bench pareto`, 300
    frames), a cap of 2 x 320 px gave mAP@0.5 0.574 at 416 and 0.553 at 512, 2.8 x 320 px 0.565 and
    0.530 (bags drawn larger than most training objects).
    """
    augment = (extra.get("train_config") or {}).get("augment") or {}
    return float((augment.get("zoom") or (1.0, 1.0))[1])


def export_metadata(config: DetectorConfig, extra: dict[str, Any]) -> dict[str, Any]:
    """What an exported engine carries beside what the network itself gives (see `models.export.export_onnx`).

    ``max_zoom`` and ``train_img_size`` tell the crop service how far it may enlarge a bag: as far as
    training showed objects (zoom crops up to ``max_zoom`` times the full frame at ``train_img_size``).
    """
    return {"class_names": list(config.class_names), "input_format": extra.get("input_format", "rgb"),
            "max_zoom": trained_zoom(extra), "train_img_size": trained_size(config, extra),
            "backbone": config.backbone, "size": config.size, "doam": config.doam,
            "label_aware": config.label_aware}


def trained_size(config: DetectorConfig, extra: dict[str, Any]) -> int:
    """The input size the checkpoint was trained at (its config's when the training config is not kept)."""
    return int((extra.get("train_config") or {}).get("img_size") or config.img_size)
