"""What every `LaneStateStore` does, checked on a store given: the Redis one and the in-memory one run these."""

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.messages import Ack, Alert, Box, Detection, alert_id_for, make_scan_id
from pipeline.state import AlreadyDecided, LaneStateStore, NotSettled

NOW = datetime.now(UTC)


def _lane():
    return f"lane-{uuid.uuid4().hex[:6]}"


def _alert(lane, seq, at=NOW, label="knife"):
    scan_id = make_scan_id(lane, seq, at)
    det = Detection(label=label, score=0.8, box=Box(x1=1, y1=2, x2=30, y2=40), view="top")
    return Alert(alert_id=alert_id_for(scan_id), scan_id=scan_id, lane_id=lane, scanner_id="s1", captured_at=at,
                 seq=seq, classes=(label,), detections=(det,), severity="high", created_at=at)


def check_is_a_lane_state_store(store):
    assert isinstance(store, LaneStateStore) and store.ping()


def check_outcomes_count_once_per_scan(store):
    """Returns the threat alert recorded, for store-specific checks."""
    lane = _lane()
    clean = [make_scan_id(lane, i, NOW) for i in range(3)]
    threat = _alert(lane, 3)
    assert all(store.record_outcome(scan_id=s, lane_id=lane, at=NOW) for s in clean)
    assert store.record_outcome(scan_id=threat.scan_id, lane_id=lane, at=NOW, alert=threat)
    # redelivery: the same scans again change nothing, and raise no second alert
    assert not store.record_outcome(scan_id=clean[0], lane_id=lane, at=NOW)
    assert not store.record_outcome(scan_id=threat.scan_id, lane_id=lane, at=NOW, alert=threat)
    status = store.lane(lane, now=NOW)
    assert status.counters == {"scans": 4, "threats": 1, "clears": 3, "acked": 0, "cleared": 0, "escalated": 0, "searched": 0,
                               "unknown": 0, "reopened": 0}
    assert status.open_alerts == (threat.alert_id,) and status.last_scan == threat.scan_id
    assert store.is_done(threat.scan_id) and not store.is_done(make_scan_id(lane, 99, NOW))
    with pytest.raises(ValueError, match="not"):
        store.record_outcome(scan_id=clean[1], lane_id="other", at=NOW, alert=threat)
    return threat


def check_status_follows_last_seen(store):
    lane = _lane()
    store.touch(lane_id=lane, scan_id=make_scan_id(lane, 0, NOW), at=NOW)
    assert store.lane(lane, now=NOW + timedelta(seconds=5)).state == "active"
    assert store.lane(lane, now=NOW + timedelta(seconds=store.active_s + 1)).state == "idle"
    assert store.lane(lane, now=NOW + timedelta(seconds=store.offline_s + 1)).state == "offline"
    # a late, older scan does not move the clock back
    store.record_outcome(scan_id=make_scan_id(lane, 1, NOW - timedelta(hours=1)), lane_id=lane, at=NOW - timedelta(hours=1))
    status = store.lane(lane, now=NOW)
    assert status.state == "active" and status.last_seen == datetime.fromtimestamp(round(NOW.timestamp(), 3), UTC)
    assert status.last_scan == make_scan_id(lane, 0, NOW) and status.counters["scans"] == 1
    assert lane in [s.lane_id for s in store.lanes(now=NOW)]
    never = store.lane(_lane())
    assert never.state == "offline" and never.last_seen is None and never.counters["scans"] == 0


def check_alert_record_and_decision_history(store):
    lane = _lane()
    alert = _alert(lane, 7)
    store.record_outcome(scan_id=alert.scan_id, lane_id=lane, at=NOW, alert=alert)
    record = store.alert(alert.alert_id)
    assert record.alert == alert and record.state == "open" and record.history == ()

    escalate = Ack(alert_id=alert.alert_id, lane_id=lane, decision="escalate", operator="op1", at=NOW)
    ack = Ack(alert_id=alert.alert_id, lane_id=lane, decision="ack", operator="sup2", at=NOW + timedelta(seconds=20))
    assert store.decide(escalate)
    assert store.lane(lane).open_alerts == (alert.alert_id,)  # escalated stays open
    assert store.decide(ack)
    assert not store.decide(ack)  # a redelivered ack is not recorded twice
    record = store.alert(alert.alert_id)
    assert record.state == "acked" and record.history == (escalate, ack)
    assert abs(record.updated_at - ack.at) < timedelta(milliseconds=1)  # times are kept to the millisecond
    status = store.lane(lane)
    assert status.open_alerts == () and status.counters["acked"] == 1 and status.counters["escalated"] == 1
    # settled: a second decision, by anyone, is refused with who decided and when; nothing is counted again
    for late in (Ack(alert_id=alert.alert_id, lane_id=lane, decision="ack", operator="op3", at=NOW + timedelta(seconds=40)),
                 Ack(alert_id=alert.alert_id, lane_id=lane, decision="clear", operator="op1", at=NOW + timedelta(seconds=50))):
        with pytest.raises(AlreadyDecided, match=r"already decided \(acked\) by sup2 at "):
            store.decide(late)
    assert store.alert(alert.alert_id).history == (escalate, ack) and store.alert(alert.alert_id).state == "acked"
    assert store.lane(lane).counters["acked"] == 1 and store.lane(lane).counters["cleared"] == 0
    # a supervisor reopens it: open again, on the lane's open list, and then it takes a decision again
    reopen = Ack(alert_id=alert.alert_id, lane_id=lane, decision="reopen", operator="sup9", at=NOW + timedelta(seconds=60))
    assert store.decide(reopen)
    assert store.alert(alert.alert_id).state == "open" and store.lane(lane).open_alerts == (alert.alert_id,)
    with pytest.raises(NotSettled, match="not settled"):
        store.decide(reopen.model_copy(update={"at": NOW + timedelta(seconds=61)}))
    clear = Ack(alert_id=alert.alert_id, lane_id=lane, decision="clear", operator="op1", at=NOW + timedelta(seconds=70))
    assert store.decide(clear) and store.alert(alert.alert_id).history == (escalate, ack, reopen, clear)
    assert {k: store.lane(lane).counters[k] for k in ("acked", "cleared", "reopened")} == {"acked": 1, "cleared": 1, "reopened": 1}

    with pytest.raises(KeyError):
        store.decide(Ack(alert_id="al-nope", lane_id=lane, decision="clear", operator="op1", at=NOW))
    with pytest.raises(ValueError, match="not on lane"):
        store.decide(Ack(alert_id=alert.alert_id, lane_id="elsewhere", decision="clear", operator="op1", at=NOW))
    assert store.alert("al-unknown") is None


