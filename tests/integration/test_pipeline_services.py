"""Ingest, crop, detect and alert together on the real broker protocol and a real Redis, with a real (tiny) detector.

The tiny detector is trained for two steps, so what it finds is noise: these tests check the plumbing
(every scan reaches an outcome, records are well formed, boxes lie in frame coordinates, bad input is
dead-lettered while the services go on); the alert logic is tested with known detections in
test_alert_service.py.
"""

import threading
import uuid
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from pipeline.codec import encode_dual, encode_rgb
from pipeline.kafka import Consumer, Producer
from pipeline.messages import CroppedRegion, DeadLetter, Detections, RawScan, Rejected, make_scan_id
from services import alert, crop, detect, ingest
from services.runner import Topics, serve
from tests.integration.helpers import FAST, drain, running, tiny_model, until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pipe(stack, tmp_path_factory):
    prefix = f"it-pipe-{uuid.uuid4().hex[:6]}"
    weights = tiny_model()
    common = dict(kafka_bootstrap=stack.kafka_bootstrap, redis_url=stack.redis_url, topic_prefix=prefix,
                  max_payload_bytes=600_000, **FAST)
    crop_s = crop.CropSettings(**common, group_id=f"{prefix}-crop", weights=weights)
    det_s = detect.DetectSettings(**common, group_id=f"{prefix}-detect", weights=weights, threads=1, max_delay_ms=20)
    alert_s = alert.AlertSettings(**common, group_id=f"{prefix}-alert")
    with (running(serve, crop.make_stage(crop_s), crop_s) as (crop_runner, _),
          running(serve, detect.make_stage(det_s), det_s),
          running(serve, alert.make_stage(alert_s), alert_s),
          Producer(stack.kafka_bootstrap) as producer):
        yield Topics.prefixed(prefix), producer, crop_runner, common


def _frames(n, seed=0):
    from training.synth.scene import SceneConfig, generate_frame

    rng = np.random.default_rng(seed)
    return [generate_frame(rng, negative=i % 2 == 1, cfg=SceneConfig(width=320, height=240)) for i in range(n)]


def test_every_scan_reaches_an_outcome_with_boxes_in_frame_pixels(pipe, store, stack):
    topics, producer, crop_runner, _ = pipe
    assert crop_runner.stage.method == "tdc"  # the tiny model's backbone drives the cropping
    lanes = [f"lane-{uuid.uuid4().hex[:5]}" for _ in range(2)]
    gate = ingest.Ingest(producer, store, topics)
    sent = []
    for i, f in enumerate(_frames(6)):
        lane = lanes[i % 2]
        payload = encode_rgb(f.rgb) if i % 2 == 0 else encode_dual(f.high, f.low)  # both forms end to end
        sent.append(gate.publish(payload, lane_id=lane, source="test"))
    producer.flush()
    assert all(sent) and all(store.lane(lane).state == "active" for lane in lanes)  # ingest marks lanes seen
    until(lambda: all(store.is_done(m.scan_id) for m in sent), timeout_s=60, what="every scan's outcome")
    assert sum(store.lane(lane).counters["scans"] for lane in lanes) == 6
    for m in sent:  # each scan's image, as the operators' browser gets it; kept for long where it raised an alert
        shown = cv2.imdecode(np.frombuffer(store.scan_image(m.scan_id), np.uint8), cv2.IMREAD_COLOR)
        assert shown.shape == (240, 320, 3)
        key, alerted = f"lw:scan:{m.scan_id}:top", store.client.get(f"lw:dedup:{m.scan_id}") != b"clear"
        until(lambda k=key, a=alerted: (store.client.ttl(k) > 900) == a and store.client.ttl(k) > 0, timeout_s=5,
              what="the image's TTL: long once its alert kept it")

    with Consumer(stack.kafka_bootstrap, [topics.cropped, topics.detections], group_id=None) as tail:
        # every outcome is recorded, so every region and its detections are on the topics already
        records = drain(tail, lambda rs: {r.meta(Detections).scan_id for r in rs if r.topic == topics.detections}
                        >= {m.scan_id for m in sent}, timeout_s=10, settle_s=0.3)
    regions = [r.meta(CroppedRegion) for r in records if r.topic == topics.cropped]
    found = [r.meta(Detections) for r in records if r.topic == topics.detections]
    ids = {m.scan_id for m in sent}
    assert {r.scan_id for r in regions} == ids and {d.scan_id for d in found} == ids
    assert len(found) == len(regions)  # one detections record per region
    for d in found:
        assert d.engine == "onnxruntime:tiny" and d.batch_size >= 1
        assert (d.view, d.region_index < d.region_count) == ("top", True)
        for det in d.detections:
            assert d.region.x1 <= det.box.x1 < det.box.x2 <= d.region.x2 and d.region.y1 <= det.box.y1 < det.box.y2 <= d.region.y2
    for r in regions:
        assert r.box.x2 <= r.frame_width == 320 and r.box.y2 <= r.frame_height == 240
        # the detector's own input in its (pseudo-colour) mode, dual-energy lanes rendered to it: the 128 px
        # canvas cut to the bags in multiples of the stride (32), landscape
        assert (r.format, r.input_format) == ("canvas-u8", "rgb")
        assert r.height <= r.width <= 128 and r.width % 32 == 0 and r.height % 32 == 0
        assert r.placements and all(p.box.x2 <= 320 and p.box.y2 <= 240 for p in r.placements)


