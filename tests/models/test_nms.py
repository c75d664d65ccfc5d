import numpy as np
import pytest

from models.nms import box_iou, nms, nms_reference, postprocess


def test_box_iou_hand_values():
    a = np.array([[0, 0, 10, 10], [0, 0, 2, 2]])
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    expected = np.array([[50 / 150, 1.0, 0.0, 0.0], [0.0, 4 / 100, 0.0, 0.0]])
    np.testing.assert_allclose(box_iou(a, b), expected)


def rows(*dets, num_classes=3):
    """Decoded rows from (x1, y1, x2, y2, obj, class_id, class_prob)."""
    out = np.zeros((len(dets), 5 + num_classes), np.float32)
    for r, (x1, y1, x2, y2, obj, cls, p) in enumerate(dets):
        out[r, :5] = (x1, y1, x2, y2, obj)
        out[r, 5 + cls] = p
    return out


# Box 0 and 1 overlap (IoU 0.81), both class 0; box 2 overlaps them but is class 1;
# box 3 is far away and below the default threshold (0.5 * 0.4 = 0.2).
IMAGE = rows(
    (10, 10, 110, 110, 0.9, 0, 1.0),
    (15, 15, 115, 115, 0.8, 0, 1.0),
    (12, 12, 112, 112, 0.7, 1, 1.0),
    (300, 300, 350, 350, 0.5, 2, 0.4),
)


def test_same_class_suppressed_other_class_kept():
    (dets,) = postprocess(IMAGE[None])
    assert dets.dtype == np.float32 and dets.shape == (2, 6)
    np.testing.assert_allclose(dets[:, 4], [0.9, 0.7], rtol=1e-6)
    assert dets[:, 5].tolist() == [0, 1]
    np.testing.assert_allclose(dets[0, :4], [10, 10, 110, 110])


def test_class_agnostic_suppresses_across_classes():
    (dets,) = postprocess(IMAGE[None], class_agnostic=True)
    assert dets[:, 5].tolist() == [0]


def test_conf_threshold_uses_obj_times_class_prob():
    (dets,) = postprocess(IMAGE[None], conf_threshold=0.1)
    np.testing.assert_allclose(dets[:, 4], [0.9, 0.7, 0.2], rtol=1e-6)
    (dets,) = postprocess(IMAGE[None], conf_threshold=0.75)
    np.testing.assert_allclose(dets[:, 4], [0.9], rtol=1e-6)


def test_iou_threshold_and_max_det():
    (dets,) = postprocess(IMAGE[None], iou_threshold=0.9)
    np.testing.assert_allclose(dets[:, 4], [0.9, 0.8, 0.7], rtol=1e-6)
    (dets,) = postprocess(IMAGE[None], iou_threshold=0.9, max_det=2)
    np.testing.assert_allclose(dets[:, 4], [0.9, 0.8], rtol=1e-6)


def test_multi_label_keeps_each_class_above_threshold():
    two = rows((0, 0, 50, 50, 1.0, 0, 0.9))
    two[0, 5 + 2] = 0.6
    (single,) = postprocess(two[None])
    (multi,) = postprocess(two[None], multi_label=True)
    assert single[:, 5].tolist() == [0]
    assert multi[:, 5].tolist() == [0, 2]
    np.testing.assert_allclose(multi[:, 4], [0.9, 0.6], rtol=1e-6)


def test_batch_of_two_images_with_different_results():
    other = rows(
        (0, 0, 20, 20, 0.95, 2, 1.0),
        (0, 0, 20, 20, 0.1, 1, 1.0),
        (1, 1, 21, 21, 0.6, 2, 1.0),
        (100, 100, 120, 120, 0.3, 2, 1.0),
    )
    first, second = postprocess(np.stack([IMAGE, other]))
    assert first[:, 5].tolist() == [0, 1]
    np.testing.assert_allclose(second[:, 4], [0.95, 0.3], rtol=1e-6)
    np.testing.assert_allclose(second[1, :4], [100, 100, 120, 120])


def test_empty_and_bad_input():
    (dets,) = postprocess(np.zeros((1, 0, 8), np.float32))
    assert dets.shape == (0, 6)
    (dets,) = postprocess(IMAGE[None], conf_threshold=0.99)
    assert dets.shape == (0, 6)
    with pytest.raises(ValueError):
        postprocess(np.zeros((5, 8), np.float32))


def test_many_random_boxes_end_sorted_and_non_overlapping():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 300, (1, 2000, 2))
    wh = rng.uniform(10, 60, (1, 2000, 2))
    pred = np.concatenate([xy, xy + wh, rng.uniform(0.3, 1, (1, 2000, 1)), rng.uniform(0, 1, (1, 2000, 3))], 2)
    (dets,) = postprocess(pred.astype(np.float32), conf_threshold=0.1, iou_threshold=0.5)
    assert np.all(np.diff(dets[:, 4]) <= 0)
    for c in range(3):
        same = dets[dets[:, 5] == c, :4]
        iou = box_iou(same, same)
        np.fill_diagonal(iou, 0)
        assert iou.max() <= 0.5


@pytest.mark.parametrize("seed", range(6))
def test_opencv_nms_keeps_what_the_numpy_loop_keeps(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 1500))
    xy = rng.uniform(0, 300, (n, 2))
    boxes = np.concatenate((xy, xy + rng.uniform(1, 80, (n, 2))), axis=1)
    scores = rng.uniform(0.001, 1, n).astype(np.float32)
    if seed % 2:
        scores = np.round(scores, 2) + 0.001  # many ties: both keep the lower index first
    for iou in (0.3, 0.6):
        expected = nms_reference(boxes, scores, iou, max_keep=100)
        kept = nms(boxes, scores, iou, max_keep=100)
        assert kept.dtype == np.int64 and len(kept) > 0
        np.testing.assert_array_equal(kept, expected)


def test_nms_hand_case_and_degenerate_inputs():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], np.float64)
    scores = np.array([0.5, 0.9, 0.4, 0.5], np.float32)
    # box 1 is best and swallows 0 and 3 (IoU 0.68); box 2 overlaps nothing
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.7).tolist() == [1, 0, 2]  # 0 and 3 are identical: the lower index wins
    assert nms(boxes, scores, 0.5, max_keep=1).tolist() == [1]
    assert nms(np.zeros((0, 4)), np.zeros(0, np.float32), 0.5).tolist() == []
    # zero scores and empty boxes go to the NumPy loop, which treats empty boxes as overlapping nothing
    empty = np.array([[5, 5, 5, 5], [5, 5, 5, 5]], np.float64)
    assert nms(empty, np.array([0.6, 0.5], np.float32), 0.5).tolist() == [0, 1]
    assert nms(boxes, np.array([0.5, 0.9, 0.4, 0.0], np.float32), 0.5).tolist() == [1, 2]
