"""`lanewatch console web`: the web console as a process (HTTP server, alert feeder, deadline sweeper)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np
import redis
import uvicorn

from pipeline.kafka import Consumer, Producer
from pipeline.messages import Ack
from pipeline.state import NAMESPACE, RedisLaneStateStore
from services.runner import Topics
from services.web.app import Console, create_app, feed, sweep
from services.web.desk import Desk
from services.web.tip import project_tip

__all__ = ["WebConsole", "lane_deadlines"]

log = logging.getLogger(__name__)

GROUP = "lanewatch-console-web"


def lane_deadlines(spec: str | None, default_s: float) -> Callable[[str], float]:
    """Decision deadline per lane from JSON (`{"lane-1": 20, "*": 45}`), else `default_s` for every lane."""
    table: Mapping[str, float] = json.loads(spec) if spec else {}
    if not isinstance(table, dict) or not all(isinstance(v, int | float) and v > 0 for v in table.values()):
        raise ValueError(f"lane deadlines must be a JSON object of lane -> seconds > 0, got {spec!r}")
    fallback = float(table.get("*", default_s))
    return lambda lane: float(table.get(lane, fallback))


class WebConsole:
    """The whole console process; `start` returns once it serves, `stop` ends the three parts."""

    def __init__(self, *, bootstrap: str, redis_url: str, topics: Topics = Topics(), host: str = "127.0.0.1",
                 port: int = 8088, deadline_s: Callable[[str], float] = lambda lane: 60.0, lock_s: float = 120.0,
                 from_beginning: bool = False, model_version: str = "", consumer_config: dict | None = None,
                 tip_seed: int | None = None, namespace: str = NAMESPACE, kafka_config: dict | None = None) -> None:
        self.desk = Desk.from_url(redis_url, lock_s=lock_s, namespace=namespace)
        self.store = RedisLaneStateStore.from_url(redis_url, namespace=namespace)
        self.producer = Producer(bootstrap, client_id="lanewatch-console-web", **(kafka_config or {}))
        self._send_lock = threading.Lock()
        self.console = Console(self.desk, self._send, self.store.scan_image, model_version=model_version,
                               lanes=self.store.lanes)
        self.rng = np.random.default_rng(tip_seed)
        self.topics, self.bootstrap, self.deadline_s = topics, bootstrap, deadline_s
        self.from_beginning, self.consumer_config = from_beginning, {**(kafka_config or {}), **(consumer_config or {})}
        self.stop_event = threading.Event()
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.console), host=host, port=port, log_level="warning",
                                                    lifespan="off", timeout_graceful_shutdown=2))
        self.threads: list[threading.Thread] = []
        self.consumer_ready = threading.Event()

    def _send(self, ack: Ack) -> None:
        with self._send_lock:
            self.producer.publish(self.topics.acks, ack)
            self.producer.flush(timeout_s=10)

    def _feed(self) -> None:
        # ready once the group has given this console its share (possibly none, with more consoles than partitions):
        # a consumer that has only subscribed would start at the latest offset after its join and miss what came between
        with Consumer(self.bootstrap, [self.topics.alerts], group_id=GROUP, client_id="lanewatch-console-web",
                      from_beginning=self.from_beginning, fetch_max_wait_ms=100,
                      on_assign=lambda partitions: self.consumer_ready.set(), **self.consumer_config) as consumer:
            feed(self.console, consumer, self.stop_event, deadline_s=self.deadline_s)

    def _outcome_group(self) -> None:
        try:  # from now on: what was recorded before this console existed is not for review
            self.desk.r.xgroup_create(self.desk.OUTCOMES, GROUP, id="$", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    def _watch_outcomes(self) -> None:
        """Clean scans into the queue: every one on a review-all lane, a share of them as TIPs (each outcome once,
        whichever console process reads it: a Redis consumer group)."""
        me = f"web-{os.getpid()}-{id(self)}"
        while not self.stop_event.is_set():
            try:
                got = self.desk.r.xreadgroup(GROUP, me, {self.desk.OUTCOMES: ">"}, count=100, block=500)
                for _, rows in got:
                    for entry_id, f in rows:
                        if f[b"outcome"] == b"clear":
                            self.review_clean(f[b"scan"].decode(), f[b"lane"].decode())
                        self.desk.r.xack(self.desk.OUTCOMES, GROUP, entry_id)
            except Exception:  # Redis away or a scan that cannot be projected: log, go on with the next
                log.exception("reviewing clean scans failed")
                self.stop_event.wait(1.0)

    def review_clean(self, scan_id: str, lane_id: str) -> str | None:
        """Queue a clean scan when its lane reviews every scan or draws it for TIP; returns the item id, if queued."""
        settings = self.desk.lane_settings(lane_id)
        tip = settings["tip_rate"] > 0 and self.rng.random() < settings["tip_rate"]
        if not tip and settings["mode"] != "all":
            return None
        image = self.store.scan_image(scan_id, "top")
        if image is None:
            return None
        projected = project_tip(image, self.rng) if tip else None
        if tip and projected is None and settings["mode"] != "all":
            return None  # no bag to put a threat in
        truth = None if projected is None else (projected.label, projected.box, projected.image)
        return self.desk.enqueue_review(scan_id, lane_id, deadline_s=self.deadline_s(lane_id), tip=truth)

    @property
    def url(self) -> str:
        config = self.server.config
        return f"http://{config.host}:{config.port}"

    def start(self, timeout_s: float = 30.0) -> WebConsole:
        self._outcome_group()
        parts = [("web-http", self.server.run), ("web-feed", self._feed),
                 ("web-sweep", lambda: sweep(self.console, self.stop_event)), ("web-scans", self._watch_outcomes)]
        for name, target in parts:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self.threads.append(t)
        for _ in range(int(timeout_s * 20)):
            if self.server.started and self.consumer_ready.is_set():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the web console did not start within {timeout_s:g} s")

    def stop(self) -> None:
        self.stop_event.set()
        self.console.closing = True
        self.server.should_exit = True
        for t in self.threads:
            t.join(timeout=10)
        self.producer.close()
        self.store.close()
        self.desk.r.close()

    def __enter__(self) -> WebConsole:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