def test_bad_raw_records_are_dead_lettered_and_the_pipeline_goes_on(pipe, store, stack):
    topics, producer, _, common = pipe
    lane = f"lane-{uuid.uuid4().hex[:5]}"
    now = datetime.now(UTC)
    good = encode_rgb(_frames(1, seed=5)[0].rgb)
    corrupt = good[:100] + bytes(len(good) - 112) + good[-12:]  # header and end intact, pixel data zeroed
    oversized = encode_rgb(np.random.default_rng(0).integers(0, 255, (500, 500, 3), np.uint8))
    assert len(oversized) > common["max_payload_bytes"]

    def raw(seq, data, w=320, h=240):
        return RawScan(scan_id=make_scan_id(lane, seq, now), lane_id=lane, scanner_id="s", captured_at=now, seq=seq,
                       format="rgb-png", width=w, height=h), data

    with Consumer(stack.kafka_bootstrap, [topics.deadletter], group_id=None, from_beginning=False) as dl:
        for meta, data in (raw(0, corrupt), raw(1, oversized, 500, 500)):
            producer.publish(topics.raw, meta, data)
        producer._producer.send(topics.raw, key=lane.encode(), value=good, headers=[("lw-meta", b'{"schema_version": 1, "lane_id": "x"}')])
        last, data = raw(3, good)
        producer.publish(topics.raw, last, data)
        producer.flush()
        letters = [(r, r.meta(DeadLetter)) for r in drain(dl, lambda rs: sum(r.key == lane for r in rs) >= 3, timeout_s=30)]
        until(lambda: store.is_done(last.scan_id), timeout_s=30, what="the good scan after the bad ones")
    mine = sorted(((m.offset, m.stage, m.reason, len(r.value)) for r, m in letters if r.key == lane))
    assert [stage for _, stage, _, _ in mine] == ["crop"] * 3
    corrupt_l, oversized_l, schema_l = mine
    assert "cannot be decoded" in corrupt_l[2] and corrupt_l[3] == len(corrupt)
    assert "exceeds the 600000-byte limit" in oversized_l[2] and "dead letter keeps the first" in oversized_l[2]
    assert "RawScan schema" in schema_l[2] and schema_l[3] == len(good)


def test_the_ingest_service_takes_watched_files_and_refuses_bad_ones_at_the_door(pipe, store, stack, tmp_path):
    topics, producer, _, common = pipe
    lane = f"lane-{uuid.uuid4().hex[:5]}"
    frame = _frames(1, seed=9)[0]
    (tmp_path / lane).mkdir()
    cv2.imwrite(str(tmp_path / lane / "bag1.png"), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / lane / "bag2_high.png"), frame.high)
    cv2.imwrite(str(tmp_path / lane / "bag2_low.png"), frame.low)
    (tmp_path / lane / "bag3.png").write_bytes(encode_rgb(frame.rgb)[:5000])  # cut off mid-transfer
    settings = ingest.IngestSettings(**common, watch_dir=tmp_path, settle_s=0.0)
    stop, up = threading.Event(), threading.Event()
    with Consumer(stack.kafka_bootstrap, [topics.raw, topics.deadletter], group_id=None, from_beginning=False) as tail:
        thread = threading.Thread(target=ingest.run, args=(settings,), kwargs={"stop": stop, "ready": lambda *_: up.set()})
        thread.start()
        try:
            up.wait(30)
            got = drain(tail, lambda rs: sum(r.key == lane for r in rs) >= 3, timeout_s=20)
            until(lambda: (tmp_path / lane / "rejected" / "bag3.png").exists(), what="the bad file moved aside")
        finally:
            stop.set()
            thread.join(20)
    raws = [r.meta(RawScan) for r in got if r.topic == topics.raw and r.key == lane]
    letters = [r.meta(DeadLetter) for r in got if r.topic == topics.deadletter and r.key == lane]
    assert sorted(m.format for m in raws) == ["dual-png16", "rgb-png"] and [m.seq for m in raws] == [0, 1]
    assert len(letters) == 1 and letters[0].stage == "ingest" and "truncated PNG" in letters[0].reason
    assert letters[0].topic == "ingest:file:bag3.png"
    assert sorted(p.name for p in (tmp_path / lane / "done").iterdir()) == ["bag1.png", "bag2_high.png", "bag2_low.png"]
    until(lambda: all(store.is_done(m.scan_id) for m in raws), timeout_s=30, what="outcomes of the watched files")

    with pytest.raises(Rejected, match="exceeds"):
        ingest.publish_scan(producer, encode_rgb(frame.rgb), lane_id=lane, seq=7, topics=topics, max_payload_bytes=1000)
    with pytest.raises(Rejected, match="lane_id"):
        ingest.publish_scan(producer, encode_rgb(frame.rgb), lane_id="no such lane!", seq=8, topics=topics)
