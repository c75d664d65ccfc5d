"""Frames: determinism, negatives, boxes, bags and measured occlusion levels."""

import numpy as np
import pytest

from training.synth.parts import ObjectModel, Part, rect
from training.synth.render import LineIntegrals, Pose, rasterise
from training.synth.scene import OL_BOUNDS, SceneConfig, generate_frame, occlusion_fraction, occlusion_level

SMALL = SceneConfig(width=480, height=360)


def _frame(seed, index=0, negative=False, cfg=SMALL):
    return generate_frame(np.random.default_rng([seed, index]), negative=negative, cfg=cfg)


def test_same_seed_same_frame():
    a, b = _frame(4), _frame(4)
    np.testing.assert_array_equal(a.high, b.high)
    np.testing.assert_array_equal(a.low, b.low)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    assert a.boxes == b.boxes and a.bags == b.bags
    c = _frame(4, index=1)
    assert not np.array_equal(a.high, c.high) if a.high.shape == c.high.shape else True


def test_outputs_are_raw_pair_and_pseudo_colour():
    f = _frame(1)
    assert f.high.dtype == np.uint16 and f.low.dtype == np.uint16 and f.high.shape == (360, 480)
    assert f.rgb.dtype == np.uint8 and f.rgb.shape == (360, 480, 3)
    # the low channel is absorbed more wherever there is material
    inside = f.high < 50000
    assert inside.any() and (f.low[inside].astype(int) <= f.high[inside].astype(int) + 2000).mean() > 0.95


@pytest.mark.parametrize("seed", range(8))
def test_positive_frames_hold_threats_inside_bags(seed):
    f = _frame(seed)
    assert 1 <= len(f.boxes) <= 3 and f.bags
    for b in f.boxes:
        assert 0 <= b.x1 < b.x2 <= 480 and 0 <= b.y1 < b.y2 <= 360
        assert b.label in {"gun", "knife", "wrench", "pliers", "scissors"}
        assert any(g[0] <= b.x1 and g[1] <= b.y1 and b.x2 <= g[2] and b.y2 <= g[3] for g in f.bags)
        assert b.occlusion == occlusion_level(f.occlusion[f.boxes.index(b)])


@pytest.mark.parametrize("seed", range(6))
def test_negative_frames_have_no_threats(seed):
    assert _frame(seed, negative=True).boxes == []


def test_random_sizes_stay_in_range():
    for i in range(12):
        f = _frame(9, i, cfg=SceneConfig())
        h, w = f.high.shape
        assert 300 <= w <= 2000 and 200 <= h <= 1500


def test_bags_cover_the_configured_share():
    shares = []
    for i in range(10):
        f = _frame(2, i)
        area = sum((g[2] - g[0]) * (g[3] - g[1]) for g in f.bags)
        shares.append(area / (480 * 360))
    # bag boxes are a bit larger than bag footprints; coverage is drawn from 10-80 %
    assert 0.05 < min(shares) and max(shares) < 1.0 and np.std(shares) > 0.05


def _knife_under(cover_w: float) -> float:
    """Occluded share of a 10 cm steel plate with a cover_w-wide water slab over it."""
    shape = (80, 120)
    knife = rasterise(ObjectModel("k", [Part("steel", 0.2, outline=rect(10, 2))], label="knife"), Pose(60, 40, 4.0), shape)
    maps = LineIntegrals(*shape)
    maps.add(knife)
    if cover_w > 0:  # 5 cm of water: absorbs well over the occluder threshold
        slab = ObjectModel("b", [Part("water", 5.0, outline=rect(cover_w, 6))])
        maps.add(rasterise(slab, Pose(40 + cover_w * 2, 40, 4.0), shape))
    return occlusion_fraction(knife, maps)


def test_occlusion_levels_follow_covered_share():
    assert _knife_under(0) == 0.0
    assert occlusion_level(_knife_under(0)) == "OL1"
    half = _knife_under(5)
    assert OL_BOUNDS[0] <= half < OL_BOUNDS[1] and occlusion_level(half) == "OL2"
    full = _knife_under(12)
    assert full > 0.95 and occlusion_level(full) == "OL3"


def test_thin_cloth_does_not_count_as_occluder():
    shape = (80, 120)
    knife = rasterise(ObjectModel("k", [Part("steel", 0.2, outline=rect(10, 2))]), Pose(60, 40, 4.0), shape)
    maps = LineIntegrals(*shape)
    maps.add(knife)
    maps.add(rasterise(ObjectModel("c", [Part("cloth", 2.0, outline=rect(20, 10))]), Pose(60, 40, 4.0), shape))
    assert occlusion_fraction(knife, maps) == 0.0


def test_all_occlusion_levels_occur():
    levels = {b.occlusion for i in range(25) for b in _frame(13, i).boxes}
    assert levels == {"OL1", "OL2", "OL3"}


def test_bags_are_packed_and_wired_like_real_ones(monkeypatch):
    from training.synth.bags import make_bag
    from training.synth.clutter import make_clutter
    from training.synth.scene import bag_fill, bag_wires

    rng = np.random.default_rng(4)
    bag = make_bag(rng, "suitcase")
    wires = bag_wires(rng, bag, 3)
    lo, hi = bag.interior.min(0), bag.interior.max(0)
    for part in wires.parts:  # cables loop across the bag but stay inside its interior's box
        assert (part.path >= lo - 1e-3).all() and (part.path <= hi + 1e-3).all()
        assert np.linalg.norm(np.diff(part.path, axis=0), axis=1).sum() > 0.5 * np.hypot(*(hi - lo))
    fill = bag_fill(rng, make_bag(rng, "backpack"))
    assert fill.parts[0].material == "cloth" and 0.3 <= fill.parts[0].texture <= 0.8
    # real bags hold 15-60 items: count the clutter the scene draws per bag
    import training.synth.scene as scene

    drawn = []
    monkeypatch.setattr(scene, "make_clutter", lambda rng, **kw: drawn.append(1) or make_clutter(rng, **kw))
    frames = [_frame(5, i, negative=True, cfg=SceneConfig(width=1200, height=950)) for i in range(4)]
    bags = sum(len(f.bags) for f in frames)
    assert bags and len(drawn) >= 12 * bags


def test_soft_fill_is_not_an_occluder():
    """The stuffing lies under everything like the bag's shell: OL levels count only packed items."""
    levels = [b.occlusion for i in range(25) for b in _frame(13, i).boxes]
    assert levels.count("OL1") >= 3  # threats in gaps, along walls or on top still occur in packed bags
