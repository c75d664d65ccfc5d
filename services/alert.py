"""The alert service: a scan's regions and views in, one outcome per scan out (Redis), alerts for threats.

Consumes `lanewatch.detections` and `lanewatch.alerts.acks`:

- detections are assembled per scan (`pipeline.alerting.ScanAssembler`) until every region of every view
  is in; the scan's outcome (clear, or an alert) is recorded in Redis once, atomically with its dedup key
  (`RedisLaneStateStore.record_outcome`), and only a first recording publishes to `lanewatch.alerts`:
  a redelivered scan never raises a second alert. The same script puts the alert in an outbox (`lw:outbox`),
  which the service empties once the producer's flush has it on the broker; an alert still there
  `outbox_grace_s` after its recording (its service died between the Redis write and the flush) is
  published again by whichever alert service looks next (every `outbox_every_s`, and at start): an alert
  reaches `lanewatch.alerts` at least once, and its id (`al-<scan id>`) lets consumers keep it once;
- while a scan waits for its regions, the offsets of its records are held back from commits, so a crash
  loses nothing; a scan still incomplete after `scan_wait_s` is judged on what arrived (logged), so one
  lost region cannot hold a lane's commits for ever;
- a scan that raises an alert keeps its images (`lw:scan:{scan_id}:{view}`, stored by the crop service with
  a short TTL) for `scan_retention_s`, so the operators' console can show what was found; a crash between
  the recording and this leaves them on the short TTL (the console shows such an alert without its image);
- operator decisions (acks) are applied to the alert records (`RedisLaneStateStore.decide`); one for an
  unknown alert, or naming the wrong lane, is dead-lettered.

Every outcome is logged as an `outcome` event with its capture-to-outcome latency, and observed in the
`capture_to_outcome` latency histogram.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from pipeline.alerting import AlertPolicy, CompletedScan, ScanAssembler, build_alert
from pipeline.messages import Ack, Detections, Rejected
from pipeline.state import LaneStateStore
from services.runner import Envelope, Out, Partition, Result, ServiceSettings, Stage, Topics, each_record, event

__all__ = ["AlertSettings", "AlertStage", "make_stage"]

log = logging.getLogger(__name__)


class AlertSettings(ServiceSettings):
    """`LANEWATCH_ALERT_POLICY`: per-class thresholds and severities as JSON, or the path of a JSON file;
    `LANEWATCH_SCAN_RETENTION_S`: how long an alerted scan's images are kept."""

    alert_policy: str | None = Field(None, description="JSON or a JSON file: {'rules': {'gun': {'threshold': 0.35, 'severity': 'critical'}}}")
    scan_wait_s: float = Field(60.0, gt=0, description="longest a scan waits for its missing regions")
    scan_retention_s: int = Field(172_800, gt=0, description="how long the images of a scan that raised an alert are "
                                                             "kept (default 48 h, what screening sites keep)")
    outbox_grace_s: float = Field(15.0, gt=0, description="an alert recorded this long ago and not yet published "
                                                          "(its service died before its flush) is published again")
    outbox_every_s: float = Field(5.0, gt=0, description="how often the outbox is checked")
    crash_at: Literal["alert.after_record"] | None = Field(
        None, description="fault injection for `lanewatch bench faults`: 'alert.after_record' kills the service "
                          "(SIGKILL) right after it records its first alert in Redis, before publishing it")

    def policy(self) -> AlertPolicy:
        return AlertPolicy() if self.alert_policy is None else AlertPolicy.load(self.alert_policy)


