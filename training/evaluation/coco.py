"""COCO box metrics through pycocotools, as the CLCXray paper reports them.

The GT and detection sets are built in memory the way `write_coco` would write
them: image ids 1.. in samples order, category ids 1.. in `classes` order,
boxes ``[x1, y1, x2 - x1, y2 - y1]`` (our corners are end-exclusive, COCO's
``[x, y, w, h]`` is 0-based, so no +1 either way) and ``area = w * h``, which
decides small (< 32²), medium and large (> 96²).

A ``difficult`` GT is given to pycocotools as ``iscrowd: 1``, its only way to
ignore a GT: not counted as a positive, and detections on it are neither TP
nor FP. pycocotools measures overlap with a crowd region as
intersection / detection area rather than IoU, so a detection that sits inside
a difficult box is ignored where VOC, which uses IoU, might call it FP.

pycocotools interpolates precision at 101 recall points, VOC's all-point AP
integrates the envelope exactly: the two AP@0.5 differ by up to about 0.01
(one recall step of 1/100) on the same matches, and more where the matching
rules part (COCO's best unmatched GT against VOC's best GT; COCO's IoU >= t
against VOC's > t; COCO's 100 detections per image).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from training.datasets.records import Sample
from training.evaluation.inputs import Detections, check_inputs, detections_of

# COCOeval.stats order (COCOeval.summarize for iouType "bbox").
STAT_NAMES = (
    "map50_95",
    "map50",
    "map75",
    "map_small",
    "map_medium",
    "map_large",
    "mar1",
    "mar10",
    "mar100",
    "mar_small",
    "mar_medium",
    "mar_large",
)


def coco_eval(samples: Sequence[Sample], detections: Detections, classes: Sequence[str]) -> COCOeval:
    """Run pycocotools' bbox evaluation (evaluate, accumulate, summarize) silently and return it."""
    check_inputs(samples, detections, classes)
    # pycocotools prints progress on stdout; evaluation output belongs to the caller.
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = _ground_truth(samples, classes)
        gt.createIndex()
        dt = _results(gt, samples, detections)
        evaluation = COCOeval(gt, dt, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def coco_metrics(samples: Sequence[Sample], detections: Detections, classes: Sequence[str]) -> dict[str, Any]:
    """COCO mAP@[.5:.95], @.5, @.75, small/medium/large, recalls, and per-class mAP@[.5:.95]."""
    evaluation = coco_eval(samples, detections, classes)
    # pycocotools writes -1 where a number is undefined (no GT in that area range).
    metrics: dict[str, Any] = {name: _defined(v) for name, v in zip(STAT_NAMES, evaluation.stats, strict=True)}
    metrics["stats"] = [float(v) for v in evaluation.stats]
    # precision: (iou thresholds, recall points, classes, area ranges, max dets); area "all", 100 dets
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    per_class = {}
    for k, name in enumerate(classes):
        values = precision[:, :, k]
        if (values > -1).any():
            per_class[name] = float(values[values > -1].mean())
    metrics["per_class_map50_95"] = per_class
    return metrics


def _defined(value: float) -> float | None:
    return None if value < 0 else float(value)


def _ground_truth(samples: Sequence[Sample], classes: Sequence[str]) -> dict[str, Any]:
    category_ids = {name: i for i, name in enumerate(classes, 1)}
    images, annotations = [], []
    for image_id, sample in enumerate(samples, 1):
        images.append({"id": image_id, "width": sample.width, "height": sample.height, "file_name": sample.image_id})
        for box in sample.boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category_ids[box.label],
                    "bbox": [box.x1, box.y1, box.width, box.height],
                    "area": box.area,
                    "iscrowd": int(box.difficult),
                }
            )
    categories = [{"id": i, "name": name} for name, i in category_ids.items()]
    return {"images": images, "annotations": annotations, "categories": categories}


def _results(gt: COCO, samples: Sequence[Sample], detections: Detections) -> COCO:
    # loadRes rows: (image_id, x, y, w, h, score, category_id)
    rows = []
    for image_id, sample in enumerate(samples, 1):
        d = detections_of(detections, sample.image_id)
        rows.append(np.column_stack((np.full(len(d), image_id), d[:, :2], d[:, 2:4] - d[:, :2], d[:, 4], d[:, 5] + 1)))
    table = np.concatenate(rows)
    if len(table):
        return gt.loadRes(table)
    # loadRes fails on an empty result list; an empty result set scores 0 where there is GT.
    empty = COCO()
    empty.dataset = {"images": gt.dataset["images"], "categories": gt.dataset["categories"], "annotations": []}
    empty.createIndex()
    return empty
