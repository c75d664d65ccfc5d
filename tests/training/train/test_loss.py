"""Box IoU variants and the detection loss on hand-made cases."""

import math

import pytest
import torch

from training.loss import DetectionLoss, bbox_ciou, bbox_giou, bbox_iou

# three levels of a 64 px input: 8x8, 4x4, 2x2 cells
STRIDES = (8, 16, 32)
ANCHORS = torch.tensor([[[4, 5], [8, 10], [12, 9]], [[16, 20], [24, 18], [20, 30]], [[40, 32], [48, 56], [60, 60]]], dtype=torch.float32)


def _xywh(x1, y1, x2, y2):
    return torch.tensor([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dtype=torch.float64)


def test_identical_boxes():
    b = _xywh(3, 4, 10, 20)
    assert float(bbox_ciou(b, b)) == pytest.approx(1.0) and float(bbox_giou(b, b)) == pytest.approx(1.0)


def test_offset_boxes_same_aspect():
    a, b = _xywh(0, 0, 2, 2), _xywh(1, 0, 3, 2)
    assert float(bbox_iou(a, b)) == pytest.approx(1 / 3)
    assert float(bbox_giou(a, b)) == pytest.approx(1 / 3)  # enclosing box = union
    assert float(bbox_ciou(a, b)) == pytest.approx(1 / 3 - 1 / 13)  # centre distance 1, enclosing diagonal^2 13


def test_ciou_aspect_term_and_giou_of_disjoint_boxes():
    a, b = _xywh(0, 0, 2, 2), _xywh(0, 0, 4, 2)
    v = 4 / math.pi**2 * (math.atan(2) - math.atan(1)) ** 2
    alpha = v / (1 - 0.5 + v)
    assert float(bbox_ciou(a, b)) == pytest.approx(0.5 - (1 / 20 + alpha * v), rel=1e-6)
    assert float(bbox_giou(_xywh(0, 0, 1, 1), _xywh(2, 0, 3, 1))) == pytest.approx(-1 / 3)


def _loss(num_classes=3):
    return DetectionLoss(anchors=ANCHORS, strides=STRIDES, num_classes=num_classes, img_size=64)


def _zeros(n=2, c=3):
    return [torch.zeros(n, 3, 64 // s, 64 // s, 5 + c) for s in STRIDES]


def test_assignment_centre_cell_two_neighbours_and_anchor_ratio():
    # one 20x18 box centred at (21, 10.5) in image 1, class 2
    targets = torch.tensor([[1, 2, 21.0, 10.5, 20.0, 18.0]])
    levels = _loss().build_targets(_zeros(), targets)
    b, a, gj, gi, tbox, c = levels[1]  # stride 16: centre (1.3125, 0.65625) in cells
    # every anchor of the level is within 4x; cells: own (1, 0), left neighbour (0, 0) as x % 1 < 0.5,
    # no upper neighbour (row 0), lower neighbour (1, 1) as y % 1 > 0.5
    cells = sorted({(int(x), int(y)) for x, y in zip(gi, gj)})
    assert cells == [(0, 0), (1, 0), (1, 1)] and len(b) == 9
    assert set(b.tolist()) == {1} and set(c.tolist()) == {2}
    own = (gi == 1) & (gj == 0)
    assert torch.allclose(tbox[own][0], torch.tensor([0.3125, 0.65625, 1.25, 1.125]))
    # stride 8: anchor (4, 5) is 5x too small for a 20-wide box; (8, 10) and (12, 9) match
    assert set(levels[0][1].tolist()) == {1, 2}
    assert len(_loss().build_targets(_zeros(), torch.zeros((0, 6)))[0][0]) == 0


def test_matched_perfect_predictions_give_near_zero_loss():
    loss_fn = _loss()
    targets = torch.tensor([[0, 1, 21.0, 30.5, 20.0, 18.0], [1, 0, 40.0, 40.0, 10.0, 12.0]])
    outputs = [o - 20.0 for o in _zeros()]  # confident "nothing" everywhere
    for level, (b, a, gj, gi, tbox, c) in enumerate(loss_fn.build_targets(outputs, targets)):
        anchors = loss_fn.anchors[level][a]
        p = outputs[level]
        p[b, a, gj, gi, 0:2] = torch.logit((tbox[:, :2] + 0.5) / 2)  # 2*sigmoid - 0.5 = offset
        p[b, a, gj, gi, 2:4] = torch.logit(torch.sqrt(tbox[:, 2:] / anchors) / 2)  # (2*sigmoid)^2 * anchor = size
        p[b, a, gj, gi, 4] = 20.0
        p[b, a, gj, gi, 5 + c] = 20.0
    total, parts = loss_fn(outputs, targets)
    assert float(total) < 1e-4 and parts["box"] < 1e-5
    worse, worse_parts = loss_fn([o.roll(1, dims=3) for o in outputs], targets)
    assert float(worse) > 100 * float(total) and worse_parts["box"] > 0.01


def test_loss_on_random_outputs_is_finite_and_differentiable():
    outputs = [o.normal_().requires_grad_() for o in _zeros()]
    targets = torch.tensor([[0, 1, 21.0, 30.5, 20.0, 18.0], [1, 2, 5.0, 60.0, 6.0, 8.0]])
    total, parts = DetectionLoss(anchors=ANCHORS, strides=STRIDES, num_classes=3, img_size=64, box_loss="giou")(outputs, targets)
    total.backward()
    assert math.isfinite(total.item()) and all(math.isfinite(v) and v > 0 for v in parts.values())
    assert all(torch.isfinite(o.grad).all() and o.grad.abs().sum() > 0 for o in outputs)
    # the total is the per-image sum of parts times the batch size
    assert total.item() == pytest.approx(2 * sum(parts.values()), rel=1e-5)
