"""The in-memory LaneStateStore keeps the Redis store's contract, so stage tests can run without Redis."""

from datetime import UTC, datetime

import pytest

from pipeline.messages import make_scan_id
from pipeline.state import MemoryLaneStateStore
from tests.pipeline.state_contract import CHECKS


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_contract(check):
    check(MemoryLaneStateStore())


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
