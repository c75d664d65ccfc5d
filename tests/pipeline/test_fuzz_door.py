"""Every door under Hypothesis (`services.tools.bench.fuzz`): no crash, every rejection dead-lettered with a reason;
and the crashes the fuzzer found, each kept as a regression test with its minimal input."""

import json
import struct
from datetime import datetime

import cv2
import numpy as np
import pytest
from hypothesis import strategies as st

from pipeline.codec import decode_scan, encode_rgb, image_size
from pipeline.kafka import Inbound
from pipeline.messages import DeadLetter, RawScan, Rejected, encode_meta
from services.cli import main
from services.ingest import Gate
from services.tools.bench.fuzz import Target, _dead_lettered, _exif, _messages, _png_chunk, fuzz_target, targets

TARGETS = targets()


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_no_input_crashes_a_door(target):
    r = fuzz_target(target, examples=300, seed_=0, budget_s=20)
    assert r["crash_list"] == []
    assert r["inputs"] == r["accepted"] + r["rejected"] >= 300
    assert r["rejected"] and "" not in r["reasons"]  # a reason for every dead letter (checked input by input)


def test_a_crash_is_shrunk_to_a_minimal_input_kept_as_hex():
    def check(data: bytes) -> str | None:
        if b"\xff" in data:
            raise KeyError("boom")
        return None

    r = fuzz_target(Target("toy", st.binary(min_size=1), check), examples=300, seed_=0)
    (crash,) = r["crash_list"]
    assert (crash["type"], crash["input"]) == ("KeyError", {"hex": "ff"})
    assert crash["where"].startswith("tests/pipeline/test_fuzz_door.py:")
    assert r["crashes"] == 1 and r["inputs"] == r["accepted"] + r["crash_inputs"]


def test_bench_fuzz_command_counts_every_input(tmp_path, capsys):
    out = tmp_path / "fuzz.json"
    assert main(["bench", "fuzz", "--examples", "12", "--seed", "3", "--json", str(out)]) == 0
    rows = {r["target"]: r for r in json.loads(out.read_text())["targets"]}
    assert set(rows) == {t.name for t in TARGETS}
    for r in rows.values():
        assert r["crashes"] == 0 and r["inputs"] == r["accepted"] + r["rejected"] >= 12
    assert "0 crashes" in capsys.readouterr().out


# ---- what the fuzzer found -----------------------------------------------------------------------------------

IMG = np.zeros((24, 40, 3), np.uint8)
IMG[:, :10] = 255  # a white band on the left: where it lands shows whether the pixels were turned


def test_jpeg_with_exif_orientation_decodes_as_stored_at_its_header_size():
    # was: OpenCV turned it by the orientation (6), a 24x40 frame under a 40x24 header and record
    jpeg = encode_rgb(IMG, fmt="rgb-jpeg")
    app1 = b"Exif\x00\x00" + _exif(6)
    data = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]
    scan = decode_scan(data)
    assert scan.size == image_size(data) == (40, 24)
    assert scan.rgb[:, :8].mean() > 240 and scan.rgb[:, 12:].mean() < 15


def test_png_with_exif_orientation_decodes_as_stored_at_its_header_size():
    # was: a greyscale (OpenCV-decoded) PNG with an eXIf chunk, orientation 8, came out 24x40
    grey = cv2.imencode(".png", IMG[..., 0])[1].tobytes()
    data = grey[:33] + _png_chunk(b"eXIf", _exif(8)) + grey[33:]
    scan = decode_scan(data)
    assert scan.size == image_size(data) == (40, 24)
    assert scan.rgb[:, :8].mean() > 240


def test_ingest_dead_letters_a_naive_year_one_capture_time():
    # was: ValueError "year 0 is out of range" from the scan id's timestamp(), out of Gate.admit
    out = Gate(None).admit(encode_rgb(IMG), lane_id="lane-1", source="api", captured_at=datetime(1, 1, 1))
    assert isinstance(out.message, DeadLetter) and "timezone" in out.message.reason


def _rejected_record(**fields) -> Inbound:
    record = dict(topic="lanewatch.scans.raw", partition=0, offset=3, key="lane-1", headers=(), value=b"scan",
                  timestamp_ms=0)
    return Inbound(**{**record, **fields})


def test_a_record_with_a_null_header_value_is_dead_lettered():
    # was: AttributeError in Producer.dead_letter (kafka-python gives None for a null header value)
    record = _rejected_record(headers=(("lw-meta", None), ("trace", None)))
    with pytest.raises(Rejected) as err:
        record.meta()
    assert _dead_lettered(record, err.value.reason).startswith("RawScan schema")


@pytest.mark.parametrize("key", ["0\n", "lane-1\n"])
def test_a_lane_key_with_a_trailing_newline_is_dead_lettered(key):
    # was: pydantic ValidationError building the DeadLetter: re's `$` matches before a final newline, pydantic's does not
    record = _rejected_record(key=key)
    with pytest.raises(Rejected) as err:
        record.meta()
    assert _dead_lettered(record, err.value.reason)
    out = Gate(None).admit(encode_rgb(IMG), lane_id=key, source="api")
    assert not isinstance(out.message, RawScan) and out.message.lane_id is None and out.message.reason


def test_an_infinite_float_is_refused_at_the_first_door():
    # pydantic reads JSON's Infinity, and `encode_meta` would write it back as null for the next stage to refuse:
    # the messages refuse NaN and infinities (allow_inf_nan=False), so such a record is dead-lettered where it enters
    (detections,) = (t for t in TARGETS if t.name == "lw-meta:detections")
    header = encode_meta(_messages()["lanewatch.detections"][0])[0][1].replace(b'"infer":12.5', b'"infer":Infinity')
    assert b"Infinity" in header
    reason = detections.check({"headers": [("lw-meta", header)], "key": "lane-1", "value": b""})  # dead-lettered
    assert reason is not None and "timings_ms" in reason
