"""The review desk in Redis: operators and sessions, one shared queue with claim locks and deadlines, events.

Everything the web console knows lives here, so any number of console processes serve one desk:

| key                              | type   | what                                                          |
| -------------------------------- | ------ | ------------------------------------------------------------- |
| `lw:console:users`               | set    | user names                                                    |
| `lw:console:user:{name}`         | hash   | `hash` (argon2id), `role` (screener/supervisor/admin)         |
| `lw:console:session:{token}`     | hash   | `user`, `role`, `csrf`; expires after `session_s` idle        |
| `lw:console:login:{client}`      | string | failed logins from one address; expires after `login_window_s` |
| `lw:console:queue`               | zset   | alert ids waiting for a decision, by arrival (ms)             |
| `lw:console:item:{alert_id}`     | hash   | `alert` (JSON), `queued_at`, `deadline` (ms), `state` (queued/claimed/decided/unknown), claim, decision |
| `lw:console:deadlines`           | zset   | undecided alert ids by deadline (ms)                          |
| `lw:console:events`              | stream | what the browsers are told: `type`, `data` (JSON); ids are SSE event ids |
| `lw:console:audit`               | stream | every view, claim and decision: who, when, what, model, image hash |
| `lw:console:lane:{lane}`         | hash   | `mode` (alarms/all), `tip_rate` (0..1) set by supervisors; `decisions`, `decision_ms_total` |
| `lw:console:tip:{alert_id}`      | hash   | a projected threat's truth: `label`, `box` (JSON); never sent to a browser before the decision |
| `lw:console:image:{alert_id}`    | string | the image an item shows when it is not the scan as kept (a TIP projection) |

Claims and decisions are Lua scripts, so two operators racing for one scan cannot both get it, and
a scan is decided (or timed out as UNKNOWN) exactly once, whichever console process sees it first.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pipeline.messages import Alert
from pipeline.state import NAMESPACE, namespaced_keys, redis_client

__all__ = ["MODES", "ROLES", "Desk", "Session", "Verdict"]

Role = Literal["screener", "supervisor", "admin"]
ROLES: tuple[str, ...] = ("screener", "supervisor", "admin")
Verdict = Literal["clear", "search", "escalate"]

MODES = ("alarms", "all")
# the desk's keys under the default namespace; a `Desk` holds them (attributes of the same names) under its own
_KEYS = {
    "K_USERS": "lw:console:users", "K_USER": "lw:console:user:{}", "K_SESSION": "lw:console:session:{}",
    "K_LOGIN": "lw:console:login:{}", "K_QUEUE": "lw:console:queue", "K_ITEM": "lw:console:item:{}",
    "K_DEADLINES": "lw:console:deadlines", "K_EVENTS": "lw:console:events", "K_AUDIT": "lw:console:audit",
    "K_LANE": "lw:console:lane:{}", "K_TIP": "lw:console:tip:{}", "K_IMAGE": "lw:console:image:{}",
}

# KEYS: queue; ARGV: user, now ms, lock ms, item key prefix. The oldest scan nobody holds (or whose holder
# let the lock lapse), or the one this user already holds; "" when none.
_CLAIM_NEXT = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  local key = ARGV[4] .. id
  local state, holder, untl = unpack(redis.call('HMGET', key, 'state', 'claimed_by', 'claim_until'))
  if state == 'queued' or (state == 'claimed' and (holder == ARGV[1] or tonumber(untl) < tonumber(ARGV[2]))) then
    redis.call('HSET', key, 'state', 'claimed', 'claimed_by', ARGV[1], 'claim_until', tonumber(ARGV[2]) + tonumber(ARGV[3]))
    if holder ~= ARGV[1] then redis.call('HSET', key, 'claimed_at', ARGV[2]) end
    return id
  end
end
return ''
"""

