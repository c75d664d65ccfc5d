"""The alert core: assemble a scan's regions and views, apply per-class thresholds, decide on an alert.

Pure (pydantic objects and arrays in and out, the clock an argument). The alert service feeds it
`Detections` records as they arrive; a scan is complete when every view it announced (`view_count`)
has delivered every region that view announced (`region_count`). Then:

1. each detection takes its view's name and is kept when its score reaches its class's threshold
   (`AlertPolicy`; classes without a rule are ignored unless a default rule is given);
2. regions of a view may overlap (TDC adds margins and grows regions over bag cells), so one object can
   be found twice: greedy NMS per view and class, in frame coordinates, keeps the better box;
3. what remains raises one `Alert` with the most severe class's severity, or none for a clean scan;
   it names the scan's views ("top" first) whose images the crop service kept for the operator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.boxes import nms
from pipeline.messages import SCAN_VIEWS, Alert, Detection, Detections, Rejected, alert_id_for

__all__ = [
    "DEFAULT_RULES", "SEVERITIES", "AlertPolicy", "ClassRule", "CompletedScan", "ScanAssembler", "build_alert",
    "merge_detections",
]

SEVERITIES = ("low", "medium", "high", "critical")  # in rising order
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


class ClassRule(BaseModel):
    """When a detection of one class counts (`threshold` on its score) and how urgent it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(ge=0.0, le=1.0)
    severity: Literal["low", "medium", "high", "critical"]


# SIXray-D's classes (DESIGN.md section 5); the class list is data, so other datasets bring their own rules.
# Thresholds, from measurement: `lanewatch eval detector --target-recall 0.9` with the shipped weights on 500
# fresh simulator frames with 50 % clean scans (seed 97) puts one shared threshold at 0.0889 for a scan-level
# detection rate of 90 % (false alarms then 30.8 % of clean scans; at 0.2-0.3 they were 5.2 % with a
# detection rate of 65.6 %). Screening puts missed threats first, so the policy takes the 90 % point.
# Severities say how urgent a class is. Sites set LANEWATCH_ALERT_POLICY from the same command on their scans.
DEFAULT_RULES: dict[str, ClassRule] = {
    "gun": ClassRule(threshold=0.088, severity="critical"),
    "knife": ClassRule(threshold=0.088, severity="high"),
    "scissors": ClassRule(threshold=0.088, severity="medium"),
    "pliers": ClassRule(threshold=0.088, severity="low"),
    "wrench": ClassRule(threshold=0.088, severity="low"),
}


