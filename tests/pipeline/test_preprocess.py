import cv2
import numpy as np
import pytest

from pipeline.crop.regions import CropRegion
from pipeline.preprocess import RGB_BACKGROUND, blank, letterbox, pack, resize_into, stack_canvases, unpack


def belt_image(h: int = 480, w: int = 640, seed: int = 0) -> np.ndarray:
    """Smooth shapes plus sensor noise, like a scan: what the resize has to keep."""
    rng = np.random.default_rng(seed)
    image = np.full((h, w, 3), 235, np.uint8)
    for _ in range(12):
        x, y = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
        colour = tuple(int(c) for c in rng.integers(20, 200, 3))
        cv2.rectangle(image, (x, y), (x + int(rng.integers(10, 120)), y + int(rng.integers(3, 90))), colour, -1)
    noise = rng.normal(0, 6, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("scale", [0.15, 0.33, 0.5, 0.62, 0.8, 0.97])
def test_resize_into_shrinks_like_inter_area(scale):
    src = belt_image()
    h, w = round(src.shape[0] * scale), round(src.shape[1] * scale)
    canvas = np.zeros((h + 6, w + 4, 3), np.uint8)
    out = resize_into(src, canvas[3 : 3 + h, 2 : 2 + w])
    assert np.shares_memory(out, canvas)  # written into the view, not a copy
    assert (canvas[:3] == 0).all() and (canvas[3 + h :] == 0).all() and (canvas[:, :2] == 0).all()
    area = cv2.resize(src, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    diff = np.abs(canvas[3 : 3 + h, 2 : 2 + w].astype(np.float32) - area)
    assert diff.mean() < 1.5, diff.mean()
    # nearest-neighbour picking, the aliasing this avoids, is far further from the average
    nearest = cv2.resize(src, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    if scale < 0.75:
        assert np.abs(nearest - area).mean() > 2 * diff.mean()


def test_resize_into_enlarges_bilinearly():
    src = belt_image(120, 160)
    dst = np.empty((300, 400, 3), np.uint8)
    resize_into(src, dst)
    np.testing.assert_array_equal(dst, cv2.resize(src, (400, 300), interpolation=cv2.INTER_LINEAR))


def test_blank_is_a_fresh_canvas_of_the_fill():
    a = blank(64, (255, 255, 118))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8 and (a == (255, 255, 118)).all()
    a[:] = 0  # the cache must not see this
    assert (blank(64, (255, 255, 118)) == (255, 255, 118)).all()


def test_letterbox_and_pack_map_boxes_back():
    image = belt_image()
    canvas, lb = letterbox(image, 416, fill=RGB_BACKGROUND)
    assert canvas.shape == (416, 416, 3)
    assert (canvas[: lb.dy] == 255).all() and lb.dx == 0  # 640 wide: fills the width, padded above and below
    np.testing.assert_allclose(lb.to_frame(np.array([[0, lb.dy, 416, 416 - lb.dy]])), [[0, 0, 640, 480]], atol=1)

    regions = [CropRegion(x1=10, y1=20, x2=210, y2=220, confidence=1.0, reason="bag"),
               CropRegion(x1=300, y1=100, x2=600, y2=400, confidence=1.0, reason="bag")]
    packed, placements = pack(image, regions, 416, fill=RGB_BACKGROUND)
    assert len(placements) == 2 and placements[0].scale == placements[1].scale
    # a box around each placed region comes back as that region
    boxes = np.array([[*p.canvas_box(), 0.9, k] for k, p in enumerate(placements)])
    back = unpack(boxes, placements)
    np.testing.assert_allclose(back[:, :4], [[10, 20, 210, 220], [300, 100, 600, 400]], atol=0.5)
    # the canvas holds the regions' pixels at the placement
    p = placements[1]
    x1, y1, x2, y2 = (round(v) for v in p.canvas_box())
    expected = cv2.resize(image[100:400, 300:600], (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA)
    assert np.abs(packed[y1:y2, x1:x2].astype(int) - expected).mean() < 1.5


@pytest.mark.parametrize("boxes", [
    [(10, 10, 110, 470)],  # one tall bag: laid as is, then turned landscape
    [(10, 10, 300, 200), (320, 250, 630, 470)],  # two bags packed side by side
    [(0, 0, 640, 150)],  # a wide strip
])
def test_trimmed_canvases_hold_the_bags_and_map_back(boxes):
    image = belt_image()
    regions = [CropRegion(x1=x1, y1=y1, x2=x2, y2=y2, confidence=1.0, reason="bag") for x1, y1, x2, y2 in boxes]
    full, full_placements = pack(image, regions, 416, fill=RGB_BACKGROUND)
    canvas, placements = pack(image, regions, 416, fill=RGB_BACKGROUND, trim=32)
    h, w = canvas.shape[:2]
    assert h % 32 == 0 and w % 32 == 0 and h <= w <= 416 and h * w < 416 * 416
    assert [p.scale for p in placements] == [p.scale for p in full_placements]  # cutting never shrinks the bags
    laid = canvas.transpose(1, 0, 2) if placements[0].transposed else canvas  # as laid out, before turning
    rows = []
    for k, p in enumerate(placements):
        x1, y1, x2, y2 = (round(v) for v in p.canvas_box())
        # the bag's pixels are where the placement says
        r = p.region
        nw, nh = round((r.x2 - r.x1) * p.scale), round((r.y2 - r.y1) * p.scale)
        expected = cv2.resize(image[r.y1 : r.y2, r.x1 : r.x2], (nw, nh), interpolation=cv2.INTER_AREA)
        assert np.abs(laid[p.dy : p.dy + nh, p.dx : p.dx + nw].astype(int) - expected).mean() < 1.5
        rows.append([y1, x1, y2, x2, 0.9, k] if p.transposed else [x1, y1, x2, y2, 0.9, k])  # a box as the detector sees it
    back = unpack(np.array(rows, np.float64), placements)
    np.testing.assert_allclose(back[:, :4], boxes, atol=3)


def test_stack_canvases_pads_below_and_right_with_the_belt():
    a, b = np.zeros((64, 128, 3), np.uint8), np.ones((96, 96, 3), np.uint8)
    batch = stack_canvases([a, b], (255, 255, 118))
    assert batch.shape == (2, 96, 128, 3)
    assert (batch[0, :64] == 0).all() and (batch[0, 64:] == (255, 255, 118)).all()
    assert (batch[1, :, :96] == 1).all() and (batch[1, :, 96:] == (255, 255, 118)).all()
    assert stack_canvases([a, a], (0, 0, 0)).shape == (2, 64, 128, 3)


def test_runtimes_pad_with_the_same_belt_as_the_canvases():
    from models.runtime.base import PAD_VALUES
    from pipeline.preprocess import background_for

    assert {m: background_for(m) for m in ("rgb", "dual")} == PAD_VALUES
