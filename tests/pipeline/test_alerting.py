"""The alert core: thresholds and severities per class, NMS across regions, scan assembly."""

from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.alerting import AlertPolicy, ClassRule, ScanAssembler, build_alert, merge_detections
from pipeline.boxes import nms
from pipeline.messages import Box, Detection, Detections, Rejected, make_scan_id

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _det(label, score, x1, y1, x2, y2):
    return Detection(label=label, score=score, box=Box(x1=x1, y1=y1, x2=x2, y2=y2))


def _part(seq=0, *, index=0, count=1, view="top", view_count=1, dets=(), lane="lane-1"):
    return Detections(
        scan_id=make_scan_id(lane, seq, NOW), lane_id=lane, scanner_id="s1", view=view, view_count=view_count,
        captured_at=NOW, seq=seq, region_index=index, region_count=count, region=Box(x1=0, y1=0, x2=500, y2=400),
        detections=tuple(dets), engine="test",
    )


def test_nms_keeps_the_best_of_overlapping_boxes():
    # the alert stage merges regions with the runtimes' NMS (pipeline.boxes), one implementation
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float)
    assert nms(boxes, np.array([0.5, 0.9, 0.3]), 0.5).tolist() == [1, 2]
    assert nms(boxes, np.array([0.5, 0.9, 0.3]), 0.9).tolist() == [1, 0, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_thresholds_per_class_and_unknown_classes():
    policy = AlertPolicy(rules={"gun": ClassRule(threshold=0.3, severity="critical"),
                                "pliers": ClassRule(threshold=0.6, severity="low")})
    part = _part(dets=[_det("gun", 0.31, 0, 0, 10, 10), _det("pliers", 0.59, 20, 20, 40, 40), _det("cat", 0.99, 0, 0, 5, 5)])
    assert [d.label for d in merge_detections([part], policy)] == ["gun"]
    lenient = policy.model_copy(update={"default": ClassRule(threshold=0.5, severity="medium")})
    assert [d.label for d in merge_detections([part], lenient)] == ["gun", "cat"]  # by severity, then score


def test_one_object_seen_by_two_overlapping_regions_counts_once():
    a = _part(index=0, count=2, dets=[_det("knife", 0.7, 100, 100, 200, 150)])
    b = _part(index=1, count=2, dets=[_det("knife", 0.8, 104, 101, 203, 152), _det("knife", 0.6, 300, 300, 350, 320)])
    kept = merge_detections([a, b], AlertPolicy())
    assert [(d.score, d.view) for d in kept] == [(0.8, "top"), (0.6, "top")]


def test_views_are_not_suppressed_against_each_other():
    top = _part(view="top", view_count=2, dets=[_det("gun", 0.9, 10, 10, 50, 50)])
    side = _part(view="side", view_count=2, dets=[_det("gun", 0.8, 10, 10, 50, 50)])
    assert {d.view for d in merge_detections([top, side], AlertPolicy())} == {"top", "side"}


def test_build_alert_takes_the_worst_severity_and_lists_classes_once():
    part = _part(seq=4, dets=[_det("pliers", 0.9, 0, 0, 10, 10), _det("gun", 0.5, 20, 20, 60, 60), _det("pliers", 0.8, 70, 70, 90, 90)])
    alert = build_alert([part], AlertPolicy(), created_at=NOW)
    assert alert.severity == "critical" and alert.classes == ("gun", "pliers")
    assert alert.alert_id == f"al-{part.scan_id}" and alert.lane_id == "lane-1" and alert.seq == 4
    assert len(alert.detections) == 3 and all(d.view == "top" for d in alert.detections)
    assert build_alert([_part(dets=[_det("gun", 0.05, 0, 0, 10, 10)])], AlertPolicy(), created_at=NOW) is None
    with pytest.raises(ValueError):
        build_alert([_part(0), _part(1)], AlertPolicy(), created_at=NOW)


def test_build_alert_names_the_scans_views_top_first_even_those_without_a_find():
    side = _part(view="side", view_count=2, dets=[_det("gun", 0.9, 10, 10, 50, 50)])
    top = _part(view="top", view_count=2)  # nothing found in the top view: its image is still worth showing
    assert build_alert([side, top], AlertPolicy(), created_at=NOW).views == ("top", "side")
    assert build_alert([side], AlertPolicy(), created_at=NOW).views == ("side",)


def test_policy_loads_from_json_text_and_files(tmp_path):
    text = '{"rules": {"knife": {"threshold": 0.2, "severity": "high"}}, "iou_threshold": 0.4}'
    assert AlertPolicy.load(text).rules["knife"].threshold == 0.2
    (tmp_path / "p.json").write_text(text)
    assert AlertPolicy.load(tmp_path / "p.json").iou_threshold == 0.4
    with pytest.raises(ValueError):
        AlertPolicy.load('{"rules": {"knife": {"threshold": 2, "severity": "high"}}}')


def test_assembler_waits_for_every_region_of_every_view():
    asm = ScanAssembler()
    assert asm.add(_part(index=1, count=2, view_count=2), 0.0, token=("p", 1)) is None
    assert asm.add(_part(index=1, count=2, view_count=2), 0.1, token=("p", 2)) is None  # redelivered: replaces
    assert asm.add(_part(index=0, count=2, view_count=2), 0.2, token=("p", 3)) is None  # the side view is missing
    assert asm.pending() == {make_scan_id("lane-1", 0, NOW): 1}
    assert asm.held() == [("p", 1), ("p", 2), ("p", 3)]
    done = asm.add(_part(view="side", view_count=2), 0.3, token=("p", 4))
    assert done.complete and done.missing == 0 and len(done.parts) == 3 and len(asm) == 0
    assert [(p.view, p.region_index) for p in done.parts] == [("side", 0), ("top", 0), ("top", 1)]
    assert done.tokens == (("p", 1), ("p", 2), ("p", 3), ("p", 4))


def test_assembler_expires_and_drops():
    asm = ScanAssembler(max_wait_s=5.0)
    asm.add(_part(0, index=0, count=3), 0.0, token=0)
    asm.add(_part(1, index=0, count=2), 3.0, token=1)
    assert asm.expire(4.0) == []
    (late,) = asm.expire(5.5)
    assert not late.complete and late.missing == 2 and late.tokens == (0,)
    assert asm.drop(lambda t: t == 1) == 1 and len(asm) == 0


def test_assembler_refuses_inconsistent_parts():
    asm = ScanAssembler()
    asm.add(_part(index=0, count=2), 0.0)
    with pytest.raises(Rejected, match="region_count"):
        asm.add(_part(index=1, count=3), 0.0)
    with pytest.raises(Rejected, match="view_count"):
        asm.add(_part(index=1, count=2, view_count=2), 0.0)
    with pytest.raises(Rejected, match="more views"):
        asm.add(_part(index=0, count=2, view="side"), 0.0)
    assert asm.add(_part(index=1, count=2), 0.0).complete
