"""Producer and Consumer against the embedded broker (librdkafka's mock cluster, real Kafka protocol).

Also checks what DESIGN.md section 6 says about that broker: topics auto-create with 4
partitions, 2.5 MB records pass, a two-member group rebalances with the api_version pin.
"""

import threading
import time
from datetime import UTC, datetime

import pytest

from pipeline.codec import BadPayload
from pipeline.kafka import Consumer, Inbound, Producer
from pipeline.messages import TOPIC_DEADLETTER, BadMessage, DeadLetter, RawScan, make_scan_id

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)
# a rebalance on librdkafka's mock waits session_timeout - 1 s (a first join 3 s): keep them short here
FAST_GROUP = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 300}


def _scan(lane, seq, **kw):
    return RawScan(scan_id=make_scan_id(lane, seq, NOW), lane_id=lane, scanner_id="s1", captured_at=NOW, seq=seq,
                   format="rgb-png", width=64, height=48, **kw)


def _drain(consumer, n, timeout_s=15.0):
    got, deadline = [], time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        got += consumer.poll_batch(timeout_ms=200)
    return got


def test_topics_auto_create_with_four_partitions_and_lane_order_holds(stack, unique):
    lanes = [f"lane-{i}" for i in range(8)]
    # a tail consumer of a topic nobody has written yet: the topic comes into being with 4 partitions
    with Consumer(stack.kafka_bootstrap, [unique], group_id=None, from_beginning=False) as c:
        assert c.assignment() == {(unique, p) for p in range(4)}
        with Producer(stack.kafka_bootstrap) as p:
            for seq in range(15):
                for lane in lanes:
                    p.publish(unique, _scan(lane, seq), f"{lane}/{seq}".encode())
            p.flush()
        records = _drain(c, 120)
    assert len(records) == 120
    by_lane = {}
    for r in records:
        meta = r.meta(RawScan)
        assert r.key == meta.lane_id and r.value == f"{meta.lane_id}/{meta.seq}".encode()
        by_lane.setdefault(r.key, []).append((r.partition, meta.seq))
    assert len({part for seqs in by_lane.values() for part, _ in seqs}) > 1  # lanes spread over partitions
    for lane, seen in by_lane.items():
        assert len({part for part, _ in seen}) == 1, f"{lane} split across partitions"
        assert [seq for _, seq in seen] == list(range(15)), f"{lane} out of order"