class AlertStage(Stage):
    """Detections and acks in; outcomes to Redis; alerts out."""

    name = "alert"

    def __init__(
        self,
        store: LaneStateStore,
        topics: Topics,
        *,
        policy: AlertPolicy = AlertPolicy(),
        scan_wait_s: float = 60.0,
        scan_retention_s: int = 172_800,
        outbox_grace_s: float = 15.0,
        outbox_every_s: float = 5.0,
        crash_at: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.names, self.policy, self.clock = store, topics, policy, clock
        self.scan_retention_s, self.crash_at = scan_retention_s, crash_at
        self.outbox_grace_s, self.outbox_every_s = outbox_grace_s, outbox_every_s
        self._outbox_at = float("-inf")  # the first tick looks at once: what a crashed predecessor left
        self._sending: list[str] = []  # alert ids handed to the producer since its last flush
        self.inputs = {topics.detections: Detections, topics.acks: Ack}
        self.assembler = ScanAssembler(max_wait_s=scan_wait_s)

    def process(self, batch: Sequence[Envelope]) -> list[Result]:
        return each_record(batch, self._one)

    def _one(self, env: Envelope) -> list[Out]:
        if isinstance(env.meta, Ack):
            return self._decide(env.meta)
        part, record = env.meta, env.record
        if self.store.is_done(part.scan_id):
            return []  # redelivered after its outcome was recorded
        done = self.assembler.add(part, self.clock(), token=(record.topic, record.partition, record.offset))
        return [] if done is None else self._finish(done)

    def _decide(self, ack: Ack) -> list[Out]:
        try:
            applied = self.store.decide(ack)
        except KeyError:
            raise Rejected(f"no alert {ack.alert_id!r} (unknown or expired)") from None
        except ValueError as err:
            raise Rejected(str(err)) from None
        event(log, "decision", alert_id=ack.alert_id, lane_id=ack.lane_id, decision=ack.decision,
              operator=ack.operator, applied=applied)
        return []

    def _finish(self, done: CompletedScan) -> list[Out]:
        now = datetime.now(UTC)
        first = done.parts[0]
        alert = build_alert(done.parts, self.policy, created_at=now)
        recorded = self.store.record_outcome(scan_id=first.scan_id, lane_id=first.lane_id, at=first.captured_at, alert=alert)
        latency_s = (now - first.captured_at).total_seconds()
        if self.metrics is not None and recorded:
            self.metrics.observe_latency("capture_to_outcome", max(0.0, latency_s))
        event(
            log, "outcome", level=logging.INFO if done.complete else logging.WARNING, scan_id=first.scan_id,
            lane_id=first.lane_id, seq=first.seq, outcome="threat" if alert else "clear",
            classes=list(alert.classes) if alert else [], latency_ms=round(1000 * latency_s, 1),
            recorded=recorded, complete=done.complete, missing_regions=done.missing,
        )
        if not recorded or alert is None:
            return []
        if self.crash_at == "alert.after_record":
            os.kill(os.getpid(), signal.SIGKILL)
        kept = self.store.keep_scan(alert.scan_id, ttl_s=self.scan_retention_s)
        if kept < len(alert.views):  # past the crop service's pending TTL: the console shows the alert without its image
            event(log, "scan images expired", level=logging.WARNING, scan_id=alert.scan_id, views=list(alert.views), kept=kept)
        self._sending.append(alert.alert_id)
        return [Out(self.names.alerts, alert)]

    def tick(self, now: float) -> list[Out]:
        outs = [out for done in self.assembler.expire(now) for out in self._finish(done)]
        if now - self._outbox_at >= self.outbox_every_s:
            self._outbox_at = now
            for alert in self.store.unpublished(older_than_s=self.outbox_grace_s):
                event(log, "alert re-sent", level=logging.WARNING, alert_id=alert.alert_id, lane_id=alert.lane_id,
                      reason="recorded but not published (its service stopped before the flush)")
                self._sending.append(alert.alert_id)
                outs.append(Out(self.names.alerts, alert))
        return outs

    def flushed(self) -> None:
        if self._sending:
            self.store.published(self._sending)
            self._sending.clear()

    def held(self) -> Mapping[Partition, int]:
        low: dict[Partition, int] = {}
        for topic, partition, offset in self.assembler.held():
            low[(topic, partition)] = min(offset, low.get((topic, partition), offset))
        return low

    def revoked(self, partitions: set[Partition]) -> None:
        self.assembler.drop(lambda token: (token[0], token[1]) in partitions)

    def health(self) -> tuple[bool, dict[str, Any]]:
        return True, {"scans_waiting": len(self.assembler)}


def make_stage(settings: AlertSettings) -> Callable[[LaneStateStore, Topics], AlertStage]:
    """The stage factory `services.runner.serve` calls once Redis is connected."""
    policy = settings.policy()
    return lambda store, topics: AlertStage(
        store, topics, policy=policy, scan_wait_s=settings.scan_wait_s, scan_retention_s=settings.scan_retention_s,
        outbox_grace_s=settings.outbox_grace_s, outbox_every_s=settings.outbox_every_s, crash_at=settings.crash_at)