def check_claim_check_blobs_expire(store):
    """Returns the blob key, for store-specific checks."""
    data = uuid.uuid4().bytes * 1000
    key = store.put_blob(data, ttl_s=1)
    assert store.put_blob(data, ttl_s=1) == key  # content-addressed: a re-send stores nothing new
    assert store.get_blob(key) == data
    time.sleep(1.1)
    assert store.get_blob(key) is None
    return key


def check_search_closes_an_alert_and_unknown_keeps_it_open(store):
    lane = _lane()
    unsure, searched = _alert(lane, 1), _alert(lane, 2)
    for alert in (unsure, searched):
        store.record_outcome(scan_id=alert.scan_id, lane_id=lane, at=NOW, alert=alert)
    assert store.decide(Ack(alert_id=unsure.alert_id, lane_id=lane, decision="unknown", operator="op1", at=NOW))
    assert store.decide(Ack(alert_id=searched.alert_id, lane_id=lane, decision="search", operator="op1", at=NOW))
    assert (store.alert(unsure.alert_id).state, store.alert(searched.alert_id).state) == ("unknown", "searched")
    status = store.lane(lane)
    assert status.open_alerts == (unsure.alert_id,)
    assert (status.counters["searched"], status.counters["unknown"], status.counters["acked"]) == (1, 1, 0)


def check_scan_images_are_stored_and_kept(store):
    """Returns the scan id (both views stored, kept for 600 s), for store-specific checks."""
    scan_id = make_scan_id(_lane(), 0, NOW)
    top, side = b"\xff\xd8\xff top" + uuid.uuid4().bytes, b"\x89PNG side" + uuid.uuid4().bytes
    store.put_scan_image(scan_id, "top", top, ttl_s=30)
    assert store.scan_image(scan_id) == top and store.scan_image(scan_id, "side") is None
    store.put_scan_image(scan_id, "side", side, ttl_s=30)
    store.put_scan_image(scan_id, "top", b"redelivered", ttl_s=30)  # a redelivered scan changes nothing
    assert (store.scan_image(scan_id, "top"), store.scan_image(scan_id, "side")) == (top, side)
    assert store.keep_scan(scan_id, ttl_s=600) == 2
    assert store.keep_scan(make_scan_id(_lane(), 1, NOW), ttl_s=600) == 0  # nothing stored: nothing kept
    return scan_id


def check_alerts_stay_in_the_outbox_until_published(store):
    lane = _lane()
    a, b = _alert(lane, 1), _alert(lane, 2)
    for alert in (a, b):
        assert store.record_outcome(scan_id=alert.scan_id, lane_id=lane, at=NOW, alert=alert)

    def taken(older_than_s):
        return {x.alert_id: x for x in store.unpublished(older_than_s=older_than_s, limit=100_000)}

    time.sleep(0.05)
    first = taken(0.01)
    assert {a.alert_id, b.alert_id} <= set(first) and first[a.alert_id] == a  # the whole alert comes back
    assert a.alert_id not in taken(60)  # stamped when taken: a second re-sender leaves it for the grace period
    store.published([a.alert_id])
    time.sleep(0.05)
    again = taken(0.01)
    assert b.alert_id in again and a.alert_id not in again
    store.published([b.alert_id])
    assert not store.record_outcome(scan_id=b.scan_id, lane_id=lane, at=NOW, alert=b)  # a redelivery: not back in
    time.sleep(0.05)
    assert not {a.alert_id, b.alert_id} & set(taken(0.01))


CHECKS = [check_alerts_stay_in_the_outbox_until_published, check_is_a_lane_state_store, check_outcomes_count_once_per_scan, check_status_follows_last_seen,
          check_alert_record_and_decision_history, check_claim_check_blobs_expire,
          check_search_closes_an_alert_and_unknown_keeps_it_open, check_scan_images_are_stored_and_kept]
