"""RedisLaneStateStore against a real redis-server: the store contract, and the keys and TTLs behind it."""

import uuid

import pytest

from tests.pipeline.state_contract import CHECKS, check_outcomes_count_once_per_scan

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_contract(store, check):
    check(store)


def test_dedup_keys_carry_the_outcome_and_a_ttl(store):
    threat = check_outcomes_count_once_per_scan(store)
    assert store.client.get(f"lw:dedup:{threat.scan_id}") == threat.alert_id.encode()
    assert 0 < store.client.ttl(f"lw:dedup:{threat.scan_id}") <= store.dedup_ttl_s


def test_blobs_get_their_ttl(store):
    key = store.put_blob(uuid.uuid4().bytes * 100, ttl_s=5)
    assert 0 < store.client.pttl(f"lw:blob:{key}") <= 5000
