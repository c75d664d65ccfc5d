"""Scan-level operating points: how many threat bags alarm, how many clean bags do.

Operators and site managers count bags, not boxes: the detection rate is the
share of scans holding a threat that raise an alert, the false-alarm rate the
share of clean scans that do (a published DHS goal: a net false-alarm rate
under 10 %). A scan alarms when any detection reaches its class's threshold,
exactly as `pipeline.alerting` decides, so a policy measured here is the
policy the alert service applies.

The ROC sweeps one threshold shared by every class (a scan's score is then
its best detection's score); `threshold_for_detection_rate` is the highest
such threshold that still reaches a requested detection rate, what
``lanewatch eval detector --target-recall`` turns into an alert policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.datasets.records import Sample

__all__ = ["alarms", "roc", "scan_level", "threshold_for_detection_rate", "plot_roc"]


def _scores(detections: np.ndarray, classes: Sequence[str], thresholds: Mapping[str, float] | None) -> np.ndarray:
    """Detection scores divided by their class's threshold (>= 1 alarms); classes without one never alarm."""
    if thresholds is None:
        return detections[:, 4]
    per_class = np.array([thresholds.get(name, np.inf) for name in classes], np.float64)
    return detections[:, 4] / per_class[detections[:, 5].astype(int)]


def alarms(samples: Sequence[Sample], detections: Mapping[str, np.ndarray], classes: Sequence[str],
           thresholds: Mapping[str, float]) -> np.ndarray:
    """Which scans raise an alert under per-class ``thresholds``, bool (N,)."""
    return np.array([bool(len(d := detections.get(s.image_id, np.zeros((0, 6))))) and
                     float(_scores(d, classes, thresholds).max()) >= 1.0 for s in samples])


def _scan_scores(samples: Sequence[Sample], detections: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.array([float(d[:, 4].max()) if len(d := detections.get(s.image_id, np.zeros((0, 6)))) else 0.0
                     for s in samples])


def roc(samples: Sequence[Sample], detections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Detection rate and false-alarm rate as one shared threshold falls: arrays ``thresholds``, ``dr``, ``far``."""
    positive = np.array([bool(s.boxes) for s in samples])
    scores = _scan_scores(samples, detections)
    thresholds = np.unique(np.concatenate([scores, [np.inf]]))[::-1]
    dr = np.array([(scores[positive] >= t).mean() if positive.any() else np.nan for t in thresholds])
    far = np.array([(scores[~positive] >= t).mean() if (~positive).any() else np.nan for t in thresholds])
    return {"thresholds": thresholds, "dr": dr, "far": far}


def threshold_for_detection_rate(curve: Mapping[str, np.ndarray], target: float) -> tuple[float, float, float] | None:
    """(threshold, detection rate, false-alarm rate) of the highest shared threshold reaching ``target``; None if none does."""
    ok = np.flatnonzero(curve["dr"] >= target)
    if not len(ok):
        return None
    i = int(ok[0])  # thresholds fall along the curve: the first that reaches it is the highest
    return float(curve["thresholds"][i]), float(curve["dr"][i]), float(curve["far"][i])


def scan_level(samples: Sequence[Sample], detections: Mapping[str, np.ndarray], classes: Sequence[str], *,
               thresholds: Mapping[str, float], target_recall: float | None = None) -> dict[str, Any]:
    """JSON-ready scan-level figures: at the policy's ``thresholds``, the ROC's area, and the target's threshold."""
    positive = np.array([bool(s.boxes) for s in samples])
    fired = alarms(samples, detections, classes, thresholds)
    curve = roc(samples, detections)
    # area under the ROC (trapezoids over false-alarm rate), where both kinds of scan exist
    auc = None
    if positive.any() and (~positive).any():
        auc = float(np.sum(np.diff(curve["far"]) * (curve["dr"][1:] + curve["dr"][:-1]) / 2))
    out: dict[str, Any] = {
        "threat_scans": int(positive.sum()),
        "clean_scans": int((~positive).sum()),
        "policy_thresholds": dict(thresholds),
        "detection_rate": float(fired[positive].mean()) if positive.any() else None,
        "false_alarm_rate": float(fired[~positive].mean()) if (~positive).any() else None,
        "roc_auc": auc,
    }
    if target_recall is not None:
        hit = threshold_for_detection_rate(curve, target_recall)
        out["target_recall"] = target_recall
        out["target"] = None if hit is None else {"threshold": hit[0], "detection_rate": hit[1], "false_alarm_rate": hit[2]}
    return out


def plot_roc(samples: Sequence[Sample], detections: Mapping[str, np.ndarray], out: Path | str, *,
             policy_point: tuple[float, float] | None = None, title: str = "") -> Path:
    """The scan-level ROC (detection rate against false-alarm rate) to a PNG, the policy's point marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = roc(samples, detections)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(curve["far"], curve["dr"], drawstyle="steps-post", label="shared threshold")
    if policy_point is not None:
        ax.plot([policy_point[0]], [policy_point[1]], "o", color="tab:red", label="alert policy")
    ax.axvline(0.1, color="grey", lw=0.8, ls="--", label="10 % false alarms")
    ax.set_xlabel("false-alarm rate (clean scans that alarm)")
    ax.set_ylabel("detection rate (threat scans that alarm)")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), title=title or "scan-level ROC")
    ax.legend(loc="lower right")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
