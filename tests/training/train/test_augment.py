"""Augmentations keep boxes on the pixels they label, and keep the empty belt empty."""

import numpy as np
import pytest

from training.augment import (
    DUAL_BACKGROUND,
    AugmentConfig,
    attenuation_gain,
    augment,
    clip_targets,
    flip,
    mosaic,
    rot90,
    scale_translate,
    zoom_crop,
)

S = 96


def _canvas(x1=10, y1=20, x2=41, y2=35, colour=(30, 90, 200)):
    """White canvas with a filled rectangle covering pixels [x1, x2) x [y1, y2), and its target row."""
    img = np.full((S, S, 3), 255, np.uint8)
    img[y1:y2, x1:x2] = colour
    return img, np.array([[2, x1, y1, x2, y2]], np.float32)


def _ink_box(img, thresh=128):
    """Tight (x1, y1, x2, y2) of pixels clearly darker than white (x2/y2 exclusive)."""
    ys, xs = np.nonzero(img.min(axis=2) < thresh)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


@pytest.mark.parametrize("op", [
    lambda i, t: flip(i, t, horizontal=True),
    lambda i, t: flip(i, t, horizontal=False),
    lambda i, t: rot90(i, t, 1),
    lambda i, t: rot90(i, t, 2),
    lambda i, t: rot90(i, t, 3),
])
def test_flips_and_rotations_move_box_with_pixels_exactly(op):
    img, t = _canvas()
    out, t2 = op(img, t)
    assert t2[0, 0] == 2
    np.testing.assert_array_equal(t2[0, 1:], _ink_box(out))


def test_rot90_on_non_square_image():
    img = np.full((40, 70, 3), 255, np.uint8)
    img[5:12, 50:66] = 0
    out, t = rot90(img, np.array([[0, 50, 5, 66, 12]], np.float32), 1)
    assert out.shape == (70, 40, 3)
    np.testing.assert_array_equal(t[0, 1:], _ink_box(out))


@pytest.mark.parametrize("scale,shift", [(0.6, (0.0, 0.0)), (1.4, (0.0, 0.0)), (0.8, (7.0, -5.0)), (1.25, (-3.5, 4.0))])
def test_scale_translate_box_bounds_the_pixels(scale, shift):
    img, t = _canvas()
    out, t2 = scale_translate(img, t, scale=scale, shift=shift, fill=(255, 255, 255))
    x1, y1, x2, y2 = t[0, 1:]
    np.testing.assert_allclose(t2[0, 3] - t2[0, 1], (x2 - x1) * scale, rtol=1e-6)
    # the exact box, clipped to the canvas, lies within a pixel of the half-ink outline resampling leaves
    clipped = clip_targets(t2, (S, S), min_size=1, min_visible=0)
    np.testing.assert_allclose(clipped[0, 1:], _ink_box(out), atol=1.0)
    assert (out[0, 0] == 255).all() and (out[-1, -1] == 255).all()  # uncovered canvas is belt


def test_attenuation_gain_keeps_white_and_black_and_orders_thickness():
    img = np.array([[[255, 255, 255], [0, 0, 0], [128, 64, 200]]], np.uint8)
    thicker, thinner = attenuation_gain(img, 1.2), attenuation_gain(img, 0.8)
    assert (thicker[0, 0] == 255).all() and (thinner[0, 0] == 255).all()
    assert (thicker[0, 1] == 0).all() and (thinner[0, 1] == 0).all()
    assert (thicker[0, 2] < img[0, 2]).all() and (thinner[0, 2] > img[0, 2]).all()
    # Beer-Lambert: log-attenuation ratios between channels (the material hue) are kept
    ratio = lambda p: np.log(p[0] / 255) / np.log(p[1:] / 255)  # noqa: E731
    np.testing.assert_allclose(ratio(thicker[0, 2].astype(float)), ratio(img[0, 2].astype(float)), rtol=0.05)


def test_attenuation_gain_dual_keeps_air_and_raises_ratio():
    air = np.array([[DUAL_BACKGROUND]], np.uint8)
    np.testing.assert_array_equal(attenuation_gain(air, 1.2, mode="dual"), air)
    metal = np.array([[[60, 30, 200]]], np.uint8)
    out = attenuation_gain(metal, 1.2, mode="dual")
    assert out[0, 0, 0] < 60 and out[0, 0, 1] < 30 and out[0, 0, 2] > 200  # R = high/low > 1 grows as R**g


