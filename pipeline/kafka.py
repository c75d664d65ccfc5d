"""Producer and consumer for lanewatch's record form (`pipeline.messages`), over kafka-python.

A stage's loop, at-least-once (DESIGN.md section 1):

    batch = consumer.poll_batch()
    for record in batch:
        try:
            meta = record.meta()                      # BadMessage -> dead letter
            payload = record.payload(meta, store)     # claim-check resolved
            ... producer.publish(TOPIC_OUT, out, out_bytes)
        except Rejected as err:
            producer.dead_letter(record, stage="crop", reason=err.reason)
    consumer.commit(batch, after=producer)            # flush and check deliveries, then commit

`api_version` is pinned to (2, 5) (kafka-python's spelling of DESIGN.md's (2, 5, 0)). Unpinned,
kafka-python 2.2.21 probes librdkafka's mock broker with ApiVersions v4, cannot decode the answer
(logged KafkaProtocolError) and falls back to (2, 4); DESIGN.md reports a second member's JoinGroup
failing unpinned, which librdkafka 2.16 no longer shows. The pin skips the probe and sends the same
request versions to the mock and to a real broker (Apache Kafka 2.5 or newer).

TLS and SASL come from the settings, as kafka-python keywords, through one function that every
client takes:

    Producer(settings.kafka_bootstrap, **kafka_client_config(settings))
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import (
    CommitFailedError,
    InvalidRequestError,
    KafkaError,
    KafkaTimeoutError,
    RebalanceInProgressError,
)
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata

from pipeline.codec import BadPayload
from pipeline.messages import LANE_PATTERN, TOPIC_DEADLETTER, DeadLetter, Message, decode_meta, encode_meta
from pipeline.settings import CommonSettings
from pipeline.state import BlobStore

__all__ = [
    "API_VERSION", "Consumer", "DeliveryError", "Inbound", "Producer", "dead_letter", "input_letter",
    "kafka_client_config",
]

log = logging.getLogger(__name__)

API_VERSION = (2, 5)  # kafka-python normalises (2, 5, 0) to this, with a warning
MAX_RECORD_BYTES = 16 * 2**20
LEADER_SYNC_DELAY_S = 0.25
_LANE = re.compile(LANE_PATTERN)
Partition = tuple[str, int]


class _ClientConfig(dict):
    """kafka-python keywords; printed with the SASL password masked."""

    def __repr__(self) -> str:
        return repr({k: "**********" if k == "sasl_plain_password" else v for k, v in self.items()})


def kafka_client_config(settings: CommonSettings) -> dict[str, object]:
    """The security keywords of every kafka-python client, from `settings` (already checked to fit together)."""
    config = _ClientConfig(security_protocol=settings.kafka_security_protocol)
    if settings.kafka_security_protocol.startswith("SASL_"):
        config.update(sasl_mechanism=settings.kafka_sasl_mechanism, sasl_plain_username=settings.kafka_sasl_username,
                      sasl_plain_password=settings.kafka_sasl_password.get_secret_value())
    if settings.kafka_security_protocol.endswith("SSL"):
        files = {"ssl_cafile": settings.kafka_ssl_cafile, "ssl_certfile": settings.kafka_ssl_certfile,
                 "ssl_keyfile": settings.kafka_ssl_keyfile}
        config.update({k: str(v) for k, v in files.items() if v is not None})
    return config


class DeliveryError(KafkaError):
    """A produced record was not acknowledged by the broker; the batch must not be committed."""


@dataclass(frozen=True)
class Inbound:
    """One consumed record."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: tuple[tuple[str, bytes], ...]
    value: bytes
    timestamp_ms: int

    def meta(self, model: type[Message] | None = None) -> Message:
        """The validated `lw-meta` model of this record's topic (or `model`); raises BadMessage."""
        return decode_meta(self.topic, list(self.headers), model)

    def payload(self, meta: Message, blobs: BlobStore | None = None) -> bytes:
        """The payload bytes: the value, or the claim-check blob `meta.blob_key` names; raises BadPayload."""
        blob_key = getattr(meta, "blob_key", None)
        if blob_key is None:
            return self.value
        data = None if blobs is None else blobs.get_blob(blob_key)
        if data is None:
            raise BadPayload(f"claim-check blob {blob_key} is missing or expired")
        return data


