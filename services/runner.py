"""The loop every consuming service shares: consume -> stage core -> produce -> commit.

    stage = AlertStage(...)                              # what the service does with a batch of records
    serve(stage, settings)                               # metrics, health, signals, logs, the loop

One turn of the loop: poll up to what the dynamic batcher has room for, queue the records, and for every
batch that is due (full, or its oldest record waited `max_delay_ms`) let the stage turn each record into
outputs or a rejection; publish the outputs, dead-letter the rejections, flush, and only then commit
(at-least-once, DESIGN.md section 1). A stage that holds records across batches (alert waits for all of a
scan's regions) says which offsets it still needs (`Stage.held`), and commits stop short of them.

Rejections never stop a service: `Rejected` (and any unexpected error a record causes) sends that
record to the dead-letter topic with the reason. Infrastructure errors (Kafka, Redis) end the loop
without committing; whoever restarts the process gets the uncommitted records again.

SIGTERM or SIGINT end the loop gracefully: what is queued is processed and committed, the consumer
leaves its group (its partitions move to the other members at once), the producer is flushed.
Logs are JSON lines on stderr: {"ts", "level", "service", "logger", "msg", ...fields}.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis
from kafka.errors import KafkaError
from pydantic import Field

from pipeline.batcher import DynamicBatcher
from pipeline.kafka import Consumer, Inbound, Producer, kafka_client_config
from pipeline.messages import (
    TOPIC_ACKS,
    TOPIC_ALERTS,
    TOPIC_CROPPED,
    TOPIC_DEADLETTER,
    TOPIC_DETECTIONS,
    TOPIC_RAW,
    Message,
    Rejected,
)
from pipeline.metrics import MetricsServer, ServiceMetrics, serve_metrics, service_metrics
from pipeline.reach import Unreachable, check_kafka, check_redis
from pipeline.settings import CommonSettings
from pipeline.state import BlobStore, RedisLaneStateStore

__all__ = [
    "INFRASTRUCTURE_ERRORS", "Envelope", "Out", "Result", "Runner", "ServiceSettings", "Stage", "Topics", "configure_logging",
    "each_record", "event", "guarded", "install_signal_handlers", "serve",
]

log = logging.getLogger(__name__)
Partition = tuple[str, int]
# errors that say the broker or Redis is unwell, not the record: never dead-letter a record for these
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (KafkaError, redis.ConnectionError, redis.TimeoutError)
DEADLETTER_VALUE_BYTES = 512 * 1024  # an oversized record's bytes are cut to this in its dead letter
S = TypeVar("S", bound=CommonSettings)


class ServiceSettings(CommonSettings):
    """What every consuming service adds to the common settings: its group, batching and topic names."""

    group_id: str | None = Field(None, description="consumer group; default lanewatch-<service>")
    topic_prefix: str = Field("", description="prefix for every topic name (several pipelines on one cluster)")
    max_batch: int = Field(16, ge=1, le=1024, description="records per batch")
    max_delay_ms: float = Field(0.0, ge=0, description="longest a record waits for a batch to fill")
    poll_ms: int = Field(200, ge=1, description="longest one poll blocks")
    session_timeout_ms: int = Field(10_000, ge=1000, description="a member silent this long leaves the group")
    heartbeat_interval_ms: int = Field(1_000, ge=100)
    # librdkafka's mock broker appears to answer an empty fetch only when this runs out, even if records arrive
    # meanwhile (a real broker answers at once). Measured with `lanewatch demo` (2 lanes, 320x240): capture-to-
    # outcome p50 890 ms at kafka-python's 500 ms default, 134 ms at 50. Idle, 50 ms costs ~20 small requests/s.
    fetch_max_wait_ms: int = Field(50, ge=1, le=500, description="longest the broker holds a fetch that found nothing")
    lag_interval_s: float = Field(5.0, gt=0, description="how often consumer lag is measured")
    stall_s: float = Field(60.0, gt=0, description="/healthz fails when the loop has not turned for this long")
    stop_timeout_s: float = Field(10.0, gt=0, description="SIGTERM ends the service within this long whatever the broker "
                                                          "is doing; what was not flushed and committed by then comes "
                                                          "again to the partitions' next owner")


@dataclass(frozen=True)
class Topics:
    """The topic names a pipeline uses; `prefixed("site-a")` keeps several pipelines apart on one cluster."""

    raw: str = TOPIC_RAW
    cropped: str = TOPIC_CROPPED
    detections: str = TOPIC_DETECTIONS
    alerts: str = TOPIC_ALERTS
    acks: str = TOPIC_ACKS
    deadletter: str = TOPIC_DEADLETTER

    @classmethod
    def prefixed(cls, prefix: str) -> Topics:
        if not prefix:
            return cls()
        return cls(**{k: f"{prefix}.{v}" for k, v in cls().__dict__.items()})


@dataclass(frozen=True)
class Out:
    """One record a stage wants published: the topic, its `lw-meta` model, the payload bytes."""

    topic: str
    message: Message
    payload: bytes = b""
    key: str | None = None  # default: the message's lane


Result = Sequence[Out] | Rejected  # what became of one consumed record


@dataclass(frozen=True)
class Envelope:
    """A consumed record, opened: its validated `lw-meta` model and its payload (a claim-check resolved)."""

    record: Inbound
    meta: Message
    payload: bytes


class Stage:
    """What a service does between the records it consumes and the records it publishes.

    A subclass sets `name`, `inputs` (each consumed topic and the message model it carries) and the
    `store` claim-checked payloads are fetched from, and implements `process`, which sees records
    already opened. `handle`, what the runner calls, owns the envelope: it validates each record's
    `lw-meta` header against its topic's model and fetches its payload, and a record that fails either,
    or that breaks the stage, gets a `Rejected` result (the runner dead-letters it) instead of
    stopping the batch. ``names`` (set by subclasses) are the pipeline's topics, for what they publish.

    A stage that consumes nothing (no `inputs`: ingest) is a source: the runner starts no consumer, waits
    `wait_s` between turns and publishes what `tick` returns, tells it `flushed` once the broker has those
    records, and stops when it is `finished`.
    """

    name: str = "stage"
    inputs: Mapping[str, type[Message]] = {}
    store: BlobStore | None = None
    metrics: ServiceMetrics | None = None  # set by the runner before the first batch

    def handle(self, batch: Sequence[Inbound]) -> list[Result]:
        """One result per record of `batch`, in order."""
        results: list[Result | None] = [None] * len(batch)
        opened = guarded(batch, self.open, results)
        if opened:
            index = [i for i, r in enumerate(results) if r is None]
            for i, result in zip(index, self.process(opened), strict=True):
                results[i] = result
        return results  # type: ignore[return-value]

    def open(self, record: Inbound) -> Envelope:
        """The record's model (by its topic) and payload; `Rejected` when either is bad."""
        model = self.inputs.get(record.topic)
        if model is None:
            raise Rejected(f"stage {self.name} does not consume {record.topic!r}")
        meta = record.meta(model)
        return Envelope(record, meta, record.payload(meta, self.store))

    def process(self, batch: Sequence[Envelope]) -> list[Result]:
        """One result per opened record, in order."""
        raise NotImplementedError

    def tick(self, now: float) -> list[Out]:
        """Periodic work between batches (e.g. time-outs); outputs to publish."""
        return []

    def held(self) -> Mapping[Partition, int]:
        """Per partition, the lowest offset this stage still needs: commits stop before it."""
        return {}

    def wait_s(self, now: float) -> float:
        """A source: how long until `tick` has something to publish (the runner waits at most `poll_ms`)."""
        return float("inf")

    def flushed(self) -> None:
        """Everything published so far is on the broker (e.g. a source moves the files it sent)."""

    def finished(self) -> bool:
        """A source with nothing more to send (the runner drains and stops)."""
        return False

    def revoked(self, partitions: set[Partition]) -> None:
        """A rebalance took `partitions`: forget what is held from them (their records will come again)."""

    def health(self) -> tuple[bool, dict[str, Any]]:
        return True, {}

    def close(self) -> None:
        pass