# KEYS: item; ARGV: user, now ms, lock ms. 1 claimed, 0 held by another, -1 already decided, -2 unknown alert.
_CLAIM = """
local state, holder, untl = unpack(redis.call('HMGET', KEYS[1], 'state', 'claimed_by', 'claim_until'))
if not state then return -2 end
if state == 'decided' or state == 'unknown' then return -1 end
if state == 'claimed' and holder ~= ARGV[1] and tonumber(untl) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'claimed', 'claimed_by', ARGV[1], 'claim_until', tonumber(ARGV[2]) + tonumber(ARGV[3]))
if holder ~= ARGV[1] then redis.call('HSET', KEYS[1], 'claimed_at', ARGV[2]) end
return 1
"""

# KEYS: item, queue, deadlines; ARGV: user, now ms, verdict, alert id, reason, note.
# 1 decided, 0 not held by this user (or the lock lapsed), -1 already decided, -2 unknown alert.
_DECIDE = """
local state, holder, untl = unpack(redis.call('HMGET', KEYS[1], 'state', 'claimed_by', 'claim_until'))
if not state then return -2 end
if state == 'decided' or state == 'unknown' then return -1 end
if state ~= 'claimed' or holder ~= ARGV[1] or tonumber(untl) < tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'decided', 'decision', ARGV[3], 'decided_by', ARGV[1], 'decided_at', ARGV[2],
           'reason', ARGV[5], 'note', ARGV[6])
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[4])
return 1
"""

# KEYS: item, queue, deadlines; ARGV: now ms, alert id. 1 when this call timed the scan out.
_EXPIRE = """
local state, deadline = unpack(redis.call('HMGET', KEYS[1], 'state', 'deadline'))
redis.call('ZREM', KEYS[3], ARGV[2])
if not state or state == 'decided' or state == 'unknown' then return 0 end
if tonumber(deadline) > tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[3], deadline, ARGV[2])
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'unknown', 'decided_at', ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"""

