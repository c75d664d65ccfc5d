"""Stages over the in-memory lane store: claim-checks, outcomes, redelivery and decisions without a Redis server."""

from datetime import UTC, datetime

import cv2
import numpy as np

from pipeline.codec import encode_dual, encode_rgb
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
    assert store.scan_image(meta.scan_id) == store.get_blob(key)  # the operators' image: the scanner's PNG itself
    gone = meta.model_copy(update={"blob_key": "0" * 32})
    (rejected,) = stage.handle([_record(T.raw, gone)])
    assert isinstance(rejected, Rejected) and "missing or expired" in rejected.reason


def _raw(seq, fmt, w, h, *, view="top", view_count=1):
    return RawScan(scan_id=make_scan_id("lane-3", seq, NOW), lane_id="lane-3", scanner_id="s", view=view,
                   view_count=view_count, captured_at=NOW, seq=seq, format=fmt, width=w, height=h)


def _rgb_of(data):
    """An encoded image as a browser would show it, decoded: uint8 (H, W, 3) RGB."""
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _pair(w, h):
    """A smooth dual-energy pair: a bag edge to edge, thicker to the right (JPEG keeps it within a few levels)."""
    high = np.tile(np.linspace(50_000, 8_000, w), (h, 1)).astype(np.uint16)
    return high, (high * 0.6).astype(np.uint16)


def test_crop_keeps_each_scan_view_as_the_operators_screen_shows_it():
    from pipeline.xray.screen import render_raw

    now = [1000.0]
    store = MemoryLaneStateStore(clock=lambda: now[0])
    stage = CropStage(store, T, cropper=no_crop, mode="rgb", method="none", max_payload_bytes=2**20, scan_pending_ttl_s=900)
    rgb = np.random.default_rng(3).integers(0, 255, (60, 80, 3), np.uint8)
    png, jpeg, (high, low) = encode_rgb(rgb), encode_rgb(rgb, fmt="rgb-jpeg"), _pair(70, 50)
    scans = [(_raw(0, "rgb-png", 80, 60), png), (_raw(1, "rgb-jpeg", 80, 60, view="side"), jpeg),
             (_raw(2, "dual-png16", 70, 50), encode_dual(high, low))]
    results = stage.handle([_record(T.raw, meta, value, offset=i) for i, (meta, value) in enumerate(scans)])
    assert [len(r) for r in results] == [1, 1, 1]
    (p, _), (j, _), (d, _) = scans
    # a scanner's PNG or JPEG is kept byte for byte, under its own view
    assert store.scan_image(p.scan_id) == png and store.scan_image(j.scan_id, "side") == jpeg
    assert store.scan_image(j.scan_id, "top") is None
    np.testing.assert_array_equal(_rgb_of(store.scan_image(p.scan_id)), rgb)
    # a raw pair is kept as a JPEG of its pseudo-colour rendering, the scan's size
    shown = store.scan_image(d.scan_id)
    assert shown.startswith(b"\xff\xd8\xff")
    decoded = _rgb_of(shown)
    assert decoded.shape == (d.height, d.width, 3)
    assert np.abs(decoded.astype(int) - render_raw(high, low).astype(int)).mean() < 2.0
    now[0] += 901  # nothing raised an alert: gone after the pending TTL
    assert all(store.scan_image(m.scan_id, m.view) is None for m, _ in scans)


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
                                                   "escalated": 0, "searched": 0, "unknown": 0, "reopened": 0}
    ack = Ack(alert_id=alert.alert_id, lane_id="lane-2", decision="clear", operator="op", at=NOW)
    assert stage.handle([_record(T.acks, ack, offset=3)]) == [[]]
    assert store.alert(alert.alert_id).state == "cleared" and store.lane("lane-2").open_alerts == ()
    unknown = ack.model_copy(update={"alert_id": "al-nope"})
    (rejected,) = stage.handle([_record(T.acks, unknown, offset=4)])
    assert isinstance(rejected, Rejected) and "no alert" in rejected.reason


def test_an_alert_recorded_but_never_flushed_is_published_by_the_next_alert_service():
    now = [1000.0]
    store = MemoryLaneStateStore(clock=lambda: now[0])
    crashed = AlertStage(store, T, outbox_grace_s=15, clock=lambda: now[0])
    (outs,) = crashed.handle([_record(T.detections, _part(7, 0.9))])
    (alert,) = [o.message for o in outs]
    # the service dies here: its producer never flushed, so `flushed` never ran
    restarted = AlertStage(store, T, outbox_grace_s=15, outbox_every_s=5, clock=lambda: now[0])
    assert restarted.tick(now[0]) == []  # within the grace period the first service may still be flushing
    now[0] += 10
    assert restarted.tick(now[0]) == []  # 10 s on: still within the grace period
    now[0] += 4
    assert restarted.tick(now[0]) == []  # past the grace, but the outbox is looked at every 5 s (last at t=1010)
    now[0] += 2
    (resent,) = restarted.tick(now[0])
    assert resent.topic == T.alerts and resent.message == alert
    restarted.flushed()  # on the broker now: out of the outbox for good
    now[0] += 60
    assert restarted.tick(now[0]) == [] and store.unpublished(older_than_s=0) == []
    # an alert the service itself flushed never comes back
    (outs,) = restarted.handle([_record(T.detections, _part(8, 0.9), offset=1)])
    restarted.flushed()
    now[0] += 60
    assert restarted.tick(now[0]) == []


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


