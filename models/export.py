"""Export a detector with its decoder to ONNX, with dynamic batch and size axes and metadata.

The graph takes ``images`` (N, C_in, H, W) float32 in [0, 1] and gives
``detections`` (N, M, 5 + C): (x1, y1, x2, y2) in input pixels, objectness and
class probabilities, before NMS (``models.nms.postprocess``). The batch axis is
dynamic for the batcher and TensorRT optimisation profiles; H and W are free
(multiples of the largest stride) so that canvases trimmed to their bags run at
their own size. The metadata's ``img_size`` S is the size the model is meant
to run at, and the largest side a canvas may have.

`export_classifier_onnx` writes the image-level classifier (`models.chr`) the
same way: ``images`` (N, 3, S, S) in, ``scores`` (N, C) probabilities out.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import onnx
import torch
from google.protobuf.message import DecodeError

from models.decode import DetectorWithDecode
from models.metadata import (
    INPUT_NAME,
    OUTPUT_NAME,
    decode_metadata,
    encode_metadata,
    lanewatch_version,
    validate_metadata,
)
from models.shipped import WeightsError, first_line, what_file_is

# The classifier's output: (N, C) sigmoid probabilities (`export_classifier_onnx`).
CLASSIFIER_OUTPUT_NAME = "scores"
# The torch.export-based exporter implements opset 18 and later only.
_DYNAMO_MIN_OPSET = 18

log = logging.getLogger(__name__)


def export_onnx(
    model: torch.nn.Module,
    path: str | Path,
    *,
    img_size: int,
    metadata: Mapping[str, Any],
    opset: int = 18,
    dynamic_batch: bool = True,
    dynamic_size: bool = True,
    dynamo: bool = False,
) -> Path:
    """Write ``model`` (an ``ASPPYOLO``) plus decoder to ``path`` as ONNX; returns ``path``.

    ``metadata`` must give ``class_names`` and ``input_format`` ("rgb" or "dual");
    ``img_size``, ``strides``, ``anchors``, ``num_classes``, ``in_channels`` and
    ``lanewatch_version`` are taken from the model and arguments unless given.
    ``dynamic_size``: height and width are free (multiples of the largest stride, up to
    ``img_size``, the size ``img_size`` in the metadata names), so trimmed canvases run at
    their own size; TensorRT's optimisation profile still fixes them at ``img_size``.
    The legacy TorchScript exporter makes the graph unless ``dynamo=True`` asks for the torch.export-based
    one (opset 18 and later; it needs the onnxscript package, which lanewatch does not install), which
    falls back to the legacy exporter, with a warning, where it fails. Every shipped and tested graph comes
    from the legacy exporter: the default used to be the other one, which failed without onnxscript on
    every export and printed that it fell back.
    """
    if img_size % max(model.strides):
        raise ValueError(f"img_size must be a multiple of {max(model.strides)}, got {img_size}")
    in_channels = model.in_channels
    meta = validate_metadata(
        {
            "num_classes": model.num_classes,
            "img_size": img_size,
            "in_channels": in_channels,
            "strides": list(model.strides),
            "anchors": model.anchors.tolist(),
            "lanewatch_version": lanewatch_version(),
            **metadata,
        }
    )
    if meta["img_size"] != img_size or meta["num_classes"] != model.num_classes:
        raise ValueError("metadata disagrees with the model or img_size")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = DetectorWithDecode(model).eval()
    was_training = model.training
    device = next(model.parameters()).device
    # Batch 2, not 1: torch.export specialises a size-1 axis to a constant.
    example = torch.rand(2 if dynamic_batch else 1, in_channels, img_size, img_size, device=device)
    try:
        use_dynamo = dynamo and opset >= _DYNAMO_MIN_OPSET
        try:
            _run_exporter(wrapped, example, path, opset=opset, dynamic_batch=dynamic_batch, dynamic_size=dynamic_size,
                          stride=max(model.strides), dynamo=use_dynamo)
        except Exception as err:  # noqa: BLE001 - any failure of the new exporter: try the legacy one
            if not use_dynamo:
                raise
            log.warning("torch.export-based ONNX export failed (%s); using the legacy exporter", err)
            _run_exporter(wrapped, example, path, opset=opset, dynamic_batch=dynamic_batch, dynamic_size=dynamic_size,
                          stride=max(model.strides), dynamo=False)
    finally:
        model.train(was_training)

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in encode_metadata(meta).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def load_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata ``export_onnx`` stored in ``path``, values decoded from JSON; `WeightsError` if it is no ONNX model."""
    path = Path(path)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except DecodeError as err:
        raise WeightsError(path, f"not a readable ONNX model ({what_file_is(path)}; {first_line(err)})") from err
    if not proto.graph.node:  # protobuf reads an empty file, and some others, as an empty model
        raise WeightsError(path, f"not a readable ONNX model ({what_file_is(path)}; no graph in it)")
    return decode_metadata({p.key: p.value for p in proto.metadata_props})


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Keep the exporters' progress lines, deprecation warnings and per-op log lines out of CLI output."""
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        onnx_log.setLevel(level)


