"""The alert service against the real broker protocol and a real Redis: outcomes, alerts, dedup, acks, dead letters."""

import json
import threading
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest

from pipeline.kafka import Consumer, Producer
from pipeline.messages import Ack, Alert, DeadLetter, alert_id_for, make_scan_id
from services.alert import AlertSettings, make_stage
from services.cli import main
from services.console import tail_alerts
from services.runner import Topics, serve
from tests.integration.helpers import FAST, NOW, detections, drain, end_offsets, running, until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pipe(stack):
    """One alert service for the module, on topics of its own."""
    prefix = f"it-alert-{uuid.uuid4().hex[:6]}"
    settings = AlertSettings(kafka_bootstrap=stack.kafka_bootstrap, redis_url=stack.redis_url, topic_prefix=prefix,
                             group_id=f"{prefix}-g", scan_wait_s=30, **FAST)
    topics = Topics.prefixed(prefix)
    with running(serve, make_stage(settings), settings) as (runner, server), Producer(stack.kafka_bootstrap) as producer:
        yield settings, topics, runner, server, producer


def _lane():
    return f"lane-{uuid.uuid4().hex[:6]}"


def _publish(producer, topic, messages):
    for m in messages:
        producer.publish(topic, m)
    producer.flush()


def test_threats_raise_one_alert_each_in_lane_order_clean_scans_none(pipe, store, stack):
    settings, topics, _, server, producer = pipe
    lanes = [_lane() for _ in range(3)]
    plan = {}  # (lane, seq) -> threat label or None
    records = []
    for li, lane in enumerate(lanes):
        for seq in range(6):
            label = ["gun", "knife", "scissors"][(seq + li) % 3] if (seq + li) % 2 == 0 else None
            plan[(lane, seq)] = label
            # every other scan in two regions; the threat sits in the second one
            if seq % 2:
                records += [detections(lane, seq, index=0, count=2), detections(lane, seq, labels=[label] if label else [], index=1, count=2)]
            else:
                records.append(detections(lane, seq, labels=[label] if label else []))
    records.append(detections(lanes[0], 99, labels=["gun"], score=0.05))  # below the threshold: clean
    plan[(lanes[0], 99)] = None
    with Consumer(stack.kafka_bootstrap, [topics.alerts], group_id=None) as tail:
        _publish(producer, topics.detections, records)
        ids = [make_scan_id(lane, seq, NOW) for lane, seq in plan]
        until(lambda: all(store.is_done(s) for s in ids), what="every scan's outcome")
        threats = sum(1 for v in plan.values() if v)
        alerts = [r.meta(Alert) for r in drain(tail, threats, settle_s=0.5)]
    assert sorted((a.lane_id, a.seq, a.classes) for a in alerts) == sorted(
        (lane, seq, (label,)) for (lane, seq), label in plan.items() if label
    )
    for lane in lanes:
        seqs = [a.seq for a in alerts if a.lane_id == lane]
        assert seqs == sorted(seqs), f"{lane} alerts out of order: {seqs}"
        status = store.lane(lane)
        n = sum(1 for (ln, _) in plan if ln == lane)
        t = sum(1 for (ln, _), v in plan.items() if ln == lane and v)
        assert status.counters["scans"] == n and status.counters["threats"] == t and status.counters["clears"] == n - t
        # active as of the scans' capture time (NOW is fixed when the module is imported, maybe minutes ago)
        assert len(status.open_alerts) == t and store.lane(lane, now=NOW).state == "active"
    gun = next(a for a in alerts if a.classes == ("gun",))
    assert gun.severity == "critical" and gun.alert_id == alert_id_for(gun.scan_id)
    record = store.alert(gun.alert_id)
    assert record.state == "open" and record.alert == gun

    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as r:
        health = json.loads(r.read())
    assert health["status"] == "ok" and health["redis"] is True
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
        metrics = r.read().decode()
    assert f'lanewatch_records_in_total{{service="alert",topic="{topics.detections}"}}' in metrics
    assert 'lanewatch_stage_latency_seconds_count{service="alert",stage="capture_to_outcome"}' in metrics


