"""Threat models: class labels, real sizes and materials, determinism, variety, open and closed states."""

import json
from functools import cache

import numpy as np
import pytest

from training.synth.parts import ObjectModel
from training.synth.threats import THREATS, make_knife, make_pliers, make_scissors, make_threat

METALS = {"steel", "aluminium", "brass", "copper"}
SEEDS = range(200)
# longest side of the extent, cm: what such objects measure in the real world
LENGTHS = {"gun": (14.0, 26.0), "knife": (7.0, 46.0), "wrench": (9.5, 32.0), "pliers": (11.5, 26.0), "scissors": (7.0, 26.0)}
SUBTYPES = {
    "gun": {"pistol", "compact", "revolver"},
    "knife": {"kitchen", "dagger", "folding", "utility", "multitool"},
    "wrench": {"combination", "open_end", "adjustable"},
    "pliers": {"combination", "long_nose", "cutting"},
    "scissors": {"office", "steel", "nail"},
}
HANDLES = {"plastic", "wood", "rubber", "leather"}


@cache
def _samples(label: str) -> tuple[ObjectModel, ...]:
    return tuple(THREATS[label](np.random.default_rng(s)) for s in SEEDS)


def _size(obj: ObjectModel) -> tuple[float, float]:
    x0, y0, x1, y1 = obj.extent_cm()
    return x1 - x0, y1 - y0


def _same(a: ObjectModel, b: ObjectModel) -> bool:
    if (a.kind, a.label, a.meta, len(a.parts)) != (b.kind, b.label, b.meta, len(b.parts)):
        return False
    return all((p.material, p.thickness_cm, p.profile, p.width_cm, p.wall_cm) == (q.material, q.thickness_cm, q.profile, q.width_cm, q.wall_cm)
               and np.array_equal(p.points(), q.points()) for p, q in zip(a.parts, b.parts))


def test_classes_in_sixray_order():
    assert list(THREATS) == ["gun", "knife", "wrench", "pliers", "scissors"]


@pytest.mark.parametrize("label", list(THREATS))
def test_label_kind_and_part_count(label):
    for obj in _samples(label):
        assert obj.label == label
        assert obj.kind == f"{label}/{obj.meta['subtype']}"
        assert 3 <= len(obj.parts) <= 15
        json.dumps(obj.meta)  # plain values, so datasets can store it
        assert all(np.isfinite(p.points()).all() and p.points().dtype == np.float32 for p in obj.parts)


@pytest.mark.parametrize("label", list(THREATS))
def test_real_length_and_centred(label):
    lo, hi = LENGTHS[label]
    for obj in _samples(label):
        w, h = _size(obj)
        assert lo <= max(w, h) <= hi, (obj.kind, obj.meta)
        x0, y0, x1, y1 = obj.extent_cm()
        assert abs(x0 + x1) < 1e-3 and abs(y0 + y1) < 1e-3


@pytest.mark.parametrize("label", list(THREATS))
def test_every_threat_has_metal(label):
    assert all(any(p.material in METALS for p in obj.parts) for obj in _samples(label))


@pytest.mark.parametrize("label", ["gun", "knife", "pliers", "scissors"])
def test_non_metal_grips_and_handles_occur(label):
    with_handle = [obj for obj in _samples(label) if any(p.material in HANDLES for p in obj.parts)]
    assert len(with_handle) >= 0.2 * len(SEEDS)
    if label == "gun":  # polymer pistols: a plastic grip as thick as the hand-hold
        assert any(p.material == "plastic" and p.thickness_cm > 2.5 for obj in with_handle for p in obj.parts)


@pytest.mark.parametrize("label", list(THREATS))
def test_same_seed_same_object(label):
    for seed in (0, 7, 123):
        assert _same(THREATS[label](np.random.default_rng(seed)), THREATS[label](np.random.default_rng(seed)))
    assert not _same(THREATS[label](np.random.default_rng(1)), THREATS[label](np.random.default_rng(2)))


@pytest.mark.parametrize("label", list(THREATS))
def test_all_subtypes_appear(label):
    assert {obj.meta["subtype"] for obj in _samples(label)} == SUBTYPES[label]


@pytest.mark.parametrize("label", list(THREATS))
def test_forcing_the_drawn_subtype_changes_nothing(label):
    factory = THREATS[label]
    for seed in range(10):
        obj = factory(np.random.default_rng(seed))
        assert _same(obj, factory(np.random.default_rng(seed), subtype=obj.meta["subtype"]))
    with pytest.raises(ValueError, match="unknown sub-type"):
        factory(np.random.default_rng(0), subtype="bazooka")


def test_make_threat_dispatches_and_rejects_unknown():
    assert _same(make_threat("wrench", np.random.default_rng(3)), THREATS["wrench"](np.random.default_rng(3)))
    with pytest.raises(ValueError, match="unknown threat class"):
        make_threat("hammer", np.random.default_rng(0))


@pytest.mark.parametrize(("factory", "kwargs"), [(make_knife, {"subtype": "folding"}), (make_pliers, {}), (make_scissors, {})])
def test_open_and_closed_differ(factory, kwargs):
    for seed in range(30):
        opened = factory(np.random.default_rng(seed), opened=True, **kwargs)
        shut = factory(np.random.default_rng(seed), opened=False, **kwargs)
        assert opened.meta["open"] and not shut.meta["open"]
        (wo, ho), (ws, hs) = _size(opened), _size(shut)
        if factory is make_knife:
            assert wo > ws + 3.0  # the blade swings out of the handle
        else:
            assert ho > hs + 0.3  # jaws and handles, or blades and loops, spread apart


def test_guns_have_a_steel_barrel_tube_and_a_solid_slide_or_cylinder():
    for obj in _samples("gun"):
        assert any(p.profile == "tube" and p.material == "steel" and p.wall_cm > 0.2 for p in obj.parts)
        assert max(p.thickness_cm for p in obj.parts if p.material == "steel") >= 1.8


def test_loaded_magazine_lies_inside_the_grip():
    loaded = [obj for obj in _samples("gun") if obj.meta["subtype"] != "revolver" and obj.meta["loaded"]]
    assert loaded
    for obj in loaded:
        lead = next(p for p in obj.parts if p.material == "lead")
        grip = max((p for p in obj.parts if p.profile == "round"), key=lambda p: p.thickness_cm)
        lo, hi = grip.outline.min(0), grip.outline.max(0)
        assert (lead.outline >= lo - 1.0).all() and (lead.outline <= hi + 1.0).all()


def test_blades_are_thin_steel_with_a_thinner_edge():
    for obj in _samples("knife"):
        if obj.meta["subtype"] not in ("kitchen", "dagger", "folding"):
            continue
        steel_plates = sorted(p.thickness_cm for p in obj.parts if p.material == "steel" and p.profile == "flat")
        assert steel_plates[0] < 0.1  # the bevel along the edge
        assert any(0.15 <= t <= 0.4 for t in steel_plates)  # the blade plate


def test_wrenches_are_all_steel_plate_of_real_thickness():
    for obj in _samples("wrench"):
        steel = [p for p in obj.parts if p.material == "steel"]
        assert len(steel) >= 3 and all(0.4 <= p.thickness_cm <= 2.5 for p in steel)
