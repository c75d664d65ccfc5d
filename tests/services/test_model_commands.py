"""detect / eval / export commands on a tiny model trained for a few steps by our own trainer."""

import json

import cv2
import numpy as np
import pytest

from models.runtime import DetectorRuntime
from pipeline.alerting import DEFAULT_RULES
from services.cli import main
from services.commands.detect import scan_samples
from training.datasets.records import Sample
from training.inference import detect_samples
from training.synth.dataset import SynthJob, synthesize
from training.synth.scene import SceneConfig
from training.trainer import TrainConfig, train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    synthesize(SynthJob(out=root / "data", count=12, seed=3, scene=SceneConfig(width=320, height=240)))
    weights = train(TrainConfig(data=root / "data", size="nano", epochs=1, img_size=128, out=root / "run", batch=4, progress=False))
    return root, weights


def test_export_eval_detect_round(tiny, capsys):
    root, weights = tiny
    assert main(["export", "--weights", str(weights), "--out", str(root / "m.onnx")]) == 0
    meta = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["metadata"]
    assert meta["img_size"] == 128 and meta["class_names"] == ["gun", "knife", "wrench", "pliers", "scissors"]

    assert main(["eval", "detector", "--weights", str(root / "m.onnx"), "--data", str(root / "data"), "--json", str(root / "e.json"), "--quiet"]) == 0
    result = json.loads((root / "e.json").read_text())
    for key in ("map50", "map50_11pt", "map50_95", "per_class", "per_occlusion"):
        assert key in result
    assert 0.0 <= result["map50"] <= 1.0 and set(result["per_occlusion"]) <= {"OL1", "OL2", "OL3"}
    assert result["objects"] == sum(len(s.boxes) for s in __import__("training.datasets.loader", fromlist=["x"]).load_dataset(root / "data"))
    assert cv2.imread(result["pr_curves_png"]) is not None
    # scan level: every scan alarms or not under the shipped policy; a set with clean scans gets a ROC
    sl = result["scan_level"]
    assert sl["threat_scans"] + sl["clean_scans"] == 12 and sl["clean_scans"] >= 1
    assert 0.0 <= sl["detection_rate"] <= 1.0 and 0.0 <= sl["false_alarm_rate"] <= 1.0
    assert sl["policy_thresholds"]["gun"] == DEFAULT_RULES["gun"].threshold and cv2.imread(result["roc_png"]) is not None

    img = sorted((root / "data" / "images").glob("*.jpg"))[0]  # the default scanner archives JPEG
    assert main(["detect", "--weights", str(weights), str(img), "--json", str(root / "d.json"), "--draw", str(root / "draw"), "--conf", "0.0"]) == 0
    report = json.loads((root / "d.json").read_text())
    assert report[0]["width"] == 320 and report[0]["height"] == 240
    for d in report[0]["detections"]:
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 <= x2 <= 320 and 0 <= y1 <= y2 <= 240
    assert cv2.imread(str(root / "draw" / f"{img.stem}.png")).shape == (240, 320, 3)


class _FixedBox(DetectorRuntime):
    """A runtime stand-in that always finds one box at a known place on its input canvas.

    The test is about undoing the letterbox, not about the network.
    """

    class_names = ("gun",)
    img_size = 100
    input_format = "rgb"

    def detect(self, batch, **_):
        assert batch.shape[1:] == (3, 100, 100) and batch.dtype == np.float32
        return [np.array([[10.0, 30.0, 50.0, 40.0, 0.9, 0.0]], np.float32) for _ in batch]


def test_boxes_come_back_in_scan_pixels(tmp_path):
    # a 400x200 scan letterboxed to 100: scale 0.25, 25 px of padding above and below
    path = tmp_path / "s.png"
    cv2.imwrite(str(path), np.full((200, 400, 3), 255, np.uint8))
    out = detect_samples(_FixedBox(), [Sample(image_id="s", width=400, height=200, image=path)])
    np.testing.assert_allclose(out["s"][0, :4], [40.0, 20.0, 200.0, 60.0])


def test_scan_samples_pairs_raw_files(tmp_path):
    raw = np.full((20, 30), 60000, np.uint16)
    cv2.imwrite(str(tmp_path / "a_high.png"), raw)
    cv2.imwrite(str(tmp_path / "a_low.png"), raw)
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((20, 30, 3), np.uint8))
    samples = scan_samples([tmp_path / "a_low.png", tmp_path / "a_high.png", tmp_path / "b.png"])
    assert [(s.image_id, s.high is not None, s.image is not None) for s in samples] == [("a", True, False), ("b", False, True)]
    cv2.imwrite(str(tmp_path / "c_high.png"), raw)
    with pytest.raises(ValueError, match="c_low.png is missing"):
        scan_samples([tmp_path / "c_high.png"])
    with pytest.raises(ValueError, match="nope.png: no such file"):
        scan_samples([tmp_path / "nope.png"])
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="not a readable image"):
        scan_samples([tmp_path / "bad.png"])
    errors = []  # collected instead of raised: the readable ones go on
    assert [s.image_id for s in scan_samples([tmp_path / "bad.png", tmp_path / "b.png"], errors=errors)] == ["b"]
    assert errors == [f"{tmp_path / 'bad.png'}: not a readable image"]
