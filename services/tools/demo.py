"""The demo: the whole pipeline on one machine, fed by simulated lanes, watched from a console.

`run_demo` starts (unless Kafka and Redis are configured) the embedded stack, then the four services
as separate processes (`lanewatch serve crop|detect|alert`, and `serve ingest` with simulated lanes),
each with its JSON logs in `<workdir>/logs/`. It prints alerts as the console shows them, waits for
every scan to reach its outcome, stops the services (SIGTERM: they finish and commit), and returns a
summary:

- `scans_in`: scans ingest published; `scans_done`: scans whose outcome is in Redis;
- `alerts`: total and by class (from `lanewatch.alerts`); `deadletters`: records on the dead-letter topic;
- `latency_ms`: p50 and p99 from capture to outcome (the alert service's `outcome` log events);
- `lanes`: every lane's status from Redis; `processes`: the pids started, to check none outlives the demo.

Children die with the demo however it ends (parent-death signal), and the stack goes with them.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.shipped import DEFAULT_WEIGHTS, require_weights
from pipeline.kafka import Consumer
from pipeline.messages import Alert, DeadLetter
from pipeline.settings import CommonSettings
from pipeline.state import NAMESPACE, RedisLaneStateStore
from services.console import format_alert
from services.runner import Topics

__all__ = ["DemoConfig", "Service", "follow_topic", "run_demo", "service_env", "spawn_service", "wait_ready"]

SERVICES = ("alert", "detect", "crop")  # consumers first: ingest starts once they own their partitions
_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DemoConfig:
    lanes: int = 4
    duration_s: float = 30.0
    rate: float = 0.33  # mean scans per second per lane: a bag every 3 s
    size: tuple[int, int] = (640, 480)
    seed: int = 0
    weights: Path = DEFAULT_WEIGHTS
    workdir: Path = Path(".demo")
    drain_timeout_s: float = 60.0  # longest to wait for the last scans after ingest stops
    start_timeout_s: float = 90.0
    show: Callable[[str], object] = print
    extra_env: dict[str, str] = field(default_factory=dict)
    console_port: int = 8088  # the web console (0: none); a busy port falls back to a free one
    keep: bool = False  # after the summary, keep the stack and the web console up until Ctrl-C


DEMO_USER, DEMO_PASSWORD = "demo", "lanewatch-demo"


class Service:
    """One child process, its log file, and the JSON events it logged."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path, metrics_port: int) -> None:
        self.name, self.metrics_port, self.events = name, metrics_port, []
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent, cwd=os.getcwd())
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:  # drained always: a full pipe would block the child
            self.log.write(line)
            if line.startswith("{"):
                try:
                    self.events.append(json.loads(line))
                except ValueError:
                    pass

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=1) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def stop(self, timeout_s: float = 20.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        self.log.close()
        return self.proc.returncode


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def follow_topic(bootstrap: str, topic: str, on_record: Callable, stop: threading.Event, up: threading.Event) -> None:
    with Consumer(bootstrap, [topic], group_id=None, client_id="lanewatch-demo", fetch_max_wait_ms=100) as consumer:
        up.set()
        while not stop.is_set():
            for record in consumer.poll_batch(timeout_ms=200):
                on_record(record)


def _percentile(values: list[float], q: float) -> float | None:
    return None if not values else round(float(np.percentile(values, q)), 1)


def run_demo(config: DemoConfig) -> dict[str, Any]:
    """Run the demo end to end; returns the summary (see the module docstring)."""
    from services.tools.stack import Stack

    weights = require_weights(config.weights)
    settings = CommonSettings()
    stack = None
    if settings.embedded:
        stack = Stack()
        info = stack.start()
        bootstrap, redis_url, prefix, namespace = info.kafka_bootstrap, info.redis_url, "", NAMESPACE
        config.show(f"# embedded stack: Kafka-protocol broker {bootstrap}, Redis {info.redis_url_for_logs}")
    else:
        bootstrap, redis_url = settings.kafka_bootstrap, settings.redis_url.get_secret_value()
        prefix = f"demo-{uuid.uuid4().hex[:6]}"  # a shared cluster: the demo's topics, groups and Redis keys are its own
        namespace = f"lw-{prefix}"
        config.show(f"# configured Kafka {bootstrap} and Redis {settings.redis_url_for_logs}; topics prefixed {prefix}, "
                    f"Redis keys under {namespace}:")
    logs = Path(config.workdir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    topics = Topics.prefixed(prefix)
    env = service_env(bootstrap, redis_url, prefix, weights, {"LANEWATCH_REDIS_NAMESPACE": namespace, **config.extra_env})
    store = RedisLaneStateStore.from_url(redis_url, namespace=namespace)
    baseline = {s.lane_id: s.counters["scans"] for s in store.lanes()}
    services: dict[str, Service] = {}
    stop_follow = threading.Event()
    web = None
    alerts: list[Alert] = []
    deadletters = Counter()
    summary: dict[str, Any] = {}
    started = time.monotonic()
    try:
        for name in SERVICES:
            services[name] = spawn_service(name, env, logs, prefix)
        wait_ready(services, config)
        web = _start_web(config, bootstrap, redis_url, topics, namespace) if config.console_port else None
        followers = []
        for topic, handler in ((topics.alerts, lambda r: _on_alert(r, alerts, config.show)),
                               (topics.deadletter, lambda r: deadletters.update([_stage_of(r)]))):
            up = threading.Event()
            t = threading.Thread(target=follow_topic, args=(bootstrap, topic, handler, stop_follow, up), daemon=True)
            t.start()
            up.wait(15)
            followers.append(t)
        w, h = config.size
        ingest_env = {**env, "LANEWATCH_SIMULATE_LANES": str(config.lanes), "LANEWATCH_SIMULATE_RATE": str(config.rate),
                      "LANEWATCH_SIMULATE_FRESH": "1",
                      "LANEWATCH_SIMULATE_DURATION_S": str(config.duration_s), "LANEWATCH_SIMULATE_SIZE": f"{w}x{h}",
                      "LANEWATCH_SIMULATE_SEED": str(config.seed)}
        config.show(f"# {config.lanes} simulated lanes for {config.duration_s:g} s; alerts as the console shows them:")
        services["ingest"] = spawn_service("ingest", ingest_env, logs, prefix)
        try:
            services["ingest"].proc.wait(config.duration_s + config.start_timeout_s)
        except subprocess.TimeoutExpired:
            config.show("# ingest did not finish in time: stopping it")
        services["ingest"].stop()
        done_event = next((e for e in services["ingest"].events if e.get("msg") == "ingest done"), {})
        scans_in = int(done_event.get("published", 0))
        lanes_of_run = set(done_event.get("per_lane", {}))

        def scans_done() -> int:
            return sum(s.counters["scans"] - baseline.get(s.lane_id, 0) for s in store.lanes() if s.lane_id in lanes_of_run)

        deadline = time.monotonic() + config.drain_timeout_s
        while scans_done() < scans_in and time.monotonic() < deadline:
            time.sleep(0.25)
        time.sleep(0.5)  # the last alerts reach the console
        exit_codes = {name: svc.stop() for name, svc in services.items()}
        stop_follow.set()
        for t in followers:
            t.join(5)
        truth = {e["scan_id"]: (e["lane_id"], tuple(e.get("truth", ()))) for e in services["ingest"].events
                 if e.get("msg") == "scan"}
        outcomes = [e for e in services["alert"].events if e.get("msg") == "outcome" and e.get("recorded")]
        latencies = [float(e["latency_ms"]) for e in outcomes]
        lanes = [s for s in store.lanes() if s.lane_id in lanes_of_run]
        summary = {
            "scans_in": scans_in,
            "scans_done": scans_done(),
            "threat_scans_in": int(done_event.get("threat_scans", 0)),
            "alerts": {"total": len(alerts), "by_class": dict(Counter(c for a in alerts for c in a.classes)),
                       "by_severity": dict(Counter(a.severity for a in alerts))},
            "deadletters": sum(deadletters.values()),
            "deadletters_by_stage": dict(deadletters),
            "latency_ms": {"p50": _percentile(latencies, 50), "p99": _percentile(latencies, 99), "count": len(latencies)},
            "lanes": {s.lane_id: {"state": s.state, "counters": s.counters, "open_alerts": len(s.open_alerts),
                                  "last_scan": s.last_scan} for s in lanes},
            "duration_s": round(time.monotonic() - started, 1),
            "services": {name: {"pid": svc.proc.pid, "exit_code": exit_codes[name]} for name, svc in services.items()},
            "stack": None if stack is None else {"pid": stack.info.pid, "redis_pid": stack.info.redis_pid},
            "logs": str(logs),
            "console": None if web is None else web.url,
            "ground_truth": score_against_truth(truth, alerts),
            "reused_frames": int(done_event.get("reused_frames", 0)),
        }
        if web is not None and config.keep:
            config.show(f"# the web console stays up at {web.url} (user {DEMO_USER}, password {DEMO_PASSWORD}); Ctrl-C ends")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
    finally:
        if web is not None:
            web.stop()
        stop_follow.set()
        for svc in services.values():
            svc.stop(timeout_s=10)
        store.close()
        if stack is not None:
            stack.stop()
    return summary


def score_against_truth(truth: dict[str, tuple[str, tuple[str, ...]]], alerts: list[Alert]) -> dict[str, Any]:
    """The simulator's ground truth against the alerts raised: threat bags alarmed and missed, clean bags
    alarmed; per class (a bag holding the class: alarmed at all, and alarmed with that class among the alert's)
    and per lane."""
    alarmed = {a.scan_id: set(a.classes) for a in alerts}

    def tally(scans: list[tuple[str, tuple[str, ...]]]) -> dict[str, Any]:
        threat = [sid for sid, labels in scans if labels]
        clean = [sid for sid, labels in scans if not labels]
        hit = sum(sid in alarmed for sid in threat)
        false = sum(sid in alarmed for sid in clean)
        return {"threat_bags": len(threat), "alarmed": hit, "missed": len(threat) - hit,
                "detection_rate": round(hit / len(threat), 3) if threat else None,
                "clean_bags": len(clean), "clean_alarmed": false,
                "false_alarm_rate": round(false / len(clean), 3) if clean else None}

    scans = [(sid, labels) for sid, (_, labels) in truth.items()]
    per_class = {}
    for label in sorted({c for _, labels in scans for c in labels}):
        holding = [sid for sid, labels in scans if label in labels]
        per_class[label] = {"bags": len(holding), "alarmed": sum(sid in alarmed for sid in holding),
                            "named": sum(label in alarmed.get(sid, ()) for sid in holding)}
    lanes = sorted({lane for lane, _ in truth.values()})
    per_lane = {lane: tally([(sid, labels) for sid, (ln, labels) in truth.items() if ln == lane]) for lane in lanes}
    return {**tally(scans), "per_class": per_class, "per_lane": per_lane}


def _start_web(config: DemoConfig, bootstrap: str, redis_url: str, topics: Topics, namespace: str):
    """The operators' web console on the demo's topics, with a demo supervisor account."""
    from services.web.server import WebConsole

    port = config.console_port
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            port = _free_port()
    web = WebConsole(bootstrap=bootstrap, redis_url=redis_url, topics=topics, port=port, namespace=namespace).start()
    web.desk.add_user(DEMO_USER, DEMO_PASSWORD, "supervisor")
    config.show(f"# web console: {web.url}  (log in as {DEMO_USER} / {DEMO_PASSWORD})")
    return web


def service_env(bootstrap: str, redis_url: str, prefix: str, weights: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment the demo (and `lanewatch bench pipeline`) gives every service; `extra` wins."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
        "LANEWATCH_KAFKA_BOOTSTRAP": bootstrap, "LANEWATCH_REDIS_URL": redis_url, "LANEWATCH_TOPIC_PREFIX": prefix,
        "LANEWATCH_WEIGHTS": str(Path(weights).resolve()),
        # the embedded broker keeps ~5 MiB per partition: scans travel via Redis (claim-check), records stay small
        "LANEWATCH_CLAIM_CHECK_BYTES": "32768",
        "LANEWATCH_SESSION_TIMEOUT_MS": "6000", "LANEWATCH_HEARTBEAT_INTERVAL_MS": "500",
        "LANEWATCH_SCAN_WAIT_S": "15", "LANEWATCH_THREADS": "1", "OMP_NUM_THREADS": "1",
        **extra,
    }


def spawn_service(name: str, env: dict[str, str], logs: Path, prefix: str, *, log_name: str | None = None) -> Service:
    """`lanewatch serve name` as a child process, its log in `logs/<log_name or name>.log`."""
    port = _free_port()
    child_env = {**env, "LANEWATCH_METRICS_PORT": str(port), "LANEWATCH_METRICS_HOST": "127.0.0.1"}
    if prefix:  # on a shared cluster the demo's consumer groups are its own too
        child_env["LANEWATCH_GROUP_ID"] = f"{prefix}-{name}"
    cmd = [sys.executable, "-m", "services.cli", "serve", name]
    return Service(name, cmd, child_env, logs / f"{log_name or name}.log", port)


def wait_ready(services: dict[str, Service], config: DemoConfig) -> None:
    """Until every consumer owns partitions (its group has formed), so the first scans find them waiting.

    `config` gives `start_timeout_s` and `show` (any object with both will do).
    """
    deadline = time.monotonic() + config.start_timeout_s
    pending = set(services)
    while pending:
        for name in sorted(pending):
            svc = services[name]
            if svc.proc.poll() is not None:
                svc.log.flush()
                tail = "".join(Path(svc.log.name).read_text().splitlines(keepends=True)[-5:])
                raise ChildProcessError(f"the {name} service exited with {svc.proc.returncode}; its log ends:\n{tail}")
            health = svc.health()
            if health and health.get("status") == "ok" and health.get("partitions", 0) > 0:
                pending.discard(name)
                config.show(f"# {name} ready (pid {svc.proc.pid}, metrics http://127.0.0.1:{svc.metrics_port}/metrics)")
        if time.monotonic() > deadline:
            raise TimeoutError(f"services not ready after {config.start_timeout_s:g} s: {sorted(pending)}")
        time.sleep(0.2)


def _on_alert(record, alerts: list[Alert], show: Callable[[str], object]) -> None:
    try:
        alert = record.meta(Alert)
    except ValueError:
        return
    alerts.append(alert)
    show(format_alert(alert))


def _stage_of(record) -> str:
    try:
        return record.meta(DeadLetter).stage
    except ValueError:
        return "unknown"
