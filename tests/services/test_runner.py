"""The shared service loop on in-memory stand-ins for the broker: batches, dead letters, commits, hold-backs,
rebalances, draining on stop; and the structured log lines."""

import io
import json
import logging

import pytest
from pydantic import SecretStr

from pipeline.kafka import Inbound
from pipeline.messages import Message, Rejected
from pipeline.metrics import service_metrics
from services.runner import (
    DEADLETTER_VALUE_BYTES,
    Out,
    Runner,
    ServiceSettings,
    Stage,
    Topics,
    configure_logging,
    each_record,
    event,
)
from services.tools.stack import resolve_endpoints


class FakeConsumer:
    def __init__(self, records, **hooks):
        self.records, self.hooks, self.commits, self.closed = list(records), hooks, [], False
        self.polls = []

    def poll_batch(self, timeout_ms=500, max_records=None):
        self.polls.append(max_records)
        batch, self.records = self.records[:max_records], self.records[max_records:]
        return batch

    def commit_offsets(self, ends, *, after=None):
        self.commits.append(dict(ends))
        return True

    def lag(self):
        return {}

    def close(self):
        self.closed = True


class FakeProducer:
    def __init__(self):
        self.published, self.letters, self.flushes, self.closed, self.keys = [], [], 0, False, []

    def publish(self, topic, message, payload=b"", *, key=None):
        self.published.append((topic, message))
        self.keys.append(key)

    def dead_letter(self, record, *, stage, reason, topic):
        self.letters.append((record, stage, reason, topic))

    def flush(self):
        self.flushes += 1

    def close(self):
        self.closed = True


def _rec(offset, value=b"ok", partition=0):
    return Inbound(topic="in", partition=partition, offset=offset, key="lane-1", headers=(), value=value, timestamp_ms=0)


class Echo(Stage):
    name, inputs = "echo", {"in": Message}

    def __init__(self):
        self.batches, self.hold = [], {}

    def handle(self, batch):
        self.batches.append([r.offset for r in batch])
        return each_record(batch, self._one)

    def _one(self, record):
        if record.value.startswith(b"bad"):
            raise Rejected("bad value")
        if record.value == b"boom":
            raise ZeroDivisionError("boom")
        return [Out("out", None)]

    def held(self):
        return self.hold


def _runner(records, stage=None, **settings):
    consumers = []

    def factory(**hooks):
        consumers.append(FakeConsumer(records, **hooks))
        return consumers[0]

    stage = stage or Echo()
    cfg = ServiceSettings(**{"max_batch": 3, "max_delay_ms": 0, **settings})
    runner = Runner(stage, consumer_factory=factory, producer=FakeProducer(), metrics=service_metrics(stage.name),
                    settings=cfg, topics=Topics())
    return runner, consumers[0], runner.producer, stage


def test_batches_outputs_dead_letters_and_commits_after_the_flush():
    big = b"bad" + bytes(DEADLETTER_VALUE_BYTES + 10)
    runner, consumer, producer, stage = _runner([_rec(0), _rec(1, b"bad1"), _rec(2, b"boom"), _rec(3), _rec(4, big)])
    runner.turn()
    runner.turn()
    assert stage.batches == [[0, 1, 2], [3, 4]]
    assert len(producer.published) == 2
    (r1, s1, why1, t1), (r2, _, why2, _), (r4, _, why4, _) = producer.letters
    assert (r1.offset, s1, why1, t1) == (1, "echo", "bad value", "lanewatch.deadletter")
    assert r2.offset == 2 and why2 == "ZeroDivisionError: boom"  # an unexpected error costs the record, not the service
    assert len(r4.value) == DEADLETTER_VALUE_BYTES and "keeps the first" in why4
    assert consumer.commits == [{("in", 0): 3}, {("in", 0): 5}] and producer.flushes == 2


def test_commits_stop_short_of_what_the_stage_still_holds():
    runner, consumer, _, stage = _runner([_rec(0), _rec(1), _rec(2, partition=1)])
    stage.hold = {("in", 0): 1}  # record 1 of partition 0 is needed until its scan completes
    runner.turn()
    assert consumer.commits == [{("in", 0): 1, ("in", 1): 3}]
    runner.turn()  # nothing new, nothing released: no commit
    assert len(consumer.commits) == 1
    stage.hold = {}
    runner.turn()
    assert consumer.commits[-1] == {("in", 0): 2}


