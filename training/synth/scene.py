"""Compose one conveyor frame: belt, bags, clutter, threats; render and annotate it.

Layout in physical units: a bag is 30-80 cm across, so the pixel pitch of a
frame follows from how much of the frame its bags cover (10-80 %). Bags stand
along the belt (x) with empty belt between them, or touching. Threats go
inside bags; for a target occlusion level, dense clutter is laid over them.
The annotated level is then measured, not assumed (see `occlusion_level`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.xray.materials import transmission_table
from training.datasets.records import OCCLUSION_LEVELS, Box, OcclusionLevel
from training.synth.bags import Bag, make_bag
from training.synth.clutter import make_clutter
from training.synth.clutter_shapes import blob, smooth_path, uniform, wire
from training.synth.parts import ObjectModel, Part
from training.synth.profiles import ScannerProfile, default_profile
from training.synth.render import Footprint, LineIntegrals, Pose, ScannerReadout, rasterise
from training.synth.threats import THREATS, make_threat

__all__ = ["Frame", "SceneConfig", "generate_frame", "occlusion_fraction", "occlusion_level"]

# A pixel counts as occluded when what lies over the threat absorbs at least
# this much of the high-energy beam (-ln T_H): about 1 mm of steel or 2.5 cm of
# water, a little more than a thick sweater.
OCCLUDER_ABSORBANCE = 0.5
# Share of the threat's pixels that are occluded: < 0.25 OL1 (none or slight),
# < 0.6 OL2 (partial), else OL3 (severe or full), following OPIXray's three levels.
OL_BOUNDS = (0.25, 0.6)


@dataclass(frozen=True)
class SceneConfig:
    """Knobs of the frame generator; the defaults give the general mix."""

    width: int | None = None  # fixed frame size; random in [min_size, max_size] if None
    height: int | None = None
    min_size: tuple[int, int] = (300, 200)
    max_size: tuple[int, int] = (2000, 1500)
    coverage: tuple[float, float] = (0.20, 0.90)  # share of the frame covered by bags
    threats_per_frame: tuple[float, ...] = (0.55, 0.28, 0.12, 0.05)  # P(1), P(2), P(3), P(4)
    # several threats in one frame often travel together: a tool kit, a knife roll, a weapon with its tools
    cluster_prob: float = 0.4
    target_occlusion: tuple[float, float, float] = (0.40, 0.35, 0.25)  # OL1, OL2, OL3
    # cm^2 of bag interior per clutter item: real bags hold 15-60 overlapping items
    clutter_density: tuple[float, float] = (25.0, 80.0)
    items_per_bag: tuple[int, int] = (12, 60)
    fill_prob: float = 0.75  # soft goods stuffed round everything else
    wires: tuple[float, ...] = (0.15, 0.3, 0.25, 0.2, 0.1)  # P(0..4) bag-spanning cables
    artifact_prob: float = 0.3
    tilt_prob: float = 0.4
    profile: ScannerProfile = field(default_factory=default_profile)


@dataclass
class Frame:
    """One rendered frame and its ground truth."""

    high: np.ndarray  # (H, W) uint16
    low: np.ndarray  # (H, W) uint16
    rgb: np.ndarray  # (H, W, 3) uint8 pseudo-colour
    boxes: list[Box]
    bags: list[tuple[float, float, float, float]]
    px_per_cm: float
    occlusion: list[float]  # measured occluded share per box


def _frame_size(rng: np.random.Generator, cfg: SceneConfig) -> tuple[int, int]:
    if cfg.width and cfg.height:
        return cfg.width, cfg.height
    w = int(round(np.exp(rng.uniform(np.log(cfg.min_size[0]), np.log(cfg.max_size[0])))))
    aspect = rng.uniform(0.62, 0.8)
    h = int(np.clip(round(w * aspect), cfg.min_size[1], cfg.max_size[1]))
    return w, h


def _bag_count(rng: np.random.Generator, negative: bool) -> int:
    if negative:
        return int(rng.choice(4, p=(0.08, 0.57, 0.25, 0.10)))
    return int(rng.choice((1, 2, 3), p=(0.70, 0.22, 0.08)))


def _posed_extent(obj: ObjectModel, angle_deg: float) -> tuple[float, float]:
    """Width and height (cm) of the object's box after rotating by angle_deg."""
    x0, y0, x1, y1 = obj.extent_cm()
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    t = np.deg2rad(angle_deg)
    rot = corners @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    return float(np.ptp(rot[:, 0])), float(np.ptp(rot[:, 1]))


