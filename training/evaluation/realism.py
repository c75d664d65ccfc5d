"""How much simulated scans look like real ones: statistics inside bags at a common scale.

Every statistic is computed on bag crops resized so their long side is
`CROP_SIZE` pixels, so a 2240-px SIXray scan and a 400-px one weigh the same
and pixel-scale measures (edges, texture, structures) compare across sets.
Bags are the dataset's bag boxes where it has them (the simulator writes
them), trimmed to the visible (non-background) pixels in them; elsewhere the
large connected parts of the non-background mask.

Pixel classes, in HSV with S and V in [0, 1] and hue in degrees:
background (S < 0.12 and V > 0.85: the white belt), near-black (V < 0.25:
what the beam did not cross), grey (S < 0.12 otherwise), and by hue the
operator palette's material bands: organic (orange, below 50 deg or from
280 deg on), mixed (green, 50-170) and metal (blue, 170-280). Shares of the
material classes are of the crop's bag pixels (all but background).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "CROP_SIZE",
    "CropStats",
    "PIXEL_CLASSES",
    "bag_crops",
    "bag_regions",
    "compare",
    "crop_stats",
    "dataset_stats",
    "format_realism",
    "pixel_classes",
    "plot_realism",
    "summarise",
]

CROP_SIZE = 128
PIXEL_CLASSES = ("organic", "mixed", "metal", "near_black", "grey")
HIST_BINS = 16
_BG_SAT, _BG_VAL, _BLACK_VAL = 0.12, 0.85, 0.25
_HUE_BANDS = (50.0, 170.0, 280.0)
_CANNY = (60, 140)
# a region of the non-background mask counts as a bag when it covers this share of the scan
_MIN_BAG_SHARE = 0.02


def pixel_classes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class index per pixel (-1 background, else index into PIXEL_CLASSES), saturation and value in [0, 1].

    ``rgb`` is (H, W, 3) uint8; the outputs are (H, W) int8, float32, float32.
    """
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hue = hsv[..., 0] * (360.0 / 256.0)
    sat, val = hsv[..., 1] / 255.0, hsv[..., 2] / 255.0
    cls = np.full(rgb.shape[:2], 0, np.int8)  # organic
    cls[(hue >= _HUE_BANDS[0]) & (hue < _HUE_BANDS[1])] = 1
    cls[(hue >= _HUE_BANDS[1]) & (hue < _HUE_BANDS[2])] = 2
    low_sat = sat < _BG_SAT
    cls[low_sat] = 4
    cls[val < _BLACK_VAL] = 3
    cls[low_sat & (val > _BG_VAL)] = -1
    return cls, sat, val


def _background_mask(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)
    return (hsv[..., 1] < _BG_SAT * 255) & (hsv[..., 2] > _BG_VAL * 255)


