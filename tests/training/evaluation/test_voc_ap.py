import numpy as np
import pytest

from tests.training.evaluation.scenes import CLASSES, box, det, dets, sample
from training.evaluation import average_precision, box_iou, counts_at, match_detections, pr_curve


def _gun_curve(samples, detections, **kwargs):
    return pr_curve(match_detections(samples, detections, CLASSES, **kwargs)["gun"])


def test_iou_is_continuous_on_end_exclusive_corners() -> None:
    gt = np.array([[0, 0, 10, 10]])
    # half overlap: 50 / 150; the devkit's +1 would say 66 / 176
    assert box_iou(np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30]]), gt)[:, 0] == pytest.approx(
        [1 / 3, 1.0, 0.0], abs=1e-12
    )
    assert box_iou(np.array([[5, 5, 4, 4]]), gt)[0, 0] == 0.0  # an inverted box has no area


def test_three_gts_five_detections_hand_computed() -> None:
    # GT: g1 (0,0) and g2 (50,0) in image a, g3 (0,0) in image b.
    # By score: 0.9 g1 TP, 0.8 FP, 0.7 g2 TP, 0.6 FP, 0.5 g3 TP (rows given out of order).
    # cumulative TP 1 1 2 2 3  ->  precision 1, 1/2, 2/3, 1/2, 3/5;  recall 1/3, 1/3, 2/3, 2/3, 1
    # envelope: 1 up to recall 1/3, 2/3 up to 2/3, 3/5 up to 1
    # all-point: 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/5 = 34/45
    # 11-point: t = 0..0.3 -> 1 (4 points), t = 0.4..0.6 -> 2/3 (3), t = 0.7..1.0 -> 3/5 (4)
    #           (4 + 2 + 2.4) / 11 = 8.4 / 11
    samples = [sample("a", box(0, 0), box(50, 0)), sample("b", box(0, 0))]
    detections = {
        "a": dets(det(50, 0, 0.7), det(100, 50, 0.8), det(0, 0, 0.9)),
        "b": dets(det(0, 0, 0.5), det(150, 50, 0.6)),
    }
    curve = _gun_curve(samples, detections)
    assert curve.precision == pytest.approx([1, 1 / 2, 2 / 3, 1 / 2, 3 / 5], abs=1e-12)
    assert curve.recall == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3, 1], abs=1e-12)
    assert curve.scores.tolist() == [0.9, 0.8, 0.7, 0.6, 0.5]
    assert curve.ap == pytest.approx(34 / 45, abs=1e-9)
    assert curve.ap_11pt == pytest.approx(8.4 / 11, abs=1e-9)


def test_perfect_detections_score_one_and_none_score_zero() -> None:
    samples = [sample("a", box(0, 0), box(50, 0)), sample("b", box(0, 0))]
    perfect = _gun_curve(samples, {"a": dets(det(0, 0, 0.9), det(50, 0, 0.3)), "b": dets(det(0, 0, 0.5))})
    assert (perfect.ap, perfect.ap_11pt) == (1.0, 1.0)
    empty = _gun_curve(samples, {})
    assert (empty.ap, empty.ap_11pt, empty.positives) == (0.0, 0.0, 3)


def test_duplicate_detection_of_one_gt_is_a_false_positive() -> None:
    # 0.9 g1 TP, 0.8 g1 again FP, 0.7 g2 TP: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    # all-point 1/2 * 1 + 1/2 * 2/3 = 5/6
    samples = [sample("a", box(0, 0), box(50, 0))]
    curve = _gun_curve(samples, {"a": dets(det(0, 0, 0.9), det(1, 0, 0.8), det(50, 0, 0.7))})
    assert curve.ap == pytest.approx(5 / 6, abs=1e-9)


def test_a_detection_goes_to_its_best_gt_even_when_that_one_is_taken() -> None:
    # The devkit rule: g1 at x 0 and g2 at x 2 overlap; the 0.8 detection at x 0.5 has
    # IoU 0.905 with g1 (already taken) and 0.739 with g2 (free): it is a duplicate of g1.
    samples = [sample("a", box(0, 0), box(2, 0))]
    m = match_detections(samples, {"a": dets(det(0, 0, 0.9), det(0.5, 0, 0.8))}, CLASSES)["gun"]
    assert m.assigned.tolist() == [0, 0]
    assert counts_at(m, 0.0).tp == 1 and counts_at(m, 0.0).fp == 1


def test_difficult_gt_is_neither_positive_nor_a_false_positive_source() -> None:
    # Detections on the difficult box (one of them a duplicate) are ignored; the other GT is found.
    samples = [sample("a", box(0, 0, difficult=True), box(50, 0))]
    m = match_detections(samples, {"a": dets(det(0, 0, 0.9), det(0, 0, 0.85), det(50, 0, 0.8))}, CLASSES)["gun"]
    curve = pr_curve(m)
    assert (curve.positives, curve.ap, curve.ap_11pt) == (1, 1.0, 1.0)
    assert curve.scores.tolist() == [0.8]
    counts = counts_at(m, 0.0)
    assert (counts.tp, counts.fp, counts.fn) == (1, 0, 0)


def test_iou_must_exceed_the_threshold_and_class_must_agree() -> None:
    samples = [sample("a", box(0, 0), box(50, 0))]
    half = [0, 0, 10, 5, 0.9, 0]  # IoU exactly 0.5 with g1: not a match (devkit: ovmax > thresh)
    wrong_class = det(50, 0, 0.8, class_id=1)
    assert _gun_curve(samples, {"a": dets(half, wrong_class)}).ap == 0.0
    assert _gun_curve(samples, {"a": dets(half, wrong_class)}, iou=0.4).ap == pytest.approx(0.5, abs=1e-12)


def test_average_precision_counts_a_recall_of_exactly_three_tenths_at_t_point_three() -> None:
    # One point at recall 0.3: the 11-point thresholds 0, .1, .2, .3 see precision 1 (4/11);
    # the devkit's np.arange(0, 1.1, 0.1) puts its fourth threshold at 0.30000000000000004 (3/11).
    assert average_precision(np.array([0.3]), np.array([1.0]), eleven_point=True) == pytest.approx(4 / 11)
    assert average_precision(np.array([0.3]), np.array([1.0])) == pytest.approx(0.3)
    assert average_precision(np.array([]), np.array([])) == 0.0