def _layout_bags(rng, bags: list[Bag], w: int, h: int, cfg: SceneConfig) -> tuple[float, list[Pose]]:
    """Pixel pitch and bag poses: bags side by side along the belt, inside the frame."""
    angles = [float(rng.choice([0.0, 90.0], p=[0.7, 0.3]) + rng.normal(0, 6)) for _ in bags]
    sizes = np.array([_posed_extent(b.model, a) for b, a in zip(bags, angles)])  # cm
    coverage = rng.uniform(*cfg.coverage)
    ppc = np.sqrt(coverage * w * h / float(np.prod(sizes, axis=1).sum()))
    # shrink until the row of bags, with some belt between, fits the frame
    ppc = min(ppc, 0.96 * w / (sizes[:, 0].sum() * 1.04), 0.94 * h / sizes[:, 1].max())
    widths, heights = sizes[:, 0] * ppc, sizes[:, 1] * ppc
    free = w - widths.sum()
    gaps = rng.dirichlet(np.ones(len(bags) + 1)) * free
    if rng.random() < 0.15 and len(bags) > 1:  # bags touching on the belt
        gaps[1:-1] = 0.0
        gaps[0] = gaps[-1] = (w - widths.sum()) / 2
    poses, x = [], 0.0
    for i, b in enumerate(bags):
        x += gaps[i]
        cx = x + widths[i] / 2
        cy = rng.uniform(heights[i] / 2 + 1, h - heights[i] / 2 - 1) if h > heights[i] + 2 else h / 2
        x0, y0, x1, y1 = b.model.extent_cm()
        # extent is not centred on the origin in general: shift so the box lands where planned
        off = Pose(0, 0, ppc, angles[i]).apply(np.array([[(x0 + x1) / 2, (y0 + y1) / 2]]))[0]
        poses.append(Pose(cx - off[0], cy - off[1], ppc, angles[i]))
        x += widths[i]
    return float(ppc), poses


def _random_pose(rng, centre: np.ndarray, ppc: float, cfg: SceneConfig) -> Pose:
    tilt = float(rng.uniform(0.55, 1.0)) if rng.random() < cfg.tilt_prob else 1.0
    return Pose(float(centre[0]), float(centre[1]), ppc, float(rng.uniform(0, 360)), tilt,
                float(rng.uniform(0, 180)), bool(rng.random() < 0.5))


