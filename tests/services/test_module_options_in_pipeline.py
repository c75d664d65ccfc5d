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


@pytest.fixture(scope="module")
def tiny_gate(tmp_path_factory):
    """A real image-level classifier, trained for two steps by `lanewatch train --task classify --chr` and exported."""
    import argparse

    from services.commands import export, train
    from training.synth.dataset import SynthJob, synthesize
    from training.synth.scene import SceneConfig

    root = tmp_path_factory.mktemp("gate")
    synthesize(SynthJob(out=root / "data", count=4, seed=1, negatives_ratio=0.5, scene=SceneConfig(width=320, height=240)))
    parser = argparse.ArgumentParser(prog="lanewatch")
    sub = parser.add_subparsers(dest="command", required=True)
    train.register(sub)
    export.register(sub)
    for argv in (["train", "--task", "classify", "--chr", "--data", str(root / "data"), "--epochs", "1", "--img-size", "64",
                  "--batch", "2", "--max-batches", "2", "--quiet", "--threads", "1", "--out", str(root / "run")],
                 ["export", "--weights", str(root / "run" / "last.pt"), "--format", "onnx", "--out", str(root / "gate.onnx")]):
        args = parser.parse_args(argv)
        args.argv = argv
        assert args.func(args) == 0
    return root / "gate.onnx"


def test_the_gate_lets_the_detector_skip_records_it_scores_clean(tiny_gate, tmp_path, capsys):
    from models.runtime.classifier import ScanClassifier

    runtime = load_runtime(_export(tmp_path), threads=1)
    gate = ScanClassifier(tiny_gate, threads=1)
    crops = [np.random.default_rng(i).integers(0, 256, (120, 200, 3), np.uint8) for i in range(3)]
    records = [_record(c)[2] for c in crops]
    canvases = [region_input(_record(c)[0], _record(c)[1], size=runtime.img_size, mode="rgb", max_bytes=2**20)[1]
                for c in crops]
    scores = gate.scores(canvases).max(axis=1)
    assert scores.shape == (3,) and ((0 < scores) & (scores < 1)).all()
    # a threshold between the records' scores: the lower ones skip the detector, the others see it
    threshold = float(np.sort(scores)[1]) + 1e-6
    stage = DetectStage(None, T, runtime=runtime, engine="onnxruntime:plain", max_payload_bytes=2**20,
                        gate=gate, gate_threshold=threshold, gate_engine="gate:tiny")
    out = [r[0].message for r in stage.handle(records)]
    gated = [m.engine == "gate:tiny" for m in out]
    assert gated == [bool(s < threshold) for s in scores] and sum(gated) == 2
    for m, was_gated in zip(out, gated, strict=True):
        assert "gate" in m.timings_ms
        assert (not m.detections and "infer" not in m.timings_ms) if was_gated else (m.detections and "infer" in m.timings_ms)
    # threshold 0: the gate passes everything, and the outcome is the detector's alone
    stage.gate_threshold = 0.0
    assert all(r[0].message.engine == "onnxruntime:plain" for r in stage.handle(records))


def test_lanewatch_gate_loads_the_gate_beside_the_detector(tiny_gate, tmp_path, monkeypatch):
    from services.detect import DetectSettings, make_stage

    weights = _export(tmp_path)
    monkeypatch.setenv("LANEWATCH_GATE", str(tiny_gate))
    monkeypatch.setenv("LANEWATCH_GATE_THRESHOLD", "0.2")
    settings = DetectSettings(weights=weights, threads=1)
    assert settings.gate == tiny_gate and settings.gate_threshold == 0.2
    stage = make_stage(settings)(None, T)
    assert stage.gate is not None and stage.gate_threshold == 0.2 and stage.gate_engine == "gate:gate"
    monkeypatch.delenv("LANEWATCH_GATE")
    assert make_stage(DetectSettings(weights=weights, threads=1))(None, T).gate is None  # off by default
