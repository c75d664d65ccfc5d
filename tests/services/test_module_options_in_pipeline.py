"""Every opt-in X-ray module runs in the detect stage: a tiny detector with DOAM, LAcls or LAreg, exported to ONNX,
serves regions through `DetectStage`, and its detections are the exported graph's own (not the plain head's)."""

from datetime import UTC, datetime

import numpy as np
import pytest
import torch

from models.checkpoint import export_metadata
from models.detector import build_detector
from models.export import export_onnx
from models.runtime import load_runtime
from pipeline.canvas import region_input
from pipeline.codec import encode_rgb
from pipeline.kafka import Inbound
from pipeline.messages import Box, CroppedRegion, Detections, encode_meta, make_scan_id
from services.detect import DetectStage
from services.runner import Topics

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
T = Topics()
CLASSES = ("gun", "knife", "wrench", "pliers", "scissors")
ANCHORS = (((10, 13), (16, 30), (33, 23)), ((30, 61), (62, 45), (59, 119)), ((116, 90), (156, 198), (373, 326)))
SIZE = 128


def _export(tmp_path, **option):
    torch.manual_seed(0)
    model = build_detector(size="nano", num_classes=5, anchors=ANCHORS, class_names=CLASSES, img_size=SIZE, **option)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 1.5)
        if model.doam is not None:
            model.doam.gamma.fill_(0.8)
        if hasattr(model.head, "gamma"):
            model.head.gamma.fill_(0.8)
        for conv in model.head.convs:  # scores high enough to pass the stage's threshold
            conv.bias.view(3, -1)[:, 4:].add_(3.0)
    name = "_".join(f"{k}-{v}" for k, v in option.items()) or "plain"
    path = tmp_path / f"{name}.onnx"
    export_onnx(model.eval(), path, img_size=SIZE, metadata=export_metadata(model.config, {"input_format": "rgb"}))
    return path


def _record(crop):
    meta = CroppedRegion(
        scan_id=make_scan_id("lane-1", 0, NOW), lane_id="lane-1", scanner_id="s", captured_at=NOW, seq=0,
        format="rgb-png", width=crop.shape[1], height=crop.shape[0], frame_width=400, frame_height=300, region_index=0,
        region_count=1, box=Box(x1=50, y1=40, x2=50 + crop.shape[1], y2=40 + crop.shape[0]), confidence=0.9, method="tdc")
    value = encode_rgb(crop)
    return meta, value, Inbound(topic=T.cropped, partition=0, offset=0, key="lane-1",
                                headers=tuple(encode_meta(meta)), value=value, timestamp_ms=0)


@pytest.mark.parametrize("option", [{"doam": True}, {"label_aware": "cls"}, {"label_aware": "reg"}])
def test_each_module_serves_regions_through_the_detect_stage(option, tmp_path):
    runtime = load_runtime(_export(tmp_path, **option), threads=1)
    plain = load_runtime(_export(tmp_path), threads=1)
    key, value = next(iter(option.items()))
    assert runtime.metadata[key] == value
    crop = np.random.default_rng(1).integers(0, 256, (120, 200, 3), np.uint8)
    meta, payload, record = _record(crop)
    stage = DetectStage(None, T, runtime=runtime, engine="onnxruntime:option", max_payload_bytes=2**20,
                        conf_threshold=0.05, iou_threshold=0.45)
    ((out,),) = stage.handle([record])
    message = out.message
    assert isinstance(message, Detections) and message.engine == "onnxruntime:option" and message.detections
    # the stage's boxes are the graph's own detections on the region's canvas, mapped to the frame
    _, canvas = region_input(meta, payload, size=runtime.img_size, mode="rgb", max_bytes=2**20)
    (rows,) = runtime.detect_canvases(canvas[None], conf_threshold=0.05, iou_threshold=0.45)
    # (boxes wholly in the letterbox padding are dropped by the stage, so every stage score is one of the graph's)
    graph_scores = rows[:, 4].astype(float)
    assert all(np.abs(graph_scores - d.score).min() < 1e-4 for d in message.detections)
    assert max(d.score for d in message.detections) == pytest.approx(float(graph_scores.max()), abs=1e-4)
    # and the module is in the graph: the plain head's weights (same seed) give other scores
    (plain_rows,) = plain.detect_canvases(canvas[None], conf_threshold=0.05, iou_threshold=0.45)
    assert len(plain_rows) != len(rows) or np.abs(np.sort(plain_rows[:, 4]) - np.sort(rows[:, 4])).max() > 1e-3
