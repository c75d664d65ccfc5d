"""Build a training set by projecting simulated threats into clean scans (threat image projection).

Backgrounds are any folder of scans: a dataset `training.datasets.load_dataset`
reads (its threat boxes are kept, its bag boxes used), or loose PNG/JPEG
pseudo-colour scans and raw pairs ``<stem>_high.png`` / ``<stem>_low.png``.
Frame ``i`` projects 1-3 simulated threats into background ``i % len``, inside
its bags (annotated, or found by `bag_regions`), at a pixel scale estimated
from the bags' size. The output has the layout of `lanewatch synth`
(``images/``, ``raw/`` where the background had a raw pair, VOC and/or COCO
annotations) plus ``backgrounds.json`` naming each frame's background.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from training.datasets.classes import SIXRAY_D
from training.datasets.coco import write_coco
from training.datasets.loader import detect_layout, load_dataset
from training.datasets.records import Box, Sample
from training.datasets.voc import write_voc_xml
from training.evaluation.realism import bag_regions
from training.synth.dataset import _PNG_RAW, _PNG_RGB, Format, negative_indices
from training.synth.profiles import ScannerProfile, default_profile, load_profile, profile_names
from training.synth.projection import Projected, ScanPalette, calibrate_palette, pose_in_region, project_raw, project_rgb
from training.synth.render import ScannerReadout
from training.synth.scene import SceneConfig, occlusion_level
from training.synth.threats import THREATS, make_threat

__all__ = ["Background", "find_backgrounds", "synthesize_on_backgrounds"]

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
BAG_LONG_SIDE_CM = (40.0, 70.0)  # a bag's long side on the belt: sets each frame's pixel scale


@dataclass(frozen=True)
class Background:
    """One clean scan threats are projected into, and what is known about it."""

    name: str
    image: Path | None  # pseudo-colour scan
    high: Path | None  # 16-bit raw pair
    low: Path | None
    boxes: tuple[Box, ...] = ()  # threats it already holds: kept in every frame made from it
    bags: tuple[tuple[float, float, float, float], ...] = ()
    scanner: str | None = None  # the shipped profile it was rendered with, when known


def find_backgrounds(folder: Path) -> list[Background]:
    """The scans in `folder`: a dataset's samples, else its image files and raw pairs (sorted, recursive)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"backgrounds folder {folder} does not exist")
    # a folder a dataset reader recognises is read as that dataset (and its errors are reported, not globbed past)
    is_dataset = detect_layout(folder) or any(detect_layout(p) for p in folder.iterdir() if p.is_dir())
    samples = load_dataset(folder) if is_dataset else []
    if samples:
        scanners = _scanners(folder)
        return [Background(s.image_id, s.image, s.high, s.low, tuple(s.boxes), tuple(s.bags), scanners.get(s.image_id))
                for s in samples]
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    pairs = {}
    for p in files:
        low = p.with_name(p.stem[:-5] + "_low" + p.suffix)
        if p.stem.endswith("_high") and low.is_file():
            pairs[p.with_name(p.stem[:-5])] = (p, low)
    found = [Background(str(p.with_name(p.stem).relative_to(folder)), p, *pairs.pop(p.with_name(p.stem), (None, None)))
             for p in files if not p.stem.endswith(("_high", "_low"))]
    found += [Background(str(key.relative_to(folder)), None, high, low) for key, (high, low) in pairs.items()]
    if not found:
        raise ValueError(f"no scans in {folder}: expected a dataset, PNG/JPEG scans or <stem>_high/_low.png raw pairs")
    return sorted(found, key=lambda b: b.name)


def _scanners(folder: Path) -> dict[str, str]:
    """Frame -> shipped profile name, from the scanners.json `lanewatch synth` writes."""
    path = folder / "scanners.json"
    if not path.is_file():
        return {}
    known = set(profile_names())
    return {k: v for k, v in json.loads(path.read_text()).get("frames", {}).items() if v in known}


@dataclass(frozen=True)
class _Job:
    backgrounds: tuple[Background, ...]
    out: Path
    count: int
    seed: int
    threats_per_frame: tuple[float, ...]
    negatives_ratio: float
    fmt: Format
    scanner: ScannerProfile | None  # the screen and detector the backgrounds come from, if known


