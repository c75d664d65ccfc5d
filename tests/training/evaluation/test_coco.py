import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.training.evaluation.scenes import CLASSES, box, det, dets, sample
from training.datasets import Box, Sample, write_coco
from training.evaluation import coco_metrics, evaluate


def _scene(seed: int = 3) -> tuple[list[Sample], dict[str, np.ndarray]]:
    """40 scans: small, medium and large boxes of both classes, some difficult, 4 negatives, jittered detections."""
    rng = np.random.default_rng(seed)
    samples, detections = [], {}
    for i in range(40):
        boxes, rows = [], []
        for _ in range(0 if i % 10 == 0 else int(rng.integers(1, 4))):
            side = float(rng.choice([20, 60, 150])) * rng.uniform(0.8, 1.2)
            x, y = rng.uniform(0, 600 - side, 2)
            c = int(rng.integers(0, 2))
            difficult = bool(rng.random() < 0.1)
            boxes.append(Box(x1=x, y1=y, x2=x + side, y2=y + side, label=CLASSES[c], difficult=difficult))
            if rng.random() < 0.85:
                jitter = rng.normal(0, side * 0.08, 4)
                rows.append([x + jitter[0], y + jitter[1], x + side + jitter[2], y + side + jitter[3], rng.random(), c])
        for _ in range(int(rng.integers(0, 3))):  # false alarms
            x, y = rng.uniform(0, 500, 2)
            w, h = rng.uniform(15, 100, 2)
            rows.append([x, y, x + w, y + h, rng.random() * 0.7, rng.integers(0, 2)])
        image_id = f"scan_{i:03d}"
        samples.append(Sample(image_id=image_id, width=600, height=600, image=f"{image_id}.png", boxes=boxes))
        if rows and i % 7:  # some scans have no entry at all
            detections[image_id] = np.array(rows)
    return samples, detections


def _pycocotools_from_files(tmp_path: Path, samples: list[Sample], detections: dict[str, np.ndarray]) -> np.ndarray:
    # The standard way: a GT JSON (our writer, difficult made crowd) and a results JSON, read back by pycocotools.
    write_coco(samples, CLASSES, tmp_path / "gt.json", root=tmp_path)
    gt_json = json.loads((tmp_path / "gt.json").read_text())
    for ann in gt_json["annotations"]:
        ann["iscrowd"] = int(ann.get("difficult", False))
    (tmp_path / "gt.json").write_text(json.dumps(gt_json))
    results = [
        {"image_id": image_id, "category_id": int(c) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s}
        for image_id, sample in enumerate(samples, 1)
        for x1, y1, x2, y2, s, c in detections.get(sample.image_id, np.zeros((0, 6))).tolist()
    ]
    (tmp_path / "results.json").write_text(json.dumps(results))
    gt = COCO(str(tmp_path / "gt.json"))
    evaluation = COCOeval(gt, gt.loadRes(str(tmp_path / "results.json")), iouType="bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return evaluation.stats


def test_coco_metrics_equal_pycocotools_run_on_json_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    samples, detections = _scene()
    ours = coco_metrics(samples, detections, CLASSES)
    assert capsys.readouterr().out == ""  # pycocotools' progress lines are swallowed
    reference = _pycocotools_from_files(tmp_path, samples, detections)
    np.testing.assert_allclose(ours["stats"], reference, rtol=0, atol=1e-12)
    assert all(v > 0 for v in reference[:6])  # every area range is populated: the comparison is not vacuous
    names = ("map50_95", "map50", "map75", "map_small", "map_medium", "map_large")
    assert [ours[n] for n in names] == pytest.approx(reference[:6].tolist(), abs=1e-12)
    assert ours["per_class_map50_95"].keys() == set(CLASSES)


def test_voc_ap50_agrees_with_pycocotools_ap50_on_a_clean_case() -> None:
    # Non-overlapping GTs, detections either on a GT (IoU > 0.8) or far from all: the two
    # matchings agree, and only the interpolation differs (101 points against all-point),
    # which the coco module documents as about 0.01; 0.02 is the asserted tolerance.
    rng = np.random.default_rng(0)
    samples, detections = [], {}
    for i in range(10):
        xs = [20 * k for k in range(5)]
        samples.append(sample(f"s{i}", *(box(x, 10) for x in xs)))
        found = [det(x + rng.uniform(-0.5, 0.5), 10, rng.random()) for x in xs if rng.random() < 0.8]
        false_alarms = [det(20 * k, 60, rng.random() * 0.8) for k in range(int(rng.integers(0, 3)))]
        detections[f"s{i}"] = dets(*found, *false_alarms)
    result = evaluate(samples, detections, CLASSES)
    assert 0.5 < result["map50"] < 0.95  # a curve with real steps, not a trivial 0 or 1
    assert result["map50"] == pytest.approx(result["coco"]["map50"], abs=0.02)


def test_no_detections_score_zero_and_missing_area_ranges_are_none() -> None:
    samples = [sample("a", box(0, 0), box(50, 0, "knife"))]
    metrics = coco_metrics(samples, {}, CLASSES)
    assert (metrics["map50_95"], metrics["map50"], metrics["map_small"]) == (0.0, 0.0, 0.0)
    assert (metrics["map_medium"], metrics["map_large"]) == (None, None)  # no GT of those sizes: -1 in pycocotools
