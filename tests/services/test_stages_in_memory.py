"""Stages over the in-memory lane store: claim-checks, outcomes, redelivery and decisions without a Redis server."""

from datetime import UTC, datetime

import numpy as np

from pipeline.codec import encode_rgb
from pipeline.crop import no_crop
from pipeline.kafka import Inbound
from pipeline.messages import Ack, Box, Detection, Detections, RawScan, Rejected, encode_meta, make_scan_id
from pipeline.state import MemoryLaneStateStore
from services.alert import AlertStage
from services.crop import CropStage
from services.runner import Topics

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
T = Topics()


def _record(topic, meta, value=b"", offset=0):
    return Inbound(topic=topic, partition=0, offset=offset, key=meta.lane_id, headers=tuple(encode_meta(meta)),
                   value=value, timestamp_ms=0)


def test_crop_reads_a_claim_checked_scan_and_dead_letters_an_expired_one():
    store = MemoryLaneStateStore()
    rgb = np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8)
    key = store.put_blob(encode_rgb(rgb), ttl_s=60)
    meta = RawScan(scan_id=make_scan_id("lane-1", 0, NOW), lane_id="lane-1", scanner_id="s", captured_at=NOW, seq=0,
                   format="rgb-png", width=80, height=60, blob_key=key)
    stage = CropStage(store, T, cropper=no_crop, mode="rgb", method="none", max_payload_bytes=2**20)
    ((out,),) = stage.handle([_record(T.raw, meta)])  # the record's value is empty: the scan is in the store
    assert (out.message.width, out.message.height) == (80, 60)
    gone = meta.model_copy(update={"blob_key": "0" * 32})
    (rejected,) = stage.handle([_record(T.raw, gone)])
    assert isinstance(rejected, Rejected) and "missing or expired" in rejected.reason


def _part(seq, score, index=0, count=1):
    scan_id = make_scan_id("lane-2", seq, NOW)
    det = Detection(label="knife", score=score, box=Box(x1=10, y1=10, x2=40, y2=30))
    return Detections(scan_id=scan_id, lane_id="lane-2", scanner_id="s", captured_at=NOW, seq=seq, region_index=index,
                      region_count=count, region=Box(x1=0, y1=0, x2=100, y2=100), detections=(det,), engine="test")


def test_alert_stage_records_once_and_takes_decisions():
    store = MemoryLaneStateStore()
    stage = AlertStage(store, T)
    threat, clear = _part(0, 0.9), _part(1, 0.01)
    (outs,) = stage.handle([_record(T.detections, threat)])
    (alert,) = [o.message for o in outs]
    assert alert.classes == ("knife",) and store.alert(alert.alert_id).state == "open"
    assert stage.handle([_record(T.detections, clear, offset=1)]) == [[]]  # below every threshold: no alert
    assert stage.handle([_record(T.detections, threat, offset=2)]) == [[]]  # redelivered: no second alert
    assert store.lane("lane-2").counters == {"scans": 2, "threats": 1, "clears": 1, "acked": 0, "cleared": 0,
                                                   "escalated": 0}
    ack = Ack(alert_id=alert.alert_id, lane_id="lane-2", decision="clear", operator="op", at=NOW)
    assert stage.handle([_record(T.acks, ack, offset=3)]) == [[]]
    assert store.alert(alert.alert_id).state == "cleared" and store.lane("lane-2").open_alerts == ()
    unknown = ack.model_copy(update={"alert_id": "al-nope"})
    (rejected,) = stage.handle([_record(T.acks, unknown, offset=4)])
    assert isinstance(rejected, Rejected) and "no alert" in rejected.reason


def test_alert_waits_for_every_region_of_a_scan():
    count = 2
    store = MemoryLaneStateStore()
    stage = AlertStage(store, T)
    first, second = _part(5, 0.8, 0, count), _part(5, 0.7, 1, count)
    assert stage.handle([_record(T.detections, first)]) == [[]] and not store.is_done(first.scan_id)
    (outs,) = stage.handle([_record(T.detections, second, offset=1)])
    (alert,) = [o.message for o in outs]
    assert len(alert.detections) == 1  # the same knife seen in both regions: merged
    assert store.is_done(first.scan_id)


def test_ingest_is_a_source_stage_whose_files_move_only_once_the_broker_has_them(tmp_path):
    from services.ingest import IngestStage, WatchedDirectory

    rgb = np.random.default_rng(1).integers(0, 255, (60, 80, 3), np.uint8)
    (tmp_path / "lane-4").mkdir()
    (tmp_path / "lane-4" / "bag.png").write_bytes(encode_rgb(rgb))
    (tmp_path / "lane-4" / "cut.png").write_bytes(encode_rgb(rgb)[:200])
    store = MemoryLaneStateStore()
    stage = IngestStage(store, T, watch=WatchedDirectory(tmp_path, default_lane="lane-1", settle_s=0.0))
    assert stage.inputs == {} and not stage.finished()
    outs = stage.tick(0.0)
    by_topic = {o.topic: o for o in outs}
    scan, letter = by_topic[T.raw], by_topic[T.deadletter]
    assert (scan.message.lane_id, scan.message.seq, scan.message.width, scan.message.height) == ("lane-4", 0, 80, 60)
    assert letter.key == "lane-4" and letter.message.stage == "ingest" and letter.message.topic == "ingest:file:cut.png"
    assert store.lane("lane-4").state == "active"  # the lane is seen from its first scan
    # published but not yet flushed: the files stay where the scanner put them
    assert sorted(p.name for p in (tmp_path / "lane-4").iterdir() if p.is_file()) == ["bag.png", "cut.png"]
    stage.flushed()
    assert [p.name for p in (tmp_path / "lane-4" / "done").iterdir()] == ["bag.png"]
    assert [p.name for p in (tmp_path / "lane-4" / "rejected").iterdir()] == ["cut.png"]
    assert stage.tick(1.0) == [] and (stage.gate.published["lane-4"], stage.gate.rejected["lane-4"]) == (1, 1)
