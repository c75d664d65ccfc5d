"""Augmentations that make sense for X-ray scans, on uint8 images and their boxes.

Targets are float arrays (K, 5) of rows ``(cls, x1, y1, x2, y2)`` in pixels,
x2/y2 exclusive (the convention of `training.datasets.records`). Every function
returns a new image and new targets; nothing is changed in place.

What is (not) done, and why:

- Flips and 90 degree rotations: a bag lies on the belt in any orientation,
  and a scanner draws the same object mirrored when the bag is flipped over.
- Scale and translation, filling with the empty-belt value (white in
  pseudo-colour): object size varies with scanner geometry and zoom.
- Brightness as a change of thickness (`attenuation_gain`), never a hue
  shift: in pseudo-colour the hue *is* the material class (orange organic,
  green mixed, blue metal), so a hue jitter would teach the network that a
  blue gun may be orange.
- Zoom crops (off by default): a window of the frame, picked around a random
  threat, enlarged onto the canvas. The network sees thin threats at up to
  `zoom` times their full-frame size for the compute of the small canvas, and
  learns the scales that task-driven crops show it in the pipeline.
- Mosaic (off by default): four frames tiled into one, like bags queued on a
  belt; it helps small data sets but changes the object-size statistics.
- Archive and sensor degradations (off by default), for detectors that must
  read other scanners' images: JPEG compression at the qualities scanners and
  archives use, detector blur, and noise. They change texture, never hue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.preprocess import DUAL_BACKGROUND, RGB_BACKGROUND, background_for

__all__ = [
    "AugmentConfig",
    "DUAL_BACKGROUND",
    "RGB_BACKGROUND",
    "attenuation_gain",
    "augment",
    "background_for",
    "clip_targets",
    "degrade",
    "flip",
    "mosaic",
    "rot90",
    "scale_translate",
    "zoom_crop",
]

@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the training augmentations (defaults: the recipe of the shipped model)."""

    flip_lr: float = 0.5
    flip_ud: float = 0.5
    rot90: float = 0.5  # probability of a rotation by 90, 180 or 270 degrees
    scale: tuple[float, float] = (0.6, 1.4)
    translate: float = 0.1  # max shift, as a share of the canvas side
    gain: tuple[float, float] = (0.8, 1.2)  # thickness multiplier, see attenuation_gain
    mosaic: float = 0.0
    zoom: tuple[float, float] = (1.0, 1.0)  # zoom-crop factor range; the dataset letterboxes at img_size * zoom[1]
    zoom_focus: float = 0.8  # probability that the zoom window is placed around a random box
    min_size: float = 2.0  # boxes thinner than this (pixels) after clipping are dropped
    min_visible: float = 0.2  # ... and boxes that kept less than this share of their area
    jpeg: float = 0.0  # probability of a JPEG round trip at a quality drawn from jpeg_quality
    jpeg_quality: tuple[int, int] = (40, 95)
    blur: float = 0.0  # probability of a Gaussian blur, sigma 0.5-1.2 px
    noise: float = 0.0  # probability of additive Gaussian noise, sigma 2-6 grey levels