def guarded(batch: Sequence[Any], fn: Callable[[Any], Any], results: list) -> list:
    """``fn`` of each item whose result slot is free; a `Rejected`, or an unexpected error that is not the
    infrastructure's, fills the item's slot instead of stopping the batch. Returns the successful values."""
    done = []
    for i, item in enumerate(batch):
        if results[i] is not None:
            continue
        try:
            done.append(fn(item))
        except Rejected as err:
            results[i] = err
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as err:  # a record that breaks the stage must not break the service
            record = getattr(item, "record", item)
            log.exception("record %s[%d]@%d failed", record.topic, record.partition, record.offset)
            results[i] = Rejected(f"{type(err).__name__}: {err}")
    return done


def each_record(batch: Sequence[Envelope], fn: Callable[[Envelope], Sequence[Out]]) -> list[Result]:
    """`fn` per opened record; a record it rejects, or that breaks it, gets that as its result."""
    results: list[Result | None] = [None] * len(batch)
    outs = iter(guarded(batch, fn, results))
    return [next(outs) if r is None else r for r in results]


class Runner:
    """The loop around one stage, one consumer and one producer."""

    def __init__(
        self,
        stage: Stage,
        *,
        consumer_factory: Callable[..., Consumer],
        producer: Producer,
        metrics: ServiceMetrics,
        settings: ServiceSettings,
        topics: Topics,
        stop: threading.Event | None = None,
    ) -> None:
        self.stage, self.producer, self.metrics, self.settings, self.names = stage, producer, metrics, settings, topics
        self.stop = stop or threading.Event()
        stage.metrics = metrics
        self.batcher: DynamicBatcher[Inbound] = DynamicBatcher(settings.max_batch, settings.max_delay_ms / 1000)
        self._processed: dict[Partition, int] = {}  # next offset after what was processed, per partition
        self._committed: dict[Partition, int] = {}
        self.last_turn = time.monotonic()
        self._last_lag = 0.0
        self.assigned: frozenset[Partition] = frozenset()  # kept from the rebalance callbacks: /healthz reads it
        # a source (no inputs) consumes nothing
        self.consumer = consumer_factory(on_assign=self._on_assign, on_revoke=self._on_revoke) if stage.inputs else None

    def run(self) -> None:
        """Turn until `stop` is set, then drain what is queued, commit and close."""
        try:
            while not self.stop.is_set() and not self.stage.finished():
                self.turn()
            for batch in self.batcher.flush():
                self._process(batch)
            self._commit()
            event(log, "stopped", drained=True)
        finally:
            if self.consumer is not None:
                self.consumer.close()
            self.producer.close()
            self.stage.close()

    def turn(self) -> None:
        """One poll, the batches due, the stage's periodic work, and a commit when anything moved."""
        self.last_turn = now = time.monotonic()
        wait = self.batcher.wait_s(now)
        timeout_ms = self.settings.poll_ms if wait is None else min(self.settings.poll_ms, wait * 1000)
        if self.consumer is None:  # a source: sleep until it has something to send
            self.stop.wait(max(0.0, min(timeout_ms / 1000, self.stage.wait_s(now))))
        elif self.batcher.room() > 0:
            with self.metrics.timed("poll"):
                polled = self.consumer.poll_batch(timeout_ms=max(1, int(timeout_ms)), max_records=self.batcher.room())
            arrived = time.monotonic()
            for r in polled:
                self.batcher.add(r, arrived)
                self.metrics.count_in(r.topic)
        moved = False
        for batch in self.batcher.ready(time.monotonic()):
            self._process(batch)
            moved = True
        extra = self.stage.tick(time.monotonic())
        if extra:
            self._publish(extra)
            moved = True
        self._commit(flush=moved)  # also when only the stage's hold moved (a waiting scan timed out clear)
        if self.consumer is not None and time.monotonic() - self._last_lag > self.settings.lag_interval_s:
            self._last_lag = time.monotonic()
            self.metrics.set_lag(self.consumer.lag())

    def _process(self, batch: list[Inbound]) -> None:
        self.metrics.observe_batch(len(batch))
        with self.metrics.timed("handle"):
            results = self.stage.handle(batch)
        if len(results) != len(batch):
            raise RuntimeError(f"stage {self.stage.name} gave {len(results)} results for {len(batch)} records")
        for record, result in zip(batch, results):
            if isinstance(result, Rejected):
                self._dead_letter(record, result)
            else:
                self._publish(result)
            key = (record.topic, record.partition)
            self._processed[key] = max(self._processed.get(key, 0), record.offset + 1)

    def _publish(self, outs: Iterable[Out]) -> None:
        for out in outs:
            self.producer.publish(out.topic, out.message, out.payload, key=out.key)
            self.metrics.count_out(out.topic)

    def _dead_letter(self, record: Inbound, err: Rejected) -> None:
        reason = err.reason
        if len(record.value) > DEADLETTER_VALUE_BYTES:  # the whole of an oversized record would not fit either
            reason = f"{reason} (dead letter keeps the first {DEADLETTER_VALUE_BYTES} of {len(record.value)} bytes)"
            record = replace(record, value=record.value[:DEADLETTER_VALUE_BYTES])
        self.producer.dead_letter(record, stage=self.stage.name, reason=reason, topic=self.names.deadletter)
        self.metrics.count_deadletter(self.stage.name, type(err).__name__)
        self.metrics.count_out(self.names.deadletter)

    def _commit(self, *, flush: bool = True) -> None:
        """Flush the outputs, then commit what was processed and is not held; nothing to do: nothing done."""
        held = self.stage.held()
        ends = {p: min(end, held.get(p, end)) for p, end in self._processed.items()}
        ends = {p: end for p, end in ends.items() if end > self._committed.get(p, -1)}
        if not ends and not flush:
            return
        with self.metrics.timed("commit"):
            self.producer.flush()  # outputs first, always: a commit must never run ahead of them
            self.stage.flushed()
            if ends and self.consumer is not None and self.consumer.commit_offsets(ends):
                self._committed.update(ends)

    def _on_assign(self, partitions: set[Partition]) -> None:
        self.assigned = frozenset(partitions)
        event(log, "partitions assigned", partitions=sorted(f"{t}[{p}]" for t, p in partitions))

    def _on_revoke(self, partitions: set[Partition]) -> None:
        # what we queued or held from these partitions is the next owner's now: it starts at the committed offset
        dropped = self.batcher.drop(lambda r: (r.topic, r.partition) in partitions)
        self.stage.revoked(partitions)
        self.assigned = self.assigned - partitions
        for p in partitions:
            self._processed.pop(p, None)
            self._committed.pop(p, None)
        if partitions:  # kafka-python also calls this with nothing before a member's first join
            event(log, "partitions revoked", partitions=sorted(f"{t}[{p}]" for t, p in partitions), dropped=len(dropped))

    def health(self) -> tuple[bool, dict[str, Any]]:
        """/healthz: the loop turns and the stage's dependencies answer."""
        age = time.monotonic() - self.last_turn
        ok, detail = self.stage.health()
        return ok and age < self.settings.stall_s, {
            "service": self.stage.name, "loop_age_s": round(age, 3), "queued": len(self.batcher),
            "partitions": len(self.assigned), **detail,
        }


