"""One path from scan to boxes: `lanewatch detect` gives the boxes the crop, detect and alert stages give a scan."""

from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from models.shipped import DEFAULT_WEIGHTS
from pipeline.alerting import AlertPolicy, ClassRule, merge_detections
from pipeline.codec import encode_rgb
from pipeline.kafka import Inbound
from pipeline.messages import RawScan, encode_meta, make_scan_id
from pipeline.state import MemoryLaneStateStore
from services.cli import main
from services.crop import CropSettings
from services.crop import make_stage as crop_stage
from services.detect import DetectSettings
from services.detect import make_stage as detect_stage
from services.runner import Topics
from training.synth.dataset import SynthJob, synthesize
from training.synth.scene import SceneConfig

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
CONF, IOU = 0.1, 0.45


def _record(topic, meta, value):
    return Inbound(topic=topic, partition=0, offset=0, key=meta.lane_id, headers=tuple(encode_meta(meta)), value=value,
                   timestamp_ms=0)


def _pipeline_boxes(rgb: np.ndarray) -> set:
    """The scan through the crop, detect and alert stages' own code, on in-memory records."""
    topics = Topics()
    crop = crop_stage(CropSettings(weights=DEFAULT_WEIGHTS))(MemoryLaneStateStore(), topics)
    detect = detect_stage(DetectSettings(weights=DEFAULT_WEIGHTS, conf_threshold=CONF, iou_threshold=IOU, threads=1))(
        None, topics)
    h, w = rgb.shape[:2]
    raw = RawScan(scan_id=make_scan_id("lane-1", 0, NOW), lane_id="lane-1", scanner_id="s", captured_at=NOW, seq=0,
                  format="rgb-png", width=w, height=h)
    (outs,) = crop.handle([_record(topics.raw, raw, encode_rgb(rgb))])
    assert all(o.message.format == "canvas-u8" for o in outs)  # the default: the detector's own canvas
    results = detect.handle([_record(topics.cropped, o.message, o.payload) for o in outs])
    parts = [out.message for result in results for out in result]
    policy = AlertPolicy(rules={}, default=ClassRule(threshold=CONF, severity="high"), iou_threshold=IOU)
    return {(d.label, round(d.score, 3), tuple(round(v, 1) for v in (d.box.x1, d.box.y1, d.box.x2, d.box.y2)))
            for d in merge_detections(parts, policy)}


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    out = tmp_path_factory.mktemp("one_path")
    synthesize(SynthJob(out=out / "d", count=4, seed=31, scene=SceneConfig(width=900, height=600)))
    files = []
    for i, image in enumerate(sorted((out / "d" / "images").iterdir())):
        png = out / f"scan{i}.png"  # as the pipeline receives it: one PNG, decoded the same way by both
        cv2.imwrite(str(png), cv2.imread(str(image)))
        files.append(png)
    return files


def test_detect_command_gives_the_pipelines_boxes(scans, tmp_path, capsys):
    import json

    assert main(["detect", *map(str, scans), "--conf", str(CONF), "--iou", str(IOU), "--json", str(tmp_path / "d.json")]) == 0
    report = {r["scan"]: r for r in json.loads((tmp_path / "d.json").read_text())}
    seen = 0
    for scan in scans:
        cli = _cli_boxes(report, scan)
        rgb = cv2.cvtColor(cv2.imread(str(scan)), cv2.COLOR_BGR2RGB)
        assert cli == _pipeline_boxes(rgb)
        seen += len(cli)
    assert seen >= 2  # the comparison covered boxes, not only empty answers
    # the old behaviour stays one flag away, and differs: the whole scan letterboxed
    assert main(["detect", *map(str, scans), "--conf", str(CONF), "--whole-frame", "--json", str(tmp_path / "w.json")]) == 0
    whole = {r["scan"]: {(d["class"], tuple(d["box"])) for d in r["detections"]}
             for r in json.loads((tmp_path / "w.json").read_text())}
    assert any(whole[str(s)] != {(c, b) for c, _, b in _cli_boxes(report, s)} for s in scans)


def _cli_boxes(report, scan):
    return {(d["class"], round(d["score"], 3), tuple(d["box"])) for d in report[str(scan)]["detections"]}


def test_detect_goes_on_past_bad_files_and_reads_folders(scans, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    folder = scans[0].parent
    assert main(["detect", str(bad), str(folder), "--conf", "0.5"]) == 1
    captured = capsys.readouterr()
    assert "broken.png: not a readable image: skipped" in captured.err
    assert all(f"{s}:" in captured.out for s in scans)  # every scan of the folder still answered
