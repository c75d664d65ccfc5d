"""VOC-style average precision at one IoU threshold, per class and per occlusion level.

This is what the SIXray-D and OPIXray papers report, computed the way the
PASCAL VOC devkit (``voc_eval``) does:

- IoU is plain continuous IoU with ``area = (x2 - x1) * (y2 - y1)``. Our boxes
  are end-exclusive (`training.datasets.records`), so ``x2 - x1`` already is
  the width in pixels; the devkit's ``+ 1`` belongs to its 1-based inclusive
  corners and is not applied here.
- Matching, per class over all images together: detections are taken in
  descending score (a stable sort, so ties keep input order: samples order,
  then row order). Each is assigned to the GT box of its image and class with
  the largest IoU, and only if that IoU is strictly greater than the threshold
  (devkit ``ovmax > ovthresh``). The first detection assigned to a GT is a TP,
  later ones are FP (duplicates), even where another, still unmatched GT also
  overlaps above the threshold: the devkit rule; COCO instead looks for the
  best unmatched GT. A detection assigned to a ``difficult`` GT is neither TP
  nor FP, and difficult GTs are not counted as positives. A detection with no
  GT above the threshold is FP.
- All-point AP (VOC2010 onward) is the area under the precision envelope
  (precision made non-increasing in recall). 11-point AP (VOC2007) is the
  mean of the envelope at recall 0, 0.1, ..., 1.0.
- mAP is the mean over classes with at least one non-difficult GT; a class
  with none has no AP (None), whatever it detected.

AP per occlusion level L (the rule of `pr_curve` with ``occlusion=L``):
matching is done once against all GTs, as above; then only the non-difficult
GTs with occlusion L are positives. A detection assigned to one of them counts
as above (first TP, duplicates FP); a detection assigned to a GT of another
level, or of unknown level, is ignored (it found a real object, just not one
of this subset); a detection assigned to no GT is FP at every level. This is
the conservative reading of OPIXray's per-level test subsets: the false
alarms of the whole test set count against each level, so a level's AP is
never flattered by leaving false alarms out. The level's mAP is the mean over
classes with at least one positive at that level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from training.datasets.records import Sample
from training.evaluation.inputs import Detections, check_inputs, detections_of, ground_truth_of


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every (x1, y1, x2, y2) box in a (N, 4) with every one in b (M, 4): (N, M)."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = np.clip(np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2]), 0, None)
    inter = inter[..., 0] * inter[..., 1]
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _area(boxes: np.ndarray) -> np.ndarray:
    # Inverted boxes (a broken detector) have no area rather than a negative one.
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def average_precision(recall: np.ndarray, precision: np.ndarray, *, eleven_point: bool = False) -> float:
    """VOC AP from a PR curve in descending score order: all-point area, or the VOC2007 11-point mean."""
    recall, precision = np.asarray(recall, dtype=np.float64), np.asarray(precision, dtype=np.float64)
    if eleven_point:
        # Exact tenths: the devkit's np.arange(0, 1.1, 0.1) yields 0.30000000000000004,
        # which a recall of exactly 3/10 would miss.
        return float(np.mean([precision[recall >= t].max(initial=0.0) for t in np.arange(11) / 10]))
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # envelope: best precision at this recall or beyond
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def mean_ap(values: Iterable[float | None]) -> float | None:
    """Mean of the APs that exist (None where there is none at all)."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


