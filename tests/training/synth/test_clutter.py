"""Benign clutter and bags: valid models of real size, reproducible, dense where it matters."""

from collections import Counter

import cv2
import numpy as np
import pytest

from pipeline.xray.materials import transmission_table
from training.synth.bags import make_bag
from training.synth.clutter import CLUTTER, DENSE_KINDS, make_clutter
from training.synth.clutter_tools import LOOKALIKES
from training.synth.outlines import joined, rects
from training.synth.parts import ObjectModel, Part, rect
from training.synth.render import Pose, rasterise

SEEDS = range(30)

# (min, max) of the longer side of each kind's extent in cm, as the factories' docstrings state
# (groups: the spread of the group); a little slack for stroke widths and protruding sliders.
LONG_SIDE_CM = {
    "laptop": (30, 40.5), "tablet": (17, 28.5), "phone": (13.5, 17), "charger": (4, 17.5),
    "power_bank": (9, 15.5), "cable": (5, 200), "earphones": (4, 120), "batteries": (4.4, 20),
    "bottle": (5.5, 34), "empty_bottle": (5.5, 34), "can": (5.3, 17.5), "spray_can": (12, 22.5),
    "thermos": (6.5, 30.5), "toiletries": (5, 40), "food": (6, 40), "clothes": (8, 70),
    "shoes": (22, 40), "umbrella": (22, 96), "keys": (3, 20), "coins": (1.5, 30),
    "zip_pouch": (15, 29), "books": (18, 45), "glasses_case": (15, 17.5), "pens": (13, 19), "lead": (1, 32),
}
# (min, max) of the bag's extent along x and y (cm); handbag handles may stand 15 cm above the body
BAG_EXTENT_CM = {
    "suitcase": ((35, 81.5), (25, 56.5)),
    "backpack": ((38, 53), (26, 35)),
    "handbag": ((25, 41), (18, 46)),
    "tray": ((55, 70.5), (38, 48.5)),
}
OCCLUDER_ABSORBANCE = 0.5  # as the scene generator counts occlusion: -ln T_high


def _same(a: ObjectModel, b: ObjectModel) -> bool:
    key = lambda p: (p.material, p.thickness_cm, p.profile, p.width_cm, p.wall_cm, p.texture,  # noqa: E731
                     p.texture_cm, p.texture_seed)
    return len(a.parts) == len(b.parts) and all(
        key(p) == key(q) and np.array_equal(p.points(), q.points()) for p, q in zip(a.parts, b.parts))


def _dense_area_cm2(obj: ObjectModel, ppc: float = 4.0) -> float:
    """Area (cm^2) where the object alone absorbs as much as the scene's occluder threshold."""
    x0, y0, x1, y1 = obj.extent_cm()
    shape = (int((y1 - y0) * ppc) + 8, int((x1 - x0) * ppc) + 8)
    fp = rasterise(obj, Pose(x=(4 / ppc - x0) * ppc, y=(4 / ppc - y0) * ppc, px_per_cm=ppc), shape)
    _, t_high = transmission_table()(fp.a_p, fp.a_c)
    return float((-np.log(t_high) >= OCCLUDER_ABSORBANCE).sum()) / ppc**2


def test_catalogue_is_consistent():
    assert set(LONG_SIDE_CM) | set(LOOKALIKES) == set(CLUTTER)  # look-alikes' sizes: test_clutter_tools
    assert DENSE_KINDS < set(CLUTTER)
    assert all(f > 0 for _, f in CLUTTER.values())


@pytest.mark.parametrize("kind", sorted(CLUTTER))
def test_every_kind_gives_valid_benign_models(kind):
    factory = CLUTTER[kind][0]
    for seed in SEEDS:
        obj = factory(np.random.default_rng(seed))
        assert obj.label is None and obj.kind == kind and obj.meta
        assert 1 <= len(obj.parts) <= 40  # rendering cost grows with the part count
        for p in obj.parts:
            pts = p.points()
            assert pts.dtype == np.float32 and pts.ndim == 2 and pts.shape[1] == 2 and np.isfinite(pts).all()
            assert 0 < p.thickness_cm <= 40
            if p.outline is not None:
                assert abs(cv2.contourArea(pts)) > 0
        x0, y0, x1, y1 = obj.extent_cm()
        assert abs(x0 + x1) < 1e-3 and abs(y0 + y1) < 1e-3  # centred on the origin


@pytest.mark.parametrize("kind", sorted(LONG_SIDE_CM))
def test_sizes_are_real(kind):
    lo, hi = LONG_SIDE_CM[kind]
    for seed in SEEDS:
        x0, y0, x1, y1 = CLUTTER[kind][0](np.random.default_rng(seed)).extent_cm()
        assert lo <= max(x1 - x0, y1 - y0) <= hi, (seed, x1 - x0, y1 - y0)


@pytest.mark.parametrize("kind", sorted(CLUTTER))
def test_same_seed_same_parts(kind):
    factory = CLUTTER[kind][0]
    assert _same(factory(np.random.default_rng(7)), factory(np.random.default_rng(7)))
    assert not _same(factory(np.random.default_rng(7)), factory(np.random.default_rng(8)))


