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

from training.datasets.records import Box, OcclusionLevel
from training.synth.bags import Bag, make_bag
from training.synth.clutter import make_clutter
from training.synth.materials import transmission_table
from training.synth.parts import ObjectModel
from training.synth.render import Detector, Footprint, LineIntegrals, Pose, rasterise
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
    coverage: tuple[float, float] = (0.10, 0.80)  # share of the frame covered by bags
    threats_per_frame: tuple[float, ...] = (0.65, 0.27, 0.08)  # P(1), P(2), P(3)
    target_occlusion: tuple[float, float, float] = (0.40, 0.35, 0.25)  # OL1, OL2, OL3
    clutter_density: tuple[float, float] = (80.0, 220.0)  # cm^2 of bag interior per clutter item
    artifact_prob: float = 0.3
    tilt_prob: float = 0.4
    detector: Detector = field(default_factory=Detector)


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
    return int(rng.choice((1, 2, 3), p=(0.62, 0.28, 0.10)))


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


def _inside(poly_px: np.ndarray, pts: np.ndarray) -> bool:
    contour = poly_px.astype(np.float32).reshape(-1, 1, 2)
    return all(cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in pts)


def _sample_in(rng, poly_px: np.ndarray) -> np.ndarray:
    lo, hi = poly_px.min(0), poly_px.max(0)
    for _ in range(50):
        p = rng.uniform(lo, hi)
        if _inside(poly_px, p[None]):
            return p
    return poly_px.mean(0)


def _place(rng, obj: ObjectModel, interior: np.ndarray, ppc: float, cfg: SceneConfig, *, tries: int,
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
        at = centre + rng.normal(0, spread, 2) if centre is not None else _sample_in(rng, interior)
        pose = _random_pose(rng, at, ppc, cfg)
        if _inside(interior, pose.apply(corners)):
            return pose
    return None


def occlusion_fraction(own: Footprint, maps: LineIntegrals) -> float:
    """Share of a threat's pixels behind (or in front of) dense other material.

    ``maps`` holds the bag contents (not the bag shells: a suitcase's own
    shell lies over everything in it and is not what hides a threat).
    """
    sl = own.slices
    other_p = np.maximum(maps.a_p[sl] - own.a_p, 0)
    other_c = np.maximum(maps.a_c[sl] - own.a_c, 0)
    _, t_high = transmission_table()(other_p, other_c)
    own_mask = own.mask()
    if not own_mask.any():
        return 0.0
    return float((-np.log(np.maximum(t_high[own_mask], 1e-9)) >= OCCLUDER_ABSORBANCE).mean())


def occlusion_level(fraction: float) -> OcclusionLevel:
    """OL1/OL2/OL3 from the occluded share of the threat's pixels."""
    return "OL1" if fraction < OL_BOUNDS[0] else "OL2" if fraction < OL_BOUNDS[1] else "OL3"


def _add_artifacts(rng, high: np.ndarray, low: np.ndarray, det: Detector) -> None:
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
    interiors = [p.apply(b.interior) for b, p in zip(bags, bag_poses)]
    bag_boxes: list[list[float]] = []
    for bag, pose in zip(bags, bag_poses):
        fp = rasterise(bag.model, pose, shells.shape)
        shells.add(fp)
        bag_boxes.append(list(fp.box()))

    def pack(obj: ObjectModel, pose: Pose, bag_i: int) -> Footprint | None:
        fp = rasterise(obj, pose, contents.shape)
        if fp is None or fp.box() is None:
            return None
        contents.add(fp)
        x1, y1, x2, y2 = fp.box()
        b = bag_boxes[bag_i]
        bag_boxes[bag_i] = [min(b[0], x1), min(b[1], y1), max(b[2], x2), max(b[3], y2)]
        return fp

    for i, interior in enumerate(interiors):
        area_cm2 = cv2.contourArea(interior.astype(np.float32)) / ppc**2
        for _ in range(int(np.clip(area_cm2 / rng.uniform(*cfg.clutter_density), 3, 45))):
            obj = make_clutter(rng)
            pose = _place(rng, obj, interior, ppc, cfg, tries=6, slack=0.7)
            if pose is not None:  # what does not fit in this bag stays out of it
                pack(obj, pose, i)

    threats: list[tuple[str, Footprint]] = []
    if not negative and bags:
        n = int(rng.choice(len(cfg.threats_per_frame), p=cfg.threats_per_frame)) + 1
        for _ in range(n):
            label = str(rng.choice(list(THREATS)))
            obj = make_threat(label, rng)
            bag_i = int(rng.integers(len(bags)))
            pose = _place(rng, obj, interiors[bag_i], ppc, cfg, tries=40)
            if pose is None:  # longer than the bag is wide: lay it along the bag's diagonal centre
                pose = _random_pose(rng, interiors[bag_i].mean(0), ppc, cfg)
            fp = pack(obj, pose, bag_i)
            if fp is None:
                continue
            threats.append((label, fp))
            target = int(rng.choice(3, p=cfg.target_occlusion))
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
    det = cfg.detector
    high, low = det.read_out(total, rng)
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
