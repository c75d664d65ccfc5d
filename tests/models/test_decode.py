import math

import torch

from models.decode import Decoder, decode_boxes_xywh, make_grid
from tests.models.conftest import ANCHORS


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_decoder_matches_a_hand_computed_cell():
    anchors = torch.tensor(ANCHORS, dtype=torch.float32)
    h, w, k = 4, 5, 7  # 2 classes
    raw = [torch.full((1, 3, hi, wi, k), -20.0) for hi, wi in ((h, w), (2, 3), (1, 2))]
    # Scale 0 (stride 8), anchor 1 (16 x 30), row 1, column 2.
    raw[0][0, 1, 1, 2] = torch.tensor([0.0, logit(0.75), 0.0, logit(0.25), 0.0, logit(0.9), logit(0.2)])
    out = Decoder(anchors, (8, 16, 32))(raw)
    assert out.shape == (1, 3 * (4 * 5 + 2 * 3 + 1 * 2), 7)
    row = out[0, 1 * h * w + 1 * w + 2]
    cx, cy = (2 * 0.5 - 0.5 + 2) * 8, (2 * 0.75 - 0.5 + 1) * 8  # 20, 16
    bw, bh = (2 * 0.5) ** 2 * 16, (2 * 0.25) ** 2 * 30  # 16, 7.5
    expected = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, 0.5, 0.9, 0.2]
    assert torch.allclose(row, torch.tensor(expected), atol=1e-5)


def test_scale_offsets_in_the_flat_output():
    anchors = torch.tensor(ANCHORS, dtype=torch.float32)
    raw = [torch.zeros(2, 3, 4, 4, 6), torch.zeros(2, 3, 2, 2, 6), torch.zeros(2, 3, 1, 1, 6)]
    out = Decoder(anchors, (8, 16, 32))(raw)
    # The last row is scale 2, anchor 2 (373 x 326), the only cell: centre (0.5 * 32, 0.5 * 32).
    assert torch.allclose(out[1, -1, :4], torch.tensor([16 - 186.5, 16 - 163, 16 + 186.5, 16 + 163]))
    # Row 48 opens scale 1: anchor 0 (30 x 61) at cell (0, 0), stride 16.
    assert torch.allclose(out[0, 48, :4], torch.tensor([8 - 15, 8 - 30.5, 8 + 15, 8 + 30.5]))


def test_decode_boxes_xywh_broadcasts_for_matched_targets():
    torch.manual_seed(0)
    raw = torch.randn(1, 3, 4, 5, 8)
    anchors = torch.tensor(ANCHORS[1])
    full = decode_boxes_xywh(raw, anchors.view(1, 3, 1, 1, 2), 16, make_grid(4, 5).view(1, 1, 4, 5, 2))
    # Gather three positions (anchor, row, column) as a loss would.
    a, gy, gx = torch.tensor([0, 2, 1]), torch.tensor([3, 0, 2]), torch.tensor([4, 1, 0])
    picked = decode_boxes_xywh(raw[0, a, gy, gx], anchors[a], 16, torch.stack((gx, gy), 1).float())
    assert torch.allclose(picked, full[0, a, gy, gx])
    assert make_grid(2, 3)[1, 2].tolist() == [2.0, 1.0]  # (g_x, g_y)