@pytest.mark.parametrize("kind", sorted(DENSE_KINDS))
def test_dense_kinds_can_hide_a_threat(kind):
    # every draw has a patch of a few cm^2 that absorbs like 1 mm of steel or 2.5 cm of water
    for seed in range(12):
        obj = CLUTTER[kind][0](np.random.default_rng(seed))
        soft = sum(p.thickness_cm for p in obj.parts if p.material in ("cloth", "foam", "paper"))
        assert soft >= 3.5 or any(p.material not in ("cloth", "foam", "paper") for p in obj.parts)
        assert _dense_area_cm2(obj) >= 6.0, seed


def test_dense_filter():
    rng = np.random.default_rng(0)
    assert all(make_clutter(rng, dense=True).kind in DENSE_KINDS for _ in range(300))
    assert all(make_clutter(rng, dense=False).kind not in DENSE_KINDS for _ in range(300))


def test_frequencies_are_respected():
    n = 3000
    rng = np.random.default_rng(1)
    counts = Counter(make_clutter(rng).kind for _ in range(n))
    total = sum(f for _, f in CLUTTER.values())
    for kind, (_, f) in CLUTTER.items():
        expected = n * f / total
        if expected >= 20:
            assert abs(counts[kind] - expected) <= 0.4 * expected, (kind, counts[kind], expected)
        else:  # too rare to count, but it does turn up
            assert counts[kind] >= 1, kind


@pytest.mark.parametrize("kind", sorted(BAG_EXTENT_CM))
def test_bags_are_valid_and_hold_their_interior(kind):
    (xlo, xhi), (ylo, yhi) = BAG_EXTENT_CM[kind]
    for seed in SEEDS:
        bag = make_bag(np.random.default_rng(seed), kind)
        assert bag.kind == kind and bag.model.kind == kind and bag.model.label is None
        x0, y0, x1, y1 = bag.model.extent_cm()
        assert xlo <= x1 - x0 <= xhi and ylo <= y1 - y0 <= yhi, (seed, x1 - x0, y1 - y0)
        assert abs(x0 + x1) < 16 and abs(y0 + y1) < 16  # origin near the centre (handles shift the box)
        inner = bag.interior
        assert inner.dtype == np.float32 and inner.ndim == 2 and inner.shape[1] == 2 and len(inner) >= 3
        area = cv2.contourArea(inner)
        assert area > 0.3 * (x1 - x0) * (y1 - y0) * 0.5
        assert (inner.min(0) >= (x0, y0)).all() and (inner.max(0) <= (x1, y1)).all()
        face = bag.model.parts[0].outline  # the face plate: contents go inside the shell
        assert all(cv2.pointPolygonTest(face, (float(x), float(y)), False) >= 0 for x, y in inner)


def test_bags_reproducible_and_random_kind():
    for kind in BAG_EXTENT_CM:
        a, b = make_bag(np.random.default_rng(3), kind), make_bag(np.random.default_rng(3), kind)
        assert _same(a.model, b.model) and np.array_equal(a.interior, b.interior)
    rng = np.random.default_rng(0)
    assert {make_bag(rng).kind for _ in range(200)} == set(BAG_EXTENT_CM)
    with pytest.raises(ValueError):
        make_bag(rng, "crate")  # type: ignore[arg-type]


# --- what the clutter looks like inside --------------------------------------------------------------


def _parts(kind: str, seeds=SEEDS):
    for seed in seeds:
        obj = CLUTTER[kind][0](np.random.default_rng(seed))
        yield obj, obj.parts


def _mask(parts: list[Part], ppc: float = 10.0) -> np.ndarray:
    obj = ObjectModel("x", parts)
    x0, y0, x1, y1 = obj.extent_cm()
    shape = (int((y1 - y0) * ppc) + 8, int((x1 - x0) * ppc) + 8)
    return rasterise(obj, Pose(x=(0.4 - x0) * ppc, y=(0.4 - y0) * ppc, px_per_cm=ppc), shape).mask()


