"""What every metric takes: ground-truth `Sample`s, per-image detection arrays and the class list.

Detections are ``image_id -> (K, 6)`` arrays of rows ``(x1, y1, x2, y2, score,
class_id)`` in the pixel coordinates of the scan (the `records` convention,
x2/y2 exclusive); ``class_id`` indexes ``classes``. An image without an entry
has no detections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from training.datasets.records import Sample

Detections = Mapping[str, np.ndarray]

_NO_DETECTIONS = np.zeros((0, 6))


def check_inputs(samples: Sequence[Sample], detections: Detections, classes: Sequence[str]) -> None:
    """Raise ValueError when samples, detections and classes do not fit together."""
    # A mismatch here is a wiring bug (wrong class list, detections of another
    # split); scoring it anyway would print a plausible but meaningless mAP.
    if not samples:
        raise ValueError("no samples to evaluate")
    ids = [s.image_id for s in samples]
    if len(set(ids)) != len(ids):
        raise ValueError(f"image ids repeat among the samples: {sorted({i for i in ids if ids.count(i) > 1})}")
    unknown = sorted(set(detections) - set(ids))
    if unknown:
        raise ValueError(f"detections for images not among the samples: {unknown[:5]}")
    labels = sorted({b.label for s in samples for b in s.boxes} - set(classes))
    if labels:
        raise ValueError(f"ground-truth labels {labels} are not in classes {list(classes)}")
    for image_id, rows in detections.items():
        rows = np.asarray(rows, dtype=np.float64)
        if rows.size and (rows.ndim != 2 or rows.shape[1] != 6):
            raise ValueError(f"detections for {image_id!r} have shape {rows.shape}, expected (K, 6)")
        if not np.isfinite(rows).all():
            raise ValueError(f"detections for {image_id!r} hold NaN or infinite values")
        class_ids = rows.reshape(-1, 6)[:, 5]
        if ((class_ids != np.round(class_ids)) | (class_ids < 0) | (class_ids >= len(classes))).any():
            raise ValueError(f"detections for {image_id!r} have class ids outside 0..{len(classes) - 1}")


def detections_of(detections: Detections, image_id: str) -> np.ndarray:
    """One image's detections as float64 (K, 6); (0, 6) when it has none."""
    rows = detections.get(image_id)
    return _NO_DETECTIONS if rows is None else np.asarray(rows, dtype=np.float64).reshape(-1, 6)


def ground_truth_of(sample: Sample, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """One image's GT boxes as float64 (G, 4) corners and (G,) class indices."""
    index = {name: i for i, name in enumerate(classes)}
    boxes = np.array([b.as_xyxy() for b in sample.boxes], dtype=np.float64).reshape(-1, 4)
    return boxes, np.array([index[b.label] for b in sample.boxes], dtype=np.int64)
