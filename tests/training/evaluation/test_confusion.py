import numpy as np
import pytest

from tests.training.evaluation.scenes import CLASSES, box, det, dets, sample
from training.evaluation import evaluate, format_table
from training.evaluation.confusion import agnostic_ap, agnostic_nms, confusion


def _named_wrong():
    # a gun framed as a knife, a knife framed as both (knife higher), a missed gun, a box on nothing
    samples = [sample("a", box(0, 0), box(50, 0, "knife")), sample("b", box(0, 0))]
    detections = {
        "a": dets(det(0, 0, 0.9, class_id=1), det(50, 0, 0.8, class_id=1), det(50, 0, 0.6, class_id=0)),
        "b": dets(det(100, 50, 0.7)),
    }
    return samples, detections


def test_confusion_counts_what_each_threat_was_called_and_what_was_missed() -> None:
    samples, detections = _named_wrong()
    table = confusion(samples, detections, CLASSES, score_threshold=0.5)
    assert table["gun"] == {"gun": 0, "knife": 1, "missed": 1}
    assert table["knife"] == {"gun": 0, "knife": 1, "missed": 0}  # the best-scoring box names it
    assert table["background"] == {"gun": 1, "knife": 0}
    # above the threshold only: the 0.6 gun box and the stray 0.7 one drop out
    high = confusion(samples, detections, CLASSES, score_threshold=0.75)
    assert high["background"] == {"gun": 0, "knife": 0} and high["knife"]["knife"] == 1


def test_agnostic_ap_counts_a_wrongly_named_box_as_found() -> None:
    samples, detections = _named_wrong()
    result = evaluate(samples, detections, CLASSES)
    assert result["per_class"]["gun"] == 0.0  # by name the gun was never found
    # as one class: 0.9 TP (gun a), 0.8 TP (knife a; its 0.6 twin suppressed), 0.7 FP (b): 2 of 3 found
    assert agnostic_ap(samples, detections, CLASSES) == pytest.approx(2 / 3)
    assert result["map50_agnostic"] == pytest.approx(2 / 3)
    table = format_table(result)
    assert "class-agnostic AP     0.6667" in table
    gun_row = next(line for line in table.splitlines()[::-1] if line.startswith("gun"))
    assert gun_row.split() == ["gun", "0", "1", "1"]


def test_agnostic_nms_keeps_the_highest_of_overlapping_boxes_of_any_class() -> None:
    rows = dets(det(0, 0, 0.5), det(1, 0, 0.9, class_id=1), det(40, 0, 0.7))
    kept = agnostic_nms(rows, 0.6)
    np.testing.assert_array_equal(kept[:, 4], [0.9, 0.7])
    assert agnostic_ap([sample("c")], {"c": rows}, CLASSES) is None  # no GT: no AP
