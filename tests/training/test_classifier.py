"""The image-level classifier end to end: train --task classify --chr, export, ScanClassifier, eval classifier; and
the metrics it reports."""

import argparse
import json

import cv2
import numpy as np
import pytest
import torch

from models.chr import load_classifier
from models.runtime.classifier import ScanClassifier
from training.classifier import average_precision, classifier_report, frame_labels, roc
from training.data import load_samples
from training.datasets.classes import SIXRAY_D
from training.datasets.loader import load_image


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    from training.synth.dataset import SynthJob, synthesize
    from training.synth.scene import SceneConfig

    out = tmp_path_factory.mktemp("sim") / "data"
    synthesize(SynthJob(out=out, count=6, seed=1, negatives_ratio=1 / 3, scene=SceneConfig(width=320, height=240)))
    return out


def _cli(*argv: str) -> int:
    from services.commands import evaluate, export, train

    parser = argparse.ArgumentParser(prog="lanewatch")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (train, export, evaluate):
        command.register(sub)
    args = parser.parse_args(list(argv))
    args.argv = list(argv)
    return args.func(args)


def test_train_classify_chr_exports_runs_and_evaluates(frames, tmp_path, capsys):
    out = tmp_path / "run"
    assert _cli("train", "--task", "classify", "--chr", "--data", str(frames), "--val", str(frames), "--epochs", "2",
                "--img-size", "64", "--batch", "2", "--max-batches", "2", "--quiet", "--threads", "1",
                "--out", str(out)) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["task"] == "classify" and summary["chr"] is True and summary["epoch"] == 2
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and all(0 <= r["map"] <= 1 for r in log)
    assert all(0 < r["counted_negatives"] <= 1 and r["loss"] > 0 for r in log)
    saved = json.loads((out / "config.json").read_text())
    assert saved["chr"] is True and saved["balanced"] is True and saved["img_size"] == 64
    assert saved["warmup_epochs"] == 1.0  # the classifier's own, not the detector's 3
    model, config, extra = load_classifier(out / "last.pt")
    assert config.chr and config.img_size == 64 and model.levels == 3 and extra["epoch"] == 2
    assert (out / "best.pt").is_file()

    onnx_path = tmp_path / "c.onnx"
    assert _cli("export", "--weights", str(out / "last.pt"), "--format", "onnx", "--out", str(onnx_path)) == 0
    meta = json.loads(capsys.readouterr().out)["metadata"]
    assert meta["task"] == "classify" and meta["chr"] is True and meta["img_size"] == 64
    assert meta["class_names"] == list(SIXRAY_D) and meta["input_format"] == "rgb"

    samples = load_samples(frames)
    images = [load_image(s) for s in samples]
    scores = ScanClassifier(onnx_path, threads=1).scores(images)
    assert scores.shape == (6, 5) and ((0 <= scores) & (scores <= 1)).all()
    np.testing.assert_allclose(scores, ScanClassifier(out / "last.pt").scores(images), atol=1e-5)

    report, cam = tmp_path / "eval.json", tmp_path / "cam.png"
    assert _cli("eval", "classifier", "--weights", str(out / "last.pt"), "--data", str(frames), "--json", str(report),
                "--cam", str(cam), "--quiet") == 0
    r = json.loads(report.read_text())
    labels = frame_labels(samples, SIXRAY_D)
    threat = int(labels.any(1).sum())
    assert r["threat_scans"] == threat == 4 and r["clean_scans"] == 2
    assert set(r["per_class"]) == set(SIXRAY_D) and 0 <= r["roc_auc"] <= 1
    assert set(r["scan_ap_at_negative_ratio"]) == {"10", "100", "1000"}
    for ratio, point in r["scan_ap_at_negative_ratio"].items():
        assert point["negative_weight"] == pytest.approx(int(ratio) * 4 / 2) and point["emulated"] is True
    assert set(r["at_false_alarm_rate"]) == {"0.01", "0.05", "0.1"} and "negative_ratio_note" in r
    # the scores the report rests on are the runtime's
    want = classifier_report(ScanClassifier(out / "last.pt").scores(images), labels, SIXRAY_D)
    assert r["roc_auc"] == pytest.approx(want["roc_auc"]) and r["map"] == pytest.approx(want["map"])
    sheet = cv2.imread(str(cam))
    assert sheet.shape == (4 + (64 + 4), 4 + 4 * (64 + 4), 3)  # 4 threat scans: one row of four 64 px tiles
    assert r["cam_png"] == str(cam)


def test_classify_refuses_detector_options_and_detect_still_needs_size(frames, tmp_path):
    with pytest.raises(ValueError, match="--doam applies to --task detect"):
        _cli("train", "--task", "classify", "--doam", "--data", str(frames), "--epochs", "1", "--img-size", "64",
             "--out", str(tmp_path / "x"))
    with pytest.raises(ValueError, match="--size"):
        _cli("train", "--data", str(frames), "--epochs", "1", "--img-size", "64", "--out", str(tmp_path / "y"))
    with pytest.raises(ValueError, match="--chr"):
        _cli("train", "--size", "nano", "--chr", "--data", str(frames), "--epochs", "1", "--img-size", "64",
             "--out", str(tmp_path / "z"))


def test_average_precision_roc_and_negative_ratios_by_hand():
    y, s = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])
    assert average_precision(y, s) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # each negative counting twice: precision at the second positive 2 / (2 + 2)
    assert average_precision(y, s, np.where(y == 1, 1.0, 2.0)) == pytest.approx(0.5 * 1 + 0.5 * 0.5)
    assert average_precision(np.zeros(3), np.ones(3)) is None
    fpr, tpr, thr = roc(y, s)
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    scores = np.stack([s, np.zeros(4)], 1)  # two classes; the second never present
    labels = np.stack([y, np.zeros(4)], 1)
    r = classifier_report(scores, labels, ("gun", "knife"), ratios=(1, 10), false_alarm_rates=(0.0, 0.5))
    assert r["per_class"] == {"gun": pytest.approx(5 / 6), "knife": None} and r["map"] == pytest.approx(5 / 6)
    assert r["roc_auc"] == pytest.approx(0.75)  # 3 of the 4 (threat, clean) pairs ranked right
    assert r["at_false_alarm_rate"]["0"]["detection_rate"] == 0.5
    assert r["at_false_alarm_rate"]["0.5"] == {"detection_rate": 1.0, "false_alarm_rate": 0.5, "threshold": 0.7}
    # ratio 1 is the set as it is (2:2, weight 1); ratio 10 weighs each clean scan 10 times
    assert r["scan_ap_at_negative_ratio"]["1"] == {"ap": pytest.approx(5 / 6), "negative_weight": 1.0,
                                                   "emulated": False}
    ten = r["scan_ap_at_negative_ratio"]["10"]
    assert ten["negative_weight"] == 10.0 and ten["emulated"] and ten["ap"] == pytest.approx(0.5 + 0.5 * 2 / 12)