def test_random_augment_keeps_box_on_pixels_and_belt_white():
    cfg = AugmentConfig(flip_lr=0.5, flip_ud=0.5, rot90=0.5, scale=(0.6, 1.4), translate=0.1)
    for seed in range(12):
        img, t = _canvas()
        out, t2 = augment(img, t, np.random.default_rng(seed), cfg)
        if len(t2):
            # brightness scales ink, never the white belt, so the box still bounds the ink
            np.testing.assert_allclose(t2[0, 1:], _ink_box(out, thresh=200), atol=1.0)
        assert (out.min(axis=2) == 255).mean() > 0.5
        again, t3 = augment(img, t, np.random.default_rng(seed), cfg)
        np.testing.assert_array_equal(again, out)
        np.testing.assert_array_equal(t3, t2)


def test_boxes_pushed_out_are_clipped_or_dropped():
    img, _ = _canvas()
    t = np.array([[0, 2, 2, 30, 30], [1, 60, 60, 90, 90]], np.float32)
    out, t2 = scale_translate(img, t, scale=1.0, shift=(-20.0, -20.0), fill=(255, 255, 255))
    cfg = AugmentConfig(flip_lr=0, flip_ud=0, rot90=0, scale=(1, 1), translate=0, gain=(1, 1))
    _, kept = augment(out, t2, np.random.default_rng(0), cfg)
    # the first box kept 10x10 of 28x28 (13% < 20%): dropped; the second is whole
    np.testing.assert_array_equal(kept, [[1, 40, 40, 70, 70]])


def test_mosaic_tiles_boxes_into_quadrants():
    parts = [_canvas(x1=8 * i + 4, x2=8 * i + 40) for i in range(4)]
    out, t = mosaic([p[0] for p in parts], [p[1] for p in parts])
    assert out.shape == (S, S, 3) and len(t) == 4
    np.testing.assert_allclose(t[3, 1:], [48 + 14, 48 + 10, 48 + 32, 48 + 17.5])


def test_zoom_crop_keeps_boxes_on_their_pixels():


    image = np.full((640, 640, 3), 255, np.uint8)
    image[200:260, 300:420] = (0, 0, 255)  # a 120 x 60 object
    targets = np.array([[1, 300, 200, 420, 260]], np.float32)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        out, t = zoom_crop(image, targets, rng, zoom=2.0, out_size=320, focus=1.0)
        assert out.shape == (320, 320, 3)
        # a window of side 320 on the 640 canvas, shown at 320: same scale, the object's centre inside
        x1, y1, x2, y2 = t[0, 1:]
        assert (x2 - x1, y2 - y1) == pytest.approx((120, 60))
        cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
        assert 0 <= cx < 320 and 0 <= cy < 320
        assert tuple(out[cy, cx]) == (0, 0, 255)
        # just outside the box (where it is inside the window) is background
        if x2 + 2 < 320:
            assert tuple(out[cy, int(x2) + 2]) == (255, 255, 255)


def test_zoom_crop_zoom_one_is_the_whole_canvas_resized():


    image = np.random.default_rng(0).integers(0, 255, (640, 640, 3), dtype=np.uint8)
    targets = np.array([[0, 64, 64, 128, 192]], np.float32)
    out, t = zoom_crop(image, targets, np.random.default_rng(1), zoom=1.0, out_size=320)
    assert out.shape == (320, 320, 3)
    np.testing.assert_allclose(t[0, 1:], [32, 32, 64, 96])


def test_degradations_change_texture_not_colour_or_boxes():
    from training.augment import degrade

    rng = np.random.default_rng(0)
    image = np.full((96, 96, 3), 255, np.uint8)
    image[20:60, 30:70] = (230, 140, 40)  # an orange thing
    image[40:44, 10:90] = (30, 70, 210)  # a thin blue rod
    cfg = AugmentConfig(jpeg=1.0, jpeg_quality=(40, 40), blur=1.0, noise=1.0)
    out = degrade(image, rng, cfg)
    assert out.shape == image.shape and out.dtype == np.uint8 and not np.array_equal(out, image)
    # colours survive: the middle of the orange patch stays orange, the belt stays near white
    r, g, b = out[28:36, 40:60].reshape(-1, 3).mean(0)
    assert r > g > b and r - b > 120
    assert out[80:, 80:].mean() > 235
    # off by default: the shipped recipe's augmentation is unchanged
    assert np.array_equal(degrade(image, rng, AugmentConfig()), image)
    _, targets = augment(image, np.array([[0, 30, 20, 70, 60]], np.float32), np.random.default_rng(1),
                         AugmentConfig(flip_lr=0, flip_ud=0, rot90=0, scale=(1, 1), translate=0, gain=(1, 1), jpeg=1.0))
    assert targets.tolist() == [[0, 30, 20, 70, 60]]
