import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.training.evaluation.scenes import CLASSES, box, det, dets, sample
from training.evaluation import evaluate, format_table, match_detections, plot_pr_curves, pr_curves


def _scene():
    # gun: 2 GTs (OL1, OL3), both found; knife: no GT, one false alarm above the threshold.
    samples = [sample("a", box(0, 0, occlusion="OL1"), box(50, 0, occlusion="OL3")), sample("b")]
    detections = {"a": dets(det(0, 0, 0.9), det(50, 0, 0.8)), "b": dets(det(0, 0, 0.7, class_id=1))}
    return samples, detections


def test_evaluate_leaves_classes_without_gt_out_of_the_mean() -> None:
    samples, detections = _scene()
    result = evaluate(samples, detections, CLASSES)
    assert (result["map50"], result["map50_11pt"], result["map50_95"], result["map75"]) == (1.0, 1.0, 1.0, 1.0)
    assert result["per_class"] == {"gun": 1.0} and result["per_class_11pt"] == {"gun": 1.0}
    assert result["per_occlusion"] == {"OL1": 1.0, "OL3": 1.0}  # OL2 has no GT: absent
    assert (result["map_small"], result["map_medium"], result["map_large"]) == (1.0, None, None)
    assert result["per_class_prf"]["knife"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 1, "fn": 0}
    assert (result["precision"], result["recall"]) == (pytest.approx(2 / 3), 1.0)  # the knife false alarm counts
    assert (result["images"], result["objects"], result["difficult"]) == (2, 2, 0)
    json.dumps(result, allow_nan=False)  # JSON-ready as returned


def test_format_table_shows_the_headline_numbers_and_every_class() -> None:
    table = format_table(evaluate(*_scene(), CLASSES, score_threshold=0.85))
    assert "2 images, 2 objects (0 difficult), IoU 0.5, score threshold 0.85" in table
    assert "VOC mAP@0.5           1.0000   11-point 1.0000" in table
    assert "precision 1.0000   recall 0.5000" in table  # only the 0.9 gun detection is kept
    gun, knife = (next(line for line in table.splitlines() if line.startswith(name)) for name in CLASSES)
    assert gun.split()[1:3] == ["2", "1.0000"] and knife.split()[1:3] == ["0", "-"]
    assert "OL3" in table and "OL2" not in table


def test_plot_pr_curves_writes_a_png_with_the_curves(tmp_path: Path) -> None:
    samples, detections = _scene()
    detections["a"] = dets(det(0, 0, 0.9), det(100, 50, 0.85), det(50, 0, 0.8), det(0, 0, 0.5, class_id=1))
    samples[0] = sample("a", box(0, 0), box(50, 0), box(0, 0, "knife"))
    path = plot_pr_curves(pr_curves(samples, detections, CLASSES), tmp_path / "plots" / "pr.png", size=(640, 480))
    image = cv2.imread(str(path))
    assert image.shape == (480, 640, 3)
    assert (image < 250).any(axis=2).sum() > 2000  # axes, grid, text, curves, legend
    # both curves are drawn in their palette colours (BGR), not only grey axes
    for colour in ((180, 119, 31), (14, 127, 255)):
        assert (np.abs(image.astype(int) - colour).max(axis=2) < 30).sum() > 50


def test_mismatched_inputs_are_refused() -> None:
    samples, detections = _scene()
    with pytest.raises(ValueError, match="not among the samples"):
        evaluate(samples, {**detections, "zzz": dets(det(0, 0, 0.5))}, CLASSES)
    with pytest.raises(ValueError, match="class ids outside"):
        evaluate(samples, {"a": dets(det(0, 0, 0.5, class_id=2))}, CLASSES)
    with pytest.raises(ValueError, match="not in classes"):
        match_detections(samples, detections, ["knife"])
    with pytest.raises(ValueError, match=r"expected \(K, 6\)"):
        match_detections(samples, {"a": np.zeros((2, 5))}, CLASSES)
