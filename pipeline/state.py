"""Lane state in Redis: what outlives a message (DESIGN.md section 1), behind the `LaneStateStore` Protocol.

Key layout (the one place it is written down; `KEYS` below is the same table in code):

| key                            | type   | holds                                                     |
| ------------------------------ | ------ | --------------------------------------------------------- |
| `lw:lanes`                     | set    | every lane id ever seen                                   |
| `lw:lane:{lane}:status`        | hash   | `last_seen` (epoch s), `last_scan` (scan id), `last_outcome` (clear/threat) |
| `lw:lane:{lane}:counters`      | hash   | `scans`, `threats`, `clears` (no threat); decisions `acked` `cleared` `escalated` `searched` `unknown` `reopened` |
| `lw:lane:{lane}:alerts`        | set    | ids of the lane's open alerts (not yet acked or cleared)  |
| `lw:alert:{alert_id}`          | hash   | `alert` (Alert JSON), `lane`, `state` (open/acked/cleared/escalated/searched/unknown), `updated_at`; TTL |
| `lw:alert:{alert_id}:history`  | list   | Ack JSON, oldest first; TTL                               |
| `lw:dedup:{scan_id}`           | string | a recorded scan's outcome (`clear` or its alert id); TTL  |
| `lw:blob:{key}`                | string | a claim-check payload (bytes), key = its content hash; TTL |
| `lw:scan:{scan_id}:{view}`     | string | a scan view as operators see it (PNG or JPEG bytes); TTL: short, longer once an alert keeps its `top`/`side` |
| `lw:outbox`                    | zset   | alerts recorded and not yet on `lanewatch.alerts` (id -> epoch ms recorded or last re-sent) |
| `lw:outcomes`                  | stream | every recorded outcome: `scan`, `lane`, `outcome` (clear/threat), `alert` (its id or ""); the newest ~10,000 |

A lane's state (active/idle/offline) is not stored: it follows from `last_seen` when read.
Recording an outcome (dedup key, counters, last scan, alert record, open set) is one Lua
script, so a crash between steps cannot count a scan without its dedup key or the reverse.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol, runtime_checkable

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from pipeline.messages import SCAN_VIEWS, Ack, Alert

__all__ = [
    "CLOSED", "COUNTERS", "KEYS", "NAMESPACE", "AlertRecord", "AlreadyDecided", "NotSettled",
    "BlobStore", "LaneStateStore", "LaneStatus", "MemoryLaneStateStore",
    "RedisLaneStateStore", "ScanImageStore", "namespaced_keys", "redis_client",
]

KEYS = {
    "lanes": "lw:lanes",
    "status": "lw:lane:{lane}:status",
    "counters": "lw:lane:{lane}:counters",
    "open": "lw:lane:{lane}:alerts",
    "alert": "lw:alert:{alert_id}",
    "history": "lw:alert:{alert_id}:history",
    "dedup": "lw:dedup:{scan_id}",
    "blob": "lw:blob:{key}",
    "outcomes": "lw:outcomes",
    "outbox": "lw:outbox",
    "scan": "lw:scan:{scan_id}:{view}",
}
COUNTERS = ("scans", "threats", "clears", "acked", "cleared", "escalated", "searched", "unknown", "reopened")
LaneState = Literal["active", "idle", "offline"]
def redis_client(url: str) -> redis.Redis:
    """A client that rides out a Redis restart or fail-over of up to ~10 s: a command that loses its connection
    is retried with back-off instead of failing the service. Safe for every write here: outcomes are guarded by
    their dedup key (an outcome applied by a try whose answer was lost reads as a redelivery, and its alert
    then goes out through the outbox), decisions by the repeat check, the rest are plain SETs."""
    retry = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=10)
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30,
                                retry=retry, retry_on_error=[redis.ConnectionError, redis.TimeoutError])


NAMESPACE = "lw"  # the first part of every key; a demo or a second pipeline on one Redis takes another


def namespaced_keys(namespace: str) -> dict[str, str]:
    """`KEYS` with `lw:` replaced by `<namespace>:`, so several pipelines (a demo beside a site's) share one Redis."""
    if not NAMESPACE_PATTERN.fullmatch(namespace):
        raise ValueError(f"Redis key namespace {namespace!r}: use letters, digits, '-', '_' or '.' (1-64)")
    return {name: namespace + key[len(NAMESPACE):] for name, key in KEYS.items()}


NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class AlreadyDecided(ValueError):
    """A decision on an alert that a closing decision (ack, clear, search) has already settled: refused, with who
    decided it and when (reopening is a supervisor's act, not a second decision)."""

    def __init__(self, alert_id: str, record: AlertRecord | None) -> None:
        last = record.history[-1] if record and record.history else None
        who = f" by {last.operator} at {last.at.isoformat(timespec='seconds')}" if last else ""
        super().__init__(f"alert {alert_id!r} was already decided ({record.state if record else 'closed'}){who}")
        self.alert_id, self.record = alert_id, record


class NotSettled(ValueError):
    """A reopen of an alert that is not settled (still open, escalated or unknown): nothing to reopen."""

    def __init__(self, alert_id: str, record: AlertRecord | None) -> None:
        super().__init__(f"alert {alert_id!r} is {record.state if record else 'unknown'}, not settled: nothing to reopen")
        self.alert_id, self.record = alert_id, record


# alert states a decision closes: a later decision on them is refused
CLOSED = ("acked", "cleared", "searched")
# decision -> (alert state, lane counter, whether the alert leaves the open set)
_DECISIONS = {
    "ack": ("acked", "acked", True), "clear": ("cleared", "cleared", True), "escalate": ("escalated", "escalated", False),
    "search": ("searched", "searched", True), "unknown": ("unknown", "unknown", False),
    # a supervisor's act on a settled alert only: open again, back in the lane's open set
    "reopen": ("open", "reopened", False),
}

# KEYS: dedup, status, counters, lanes, open, alert, outcomes, outbox
# ARGV: lane, scan_id, at (epoch s), dedup ttl, record ttl, alert id ("" when clear), alert JSON, now (epoch ms)
_RECORD_OUTCOME = """
local outcome = ARGV[6] ~= '' and ARGV[6] or 'clear'
if not redis.call('SET', KEYS[1], outcome, 'NX', 'EX', ARGV[4]) then return 0 end
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'scans', 1)
local kind = 'clear'
if ARGV[6] ~= '' then
  kind = 'threat'
  redis.call('HINCRBY', KEYS[3], 'threats', 1)
  redis.call('HSET', KEYS[6], 'alert', ARGV[7], 'lane', ARGV[1], 'state', 'open', 'updated_at', ARGV[3])
  redis.call('EXPIRE', KEYS[6], ARGV[5])
  redis.call('SADD', KEYS[5], ARGV[6])
  -- in the outbox until the alert service has it on the topic (`published`): a crash in between re-sends it
  redis.call('ZADD', KEYS[8], ARGV[8], ARGV[6])
else
  redis.call('HINCRBY', KEYS[3], 'clears', 1)
end
-- what the web console's review-all lanes and threat image projection read, in recording order
redis.call('XADD', KEYS[7], 'MAXLEN', '~', 10000, '*', 'scan', ARGV[2], 'lane', ARGV[1], 'outcome', kind, 'alert', ARGV[6])
-- redelivered or late scans must not move the lane's clock backwards
local seen = tonumber(redis.call('HGET', KEYS[2], 'last_seen') or '0')
if tonumber(ARGV[3]) >= seen then
  redis.call('HSET', KEYS[2], 'last_seen', ARGV[3], 'last_scan', ARGV[2], 'last_outcome', kind)
end
return 1
"""

# KEYS: outbox; ARGV: older than (epoch ms), now (epoch ms), at most
# the outbox's entries older than a flush can take, each stamped now so one re-sender takes it per grace period
_TAKE_UNPUBLISHED = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""

# KEYS: alert, history, open, counters
# ARGV: lane, alert id, Ack JSON, new state, counter, close (1/0), at (epoch s), record ttl
_DECIDE = """
local lane = redis.call('HGET', KEYS[1], 'lane')
if not lane then return -1 end
if lane ~= ARGV[1] then return -2 end
if redis.call('LINDEX', KEYS[2], -1) == ARGV[3] then return 0 end
local state = redis.call('HGET', KEYS[1], 'state')
local settled = {closed}
if ARGV[5] == 'reopened' then
  if not settled then return -4 end
elseif settled then return -3 end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[8])
redis.call('HSET', KEYS[1], 'state', ARGV[4], 'updated_at', ARGV[7])
redis.call('HINCRBY', KEYS[4], ARGV[5], 1)
if ARGV[6] == '1' then redis.call('SREM', KEYS[3], ARGV[2]) else redis.call('SADD', KEYS[3], ARGV[2]) end
return 1
""".replace("{closed}", " or ".join(f"state == '{c}'" for c in CLOSED))

# KEYS: status, lanes; ARGV: lane, scan_id, at
_TOUCH = """
redis.call('SADD', KEYS[2], ARGV[1])
local seen = tonumber(redis.call('HGET', KEYS[1], 'last_seen') or '0')
if tonumber(ARGV[3]) >= seen then redis.call('HSET', KEYS[1], 'last_seen', ARGV[3], 'last_scan', ARGV[2]) end
"""


@dataclass(frozen=True)
class LaneStatus:
    """A lane as operators see it; `state` follows from `last_seen` at read time."""

    lane_id: str
    state: LaneState
    last_seen: datetime | None
    last_scan: str | None
    counters: dict[str, int]
    open_alerts: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertRecord:
    """An alert with its current state and the operators' decisions, oldest first."""

    alert: Alert
    state: str
    updated_at: datetime
    history: tuple[Ack, ...] = ()


@runtime_checkable
class BlobStore(Protocol):
    """Claim-check storage: payloads too large for a record."""

    def put_blob(self, data: bytes, *, ttl_s: int) -> str: ...

    def get_blob(self, key: str) -> bytes | None: ...


@runtime_checkable
class ScanImageStore(Protocol):
    """Scan images for the operators' screens: each view stored when it arrives (short TTL), kept longer on an alert."""

    def put_scan_image(self, scan_id: str, view: str, data: bytes, *, ttl_s: int) -> None: ...

    def keep_scan(self, scan_id: str, *, ttl_s: int) -> int: ...

    def scan_image(self, scan_id: str, view: str = "top") -> bytes | None: ...


@runtime_checkable
class LaneStateStore(BlobStore, ScanImageStore, Protocol):
    """Lane state, alert records and idempotency keys."""

    def record_outcome(self, *, scan_id: str, lane_id: str, at: datetime, alert: Alert | None = None) -> bool: ...

    def touch(self, *, lane_id: str, scan_id: str, at: datetime) -> None: ...

    def published(self, alert_ids: Iterable[str]) -> None: ...

    def unpublished(self, *, older_than_s: float, limit: int = 100) -> list[Alert]: ...

    def is_done(self, scan_id: str) -> bool: ...

    def decide(self, ack: Ack) -> bool: ...

    def lane(self, lane_id: str, *, now: datetime | None = None) -> LaneStatus: ...

    def lanes(self, *, now: datetime | None = None) -> list[LaneStatus]: ...

    def alert(self, alert_id: str) -> AlertRecord | None: ...

    def ping(self) -> bool: ...


class RedisLaneStateStore:
    """`LaneStateStore` on a Redis server (5 or newer)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        active_s: float = 30.0,
        offline_s: float = 300.0,
        dedup_ttl_s: int = 7 * 86400,
        record_ttl_s: int = 30 * 86400,
        namespace: str = NAMESPACE,
    ) -> None:
        if not 0 < active_s < offline_s:
            raise ValueError(f"need 0 < active_s < offline_s, got {active_s} and {offline_s}")
        self.client, self.namespace, self.keys = client, namespace, namespaced_keys(namespace)
        self.active_s, self.offline_s = active_s, offline_s
        self.dedup_ttl_s, self.record_ttl_s = dedup_ttl_s, record_ttl_s
        self._record = client.register_script(_RECORD_OUTCOME)
        self._decide = client.register_script(_DECIDE)
        self._touch = client.register_script(_TOUCH)
        self._take = client.register_script(_TAKE_UNPUBLISHED)

    @classmethod
    def from_url(cls, url: str, **kwargs) -> RedisLaneStateStore:
        """Connect to `redis://host:port/db` (the password may be in the URL); see `redis_client`."""
        return cls(redis_client(url), **kwargs)

    def record_outcome(self, *, scan_id: str, lane_id: str, at: datetime, alert: Alert | None = None) -> bool:
        """Record a scan's outcome once: False when `scan_id` was already recorded (a redelivery), nothing changed."""
        if alert is not None and (alert.scan_id, alert.lane_id) != (scan_id, lane_id):
            raise ValueError(f"alert {alert.alert_id} is for {alert.lane_id}/{alert.scan_id}, not {lane_id}/{scan_id}")
        alert_id = "" if alert is None else alert.alert_id
        keys = [
            self.keys["dedup"].format(scan_id=scan_id), *self._lane_keys(lane_id, "status", "counters"), self.keys["lanes"],
            self.keys["open"].format(lane=lane_id), self.keys["alert"].format(alert_id=alert_id or "-"), self.keys["outcomes"],
            self.keys["outbox"],
        ]
        args = [lane_id, scan_id, _epoch(at), self.dedup_ttl_s, self.record_ttl_s, alert_id,
                "" if alert is None else alert.model_dump_json(exclude_none=True), int(time.time() * 1000)]
        return self._record(keys=keys, args=args) == 1

    def published(self, alert_ids: Iterable[str]) -> None:
        """These alerts are on the alerts topic: out of the outbox."""
        ids = list(alert_ids)
        if ids:
            self.client.zrem(self.keys["outbox"], *ids)

    def unpublished(self, *, older_than_s: float, limit: int = 100) -> list[Alert]:
        """Alerts recorded more than `older_than_s` ago and still not published (their recorder crashed before its
        flush), taken for re-sending: each is stamped now, so another re-sender leaves it for `older_than_s`."""
        now = int(time.time() * 1000)
        ids = self._take(keys=[self.keys["outbox"]], args=[now - int(older_than_s * 1000), now, limit])
        out = []
        for raw in ids:
            record = self.alert(raw.decode())
            if record is None:  # expired: nothing left to publish
                self.client.zrem(self.keys["outbox"], raw)
            else:
                out.append(record.alert)
        return out

    def touch(self, *, lane_id: str, scan_id: str, at: datetime) -> None:
        """Mark the lane seen (ingest calls this as scans arrive, before any outcome)."""
        self._touch(keys=[self.keys["status"].format(lane=lane_id), self.keys["lanes"]], args=[lane_id, scan_id, _epoch(at)])

    def is_done(self, scan_id: str) -> bool:
        """Whether the scan's outcome is recorded (its dedup key exists)."""
        return bool(self.client.exists(self.keys["dedup"].format(scan_id=scan_id)))

    def decide(self, ack: Ack) -> bool:
        """Apply an operator decision; False for a repeat of the last one (a redelivered ack). KeyError: no such alert."""
        state, counter, close = _DECISIONS[ack.decision]
        keys = [self.keys["alert"].format(alert_id=ack.alert_id), self.keys["history"].format(alert_id=ack.alert_id),
                *self._lane_keys(ack.lane_id, "open", "counters")]
        args = [ack.lane_id, ack.alert_id, ack.model_dump_json(), state, counter, int(close), _epoch(ack.at), self.record_ttl_s]
        applied = self._decide(keys=keys, args=args)
        if applied == -1:
            raise KeyError(f"no alert {ack.alert_id!r}")
        if applied == -2:
            raise ValueError(f"alert {ack.alert_id!r} is not on lane {ack.lane_id!r}")
        if applied == -3:
            raise AlreadyDecided(ack.alert_id, self.alert(ack.alert_id))
        if applied == -4:
            raise NotSettled(ack.alert_id, self.alert(ack.alert_id))
        return applied == 1

    def alert(self, alert_id: str) -> AlertRecord | None:
        """The alert's record and decision history, or None when unknown or expired."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self.keys["alert"].format(alert_id=alert_id))
        pipe.lrange(self.keys["history"].format(alert_id=alert_id), 0, -1)
        record, history = pipe.execute()
        if not record:
            return None
        return AlertRecord(
            alert=Alert.model_validate_json(record[b"alert"]),
            state=record[b"state"].decode(),
            updated_at=_from_epoch(record[b"updated_at"]),
            history=tuple(Ack.model_validate_json(h) for h in history),
        )

    def lane(self, lane_id: str, *, now: datetime | None = None) -> LaneStatus:
        """One lane's status, counters and open alerts."""
        return self._read_lanes([lane_id], now)[0]

    def lanes(self, *, now: datetime | None = None) -> list[LaneStatus]:
        """Every lane seen so far, sorted by id."""
        ids = sorted(v.decode() for v in self.client.smembers(self.keys["lanes"]))
        return self._read_lanes(ids, now) if ids else []

    def put_blob(self, data: bytes, *, ttl_s: int) -> str:
        """Store a payload for `ttl_s` seconds; the key is its content hash, so a re-send stores nothing new."""
        key = hashlib.blake2b(data, digest_size=16).hexdigest()
        self.client.set(self.keys["blob"].format(key=key), data, ex=ttl_s)
        return key

    def get_blob(self, key: str) -> bytes | None:
        """The payload, or None when its TTL ran out."""
        return self.client.get(self.keys["blob"].format(key=key))

    def put_scan_image(self, scan_id: str, view: str, data: bytes, *, ttl_s: int) -> None:
        """Store a scan view's image (PNG or JPEG bytes) for `ttl_s` seconds, unless it is stored already."""
        # NX: a raw scan redelivered after its alert kept the image must not cut the retention back to ttl_s
        self.client.set(self.keys["scan"].format(scan_id=scan_id, view=view), data, ex=ttl_s, nx=True)

    def keep_scan(self, scan_id: str, *, ttl_s: int) -> int:
        """Set the TTL of every stored view of the scan to `ttl_s` seconds; how many views were found."""
        pipe = self.client.pipeline(transaction=False)
        for view in SCAN_VIEWS:
            pipe.expire(self.keys["scan"].format(scan_id=scan_id, view=view), ttl_s)
        return sum(map(bool, pipe.execute()))

    def scan_image(self, scan_id: str, view: str = "top") -> bytes | None:
        """The view's image bytes, or None when never stored or expired."""
        return self.client.get(self.keys["scan"].format(scan_id=scan_id, view=view))

    def ping(self) -> bool:
        """Whether Redis answers (for /healthz)."""
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self.client.close()

    def _lane_keys(self, lane_id: str, *names: str) -> list[str]:
        return [self.keys[n].format(lane=lane_id) for n in names]

    def _read_lanes(self, lane_ids: list[str], now: datetime | None) -> list[LaneStatus]:
        pipe = self.client.pipeline(transaction=False)
        for lane_id in lane_ids:
            pipe.hgetall(self.keys["status"].format(lane=lane_id))
            pipe.hgetall(self.keys["counters"].format(lane=lane_id))
            pipe.smembers(self.keys["open"].format(lane=lane_id))
        replies = pipe.execute()
        t = time.time() if now is None else now.timestamp()
        out = []
        for i, lane_id in enumerate(lane_ids):
            status, counters, open_ids = replies[3 * i : 3 * i + 3]
            seen = float(status[b"last_seen"]) if b"last_seen" in status else None
            age = float("inf") if seen is None else t - seen
            state: LaneState = "active" if age <= self.active_s else "idle" if age <= self.offline_s else "offline"
            out.append(LaneStatus(
                lane_id=lane_id,
                state=state,
                last_seen=None if seen is None else _from_epoch(seen),
                last_scan=status[b"last_scan"].decode() if b"last_scan" in status else None,
                counters={name: int(counters.get(name.encode(), 0)) for name in COUNTERS},
                open_alerts=tuple(sorted(v.decode() for v in open_ids)),
            ))
        return out


class MemoryLaneStateStore:
    """`LaneStateStore` in this process's memory, with the Redis store's semantics (quixstreams ships both kinds).

    For stage unit tests (claim-checks, the alert stage) and single-process tools without a Redis server;
    nothing survives the process. Times are kept to the millisecond as the Redis store keeps them; TTLs
    run on the wall clock (`clock`, replaceable in tests).
    """

    def __init__(self, *, active_s: float = 30.0, offline_s: float = 300.0, dedup_ttl_s: int = 7 * 86400,
                 record_ttl_s: int = 30 * 86400, clock=time.time) -> None:
        if not 0 < active_s < offline_s:
            raise ValueError(f"need 0 < active_s < offline_s, got {active_s} and {offline_s}")
        self.active_s, self.offline_s = active_s, offline_s
        self.dedup_ttl_s, self.record_ttl_s, self.clock = dedup_ttl_s, record_ttl_s, clock
        self._lock = threading.Lock()
        self._dedup: dict[str, tuple[str, float]] = {}  # scan id -> (outcome, expires at)
        self._status: dict[str, dict[str, str | float]] = {}  # lane -> last_seen, last_scan, last_outcome
        self._counters: dict[str, dict[str, int]] = {}
        self._open: dict[str, set[str]] = {}
        self._alerts: dict[str, dict] = {}  # alert id -> alert, lane, state, updated_at, history, expires
        self._blobs: dict[str, tuple[bytes, float]] = {}
        self._scans: dict[str, tuple[bytes, float]] = {}  # lw:scan key -> (image, expires at)
        self._outbox: dict[str, float] = {}  # alert id -> recorded or last taken (clock s)

    def record_outcome(self, *, scan_id: str, lane_id: str, at: datetime, alert: Alert | None = None) -> bool:
        """Record a scan's outcome once: False when `scan_id` was already recorded (a redelivery), nothing changed."""
        if alert is not None and (alert.scan_id, alert.lane_id) != (scan_id, lane_id):
            raise ValueError(f"alert {alert.alert_id} is for {alert.lane_id}/{alert.scan_id}, not {lane_id}/{scan_id}")
        now, t = self.clock(), _ms(at)
        with self._lock:
            if self._live(self._dedup, scan_id, now) is not None:
                return False
            self._dedup[scan_id] = ("clear" if alert is None else alert.alert_id, now + self.dedup_ttl_s)
            counters = self._lane_counters(lane_id)
            counters["scans"] += 1
            kind = "clear" if alert is None else "threat"
            counters["threats" if alert else "clears"] += 1
            if alert is not None:
                self._alerts[alert.alert_id] = {"alert": alert, "lane": lane_id, "state": "open", "updated_at": t,
                                                "history": [], "expires": now + self.record_ttl_s}
                self._open.setdefault(lane_id, set()).add(alert.alert_id)
                self._outbox[alert.alert_id] = now
            self._seen(lane_id, scan_id, t, kind)
            return True

    def published(self, alert_ids: Iterable[str]) -> None:
        """These alerts are on the alerts topic: out of the outbox."""
        with self._lock:
            for alert_id in alert_ids:
                self._outbox.pop(alert_id, None)

    def unpublished(self, *, older_than_s: float, limit: int = 100) -> list[Alert]:
        """Alerts recorded more than `older_than_s` ago and not published, taken for re-sending (stamped now)."""
        now = self.clock()
        with self._lock:
            ids = sorted((t, a) for a, t in self._outbox.items() if t < now - older_than_s)[:limit]
            out = []
            for _, alert_id in ids:
                record = self._live(self._alerts, alert_id, now)
                if record is None:
                    del self._outbox[alert_id]
                else:
                    self._outbox[alert_id] = now
                    out.append(record["alert"])
            return out

    def touch(self, *, lane_id: str, scan_id: str, at: datetime) -> None:
        """Mark the lane seen (ingest calls this as scans arrive, before any outcome)."""
        with self._lock:
            self._lane_counters(lane_id)
            self._seen(lane_id, scan_id, _ms(at), None)

    def is_done(self, scan_id: str) -> bool:
        """Whether the scan's outcome is recorded (and not expired)."""
        with self._lock:
            return self._live(self._dedup, scan_id, self.clock()) is not None

    def decide(self, ack: Ack) -> bool:
        """Apply an operator decision; False for a repeat of the last one (a redelivered ack). KeyError: no such alert."""
        state, counter, close = _DECISIONS[ack.decision]
        with self._lock:
            record = self._live(self._alerts, ack.alert_id, self.clock())
            if record is None:
                raise KeyError(f"no alert {ack.alert_id!r}")
            if record["lane"] != ack.lane_id:
                raise ValueError(f"alert {ack.alert_id!r} is not on lane {ack.lane_id!r}")
            if record["history"] and record["history"][-1] == ack:
                return False
            settled, reopen = record["state"] in CLOSED, ack.decision == "reopen"
            if settled == reopen:  # a decision on an open alert, or a reopen of a settled one
                record["history"].append(ack)
                record["state"], record["updated_at"] = state, _ms(ack.at)
                self._lane_counters(ack.lane_id)[counter] += 1
                opened = self._open.setdefault(ack.lane_id, set())
                opened.discard(ack.alert_id) if close else opened.add(ack.alert_id)
                return True
        raise (NotSettled if reopen else AlreadyDecided)(ack.alert_id, self.alert(ack.alert_id))

    def alert(self, alert_id: str) -> AlertRecord | None:
        """The alert's record and decision history, or None when unknown or expired."""
        with self._lock:
            r = self._live(self._alerts, alert_id, self.clock())
            if r is None:
                return None
            return AlertRecord(alert=r["alert"], state=r["state"], updated_at=_from_epoch(r["updated_at"]),
                               history=tuple(r["history"]))

    def lane(self, lane_id: str, *, now: datetime | None = None) -> LaneStatus:
        """One lane's status, counters and open alerts."""
        with self._lock:
            return self._status_of(lane_id, now)

    def lanes(self, *, now: datetime | None = None) -> list[LaneStatus]:
        """Every lane seen so far, sorted by id."""
        with self._lock:
            return [self._status_of(lane_id, now) for lane_id in sorted(self._counters)]

    def put_blob(self, data: bytes, *, ttl_s: int) -> str:
        """Store a payload for `ttl_s` seconds; the key is its content hash, so a re-send stores nothing new."""
        key = hashlib.blake2b(data, digest_size=16).hexdigest()
        with self._lock:
            self._blobs[key] = (data, self.clock() + ttl_s)
        return key

    def get_blob(self, key: str) -> bytes | None:
        """The payload, or None when its TTL ran out."""
        with self._lock:
            return self._live(self._blobs, key, self.clock())

    def put_scan_image(self, scan_id: str, view: str, data: bytes, *, ttl_s: int) -> None:
        """Store a scan view's image (PNG or JPEG bytes) for `ttl_s` seconds, unless it is stored already."""
        key, now = KEYS["scan"].format(scan_id=scan_id, view=view), self.clock()
        with self._lock:
            if self._live(self._scans, key, now) is None:
                self._scans[key] = (data, now + ttl_s)

    def keep_scan(self, scan_id: str, *, ttl_s: int) -> int:
        """Set the TTL of every stored view of the scan to `ttl_s` seconds; how many views were found."""
        now, found = self.clock(), 0
        with self._lock:
            for view in SCAN_VIEWS:
                key = KEYS["scan"].format(scan_id=scan_id, view=view)
                data = self._live(self._scans, key, now)
                if data is not None:
                    self._scans[key] = (data, now + ttl_s)
                    found += 1
        return found

    def scan_image(self, scan_id: str, view: str = "top") -> bytes | None:
        """The view's image bytes, or None when never stored or expired."""
        with self._lock:
            return self._live(self._scans, KEYS["scan"].format(scan_id=scan_id, view=view), self.clock())

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass

    # --- inside the lock ---

    def _live(self, table: dict, key: str, now: float):
        """The value under `key` unless expired (then dropped): a blob's bytes, a scan image, a dedup outcome, an alert record."""
        entry = table.get(key)
        if entry is None:
            return None
        value, expires = (entry, entry["expires"]) if isinstance(entry, dict) else (entry[0], entry[1])
        if expires <= now:
            del table[key]
            return None
        return value

    def _lane_counters(self, lane_id: str) -> dict[str, int]:
        return self._counters.setdefault(lane_id, dict.fromkeys(COUNTERS, 0))

    def _seen(self, lane_id: str, scan_id: str, t: float, kind: str | None) -> None:
        status = self._status.setdefault(lane_id, {})
        if t >= float(status.get("last_seen", 0.0)):  # redelivered or late scans do not move the clock back
            status.update(last_seen=t, last_scan=scan_id, **({"last_outcome": kind} if kind else {}))

    def _status_of(self, lane_id: str, now: datetime | None) -> LaneStatus:
        status = self._status.get(lane_id, {})
        seen = status.get("last_seen")
        t = time.time() if now is None else now.timestamp()
        age = float("inf") if seen is None else t - float(seen)
        state: LaneState = "active" if age <= self.active_s else "idle" if age <= self.offline_s else "offline"
        return LaneStatus(
            lane_id=lane_id, state=state, last_seen=None if seen is None else _from_epoch(float(seen)),
            last_scan=status.get("last_scan"),  # type: ignore[arg-type]
            counters=dict(self._counters.get(lane_id, dict.fromkeys(COUNTERS, 0))),
            open_alerts=tuple(sorted(self._open.get(lane_id, ()))),
        )


def _ms(at: datetime) -> float:
    """Epoch seconds to the millisecond, as the Redis store writes them."""
    return round(at.timestamp(), 3)


def _epoch(at: datetime) -> str:
    return f"{at.timestamp():.3f}"


def _from_epoch(value: bytes | float) -> datetime:
    return datetime.fromtimestamp(float(value), tz=UTC)