def test_a_rebalance_drops_queued_records_of_revoked_partitions():
    runner, consumer, _, stage = _runner([_rec(0), _rec(1, partition=1)], max_delay_ms=60_000)
    consumer.hooks["on_assign"]({("in", 0), ("in", 1)})
    runner.turn()  # both queued, waiting for company
    runner._processed[("in", 1)] = 1
    consumer.hooks["on_revoke"]({("in", 1)})  # the next owner starts at the committed offset: ours are void
    assert runner.assigned == {("in", 0)} and ("in", 1) not in runner._processed
    assert [[(r.partition, r.offset) for r in b] for b in runner.batcher.flush()] == [[(0, 0)]]
    assert runner.health()[1]["partitions"] == 1


def test_stop_drains_what_is_queued_commits_and_closes():
    runner, consumer, producer, stage = _runner([_rec(0), _rec(1)], max_delay_ms=60_000)
    stop = runner.stop
    runner.turn()  # polled, but the batch waits for company
    assert stage.batches == [] and len(runner.batcher) == 2
    stop.set()
    runner.run()
    assert stage.batches == [[0, 1]] and consumer.commits[-1] == {("in", 0): 2}
    assert consumer.closed and producer.closed


class Countdown(Stage):
    """A source: sends `n` records, one per tick, and logs which were on the broker when told so."""

    name = "countdown"

    def __init__(self, producer, n):
        self.producer, self.left, self.sent, self.confirmed = producer, n, 0, []

    def tick(self, now):
        if self.left == 0:
            return []
        self.left -= 1
        self.sent += 1
        return [Out("raw", None, b"x", key=f"lane-{self.sent}")]

    def flushed(self):
        self.confirmed.append((self.sent, self.producer.flushes))

    def wait_s(self, now):
        return 0.0

    def finished(self):
        return self.left == 0


def test_a_source_stage_runs_without_a_consumer_and_hears_of_each_flush():
    producer = FakeProducer()
    stage = Countdown(producer, 3)

    def no_consumer(**hooks):
        raise AssertionError("a source consumes nothing")

    runner = Runner(stage, consumer_factory=no_consumer, producer=producer, metrics=service_metrics("countdown"),
                    settings=ServiceSettings(), topics=Topics())
    runner.run()  # ends on its own once the source is finished
    assert [t for t, _ in producer.published] == ["raw"] * 3 and producer.keys == ["lane-1", "lane-2", "lane-3"]
    # every record sent was flushed before the stage heard of it: (records sent, flushes so far) per notice
    assert stage.confirmed[:3] == [(1, 1), (2, 2), (3, 3)]
    assert producer.closed and runner.health()[1]["partitions"] == 0


def test_topic_prefix_names_every_topic():
    t = Topics.prefixed("site-a")
    assert (t.raw, t.deadletter) == ("site-a.lanewatch.scans.raw", "site-a.lanewatch.deadletter")
    assert Topics.prefixed("") == Topics()


def test_endpoints_come_from_the_environment_or_a_running_stack(tmp_path):
    configured = ServiceSettings(kafka_bootstrap="k:9092", redis_url=SecretStr("redis://r:6379/0"))
    assert resolve_endpoints(configured, state=tmp_path / "none.json") is configured
    with pytest.raises(ValueError, match="lanewatch stack up"):
        resolve_endpoints(ServiceSettings(kafka_bootstrap=None, redis_url=None), state=tmp_path / "none.json")


def test_logs_are_json_lines_with_fields():
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("alert", stream=stream)
        event(logging.getLogger("services.alert"), "outcome", scan_id="s-1", latency_ms=12.5)
        try:
            raise ValueError("x")
        except ValueError:
            logging.getLogger("t").exception("failed")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines()[:2])
    assert first["service"] == "alert" and first["msg"] == "outcome" and first["scan_id"] == "s-1" and first["level"] == "info"
    assert second["level"] == "error" and "ValueError" in second["exc"]
