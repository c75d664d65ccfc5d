"""RedisLaneStateStore against a real redis-server: the store contract, and the keys and TTLs behind it."""

import uuid

import pytest

from pipeline.messages import make_scan_id
from tests.pipeline.state_contract import CHECKS, NOW, _lane, check_outcomes_count_once_per_scan, check_scan_images_are_stored_and_kept

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


def test_scan_images_get_the_pending_ttl_then_the_kept_one(store):
    scan_id = check_scan_images_are_stored_and_kept(store)  # both views kept for 600 s
    for view in ("top", "side"):
        assert 590 < store.client.ttl(f"lw:scan:{scan_id}:{view}") <= 600
    store.put_scan_image(scan_id, "top", b"redelivered", ttl_s=30)  # NX: the kept TTL stands
    assert store.client.ttl(f"lw:scan:{scan_id}:top") > 590 and store.scan_image(scan_id) != b"redelivered"
    one = make_scan_id(_lane(), 7, NOW)
    store.put_scan_image(one, "side", b"\xff\xd8\xff", ttl_s=30)
    assert 0 < store.client.ttl(f"lw:scan:{one}:side") <= 30
    assert store.keep_scan(one, ttl_s=172_800) == 1 and store.client.ttl(f"lw:scan:{one}:top") == -2  # no top view
    assert 172_790 < store.client.ttl(f"lw:scan:{one}:side") <= 172_800


def test_the_keys_written_are_the_documented_ones(store):
    from datetime import UTC, datetime

    from pipeline.messages import Ack
    from pipeline.state import KEYS
    from tests.pipeline.state_contract import _alert, _lane

    lane = _lane()
    alert = _alert(lane, 1)
    store.record_outcome(scan_id=alert.scan_id, lane_id=lane, at=datetime.now(UTC), alert=alert)
    store.decide(Ack(alert_id=alert.alert_id, lane_id=lane, decision="escalate", operator="op", at=datetime.now(UTC)))
    blob = store.put_blob(b"x" * 10, ttl_s=60)
    store.put_scan_image(alert.scan_id, "top", b"\xff\xd8\xff", ttl_s=60)
    fill = {"lane": lane, "alert_id": alert.alert_id, "scan_id": alert.scan_id, "key": blob, "view": "top"}
    written = {k.decode() for k in store.client.scan_iter(match="lw:*")} & {
        t.format(**fill) for t in KEYS.values()} | {KEYS["lanes"]}
    mine = {k.decode() for k in store.client.scan_iter(match=f"lw:*{lane}*")} | {
        k.decode() for k in store.client.scan_iter(match=f"lw:*{alert.alert_id}*")} | {
        k.decode() for k in store.client.scan_iter(match=f"lw:*{alert.scan_id}*")} | {f"lw:blob:{blob}"}
    # every key this lane's scan, alert and blob touched is one of the table's, and every template was used
    assert mine <= {t.format(**fill) for t in KEYS.values()}
    assert written == {t.format(**fill) for t in KEYS.values()}


def test_the_embedded_redis_and_broker_are_reachable(stack):
    from pipeline.reach import check_kafka, check_redis

    check_redis(stack.redis_url)
    check_kafka(stack.kafka_bootstrap)


def test_a_namespace_keeps_a_second_pipelines_keys_and_console_users_apart(store):
    from pipeline.state import RedisLaneStateStore
    from services.web.desk import Desk
    from tests.pipeline.state_contract import _alert

    ns = f"lw-{uuid.uuid4().hex[:6]}"
    other = RedisLaneStateStore(store.client, namespace=ns)
    lane = _lane()
    alert = _alert(lane, 0)
    assert other.record_outcome(scan_id=alert.scan_id, lane_id=lane, at=NOW, alert=alert)
    assert store.client.sismember(f"{ns}:lanes", lane) and not store.client.sismember("lw:lanes", lane)
    assert store.client.hget(f"{ns}:lane:{lane}:counters", "threats") == b"1"
    assert not store.client.exists(f"lw:lane:{lane}:counters") and store.lane(lane).counters["scans"] == 0
    assert other.alert(alert.alert_id).alert == alert and store.alert(alert.alert_id) is None
    desk = Desk(store.client, namespace=ns)
    desk.add_user("demo", "a-long-password", "supervisor")
    assert store.client.sismember(f"{ns}:console:users", "demo") and not store.client.sismember("lw:console:users", "demo")
    assert ("demo", "supervisor") in desk.users() and ("demo", "supervisor") not in Desk(store.client).users()
    with pytest.raises(ValueError, match="namespace"):
        RedisLaneStateStore(store.client, namespace="a b")


def test_the_store_rides_out_a_redis_restart_and_keeps_what_was_written():
    import threading

    from pipeline.state import RedisLaneStateStore
    from services.tools.stack import Stack
    from tests.pipeline.state_contract import _alert

    with Stack() as stack:
        store = RedisLaneStateStore.from_url(stack.redis_url)
        lane = _lane()
        first = _alert(lane, 0)
        assert store.record_outcome(scan_id=first.scan_id, lane_id=lane, at=NOW, alert=first)
        restarted = threading.Thread(target=stack.restart_redis)  # clean: a kill -9 with everysec may lose the last writes
        restarted.start()
        # writes while Redis is down and coming back: retried, none fails, none counted twice
        for seq in range(1, 40):
            store.record_outcome(scan_id=make_scan_id(lane, seq, NOW), lane_id=lane, at=NOW)
        restarted.join()
        assert store.lane(lane).counters["scans"] == 40 and store.alert(first.alert_id).alert == first
        store.close()