def test_an_alert_keeps_its_scans_images_and_names_their_views():
    now = [1000.0]
    store = MemoryLaneStateStore(clock=lambda: now[0])
    crop = CropStage(store, T, cropper=no_crop, mode="rgb", method="none", max_payload_bytes=2**20, scan_pending_ttl_s=900)
    alert_stage = AlertStage(store, T, scan_retention_s=172_800)
    rgb = np.full((40, 60, 3), 200, np.uint8)
    threat_top, threat_side = _raw(0, "rgb-png", 60, 40, view_count=2), _raw(0, "rgb-png", 60, 40, view="side", view_count=2)
    clean = _raw(1, "rgb-png", 60, 40)
    crop.handle([_record(T.raw, m, encode_rgb(rgb), offset=i) for i, m in enumerate((threat_top, threat_side, clean))])

    def found(raw, score):
        det = Detection(label="knife", score=score, box=Box(x1=10, y1=10, x2=40, y2=30))
        return Detections(**raw.model_dump(include={"scan_id", "lane_id", "scanner_id", "view", "view_count", "captured_at", "seq"}),
                          region_index=0, region_count=1, region=Box(x1=0, y1=0, x2=60, y2=40), detections=(det,), engine="t")

    results = alert_stage.handle([_record(T.detections, found(threat_side, 0.9)), _record(T.detections, found(threat_top, 0.01), offset=1),
                                  _record(T.detections, found(clean, 0.01), offset=2)])
    (alert,) = [o.message for r in results for o in r]
    assert alert.scan_id == threat_top.scan_id and alert.views == ("top", "side")
    now[0] += 901  # past the pending TTL: the alert's views are kept, the clean scan's is gone
    assert store.scan_image(alert.scan_id, "top") == store.scan_image(alert.scan_id, "side") == encode_rgb(rgb)
    assert store.scan_image(clean.scan_id) is None
    now[0] = 1000 + 172_800 + 1  # and the kept ones go after the retention
    assert store.scan_image(alert.scan_id, "top") is None and store.scan_image(alert.scan_id, "side") is None


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


def test_a_file_read_again_after_an_ingest_crash_is_the_same_scan_with_one_outcome(tmp_path):
    from services.ingest import IngestStage, WatchedDirectory

    rgb = np.random.default_rng(2).integers(0, 255, (60, 80, 3), np.uint8)
    lane = tmp_path / "lane-5"
    lane.mkdir()
    (lane / "bag-1.png").write_bytes(encode_rgb(rgb))
    (lane / "bag-2.png").write_bytes(encode_rgb(rgb))  # the same pixels under another name: another bag
    store = MemoryLaneStateStore()

    def read_once():
        stage = IngestStage(store, T, watch=WatchedDirectory(tmp_path, default_lane="lane-1", settle_s=0.0))
        return {o.message.scan_id: o.message for o in stage.tick(0.0)}  # then the process dies: no flush, files stay

    first, second = read_once(), read_once()
    assert len(first) == 2 and set(first) == set(second)  # the same two scans, not two more
    alert_stage = AlertStage(store, T)
    for scan in [*first.values(), *second.values()]:
        part = Detections(scan_id=scan.scan_id, lane_id=scan.lane_id, scanner_id=scan.scanner_id,
                          captured_at=scan.captured_at, seq=scan.seq, region_index=0, region_count=1,
                          region=Box(x1=0, y1=0, x2=80, y2=60), engine="test",
                          detections=(Detection(label="knife", score=0.9, box=Box(x1=1, y1=1, x2=20, y2=20)),))
        alert_stage.handle([_record(T.detections, part)])
    assert store.lane("lane-5").counters["threats"] == 2 and store.lane("lane-5").counters["scans"] == 2
    # a file whose content changed under the same name is a new scan
    (lane / "bag-1.png").write_bytes(encode_rgb(255 - rgb))
    assert set(read_once()) != set(first)


def test_image_lifetimes_come_from_the_environment_through_make_stage(monkeypatch):
    from services import alert, crop

    monkeypatch.setenv("LANEWATCH_SCAN_PENDING_TTL_S", "120")
    monkeypatch.setenv("LANEWATCH_SCAN_RETENTION_S", "3600")
    store = MemoryLaneStateStore()
    crop_stage = crop.make_stage(crop.CropSettings(crop_method="none", crop_output="crop"))(store, T)
    alert_stage = alert.make_stage(alert.AlertSettings())(store, T)
    assert (crop_stage.scan_pending_ttl_s, alert_stage.scan_retention_s) == (120, 3600)
    monkeypatch.delenv("LANEWATCH_SCAN_PENDING_TTL_S")
    monkeypatch.delenv("LANEWATCH_SCAN_RETENTION_S")
    assert (crop.CropSettings().scan_pending_ttl_s, alert.AlertSettings().scan_retention_s) == (900, 172_800)
