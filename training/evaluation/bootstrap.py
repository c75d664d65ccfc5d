"""Bootstrap intervals of VOC mAP@0.5 over images, and paired intervals of the difference between two models.

An ablation compares detectors on one test set; whether a difference is real depends on how much
the figure moves with the images drawn. Each resample draws the set's images with replacement
(the same draw for every model, so differences are paired) and recomputes mAP@0.5 from the
matches (`training.evaluation.voc`). The interval is the 2.5th to 97.5th percentile (percentile
bootstrap, Efron and Tibshirani 1993); a difference whose interval excludes 0 is unlikely to be the
luck of the test set. What it does not cover: the spread between training runs (seeds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from training.datasets.records import Sample
from training.evaluation.inputs import Detections
from training.evaluation.voc import match_detections, mean_ap, pr_curve

__all__ = ["bootstrap_maps", "resample"]


def resample(samples: Sequence[Sample], detections: Detections, picks: np.ndarray) -> tuple[list[Sample], dict]:
    """The samples at ``picks`` (indices, repeats allowed) under fresh ids, and their detections."""
    out_samples, out_dets = [], {}
    for n, i in enumerate(picks):
        s = samples[int(i)]
        image_id = f"{n}:{s.image_id}"
        out_samples.append(s.model_copy(update={"image_id": image_id}))
        out_dets[image_id] = detections[s.image_id]
    return out_samples, out_dets


def _map50(samples: Sequence[Sample], detections: Detections, classes: Sequence[str]) -> float | None:
    return mean_ap(pr_curve(m).ap for m in match_detections(samples, detections, classes).values())


def bootstrap_maps(
    samples: Sequence[Sample],
    detections: Mapping[str, Detections],
    classes: Sequence[str],
    *,
    resamples: int = 200,
    seed: int = 0,
    reference: str | None = None,
) -> dict[str, dict[str, float | list[float] | None]]:
    """Per model: ``map50`` on the set as it is, ``ci`` its 95 % interval, and against ``reference`` (default
    the first model) ``delta`` and ``delta_ci``, paired over the same resamples."""
    names = list(detections)
    if not names:
        raise ValueError("no models to compare")
    reference = reference or names[0]
    if reference not in detections:
        raise ValueError(f"reference {reference!r} is not one of {names}")
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in names}
    for _ in range(resamples):
        picks = rng.integers(0, len(samples), len(samples))
        for name in names:
            drawn, dets = resample(samples, detections[name], picks)
            draws[name].append(_map50(drawn, dets, classes))
    out: dict[str, dict[str, float | list[float] | None]] = {}
    ref = np.array([np.nan if v is None else v for v in draws[reference]])
    for name in names:
        values = np.array([np.nan if v is None else v for v in draws[name]])
        row: dict[str, float | list[float] | None] = {
            "map50": _map50(samples, detections[name], classes),
            "ci": _interval(values),
            "resamples": resamples,
        }
        if name != reference:
            full = row["map50"], _map50(samples, detections[reference], classes)
            row["delta"] = None if None in full else float(full[0] - full[1])
            row["delta_ci"] = _interval(values - ref)
        out[name] = row
    return out


def _interval(values: np.ndarray) -> list[float] | None:
    values = values[~np.isnan(values)]
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] if len(values) else None