# KEYS: item, queue, deadlines; ARGV: alert id, alert JSON, queued ms, deadline ms, record ttl s, source. 1 when new.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'alert', ARGV[2], 'queued_at', ARGV[3], 'deadline', ARGV[4], 'state', 'queued', 'source', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class Session:
    token: str
    user: str
    role: str
    csrf: str

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class Desk:
    """The shared review desk of one site, on a Redis client (any number of console processes share it)."""

    def __init__(self, client: redis.Redis, *, lock_s: float = 120.0, session_s: float = 8 * 3600,
                 login_attempts: int = 5, login_window_s: float = 300.0, record_ttl_s: int = 7 * 86400,
                 events_kept: int = 10_000, clock=time.time, namespace: str = NAMESPACE) -> None:
        self.r = client
        # every key under the pipeline's Redis namespace (pipeline.state): a demo's desk and users stay its own
        for name, key in _KEYS.items():
            setattr(self, name, namespace + key[len(NAMESPACE):])
        self.OUTCOMES = namespaced_keys(namespace)["outcomes"]  # the alert service's stream of every outcome
        self.lock_ms, self.session_s = int(lock_s * 1000), int(session_s)
        self.login_attempts, self.login_window_s = login_attempts, int(login_window_s)
        self.record_ttl_s, self.events_kept, self.clock = record_ttl_s, events_kept, clock
        self.hasher = PasswordHasher()
        self._claim_next = client.register_script(_CLAIM_NEXT)
        self._claim = client.register_script(_CLAIM)
        self._decide = client.register_script(_DECIDE)
        self._expire = client.register_script(_EXPIRE)
        self._enqueue = client.register_script(_ENQUEUE)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Desk:
        return cls(redis_client(url), **kwargs)

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    # --- people -------------------------------------------------------------------------------------
    def add_user(self, name: str, password: str, role: str) -> None:
        """Create or replace a user (argon2id hash; the password itself is never stored)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum() or len(name) > 64:
            raise ValueError(f"user names are 1-64 letters, digits, '-', '_' or '.', not {name!r}")
        if len(password) < 8:
            raise ValueError("a password needs at least 8 characters")
        self.r.hset(self.K_USER.format(name), mapping={"hash": self.hasher.hash(password), "role": role})
        self.r.sadd(self.K_USERS, name)

    def remove_user(self, name: str) -> bool:
        self.r.srem(self.K_USERS, name)
        return bool(self.r.delete(self.K_USER.format(name)))

    def users(self) -> list[tuple[str, str]]:
        names = sorted(n.decode() for n in self.r.smembers(self.K_USERS))
        return [(n, (self.r.hget(self.K_USER.format(n), "role") or b"?").decode()) for n in names]

    def login(self, name: str, password: str, *, client: str = "-") -> Session | None:
        """A new session, or None for a wrong name or password. PermissionError: too many failures from `client`."""
        failures_key = self.K_LOGIN.format(client)
        if int(self.r.get(failures_key) or 0) >= self.login_attempts:
            raise PermissionError(f"too many failed logins; try again in {self.r.ttl(failures_key)} s")
        user = self.r.hgetall(self.K_USER.format(name))
        try:
            ok = bool(user) and self.hasher.verify(user[b"hash"].decode(), password)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            pipe = self.r.pipeline()
            pipe.incr(failures_key)
            pipe.expire(failures_key, self.login_window_s)
            pipe.execute()
            return None
        self.r.delete(failures_key)
        session = Session(secrets.token_urlsafe(32), name, user[b"role"].decode(), secrets.token_urlsafe(24))
        key = self.K_SESSION.format(session.token)
        self.r.hset(key, mapping={"user": session.user, "role": session.role, "csrf": session.csrf})
        self.r.expire(key, self.session_s)
        self.audit(name, "login")
        return session

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie (its idle timer restarted), or None."""
        if not token:
            return None
        key = self.K_SESSION.format(token)
        found = self.r.hgetall(key)
        if not found or not self.r.sismember(self.K_USERS, found[b"user"]):
            return None
        self.r.expire(key, self.session_s)
        return Session(token, found[b"user"].decode(), found[b"role"].decode(), found[b"csrf"].decode())

    def logout(self, token: str) -> None:
        self.r.delete(self.K_SESSION.format(token))

    # --- the queue ----------------------------------------------------------------------------------
    def enqueue(self, alert: Alert, *, deadline_s: float) -> bool:
        """Put an alert in the queue with its decision deadline; False when it is already there (redelivery)."""
        return self._put(alert.alert_id, alert.model_dump_json(exclude_none=True), deadline_s, source="alert")

    def enqueue_review(self, scan_id: str, lane_id: str, *, deadline_s: float, tip: tuple[str, tuple, bytes] | None = None,
                       captured_at: str | None = None) -> str | None:
        """Queue a scan that raised no alert, for a lane that reviews every scan or as a TIP (`tip`: label, true box
        and the projected image, kept here and never shown as truth before the decision). Such an item looks the
        same to the browser either way: no detector boxes. Returns its id (None when already queued)."""
        alert_id = f"al-{scan_id}"
        ms, _, rest = scan_id.partition("-")
        seq = int(rest.rsplit("-", 1)[-1]) if rest.rsplit("-", 1)[-1].isdigit() else 0
        at = captured_at or (datetime.fromtimestamp(int(ms) / 1000, UTC) if ms.isdigit() else datetime.now(UTC)).isoformat()
        record = {"alert_id": alert_id, "scan_id": scan_id, "lane_id": lane_id, "scanner_id": "", "captured_at": at,
                  "seq": seq, "classes": [], "detections": [], "severity": "low", "views": ["top"], "review": True}
        if tip is not None:
            label, box, image = tip
            pipe = self.r.pipeline()
            pipe.hset(self.K_TIP.format(alert_id), mapping={"label": label, "box": json.dumps([int(v) for v in box])})
            pipe.set(self.K_IMAGE.format(alert_id), image)
            pipe.expire(self.K_TIP.format(alert_id), self.record_ttl_s)
            pipe.expire(self.K_IMAGE.format(alert_id), self.record_ttl_s)
            pipe.execute()
        added = self._put(alert_id, json.dumps(record), deadline_s, source="tip" if tip else "review")
        return alert_id if added else None

    def _put(self, alert_id: str, record: str, deadline_s: float, *, source: str) -> bool:
        now = self._ms()
        added = self._enqueue(keys=[self.K_ITEM.format(alert_id), self.K_QUEUE, self.K_DEADLINES],
                              args=[alert_id, record, now, now + int(deadline_s * 1000), self.record_ttl_s, source])
        if added:
            self.publish("queued", self.item(alert_id))
        return bool(added)

    def source(self, alert_id: str) -> str:
        """Where an item came from: "alert" (a real alert), "review" (a clean scan of a review-all lane), "tip"."""
        return (self.r.hget(self.K_ITEM.format(alert_id), "source") or b"alert").decode()

    def image(self, alert_id: str) -> bytes | None:
        """The item's own image (a TIP projection), or None when it shows the scan as kept."""
        return self.r.get(self.K_IMAGE.format(alert_id))

    def tip_truth(self, alert_id: str) -> dict[str, Any] | None:
        raw = self.r.hgetall(self.K_TIP.format(alert_id))
        return {"label": raw[b"label"].decode(), "box": json.loads(raw[b"box"])} if raw else None

    # --- lanes --------------------------------------------------------------------------------------
    def set_lane(self, lane_id: str, *, mode: str | None = None, tip_rate: float | None = None, by: str = "-") -> dict:
        """A supervisor's lane settings: review mode (alarms only, or every scan) and TIP rate."""
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode is one of {', '.join(MODES)}, not {mode!r}")
        if tip_rate is not None and not 0.0 <= tip_rate <= 1.0:
            raise ValueError(f"a TIP rate is a share of clean scans, 0 to 1, not {tip_rate}")
        fields = {k: v for k, v in (("mode", mode), ("tip_rate", tip_rate)) if v is not None}
        if fields:
            self.r.hset(self.K_LANE.format(lane_id), mapping=fields)
            self.audit(by, "lane", lane=lane_id, **fields)
        settings = self.lane_settings(lane_id)
        self.publish("lane", {"lane_id": lane_id, **settings})
        return settings

    def lane_settings(self, lane_id: str) -> dict[str, Any]:
        raw = self.r.hgetall(self.K_LANE.format(lane_id))
        return {"mode": (raw.get(b"mode") or b"alarms").decode(), "tip_rate": float(raw.get(b"tip_rate") or 0.0)}

    def mean_decision_s(self, lane_id: str) -> float | None:
        """Mean claim-to-decision time on a lane (running totals kept as decisions are made), None before any."""
        n, total = self.r.hmget(self.K_LANE.format(lane_id), "decisions", "decision_ms_total")
        return round(int(total) / int(n) / 1000, 1) if n else None

    def item(self, alert_id: str) -> dict[str, Any] | None:
        """A queue item as the browser sees it (None when unknown)."""
        return _item(self.r.hgetall(self.K_ITEM.format(alert_id)))

    def queue(self) -> list[dict[str, Any]]:
        """Every undecided scan, oldest first (one round trip for all of them)."""
        pipe = self.r.pipeline(transaction=False)
        for a in self.r.zrange(self.K_QUEUE, 0, -1):
            pipe.hgetall(self.K_ITEM.format(a.decode()))
        return [item for raw in pipe.execute() if (item := _item(raw)) is not None]


    def claim_next(self, user: str) -> dict[str, Any] | None:
        """Take the oldest scan nobody holds (or the one `user` already holds); None when the queue is empty."""
        alert_id = self._claim_next(keys=[self.K_QUEUE], args=[user, self._ms(), self.lock_ms, self.K_ITEM.format("")]).decode()
        return self._claimed(alert_id, user) if alert_id else None

    def claim(self, alert_id: str, user: str) -> dict[str, Any]:
        """Take one scan. LookupError: unknown; PermissionError: held by another or already decided."""
        got = self._claim(keys=[self.K_ITEM.format(alert_id)], args=[user, self._ms(), self.lock_ms])
        if got == -2:
            raise LookupError(f"no alert {alert_id!r} in the queue")
        if got != 1:
            item = self.item(alert_id) or {}
            who = item.get("decided_by") or item.get("claimed_by") or "the deadline"
            raise PermissionError(f"{alert_id} is {item.get('state', '?')} by {who}")
        return self._claimed(alert_id, user)

    def _claimed(self, alert_id: str, user: str) -> dict[str, Any]:
        item = self.item(alert_id)
        self.audit(user, "claim", alert_id=alert_id)
        self.publish("claimed", item)
        return item

    def decide(self, alert_id: str, user: str, verdict: str, *, reason: str, note: str = "") -> dict[str, Any]:
        """Record a held scan's decision, exactly once. LookupError / PermissionError as `claim`."""
        if verdict not in ("clear", "search", "escalate"):
            raise ValueError(f"decision must be clear, search or escalate, not {verdict!r}")
        now = self._ms()
        got = self._decide(keys=[self.K_ITEM.format(alert_id), self.K_QUEUE, self.K_DEADLINES],
                           args=[user, now, verdict, alert_id, reason, note])
        if got == -2:
            raise LookupError(f"no alert {alert_id!r} in the queue")
        if got != 1:
            item = self.item(alert_id) or {}
            if item.get("state") in ("decided", "unknown"):
                raise PermissionError(f"{alert_id} was already decided ({item.get('decision', item['state'])}) "
                                      f"by {item.get('decided_by', 'the deadline')}")
            raise PermissionError(f"{alert_id} is not held by {user}: claim it first")
        item = self.item(alert_id)
        decision_ms = now - item.get("claimed_at", now)
        lane_key = self.K_LANE.format(item["alert"]["lane_id"])  # running figures for the lane board
        self.r.hincrby(lane_key, "decisions", 1)
        self.r.hincrby(lane_key, "decision_ms_total", decision_ms)
        extra: dict[str, Any] = {}
        truth = self.tip_truth(alert_id)
        if truth is not None:  # found means the bag goes to a search (or up); a clear lets the threat through
            hit = verdict in ("search", "escalate")
            item["tip"] = {**truth, "hit": hit, "message": "projected threat: well found" if hit else "missed projected threat"}
            extra["tip"] = "hit" if hit else "miss"
        self.audit(user, "decision", alert_id=alert_id, lane=item["alert"]["lane_id"], decision=verdict, reason=reason,
                   note=note, decision_ms=decision_ms, **extra)
        self.publish("decided", {k: v for k, v in item.items() if k != "tip"})
        return item

    def undo(self, alert_id: str, user: str) -> None:
        """Put a decided scan back in the user's hands (its decision could not be sent on)."""
        self.r.hset(self.K_ITEM.format(alert_id), mapping={"state": "claimed", "claimed_by": user,
                                                      "claim_until": self._ms() + self.lock_ms})
        item = self.item(alert_id)
        self.r.zadd(self.K_QUEUE, {alert_id: item["queued_at"]})
        self.r.zadd(self.K_DEADLINES, {alert_id: item["deadline"]})

    def expire_due(self) -> list[dict[str, Any]]:
        """Time out every scan past its deadline: UNKNOWN (never a silent clear); returns those this call timed out."""
        now = self._ms()
        out = []
        for raw in self.r.zrangebyscore(self.K_DEADLINES, "-inf", now):
            alert_id = raw.decode()
            if self._expire(keys=[self.K_ITEM.format(alert_id), self.K_QUEUE, self.K_DEADLINES], args=[now, alert_id]) == 1:
                item = self.item(alert_id)
                self.audit("deadline", "unknown", alert_id=alert_id, held_by=item.get("claimed_by", ""))
                self.publish("unknown", item)
                out.append(item)
        return out

    # --- events and audit ---------------------------------------------------------------------------
    def publish(self, kind: str, data: Any) -> str:
        """Tell every browser; returns the event id (what a reconnecting browser sends as Last-Event-ID)."""
        return self.r.xadd(self.K_EVENTS, {"type": kind, "data": json.dumps(data)}, maxlen=self.events_kept,
                           approximate=True).decode()

    def events_after(self, last_id: str, *, block_ms: int | None = None, count: int = 500) -> list[tuple[str, str, Any]]:
        """(id, type, data) of the events after `last_id` ("0" for all kept), waiting up to `block_ms` for one."""
        got = self.r.xread({self.K_EVENTS: last_id}, count=count, block=block_ms)
        return [(i.decode(), f[b"type"].decode(), json.loads(f[b"data"])) for _, rows in got for i, f in rows]

    def last_event_id(self) -> str:
        info = self.r.xinfo_stream(self.K_EVENTS) if self.r.exists(self.K_EVENTS) else None
        return info["last-generated-id"].decode() if info else "0"

    def scans_last_minute(self) -> dict[str, int]:
        """Outcomes recorded per lane in the last 60 s (the alert service's `lw:outcomes` stream)."""
        counts: dict[str, int] = {}
        for _, f in self.r.xrange(self.OUTCOMES, min=f"{self._ms() - 60_000}-0", max="+"):
            lane = f[b"lane"].decode()
            counts[lane] = counts.get(lane, 0) + 1
        return counts

    def audit(self, user: str, action: str, **fields: Any) -> None:
        entry = {"user": user, "action": action, "at": self._ms(), **{k: str(v) for k, v in fields.items()}}
        self.r.xadd(self.K_AUDIT, entry, maxlen=100_000, approximate=True)

    def audit_log(self, count: int = 200) -> list[dict[str, Any]]:
        """The newest audit entries, newest first."""
        return [{k.decode(): v.decode() for k, v in f.items()} for _, f in self.r.xrevrange(self.K_AUDIT, count=count)]

    def operator_figures(self) -> dict[str, dict[str, float]]:
        """Per operator: decisions, mean decision time (claim to decision, s), scans timed out in their hands."""
        figures: dict[str, dict[str, float]] = {}
        for e in reversed(self.audit_log(100_000)):
            if e["action"] == "decision":
                f = figures.setdefault(e["user"], _blank())
                f["decisions"] += 1
                f["decision_s_total"] += float(e.get("decision_ms", 0)) / 1000
                if "tip" in e:
                    f["tips"] += 1
                    f["tip_hits"] += e["tip"] == "hit"
            elif e["action"] == "unknown" and e.get("held_by"):
                figures.setdefault(e["held_by"], _blank())["timeouts"] += 1
        for f in figures.values():
            total = f.pop("decision_s_total")
            f["mean_decision_s"] = round(total / f["decisions"], 2) if f["decisions"] else None
            f["tip_hit_rate"] = round(f["tip_hits"] / f["tips"], 3) if f["tips"] else None
        return figures


def _blank() -> dict[str, float]:
    return {"decisions": 0, "decision_s_total": 0.0, "timeouts": 0, "tips": 0, "tip_hits": 0}


def _item(raw: dict[bytes, bytes]) -> dict[str, Any] | None:
    """A queue item's hash as the browser sees it (its source and TIP truth left out); None for no hash."""
    if not raw:
        return None
    d = {k.decode(): v.decode() for k, v in raw.items()}
    alert = json.loads(d.pop("alert"))
    out: dict[str, Any] = {"alert": alert, "alert_id": alert["alert_id"], "state": d["state"]}
    for name in ("queued_at", "deadline", "claim_until", "claimed_at", "decided_at"):
        if name in d:
            out[name] = int(float(d[name]))
    for name in ("claimed_by", "decision", "decided_by", "reason", "note"):
        if name in d:
            out[name] = d[name]
    return out
