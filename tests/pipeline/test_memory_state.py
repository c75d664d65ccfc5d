"""The in-memory LaneStateStore keeps the Redis store's contract, so stage tests can run without Redis."""

from datetime import UTC, datetime

import pytest

from pipeline.messages import make_scan_id
from pipeline.state import MemoryLaneStateStore
from tests.pipeline.state_contract import CHECKS


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_contract(check):
    check(MemoryLaneStateStore())


def test_scan_images_expire_unless_kept():
    now = [1000.0]
    store = MemoryLaneStateStore(clock=lambda: now[0])
    store.put_scan_image("s-kept", "top", b"top", ttl_s=60)
    store.put_scan_image("s-kept", "side", b"side", ttl_s=60)
    store.put_scan_image("s-pending", "top", b"other", ttl_s=60)
    now[0] += 59
    assert store.scan_image("s-kept") == b"top" and store.keep_scan("s-kept", ttl_s=3600) == 2
    now[0] += 2  # past the pending TTL: only the kept scan is left
    assert store.scan_image("s-pending") is None and store.keep_scan("s-pending", ttl_s=3600) == 0
    assert (store.scan_image("s-kept", "top"), store.scan_image("s-kept", "side")) == (b"top", b"side")
    store.put_scan_image("s-kept", "top", b"again", ttl_s=60)  # a redelivery neither replaces it nor cuts its TTL
    now[0] = 1059 + 3600 - 1  # 1 s before the TTL set when it was kept (t=1059) runs out
    assert store.scan_image("s-kept") == b"top"
    now[0] += 1
    assert store.scan_image("s-kept") is None and store.scan_image("s-kept", "side") is None


def test_dedup_expires_with_its_ttl():
    now = [1000.0]
    store = MemoryLaneStateStore(dedup_ttl_s=60, clock=lambda: now[0])
    scan = make_scan_id("lane-1", 0, datetime.now(UTC))
    assert store.record_outcome(scan_id=scan, lane_id="lane-1", at=datetime.now(UTC))
    now[0] += 59
    assert store.is_done(scan)
    now[0] += 2  # past the TTL: a scan seen again after a week is a new scan, as in Redis
    assert not store.is_done(scan) and store.record_outcome(scan_id=scan, lane_id="lane-1", at=datetime.now(UTC))
    assert store.lane("lane-1").counters["scans"] == 2