@lru_cache(maxsize=4)  # a chunk holds frames of one background
def _load(bg: Background) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    rgb = high = low = None
    if bg.image is not None:
        bgr = cv2.imread(str(bg.image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{bg.image}: cannot be decoded as an image")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if bg.high is not None and bg.low is not None:
        high, low = (cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in (bg.high, bg.low))
        if high is None or low is None or high.dtype != np.uint16 or high.shape != low.shape or high.ndim != 2:
            raise ValueError(f"{bg.high}: expected a 16-bit single-channel raw pair of one size")
    for a in (rgb, high, low):
        if a is not None:
            a.setflags(write=False)  # shared by every frame made from this scan
    return rgb, high, low


@lru_cache(maxsize=4)
def _palette(bg: Background) -> ScanPalette:
    return calibrate_palette(_load(bg)[0])


def _profile(job: _Job, bg: Background) -> ScannerProfile | None:
    if job.scanner is not None:
        return job.scanner
    return load_profile(bg.scanner) if bg.scanner else None


def _render(job: _Job, index: int, negative: bool) -> tuple[Sample, int]:
    """Make frame `index` and write its files; returns its sample and how many threats were projected."""
    bg = job.backgrounds[index % len(job.backgrounds)]
    rng = np.random.default_rng([job.seed, index, 0x719])
    rgb, high, low = _load(bg)
    profile = _profile(job, bg)
    det = (profile or default_profile()).detector
    if rgb is None:
        rgb = det.pseudo_colour(high, low)
    h, w = rgb.shape[:2]
    bags = list(bg.bags) or bag_regions(rgb)
    boxes = list(bg.boxes)
    kept = len(boxes)
    # threats go into bags: a scan of empty belt stays a negative
    n = 0 if negative or not bags else int(rng.choice(len(job.threats_per_frame), p=job.threats_per_frame)) + 1
    # one scale per frame: every bag on a belt is seen at the same pitch
    long_px = float(np.median([max(b[2] - b[0], b[3] - b[1]) for b in bags])) if bags else float(max(w, h))
    ppc = long_px / rng.uniform(*BAG_LONG_SIDE_CM)
    native = (profile or default_profile()).native_px_per_cm
    # as the scene blurs a frame drawn finer than the detector's pitch
    blur = float(np.hypot(det.psf_sigma_px, 0.29 * ppc / native))
    for _ in range(n):
        label = str(rng.choice(list(THREATS)))
        threat = make_threat(label, rng)
        pose = pose_in_region(rng, threat, bags[int(rng.integers(len(bags)))], ppc)
        if high is not None:
            done = project_raw(high, low, threat, pose, detector=det, blur_px=blur, noise_rng=rng)
            high, low = done.high, done.low
        if bg.image is not None and high is not None and profile is not None:
            rgb = _repaint(rgb, done, det)  # the pseudo-colour of a known scanner: render it from the raw pair
        elif bg.image is not None:
            shown = project_rgb(rgb, threat, pose, display=profile.display if profile else None,
                                palette=None if profile else _palette(bg), spectrum=det.spectrum, blur_px=blur)
            rgb = shown.rgb
            done = done if high is not None else shown
        if done.box is not None:
            x1, y1, x2, y2 = done.box
            boxes.append(Box(x1=x1, y1=y1, x2=x2, y2=y2, label=label, occlusion=occlusion_level(done.occluded)))
    if high is not None and bg.image is None:
        rgb = det.pseudo_colour(high, low)
    stem = f"{job.seed:06d}_{index:06d}"
    image = job.out / "images" / f"{stem}.png"
    _write(image, rgb[..., ::-1], _PNG_RGB)
    raw = (None, None)
    if high is not None:
        raw = (job.out / "raw" / f"{stem}_high.png", job.out / "raw" / f"{stem}_low.png")
        _write(raw[0], high, _PNG_RAW)
        _write(raw[1], low, _PNG_RAW)
    sample = Sample(image_id=stem, width=w, height=h, image=image, high=raw[0], low=raw[1], boxes=boxes, bags=bags)
    if job.fmt in ("voc", "both"):
        write_voc_xml(sample, job.out / "annotations" / f"{stem}.xml", root=job.out)
    return sample, len(boxes) - kept


def _repaint(rgb: np.ndarray, done: Projected, det: ScannerReadout) -> np.ndarray:
    """The pseudo-colour scan with the projected raw pixels rendered into it on the detector's screen."""
    fp = done.footprint
    if fp is None:
        return rgb
    pad = (det.display.material_blur if det.display else 3) // 2 + 1
    sl = fp.slices
    y0, x0 = max(sl[0].start - pad, 0), max(sl[1].start - pad, 0)
    y1, x1 = min(sl[0].stop + pad, rgb.shape[0]), min(sl[1].stop + pad, rgb.shape[1])
    shown = det.pseudo_colour(done.high[y0:y1, x0:x1], done.low[y0:y1, x0:x1])
    out = rgb.copy()
    m = np.zeros(shown.shape[:2], bool)
    m[sl[0].start - y0:sl[0].stop - y0, sl[1].start - x0:sl[1].stop - x0] = fp.mask()
    out[y0:y1, x0:x1][m] = shown[m]
    return out


def _write(path: Path, array: np.ndarray, params: list[int]) -> None:
    if not cv2.imwrite(str(path), array, params):
        raise OSError(f"could not write {path}")


def _render_chunk(args: tuple[_Job, list[tuple[int, bool]]]) -> list[tuple[Sample, int]]:
    job, items = args
    return [_render(job, i, negative) for i, negative in items]


def _chunks(job: _Job, negatives: frozenset[int], size: int) -> list[tuple[_Job, list[tuple[int, bool]]]]:
    # frames of one background go together, so a process loads and calibrates it once
    by_bg: dict[int, list[int]] = {}
    for i in range(job.count):
        by_bg.setdefault(i % len(job.backgrounds), []).append(i)
    out = []
    for idx in by_bg.values():
        for start in range(0, len(idx), size):
            out.append((job, [(i, i in negatives) for i in idx[start:start + size]]))
    return out


def synthesize_on_backgrounds(backgrounds: Path, out: Path, *, count: int, seed: int = 0,
                              threats_per_frame: tuple[float, ...] = SceneConfig().threats_per_frame,
                              negatives_ratio: float = 0.1, fmt: Format = "both", workers: int = 1, progress=None,
                              scanner: ScannerProfile | None = None) -> dict:
    """Project simulated threats into the clean scans of `backgrounds`; returns a summary like `synthesize`'s.

    ``threats_per_frame`` are P(1), P(2), ... threats in a frame that is not
    negative; ``scanner`` is the profile the backgrounds were scanned with when
    known (its screen is then inverted exactly, not calibrated from each scan).
    ``progress`` is called with the number of frames finished since the last call.
    """
    if count <= 0:
        raise ValueError(f"count must be positive, got {count}")
    if abs(sum(threats_per_frame) - 1.0) > 1e-6 or min(threats_per_frame) < 0:
        raise ValueError(f"threats_per_frame must be probabilities summing to 1, got {threats_per_frame}")
    found = find_backgrounds(backgrounds)
    job = _Job(tuple(found), Path(out), count, seed, tuple(threats_per_frame), negatives_ratio, fmt, scanner)
    for sub in ("images", "raw") + (("annotations",) if fmt in ("voc", "both") else ()):
        (job.out / sub).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    chunks = _chunks(job, negative_indices(count, negatives_ratio, seed), max(1, min(16, count // max(workers * 4, 1))))
    results: list[tuple[Sample, int]] = []
    if workers <= 1:
        parts = map(_render_chunk, chunks)
        pool = None
    else:
        import multiprocessing as mp

        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_quiet_threads)
        parts = pool.map(_render_chunk, chunks)
    try:
        for part in parts:
            results += part
            progress and progress(len(part))
    finally:
        if pool is not None:
            pool.shutdown()
    results.sort(key=lambda r: r[0].image_id)
    samples = [s for s, _ in results]
    if fmt in ("coco", "both"):
        write_coco(samples, SIXRAY_D, job.out / "annotations.json", root=job.out)
    (job.out / "backgrounds.json").write_text(json.dumps({
        "source": str(backgrounds),
        "frames": {f"{seed:06d}_{i:06d}": found[i % len(found)].name for i in range(count)},
    }, indent=1))
    elapsed = time.perf_counter() - started
    per_class = Counter(b.label for s in samples for b in s.boxes)
    return {
        "frames": len(samples),
        "objects": sum(per_class.values()),
        "projected": sum(n for _, n in results),
        "negatives": sum(1 for s in samples if not s.boxes),
        "bags": sum(len(s.bags) for s in samples),
        "per_class": dict(sorted(per_class.items())),
        "per_occlusion": dict(sorted(Counter(b.occlusion for s in samples for b in s.boxes if b.occlusion).items())),
        "backgrounds": len(found),
        "seconds": round(elapsed, 3),
        "frames_per_s": round(len(samples) / elapsed, 3),
        "megapixels_per_s": round(sum(s.width * s.height for s in samples) / elapsed / 1e6, 3),
        "workers": workers,
        "out": str(job.out),
    }


def _quiet_threads() -> None:
    # each worker is one process on one core; library thread pools only contend
    os.environ["OMP_NUM_THREADS"] = "1"
    cv2.setNumThreads(1)
