"""`lanewatch bench pareto`: the speed-accuracy frontier over detector input sizes, lanewatch against the baseline.

Detector papers compare models by where they sit on the accuracy-speed plane; this does the same
for the two ways of running one detector on conveyor frames, at each input size (256 ... 640):

- **lanewatch**: task-driven cropping on the frame, the frame's bags packed onto one canvas (enlarged
  up to the zoom the detector was trained with) cut to the bags (`--no-trim`: the full square), canvases
  batched `--batch` at a time, as the crop and detect services do;
- **baseline**: the whole frame letterboxed onto the canvas, one frame per inference call.

Both run the same weights, exported to ONNX at each size, on the same decoded frames in this process
(decoding is the same for both and is left out of the timings; the pipeline benchmark measures it).
Per point: VOC mAP@0.5 of the boxes mapped back to frame pixels, and scans/s (frames over the time of
cropping, laying out, inference, NMS and mapping back). Timings are interleaved: every chunk of 48
frames goes through all ten configurations back to back, in a rotating order, so a slow spell of a
shared machine (seen here: the same pass 12 to 19 ms per frame from one run to the next) falls on
every point alike instead of on whichever size was running.

TDC enlarges the luggage, so lanewatch should reach the baseline's best accuracy at a smaller input,
that is faster. `speedup_at_equal_map` says by how much: lanewatch's scans/s at the baseline's best
mAP (interpolated linearly in mAP between lanewatch's two neighbouring sizes) over the baseline's
scans/s at that mAP. It is null when lanewatch never reaches that mAP.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.runtime.base import usable_cores
from models.shipped import DEFAULT_CHECKPOINT
from services.commands.args import positive_int, positive_ints
from services.tools.bench.output import pyplot, save_figure, write_json

__all__ = ["register", "run", "run_pareto", "speedup_at_equal_map"]

CORES = usable_cores()
DEFAULT_SIZES = (256, 320, 416, 512, 640)
CHUNK_BATCHES = 6  # frames per interleaving chunk, in batches


def speedup_at_equal_map(lanewatch: Sequence[dict[str, float]], baseline: Sequence[dict[str, float]]) -> dict[str, Any]:
    """lanewatch's scans/s at the baseline's best mAP over the baseline's scans/s there.

    Points are dicts with `img_size`, `map50` and `scans_per_s`. lanewatch's curve is walked from the
    smallest input up; its throughput at the target mAP is interpolated linearly in mAP between the last
    size below the target and the first at or above it (the smallest size when that already reaches it).
    """
    best = max(baseline, key=lambda p: (p["map50"], p["scans_per_s"]))
    target = best["map50"]
    curve = sorted(lanewatch, key=lambda p: p["img_size"])
    at = None
    for k, p in enumerate(curve):
        if p["map50"] >= target:
            if k == 0:
                at = p["scans_per_s"]
            else:
                q = curve[k - 1]
                f = (target - q["map50"]) / (p["map50"] - q["map50"])
                at = q["scans_per_s"] + f * (p["scans_per_s"] - q["scans_per_s"])
            break
    return {
        "baseline_best": {"img_size": best["img_size"], "map50": target, "scans_per_s": best["scans_per_s"]},
        "lanewatch_scans_per_s_at_that_map": None if at is None else round(at, 2),
        "speedup_at_equal_map": None if at is None else round(at / best["scans_per_s"], 3),
    }


def _export(weights: Path, size: int, out_dir: Path) -> Path:
    """The checkpoint as ONNX at input `size` (fully convolutional: any multiple of 32 runs)."""
    from models.checkpoint import export_metadata, load_detector
    from models.export import export_onnx

    path = out_dir / f"{weights.stem}_{size}.onnx"
    if not path.is_file():
        model, config, extra = load_detector(weights)
        export_onnx(model, path, img_size=size, metadata=export_metadata(config, extra))
    return path


def _runtime(weights: Path, size: int, out_dir: Path, threads: int):
    from models.runtime import load_runtime

    path = _export(weights, size, out_dir)
    runtime = load_runtime(path, threads=threads)
    if not runtime.dynamic_size:  # a fixed-size export left in --cache-dir by an older lanewatch
        path.unlink()
        runtime = load_runtime(_export(weights, size, out_dir), threads=threads)
    return runtime


def _lanewatch_pass(runtime, tdc, frames: list[np.ndarray], *, batch: int, max_zoom: float,
                    trim: bool = True) -> tuple[list[np.ndarray], float]:
    """The services' path (`pipeline.canvas`): TDC's regions packed on the detector's canvas, batches run as the
    detect service runs them (`run_canvases`: one call per canvas shape where the model runs any size)."""
    from pipeline.canvas import CanvasLayout, run_canvases
    from pipeline.preprocess import unpack

    layout = CanvasLayout.for_detector(runtime.info, packed=True, trim=trim, max_zoom=max_zoom)
    out: list[np.ndarray] = []
    start = time.perf_counter()
    for i in range(0, len(frames), batch):
        laid = [layout.lay(image, tdc(image))[0] for image in frames[i : i + batch]]
        found = run_canvases(runtime, [c for c, _ in laid], conf_threshold=0.001, iou_threshold=0.6)
        out += [unpack(d, p) for d, (_, p) in zip(found, laid, strict=True)]
    return out, time.perf_counter() - start


def _baseline_pass(runtime, frames: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    from training.inference import detect_frames

    out: list[np.ndarray] = []
    start = time.perf_counter()
    for image in frames:  # one frame per inference call: the naive baseline
        out += detect_frames(runtime, [image])
    return out, time.perf_counter() - start


def run_pareto(
    data: Path,
    weights: Path,
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    batch: int = 8,
    threads: int = CORES,
    limit: int | None = None,
    max_zoom: float | None = None,
    cache_dir: Path | None = None,
    trim: bool = True,
    show: Callable[[str], object] = print,
    progress: bool = False,
) -> dict[str, Any]:
    """Both curves and the speed-up; see the module docstring."""
    from tqdm import tqdm

    from models.features import load_tdc
    from models.runtime import weights_info
    from training.data import load_samples
    from training.datasets.loader import load_image
    from training.evaluation import evaluate

    if weights.suffix != ".pt":
        raise ValueError(f"pareto exports the detector at each input size: give the .pt checkpoint, not {weights.name}")
    info = weights_info(weights)
    mode, max_zoom = info.input_format, max_zoom or info.max_zoom
    samples = load_samples(data)[:limit]
    if not samples:
        raise ValueError(f"no frames in {data}")
    show(f"# decoding {len(samples)} frames of {data}")
    frames = [load_image(s, mode) for s in samples]
    tdc = load_tdc(weights)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(cache_dir or tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        runtimes = {size: _runtime(weights, size, out_dir, threads) for size in sizes}
        class_names = next(iter(runtimes.values())).class_names
        passes = {
            "lanewatch": lambda rt, part: _lanewatch_pass(rt, tdc, part, batch=batch, max_zoom=max_zoom, trim=trim),
            "baseline": _baseline_pass,
        }
        configs = [(name, size) for size in sizes for name in passes]
        for name, size in configs:  # warm-up: first-run allocations stay out of the timings
            passes[name](runtimes[size], frames[: min(batch, len(frames))])
        # Every chunk of frames goes through every configuration back to back, in a rotating order: a
        # shared machine's slow spells then fall on all of them alike, not on whichever size ran then.
        found: dict[tuple[str, int], list[np.ndarray]] = {c: [] for c in configs}
        seconds = dict.fromkeys(configs, 0.0)
        chunk = batch * CHUNK_BATCHES
        for k, i in enumerate(tqdm(range(0, len(frames), chunk), desc="frontier", unit="chunk", disable=not progress)):
            part = frames[i : i + chunk]
            for name, size in configs[k % len(configs):] + configs[: k % len(configs)]:
                dets, sec = passes[name](runtimes[size], part)
                found[(name, size)] += dets
                seconds[(name, size)] += sec
    known = [s.model_copy(update={"boxes": [b for b in s.boxes if b.label in class_names]}) for s in samples]
    points: dict[str, list[dict[str, Any]]] = {"lanewatch": [], "baseline": []}
    for name, size in configs:
        detections = {s.image_id: d for s, d in zip(samples, found[(name, size)], strict=True)}
        m = evaluate(known, detections, class_names)["map50"]
        sec = seconds[(name, size)]
        point = {"img_size": size, "map50": round(float(m), 4), "scans_per_s": round(len(frames) / sec, 2),
                 "ms_per_scan": round(1000 * sec / len(frames), 2)}
        points[name].append(point)
        show(f"# {name:<9} {size:>4} px: mAP@0.5 {point['map50']:.4f}, {point['scans_per_s']:.1f} scans/s")
    result = {
        "data": str(data), "frames": len(frames), "weights": str(weights), "batch": batch, "threads": threads,
        "max_zoom": max_zoom, "zoom_reference": info.train_img_size, "trim": trim, "sizes": list(sizes), "points": points,
        "machine": {"cores": CORES, "load_avg_1m": os.getloadavg()[0]},
    }
    return result | speedup_at_equal_map(points["lanewatch"], points["baseline"])


def plot(result: dict[str, Any], out: Path) -> Path:
    """mAP@0.5 against scans/s for both, each point labelled with its input size."""
    fig, ax = pyplot().subplots(figsize=(7.5, 5))
    for name, style in (("lanewatch", "o-"), ("baseline", "s--")):
        pts = sorted(result["points"][name], key=lambda p: p["img_size"])
        ax.plot([p["scans_per_s"] for p in pts], [p["map50"] for p in pts], style, label=name)
        for p in pts:
            ax.annotate(str(p["img_size"]), (p["scans_per_s"], p["map50"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    best = result["baseline_best"]
    ax.axhline(best["map50"], color="grey", linestyle=":", label=f"baseline best mAP {best['map50']:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("scans/s (log)")
    ax.set_ylabel("VOC mAP@0.5")
    speedup = result["speedup_at_equal_map"]
    ax.set_title(f"speed-accuracy frontier ({result['frames']} frames); speed-up at equal mAP: "
                 f"{'n/a' if speedup is None else f'{speedup:.2f}x'}")
    ax.legend()
    return save_figure(fig, out)


def run(args: argparse.Namespace) -> int:
    result = run_pareto(args.data, args.weights, sizes=args.sizes, batch=args.batch, threads=args.threads, limit=args.limit,
                        max_zoom=args.max_zoom, cache_dir=args.cache_dir, trim=args.trim,
                        show=lambda line: print(line, file=sys.stderr, flush=True), progress=True)
    print(f"{'size':>5} {'lanewatch mAP':>14} {'scans/s':>9} {'baseline mAP':>13} {'scans/s':>9}")
    for lw, bl in zip(result["points"]["lanewatch"], result["points"]["baseline"], strict=True):
        print(f"{lw['img_size']:>5} {lw['map50']:>14.4f} {lw['scans_per_s']:>9.1f} {bl['map50']:>13.4f} {bl['scans_per_s']:>9.1f}")
    best = result["baseline_best"]
    print(f"baseline best: mAP {best['map50']:.4f} at {best['img_size']} px, {best['scans_per_s']:.1f} scans/s; lanewatch at that mAP: "
          f"{result['lanewatch_scans_per_s_at_that_map']} scans/s; speedup_at_equal_map {result['speedup_at_equal_map']}")
    if args.json:
        write_json(args.json, result)
    if args.plot:
        plot(result, args.plot)
    return 0


def _sizes(text: str) -> tuple[int, ...]:
    sizes = positive_ints(text)
    if any(s % 32 for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive multiples of 32, got {text!r}")
    return tuple(sorted(sizes))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pareto",
        help="speed-accuracy frontier over input sizes: lanewatch (TDC + batching) against the naive baseline",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: lanewatch synth --out data/pareto --count 300 --seed 777 && "
               "lanewatch bench pareto --data data/pareto --json bench/pareto.json --plot bench/pareto.png",
    )
    p.add_argument("--data", type=Path, required=True, help="labelled frames (simulator output or any supported dataset)")
    p.add_argument("--weights", type=Path, default=DEFAULT_CHECKPOINT,
                   help="detector checkpoint (.pt): exported to ONNX at each size (default: shipped)")
    p.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES, help="detector input sizes (default 256,320,416,512,640)")
    p.add_argument("--batch", type=positive_int, default=8, help="lanewatch's canvases per inference call (default 8)")
    p.add_argument("--threads", type=positive_int, default=CORES, help=f"ONNX Runtime threads (default {CORES})")
    p.add_argument("--max-zoom", type=float, default=None, help="largest enlargement of a bag (default: the detector's trained zoom)")
    p.add_argument("--no-trim", dest="trim", action="store_false",
                   help="lay lanewatch's bags on the full square canvas instead of cutting it to them")
    p.add_argument("--limit", type=positive_int, default=None, help="use the first N frames only")
    p.add_argument("--cache-dir", type=Path, default=None, help="keep the per-size ONNX exports here (default: a temporary folder)")
    p.add_argument("--json", type=Path, default=None, help="write the points and the speed-up here")
    p.add_argument("--plot", type=Path, default=None, help="write the frontier here (PNG)")
    p.set_defaults(func=run)