def test_redelivered_records_raise_no_second_alert(pipe, store, stack):
    settings, topics, _, _, producer = pipe
    lane = _lane()
    first = [detections(lane, 0, labels=["knife"]), detections(lane, 1, labels=["gun"], index=0, count=2),
             detections(lane, 1, index=1, count=2)]
    with Consumer(stack.kafka_bootstrap, [topics.alerts], group_id=None) as tail:
        _publish(producer, topics.detections, first)
        until(lambda: store.is_done(make_scan_id(lane, 1, NOW)), what="outcomes")
        _publish(producer, topics.detections, first + first[::-1])  # again, and out of order
        # a second group reads the whole topic from the start: every record of this module redelivered
        other = settings.model_copy(update={"group_id": f"{settings.group_id}-again"})
        with running(serve, make_stage(other), other) as (runner, _):
            ends = end_offsets(stack.kafka_bootstrap, topics.detections)
            until(lambda: all(runner._committed.get(p, 0) >= end for p, end in ends.items()),
                  what="the second group to commit the whole topic")
        marker = detections(lane, 2, labels=["pliers"])  # a new scan after the redeliveries: its alert ends the wait
        _publish(producer, topics.detections, [marker])
        got = drain(tail, lambda rs: any(r.meta(Alert).scan_id == marker.scan_id for r in rs), settle_s=0.3)
        alerts = [r.meta(Alert) for r in got]
    assert sorted((a.seq, a.classes) for a in alerts if a.lane_id == lane) == [(0, ("knife",)), (1, ("gun",)), (2, ("pliers",))]
    assert store.lane(lane).counters["scans"] == 3


def test_bad_records_are_dead_lettered_and_the_service_goes_on(pipe, store, stack):
    settings, topics, runner, _, producer = pipe
    lane = _lane()
    ok = detections(lane, 0, labels=["gun"])
    with Consumer(stack.kafka_bootstrap, [topics.deadletter], group_id=None, from_beginning=False) as dl:
        producer._producer.send(topics.detections, key=lane.encode(), value=b"", headers=[("lw-meta", b'{"schema_version": 1, "scan_id": "nope"}')])
        producer._producer.send(topics.detections, key=lane.encode(), value=b"", headers=[])
        unknown = Ack(alert_id="al-unknown", lane_id=lane, decision="ack", operator="op", at=datetime.now(UTC))
        _publish(producer, topics.acks, [unknown])
        _publish(producer, topics.detections, [ok])
        letters = [(r, r.meta(DeadLetter)) for r in drain(dl, lambda rs: sum(r.key == lane for r in rs) >= 3, settle_s=0.3)]
    until(lambda: store.is_done(ok.scan_id), what="the good scan after the bad records")
    mine = [(r, m) for r, m in letters if m.lane_id == lane]
    reasons = sorted(m.reason for _, m in mine)
    assert len(mine) == 3 and all(m.stage == "alert" for _, m in mine)
    assert any("Detections schema" in r for r in reasons)
    assert any("expected one lw-meta header" in r for r in reasons)
    assert any("no alert 'al-unknown'" in r for r in reasons)


def test_operator_decision_updates_the_alert_and_the_lane(pipe, store, stack):
    settings, topics, _, _, producer = pipe
    lane = _lane()
    scan = detections(lane, 0, labels=["knife"])
    _publish(producer, topics.detections, [scan])
    until(lambda: store.is_done(scan.scan_id))
    alert_id = alert_id_for(scan.scan_id)
    assert store.lane(lane).open_alerts == (alert_id,)
    ack = Ack(alert_id=alert_id, lane_id=lane, decision="clear", operator="op-7", at=datetime.now(UTC), note="toy")
    _publish(producer, topics.acks, [ack])
    until(lambda: store.alert(alert_id).state == "cleared", what="the decision in Redis")
    status = store.lane(lane)
    assert status.open_alerts == () and status.counters["cleared"] == 1
    assert store.alert(alert_id).history == (ack,)
    # a second decision straight onto the topic (not through a console) is dead-lettered, not applied
    with Consumer(stack.kafka_bootstrap, [topics.deadletter], group_id=None) as tail:
        late = Ack(alert_id=alert_id, lane_id=lane, decision="ack", operator="op-8", at=datetime.now(UTC))
        _publish(producer, topics.acks, [late])
        letters = [r.meta(DeadLetter) for r in drain(tail, lambda got: any(
            "already decided" in r.meta(DeadLetter).reason and alert_id in r.meta(DeadLetter).reason for r in got))]
    assert any("was already decided (cleared) by op-7" in d.reason for d in letters)
    assert store.alert(alert_id).history == (ack,) and store.lane(lane).counters["acked"] == 0


