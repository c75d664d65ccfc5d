"""`lanewatch bench faults`: the embedded stack and a stream of scans through a fault matrix.

Each row starts a fresh embedded stack (broker and Redis) and the four services as their own processes
(`lanewatch serve`, as `lanewatch demo` starts them), then drops `--scans` simulator frames (pseudo-colour
PNG, half of them with a threat) into the ingest service's watched folder at a steady `--rate`, every file
in a folder of its own, so in a lane of its own: a file's outcomes and alerts are told apart by their lane,
and a lost scan cannot hide behind another one's duplicate. At a seeded random point between 30 and 70 %
of the stream the row's fault happens:

- `kill-ingest`, `kill-crop`, `kill-detect`, `kill-alert`: SIGKILL of that service;
- `kill-alert-between-write-and-publish`: the alert service starts with `LANEWATCH_CRASH_AT=alert.after_record`
  and kills itself right after its first alert's Redis write, before the alert is published;
- `restart-redis`: the embedded Redis killed (SIGKILL) and started again on its append-only file
  (`Stack.restart_redis(hard=True)`);
- `broker-away-20s`: the broker refuses connections for 20 s, then comes back with its logs and groups
  (librdkafka's `rd_kafka_mock_broker_set_down`/`_up` through ctypes, on a mock cluster this bench holds in a
  child process of its own: the stack's broker lives inside its supervisor, out of reach);
- `rebalance`: a second detect process joins the group mid-stream and leaves it (SIGTERM) later.

The bench is the services' supervisor: a service that exits (killed, or on its own) is started again with
the same settings and group, `restart_after_s` after its exit (doubling up to 8 s while it keeps dying),
and the crash hook's variable only ever goes to the first alert process.

A row ends once every file has its outcome and every alert recorded is on the topic (or after
`drain_timeout_s`), `settle_s` more for late duplicates, and the services stopped. Then, from Redis's
`lw:outcomes` and from `lanewatch.alerts` read from the start:

- lost: files without an outcome; dup outcomes: outcomes beyond one per file;
- dup alerts: alert records beyond the first per alert id, plus alert ids beyond the first per file;
- unpublished: alerts recorded in Redis that never reached the topic;
- recovery (s): from the end of the fault (a kill or a crash: the death; the broker, Redis: their return;
  rebalance: the join and the leave, the longer counts) until every file dropped before then has its
  outcome, and its alert on the topic; "never" when one does not.

Two long runs, not rows (8 lanes, files named apart, counted per lane from Redis's lane counters: nothing is
killed there, so no file is read twice). Each first drops a burst of files at once for a guess of the
sustained rate. `--overload [MINUTES]` offers 3x the guess for MINUTES (default 5), measures the rate served
meanwhile (the sustained rate under load, ingest's work included), then offers half of that until the backlog
is gone (back to what 2 s of arrivals keep in flight; at most 10x the overload and 2 min); `--soak MINUTES`
offers half the guess. Both report each process's RSS from /proc (start, peak, end; soak: growth in MiB/h
after the first minute), the services' consumer lag and the files waiting in the folder, how long after the
load the backlog took to drain, and what was lost or duplicated.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from models.shipped import DEFAULT_WEIGHTS, require_weights
from services.commands.args import frame_size, positive_float, positive_int
from services.tools.bench.model import machine_info
from services.tools.bench.output import write_json

__all__ = ["ROWS", "FaultBench", "MockBroker", "register", "run", "run_faults", "run_load"]

ROWS = ("kill-ingest", "kill-crop", "kill-detect", "kill-alert", "kill-alert-between-write-and-publish",
        "restart-redis", "broker-away-20s", "rebalance")
CRASH_HOOK = {"LANEWATCH_CRASH_AT": "alert.after_record"}
CONSUMERS = ("alert", "detect", "crop")  # ready before ingest sends anything


@dataclass(frozen=True)
class FaultBench:
    scans: int = 60
    rate: float = 3.0  # files dropped per second
    size: tuple[int, int] = (320, 240)
    weights: Path = DEFAULT_WEIGHTS
    seed: int = 0
    threat_share: float = 0.5
    rows: tuple[str, ...] = ROWS
    restart_after_s: float = 1.0
    broker_away_s: float = 20.0
    drain_timeout_s: float = 90.0
    settle_s: float = 3.0
    overload_minutes: float | None = None
    soak_minutes: float | None = None
    load_lanes: int = 8
    workdir: Path = Path("runs/bench/faults")  # ignored by git, like the JSON beside it
    start_timeout_s: float = 180.0
    show: Callable[[str], object] = print
    extra_env: dict[str, str] = field(default_factory=dict)


def render_frames(n: int, size: tuple[int, int], seed: int, threat_share: float) -> list[tuple[bytes, bool]]:
    """`n` simulator frames as (PNG bytes, holds a threat)."""
    from pipeline.codec import encode_rgb
    from training.synth.scene import SceneConfig, generate_frame

    rng, cfg = np.random.default_rng(seed), SceneConfig(width=size[0], height=size[1])
    out = []
    for _ in range(n):
        threat = bool(rng.random() < threat_share)
        out.append((encode_rgb(generate_frame(rng, negative=not threat, cfg=cfg).rgb), threat))
    return out


# ---- a broker that can be taken away ----------------------------------------------------------------------------


class MockBroker:
    """librdkafka's mock cluster (one broker) in a child process; `down()` refuses connections, `up()` takes them again."""

    def __init__(self, log: Path) -> None:
        with open(log, "ab") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", __name__, "broker"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        self.bootstrap = self._answer()

    def _answer(self) -> str:
        line = self.proc.stdout.readline().strip()
        if not line:
            raise OSError(f"the mock broker exited ({self.proc.wait()}) before answering")
        return line

    def _command(self, cmd: str) -> None:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        if (reply := self._answer()) != f"{cmd} 0":
            raise OSError(f"mock broker {cmd}: {reply}")

    def down(self) -> None:
        self._command("down")

    def up(self) -> None:
        self._command("up")

    def stop(self) -> None:
        self.proc.stdin.close()  # its cue; it also goes when this process dies (stdin at EOF)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _serve_broker() -> int:
    import confluent_kafka

    # the same librdkafka the stack's broker is (the wheel's bundled copy), driven through its C API
    path = glob.glob(str(Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs" / "librdkafka*.so*"))[0]
    lib = ctypes.CDLL(path)
    p = ctypes.c_void_p
    for name, res, args in (("rd_kafka_conf_new", p, []), ("rd_kafka_new", p, [ctypes.c_int, p, ctypes.c_char_p, ctypes.c_size_t]),
                            ("rd_kafka_mock_cluster_new", p, [p, ctypes.c_int]),
                            ("rd_kafka_mock_cluster_bootstraps", ctypes.c_char_p, [p]),
                            ("rd_kafka_mock_broker_set_down", ctypes.c_int, [p, ctypes.c_int32]),
                            ("rd_kafka_mock_broker_set_up", ctypes.c_int, [p, ctypes.c_int32])):
        getattr(lib, name).restype, getattr(lib, name).argtypes = res, args
    err = ctypes.create_string_buffer(512)
    rk = lib.rd_kafka_new(0, lib.rd_kafka_conf_new(), err, len(err))  # a producer handle the cluster lives in
    if not rk:
        raise OSError(err.value.decode())
    cluster = lib.rd_kafka_mock_cluster_new(rk, 1)
    print(lib.rd_kafka_mock_cluster_bootstraps(cluster).decode(), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd in ("down", "up"):
            code = (lib.rd_kafka_mock_broker_set_down if cmd == "down" else lib.rd_kafka_mock_broker_set_up)(cluster, 1)
            print(f"{cmd} {code}", flush=True)
    return 0


# ---- one row's world --------------------------------------------------------------------------------------------


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _lag(port: int) -> int | None:
    """The sum of a service's `lanewatch_consumer_lag` gauges, from its /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("lanewatch_consumer_lag{")))


class _Trial:
    """A fresh stack, the services, a watched folder, the alerts and dead letters as they arrive, and the supervisor."""

    def __init__(self, name: str, cfg: FaultBench, *, own_broker: bool = False) -> None:
        from services.tools.demo import service_env
        from services.tools.stack import Stack

        self.name, self.cfg = name, cfg
        self.root = Path(cfg.workdir) / name
        shutil.rmtree(self.root, ignore_errors=True)
        self.logs, self.watch = self.root / "logs", self.root / "watch"
        self.logs.mkdir(parents=True)
        self.watch.mkdir()
        self.stack = Stack(workdir=self.root / "stack")
        self.broker: MockBroker | None = None
        self.services: dict = {}
        self.stop_follow = threading.Event()
        try:
            info = self.stack.start()
            self.broker = MockBroker(self.root / "broker.log") if own_broker else None
        except BaseException:
            self.stack.stop()
            raise
        self.bootstrap = self.broker.bootstrap if self.broker else info.kafka_bootstrap
        self.redis_url, self.stack_pids = info.redis_url, {"broker": self.broker.proc.pid if self.broker else info.pid,
                                                           "redis": info.redis_pid}
        self.env = service_env(self.bootstrap, self.redis_url, "", Path(cfg.weights), dict(cfg.extra_env))
        self.kinds: dict[str, str] = {}
        self.spawns: Counter = Counter()
        self.started_at: dict[str, float] = {}
        self.down_since: dict[str, float] = {}
        self.delay: dict[str, float] = {}
        self.retired: set[str] = set()
        self.planned: set[str] = set()  # whose next exit is the fault itself
        self.exits: list[dict[str, Any]] = []  # every exit but a retirement ("planned": the fault's), and its restart
        self.alerts: list[tuple[str, str, float]] = []  # (alert id, lane, seen at)
        self.deadletters: Counter = Counter()
        self.t0 = time.time()

    # -- processes
    def spawn(self, name: str, kind: str | None = None, *, extra: dict[str, str] | None = None):
        """Start (or start again) process `name` of service `kind`; `extra` only for this start."""
        from services.tools.demo import spawn_service

        kind = self.kinds.setdefault(name, kind or name)
        self.spawns[name] += 1
        env = {**self.env, **({"LANEWATCH_WATCH_DIR": str(self.watch), "LANEWATCH_SETTLE_S": "0.2"} if kind == "ingest" else {}),
               **(extra or {})}
        n = self.spawns[name]
        svc = spawn_service(kind, env, self.logs, "", log_name=name if n == 1 else f"{name}.{n}")
        self.services[name], self.started_at[name] = svc, time.time()
        return svc

    def start(self, *, alert_extra: dict[str, str] | None = None) -> None:
        from services.runner import Topics
        from services.tools.demo import DemoConfig, follow_topic, wait_ready

        for name in CONSUMERS:
            self.spawn(name, extra=alert_extra if name == "alert" else None)
        wait_ready(dict(self.services), DemoConfig(start_timeout_s=self.cfg.start_timeout_s, show=lambda _: None))
        topics = Topics()
        for topic, handler in ((topics.alerts, self._on_alert), (topics.deadletter, self._on_deadletter)):
            up = threading.Event()
            threading.Thread(target=follow_topic, args=(self.bootstrap, topic, handler, self.stop_follow, up), daemon=True).start()
            up.wait(30)
        ingest = self.spawn("ingest")
        deadline = time.monotonic() + self.cfg.start_timeout_s
        while (ingest.health() or {}).get("status") != "ok":
            if ingest.proc.poll() is not None or time.monotonic() > deadline:
                raise ChildProcessError(f"ingest did not start; see {self.logs / 'ingest.log'}")
            time.sleep(0.1)

    def _on_alert(self, record) -> None:
        from pipeline.messages import Alert

        try:
            alert = record.meta(Alert)
        except ValueError:
            return
        self.alerts.append((alert.alert_id, alert.lane_id, time.time()))

    def _on_deadletter(self, record) -> None:
        from pipeline.messages import DeadLetter

        try:
            self.deadletters[record.meta(DeadLetter).stage] += 1
        except ValueError:
            self.deadletters["unknown"] += 1

    def kill(self, name: str) -> float:
        """SIGKILL `name`; when it died. The supervisor starts it again."""
        proc = self.services[name].proc
        self.planned.add(name)
        proc.kill()
        proc.wait()
        return time.time()

    def retire(self, name: str) -> float:
        """SIGTERM `name` for good (it leaves its group); when it was asked."""
        self.retired.add(name)
        self.services[name].proc.send_signal(signal.SIGTERM)
        return time.time()

    def tick(self) -> None:
        """The supervisor: start again every service that exited and was not retired."""
        now = time.time()
        for name, svc in list(self.services.items()):
            if name in self.retired or svc.proc.poll() is None:
                continue
            if name not in self.down_since:
                quick = now - self.started_at[name] < 10.0  # dying again right after its start: back off
                self.delay[name] = min(8.0, 2 * self.delay[name]) if quick and name in self.delay else self.cfg.restart_after_s
                self.down_since[name] = now
                self.exits.append({"service": name, "code": svc.proc.returncode, "at_s": round(now - self.t0, 2),
                                   "planned": name in self.planned})
                self.planned.discard(name)
            if now - self.down_since[name] >= self.delay[name]:
                del self.down_since[name]
                svc.stop()
                self.spawn(name)
                last = next(e for e in reversed(self.exits) if e["service"] == name)
                last["restarted_s"] = round(time.time() - self.t0, 2)

    def wait(self, until: float, done: Callable[[], bool] = lambda: False) -> bool:
        """Supervise until time `until` or `done()`; whether `done()` held."""
        while time.time() < until:
            if done():
                return True
            self.tick()
            time.sleep(0.1)
        return done()

    def rss(self) -> dict[str, float | None]:
        pids = {name: s.proc.pid for name, s in self.services.items() if s.proc.poll() is None} | self.stack_pids
        return {name: _rss_mib(pid) for name, pid in pids.items()}

    def lag(self) -> dict[str, int | None]:
        return {name: _lag(s.metrics_port) for name, s in self.services.items() if name != "ingest" and s.proc.poll() is None}

    # -- Redis
    def outcomes(self) -> dict[str, list[tuple[float, str, str]]]:
        """Per lane, its recorded outcomes: (when, in s since the epoch, from the stream entry's id; scan id; alert id or "")."""
        import redis

        from pipeline.state import KEYS

        client = redis.Redis.from_url(self.redis_url, decode_responses=True)
        try:
            out = defaultdict(list)
            for entry_id, f in client.xrange(KEYS["outcomes"]):
                out[f["lane"]].append((int(entry_id.split("-")[0]) / 1000, f["scan"], f.get("alert", "")))
            return out
        finally:
            client.close()

    def lane_scans(self) -> dict[str, int]:
        """Per lane, the `scans` counter (outcomes recorded)."""
        from pipeline.state import RedisLaneStateStore

        store = RedisLaneStateStore.from_url(self.redis_url)
        try:
            return {s.lane_id: s.counters.get("scans", 0) for s in store.lanes()}
        finally:
            store.close()

    def close(self) -> dict[str, int | None]:
        codes = {}
        try:
            for name in ("ingest", "crop", "detect", "alert", *sorted(self.services)):
                if name in self.services and name not in codes:
                    codes[name] = self.services[name].stop()
            time.sleep(0.5)  # the last alerts reach the followers
        finally:
            self.stop_follow.set()
            for svc in self.services.values():
                svc.stop(timeout_s=5)
            if self.broker is not None:
                self.broker.stop()
            self.stack.stop()
        return codes


class _Feeder(threading.Thread):
    """Drops files into the watched folder on schedule: `phases` of (files per second, files)."""

    def __init__(self, watch: Path, frames: list[tuple[bytes, bool]], phases: list[tuple[float, int]], *,
                 lanes: int | None = None, first: int = 0) -> None:
        super().__init__(daemon=True)
        self.watch, self.frames, self.phases, self.lanes, self.first = watch, frames, phases, lanes, first
        self.dropped: list[tuple[str, float, bool]] = []  # (lane, when, holds a threat)
        self.halt = threading.Event()

    def lane_of(self, i: int) -> str:
        return f"lane-{i:03d}" if self.lanes is None else f"lane-{i % self.lanes + 1}"

    def run(self) -> None:
        t, i = time.time(), self.first
        for rate, count in self.phases:
            for _ in range(count):
                if self.halt.wait(max(0.0, t - time.time())):
                    return
                payload, threat = self.frames[i % len(self.frames)]
                folder = self.watch / self.lane_of(i)
                folder.mkdir(exist_ok=True)
                tmp = folder / f".scan-{i:06d}.part"  # not an image name: the watcher skips it until renamed
                tmp.write_bytes(payload)
                tmp.replace(folder / f"scan-{i:06d}.png")
                self.dropped.append((self.lane_of(i), time.time(), threat))
                i += 1
                t += 1.0 / rate


# ---- the rows -----------------------------------------------------------------------------------------------


def _inject(row: str, trial: _Trial, fault_at: float, stream_end: float) -> tuple[list[dict[str, float]], str]:
    """Make the row's fault happen (at `fault_at`, supervising meanwhile); [(start, end)] of each fault, and a note."""
    cfg = trial.cfg

    def rel(t: float) -> str:
        return f"{t - trial.t0:.1f}"

    if row.startswith("kill-") and row != "kill-alert-between-write-and-publish":
        name = row.removeprefix("kill-")
        trial.wait(fault_at)
        t = trial.kill(name)
        return [{"start": t, "end": t}], f"{name} SIGKILLed at {rel(t)} s"
    if row == "kill-alert-between-write-and-publish":
        alert = trial.services["alert"]
        trial.planned.add("alert")
        if not trial.wait(stream_end + 30.0, lambda: alert.proc.poll() is not None):
            return [], "the alert service never crashed: no LANEWATCH_CRASH_AT hook in this tree (or no alert raised)"
        t = time.time()
        return [{"start": t, "end": t}], f"alert crashed itself (exit {alert.proc.returncode}) at {rel(t)} s"
    if row == "restart-redis":
        trial.wait(fault_at)
        start = time.time()
        trial.stack_pids["redis"] = trial.stack.restart_redis(hard=True).redis_pid  # a crash: SIGKILL, then its AOF
        end = time.time()
        return [{"start": start, "end": end}], f"Redis SIGKILLed and back {rel(start)}-{rel(end)} s"
    if row == "broker-away-20s":
        trial.wait(fault_at)
        start = time.time()
        trial.broker.down()
        trial.wait(start + cfg.broker_away_s)
        trial.broker.up()
        end = time.time()
        return [{"start": start, "end": end}], f"broker down {rel(start)}-{rel(end)} s"
    if row == "rebalance":
        trial.wait(fault_at)
        join = time.time()
        second = trial.spawn("detect-2", "detect")
        joined = trial.wait(stream_end + 30.0, lambda: (second.health() or {}).get("partitions", 0) > 0)
        if not joined:
            return [{"start": join, "end": join}], "the second detect never took partitions"
        in_at = time.time()
        trial.wait(max(in_at + 3.0, join + 0.6 * (stream_end - join)))  # leaves under load, after owning partitions
        leave = trial.retire("detect-2")
        trial.wait(leave + 30.0, lambda: second.proc.poll() is not None)
        gone = time.time()
        # each rebalance is over once the group owns its partitions again: after the join, when detect-2 has
        # its share; after the leave, when detect-2 has handed its share back and exited
        return ([{"start": join, "end": in_at}, {"start": leave, "end": gone}],
                f"detect-2 started {rel(join)} s, owned partitions {rel(in_at)} s, SIGTERM {rel(leave)} s, "
                f"gone {rel(gone)} s (exit {second.proc.poll()})")
    raise ValueError(f"no fault row {row!r}; rows: {', '.join(ROWS)}")


def run_row(row: str, cfg: FaultBench, frames: list[tuple[bytes, bool]]) -> dict[str, Any]:
    """One row on a fresh stack (see the module docstring)."""
    import redis

    index = ROWS.index(row)
    cfg.show(f"# {row}: starting a fresh stack and the services")
    trial = _Trial(row, cfg, own_broker=row == "broker-away-20s")
    codes: dict[str, int | None] = {}
    try:
        trial.start(alert_extra=CRASH_HOOK if row == "kill-alert-between-write-and-publish" else None)
        feeder = _Feeder(trial.watch, frames, [(cfg.rate, cfg.scans)])
        begin = time.time()
        stream_end = begin + cfg.scans / cfg.rate
        fault_at = begin + float(np.random.default_rng([cfg.seed, index]).uniform(0.3, 0.7)) * (stream_end - begin)
        cfg.show(f"# {row}: {cfg.scans} files at {cfg.rate:g}/s from {begin - trial.t0:.1f} s")
        feeder.start()
        faults, note = _inject(row, trial, fault_at, stream_end)
        trial.wait(stream_end + 0.5, lambda: not feeder.is_alive())

        def complete() -> bool:
            try:
                outs = trial.outcomes()
            except redis.RedisError:  # Redis between its stop and its start
                return False
            seen = {a for a, _, _ in trial.alerts}
            return (len(feeder.dropped) == cfg.scans and all(outs.get(lane) for lane, _, _ in feeder.dropped)
                    and all(a in seen for lane_outs in outs.values() for _, _, a in lane_outs if a))

        trial.wait(time.time() + cfg.drain_timeout_s, complete)
        trial.wait(time.time() + cfg.settle_s)
        outcomes = trial.outcomes()  # Redis first: stopping a service adds nothing to it
    finally:
        codes = trial.close()
    ingested = sum(1 for _ in trial.watch.glob("*/done/*.png"))
    result = {"fault": row, "scans_in": len(feeder.dropped), "ingested": ingested,
              **_tally(feeder.dropped, outcomes, trial.alerts, faults),
              "deadletters": dict(trial.deadletters), "exits": trial.exits, "exit_codes": codes, "note": note,
              "faults_s": [{k: round(v - trial.t0, 2) for k, v in f.items()} for f in faults], "logs": str(trial.logs)}
    cfg.show(f"# {row}: {_line(result)}")
    return result


def _tally(dropped: list[tuple[str, float, bool]], outcomes: dict[str, list[tuple[float, str, str]]],
           alerts: list[tuple[str, str, float]], faults: list[dict[str, float]]) -> dict[str, Any]:
    """Lost, duplicated and unpublished, and the recovery time (see the module docstring)."""
    per_id: Counter = Counter(a for a, _, _ in alerts)
    ids_per_lane: dict[str, set[str]] = defaultdict(set)
    first_seen: dict[str, float] = {}
    for alert_id, lane, at in alerts:
        ids_per_lane[lane].add(alert_id)
        first_seen.setdefault(alert_id, at)
    lanes = {lane for lane, _, _ in dropped}
    recorded = [a for lane_outs in outcomes.values() for _, _, a in lane_outs if a]

    def done_at(lane: str) -> float | None:
        if not outcomes.get(lane):
            return None
        t, _, alert_id = outcomes[lane][0]
        if alert_id:
            return max(t, first_seen[alert_id]) if alert_id in first_seen else None
        return t

    recovery = resumed = None
    if faults:
        spans = []
        for f in faults:
            pending = [done_at(lane) for lane, at, _ in dropped if at < f["end"]]
            spans.append(None if None in pending else max([f["end"], *pending]) - f["end"])
        recovery = None if None in spans else round(max(spans), 2)
        after = [t for lane_outs in outcomes.values() for t, _, _ in lane_outs if t > faults[0]["end"]]
        resumed = round(min(after) - faults[0]["end"], 2) if after else None
    # the undisturbed latency, for scale: files done before any fault started
    first = min((f["start"] for f in faults), default=float("inf"))
    latencies = [done - at for lane, at, _ in dropped if (done := done_at(lane)) is not None and done < first]
    return {
        "outcomes": sum(len(outcomes.get(lane, ())) for lane in lanes),
        "lost": sum(not outcomes.get(lane) for lane in lanes),
        "dup_outcomes": sum(max(0, len(outcomes.get(lane, ())) - 1) for lane in lanes),
        "alerts": len(per_id), "threat_scans_in": sum(t for _, _, t in dropped),
        "dup_alerts": sum(n - 1 for n in per_id.values()) + sum(len(ids) - 1 for ids in ids_per_lane.values()),
        "unpublished": sum(a not in per_id for a in recorded),
        "foreign_outcomes": sum(len(v) for lane, v in outcomes.items() if lane not in lanes),
        "recovery_s": recovery, "resumed_s": resumed,
        "latency_p50_s": round(float(np.median(latencies)), 2) if latencies else None,
    }


# ---- the long runs -------------------------------------------------------------------------------------------------


def _sustained(times: list[float]) -> float:
    """Completions per second between the 10th and 95th percentile of completion times."""
    t = np.sort(np.asarray(times, np.float64))
    if len(t) < 10:
        return 0.0
    i, j = int(0.10 * len(t)), int(0.95 * len(t)) - 1
    return (j - i) / max(t[j] - t[i], 1e-6)


def run_load(kind: str, cfg: FaultBench, frames: list[tuple[bytes, bool]]) -> dict[str, Any]:
    """`overload` or `soak` on a fresh stack (see the module docstring)."""
    cfg.show(f"# {kind}: starting a fresh stack and the services")
    trial = _Trial(kind, cfg)
    samples: list[dict[str, Any]] = []
    minutes = cfg.overload_minutes if kind == "overload" else cfg.soak_minutes
    try:
        trial.start()
        # a first guess of the sustained rate: a burst dropped at once, drained at the pipeline's own pace (it
        # flatters: ingest has read the burst before the others are busy); the served rate under load is measured
        burst = max(60, 10 * cfg.load_lanes)
        calibration = _Feeder(trial.watch, frames, [(1000.0, burst)], lanes=cfg.load_lanes)
        calibration.start()
        calibration.join()
        trial.wait(time.time() + cfg.drain_timeout_s, lambda: sum(trial.lane_scans().values()) >= burst)
        guess = round(_sustained([t for outs in trial.outcomes().values() for t, _, _ in outs]), 2)
        if not guess:
            raise RuntimeError(f"{kind}: the calibration burst did not drain within {cfg.drain_timeout_s:g} s")
        offered = (3.0 if kind == "overload" else 0.5) * guess
        cfg.show(f"# {kind}: a burst drained at {guess} scans/s; offering {offered:.1f} scans/s for {minutes:g} min")
        load_n = max(1, round(offered * 60 * minutes))
        feeders = [_Feeder(trial.watch, frames, [(offered, load_n)], lanes=cfg.load_lanes, first=burst)]
        begin = time.time()
        load_end = begin + load_n / offered
        feeders[0].start()

        def sample() -> dict[str, Any]:
            for f in trial.watch.glob("*/done/*.png"):  # disk: what ingest has sent is not needed again
                f.unlink(missing_ok=True)
            samples.append({"t": round(time.time() - begin, 1), "rss_mib": trial.rss(), "lag": trial.lag(),
                            "waiting_files": sum(1 for _ in trial.watch.glob("lane-*/scan-*.png")),
                            "outcomes": sum(trial.lane_scans().values()) - burst,
                            "dropped": sum(len(f.dropped) for f in feeders)})
            return samples[-1]

        while feeders[0].is_alive():
            sample()
            trial.wait(time.time() + 1.0)
        served = round(sample()["outcomes"] / max(time.time() - begin, 1e-6), 2)  # under load, ingest included
        drained_at, limit = None, time.time() + max(cfg.drain_timeout_s, 10 * 60 * minutes + 120)
        if kind == "overload":  # then normal, half the served rate, until the backlog is gone
            normal = 0.5 * served
            feeders.append(_Feeder(trial.watch, frames, [(normal, round(normal * (limit - time.time())))],
                                   lanes=cfg.load_lanes, first=burst + load_n))
            feeders[1].start()
            cfg.show(f"# {kind}: served {served} scans/s under load; {normal:.1f} scans/s until drained")
        in_flight = max(cfg.load_lanes, round(served))  # what 2 s of arrivals at half load keep in flight
        while time.time() < limit:
            last = sample()
            if last["dropped"] - last["outcomes"] <= in_flight:
                drained_at = time.time()
                break
            trial.wait(time.time() + 1.0)
        for feeder in feeders:
            feeder.halt.set()
            feeder.join()
        dropped_n = sum(len(f.dropped) for f in feeders)
        trial.wait(time.time() + cfg.drain_timeout_s, lambda: sum(trial.lane_scans().values()) - burst >= dropped_n)
        trial.wait(time.time() + cfg.settle_s)
        sample()
        scans = trial.lane_scans()
    finally:
        codes = trial.close()
    dropped = Counter(lane for f in (calibration, *feeders) for lane, _, _ in f.dropped)
    per_id = Counter(a for a, _, _ in trial.alerts)

    def series(name: str) -> list[tuple[float, float]]:
        return [(s["t"], s["rss_mib"][name]) for s in samples if s["rss_mib"].get(name) is not None]

    rss = {}
    for name in sorted({n for s in samples for n in s["rss_mib"]}):
        pts = series(name)
        if pts:
            rss[name] = {"start": round(pts[0][1], 1), "peak": round(max(v for _, v in pts), 1), "end": round(pts[-1][1], 1)}
            later = [p for p in pts if p[0] >= 60]  # past the first minute's warm-up
            if kind == "soak" and len(later) > 2:
                rss[name]["growth_mib_per_h"] = round(float(np.polyfit(*zip(*later), 1)[0]) * 3600, 1)
    result = {
        "kind": kind, "minutes": minutes, "burst_scans_per_s": guess, "offered_scans_per_s": round(offered, 2),
        "served_scans_per_s": served,
        "scans_in": sum(dropped.values()), "outcomes": sum(scans.get(lane, 0) for lane in dropped),
        "lost": sum(max(0, n - scans.get(lane, 0)) for lane, n in dropped.items()),
        "dup_outcomes": sum(max(0, scans.get(lane, 0) - n) for lane, n in dropped.items()),
        "alerts": len(per_id), "dup_alerts": sum(n - 1 for n in per_id.values()),
        "drained_s_after_load": None if drained_at is None else round(drained_at - load_end, 1),
        "rss_mib": rss, "max_lag": {n: max(s["lag"].get(n) or 0 for s in samples) for n in {k for s in samples for k in s["lag"]}},
        "max_waiting_files": max(s["waiting_files"] for s in samples),
        "deadletters": dict(trial.deadletters), "exits": trial.exits, "exit_codes": codes, "samples": samples,
    }
    cfg.show(f"# {kind}: {result['scans_in']} in, lost {result['lost']}, dup outcomes {result['dup_outcomes']}, "
             f"dup alerts {result['dup_alerts']}, drained {result['drained_s_after_load']} s after the load")
    return result


# ---- command ---------------------------------------------------------------------------------------------------------------


def run_faults(cfg: FaultBench) -> dict[str, Any]:
    """Every row of `cfg.rows`, then the long runs asked for; the summary."""
    from pipeline.settings import CommonSettings

    require_weights(cfg.weights)
    if not CommonSettings().embedded:
        raise ValueError("bench faults kills and restarts the embedded stack: unset LANEWATCH_KAFKA_BOOTSTRAP/LANEWATCH_REDIS_URL")
    pool = cfg.scans if cfg.rows else 0
    frames = render_frames(max(pool, 64 if cfg.overload_minutes or cfg.soak_minutes else 0), cfg.size, cfg.seed,
                           cfg.threat_share)
    summary: dict[str, Any] = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items() if k not in ("show", "extra_env")},
        "machine": machine_info(), "rows": [run_row(row, cfg, frames) for row in cfg.rows],
    }
    if cfg.overload_minutes:
        summary["overload"] = run_load("overload", cfg, frames)
    if cfg.soak_minutes:
        summary["soak"] = run_load("soak", cfg, frames)
    return summary


def _cell(v: Any) -> str:
    return "never" if v is None else str(v)


def _line(r: dict[str, Any]) -> str:
    return (f"{r['scans_in']} in, {r['outcomes']} outcomes, lost {r['lost']}, dup outcomes {r['dup_outcomes']}, "
            f"dup alerts {r['dup_alerts']}, unpublished {r['unpublished']}, recovery {_cell(r['recovery_s'])} s; {r['note']}")


HEADER = ("fault", "scans in", "outcomes", "lost", "dup alerts", "unpublished", "recovery (s)", "notes")


def table(summary: dict[str, Any]) -> str:
    """The rows as an aligned text table (notes: the fault, restarts, dead letters)."""
    rows = []
    for r in summary["rows"]:
        notes = [r["note"]]
        exits = Counter(e["service"] for e in r["exits"] if not e["planned"])
        if exits:  # beyond the fault's own: services that exited on their own (and were started again)
            notes.append("also exited: " + ", ".join(f"{n} x{c}" for n, c in sorted(exits.items())))
        if r["dup_outcomes"]:
            notes.append(f"dup outcomes {r['dup_outcomes']}")
        if r["deadletters"]:
            notes.append("dead letters: " + ", ".join(f"{k} {v}" for k, v in r["deadletters"].items()))
        rows.append((r["fault"], r["scans_in"], r["outcomes"], r["lost"], r["dup_alerts"], r["unpublished"],
                     "-" if r["recovery_s"] is None and not r["faults_s"] else _cell(r["recovery_s"]), "; ".join(notes)))
    widths = [max(len(str(x)) for x in col) for col in zip(HEADER, *rows)]
    widths[-1] = 0
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in (HEADER, *rows)] if rows else []
    for kind in ("overload", "soak"):
        if kind in summary:
            s = summary[kind]
            drained = _cell(s["drained_s_after_load"]) + (" s" if s["drained_s_after_load"] is not None else "")
            lines.append(f"{kind}: {s['offered_scans_per_s']} scans/s offered for {s['minutes']:g} min (a burst drained at "
                         f"{s['burst_scans_per_s']}, served under load {s['served_scans_per_s']}): {s['scans_in']} in, "
                         f"lost {s['lost']}, dup outcomes {s['dup_outcomes']}, dup alerts {s['dup_alerts']}; drained "
                         f"{drained} after the load; most files waiting {s['max_waiting_files']}, most lag {s['max_lag']}")
            lines.append("  RSS MiB start/peak/end: " + ", ".join(
                f"{n} {v['start']}/{v['peak']}/{v['end']}" + (f" ({v['growth_mib_per_h']:+} MiB/h)" if "growth_mib_per_h" in v else "")
                for n, v in s["rss_mib"].items()))
    return "\n".join(lines)


def _rows(text: str) -> tuple[str, ...]:
    rows = tuple(dict.fromkeys(r.strip() for r in text.split(",") if r.strip()))
    unknown = [r for r in rows if r not in ROWS]
    if unknown or not rows:
        raise argparse.ArgumentTypeError(f"unknown rows {unknown or text!r}; rows: {', '.join(ROWS)}")
    return rows


def run(args: argparse.Namespace) -> int:
    long_runs = args.overload is not None or args.soak is not None
    cfg = FaultBench(scans=args.scans, rate=args.rate, size=args.size, weights=args.weights, seed=args.seed,
                     rows=args.only or (() if long_runs else ROWS), overload_minutes=args.overload,
                     soak_minutes=args.soak, workdir=args.workdir,
                     show=lambda line: print(line, file=sys.stderr, flush=True))
    if args.drain_timeout is not None:
        cfg = replace(cfg, drain_timeout_s=args.drain_timeout)
    summary = run_faults(cfg)
    print(table(summary))
    if args.json:
        write_json(args.json, summary)
    bad = [r["fault"] for r in summary["rows"]
           if r["lost"] or r["dup_alerts"] or r["unpublished"] or r["dup_outcomes"] or not r["faults_s"]]
    bad += [k for k in ("overload", "soak") if k in summary and (summary[k]["lost"] or summary[k]["dup_alerts"])]
    return 1 if bad else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "faults",
        help="the embedded stack under faults (kills, crash hook, Redis restart, broker away, rebalance): lost, duplicated, recovery",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: lanewatch bench faults --json runs/bench/faults.json; lanewatch bench faults --only kill-detect,rebalance "
               "--scans 40; lanewatch bench faults --overload 5 --json runs/bench/overload.json",
    )
    p.add_argument("--only", type=_rows, default=None, metavar="ROW,...", help=f"rows to run (default all: {', '.join(ROWS)})")
    p.add_argument("--scans", type=positive_int, default=FaultBench.scans, help=f"files per row (default {FaultBench.scans})")
    p.add_argument("--rate", type=positive_float, default=FaultBench.rate, help=f"files dropped per second (default {FaultBench.rate:g})")
    p.add_argument("--size", type=frame_size, default=FaultBench.size, help="frame size WxH (default 320x240)")
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="detector weights (default: the shipped ones)")
    p.add_argument("--seed", type=int, default=0, help="frames and fault times (default 0)")
    p.add_argument("--drain-timeout", type=positive_float, default=None, metavar="S",
                   help=f"longest a row waits for its last outcomes (default {FaultBench.drain_timeout_s:g})")
    p.add_argument("--overload", type=positive_float, nargs="?", const=5.0, default=None, metavar="MINUTES",
                   help="3x the sustained rate for MINUTES (default 5), then half the rate served until drained; long, not a row")
    p.add_argument("--soak", type=positive_float, default=None, metavar="MINUTES", help="half the sustained rate for MINUTES")
    p.add_argument("--workdir", type=Path, default=FaultBench.workdir, help="each row's logs, stack and watched folder (default runs/bench/faults)")
    p.add_argument("--json", type=Path, default=None, help="write every row (and long run) here")
    p.set_defaults(func=run)


if __name__ == "__main__":
    if sys.argv[1:] != ["broker"]:
        sys.exit("usage: python -m services.tools.bench.faults broker  (the bench's own mock broker)")
    sys.stdout.flush()
    os._exit(_serve_broker())  # no interpreter teardown racing librdkafka's threads