def test_large_records_pass_but_the_mock_keeps_only_5_mib_per_partition(stack, unique):
    big = bytes(range(256)) * (2_500_000 // 256 + 1)
    with Producer(stack.kafka_bootstrap) as p:
        for seq in range(4):
            p.publish(unique, _scan("lane-big", seq), big)
            p.flush()  # one record per produce request: the mock trims whole message sets
    with Consumer(stack.kafka_bootstrap, [unique], group_id=None) as c:
        records = _drain(c, 2)
        time.sleep(0.3)
        records += c.poll_batch(timeout_ms=300)
    assert [r.value == big for r in records] == [True, True]
    # librdkafka's mock broker drops the oldest message sets beyond 5 MiB (or 100k) per partition:
    # the first two 2.5 MB records are gone. Hence the claim-check limit (CommonSettings.claim_check_bytes).
    assert [r.offset for r in records] == [2, 3]


def test_commit_after_produce_and_restart_from_the_committed_offset(stack, unique):
    source, out = f"{unique}-in", f"{unique}-out"
    with Producer(stack.kafka_bootstrap) as p:
        for seq in range(10):
            p.publish(source, _scan("lane-c", seq))
        p.flush()
    group = f"{unique}-g"
    producer = Producer(stack.kafka_bootstrap)
    a = Consumer(stack.kafka_bootstrap, [source], group_id=group, max_batch=4, **FAST_GROUP)
    batch = _drain(a, 1)
    batch += a.poll_batch(timeout_ms=200, max_records=4 - len(batch)) if len(batch) < 4 else []
    assert [r.offset for r in batch] == [0, 1, 2, 3]
    partition = batch[0].partition
    assert a.lag() == {(source, partition): 6, **{(source, q): 0 for q in range(4) if q != partition}}
    for r in batch:
        producer.publish(out, r.meta(RawScan))
    assert a.commit(batch, after=producer)  # outputs flushed first, then offsets
    assert a.committed(source, partition) == 4
    assert len(a.poll_batch(timeout_ms=1000)) == 4  # processed but never committed: a crash here...
    a.close()
    producer.close()

    with Consumer(stack.kafka_bootstrap, [out], group_id=None) as tail:
        assert [r.meta(RawScan).seq for r in _drain(tail, 4)] == [0, 1, 2, 3]
    with Consumer(stack.kafka_bootstrap, [source], group_id=group, **FAST_GROUP) as b:
        redelivered = _drain(b, 6)
    # ...means the next member starts at the committed offset: 4..7 come again, nothing is lost
    assert [r.offset for r in redelivered] == [4, 5, 6, 7, 8, 9]


class _Member(threading.Thread):
    """A group member polling in its own thread, as a service process would."""

    def __init__(self, bootstrap, topic, group):
        super().__init__(daemon=True)
        self.consumer = Consumer(bootstrap, [topic], group_id=group, **FAST_GROUP)
        self.owned, self.stop = set(), threading.Event()
        self.start()

    def run(self):
        while not self.stop.is_set():
            self.consumer.poll_batch(timeout_ms=100)
            self.owned = self.consumer.assignment()
        self.consumer.close()

    def leave(self):
        self.stop.set()
        self.join(10)


def _until(predicate, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_two_members_split_partitions_and_the_survivor_takes_all(stack, unique):
    with Producer(stack.kafka_bootstrap) as p:
        for i in range(8):
            p.publish(unique, _scan(f"lane-{i}", 0))
        p.flush()
    everything = {(unique, p) for p in range(4)}
    first = _Member(stack.kafka_bootstrap, unique, f"{unique}-g")
    try:
        _until(lambda: first.owned == everything)
        second = _Member(stack.kafka_bootstrap, unique, f"{unique}-g")
        try:
            _until(lambda: len(first.owned) == len(second.owned) == 2)
            assert first.owned | second.owned == everything
        finally:
            second.leave()  # leaves the group: its partitions move at the next rebalance
        _until(lambda: first.owned == everything)
    finally:
        first.leave()


def test_dead_letter_carries_original_bytes_reason_and_origin(stack, unique):
    bad = Inbound(topic=unique, partition=1, offset=41, key="lane-dl", headers=(("lw-meta", b'{"schema_version": 9}'),),
                  value=b"\x89PNG-not-really", timestamp_ms=0)
    with pytest.raises(BadMessage) as err:
        bad.meta(RawScan)
    with Producer(stack.kafka_bootstrap) as p:
        p.dead_letter(bad, stage="crop", reason=err.value.reason)
        p.flush()
    with Consumer(stack.kafka_bootstrap, [TOPIC_DEADLETTER], group_id=None) as c:
        letters = [r for r in _drain(c, 1) if r.meta().topic == unique]
    assert len(letters) == 1
    record, letter = letters[0], letters[0].meta()
    assert isinstance(letter, DeadLetter) and record.value == bad.value and record.key == "lane-dl"
    assert (letter.stage, letter.partition, letter.offset, letter.lane_id) == ("crop", 1, 41, "lane-dl")
    assert "schema_version" in letter.reason and letter.headers == (("lw-meta", '{"schema_version": 9}'),)


def test_claim_check_moves_large_payloads_to_redis(stack, store, unique):
    small, large = b"s" * 100, b"L" * 5000
    with Producer(stack.kafka_bootstrap, blobs=store, claim_check_bytes=1000, blob_ttl_s=60) as p:
        p.publish(unique, _scan("lane-cc", 0), small)
        p.publish(unique, _scan("lane-cc", 1), large)
        p.flush()
    with Consumer(stack.kafka_bootstrap, [unique], group_id=None) as c:
        inline, claimed = _drain(c, 2)
    meta_inline, meta_claimed = inline.meta(RawScan), claimed.meta(RawScan)
    assert meta_inline.blob_key is None and inline.payload(meta_inline) == small
    assert claimed.value == b"" and meta_claimed.blob_key
    assert claimed.payload(meta_claimed, store) == large
    store.client.delete(f"lw:blob:{meta_claimed.blob_key}")  # as if its TTL ran out
    with pytest.raises(BadPayload, match="missing or expired"):
        claimed.payload(meta_claimed, store)
