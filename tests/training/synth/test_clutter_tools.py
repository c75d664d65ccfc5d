"""Metal look-alikes: reproducible, real sizes, benign, and they image as metal."""

import json

import cv2
import numpy as np
import pytest

from pipeline.xray.materials import MATERIALS, transmission_table
from pipeline.xray.screen import zeff_map
from training.synth.clutter import CLUTTER
from training.synth.clutter_hardware import make_chain, make_coat_hanger
from training.synth.clutter_tools import DENSE_LOOKALIKES, LOOKALIKES
from training.synth.parts import ObjectModel, Part, rect
from training.synth.render import Pose, preview, rasterise
from training.synth.threats import THREATS

SEEDS = range(24)
PPC = 8.0  # px per cm for the imaging checks

# (min, max) of the longer side of each kind's extent in cm, as the factories' docstrings state
LONG_SIDE_CM = {
    "cutlery": (12, 21.5), "nail_clippers": (5.5, 16), "hair_clips": (4.5, 16), "padlock": (4.5, 16),
    "tweezers": (8.5, 12.1), "belt_buckle": (3, 16), "torch": (11, 36.5), "hair_dryer": (15, 75),
    "nail_file": (12, 18.1), "carabiner": (4, 12), "safety_pins": (2, 15), "screwdriver": (13, 33),
    "precision_screwdrivers": (10, 20), "hex_key": (4, 27), "corkscrew": (9, 28), "coat_hanger": (36, 47),
    "tape_measure": (5, 60), "stapler": (6, 38), "chain": (10, 112), "ratchet_driver": (9, 26),
    "hinge": (5, 28), "door_handle": (5, 38),
}
SUBTYPES = {
    "cutlery": {"fork", "spoon", "teaspoon"}, "nail_clippers": {"fingernail", "toenail"},
    "hair_clips": {"bobby_pins", "snap_clips", "claw_clip"}, "padlock": {"brass", "laminated", "luggage"},
    "tweezers": {"slant", "pointed"}, "belt_buckle": {"frame", "plate", "automatic"},
    "torch": {"penlight", "tactical", "maglite"}, "hair_dryer": {"hairdryer", "straightener"},
    "nail_file": {"plain", "handled"}, "carabiner": {"climbing", "keychain"}, "safety_pins": {"safety_pin"},
    "screwdriver": {"flat", "phillips", "bit_driver"}, "precision_screwdrivers": {"drivers", "bits"},
    "hex_key": {"loose", "folding"}, "corkscrew": {"wing", "t_handle", "opener"},
    "coat_hanger": {"wire", "plastic", "wooden"}, "tape_measure": {"pocket", "standard", "long"},
    "stapler": {"desk", "mini"}, "chain": {"chain", "chain_lock", "cable_lock"}, "ratchet_driver": {"inline", "stubby"},
    "hinge": {"butt", "strap"}, "door_handle": {"lever", "knob", "pull"},
}
METALS = {"steel", "aluminium", "brass"}
# mostly aluminium, which a scanner shows green; and a nail file, a 1 mm steel sheet that the default
# (SIXray-like) screen shows teal more often than blue, as real SIXray scans show thin metal
GREEN_KINDS = {"carabiner", "nail_file"}
OCCLUDER_ABSORBANCE = 0.5  # as the scene generator counts occlusion: -ln T_high, about 1 mm of steel


def _same(a: ObjectModel, b: ObjectModel) -> bool:
    key = lambda p: (p.material, p.thickness_cm, p.profile, p.width_cm, p.wall_cm, p.texture)  # noqa: E731
    return len(a.parts) == len(b.parts) and all(
        key(p) == key(q) and np.array_equal(p.points(), q.points()) for p, q in zip(a.parts, b.parts))


def _maps(obj: ObjectModel, ppc: float = PPC) -> tuple[np.ndarray, np.ndarray, Pose, int, int]:
    """(Z_eff, -ln T_high) of the object alone, noise- and blur-free, and where it was drawn."""
    x0, y0, x1, y1 = obj.extent_cm()
    pose = Pose(x=(1 - x0) * ppc, y=(1 - y0) * ppc, px_per_cm=ppc)
    fp = rasterise(obj, pose, (int((y1 - y0 + 2) * ppc), int((x1 - x0 + 2) * ppc)))
    t_low, t_high = transmission_table()(fp.a_p, fp.a_c)
    return zeff_map(t_high, t_low), -np.log(t_high), pose, fp.x0, fp.y0


def _metal_cm2(obj: ObjectModel) -> float:
    """Area the scanner's material estimate calls aluminium or heavier, or that the beam cannot cross."""
    z, a, *_ = _maps(obj)
    return float((((z >= 12.0) & (a >= 0.05)) | (a > 6.0)).sum()) / PPC**2


