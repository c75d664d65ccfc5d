"""Prometheus metrics for one service: its own registry, the standard set, and `/metrics` + `/healthz`.

Every service exposes the same names, told apart by the `service` label:

| metric                               | type      | labels                 |
| ------------------------------------ | --------- | ---------------------- |
| `lanewatch_records_in_total`         | counter   | service, topic         |
| `lanewatch_records_out_total`        | counter   | service, topic         |
| `lanewatch_stage_latency_seconds`    | histogram | service, stage         |
| `lanewatch_batch_size`               | histogram | service                |
| `lanewatch_deadletters_total`        | counter   | service, stage, kind   |
| `lanewatch_consumer_lag`             | gauge     | service, topic, partition |

`kind` is the rejection's class (BadMessage, BadPayload, ...), never the free-text reason,
which would make a label per record.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

__all__ = ["MetricsServer", "ServiceMetrics", "serve_metrics", "service_metrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
Health = Callable[[], bool | tuple[bool, dict]]


@dataclass(frozen=True)
class ServiceMetrics:
    """The standard metrics of one service, bound to its name."""

    service: str
    registry: CollectorRegistry
    records_in: Counter
    records_out: Counter
    latency: Histogram
    batch_size: Histogram
    deadletters: Counter
    consumer_lag: Gauge

    def count_in(self, topic: str, n: int = 1) -> None:
        self.records_in.labels(self.service, topic).inc(n)

    def count_out(self, topic: str, n: int = 1) -> None:
        self.records_out.labels(self.service, topic).inc(n)

    def observe_batch(self, size: int) -> None:
        self.batch_size.labels(self.service).observe(size)

    def count_deadletter(self, stage: str, kind: str) -> None:
        self.deadletters.labels(self.service, stage, kind).inc()

    def observe_latency(self, stage: str, seconds: float) -> None:
        self.latency.labels(self.service, stage).observe(seconds)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Observe the block's duration under `stage`."""
        t0 = perf_counter()
        try:
            yield
        finally:
            self.observe_latency(stage, perf_counter() - t0)

    def set_lag(self, lag: Mapping[tuple[str, int], int]) -> None:
        """Set the lag gauges from `Consumer.lag()`; partitions no longer owned are dropped."""
        self.consumer_lag.clear()
        for (topic, partition), value in lag.items():
            self.consumer_lag.labels(self.service, topic, str(partition)).set(value)


def service_metrics(service: str, registry: CollectorRegistry | None = None) -> ServiceMetrics:
    """The standard metrics registered in `registry` (a new one when None, never the global one)."""
    reg = CollectorRegistry() if registry is None else registry
    return ServiceMetrics(
        service=service,
        registry=reg,
        records_in=Counter("lanewatch_records_in", "Records consumed", ["service", "topic"], registry=reg),
        records_out=Counter("lanewatch_records_out", "Records produced", ["service", "topic"], registry=reg),
        latency=Histogram("lanewatch_stage_latency_seconds", "Time per stage step", ["service", "stage"],
                          buckets=LATENCY_BUCKETS, registry=reg),
        batch_size=Histogram("lanewatch_batch_size", "Records per processed batch", ["service"],
                             buckets=BATCH_BUCKETS, registry=reg),
        deadletters=Counter("lanewatch_deadletters", "Records sent to the dead-letter topic",
                            ["service", "stage", "kind"], registry=reg),
        consumer_lag=Gauge("lanewatch_consumer_lag", "Records not yet consumed, per owned partition",
                           ["service", "topic", "partition"], registry=reg),
    )


class MetricsServer:
    """A running `/metrics` + `/healthz` endpoint; `host` and `port` are the bound ones (useful when asked for 0)."""

    def __init__(self, server: ThreadingWSGIServer, thread: threading.Thread) -> None:
        self._server, self._thread = server, thread
        self.host: str = server.server_address[0]
        self.port: int = server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):  # scrapes every few seconds would flood the service's log
        pass


def serve_metrics(registry: CollectorRegistry, *, port: int = 0, addr: str = "127.0.0.1", health: Health | None = None) -> MetricsServer:
    """Serve `registry` at `/metrics` and `health()` at `/healthz` (200 when healthy, 503 otherwise) in a thread.

    Loopback only unless `addr` says otherwise (`LANEWATCH_METRICS_HOST=0.0.0.0` for a Prometheus on another host):
    the endpoints have no authentication."""
    metrics_app = make_wsgi_app(registry)

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/healthz":
            return metrics_app(environ, start_response)
        result = True if health is None else health()
        ok, detail = result if isinstance(result, tuple) else (result, {})
        body = json.dumps({"status": "ok" if ok else "unhealthy", **detail}).encode()
        start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
        return [body]

    server = make_server(addr, port, app, ThreadingWSGIServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return MetricsServer(server, thread)