def test_joined_outline_is_its_pieces_plus_thin_bridges():
    pieces = rects(np.float32([0, 3, 6, 9]), 0.0, 1.0, 2.0)  # four 1 x 2 cm pads, 2 cm apart
    outline = joined(pieces)
    assert cv2.contourArea(outline) == pytest.approx(8.0)
    m = _mask([Part("copper", 0.05, outline=outline)])  # 10 px/cm, 4 px margin
    # pads (edges drawn inclusively: up to 1 px all round) plus three 2 cm bridges 1 px wide
    assert 8.0 <= m.sum() / 100 <= 8.0 + 4 * 0.6 + 3 * 0.2
    gap = m[:, 4 + 20]  # the column halfway between the first two pads: only the bridge crosses it
    assert 1 <= gap.sum() <= 2
    ring = joined([rect(4.0, 4.0), rect(2.0, 2.0)[::-1]])  # a hole wound the other way
    assert cv2.contourArea(ring) == pytest.approx(12.0)
    m = _mask([Part("steel", 0.1, outline=ring)])
    assert not m[m.shape[0] // 2, m.shape[1] // 2] and m.sum() / 100 == pytest.approx(12.0, abs=1.5)


def test_garments_are_rumpled_and_folded():
    for obj, parts in _parts("clothes"):
        cloth = [p for p in parts if p.material == "cloth"]
        textured = [p for p in cloth if p.texture > 0]
        assert textured and all(0.3 <= p.texture <= 0.6 and 1.0 <= p.texture_cm <= 4.0 for p in textured)
        assert len({p.texture_seed for p in textured}) == len(textured)  # every garment rumpled its own way
        socks_only = set(obj.meta["garments"]) <= {"socks", "scarf", "cap"}
        assert socks_only or any(p.path is not None and 0.3 <= p.width_cm <= 1.5 for p in cloth)  # folds, hems


def test_garments_carry_their_metal():
    seen = Counter()
    for obj, parts in _parts("clothes", range(200)):
        names = set(obj.meta["garments"])
        metal = {p.material for p in parts} & {"steel", "brass"}
        if "jeans" in names:
            assert "brass" in metal  # fly zip, button and rivets
        seen.update(names)
    assert set(seen) >= {"underwear", "dress", "trousers", "jacket", "scarf", "cap"}


def test_shoes_have_treads_and_lacing():
    for obj, parts in _parts("shoes"):
        ridges = [p for p in parts if p.material == "rubber" and p.path is not None]
        assert len(ridges) == (2 if obj.meta["pair"] else 1)
        assert all(len(p.path) >= 30 for p in ridges)  # a lug every 0.8-1.4 cm along 22-32 cm
        # the eyelets: 8-14 small rings (8-gons) in one outline, a few cm^2 of thin metal in all
        eyelets = [p for p in parts if p.material in ("steel", "brass") and p.outline is not None
                   and len(p.outline) >= 8 * 8 and abs(cv2.contourArea(p.outline)) < 3.0]
        assert bool(eyelets) == obj.meta["laced"]


def test_books_have_pages_and_bindings():
    for obj, parts in _parts("books"):
        pages = [p for p in parts if p.material == "paper" and p.texture > 0]
        assert pages and all(p.texture <= 0.2 for p in pages)  # a stack of pages is nearly even
        if "notebook" in obj.meta["extras"]:  # a spiral coil of steel wire along the spine
            assert any(p.material == "steel" and p.path is not None and len(p.path) > 100 for p in parts)


@pytest.mark.parametrize("kind", ["laptop", "phone", "tablet"])
def test_devices_show_boards_cells_and_components(kind):
    for _, parts in _parts(kind, range(10)):
        mats = Counter(p.material for p in parts)
        assert mats["pcb"] >= 1 and mats["battery"] >= 1 and mats["copper"] >= 1 and mats["steel"] >= 3
        chips = max((p for p in parts if p.material == "copper" and p.outline is not None),
                    key=lambda p: len(p.outline))
        assert len(chips.outline) >= 4 * 8  # a field of at least eight chips in one part
        assert len(parts) <= 30


def test_laptop_has_heat_pipes_and_keyboard_grid():
    for _, parts in _parts("laptop", range(10)):
        assert any(p.material == "copper" and p.path is not None for p in parts)
        grid = [p for p in parts if p.outline is not None and len(p.outline) > 200 and p.material in
                ("steel", "aluminium")]
        assert grid  # the keyboard plate with a hole under every key


def test_chargers_have_a_transformer():
    for _, parts in _parts("charger"):
        core = [p for p in parts if p.material == "steel" and p.outline is not None and p.thickness_cm >= 0.6]
        coil = [p for p in parts if p.material == "copper" and p.profile == "round"]
        assert core and coil
        x0, y0, x1, y1 = ObjectModel("core", core[:1]).extent_cm()
        assert cv2.contourArea(core[0].outline) < 0.8 * (x1 - x0) * (y1 - y0)  # E-I core: windows cut out


def test_cables_are_long_and_spread_across_a_bag():
    lays = Counter()
    for obj, parts in _parts("cable", range(60)):
        path = parts[0].path
        length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())
        assert 48.0 <= length <= 200.0 and length == pytest.approx(obj.meta["length_cm"], rel=1e-3)
        lays[obj.meta["lay"]] += 1
    assert set(lays) == {"loose", "coiled", "half"}


def test_razor_blades_are_small():
    razors = 0
    for obj, parts in _parts("toiletries", range(80)):
        if "razor" in obj.meta["items"]:
            razors += 1
        for p in parts:
            if p.material == "steel" and p.path is not None and p.width_cm <= 0.1:
                x0, y0, x1, y1 = ObjectModel("b", [p]).extent_cm()
                assert max(x1 - x0, y1 - y0) <= 4.5  # blades and springs, nothing knife-sized
    assert razors >= 5


@pytest.mark.parametrize("kind", ["food", "can"])
def test_food_is_grainy(kind):
    for obj, parts in _parts(kind):
        if kind == "can" and not obj.meta["tin"]:
            assert not any(p.texture for p in parts)  # a drink is a clean liquid
            continue
        assert any(p.material == "water" and p.texture >= 0.1 for p in parts)