class AlertPolicy(BaseModel):
    """Per-class rules, the rule for other classes (None: ignore them), and the cross-region NMS IoU."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: dict[str, ClassRule] = Field(default_factory=lambda: dict(DEFAULT_RULES))
    default: ClassRule | None = None
    iou_threshold: float = Field(0.5, gt=0.0, le=1.0)

    def rule(self, label: str) -> ClassRule | None:
        return self.rules.get(label, self.default)

    @classmethod
    def load(cls, source: str | Path) -> AlertPolicy:
        """From a JSON file path or inline JSON: {"rules": {"gun": {"threshold": 0.3, "severity": "critical"}}, ...}."""
        text = str(source).strip()
        if not text.startswith("{"):
            text = Path(source).read_text()
        data: Any = json.loads(text)
        return cls.model_validate(data)


def merge_detections(parts: Iterable[Detections], policy: AlertPolicy) -> tuple[Detection, ...]:
    """The detections of all `parts` that pass their class's threshold, de-duplicated across regions per view
    and class, each tagged with its view; most severe first, then by score."""
    groups: dict[tuple[str, str], list[Detection]] = {}
    for part in parts:
        for det in part.detections:
            rule = policy.rule(det.label)
            if rule is None or det.score < rule.threshold:
                continue
            groups.setdefault((part.view, det.label), []).append(det.model_copy(update={"view": part.view}))
    kept: list[Detection] = []
    for dets in groups.values():
        boxes = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in dets])
        kept += [dets[int(i)] for i in nms(boxes, np.array([d.score for d in dets]), policy.iou_threshold)]
    return tuple(sorted(kept, key=lambda d: (-_RANK[policy.rule(d.label).severity], -d.score, d.view or "", d.box.x1)))


def build_alert(parts: Sequence[Detections], policy: AlertPolicy, *, created_at: datetime) -> Alert | None:
    """The scan's alert, or None when nothing passed its threshold; `parts` are one scan's regions (any views)."""
    if not parts:
        raise ValueError("a scan needs at least one part")
    first = parts[0]
    if any(p.scan_id != first.scan_id for p in parts):
        raise ValueError(f"parts of different scans: {sorted({p.scan_id for p in parts})}")
    detections = merge_detections(parts, policy)
    if not detections:
        return None
    classes = tuple(dict.fromkeys(d.label for d in detections))  # most severe first, no repeats
    return Alert(
        alert_id=alert_id_for(first.scan_id), scan_id=first.scan_id, lane_id=first.lane_id,
        scanner_id=first.scanner_id, captured_at=first.captured_at, seq=first.seq, classes=classes,
        detections=detections, severity=policy.rule(detections[0].label).severity, created_at=created_at,
        views=tuple(v for v in SCAN_VIEWS if any(p.view == v for p in parts)),
    )


@dataclass(frozen=True)
class CompletedScan:
    """A scan whose parts are all in (`complete`), or whose wait ran out (`complete=False`, some missing)."""

    scan_id: str
    parts: tuple[Detections, ...]  # by view, then region
    tokens: tuple[Hashable, ...]  # what the caller attached to each part it added (e.g. record offsets)
    complete: bool
    missing: int = 0  # regions not seen (known region counts only; an unseen view counts as one)


@dataclass
class _Pending:
    view_count: int
    started: float
    region_counts: dict[str, int] = field(default_factory=dict)
    parts: dict[tuple[str, int], Detections] = field(default_factory=dict)
    tokens: list[Hashable] = field(default_factory=list)

    def missing(self) -> int:
        seen = len(self.parts)
        expected = sum(self.region_counts.values()) + (self.view_count - len(self.region_counts))
        return expected - seen

    def done(self) -> CompletedScan:
        parts = tuple(self.parts[k] for k in sorted(self.parts))
        missing = self.missing()
        return CompletedScan(parts[0].scan_id, parts, tuple(self.tokens), complete=missing == 0, missing=missing)


class ScanAssembler:
    """Collects each scan's `Detections` parts until every view's every region is in.

    A repeated part (a redelivered record) replaces the earlier copy. `max_wait_s` bounds the wait for
    parts that never come (a region dead-lettered on the way): `expire` hands such scans out incomplete,
    so that what did arrive is still judged and nothing is held for ever.
    """

    def __init__(self, *, max_wait_s: float = 60.0) -> None:
        self.max_wait_s = max_wait_s
        self._pending: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, part: Detections, now: float, token: Hashable = None) -> CompletedScan | None:
        """Add one part; the completed scan when this was its last missing part. Rejected: inconsistent counts."""
        p = self._pending.get(part.scan_id)
        if p is None:
            p = self._pending[part.scan_id] = _Pending(view_count=part.view_count, started=now)
        if part.view_count != p.view_count:
            raise Rejected(f"scan {part.scan_id}: view_count {part.view_count} disagrees with {p.view_count} seen before")
        known = p.region_counts.setdefault(part.view, part.region_count)
        if known != part.region_count:
            raise Rejected(f"scan {part.scan_id} view {part.view}: region_count {part.region_count} disagrees with {known}")
        if len(p.region_counts) > p.view_count:
            del p.region_counts[part.view]
            raise Rejected(f"scan {part.scan_id}: more views than its view_count {p.view_count}")
        p.parts[(part.view, part.region_index)] = part
        p.tokens.append(token)
        if p.missing() > 0:
            return None
        del self._pending[part.scan_id]
        return p.done()

    def expire(self, now: float) -> list[CompletedScan]:
        """Scans that waited longer than `max_wait_s` for their missing parts, handed out incomplete."""
        old = [sid for sid, p in self._pending.items() if now - p.started > self.max_wait_s]
        return [self._pending.pop(sid).done() for sid in old]

    def held(self) -> list[Hashable]:
        """Tokens of every part waiting here (the caller must not commit past their records)."""
        return [t for p in self._pending.values() for t in p.tokens]

    def drop(self, unwanted: Callable[[Hashable], bool]) -> int:
        """Forget scans with a part whose token `unwanted` picks (their records will come again); how many."""
        gone = [sid for sid, p in self._pending.items() if any(unwanted(t) for t in p.tokens)]
        for sid in gone:
            del self._pending[sid]
        return len(gone)

    def pending(self) -> Mapping[str, int]:
        """Scan id -> parts still missing."""
        return {sid: p.missing() for sid, p in self._pending.items()}