class _Region:
    """A bag interior in frame pixels, with its edges kept for fast point-in-polygon tests."""

    def __init__(self, poly_px: np.ndarray) -> None:
        self.poly = np.asarray(poly_px, np.float64)
        self.x0, self.y0 = self.poly[:, 0], self.poly[:, 1]
        x1, y1 = np.roll(self.x0, -1), np.roll(self.y0, -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.slope = (x1 - self.x0) / (y1 - self.y0)
        self.y1 = y1
        self.lo, self.hi = self.poly.min(0), self.poly.max(0)

    def contains(self, pts: np.ndarray) -> np.ndarray:
        """Which of the (K, 2) points lie inside (even-odd rule), bool (K,)."""
        x, y = pts[:, :1], pts[:, 1:2]
        crosses = (self.y0 > y) != (self.y1 > y)
        with np.errstate(invalid="ignore"):
            x_at = self.x0 + (y - self.y0) * self.slope
        return np.count_nonzero(crosses & (x < x_at), axis=1) % 2 == 1

    def sample(self, rng) -> np.ndarray:
        """A uniform point inside: rejection sampling, one batch of draws at a time (a bag fills most of its box)."""
        p = rng.uniform(self.lo, self.hi, (16, 2))
        ok = np.flatnonzero(self.contains(p))
        return p[ok[0]] if len(ok) else self.poly.mean(0)


def _place(rng, obj: ObjectModel, interior: _Region, ppc: float, cfg: SceneConfig, *, tries: int,
           centre: np.ndarray | None = None, spread: float = 0.0, slack: float = 1.0) -> Pose | None:
    """A pose whose box corners fall inside the bag interior, or None after `tries`.

    With `centre`, positions are drawn around it (spread in pixels) instead of
    anywhere in the interior: that is how occluders are laid over a threat.
    ``slack`` < 1 checks a box shrunk by that factor: soft things (clothes,
    cables) may fill the bag up to its walls.
    """
    x0, y0, x1, y1 = obj.extent_cm()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    corners = (corners - (cx, cy)) * slack + (cx, cy)
    for _ in range(tries):
        at = centre + rng.normal(0, spread, 2) if centre is not None else interior.sample(rng)
        pose = _random_pose(rng, at, ppc, cfg)
        if interior.contains(pose.apply(corners)).all():
            return pose
    return None


def _fold_into(path: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A path reflected at the walls of the box [lo, hi] (a triangle wave per axis): it loops inside."""
    span = hi - lo
    u = np.mod(path - lo, 2 * span)
    return (lo + np.where(u > span, 2 * span - u, u)).astype(np.float32)


def bag_fill(rng: np.random.Generator, bag: Bag) -> ObjectModel:
    """Soft goods stuffed round everything else: rumpled cloth over the bag's interior.

    In a soft bag the stuffing bulges the fabric out past the frame, so the
    layer's outline is a wobbly blob up to a little beyond the bag's own
    outline, with a second, smaller rumpled layer on top half the time.
    """
    x0, y0, x1, y1 = bag.model.extent_cm()
    soft = bag.kind in ("backpack", "handbag")
    parts = []
    for layer in range(1 + int(rng.random() < 0.5)):
        grow = uniform(rng, 0.95, 1.08) if soft and layer == 0 else uniform(rng, 0.55, 0.9)
        outline = blob(rng, (x1 - x0) * grow, (y1 - y0) * grow, wobble=uniform(rng, 0.04, 0.12),
                       squareness=uniform(rng, 0.3, 0.8), cx=(x0 + x1) / 2 + uniform(rng, -3, 3),
                       cy=(y0 + y1) / 2 + uniform(rng, -3, 3))
        if not soft and layer == 0:  # a hard case holds it in
            outline = bag.interior * np.float32(uniform(rng, 0.9, 0.99))
        parts.append(Part("cloth", uniform(rng, 1.5, 7.0), outline=outline, profile="round",
                          texture=uniform(rng, 0.4, 0.8), texture_cm=uniform(rng, 0.8, 4.0),
                          texture_seed=int(rng.integers(2**31))))
    return ObjectModel("fill", parts, label=None, tilt=False)


def bag_wires(rng: np.random.Generator, bag: Bag, count: int) -> ObjectModel:
    """Charging cables and earphone leads that loop and meander across the whole bag."""
    lo, hi = bag.interior.min(0) + 1.0, bag.interior.max(0) - 1.0
    parts: list[Part] = []
    for _ in range(count):
        length = uniform(rng, 1.0, 4.0) * float(np.hypot(*(hi - lo)))
        path = smooth_path(rng, length, step=1.0, curvature=uniform(rng, 0.05, 0.3), start=tuple(rng.uniform(lo, hi)))
        jacket = uniform(rng, 0.2, 0.45)
        parts += wire(_fold_into(path, lo, hi), jacket_cm=jacket, core_cm=jacket * uniform(rng, 0.25, 0.4))
    return ObjectModel("wires", parts, label=None, tilt=False)


def occlusion_fraction(own: Footprint, maps: LineIntegrals, *, own_included: bool = True) -> float:
    """Share of a threat's pixels behind (or in front of) dense other material.

    ``maps`` holds the bag contents (not the bag shells: a suitcase's own
    shell lies over everything in it and is not what hides a threat), with
    the threat itself in them unless ``own_included`` is False.
    """
    sl = own.slices
    if own_included:
        other_p = np.maximum(maps.a_p[sl] - own.a_p, 0)
        other_c = np.maximum(maps.a_c[sl] - own.a_c, 0)
    else:
        other_p, other_c = maps.a_p[sl], maps.a_c[sl]
    _, t_high = transmission_table()(other_p, other_c)
    own_mask = own.mask()
    if not own_mask.any():
        return 0.0
    return float((-np.log(np.maximum(t_high[own_mask], 1e-9)) >= OCCLUDER_ABSORBANCE).mean())


def occlusion_level(fraction: float) -> OcclusionLevel:
    """OL1/OL2/OL3 from the occluded share of the threat's pixels."""
    return "OL1" if fraction < OL_BOUNDS[0] else "OL2" if fraction < OL_BOUNDS[1] else "OL3"


# the occluded share each level is steered towards when a threat's place is chosen
_LEVEL_GOAL = (0.0, 0.42, 0.85)


def _pose_for_level(rng, obj: ObjectModel, interior: _Region, contents: LineIntegrals, ppc: float,
                    cfg: SceneConfig, target: int, *, candidates: int = 8, centre: np.ndarray | None = None,
                    spread: float = 0.0) -> Footprint | None:
    """The threat's footprint at the best of a few places for the wanted occlusion level.

    In a densely packed bag most places are already occluded; trying a few
    and keeping the one closest to the level's goal keeps OL1 threats in the
    mix the way real bags have them (in a gap, along a wall, on top).
    """
    best, best_err = None, np.inf
    for _ in range(candidates):
        pose = _place(rng, obj, interior, ppc, cfg, tries=40, centre=centre, spread=spread)
        if pose is None:  # longer than the bag is wide: lay it along the bag's diagonal centre
            pose = _random_pose(rng, interior.poly.mean(0), ppc, cfg)
        fp = rasterise(obj, pose, contents.shape)
        if fp is None or fp.box() is None:
            continue
        frac = occlusion_fraction(fp, contents, own_included=False)
        err = abs(frac - _LEVEL_GOAL[target])
        if err < best_err:
            best, best_err = fp, err
        if occlusion_level(frac) == OCCLUSION_LEVELS[target]:
            break
    return best


def _add_artifacts(rng, high: np.ndarray, low: np.ndarray, det: ScannerReadout) -> None:
    """Scanner artifacts: dead or hot detector rows, source flicker columns."""
    h, w = high.shape
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.choice(["dead_row", "hot_row", "flicker_col"])
        width = int(rng.integers(1, 3))
        if kind == "flicker_col":
            c = int(rng.integers(0, w - width))
            factor = float(rng.choice([0.85, 1.1]))
            for img in (high, low):
                img[:, c:c + width] = np.clip(img[:, c:c + width] * factor, 0, 65535).astype(np.uint16)
        else:
            r = int(rng.integers(0, h - width))
            value = det.offset if kind == "dead_row" else 65535
            for img in (high, low):
                img[r:r + width, :] = value


def generate_frame(rng: np.random.Generator, *, negative: bool, cfg: SceneConfig = SceneConfig()) -> Frame:
    """Render one frame; negative frames hold no threat."""
    w, h = _frame_size(rng, cfg)
    shells = LineIntegrals(h, w)  # the bags themselves
    contents = LineIntegrals(h, w)  # what is packed in them: occlusion counts only this
    bags = [make_bag(rng) for _ in range(_bag_count(rng, negative))]
    ppc, bag_poses = _layout_bags(rng, bags, w, h, cfg) if bags else (0.0, [])
    interiors = [_Region(p.apply(b.interior)) for b, p in zip(bags, bag_poses)]
    bag_boxes: list[list[float]] = []
    for bag, pose in zip(bags, bag_poses):
        fp = rasterise(bag.model, pose, shells.shape)
        shells.add(fp)
        bag_boxes.append(list(fp.box()))

    def pack(obj: ObjectModel, pose: Pose, bag_i: int, fp: Footprint | None = None) -> Footprint | None:
        fp = fp or rasterise(obj, pose, contents.shape)
        if fp is None or fp.box() is None:
            return None
        contents.add(fp)
        x1, y1, x2, y2 = fp.box()
        b = bag_boxes[bag_i]
        bag_boxes[bag_i] = [min(b[0], x1), min(b[1], y1), max(b[2], x2), max(b[3], y2)]
        return fp

    for i, interior in enumerate(interiors):
        if rng.random() < cfg.fill_prob:  # part of the bag's bulk, like its shell: not what hides a threat
            fill = rasterise(bag_fill(rng, bags[i]), bag_poses[i], shells.shape)
            if fill is not None and fill.box() is not None:
                shells.add(fill)
                b, (x1, y1, x2, y2) = bag_boxes[i], fill.box()  # a soft bag's stuffing may bulge past its shell
                bag_boxes[i] = [min(b[0], x1), min(b[1], y1), max(b[2], x2), max(b[3], y2)]
        n_wires = int(rng.choice(len(cfg.wires), p=cfg.wires))
        if n_wires:
            pack(bag_wires(rng, bags[i], n_wires), bag_poses[i], i)
        area_cm2 = cv2.contourArea(interior.poly.astype(np.float32)) / ppc**2
        for _ in range(int(np.clip(area_cm2 / rng.uniform(*cfg.clutter_density), *cfg.items_per_bag))):
            obj = make_clutter(rng)
            pose = _place(rng, obj, interior, ppc, cfg, tries=6, slack=0.7)
            if pose is not None:  # what does not fit in this bag stays out of it
                pack(obj, pose, i)

    threats: list[tuple[str, Footprint]] = []
    if not negative and bags:
        n = int(rng.choice(len(cfg.threats_per_frame), p=cfg.threats_per_frame)) + 1
        cluster = n > 1 and rng.random() < cfg.cluster_prob
        kit_bag, kit_at = int(rng.integers(len(bags))), None
        for _ in range(n):
            label = str(rng.choice(list(THREATS)))
            obj = make_threat(label, rng)
            bag_i = kit_bag if cluster else int(rng.integers(len(bags)))
            target = int(rng.choice(3, p=cfg.target_occlusion))
            # a kit's later pieces lie round its first one, overlapping it as tools in a pouch do
            near = {"centre": kit_at[0], "spread": kit_at[1]} if cluster and kit_at is not None else {}
            fp = _pose_for_level(rng, obj, interiors[bag_i], contents, ppc, cfg, target, **near)
            if fp is not None and cluster and kit_at is None and fp.box() is not None:
                x1, y1, x2, y2 = fp.box()
                kit_at = (np.array([(x1 + x2) / 2, (y1 + y2) / 2]), 0.35 * max(x2 - x1, y2 - y1))
            if fp is None or pack(obj, None, bag_i, fp) is None:
                continue
            threats.append((label, fp))
            level = occlusion_level(occlusion_fraction(fp, contents))
            if OCCLUSION_LEVELS.index(level) >= target:
                continue  # packed clutter already hides it as much as wanted; occluders only add
            x1, y1, x2, y2 = fp.box()
            centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
            spread = (0.25 if target == 2 else 0.12) * max(x2 - x1, y2 - y1)
            for _ in range(target * int(rng.integers(1, 3))):  # OL2: 1-2 dense items, OL3: 2-4
                occluder = make_clutter(rng, dense=True)
                pose = _place(rng, occluder, interiors[bag_i], ppc, cfg, tries=6, centre=centre, spread=spread)
                if pose is not None:
                    pack(occluder, pose, bag_i)

    total = LineIntegrals(h, w)
    total.a_p = shells.a_p + contents.a_p
    total.a_c = shells.a_c + contents.a_c
    det = cfg.profile.detector_for(rng)
    # a frame drawn finer than the detector's pitch cannot be sharper than that pitch (box aperture: sigma = w / sqrt(12))
    aperture = 0.29 * ppc / cfg.profile.native_px_per_cm
    high, low = det.read_out(total, rng, blur_px=float(np.hypot(det.psf_sigma_px, aperture)))
    if rng.random() < cfg.artifact_prob:
        _add_artifacts(rng, high, low, det)
    rgb = det.pseudo_colour(high, low)
    boxes, occ = [], []
    for label, fp in threats:
        frac = occlusion_fraction(fp, contents)
        x1, y1, x2, y2 = fp.box()
        boxes.append(Box(x1=x1, y1=y1, x2=x2, y2=y2, label=label, occlusion=occlusion_level(frac)))
        occ.append(frac)
    bags_xyxy = [(float(max(b[0], 0)), float(max(b[1], 0)), float(min(b[2], w)), float(min(b[3], h))) for b in bag_boxes]
    return Frame(high, low, rgb, boxes, bags_xyxy, ppc, occ)
