"""TDC's core on hand-made feature maps: bounds, multi-bag splitting, scanner lines, fall-backs."""

import cv2
import numpy as np
import pytest

from pipeline.crop import FALLBACK_CONFIDENCE, BeltReference, TaskDrivenCropper, TDCConfig, tdc_regions
from pipeline.crop.tdc import border_colour

C, H, W = 8, 48, 64
BELT = np.ones(C, np.float32)  # the belt's feature vector
FRAME = (640, 480)  # 10 frame pixels per cell


def features(*blocks, seed=0, noise=0.01):
    """Belt features with `noise`, plus blocks (x0, x1, y0, y1, strength) of bag energy, in cells."""
    rng = np.random.default_rng(seed)
    f = BELT[:, None, None] + rng.normal(0, noise, (C, H, W)).astype(np.float32)
    for x0, x1, y0, y1, strength in blocks:
        f[:, y0:y1, x0:x1] += strength * rng.uniform(0.5, 1.5, (C, y1 - y0, x1 - x0))
    return f


def boxes(regions):
    return [r.as_xyxy() for r in regions]


def test_a_block_of_energy_gives_its_bounds_in_frame_pixels():
    (r,) = tdc_regions(features((20, 40, 10, 30, 2.0)), FRAME, belt=BELT, config=TDCConfig(margin=0))
    assert r.as_xyxy() == (200, 100, 400, 300) and r.reason == "bag"
    assert r.confidence > 0.9
    (r,) = tdc_regions(features((20, 40, 10, 30, 2.0)), FRAME, belt=BELT, config=TDCConfig(margin=1))
    assert r.as_xyxy() == (190, 90, 410, 310)


def test_shift_moves_regions_by_whole_cells_in_frame_pixels():
    (r,) = tdc_regions(features((20, 40, 10, 30, 2.0)), FRAME, belt=BELT, config=TDCConfig(margin=0), shift=-0.5)
    assert r.as_xyxy() == (195, 95, 395, 295)


def test_paper_k_threshold_on_a_faint_rim():
    # a bag whose outer 4 columns are faint: the paper (no growing) cuts them at high k, keeps them at low k
    f = features((16, 44, 10, 30, 0.3), (20, 40, 10, 30, 3.0))
    paper = dict(split=False, grow=False, saturate=None, signal="level", margin=0)
    (low,) = tdc_regions(f, FRAME, belt=BELT, config=TDCConfig(k=0.05, **paper))
    (high,) = tdc_regions(f, FRAME, belt=BELT, config=TDCConfig(k=0.5, **paper))
    assert low.x1 == 160 and low.x2 == 440
    assert high.x1 == 200 and high.x2 == 400
    # the default grows back over bag cells whatever k says
    (grown,) = tdc_regions(f, FRAME, belt=BELT, config=TDCConfig(k=0.5, margin=0))
    assert grown.x1 == 160 and grown.x2 == 440


def test_two_bags_on_empty_belt_give_two_regions_touching_bags_one():
    apart = tdc_regions(features((5, 25, 10, 40, 2.0), (35, 60, 5, 30, 2.0)), FRAME, belt=BELT, config=TDCConfig(margin=0))
    assert boxes(apart) == [(50, 100, 250, 400), (350, 50, 600, 300)]
    touching = tdc_regions(features((5, 25, 10, 40, 2.0), (25, 60, 5, 30, 2.0)), FRAME, belt=BELT, config=TDCConfig(margin=0))
    assert boxes(touching) == [(50, 50, 600, 400)]
    # the paper's single crop spans both
    single = tdc_regions(features((5, 25, 10, 40, 2.0), (35, 60, 5, 30, 2.0)), FRAME, belt=BELT, config=TDCConfig(margin=0, split=False))
    assert boxes(single) == [(50, 50, 600, 400)]


def test_bags_side_by_side_diagonally_are_split_too():
    # they overlap in both the column and the row profile, but empty belt lies between them
    regions = tdc_regions(features((5, 30, 5, 25, 2.0), (32, 60, 20, 45, 2.0)), FRAME, belt=BELT, config=TDCConfig(margin=0))
    assert boxes(regions) == [(50, 50, 300, 250), (320, 200, 600, 450)]


@pytest.mark.parametrize("line", ["column", "row"])
def test_a_bright_frame_crossing_line_does_not_stretch_the_crop(line):
    f = features((20, 40, 10, 30, 2.0))
    if line == "column":
        f[:, :, 55] += 1.5  # a source-flicker column, full height, away from the bag
    else:
        f[:, 42, :] += 1.5  # a dead detector row across the frame
    (r,) = tdc_regions(f, FRAME, belt=BELT, config=TDCConfig(margin=0))
    assert r.as_xyxy() == (200, 100, 400, 300)


