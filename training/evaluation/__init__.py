"""Detector evaluation: VOC AP (all-point and 11-point, per class and occlusion level), COCO metrics, reports."""

from training.evaluation.coco import coco_eval, coco_metrics
from training.evaluation.report import evaluate, format_table, plot_pr_curves, pr_curves
from training.evaluation.voc import (
    ClassMatches,
    Counts,
    PRCurve,
    average_precision,
    box_iou,
    counts_at,
    match_detections,
    mean_ap,
    occlusion_map,
    pr_curve,
)

__all__ = [
    "ClassMatches",
    "Counts",
    "PRCurve",
    "average_precision",
    "box_iou",
    "coco_eval",
    "coco_metrics",
    "counts_at",
    "evaluate",
    "format_table",
    "match_detections",
    "mean_ap",
    "occlusion_map",
    "plot_pr_curves",
    "pr_curve",
    "pr_curves",
]
