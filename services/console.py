"""The operator console: alerts as they come, and the decisions operators send back.

- `tail_alerts` follows `lanewatch.alerts` (in a consumer group, so several consoles share the work
  and a restarted one goes on where it stopped, or without one: tail mode, every console sees every
  alert from now on), filtered by lane and minimum severity, and prints each alert with the command
  that acknowledges or clears it;
- `send_decision` publishes an operator's decision to `lanewatch.alerts.acks`; the alert service
  applies it to the alert record in Redis, and the lane's status shows it;
- `lane_table` prints every lane's status and counters from Redis.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from pipeline.alerting import SEVERITIES
from pipeline.kafka import Consumer, Producer
from pipeline.messages import Ack, Alert
from pipeline.state import CLOSED, AlreadyDecided, LaneStateStore, LaneStatus, NotSettled
from services.runner import Topics

__all__ = ["format_alert", "lane_table", "lane_of", "send_decision", "severity_at_least", "tail_alerts"]

_ALERT_ID = re.compile(r"^al-\d{13}-(?P<lane>[A-Za-z0-9_.-]{1,64})-\d{1,12}$")


def severity_at_least(alert: Alert, minimum: str | None) -> bool:
    return minimum is None or SEVERITIES.index(alert.severity) >= SEVERITIES.index(minimum)


def format_alert(alert: Alert) -> str:
    """Two lines: what, where and how sure; then how to answer it."""
    at = alert.captured_at.astimezone(UTC).strftime("%H:%M:%S")
    found = ", ".join(f"{d.label} {d.score:.2f}" + (f" ({d.view})" if d.view and d.view != "top" else "")
                      for d in alert.detections)
    return (
        f"[{at}] {alert.severity.upper():8} {alert.lane_id}  scan {alert.seq}: {found}\n"
        f"           lanewatch console ack {alert.alert_id} --operator NAME    (or: clear, escalate)"
    )


def tail_alerts(
    bootstrap: str,
    topics: Topics,
    *,
    group: str | None = None,
    lane: str | None = None,
    severity: str | None = None,
    from_beginning: bool = False,
    stop: threading.Event | None = None,
    out: Callable[[str], object] = print,
    limit: int | None = None,
    ready: Callable[[], object] | None = None,
    kafka_config: dict | None = None,
) -> int:
    """Print alerts until `stop` (or `limit` printed); returns how many were printed.

    In a group, a console commits only what it has dealt with: with `limit`, not the records after the last
    one printed (the group's next console gets them). A filtered console (`lane`, `severity`) cannot share a
    group: it owns partitions and would consume the alerts of other lanes without showing them, so that is
    refused (ValueError); run it in tail mode, or in a group of its own.
    """
    if group is not None and (lane is not None or severity is not None):
        raise ValueError(f"a filtered console cannot share the group {group!r}: it would take the alerts it does not "
                         "show from the others. Leave out --group (tail mode) or give it a group of its own")
    stop = stop or threading.Event()
    shown = 0
    with Consumer(bootstrap, [topics.alerts], group_id=group, client_id="lanewatch-console",
                  from_beginning=from_beginning, fetch_max_wait_ms=100, **(kafka_config or {})) as consumer:
        if ready is not None:
            ready()
        while not stop.is_set() and (limit is None or shown < limit):
            batch = consumer.poll_batch(timeout_ms=200)
            done = 0
            for record in batch:
                if limit is not None and shown >= limit:
                    break
                done += 1
                try:
                    alert = record.meta(Alert)
                except ValueError as err:
                    out(f"# unreadable alert record at {record.topic}[{record.partition}]@{record.offset}: {err}")
                    continue
                if (lane is None or alert.lane_id == lane) and severity_at_least(alert, severity):
                    out(format_alert(alert))
                    shown += 1
            if done and group is not None:
                consumer.commit(batch[:done])
    return shown


def lane_of(alert_id: str, store: LaneStateStore | None = None) -> str:
    """The lane of an alert: from its record in Redis, or read off its id (`al-<ms>-<lane>-<seq>`)."""
    if store is not None:
        record = store.alert(alert_id)
        if record is None:
            raise KeyError(f"no alert {alert_id!r} in Redis (unknown or expired)")
        return record.alert.lane_id
    match = _ALERT_ID.match(alert_id)
    if match is None:
        raise KeyError(f"{alert_id!r} is not an alert id (al-<ms>-<lane>-<seq>)")
    return match["lane"]


def send_decision(
    producer: Producer, alert_id: str, decision: str, operator: str, *, topics: Topics = Topics(),
    store: LaneStateStore | None = None, note: str = "",
) -> Ack:
    """Publish an operator's decision on an alert and wait until the broker has it. With `store`: `AlreadyDecided`
    for an alert a closing decision has settled (the alert service would refuse it too), before anything is sent."""
    record = store.alert(alert_id) if store is not None else None
    if record is not None and decision != "reopen" and record.state in CLOSED:
        raise AlreadyDecided(alert_id, record)
    if record is not None and decision == "reopen" and record.state not in CLOSED:
        raise NotSettled(alert_id, record)
    ack = Ack(alert_id=alert_id, lane_id=lane_of(alert_id, store), decision=decision, operator=operator,
              at=datetime.now(UTC), note=note)
    producer.publish(topics.acks, ack)
    producer.flush()
    return ack


def lane_table(lanes: list[LaneStatus]) -> str:
    """Lanes as an aligned table: state, last seen, counters, open alerts."""
    header = f"{'lane':16} {'state':8} {'last seen':9} {'scans':>6} {'threats':>7} {'clears':>6} {'acked':>5} {'cleared':>7} open alerts"
    rows = [header]
    for s in lanes:
        seen = s.last_seen.astimezone(UTC).strftime("%H:%M:%S") if s.last_seen else "never"
        c = s.counters
        rows.append(f"{s.lane_id:16} {s.state:8} {seen:9} {c['scans']:>6} {c['threats']:>7} {c['clears']:>6} "
                    f"{c['acked']:>5} {c['cleared']:>7} {', '.join(s.open_alerts) or '-'}")
    return "\n".join(rows)