def bag_regions(rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Boxes (x1, y1, x2, y2) of the bags in a scan without bag annotations: large non-background parts."""
    h, w = rgb.shape[:2]
    scale = 256.0 / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    fg = (~_background_mask(small)).astype(np.uint8)
    # drop scanner lines and specks first, then close the gaps of a bag's loose, pale outline
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    boxes = []
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if area >= _MIN_BAG_SHARE * fg.size:
            boxes.append((x / scale, y / scale, min((x + bw) / scale, w), min((y + bh) / scale, h)))
    return boxes


def bag_crops(rgb: np.ndarray, bags: Sequence[Sequence[float]] | None = None, *, size: int = CROP_SIZE,
              trim: bool = True) -> list[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """Each bag cut out and resized to a `size` px long side, with its box in scan pixels.

    Boxes are the given bag boxes (else found regions), trimmed to the pixels
    in them that are not background unless ``trim`` is False.
    """
    boxes = list(bags) if bags else bag_regions(rgb)
    h, w = rgb.shape[:2]
    out = []
    for x1, y1, x2, y2 in boxes:
        xa, ya = max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0)
        xb, yb = min(int(np.ceil(x2)), w), min(int(np.ceil(y2)), h)
        if trim and xb - xa >= 8 and yb - ya >= 8:
            # an annotated bag box may hold empty belt round pale fabric: cut it to what shows, as found regions are
            rows, cols = np.nonzero(~_background_mask(rgb[ya:yb, xa:xb]))
            if len(rows):
                xa, xb, ya, yb = xa + cols.min(), xa + cols.max() + 1, ya + rows.min(), ya + rows.max() + 1
        if xb - xa < 8 or yb - ya < 8:
            continue
        crop = rgb[ya:yb, xa:xb]
        s = size / max(crop.shape[:2])
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
                          interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        out.append((np.ascontiguousarray(crop), (float(xa), float(ya), float(xb), float(yb))))
    return out


@dataclass(frozen=True)
class CropStats:
    """Statistics of one bag crop at the common scale."""

    shares: dict[str, float]  # of bag pixels, per PIXEL_CLASSES
    background: float  # share of the crop that is background
    sat_hist: np.ndarray  # (HIST_BINS,) density of saturation over bag pixels
    val_hist: np.ndarray  # (HIST_BINS,) density of value over bag pixels
    edge_density: float  # Canny edge pixels per crop pixel
    laplacian: float  # mean |Laplacian| of the grey crop (texture energy)
    metal_structures: float  # connected metal (blue or near-black) parts per 1000 bag pixels


def crop_stats(crop: np.ndarray) -> CropStats:
    """Statistics of one bag crop (H, W, 3) uint8 RGB, already at the common scale."""
    cls, sat, val = pixel_classes(crop)
    bag = cls >= 0
    n_bag = max(int(bag.sum()), 1)
    shares = {name: float((cls == i).sum()) / n_bag for i, name in enumerate(PIXEL_CLASSES)}
    bins = np.linspace(0.0, 1.0, HIST_BINS + 1)
    sat_hist = np.histogram(sat[bag], bins)[0] / n_bag
    val_hist = np.histogram(val[bag], bins)[0] / n_bag
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, *_CANNY)
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))
    metal = ((cls == 2) | (cls == 3)).astype(np.uint8)
    n_metal = cv2.connectedComponentsWithStats(metal, connectivity=8)[0] - 1
    return CropStats(
        shares=shares,
        background=float((~bag).mean()),
        sat_hist=sat_hist,
        val_hist=val_hist,
        edge_density=float((edges > 0).mean()),
        laplacian=float(lap.mean()),
        metal_structures=1000.0 * n_metal / n_bag,
    )


def summarise(stats: Iterable[CropStats], threat_sizes: Iterable[float] = ()) -> dict:
    """Medians over bags of every statistic, mean histograms, and threat box size relative to the bag."""
    stats = list(stats)
    if not stats:
        raise ValueError("no bag crops to summarise")
    med = lambda xs: round(float(np.median(list(xs))), 4)  # noqa: E731
    sizes = list(threat_sizes)
    return {
        "bags": len(stats),
        "shares": {name: med(s.shares[name] for s in stats) for name in PIXEL_CLASSES},
        "background": med(s.background for s in stats),
        "edge_density": med(s.edge_density for s in stats),
        "laplacian": med(s.laplacian for s in stats),
        "metal_structures_per_1000px": med(s.metal_structures for s in stats),
        "threat_size_rel_bag": med(sizes) if sizes else None,
        "threats": len(sizes),
        "sat_hist": np.mean([s.sat_hist for s in stats], axis=0).round(5).tolist(),
        "val_hist": np.mean([s.val_hist for s in stats], axis=0).round(5).tolist(),
    }


def _containing(box, bags) -> tuple[float, float, float, float] | None:
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    inside = [b for b in bags if b[0] <= cx < b[2] and b[1] <= cy < b[3]]
    return min(inside, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) if inside else None


def dataset_stats(samples, *, size: int = CROP_SIZE, embed_size: int | None = None,
                  progress=None) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """Summary of a dataset's bags (see `summarise`), the bag crops, and crops at ``embed_size`` (if given)."""
    from training.datasets.loader import load_image

    stats, crops, big, sizes = [], [], [], []
    for sample in samples:
        rgb = load_image(sample, "rgb")
        cut = bag_crops(rgb, sample.bags or None, size=size)
        for crop, _ in cut:
            stats.append(crop_stats(crop))
            crops.append(crop)
        if embed_size:
            big += [c for c, _ in bag_crops(rgb, [b for _, b in cut], size=embed_size, trim=False)]
        boxes = [b for _, b in cut]
        for box in sample.boxes:
            bag = _containing(box, boxes)
            if bag is not None:
                sizes.append(float(np.sqrt(box.area / max((bag[2] - bag[0]) * (bag[3] - bag[1]), 1.0))))
        progress and progress(1)
    return summarise(stats, sizes), crops, big


def compare(sim, real, *, kid: bool = True, kid_subsets: int = 50, kid_subset_size: int = 50, seed: int = 0,
            progress=None) -> tuple[dict, dict[str, list[np.ndarray]]]:
    """Both sets' summaries, their differences (sim - real), and KID on EfficientNet-Lite0 features of bag crops."""
    out, crops, feats = {}, {}, {}
    for name, samples in (("sim", sim), ("real", real)):
        summary, small, big = dataset_stats(samples, embed_size=224 if kid else None, progress=progress)
        summary["scans"] = len(samples)
        out[name], crops[name] = summary, small
        if kid:
            from training.evaluation.kid import embed_images

            feats[name] = embed_images(big)
    out["difference"] = {
        **{f"share_{k}": round(out["sim"]["shares"][k] - out["real"]["shares"][k], 4) for k in PIXEL_CLASSES},
        **{k: round(out["sim"][k] - out["real"][k], 4)
           for k in ("background", "edge_density", "laplacian", "metal_structures_per_1000px")},
    }
    if kid:
        from training.evaluation.kid import kid as kernel_distance

        k = kernel_distance(feats["sim"], feats["real"], subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
        out["kid"] = {"mean": round(float(k.mean), 5), "std": round(float(k.std), 5), "subsets": int(k.subsets),
                      "subset_size": int(k.subset_size), "features": "EfficientNet-Lite0 ImageNet, pooled 1280-d"}
    return out, crops


def format_realism(result: dict) -> str:
    """The comparison as a plain-text table."""
    sim, real = result["sim"], result["real"]
    rows = [("bags (scans)", f"{real['bags']} ({real['scans']})", f"{sim['bags']} ({sim['scans']})")]
    rows += [(f"share {k.replace('_', '-')}", f"{real['shares'][k]:.3f}", f"{sim['shares'][k]:.3f}") for k in PIXEL_CLASSES]
    rows += [("background in bag crop", f"{real['background']:.3f}", f"{sim['background']:.3f}"),
             ("edge density (Canny 60/140)", f"{real['edge_density']:.3f}", f"{sim['edge_density']:.3f}"),
             ("mean |Laplacian|", f"{real['laplacian']:.1f}", f"{sim['laplacian']:.1f}"),
             ("metal structures / 1000 px", f"{real['metal_structures_per_1000px']:.2f}",
              f"{sim['metal_structures_per_1000px']:.2f}")]
    rel = lambda d: "-" if d["threat_size_rel_bag"] is None else f"{d['threat_size_rel_bag']:.3f}"  # noqa: E731
    rows.append(("threat size / bag size", rel(real), rel(sim)))
    lines = [f"{'bag statistic (median over bags)':<34} {'real':>12} {'sim':>12}", "-" * 60]
    lines += [f"{a:<34} {b:>12} {c:>12}" for a, b, c in rows]
    if "kid" in result:
        k = result["kid"]
        lines += ["-" * 60, f"KID (sim vs real): {k['mean']:.4f} +- {k['std']:.4f} "
                  f"({k['subsets']} subsets of {k['subset_size']} bags)"]
    return "\n".join(lines)


def plot_realism(result: dict, crops: dict[str, list[np.ndarray]], out, *, row: int = 8) -> None:
    """Histograms and colour shares side by side, and a row of bag crops from each set, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(14, 8.5))
    grid = fig.add_gridspec(3, 3, height_ratios=(1.0, 0.8, 0.8))
    centres = (np.arange(HIST_BINS) + 0.5) / HIST_BINS
    for i, (key, title) in enumerate((("sat_hist", "saturation of bag pixels"), ("val_hist", "value of bag pixels"))):
        ax = fig.add_subplot(grid[0, i])
        for name, colour in (("real", "tab:blue"), ("sim", "tab:orange")):
            ax.step(centres, result[name][key], where="mid", color=colour, label=name)
        ax.set_title(title)
        ax.legend()
    ax = fig.add_subplot(grid[0, 2])
    x = np.arange(len(PIXEL_CLASSES))
    for j, (name, colour) in enumerate((("real", "tab:blue"), ("sim", "tab:orange"))):
        ax.bar(x + (j - 0.5) * 0.4, [result[name]["shares"][k] for k in PIXEL_CLASSES], 0.4, color=colour, label=name)
    ax.set_xticks(x, [k.replace("_", "-") for k in PIXEL_CLASSES])
    ax.set_title("share of bag pixels (median over bags)" + (f"; KID {result['kid']['mean']:.3f}" if "kid" in result else ""))
    ax.legend()
    for r, name in enumerate(("real", "sim"), start=1):
        strip = np.full((CROP_SIZE, row * (CROP_SIZE + 4), 3), 255, np.uint8)
        for k, crop in enumerate(crops[name][:row]):
            h, w = crop.shape[:2]
            strip[:h, k * (CROP_SIZE + 4):k * (CROP_SIZE + 4) + w] = crop
        ax = fig.add_subplot(grid[r, :])
        ax.imshow(strip)
        ax.set_axis_off()
        ax.set_title(f"{name}: bag crops at the common scale")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
