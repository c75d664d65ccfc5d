"""Write a simulated dataset: frames in parallel, each deterministic in (seed, index).

Layout (read back by `training.datasets.load_dataset`)::

    DIR/images/<stem>.png                 pseudo-colour RGB (.jpg where the scanner profile archives as JPEG)
    DIR/raw/<stem>_high.png, _low.png     16-bit dual-energy pair
    DIR/annotations/<stem>.xml            VOC XML (voc, both)
    DIR/annotations.json                  COCO JSON (coco, both)
    DIR/scanners.json                     the scanner profiles used, and each frame's

With several scanner profiles, each frame's profile is drawn from
(seed, index) apart from its content, so the same frame index shows the
same bags whatever the profile list.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from training.datasets.classes import SIXRAY_D
from training.datasets.coco import write_coco
from training.datasets.records import Sample
from training.datasets.voc import write_voc_xml
from training.synth.profiles import ScannerProfile
from training.synth.scene import SceneConfig, generate_frame

__all__ = ["SynthJob", "negative_indices", "synthesize"]

Format = Literal["voc", "coco", "both"]
# Measured on 1200x950 frames: pseudo-colour at zlib level 1 without row
# filters is the fastest (27 ms) and smallest (0.9 MB) setting; the 16-bit raw
# pair carries ~11 bits of photon noise that deflate cannot shrink (2.06 MB
# compressed against 2.28 MB stored, 57 ms against 2.6 ms), so it is stored.
_PNG_RGB = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
_PNG_RAW = [cv2.IMWRITE_PNG_COMPRESSION, 0, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]


@dataclass(frozen=True)
class SynthJob:
    """What to generate: count frames from seed into out."""

    out: Path
    count: int
    seed: int
    negatives_ratio: float = 0.1
    fmt: Format = "both"
    scene: SceneConfig = SceneConfig()
    scanners: tuple[ScannerProfile, ...] = ()  # none: the scene's own profile
    scanner_weights: tuple[float, ...] = ()  # how often each of `scanners` is drawn (default: equally)
    jitter: float = 0.0  # per-frame random perturbation of the screen (domain randomisation), 0..1

    def scanner_for(self, index: int) -> ScannerProfile:
        """The scanner profile frame `index` is rendered with."""
        if not self.scanners:
            return self.scene.profile
        if len(self.scanners) == 1:
            return self.scanners[0]
        rng = np.random.default_rng([self.seed, index, 0x5CA])
        if not self.scanner_weights:
            return self.scanners[int(rng.integers(len(self.scanners)))]
        p = np.asarray(self.scanner_weights, np.float64)
        return self.scanners[int(rng.choice(len(p), p=p / p.sum()))]


def negative_indices(count: int, ratio: float, seed: int) -> frozenset[int]:
    """Exactly round(count * ratio) frame indices, spread by a seeded permutation."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"negatives ratio must be in [0, 1], got {ratio}")
    perm = np.random.default_rng([seed, 0x6E6567]).permutation(count)
    return frozenset(int(i) for i in perm[: int(round(count * ratio))])


def _render_one(job: SynthJob, index: int, negative: bool, writer: ThreadPoolExecutor) -> tuple[Sample, list[Future]]:
    rng = np.random.default_rng([job.seed, index])
    profile = job.scanner_for(index)
    if job.jitter:  # drawn apart from the frame's content: the same bags on a perturbed screen
        profile = profile.jittered(np.random.default_rng([job.seed, index, 0x717]), job.jitter)
    scene = job.scene if profile is job.scene.profile else dataclasses.replace(job.scene, profile=profile)
    frame = generate_frame(rng, negative=negative, cfg=scene)
    stem = f"{job.seed:06d}_{index:06d}"
    high = job.out / "raw" / f"{stem}_high.png"
    low = job.out / "raw" / f"{stem}_low.png"
    if profile.jpeg_quality is not None:  # the scanner archives its screen images as JPEG, artifacts and all
        lo, hi = profile.jpeg_quality
        quality = int(np.random.default_rng([job.seed, index, 0x1BE6]).integers(lo, hi + 1))
        image, rgb_params = job.out / "images" / f"{stem}.jpg", [cv2.IMWRITE_JPEG_QUALITY, quality]
    else:
        image, rgb_params = job.out / "images" / f"{stem}.png", _PNG_RGB
    # encoding and writing release the GIL: they overlap rendering the next frame
    writes = [
        writer.submit(_write_png, path, array, params)
        for path, array, params in ((image, frame.rgb[..., ::-1], rgb_params), (high, frame.high, _PNG_RAW),
                                    (low, frame.low, _PNG_RAW))
    ]
    h, w = frame.high.shape
    sample = Sample(image_id=stem, width=w, height=h, image=image, high=high, low=low, boxes=frame.boxes, bags=frame.bags)
    if job.fmt in ("voc", "both"):
        write_voc_xml(sample, job.out / "annotations" / f"{stem}.xml", root=job.out)
    return sample, writes


