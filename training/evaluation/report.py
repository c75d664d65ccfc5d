"""One evaluation of a detector on a labelled set: the numbers, a text table and a PR-curve plot.

`evaluate` returns plain JSON-ready values (floats, ints, None, dicts), what
``lanewatch eval detector --json`` writes. None marks a number that does not
exist (no GT for it); `per_class` and `per_occlusion` list only classes and
levels that have positives. ``map50``, ``per_class`` and ``per_occlusion``
are VOC APs at the `iou` given (0.5 unless asked otherwise); ``objects`` counts
every GT box, ``difficult`` ones included. PR curves are arrays, kept out of
that dict: `pr_curves` gives them for `plot_pr_curves`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from training.datasets.records import OCCLUSION_LEVELS, Sample
from training.evaluation.coco import coco_metrics
from training.evaluation.confusion import MISSED, agnostic_ap, confusion
from training.evaluation.inputs import Detections
from training.evaluation.voc import Counts, PRCurve, counts_at, match_detections, mean_ap, occlusion_map, pr_curve


def evaluate(
    samples: Sequence[Sample],
    detections: Detections,
    classes: Sequence[str],
    *,
    score_threshold: float = 0.25,
    iou: float = 0.5,
) -> dict[str, Any]:
    """VOC AP at `iou` (all-point and 11-point), COCO metrics, and P/R/F1 at `score_threshold`."""
    matches = match_detections(samples, detections, classes, iou=iou)
    curves = {name: pr_curve(m) for name, m in matches.items()}
    counts = {name: counts_at(m, score_threshold) for name, m in matches.items()}
    total = sum(counts.values(), Counts())
    coco = coco_metrics(samples, detections, classes)
    return {
        "images": len(samples),
        "objects": sum(len(s.boxes) for s in samples),
        "difficult": sum(b.difficult for s in samples for b in s.boxes),
        "iou": iou,
        "score_threshold": score_threshold,
        "map50": mean_ap(c.ap for c in curves.values()),
        "map50_11pt": mean_ap(c.ap_11pt for c in curves.values()),
        "map50_agnostic": agnostic_ap(samples, detections, classes, iou=iou),
        "map50_95": coco["map50_95"],
        "map75": coco["map75"],
        "map_small": coco["map_small"],
        "map_medium": coco["map_medium"],
        "map_large": coco["map_large"],
        "coco": coco,
        "per_class": {name: c.ap for name, c in curves.items() if c.positives},
        "per_class_11pt": {name: c.ap_11pt for name, c in curves.items() if c.positives},
        "per_occlusion": {
            level: value for level in OCCLUSION_LEVELS if (value := occlusion_map(matches, level)) is not None
        },
        # micro-averaged: summed over classes before dividing, so frequent classes weigh more
        "precision": total.precision,
        "recall": total.recall,
        "f1": total.f1,
        "tp": total.tp,
        "fp": total.fp,
        "fn": total.fn,
        "per_class_prf": {name: _prf(c) for name, c in counts.items()},
        "confusion": confusion(samples, detections, classes, iou=iou, score_threshold=score_threshold),
    }


def _prf(c: Counts) -> dict[str, float | int]:
    return {"precision": c.precision, "recall": c.recall, "f1": c.f1, "tp": c.tp, "fp": c.fp, "fn": c.fn}


def pr_curves(
    samples: Sequence[Sample], detections: Detections, classes: Sequence[str], *, iou: float = 0.5
) -> dict[str, PRCurve]:
    """Per-class PR curves at `iou`, for the classes that have positives."""
    curves = {name: pr_curve(m) for name, m in match_detections(samples, detections, classes, iou=iou).items()}
    return {name: c for name, c in curves.items() if c.positives}


def format_table(result: Mapping[str, Any]) -> str:
    """The `evaluate` result as a text table for a terminal."""
    r = result
    summary = [
        (f"VOC mAP@{r['iou']:g}", f"{_num(r['map50'])}   11-point {_num(r['map50_11pt'])}"),
        ("class-agnostic AP", f"{_num(r['map50_agnostic'])}   (every class as one: found, whatever its name)"),
        ("COCO mAP@[.5:.95]", f"{_num(r['map50_95'])}   @.5 {_num(r['coco']['map50'])}   @.75 {_num(r['map75'])}"),
        ("COCO AP small/med/lg", f"{_num(r['map_small'])} / {_num(r['map_medium'])} / {_num(r['map_large'])}"),
        (
            f"at score >= {r['score_threshold']:g}",
            f"precision {_num(r['precision'])}   recall {_num(r['recall'])}   F1 {_num(r['f1'])}"
            f"   (TP {r['tp']}, FP {r['fp']}, FN {r['fn']})",
        ),
    ]
    lines = [
        f"{r['images']} images, {r['objects']} objects ({r['difficult']} difficult), "
        f"IoU {r['iou']:g}, score threshold {r['score_threshold']:g}",
        "",
        *(f"{label:<22}{value}" for label, value in summary),
        "",
    ]
    names = list(r["per_class_prf"])
    width = max([len("occlusion"), *map(len, names)])
    header = ("AP", "AP 11pt", "AP COCO", "P", "R", "F1")
    lines.append(f"{'class':<{width}}  {'GT':>6}" + "".join(f"  {h:>7}" for h in header) + f"  {'TP':>6}  {'FP':>6}")
    for name in names:
        prf = r["per_class_prf"][name]
        values = (
            r["per_class"].get(name),
            r["per_class_11pt"].get(name),
            r["coco"]["per_class_map50_95"].get(name),
            prf["precision"],
            prf["recall"],
            prf["f1"],
        )
        lines.append(
            f"{name:<{width}}  {prf['tp'] + prf['fn']:>6}"
            + "".join(f"  {_num(v):>7}" for v in values)
            + f"  {prf['tp']:>6}  {prf['fp']:>6}"
        )
    if r["per_occlusion"]:
        lines += ["", f"{'occlusion':<{width}}  {'AP':>6}"]
        lines += [f"{level:<{width}}  {_num(v):>6}" for level, v in r["per_occlusion"].items()]
    lines += ["", *format_confusion(r["confusion"], r["score_threshold"])]
    return "\n".join(lines)


def format_confusion(table: Mapping[str, Mapping[str, int]], score_threshold: float) -> list[str]:
    """The confusion table as lines: one row per true class (and background), one column per predicted class."""
    rows = [name for name, row in table.items() if sum(row.values())]
    if not rows:
        return []
    columns = [c for c in next(iter(table.values())) if c != MISSED] + [MISSED]
    width = max(len("background"), *map(len, rows))
    col = max(7, *map(len, columns))
    lines = [f"true class -> class of the best box at score >= {score_threshold:g} (background: boxes on no threat)",
             f"{'':<{width}}" + "".join(f"  {c:>{col}}" for c in columns)]
    for name in rows:
        lines.append(f"{name:<{width}}" + "".join(f"  {table[name].get(c, ''):>{col}}"
                                                  for c in columns))
    return lines


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


# tab10, as BGR: distinguishable, and familiar from other PR plots.
_PALETTE = [
    (180, 119, 31),
    (14, 127, 255),
    (44, 160, 44),
    (40, 39, 214),
    (189, 103, 148),
    (75, 86, 140),
    (194, 119, 227),
    (127, 127, 127),
    (34, 189, 188),
    (207, 190, 23),
]
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BLACK, _GRID = (0, 0, 0), (225, 225, 225)


def plot_pr_curves(
    curves: Mapping[str, PRCurve], path: Path | str, *, size: tuple[int, int] = (800, 600), title: str = "PR curves"
) -> Path:
    """Draw the curves (recall on x, precision on y) with a legend of APs into a PNG of `size` (width, height)."""
    width, height = size
    image = np.full((height, width, 3), 255, np.uint8)
    x0, x1, y0, y1 = 60, width - 20, 40, height - 50  # plot area in pixels; y grows downwards

    def to_px(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
        return np.stack([x0 + recall * (x1 - x0), y1 - precision * (y1 - y0)], axis=-1).round().astype(np.int32)

    for tick in np.arange(11) / 10:
        x, y = to_px(np.array(tick), np.array(tick))
        cv2.line(image, (x, y0), (x, y1), _GRID, 1)
        cv2.line(image, (x0, y), (x1, y), _GRID, 1)
        cv2.putText(image, f"{tick:.1f}", (x - 10, y1 + 16), _FONT, 0.4, _BLACK, 1, cv2.LINE_AA)
        cv2.putText(image, f"{tick:.1f}", (x0 - 30, y + 4), _FONT, 0.4, _BLACK, 1, cv2.LINE_AA)
    cv2.rectangle(image, (x0, y0), (x1, y1), _BLACK, 1)
    cv2.putText(image, "recall", ((x0 + x1) // 2 - 20, height - 15), _FONT, 0.5, _BLACK, 1, cv2.LINE_AA)
    cv2.putText(image, "precision", (x0 - 40, y0 - 10), _FONT, 0.5, _BLACK, 1, cv2.LINE_AA)
    cv2.putText(image, title, ((x0 + x1) // 2 - 6 * len(title), 22), _FONT, 0.6, _BLACK, 1, cv2.LINE_AA)

    colours = _colours(len(curves))
    for curve, colour in zip(curves.values(), colours, strict=True):
        points = to_px(curve.recall, curve.precision)
        if len(points) > 1:
            cv2.polylines(image, [points.reshape(-1, 1, 2)], False, colour, 2, cv2.LINE_AA)
        elif len(points) == 1:
            cv2.circle(image, tuple(int(v) for v in points[0]), 3, colour, -1, cv2.LINE_AA)
    _legend(image, [f"{name}  AP {_num(c.ap)}" for name, c in curves.items()], colours, (x0 + 10, y1 - 10))

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
    return path


def _colours(n: int) -> list[tuple[int, int, int]]:
    if n <= len(_PALETTE):
        return _PALETTE[:n]
    # More classes than tab10 (CLCXray has 12): evenly spaced hues instead of repeats.
    hsv = np.array([[[round(180 * i / n), 220, 200] for i in range(n)]], np.uint8)
    return [tuple(int(v) for v in bgr) for bgr in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]]


def _legend(image: np.ndarray, labels: list[str], colours: list[tuple[int, int, int]], corner: tuple[int, int]) -> None:
    # Bottom-left inside the axes: PR curves start high on the left and fall to the right, leaving it empty.
    if not labels:
        return
    row = 18
    text_w = max(cv2.getTextSize(t, _FONT, 0.45, 1)[0][0] for t in labels)
    left, bottom = corner
    top = bottom - row * len(labels) - 6
    cv2.rectangle(image, (left, top), (left + text_w + 44, bottom), (255, 255, 255), -1)
    cv2.rectangle(image, (left, top), (left + text_w + 44, bottom), _BLACK, 1)
    for i, (text, colour) in enumerate(zip(labels, colours, strict=True)):
        y = top + 6 + row * i + row // 2
        cv2.line(image, (left + 8, y), (left + 32, y), colour, 2, cv2.LINE_AA)
        cv2.putText(image, text, (left + 38, y + 5), _FONT, 0.45, _BLACK, 1, cv2.LINE_AA)