def _run_exporter(
    wrapped: torch.nn.Module, example: torch.Tensor, path: Path, *, opset: int, dynamic_batch: bool, dynamic_size: bool,
    stride: int, dynamo: bool,
) -> None:
    common: dict[str, Any] = {"input_names": [INPUT_NAME], "output_names": [OUTPUT_NAME], "opset_version": opset}
    with _quiet_exporter():
        if dynamo:
            axes: dict[int, Any] = {}
            if dynamic_batch:
                axes[0] = torch.export.Dim("batch", min=1, max=4096)
            if dynamic_size:  # sides as stride multiples: the graph's strided convolutions stay exact
                axes[2] = stride * torch.export.Dim("height_cells", min=1, max=4096 // stride)
                axes[3] = stride * torch.export.Dim("width_cells", min=1, max=4096 // stride)
            program = torch.onnx.export(wrapped, (example,), dynamo=True, dynamic_shapes=(axes,) if axes else None, **common)
            program.save(str(path), external_data=False)
        else:
            names = {0: "batch"} if dynamic_batch else {}
            if dynamic_size:
                names |= {2: "height", 3: "width"}
            out_names = ({0: "batch"} if dynamic_batch else {}) | ({1: "boxes"} if dynamic_size else {})
            dynamic_axes = {INPUT_NAME: names, OUTPUT_NAME: out_names} if names else None
            torch.onnx.export(wrapped, (example,), str(path), dynamo=False, dynamic_axes=dynamic_axes, **common)


def export_classifier_onnx(model: torch.nn.Module, path: str | Path, *, img_size: int, metadata: Mapping[str, Any],
                           opset: int = 18) -> Path:
    """Write an image-level classifier (``models.chr.CHRClassifier``) to ``path`` as ONNX; returns ``path``.

    The graph takes ``images`` (N, 3, S, S) float32 in [0, 1], S = ``img_size``, batch dynamic, and gives
    ``scores`` (N, C): sigmoid probabilities of the fused level logits, in ``class_names`` order. ``metadata``
    (``models.chr.export_metadata``) must say ``task`` "classify"; ``img_size`` is set from the argument.
    """
    from models.chr import TASK, ScoresOnly

    if img_size % 32:
        raise ValueError(f"img_size must be a multiple of 32, got {img_size}")
    meta = {**metadata, "img_size": img_size}
    if meta.get("task") != TASK or len(meta.get("class_names", ())) != model.num_classes:
        raise ValueError(f"classifier metadata needs task {TASK!r} and {model.num_classes} class names, got {meta}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    wrapped = ScoresOnly(model).eval()
    example = torch.rand(2, 3, img_size, img_size, device=next(model.parameters()).device)
    try:
        with _quiet_exporter():
            torch.onnx.export(wrapped, (example,), str(path), dynamo=False, input_names=[INPUT_NAME],
                              output_names=[CLASSIFIER_OUTPUT_NAME], opset_version=opset,
                              dynamic_axes={INPUT_NAME: {0: "batch"}, CLASSIFIER_OUTPUT_NAME: {0: "batch"}})
    finally:
        model.train(was_training)
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in encode_metadata(meta).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path