def _write_png(path: Path, array: np.ndarray, params: list[int]) -> None:
    if not cv2.imwrite(str(path), array, params):
        raise OSError(f"could not write {path}")


def _render_chunk(args: tuple[SynthJob, list[tuple[int, bool]]]) -> list[Sample]:
    job, items = args
    samples, pending = [], []
    with ThreadPoolExecutor(1) as writer:
        for i, negative in items:
            sample, writes = _render_one(job, i, negative, writer)
            samples.append(sample)
            pending += writes
        for f in pending:
            f.result()  # re-raise a failed write here, before the frame is reported done
    return samples


def _chunks(job: SynthJob, size: int) -> Iterator[tuple[SynthJob, list[tuple[int, bool]]]]:
    negatives = negative_indices(job.count, job.negatives_ratio, job.seed)
    items = [(i, i in negatives) for i in range(job.count)]
    for start in range(0, len(items), size):
        yield job, items[start : start + size]


def synthesize(job: SynthJob, *, workers: int = 1, progress=None) -> dict:
    """Generate the dataset; returns the summary (frames, objects, frames_per_s, ...).

    ``progress`` is called with the number of frames finished since the last call.
    """
    if job.count <= 0:
        raise ValueError(f"count must be positive, got {job.count}")
    for sub in ("images", "raw") + (("annotations",) if job.fmt in ("voc", "both") else ()):
        (job.out / sub).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    samples: list[Sample] = []
    chunk = max(1, min(16, job.count // max(workers * 4, 1)))
    if workers <= 1:
        results = map(_render_chunk, _chunks(job, chunk))
        for part in results:
            samples += part
            progress and progress(len(part))
    else:
        # spawn: a forked child would inherit the parent's torch/BLAS thread pools
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_quiet_threads) as pool:
            for part in pool.map(_render_chunk, _chunks(job, chunk)):
                samples += part
                progress and progress(len(part))
    if job.fmt in ("coco", "both"):
        write_coco(samples, SIXRAY_D, job.out / "annotations.json", root=job.out)
    used = [job.scanner_for(i) for i in range(job.count)]
    (job.out / "scanners.json").write_text(json.dumps({
        "profiles": {p.name: p.to_dict() for p in {p.name: p for p in used}.values()},
        "frames": {f"{job.seed:06d}_{i:06d}": p.name for i, p in enumerate(used)},
    }, indent=1))
    elapsed = time.perf_counter() - started
    per_class = Counter(b.label for s in samples for b in s.boxes)
    per_level = Counter(b.occlusion for s in samples for b in s.boxes)
    return {
        "frames": len(samples),
        "objects": sum(per_class.values()),
        "negatives": sum(1 for s in samples if not s.boxes),
        "bags": sum(len(s.bags) for s in samples),
        "per_class": dict(sorted(per_class.items())),
        "per_occlusion": dict(sorted(per_level.items())),
        "seconds": round(elapsed, 3),
        "frames_per_s": round(len(samples) / elapsed, 3),
        "megapixels_per_s": round(sum(s.width * s.height for s in samples) / elapsed / 1e6, 3),
        "scanners": dict(sorted(Counter(p.name for p in used).items())),
        "jitter": job.jitter,
        "workers": workers,
        "out": str(job.out),
    }


def _quiet_threads() -> None:
    # each worker is one process on one core; library thread pools only contend
    os.environ["OMP_NUM_THREADS"] = "1"
    cv2.setNumThreads(1)
