"""`lanewatch console web`: the web console as a process (HTTP server, alert feeder, deadline sweeper)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping

import uvicorn

from pipeline.kafka import Consumer, Producer
from pipeline.messages import Ack
from pipeline.state import RedisLaneStateStore
from services.runner import Topics
from services.web.app import Console, create_app, feed, sweep
from services.web.desk import Desk

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
                 from_beginning: bool = False, model_version: str = "", consumer_config: dict | None = None) -> None:
        self.desk = Desk.from_url(redis_url, lock_s=lock_s)
        self.store = RedisLaneStateStore.from_url(redis_url)
        self.producer = Producer(bootstrap, client_id="lanewatch-console-web")
        self._send_lock = threading.Lock()
        self.console = Console(self.desk, self._send, self.store.scan_image, model_version=model_version)
        self.topics, self.bootstrap, self.deadline_s = topics, bootstrap, deadline_s
        self.from_beginning, self.consumer_config = from_beginning, consumer_config or {}
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
        with Consumer(self.bootstrap, [self.topics.alerts], group_id=GROUP, client_id="lanewatch-console-web",
                      from_beginning=self.from_beginning, fetch_max_wait_ms=100, **self.consumer_config) as consumer:
            self.consumer_ready.set()
            feed(self.console, consumer, self.stop_event, deadline_s=self.deadline_s)

    @property
    def url(self) -> str:
        config = self.server.config
        return f"http://{config.host}:{config.port}"

    def start(self, timeout_s: float = 30.0) -> WebConsole:
        parts = [("web-http", self.server.run), ("web-feed", self._feed),
                 ("web-sweep", lambda: sweep(self.console, self.stop_event))]
        for name, target in parts:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self.threads.append(t)
        deadline = threading.Event()
        for _ in range(int(timeout_s * 20)):
            if self.server.started and self.consumer_ready.is_set():
                return self
            deadline.wait(0.05)
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
