import numpy as np
import pytest

from models.anchors import kmeans_anchors, letterboxed_wh, mean_best_iou, wh_iou

CENTRES = np.array([[12.0, 12.0], [40.0, 80.0], [200.0, 120.0]])


def clustered_boxes(seed: int = 0, per_cluster: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([c * rng.uniform(0.93, 1.07, (per_cluster, 2)) for c in CENTRES])


def test_wh_iou_hand_values():
    np.testing.assert_allclose(wh_iou([[10, 10], [10, 20]], [[10, 10], [20, 5]]), [[1.0, 50 / 150], [0.5, 50 / 250]])


def test_recovers_three_well_separated_clusters():
    anchors = kmeans_anchors(clustered_boxes(), num_scales=1, per_scale=3, seed=1)
    assert anchors.shape == (1, 3, 2)
    np.testing.assert_allclose(anchors[0], CENTRES, rtol=0.05)


def test_nine_anchors_sorted_beat_random_and_are_deterministic():
    boxes = clustered_boxes()
    anchors = kmeans_anchors(boxes, seed=3)
    assert anchors.shape == (3, 3, 2)
    areas = anchors.prod(axis=2).ravel()
    assert np.all(np.diff(areas) >= 0)
    random_anchors = np.random.default_rng(0).uniform(8, 220, (9, 2))
    assert mean_best_iou(boxes, anchors) > mean_best_iou(boxes, random_anchors) + 0.1
    assert mean_best_iou(boxes, anchors) > 0.85
    np.testing.assert_array_equal(anchors, kmeans_anchors(boxes, seed=3))


def test_rejects_too_few_distinct_boxes_and_drops_degenerate_ones():
    with pytest.raises(ValueError, match="distinct"):
        kmeans_anchors(np.array([[10, 10]] * 50 + [[0, 5]] * 20))


def test_letterboxed_wh_scales_by_the_long_side():
    np.testing.assert_allclose(letterboxed_wh([[100, 50], [30, 30]], [[800, 600], [300, 600]], 400), [[50, 25], [20, 20]])
