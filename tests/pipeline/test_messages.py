"""Message schemas: round trips through record headers, and what validation refuses."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from pipeline.messages import (
    META_HEADER,
    TOPIC_ACKS,
    TOPIC_ALERTS,
    TOPIC_CROPPED,
    TOPIC_DEADLETTER,
    TOPIC_DETECTIONS,
    TOPIC_RAW,
    TOPICS,
    Ack,
    Alert,
    BadMessage,
    Box,
    CroppedRegion,
    DeadLetter,
    Detection,
    Detections,
    RawScan,
    alert_id_for,
    decode_meta,
    encode_meta,
    make_scan_id,
)

T0 = datetime(2026, 11, 21, 12, 0, 0, 123000, tzinfo=UTC)
SCAN_ID = make_scan_id("lane-3", 17, T0)
IDENTITY = dict(scan_id=SCAN_ID, lane_id="lane-3", scanner_id="rapiscan-620dv", captured_at=T0, seq=17)
GUN = Detection(label="gun", score=0.91, box=Box(x1=120, y1=80, x2=260, y2=170), view="top")

SAMPLES = {
    TOPIC_RAW: RawScan(**IDENTITY, format="dual-png16", width=1200, height=950, view_count=2),
    TOPIC_CROPPED: CroppedRegion(**IDENTITY, format="rgb-png", width=400, height=300, frame_width=1200,
                                 frame_height=950, region_index=1, region_count=2,
                                 box=Box(x1=100, y1=50, x2=500, y2=350), confidence=0.8, method="tdc"),
    TOPIC_DETECTIONS: Detections(**IDENTITY, region_index=0, region_count=1, region=Box(x1=0, y1=0, x2=1200, y2=950),
                                 detections=(GUN,), engine="onnxruntime:aspp_yolo_nano", batch_size=4,
                                 timings_ms={"infer": 38.5}),
    TOPIC_ALERTS: Alert(alert_id=alert_id_for(SCAN_ID), scan_id=SCAN_ID, lane_id="lane-3", scanner_id="rapiscan-620dv",
                        captured_at=T0, seq=17, classes=("gun",), detections=(GUN,), severity="critical",
                        created_at=T0 + timedelta(milliseconds=420)),
    TOPIC_ACKS: Ack(alert_id=alert_id_for(SCAN_ID), lane_id="lane-3", decision="escalate", operator="op7", at=T0),
    TOPIC_DEADLETTER: DeadLetter(stage="crop", reason="truncated PNG", topic=TOPIC_RAW, partition=2, offset=41,
                                 key="lane-3", lane_id="lane-3", headers=(("lw-meta", "{}"),), at=T0),
}


def test_every_topic_has_a_model_and_a_sample():
    assert SAMPLES.keys() == TOPICS.keys()
    assert all(isinstance(SAMPLES[t], TOPICS[t]) for t in TOPICS)


@pytest.mark.parametrize("topic", list(SAMPLES))
def test_round_trip_through_headers(topic):
    headers = encode_meta(SAMPLES[topic])
    assert [k for k, _ in headers] == [META_HEADER] and all(isinstance(v, bytes) for _, v in headers)
    back = decode_meta(topic, headers)
    assert back == SAMPLES[topic] and back.schema_version == 1


def test_header_is_compact_json_without_nulls():
    raw = encode_meta(SAMPLES[TOPIC_RAW])[0][1]
    assert b"blob_key" not in raw and b" " not in raw and len(raw) < 400


def test_scan_ids_sort_by_capture_time_and_are_derived():
    later = make_scan_id("lane-3", 2, T0 + timedelta(milliseconds=1))
    assert SCAN_ID < later and SCAN_ID == "1795262400123-lane-3-17"
    assert make_scan_id("lane-3", 17, T0) == SCAN_ID  # same scan exported twice: same id, caught by dedup


def _json(topic, **changes):
    data = SAMPLES[topic].model_dump(mode="json")
    data.update(changes)
    return [(META_HEADER, __import__("json").dumps(data).encode())]


@pytest.mark.parametrize("topic,changes,needle", [
    (TOPIC_RAW, {"lane_id": "lane:3"}, "lane_id"),  # would break the Redis key layout
    (TOPIC_RAW, {"captured_at": "2026-11-21T12:00:00"}, "captured_at"),  # naive time
    (TOPIC_RAW, {"format": "bmp"}, "format"),
    (TOPIC_RAW, {"width": 0}, "width"),
    (TOPIC_RAW, {"schema_version": 2}, "schema_version"),
    (TOPIC_RAW, {"extra": 1}, "extra"),
    (TOPIC_RAW, {"scan_id": "abc"}, "scan_id"),
    (TOPIC_CROPPED, {"region_index": 2}, "region_index"),
    (TOPIC_CROPPED, {"box": {"x1": 900, "y1": 50, "x2": 1300, "y2": 350}}, "outside"),
    (TOPIC_DETECTIONS, {"region": {"x1": 10, "y1": 0, "x2": 5, "y2": 9}}, "x2 > x1"),
    (TOPIC_ALERTS, {"detections": []}, "detections"),
    (TOPIC_ALERTS, {"severity": "panic"}, "severity"),
    (TOPIC_ACKS, {"decision": "ignore"}, "decision"),
])
def test_schema_failures_name_the_field(topic, changes, needle):
    with pytest.raises(BadMessage) as e:
        decode_meta(topic, _json(topic, **changes))
    assert needle in e.value.reason and type(SAMPLES[topic]).__name__ in e.value.reason


@pytest.mark.parametrize("headers,needle", [
    (None, "found 0"),
    ([("other", b"x")], "found 0"),
    ([(META_HEADER, b"{}"), (META_HEADER, b"{}")], "found 2"),
    ([(META_HEADER, b"\xff\xfenot json")], "schema"),
])
def test_missing_or_garbled_header(headers, needle):
    with pytest.raises(BadMessage, match=needle):
        decode_meta(TOPIC_RAW, headers)


def test_unknown_topic_needs_an_explicit_model():
    headers = encode_meta(SAMPLES[TOPIC_ACKS])
    with pytest.raises(BadMessage, match="no schema"):
        decode_meta("elsewhere", headers)
    assert decode_meta("elsewhere", headers, Ack) == SAMPLES[TOPIC_ACKS]


def test_models_are_frozen():
    with pytest.raises(ValidationError, match="frozen"):
        SAMPLES[TOPIC_RAW].seq = 3


def test_a_canvas_region_needs_its_placements_inside_the_frame():
    from datetime import UTC, datetime

    from pipeline.messages import Box, CroppedRegion, Placed, make_scan_id

    now = datetime(2026, 11, 21, tzinfo=UTC)
    base = dict(scan_id=make_scan_id("lane-1", 0, now), lane_id="lane-1", scanner_id="s", captured_at=now, seq=0,
                width=64, height=64, frame_width=200, frame_height=100, region_index=0, region_count=1,
                box=Box(x1=0, y1=0, x2=200, y2=100), confidence=0.9, method="tdc")
    placed = (Placed(box=Box(x1=0, y1=0, x2=200, y2=100), scale=0.32, dx=0, dy=16),)
    ok = CroppedRegion(**base, format="canvas-u8", input_format="rgb", placements=placed)
    assert ok.placements[0].scale == 0.32
    with pytest.raises(ValueError, match="needs placements"):
        CroppedRegion(**base, format="canvas-u8", input_format="rgb")
    with pytest.raises(ValueError, match="needs placements"):
        CroppedRegion(**base, format="rgb-png", input_format="rgb", placements=placed)
    outside = (Placed(box=Box(x1=0, y1=0, x2=201, y2=100), scale=0.32, dx=0, dy=16),)
    with pytest.raises(ValueError, match="outside"):
        CroppedRegion(**base, format="canvas-u8", input_format="rgb", placements=outside)