def test_a_thin_threat_sticking_out_of_the_bag_stays_inside():
    f = features((20, 40, 10, 30, 2.0))
    f[:, 30:44, 31] += 2.0  # a knife blade, one cell wide, 14 cells below the bag
    (r,) = tdc_regions(f, FRAME, belt=BELT, config=TDCConfig(margin=0))
    assert r.y2 >= 440 and r.as_xyxy()[:3] == (200, 100, 400)


def test_flat_frame_falls_back_to_the_whole_frame():
    (r,) = tdc_regions(features(), FRAME, belt=BELT)
    assert r.as_xyxy() == (0, 0, 640, 480) and r.reason == "flat" and r.confidence == FALLBACK_CONFIDENCE


def test_all_bag_frame_falls_back_to_the_whole_frame():
    (r,) = tdc_regions(features((0, W, 0, H, 2.0)), FRAME, belt=BELT)
    assert r.as_xyxy() == (0, 0, 640, 480) and r.reason == "all-bag" and r.confidence == FALLBACK_CONFIDENCE


def test_noisy_frame_falls_back_to_the_whole_frame():
    blobs = [(x, x + 4, y, y + 4, 2.0) for x in range(2, 60, 7) for y in range(2, 44, 7)]
    (r,) = tdc_regions(features(*blobs), FRAME, belt=BELT)
    assert r.reason == "noisy" and r.as_xyxy() == (0, 0, 640, 480) and r.confidence == FALLBACK_CONFIDENCE


def test_without_a_belt_reference_the_median_is_the_belt():
    (r,) = tdc_regions(features((20, 40, 10, 30, 2.0)), FRAME, config=TDCConfig(margin=0))
    assert r.as_xyxy() == (200, 100, 400, 300)


def box_filter(frame):
    """A stand-in backbone: |255 - pixel| box-filtered with zero padding at stride 4, (3, H/4, W/4)."""
    x = (255.0 - frame.astype(np.float32)) / 255.0
    x = cv2.blur(x, (5, 5), borderType=cv2.BORDER_CONSTANT)[2::4, 2::4]
    return np.ascontiguousarray(x.transpose(2, 0, 1)) + 0.1


def test_belt_reference_reproduces_the_rim_of_any_map_size():
    ref = BeltReference(box_filter, (200, 200, 200), 256)
    for h, w in [(64, 64), (40, 64), (64, 23)]:
        direct = box_filter(np.full((4 * h, 4 * w, 3), 200, np.uint8))
        np.testing.assert_allclose(ref.like(h, w), direct, atol=1e-6)
    with pytest.raises(ValueError, match="belt reference"):
        ref.like(65, 64)


@pytest.mark.parametrize("belt_colour", [(255, 255, 255), (255, 255, 118)])
def test_cropper_finds_a_bag_on_pseudo_colour_and_dual_energy_belts(belt_colour):
    frame = np.empty((240, 320, 3), np.uint8)
    frame[:] = belt_colour
    frame[60:180, 100:220] = (200, 150, 90)  # the bag
    cropper = TaskDrivenCropper(box_filter, TDCConfig(margin=1), belt_colour=belt_colour, reference_size=320)
    (r,) = cropper(frame)
    assert r.x1 <= 100 and r.y1 <= 60 and r.x2 >= 220 and r.y2 >= 180
    assert r.area < 0.35 * 320 * 240


def test_cropper_measures_energy_against_the_frames_own_belt_tone():
    # a grey belt (real SIXray scans show 226 as often as white) against a white reference reads as bag everywhere
    frame = np.full((240, 320, 3), (226, 226, 224), np.uint8)
    frame[60:180, 100:220] = (200, 150, 90)
    assert border_colour(frame) == (226, 226, 224)
    cropper = TaskDrivenCropper(box_filter, TDCConfig(margin=1), reference_size=320)
    (r,) = cropper(frame)
    assert r.reason == "bag" and r.x1 <= 100 and r.y1 <= 60 and r.x2 >= 220 and r.y2 >= 180
    assert r.area < 0.35 * 320 * 240
    (fixed,) = TaskDrivenCropper(box_filter, TDCConfig(margin=1), reference_size=320, match_belt=False)(frame)
    assert fixed.reason == "all-bag" and fixed.area == 320 * 240  # the white reference sees no belt
    # a border that is not belt-like (a dark bag across the rim) keeps the configured reference
    dark = np.full((240, 320, 3), 40, np.uint8)
    assert cropper.belt_for(dark) is cropper.belt
    assert cropper.belt_for(frame) is not cropper.belt


def test_belt_references_are_cached_and_bounded():
    cropper = TaskDrivenCropper(box_filter, TDCConfig(), reference_size=64, max_references=3)
    for tone in (250, 240, 230, 220, 250):
        cropper.belt_for(np.full((64, 64, 3), tone, np.uint8))
    assert len(cropper._references) == 3 and cropper.belt is not None