def test_an_alert_keeps_its_scans_images_for_the_retention(pipe, store, stack):
    settings, topics, _, _, producer = pipe
    lane = _lane()
    threat = [detections(lane, 0, view="top", view_count=2), detections(lane, 0, labels=["gun"], view="side", view_count=2)]
    clean = detections(lane, 1)
    for part in (*threat, clean):  # as the crop service stores them, with the pending TTL
        store.put_scan_image(part.scan_id, part.view, b"\xff\xd8\xff" + part.view.encode(), ttl_s=900)
    with Consumer(stack.kafka_bootstrap, [topics.alerts], group_id=None) as tail:
        _publish(producer, topics.detections, [*threat, clean])
        got = drain(tail, lambda rs: any(r.meta(Alert).lane_id == lane for r in rs), settle_s=0.3)
    (alert,) = [a for a in (r.meta(Alert) for r in got) if a.lane_id == lane]
    assert alert.views == ("top", "side") and settings.scan_retention_s == 172_800
    until(lambda: store.is_done(clean.scan_id), what="the clean scan's outcome")
    for view in ("top", "side"):
        assert 172_790 < store.client.ttl(f"lw:scan:{alert.scan_id}:{view}") <= 172_800
    assert 0 < store.client.ttl(f"lw:scan:{clean.scan_id}:top") <= 900  # no alert: left to expire
    assert store.scan_image(alert.scan_id, "side") == b"\xff\xd8\xffside"


def test_a_scan_waiting_for_regions_holds_back_commits(stack, store):
    """Stop the service while a scan has one of two regions: the next member sees that region again."""
    prefix = f"it-hold-{uuid.uuid4().hex[:6]}"
    settings = AlertSettings(kafka_bootstrap=stack.kafka_bootstrap, redis_url=stack.redis_url, topic_prefix=prefix,
                             group_id=f"{prefix}-g", **FAST)
    topics = Topics.prefixed(prefix)
    lane = _lane()
    with Producer(stack.kafka_bootstrap) as producer:
        with running(serve, make_stage(settings), settings) as (runner, _):
            _publish(producer, topics.detections, [detections(lane, 0, labels=["gun"], index=0, count=2),
                                                   detections(lane, 1, labels=["knife"])])
            until(lambda: store.is_done(make_scan_id(lane, 1, NOW)))
            assert runner.stage.held()  # scan 0 waits for region 1
        assert not store.is_done(make_scan_id(lane, 0, NOW))
        with running(serve, make_stage(settings), settings) as (runner, _):
            _publish(producer, topics.detections, [detections(lane, 0, index=1, count=2)])
            until(lambda: store.is_done(make_scan_id(lane, 0, NOW)), what="the held scan to complete after a restart")
    assert store.alert(alert_id_for(make_scan_id(lane, 0, NOW))).alert.classes == ("gun",)


