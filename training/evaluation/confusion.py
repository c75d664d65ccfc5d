"""Found or named? Class-agnostic AP and the class confusion of the boxes a detector localises.

A low mAP can mean two different failures with two different remedies: the
detector does not respond to the object at all (it needs to learn what the
object looks like), or it frames the object and gives it the wrong name (it
needs to learn what tells the classes apart). For an operator the second is
far less harmful: any threat class raises the alarm and shows the box.

- `agnostic_ap`: VOC AP with every class merged into one "threat" class.
  Detections are merged per image by a class-agnostic NMS at `nms_iou` first,
  so one object framed as two classes is one detection (the higher score),
  not a TP and a duplicate FP. Matching then follows `training.evaluation.voc`
  exactly (devkit rules, difficult GTs neither TP nor FP).
- `confusion`: for every non-difficult GT box, the class of the
  highest-scoring detection at or above `score_threshold` that overlaps it with
  IoU above `iou` (any class), or ``missed`` where none does; and per class,
  the detections at or above the threshold that overlap no GT box above `iou`
  (``background``: false alarms on the bag's contents).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.boxes import nms
from training.datasets.records import Sample
from training.evaluation.inputs import Detections, check_inputs, detections_of, ground_truth_of
from training.evaluation.voc import box_iou, match_detections, pr_curve

__all__ = ["AGNOSTIC", "MISSED", "agnostic_ap", "agnostic_nms", "confusion"]

AGNOSTIC = "threat"
MISSED = "missed"


def agnostic_nms(rows: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS over (K, 6) detections whatever their class (`pipeline.boxes.nms`): the kept rows, best first."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    return rows[nms(rows[:, :4], rows[:, 4], iou)]


def agnostic_ap(
    samples: Sequence[Sample], detections: Detections, classes: Sequence[str], *, iou: float = 0.5, nms_iou: float = 0.6
) -> float | None:
    """VOC AP at `iou` with all classes as one (None when there is no non-difficult GT box)."""
    check_inputs(samples, detections, classes)
    merged = [s.model_copy(update={"boxes": [b.model_copy(update={"label": AGNOSTIC}) for b in s.boxes]}) for s in samples]
    rows = {}
    for s in samples:
        kept = agnostic_nms(detections_of(detections, s.image_id), nms_iou)
        kept[:, 5] = 0
        rows[s.image_id] = kept
    curve = pr_curve(match_detections(merged, rows, [AGNOSTIC], iou=iou)[AGNOSTIC])
    return curve.ap if curve.positives else None


def confusion(
    samples: Sequence[Sample], detections: Detections, classes: Sequence[str], *, iou: float = 0.5,
    score_threshold: float = 0.25,
) -> dict[str, dict[str, int]]:
    """GT class -> {predicted class or ``missed``: count}, plus a ``background`` row of unmatched detections."""
    check_inputs(samples, detections, classes)
    table = {name: dict.fromkeys([*classes, MISSED], 0) for name in classes}
    table["background"] = dict.fromkeys(classes, 0)
    for s in samples:
        boxes, labels = ground_truth_of(s, classes)
        rows = detections_of(detections, s.image_id)
        rows = rows[rows[:, 4] >= score_threshold]
        overlap = box_iou(boxes, rows[:, :4])  # (G, K)
        difficult = np.array([b.difficult for b in s.boxes], dtype=bool)
        for g in np.flatnonzero(~difficult):
            hits = np.flatnonzero(overlap[g] > iou)
            found = classes[int(rows[hits[np.argmax(rows[hits, 4])], 5])] if hits.size else MISSED
            table[classes[labels[g]]][found] += 1
        stray = ~(overlap > iou).any(axis=0) if boxes.size else np.ones(len(rows), dtype=bool)
        for k in np.flatnonzero(stray):
            table["background"][classes[int(rows[k, 5])]] += 1
    return table
