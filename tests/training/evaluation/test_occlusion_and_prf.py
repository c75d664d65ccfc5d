import pytest

from tests.training.evaluation.scenes import CLASSES, box, det, dets, sample
from training.evaluation import Counts, counts_at, match_detections, occlusion_map, pr_curve


def _occlusion_scene():
    # One class. GTs: g1 OL1 (0,0) and g2 OL3 (50,0) in image a; g3 OL3 (0,0), g4 OL2 (50,0)
    # and g5 with no level (100,0) in image b. Detections by score:
    #   0.9 g2 (OL3)  0.85 nothing  0.8 g1 (OL1)  0.6 g3 (OL3)  0.5 g2 again  0.4 g5 (none); g4 is missed.
    samples = [
        sample("a", box(0, 0, occlusion="OL1"), box(50, 0, occlusion="OL3")),
        sample("b", box(0, 0, occlusion="OL3"), box(50, 0, occlusion="OL2"), box(100, 0)),
    ]
    detections = {
        "a": dets(det(50, 0, 0.9), det(150, 50, 0.85), det(0, 0, 0.8), det(50, 0, 0.5)),
        "b": dets(det(0, 0, 0.6), det(100, 0, 0.4)),
    }
    return match_detections(samples, detections, CLASSES)


def test_ap_per_occlusion_level_ignores_detections_of_other_levels() -> None:
    matches = _occlusion_scene()
    gun = matches["gun"]
    # OL3 (2 positives): 0.9 TP, 0.85 FP, [0.8 on OL1: ignored], 0.6 TP, 0.5 duplicate of g2 FP, [0.4 ignored]
    #   precision 1, 1/2, 2/3, 1/2 at recall 1/2, 1/2, 1, 1
    #   all-point 1/2 * 1 + 1/2 * 2/3 = 5/6; 11-point (6 * 1 + 5 * 2/3) / 11 = 28/33
    ol3 = pr_curve(gun, "OL3")
    assert ol3.scores.tolist() == [0.9, 0.85, 0.6, 0.5]
    assert (ol3.positives, ol3.ap, ol3.ap_11pt) == (2, pytest.approx(5 / 6, abs=1e-9), pytest.approx(28 / 33, abs=1e-9))
    # OL1 (1 positive): 0.85 FP, 0.8 TP, the rest ignored (the 0.5 duplicate belongs to an OL3 GT)
    #   precision 0, 1/2 at recall 0, 1: all-point 1/2, 11-point 1/2
    ol1 = pr_curve(gun, "OL1")
    assert (ol1.positives, ol1.ap, ol1.ap_11pt) == (1, 0.5, 0.5)
    # OL2 (1 positive, missed): only the 0.85 false alarm counts
    assert (pr_curve(gun, "OL2").ap, occlusion_map(matches, "OL2")) == (0.0, 0.0)
    # all levels together (5 positives): TP FP TP TP FP TP
    #   precision 1, 1/2, 2/3, 3/4, 3/5, 2/3 at recall .2 .2 .4 .6 .6 .8
    #   envelope 1 / 0.75 / 0.75 / 2/3: all-point .2 + .15 + .15 + .2 * 2/3 = 19/30
    assert pr_curve(gun).ap == pytest.approx(19 / 30, abs=1e-9)
    # knife has no positives at any level: left out of every level's mean
    assert occlusion_map(matches, "OL3") == pytest.approx(5 / 6, abs=1e-9)


def test_precision_recall_f1_at_the_operating_threshold() -> None:
    # gun: 3 GTs; 0.9 TP, 0.8 FP, 0.25 TP (kept: the threshold is inclusive), 0.2 TP (dropped)
    # knife: 1 GT; 0.6 FP, 0.1 TP (dropped)
    samples = [sample("a", box(0, 0), box(50, 0), box(100, 0), box(0, 50, "knife"))]
    rows = dets(
        det(0, 0, 0.9), det(150, 50, 0.8), det(50, 0, 0.25), det(100, 0, 0.2), det(100, 50, 0.6, 1), det(0, 50, 0.1, 1)
    )
    matches = match_detections(samples, {"a": rows}, CLASSES)
    gun, knife = counts_at(matches["gun"], 0.25), counts_at(matches["knife"], 0.25)
    assert (gun.tp, gun.fp, gun.fn) == (2, 1, 1)
    assert (gun.precision, gun.recall, gun.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert (knife.tp, knife.fp, knife.fn, knife.precision, knife.recall, knife.f1) == (0, 1, 1, 0.0, 0.0, 0.0)
    # micro average: TP 2, FP 2, positives 4
    total = gun + knife
    assert (total.precision, total.recall, total.f1) == (0.5, 0.5, 0.5)
    assert (Counts().precision, Counts().recall, Counts().f1) == (0.0, 0.0, 0.0)