def _blue_cm2(obj: ObjectModel) -> float:
    """Area shown in the metal blues on the default screen."""
    rgb = preview(obj, px_per_cm=PPC).astype(np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return float(((b - r >= 40) & (b >= g)).sum()) / PPC**2


def test_catalogue_is_consistent():
    assert set(LONG_SIDE_CM) == set(LOOKALIKES) == set(SUBTYPES)
    assert DENSE_LOOKALIKES < set(LOOKALIKES)
    assert not set(LOOKALIKES) & set(THREATS)  # none of them a threat class
    assert set(LOOKALIKES) < set(CLUTTER) and CLUTTER["hinge"][0] is LOOKALIKES["hinge"][0]  # in the catalogue
    assert all(0.02 <= f <= 0.5 for _, f in LOOKALIKES.values())


@pytest.mark.parametrize("kind", sorted(LOOKALIKES))
def test_valid_benign_real_sized_metal(kind):
    factory = LOOKALIKES[kind][0]
    lo, hi = LONG_SIDE_CM[kind]
    for seed in SEEDS:
        obj = factory(np.random.default_rng(seed))
        assert obj.label is None and obj.kind == kind and obj.meta["subtype"] in SUBTYPES[kind]
        json.dumps(obj.meta)  # plain values only, so scene metadata can be written out
        assert 1 <= len(obj.parts) <= 20  # rendering cost grows with the part count
        assert all(p.material in MATERIALS for p in obj.parts)
        assert any(p.material in METALS for p in obj.parts)
        for p in obj.parts:
            pts = p.points()
            assert pts.dtype == np.float32 and pts.shape[1] == 2 and np.isfinite(pts).all()
            assert 0 < p.thickness_cm <= 40
            if p.outline is not None:
                assert abs(cv2.contourArea(p.outline)) > 0
        x0, y0, x1, y1 = obj.extent_cm()
        assert abs(x0 + x1) < 1e-3 and abs(y0 + y1) < 1e-3  # centred on the origin
        assert lo <= max(x1 - x0, y1 - y0) <= hi, (seed, x1 - x0, y1 - y0)
        assert obj.meta["length_cm"] == pytest.approx(max(x1 - x0, y1 - y0), abs=0.01)


@pytest.mark.parametrize("kind", sorted(LOOKALIKES))
def test_same_seed_same_parts_and_every_subtype_reachable(kind):
    factory = LOOKALIKES[kind][0]
    assert _same(factory(np.random.default_rng(7)), factory(np.random.default_rng(7)))
    assert not _same(factory(np.random.default_rng(7)), factory(np.random.default_rng(8)))
    assert {factory(np.random.default_rng(s)).meta["subtype"] for s in range(60)} == SUBTYPES[kind]
    if len(SUBTYPES[kind]) > 1:
        for sub in SUBTYPES[kind]:
            assert factory(np.random.default_rng(3), subtype=sub).meta["subtype"] == sub


@pytest.mark.parametrize("kind", sorted(LOOKALIKES))
def test_images_as_metal(kind):
    # every draw has at least half a cm^2 the scanner calls metal (Z_eff >= 12) or cannot see through
    for seed in range(8):
        assert _metal_cm2(LOOKALIKES[kind][0](np.random.default_rng(seed))) >= 0.5, seed


def test_plastic_does_not_image_as_metal():
    handle = ObjectModel("handle", [Part("plastic", 3.0, outline=rect(10.0, 3.0), profile="round")])
    assert _metal_cm2(handle) == 0.0
    assert _blue_cm2(handle) == 0.0


@pytest.mark.parametrize("kind", sorted(set(LOOKALIKES) - GREEN_KINDS))
def test_steel_and_brass_show_blue(kind):
    # hairlines (small hex keys, bobby pins) blur into the belt and a cm of steel saturates, so the
    # typical draw, not every one, shows a quarter cm^2 of blue: measured 8-12 of 12 draws per kind
    blue = [_blue_cm2(LOOKALIKES[kind][0](np.random.default_rng(seed))) for seed in range(12)]
    assert sum(b >= 0.25 for b in blue) >= 6, np.round(blue, 1)


@pytest.mark.parametrize("kind", sorted(DENSE_LOOKALIKES))
def test_dense_kinds_can_hide_a_threat(kind):
    # every draw has a patch of 6 cm^2 or more that absorbs like 1 mm of steel
    for seed in range(12):
        _, a, *_ = _maps(LOOKALIKES[kind][0](np.random.default_rng(seed)), ppc=4.0)
        assert float((a >= OCCLUDER_ABSORBANCE).sum()) / 16.0 >= 6.0, seed


@pytest.mark.parametrize("factory, sub", [(make_coat_hanger, "wire"), (make_chain, "chain")])
def test_wire_things_are_thin(factory, sub):
    for seed in range(6):
        obj = factory(np.random.default_rng(seed), subtype=sub)
        steel = ObjectModel(obj.kind, [p for p in obj.parts if p.material == "steel"])
        assert all(p.path is not None for p in steel.parts)
        _, a, pose, fx, fy = _maps(steel)
        drawn = a > 0
        centre = np.zeros(a.shape, np.uint8)
        for p in steel.parts:
            cv2.polylines(centre, [np.round(pose.apply(p.path) - (fx, fy)).astype(np.int32)], False, 1, 1)
        dist = cv2.distanceTransform(1 - centre, cv2.DIST_L2, 3)
        width_px = max(p.width_cm for p in steel.parts) * PPC
        assert (dist[drawn] <= width_px).mean() >= 0.97, seed  # every pixel lies along a centre line
        assert drawn.mean() <= 0.25, seed  # and most of the object's box stays empty