# ---- wiring: settings -> store, producer, consumer, metrics, signals -------------------------------------


def serve(
    make_stage: Callable[[RedisLaneStateStore, Topics], Stage],
    settings: ServiceSettings,
    *,
    stop: threading.Event | None = None,
    ready: Callable[[Runner, MetricsServer], None] | None = None,
) -> int:
    """Run one service until SIGTERM/SIGINT (or `stop`); returns the exit code."""
    stop = stop or threading.Event()
    install_signal_handlers(stop, deadline_s=settings.stop_timeout_s)
    if settings.kafka_bootstrap is None or settings.redis_url is None:
        raise ValueError("LANEWATCH_KAFKA_BOOTSTRAP and LANEWATCH_REDIS_URL must be set (or use `lanewatch stack up`)")
    try:  # before joining a group or taking partitions: a wrong address is one line and an exit, not minutes of retries
        check_kafka(settings.kafka_bootstrap, config=kafka_client_config(settings))
        check_redis(settings.redis_url.get_secret_value())
    except Unreachable as err:
        event(log, "cannot start", level=logging.ERROR, reason=str(err))
        return 1
    topics = Topics.prefixed(settings.topic_prefix)
    store = RedisLaneStateStore.from_url(settings.redis_url.get_secret_value(), namespace=settings.redis_namespace)
    stage = make_stage(store, topics)
    metrics = service_metrics(stage.name)
    producer = Producer(
        settings.kafka_bootstrap, client_id=f"{settings.client_id}-{stage.name}", blobs=store,
        claim_check_bytes=settings.claim_check_bytes or None, blob_ttl_s=settings.blob_ttl_s,
        **kafka_client_config(settings),
    )
    for topic in (*stage.inputs, topics.deadletter):  # a group subscribed to a topic that does not exist yet waits minutes
        _ensure_topic(producer, topic)
    group = settings.group_id or f"lanewatch-{stage.name}"

    def consumer_factory(**hooks) -> Consumer:
        return Consumer(
            settings.kafka_bootstrap, list(stage.inputs), group_id=group, client_id=f"{settings.client_id}-{stage.name}",
            max_batch=settings.max_batch, session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms, fetch_max_wait_ms=settings.fetch_max_wait_ms,
            **kafka_client_config(settings), **hooks,
        )

    runner = Runner(stage, consumer_factory=consumer_factory, producer=producer, metrics=metrics, settings=settings,
                    topics=topics, stop=stop)
    server = serve_metrics(metrics.registry, port=settings.metrics_port, addr=settings.metrics_host,
                           health=lambda: _combined(runner.health, store))
    event(log, "started", group=group, topics=list(stage.inputs), metrics_port=server.port,
          kafka=settings.kafka_bootstrap, redis=settings.redis_url_for_logs)
    if ready is not None:
        ready(runner, server)
    try:
        runner.run()
    except Exception as err:  # logged like everything else (one JSON line with the traceback), then exit 1
        log.error("crashed", exc_info=True, extra={"fields": {"error": f"{type(err).__name__}: {err}"}})
        return 1
    finally:
        server.close()
        store.close()
    return 0


