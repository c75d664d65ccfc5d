"""Scan-level operating points: detection and false-alarm rates as the alert service decides them, ROC, targets."""

import json

import numpy as np
import pytest

from tests.training.evaluation.scenes import CLASSES, box, det, dets, sample
from training.evaluation.scan_level import alarms, plot_roc, roc, scan_level, threshold_for_detection_rate


def _scans():
    # four threat scans, four clean ones; best scores per scan: threats 0.9, 0.6, 0.3 (a knife), none; clean 0.5, 0.2, none
    samples = [sample(f"t{i}", box(0, 0)) for i in range(4)] + [sample(f"c{i}") for i in range(4)]
    detections = {
        "t0": dets(det(0, 0, 0.9)), "t1": dets(det(0, 0, 0.6), det(50, 0, 0.1)), "t2": dets(det(0, 0, 0.3, class_id=1)),
        "t3": dets(), "c0": dets(det(10, 10, 0.5)), "c1": dets(det(10, 10, 0.2, class_id=1)),
    }
    return samples, detections


def test_alarms_follow_per_class_thresholds_like_the_alert_service():
    samples, detections = _scans()
    fired = alarms(samples, detections, CLASSES, {"gun": 0.55, "knife": 0.25})
    assert fired.tolist() == [True, True, True, False, False, False, False, False]
    # a class without a rule never alarms, as AlertPolicy ignores it
    assert alarms(samples, detections, CLASSES, {"gun": 0.55}).tolist()[:3] == [True, True, False]


def test_scan_level_rates_and_roc():
    samples, detections = _scans()
    sl = scan_level(samples, detections, CLASSES, thresholds={"gun": 0.55, "knife": 0.25}, target_recall=0.75)
    assert (sl["threat_scans"], sl["clean_scans"]) == (4, 4)
    assert sl["detection_rate"] == 0.75 and sl["false_alarm_rate"] == 0.0
    # one shared threshold: 0.3 is the highest that finds 3 of 4 threats, and 0.5 of the clean scans are above it
    assert sl["target"] == {"threshold": 0.3, "detection_rate": 0.75, "false_alarm_rate": 0.25}
    curve = roc(samples, detections)
    assert curve["dr"][0] == 0.0 and curve["far"][0] == 0.0  # above every score nothing alarms
    assert (np.diff(curve["dr"]) >= 0).all() and (np.diff(curve["far"]) >= 0).all()
    assert curve["dr"][-1] == 1.0 and curve["far"][-1] == 1.0  # at 0 every scan alarms (no detection scores 0)
    # the area is the trapezoid sum over the curve's steps
    far, dr = curve["far"], curve["dr"]
    assert sl["roc_auc"] == pytest.approx(float(np.sum(np.diff(far) * (dr[1:] + dr[:-1]) / 2)))
    assert 0.5 < sl["roc_auc"] < 1.0
    assert threshold_for_detection_rate(curve, 1.01) is None
    json.dumps(sl, allow_nan=False)


def test_roc_png(tmp_path):
    samples, detections = _scans()
    out = plot_roc(samples, detections, tmp_path / "roc.png", policy_point=(0.0, 0.75))
    import cv2

    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 300
    assert ((image[..., 2] > 200) & (image[..., 1] < 80) & (image[..., 0] < 80)).any()  # the red policy point