def flip(image: np.ndarray, targets: np.ndarray, *, horizontal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right (`horizontal`) or top-bottom."""
    h, w = image.shape[:2]
    t = targets.copy()
    if horizontal:
        t[:, [1, 3]] = w - targets[:, [3, 1]]
        return np.ascontiguousarray(image[:, ::-1]), t
    t[:, [2, 4]] = h - targets[:, [4, 2]]
    return np.ascontiguousarray(image[::-1]), t


def rot90(image: np.ndarray, targets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rotate by k * 90 degrees counter-clockwise, as `np.rot90`."""
    t = targets.copy()
    for _ in range(k % 4):
        w = image.shape[1]
        # np.rot90 sends pixel (row y, col x) to (row w-1-x, col y): x' = y, y' = w - x
        x1, y1, x2, y2 = t[:, 1].copy(), t[:, 2].copy(), t[:, 3].copy(), t[:, 4].copy()
        t[:, 1], t[:, 2], t[:, 3], t[:, 4] = y1, w - x2, y2, w - x1
        image = np.rot90(image)
    return np.ascontiguousarray(image), t


def scale_translate(
    image: np.ndarray, targets: np.ndarray, *, scale: float, shift: tuple[float, float], fill: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Zoom by `scale` about the image centre, then move by `shift` (dx, dy) pixels; the canvas size is kept."""
    h, w = image.shape[:2]
    # continuous coordinates: u' = s*u + t; OpenCV's pixel centres sit at integers, i.e. u - 0.5
    tx = (1 - scale) * w / 2 + shift[0]
    ty = (1 - scale) * h / 2 + shift[1]
    m = np.array([[scale, 0, tx + 0.5 * scale - 0.5], [0, scale, ty + 0.5 * scale - 0.5]], np.float64)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = cv2.warpAffine(image, m, (w, h), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(int(v) for v in fill))
    t = targets.copy()
    t[:, [1, 3]] = targets[:, [1, 3]] * scale + tx
    t[:, [2, 4]] = targets[:, [2, 4]] * scale + ty
    return out, t


def attenuation_gain(image: np.ndarray, gain: float, *, mode: str = "rgb") -> np.ndarray:
    """Render the scan as if every object were `gain` times as thick; air stays air.

    Beer-Lambert: transmission T = exp(-mu*t), so a thickness factor g gives
    T' = T**g. White (T = 1) stays white and black stays black, and the ratio
    of log-attenuations between channels, which is what encodes the material
    (the pseudo-colour hue, the dual-energy high/low ratio), is unchanged.
    A plain brightness shift would instead grey the belt and move hues.
    In "dual" mode ch1/ch2 are transmissions and ch3 = 510*sigmoid(R) - 255
    with R = high/low, which becomes R**g.
    """
    levels = np.arange(256, dtype=np.float64) / 255.0
    lut = np.rint(255.0 * levels**gain).astype(np.uint8)
    if mode == "rgb":
        return cv2.LUT(image, lut)
    # invert ch3 to R, raise to g, map back; R is clipped where the sigmoid saturates
    s = np.clip((np.arange(256) + 255.0) / 510.0, 0.5, 1 - 1e-6)
    r = np.log(s / (1 - s)) ** gain
    ratio_lut = np.rint(510.0 / (1.0 + np.exp(-r)) - 255.0).clip(0, 255).astype(np.uint8)
    out = np.empty_like(image)
    out[..., :2] = cv2.LUT(image[..., :2], lut)
    out[..., 2] = cv2.LUT(image[..., 2], ratio_lut)
    return out


def clip_targets(targets: np.ndarray, size: tuple[int, int], *, min_size: float, min_visible: float) -> np.ndarray:
    """Clip boxes to the (width, height) canvas; drop thin ones and ones mostly outside."""
    w, h = size
    clipped = targets.copy()
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, w)
    clipped[:, [2, 4]] = clipped[:, [2, 4]].clip(0, h)
    bw, bh = clipped[:, 3] - clipped[:, 1], clipped[:, 4] - clipped[:, 2]
    area = (targets[:, 3] - targets[:, 1]) * (targets[:, 4] - targets[:, 2])
    keep = (bw >= min_size) & (bh >= min_size) & (bw * bh >= min_visible * np.maximum(area, 1e-9))
    return clipped[keep]


def mosaic(images: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Tile four equal square canvases 2x2 at half size into one canvas of the same size."""
    if len(images) != 4:
        raise ValueError(f"mosaic takes 4 images, got {len(images)}")
    s = images[0].shape[0]
    half = s // 2
    out = np.empty_like(images[0])
    parts = []
    for i, (img, t) in enumerate(zip(images, targets)):
        ox, oy = (i % 2) * half, (i // 2) * half
        out[oy : oy + half, ox : ox + half] = cv2.resize(img, (half, half), interpolation=cv2.INTER_AREA)
        moved = t.copy()
        moved[:, 1:] = t[:, 1:] * (half / s) + np.array([ox, oy, ox, oy])
        parts.append(moved)
    return out, np.concatenate(parts) if parts else np.zeros((0, 5), np.float32)


def zoom_crop(
    image: np.ndarray, targets: np.ndarray, rng: np.random.Generator, *, zoom: float, out_size: int, focus: float = 0.8
) -> tuple[np.ndarray, np.ndarray]:
    """A square window of side ``image_side / zoom`` of the (L, L) canvas, resized to (out_size, out_size).

    With probability `focus` (and when there are targets) the window holds the
    centre of a random target, else it lies anywhere. Boxes are moved and
    scaled; the caller clips them (`augment` does).
    """
    side = image.shape[0]
    win = max(1, min(side, round(side / zoom)))
    if len(targets) and rng.random() < focus:
        t = targets[int(rng.integers(len(targets)))]
        cx, cy = (t[1] + t[3]) / 2, (t[2] + t[4]) / 2
        x0 = int(rng.integers(int(np.clip(cx - win + 1, 0, side - win)), int(np.clip(cx, 0, side - win)) + 1))
        y0 = int(rng.integers(int(np.clip(cy - win + 1, 0, side - win)), int(np.clip(cy, 0, side - win)) + 1))
    else:
        x0, y0 = (int(v) for v in rng.integers(0, side - win + 1, 2))
    crop = image[y0 : y0 + win, x0 : x0 + win]
    interp = cv2.INTER_AREA if win > out_size else cv2.INTER_LINEAR
    out = cv2.resize(crop, (out_size, out_size), interpolation=interp) if win != out_size else np.ascontiguousarray(crop)
    r = out_size / win
    moved = targets.copy()
    moved[:, [1, 3]] = (targets[:, [1, 3]] - x0) * r
    moved[:, [2, 4]] = (targets[:, [2, 4]] - y0) * r
    return out, moved


def degrade(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Blur, noise and JPEG compression as `cfg` draws them, in the order a scanner's chain applies them."""
    if cfg.blur and rng.random() < cfg.blur:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 1.2)))
    if cfg.noise and rng.random() < cfg.noise:
        sigma = float(rng.uniform(2.0, 6.0))
        image = np.clip(image + rng.normal(0.0, sigma, image.shape).astype(np.float32), 0, 255).astype(np.uint8)
    if cfg.jpeg and rng.random() < cfg.jpeg:
        quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else image
    return image


def augment(
    image: np.ndarray, targets: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, *, mode: str = "rgb"
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the random augmentations of `cfg` (mosaic aside: the dataset does that) to one square canvas."""
    if rng.random() < cfg.flip_lr:
        image, targets = flip(image, targets, horizontal=True)
    if rng.random() < cfg.flip_ud:
        image, targets = flip(image, targets, horizontal=False)
    if rng.random() < cfg.rot90:
        image, targets = rot90(image, targets, int(rng.integers(1, 4)))
    lo, hi = cfg.scale
    scale = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else lo
    shift = tuple(float(v) for v in rng.uniform(-cfg.translate, cfg.translate, 2) * np.array(image.shape[1::-1]))
    if scale != 1.0 or any(shift):
        image, targets = scale_translate(image, targets, scale=scale, shift=shift, fill=background_for(mode))
    gain = float(rng.uniform(*cfg.gain))
    if gain != 1.0:
        image = attenuation_gain(image, gain, mode=mode)
    image = degrade(image, rng, cfg) if mode == "rgb" else image
    h, w = image.shape[:2]
    return image, clip_targets(targets, (w, h), min_size=cfg.min_size, min_visible=cfg.min_visible)