def _combined(runner_health: Callable[[], tuple[bool, dict]], store: RedisLaneStateStore) -> tuple[bool, dict]:
    ok, detail = runner_health()
    redis_ok = store.ping()
    return ok and redis_ok, {**detail, "redis": redis_ok}


def _ensure_topic(producer: Producer, topic: str) -> None:
    try:
        producer.partitions_for(topic)
    except KafkaError as err:  # a broker without auto-creation: the topic must be created by whoever runs it
        log.warning("topic %s not available yet: %s", topic, err)


def install_signal_handlers(stop: threading.Event, *, deadline_s: float | None = None) -> None:
    """SIGTERM and SIGINT set `stop` (a second SIGINT interrupts at once); only from the main thread.

    `deadline_s`: the process ends that long after the first signal even if the drain is stuck (a broker gone
    away holds a flush or a commit for its full timeout, then retries): it logs `stop timed out` and exits 1.
    Nothing is lost by it: an output not flushed was not committed either, so its input comes again, and the
    dedup keys and the alert outbox keep that to one outcome and one alert."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_signal(signum, frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        first = not stop.is_set()
        event(log, "stopping", signal=signal.Signals(signum).name)
        stop.set()
        if first and deadline_s is not None:
            threading.Thread(target=_exit_after, args=(deadline_s,), name="stop-deadline", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _exit_after(deadline_s: float) -> None:
    time.sleep(deadline_s)
    event(log, "stop timed out", level=logging.ERROR, after_s=deadline_s,
          reason="the drain did not finish (broker or Redis unreachable?); uncommitted input comes again on restart")
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(1)


# ---- structured logs ----------------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `event(...)` fields are merged in."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "service": self.service, "logger": record.name,
            "msg": record.getMessage(), **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO", stream=None) -> None:
    """JSON lines on stderr (or `stream`) for the whole process; kafka-python's chatter above WARNING only."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("kafka").setLevel(logging.WARNING)


def event(logger: logging.Logger, msg: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log `msg` with structured `fields` (JSON keys in the log line)."""
    logger.log(level, msg, extra={"fields": fields})

