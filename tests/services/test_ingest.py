"""Ingest's pure parts: the door's checks, lane schedules, the watched folder, simulated lanes."""

import time

import cv2
import numpy as np
import pytest

from pipeline.codec import BadPayload, encode_dual, encode_rgb
from services.ingest import LaneProfile, SimulatedLanes, WatchedDirectory, check_payload, lane_arrivals

RGB = np.full((60, 80, 3), 200, np.uint8)


def test_the_door_reads_format_and_size_without_decoding():
    assert check_payload(encode_rgb(RGB)) == ("rgb-png", 80, 60)
    assert check_payload(encode_rgb(RGB, fmt="rgb-jpeg")) == ("rgb-jpeg", 80, 60)
    raw = np.full((60, 80), 30000, np.uint16)
    assert check_payload(encode_dual(raw, raw)) == ("dual-png16", 80, 60)


@pytest.mark.parametrize("payload, reason", [
    (encode_rgb(RGB)[:-30], "truncated PNG"),
    (b"GIF89a" + bytes(100), "unknown payload format"),
    (encode_rgb(np.zeros((8, 80, 3), np.uint8)), "outside 16"),
    (encode_dual(np.ones((20, 20), np.uint16), np.ones((20, 20), np.uint16))[:-5], "truncated dual-png16"),
])
def test_the_door_refuses_with_a_reason(payload, reason):
    with pytest.raises(BadPayload, match=reason):
        check_payload(payload)


def test_the_door_refuses_oversized_payloads():
    with pytest.raises(BadPayload, match="exceeds the 1000-byte limit"):
        check_payload(encode_rgb(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)), max_bytes=1000)


def test_lane_arrivals_have_bursts_and_idle_gaps():
    rng = np.random.default_rng(1)
    t = np.array(lane_arrivals(rng, LaneProfile(rate=2.0), 600.0))
    assert np.all(np.diff(t) > 0) and t.min() >= 0 and t.max() < 600
    assert 0.8 * 2.0 < len(t) / 600 < 1.8 * 2.0  # about the steady rate, bursts and idle spells averaged in
    gaps = np.diff(t)
    assert gaps.max() > 5.0  # idle spells
    per_second = np.bincount(t.astype(int), minlength=600)
    assert per_second.max() >= 6  # bursts
    again = lane_arrivals(np.random.default_rng(1), LaneProfile(rate=2.0), 600.0)
    assert again == list(t)  # seeded: reproducible


def test_watched_directory_pairs_raw_files_and_names_lanes(tmp_path):
    raw = np.full((40, 50), 40000, np.uint16)
    cv2.imwrite(str(tmp_path / "a_high.png"), raw)
    cv2.imwrite(str(tmp_path / "a_low.png"), raw)
    (tmp_path / "lane-7").mkdir()
    cv2.imwrite(str(tmp_path / "lane-7" / "b.jpg"), np.zeros((40, 50, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "c_high.png"), raw)  # its low half never comes
    (tmp_path / "notes.txt").write_text("not a scan")
    watch = WatchedDirectory(tmp_path, default_lane="lane-1", settle_s=0.0, pair_timeout_s=60)
    ready = list(watch.poll())
    assert [(lane, [f.name for f in files], reason) for lane, files, _, reason in ready] == [
        ("lane-1", ["a_high.png", "a_low.png"], ""), ("lane-7", ["b.jpg"], "")]
    assert check_payload(ready[0][2]) == ("dual-png16", 50, 40)
    for _, files, _, _ in ready:
        watch.done(files)
    assert (tmp_path / "done" / "a_low.png").exists() and (tmp_path / "lane-7" / "done" / "b.jpg").exists()
    late = list(watch.poll(now=time.time() + 120))
    assert [(files[0].name, payload, reason) for _, files, payload, reason in late] == [
        ("c_high.png", None, "raw pair incomplete: c_low.png is missing")]


def test_watched_directory_waits_for_files_to_settle(tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((40, 50, 3), np.uint8))
    watch = WatchedDirectory(tmp_path, default_lane="lane-1", settle_s=30.0)
    assert list(watch.poll()) == []
    assert len(list(watch.poll(now=time.time() + 31))) == 1


def test_simulated_lanes_alternate_forms_and_follow_their_schedules():
    sim = SimulatedLanes(2, rate=5.0, size=(320, 240), seed=3, pool=4)
    assert [sim.format_of(lane) for lane in sim.lane_ids] == ["rgb-png", "dual-png16"]
    assert sim.next_at() >= sim.t0
    sent = list(sim.due(sim.t0 + 30.0))
    assert {lane for lane, _ in sent} == {"lane-1", "lane-2"}
    for lane, frame in sent[:6]:
        assert check_payload(frame.payload)[0] == sim.format_of(lane)
    assert list(sim.due(sim.t0 + 30.0)) == []  # each scheduled scan is handed out once