def dead_letter(*, stage: str, reason: str, origin: str, partition: int, offset: int, key: str | None,
                headers: tuple[tuple[str, str], ...] = ()) -> DeadLetter:
    """The `lw-meta` of a dead letter (its value is the rejected bytes); logged as a warning."""
    log.warning("dead letter from %s: %s [%d] @%d: %s", stage, origin, partition, offset, reason)
    return DeadLetter(
        stage=stage, reason=reason[:2000] or "unspecified", topic=origin, partition=partition, offset=offset, key=key,
        lane_id=key if key and _LANE.fullmatch(key) else None, headers=headers, at=datetime.now(UTC),
    )


def input_letter(*, stage: str, reason: str, source: str, key: str | None = None) -> DeadLetter:
    """The dead letter of input that never was a Kafka record (what a scanner handed ingest): the stage, the
    reason and where it came from (``source``, e.g. ``file:bag.png``, as topic ``<stage>:<source>``);
    partition and offset are -1."""
    return dead_letter(stage=stage, reason=reason, origin=f"{stage}:{source}", partition=-1, offset=-1, key=key)


class Producer:
    """Publishes messages keyed by lane, batched by the client (linger), never flushed per record."""

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "lanewatch",
        blobs: BlobStore | None = None,
        claim_check_bytes: int | None = None,
        blob_ttl_s: int = 900,
        linger_ms: int = 5,
        **config,
    ) -> None:
        if claim_check_bytes is not None and blobs is None:
            raise ValueError("claim_check_bytes needs a blob store")
        self.blobs, self.claim_check_bytes, self.blob_ttl_s = blobs, claim_check_bytes, blob_ttl_s
        self._pending: list[FutureRecordMetadata] = []
        self._producer = KafkaProducer(**{
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
            "api_version": API_VERSION,
            "acks": "all",
            "linger_ms": linger_ms,
            "batch_size": 256 * 1024,
            "max_request_size": MAX_RECORD_BYTES,
            # retries without idempotence could reorder a lane's records; one request in flight keeps order
            "max_in_flight_requests_per_connection": 1,
            **config,
        })

    def publish(self, topic: str, message: Message, payload: bytes = b"", *, key: str | None = None) -> FutureRecordMetadata:
        """Queue one record; `key` defaults to the message's lane. Payloads over the claim-check limit go to Redis."""
        if self.claim_check_bytes is not None and len(payload) > self.claim_check_bytes and "blob_key" in type(message).model_fields:
            blob_key = self.blobs.put_blob(payload, ttl_s=self.blob_ttl_s)
            message, payload = message.model_copy(update={"blob_key": blob_key}), b""
        key = key if key is not None else getattr(message, "lane_id", None)
        future = self._producer.send(
            topic, value=payload, key=None if key is None else key.encode(), headers=encode_meta(message)
        )
        self._pending.append(future)
        return future

    def dead_letter(self, record: Inbound, *, stage: str, reason: str, topic: str = TOPIC_DEADLETTER) -> FutureRecordMetadata:
        """Publish a rejected record's original bytes to `lanewatch.deadletter` (or `topic`) with the stage and reason."""
        return self._letter(record.value, stage=stage, reason=reason, topic=topic, origin=record.topic,
                            partition=record.partition, offset=record.offset, key=record.key,
                            headers=tuple((k, (v or b"").decode("utf-8", "replace")) for k, v in record.headers))

    def reject(self, value: bytes, *, stage: str, reason: str, source: str, key: str | None = None,
               topic: str = TOPIC_DEADLETTER) -> FutureRecordMetadata:
        """Dead-letter input that never was a Kafka record (what a scanner handed ingest): see `input_letter`."""
        return self.publish(topic, input_letter(stage=stage, reason=reason, source=source, key=key), value, key=key)

    def _letter(self, value: bytes, *, stage: str, reason: str, topic: str, origin: str, partition: int, offset: int,
                key: str | None, headers: tuple[tuple[str, str], ...]) -> FutureRecordMetadata:
        letter = dead_letter(stage=stage, reason=reason, origin=origin, partition=partition, offset=offset, key=key,
                             headers=headers)
        return self.publish(topic, letter, value, key=key)

    def partitions_for(self, topic: str) -> set[int]:
        """The topic's partitions; asking creates the topic where the broker auto-creates topics."""
        return set(self._producer.partitions_for(topic))

    def flush(self, timeout_s: float | None = 30.0) -> None:
        """Send everything queued and wait for the broker; raises DeliveryError if any record failed."""
        pending, self._pending = self._pending, []
        self._producer.flush(timeout=timeout_s)
        failed = [f.exception if f.is_done else "no answer in time" for f in pending if not f.succeeded()]
        if failed:
            raise DeliveryError(f"{len(failed)} of {len(pending)} records not delivered; first: {failed[0]!r}")

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush what is queued (best effort) and close the connections."""
        self._producer.close(timeout=timeout_s)

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, on_assign: Callable[[set[Partition]], None] | None, on_revoke: Callable[[set[Partition]], None] | None):
        self._on_assign, self._on_revoke = on_assign, on_revoke

    def on_partitions_assigned(self, assigned):
        if self._on_assign:
            self._on_assign({(tp.topic, tp.partition) for tp in assigned})

    def on_partitions_revoked(self, revoked):
        if self._on_revoke:
            self._on_revoke({(tp.topic, tp.partition) for tp in revoked})


class _RangeAssignorSyncingLast(RangePartitionAssignor):
    """Kafka's range assignment, with the group leader's SyncGroup sent a moment late.

    librdkafka's mock broker ends a rebalance when the leader's SyncGroup arrives and refuses
    followers' later ones (InvalidRequest), which costs another whole rebalance. Waiting
    before answering lets followers' SyncGroups arrive first; a real broker does not care.
    """

    @classmethod
    def assign(cls, cluster, member_metadata):
        if len(member_metadata) > 1:
            time.sleep(LEADER_SYNC_DELAY_S)
        return super().assign(cluster, member_metadata)


class Consumer:
    """Batch-polling consumer with manual commits; `group_id=None` reads every partition without a group (tail mode)."""

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        *,
        group_id: str | None,
        client_id: str = "lanewatch",
        max_batch: int = 64,
        from_beginning: bool = True,
        on_assign: Callable[[set[Partition]], None] | None = None,
        on_revoke: Callable[[set[Partition]], None] | None = None,
        **config,
    ) -> None:
        self.group_id, self.max_batch = group_id, max_batch
        self._sync_failures = 0
        self._consumer = KafkaConsumer(**{
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
            "group_id": group_id,
            "api_version": API_VERSION,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest" if from_beginning else "latest",
            "max_partition_fetch_bytes": MAX_RECORD_BYTES,
            "fetch_max_bytes": 4 * MAX_RECORD_BYTES,
            "receive_message_max_bytes": 4 * MAX_RECORD_BYTES + 2**20,
            "session_timeout_ms": 10_000,
            "heartbeat_interval_ms": 1_000,
            "metrics_enabled": False,
            "partition_assignment_strategy": (_RangeAssignorSyncingLast,),
            **config,
        })
        if group_id is not None:
            self._consumer.subscribe(list(topics), listener=_Listener(on_assign, on_revoke))
        else:
            parts = self._partitions_of(bootstrap, topics, config)
            self._consumer.assign(parts)
            (self._consumer.seek_to_beginning if from_beginning else self._consumer.seek_to_end)(*parts)
            for tp in parts:  # resolve the seek now: "from the end" means from construction, not first poll
                self._consumer.position(tp)

    def poll_batch(self, timeout_ms: int = 500, max_records: int | None = None) -> list[Inbound]:
        """Up to `max_records` (default `max_batch`) records, in offset order within each partition."""
        try:
            polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records or self.max_batch)
        except InvalidRequestError:
            # a follower's SyncGroup refused by the mock broker (see _RangeAssignorSyncingLast); kafka-python
            # has already asked to rejoin, so the next poll recovers. A real broker never does this: give up
            # after a few.
            self._sync_failures += 1
            if self._sync_failures > 5:
                raise
            log.warning("group %s: SyncGroup refused (InvalidRequest), rejoining", self.group_id)
            return []
        self._sync_failures = 0
        return [
            Inbound(
                topic=r.topic, partition=r.partition, offset=r.offset,
                key=None if r.key is None else r.key.decode("utf-8", "replace"),
                headers=tuple(r.headers or ()), value=r.value or b"", timestamp_ms=r.timestamp,
            )
            for records in polled.values() for r in records
        ]

    def commit(self, batch: Sequence[Inbound], *, after: Producer | None = None) -> bool:
        """Commit past `batch`, after flushing `after` (the stage's outputs). False when a rebalance took
        the partitions first: the new owner then reprocesses them, which idempotency absorbs."""
        ends: dict[Partition, int] = {}
        for r in batch:
            ends[(r.topic, r.partition)] = max(ends.get((r.topic, r.partition), -1), r.offset + 1)
        return self.commit_offsets(ends, after=after)

    def commit_offsets(self, ends: Mapping[Partition, int], *, after: Producer | None = None) -> bool:
        """Commit `ends` (the next offset to read, per partition), after flushing `after`; False as in `commit`."""
        if after is not None:
            after.flush()
        if not ends or self.group_id is None:
            return True
        owned = self._consumer.assignment()
        offsets = {
            tp: OffsetAndMetadata(end, "", -1) for (topic, partition), end in ends.items()
            if (tp := TopicPartition(topic, partition)) in owned
        }
        if not offsets:
            return False
        try:
            # bounded: during a rebalance kafka-python retries a commit until its timeout, and only poll() ends one
            self._consumer.commit(offsets, timeout_ms=10_000)
        except (CommitFailedError, RebalanceInProgressError, KafkaTimeoutError) as err:
            log.warning("commit lost to a rebalance: %s", err)
            return False
        return len(offsets) == len(ends)

    def assignment(self) -> set[Partition]:
        """The (topic, partition) pairs this member owns now."""
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def committed(self, topic: str, partition: int) -> int | None:
        """The group's committed offset for one partition (the next record to read), or None."""
        return self._consumer.committed(TopicPartition(topic, partition))

    def lag(self) -> dict[Partition, int]:
        """Records not yet consumed per owned partition: log end offset minus this member's position."""
        owned = list(self._consumer.assignment())
        if not owned:
            return {}
        ends = self._consumer.end_offsets(owned)
        out = {}
        for tp in owned:
            position = self._consumer.position(tp, timeout_ms=1000)
            if position is not None:  # None: just assigned, no position yet; skip rather than block
                out[(tp.topic, tp.partition)] = max(0, ends[tp] - position)
        return out

    def close(self) -> None:
        """Leave the group (its partitions go to the other members at once) and close connections."""
        self._consumer.close(autocommit=False)

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _partitions_of(self, bootstrap: str, topics: Sequence[str], config: dict) -> list[TopicPartition]:
        # the consumer's metadata requests never create a topic; a producer's do (auto-create), so a
        # tail consumer started before anything was published still sees every partition
        keep = {k: v for k, v in config.items() if k.startswith(("security", "ssl", "sasl"))}
        probe = KafkaProducer(bootstrap_servers=bootstrap, api_version=API_VERSION, max_block_ms=10_000, **keep)
        try:
            return [TopicPartition(t, p) for t in topics for p in sorted(probe.partitions_for(t))]
        finally:
            probe.close(timeout=1)