def test_console_shows_alerts_and_its_ack_reaches_redis_and_lane_status(pipe, store, stack, monkeypatch, capsys):
    settings, topics, _, _, producer = pipe
    monkeypatch.setenv("LANEWATCH_KAFKA_BOOTSTRAP", stack.kafka_bootstrap)
    monkeypatch.setenv("LANEWATCH_REDIS_URL", stack.redis_url)
    monkeypatch.setenv("LANEWATCH_TOPIC_PREFIX", settings.topic_prefix)
    lane, other = _lane(), _lane()
    lines, up, stop = [], threading.Event(), threading.Event()
    viewer = threading.Thread(target=tail_alerts, args=(stack.kafka_bootstrap, topics), kwargs=dict(
        lane=lane, severity="high", out=lines.append, stop=stop, ready=up.set, limit=1))
    viewer.start()
    up.wait(10)
    scans = [detections(other, 0, labels=["gun"]), detections(lane, 0, labels=["pliers"]), detections(lane, 1, labels=["knife"])]
    _publish(producer, topics.detections, scans)
    viewer.join(20)
    stop.set()
    alert_id = alert_id_for(scans[2].scan_id)
    # only the lane asked for, only severe enough (pliers are "low"), with the command that answers it
    assert len(lines) == 1 and "HIGH" in lines[0] and lane in lines[0] and "knife 0.90" in lines[0]
    assert f"lanewatch console ack {alert_id} --operator NAME" in lines[0]

    assert main(["console", "ack", alert_id, "--operator", "op-3", "--note", "ceramic knife"]) == 0
    assert f"ack sent for {alert_id} (lane {lane}) by op-3" in capsys.readouterr().out
    until(lambda: store.alert(alert_id).state == "acked", what="the console's ack in Redis")
    assert store.alert(alert_id).history[-1].note == "ceramic knife"
    assert main(["console", "lanes", "--lane", lane, "--json"]) == 0
    (status,) = json.loads(capsys.readouterr().out)
    assert status["counters"]["acked"] == 1 and status["open_alerts"] == [alert_id_for(scans[1].scan_id)]
    assert main(["console", "clear", "al-1795270000000-nowhere-1", "--operator", "op-3"]) == 2
    assert "no alert" in capsys.readouterr().err
    # the alert is settled: a second decision is refused, with who decided it, and nothing is sent or counted
    assert main(["console", "clear", alert_id, "--operator", "op-9"]) == 2
    assert f"alert '{alert_id}' was already decided (acked) by op-3 at " in capsys.readouterr().err
    assert store.lane(lane).counters["acked"] == 1 and store.lane(lane).counters["cleared"] == 0
    # a supervisor reopens it through the alert service; then it takes a decision again
    assert main(["console", "reopen", alert_id_for(scans[1].scan_id), "--operator", "sup-1"]) == 2  # still open
    assert "not settled: nothing to reopen" in capsys.readouterr().err
    assert main(["console", "reopen", alert_id, "--operator", "sup-1"]) == 0
    until(lambda: store.alert(alert_id).state == "open", what="the reopen in Redis")
    assert alert_id in store.lane(lane).open_alerts and store.lane(lane).counters["reopened"] == 1


def test_consoles_in_a_group_lose_nothing_a_limit_leaves_and_a_filtered_one_is_refused(stack, unique, capsys, monkeypatch):
    from tests.pipeline.state_contract import _alert

    topics = Topics.prefixed(unique)
    lane = _lane()
    alerts = [_alert(lane, seq) for seq in range(5)]
    with Producer(stack.kafka_bootstrap) as producer:
        _publish(producer, topics.alerts, alerts)
    first, second = [], []
    assert tail_alerts(stack.kafka_bootstrap, topics, group=f"{unique}-desk", from_beginning=True, limit=2,
                       out=first.append) == 2
    assert len(first) == 2  # not a poll batch more
    stop = threading.Event()
    t = threading.Thread(target=tail_alerts, args=(stack.kafka_bootstrap, topics), kwargs=dict(
        group=f"{unique}-desk", from_beginning=True, out=second.append, stop=stop), daemon=True)
    t.start()
    until(lambda: len(second) >= 3, what="the rest of the alerts on the group's next console")
    stop.set()
    t.join(10)
    shown = [line.split("scan ")[1].split(":")[0] for line in first + second]
    assert sorted(shown) == ["0", "1", "2", "3", "4"]  # every alert once, none lost between the two consoles

    with pytest.raises(ValueError, match="cannot share the group"):
        tail_alerts(stack.kafka_bootstrap, topics, group=f"{unique}-desk", lane=lane)
    monkeypatch.setenv("LANEWATCH_KAFKA_BOOTSTRAP", stack.kafka_bootstrap)
    monkeypatch.setenv("LANEWATCH_REDIS_URL", stack.redis_url)
    assert main(["console", "--group", "desk-b", "--lane", lane]) == 2
    assert "a filtered console cannot share the group 'desk-b'" in capsys.readouterr().err