@dataclass(frozen=True)
class ClassMatches:
    """One class's detections in descending score, each with the GT box it was assigned to."""

    scores: np.ndarray  # (D,) descending
    assigned: np.ndarray  # (D,) index into the GT arrays; -1 where no GT passed the IoU threshold
    first: np.ndarray  # (D,) bool: the highest-scoring detection assigned to its GT
    difficult: np.ndarray  # (G,) bool
    occlusion: np.ndarray  # (G,) object: "OL1".."OL3" or None

    def positives(self, occlusion: str | None = None) -> np.ndarray:
        """(G,) bool: the GTs that count, all non-difficult ones or those of one occlusion level."""
        counted = ~self.difficult
        return counted & (self.occlusion == occlusion) if occlusion is not None else counted

    def judged(self, occlusion: str | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Scores (D',) and TP flags (D',) of the detections that count, and the number of positives."""
        positives = self.positives(occlusion)
        hit = self.assigned >= 0
        counts = ~hit  # unassigned: FP
        counts[hit] = positives[self.assigned[hit]]  # assigned elsewhere: ignored
        tp = hit & self.first & counts
        return self.scores[counts], tp[counts], int(positives.sum())


def match_detections(
    samples: Sequence[Sample], detections: Detections, classes: Sequence[str], *, iou: float = 0.5
) -> dict[str, ClassMatches]:
    """Assign every detection to a GT box as the VOC devkit does, for every class in `classes`."""
    check_inputs(samples, detections, classes)
    gt_class, gt_difficult, gt_occlusion = [], [], []
    det_rows, det_assigned = [], []
    for sample in samples:
        boxes, labels = ground_truth_of(sample, classes)
        rows = detections_of(detections, sample.image_id)
        overlap = box_iou(rows[:, :4], boxes)
        overlap[rows[:, 5, None].astype(np.int64) != labels[None, :]] = -1.0  # only same-class GTs
        best = overlap.argmax(axis=1) if boxes.size else np.zeros(len(rows), np.int64)
        passed = overlap[np.arange(len(rows)), best] > iou if boxes.size else np.zeros(len(rows), bool)
        det_assigned.append(np.where(passed, best + len(gt_class), -1))
        det_rows.append(rows)
        gt_class += labels.tolist()
        gt_difficult += [b.difficult for b in sample.boxes]
        gt_occlusion += [b.occlusion for b in sample.boxes]

    rows, assigned = np.concatenate(det_rows), np.concatenate(det_assigned)
    gt_class_arr = np.array(gt_class, dtype=np.int64)
    occlusion = np.array(gt_occlusion, dtype=object)
    difficult = np.array(gt_difficult, dtype=bool)
    matches = {}
    for c, name in enumerate(classes):
        gts = np.flatnonzero(gt_class_arr == c)
        local = np.full(len(gt_class_arr) + 1, -1)  # the extra slot maps "no GT" (-1) to -1
        local[gts] = np.arange(len(gts))
        mine = np.flatnonzero(rows[:, 5] == c)
        order = mine[np.argsort(-rows[mine, 4], kind="stable")]
        class_assigned = local[assigned[order]]
        matches[name] = ClassMatches(
            scores=rows[order, 4],
            assigned=class_assigned,
            first=_first_of_each(class_assigned),
            difficult=difficult[gts],
            occlusion=occlusion[gts],
        )
    return matches


def _first_of_each(assigned: np.ndarray) -> np.ndarray:
    # Assignment is by IoU alone, so whether a detection is the TP of its GT
    # depends only on whether a higher-scoring one took that GT first.
    first = np.zeros(len(assigned), dtype=bool)
    _, index = np.unique(assigned, return_index=True)
    first[index] = True
    return first & (assigned >= 0)


@dataclass(frozen=True)
class PRCurve:
    """Precision and recall after each counted detection, in descending score, and the APs."""

    recall: np.ndarray  # (D',)
    precision: np.ndarray  # (D',)
    scores: np.ndarray  # (D',) the score threshold at each point
    positives: int  # GTs that count; 0 leaves the APs None
    ap: float | None = field(init=False)
    ap_11pt: float | None = field(init=False)

    def __post_init__(self) -> None:
        for name, eleven in (("ap", False), ("ap_11pt", True)):
            value = average_precision(self.recall, self.precision, eleven_point=eleven) if self.positives else None
            object.__setattr__(self, name, value)


def pr_curve(matches: ClassMatches, occlusion: str | None = None) -> PRCurve:
    """One class's PR curve over all its positives, or over one occlusion level's (module docstring)."""
    scores, tp, positives = matches.judged(occlusion)
    tps = np.cumsum(tp)
    recall = tps / positives if positives else np.zeros(len(tps))
    precision = tps / np.arange(1, len(tps) + 1)
    return PRCurve(recall=recall, precision=precision, scores=scores, positives=positives)


def occlusion_map(matches: dict[str, ClassMatches], occlusion: str, *, eleven_point: bool = False) -> float | None:
    """mAP over the classes with positives at this occlusion level; None where it has none."""
    curves = (pr_curve(m, occlusion) for m in matches.values())
    return mean_ap(c.ap_11pt if eleven_point else c.ap for c in curves)


@dataclass(frozen=True)
class Counts:
    """TP/FP counts at an operating threshold, and the precision, recall and F1 they give."""

    tp: int = 0
    fp: int = 0
    positives: int = 0

    @property
    def fn(self) -> int:
        """Positives no detection above the threshold found."""
        return self.positives - self.tp

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 0.0 with no detections."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """TP / positives; 0.0 with no positives."""
        return self.tp / self.positives if self.positives else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall; 0.0 where both are 0."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.positives + other.positives)


def counts_at(matches: ClassMatches, score_threshold: float) -> Counts:
    """TP/FP/positives of one class keeping detections with score >= `score_threshold`."""
    # Matching all detections then cutting by score equals matching only the kept
    # ones: a detection's outcome depends only on higher-scoring detections.
    scores, tp, positives = matches.judged()
    kept = scores >= score_threshold
    return Counts(tp=int(tp[kept].sum()), fp=int((~tp[kept]).sum()), positives=positives)
