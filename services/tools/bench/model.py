"""`lanewatch bench model`: the bare engine's speed, per batch size; the ceiling every other figure sits under.

What is measured, for each batch size N, on real letterboxed simulator frames (a few rendered once with a
fixed seed and cycled, so NMS sees the candidate counts real bags give, not those of blank canvases):

- `images_per_s` and `ms_per_batch` (mean, p50, p99) of `runtime.detect_canvases`: uint8 canvases in,
  NMS'd boxes out; exactly the call the detect service makes per batch, so normalisation and NMS count;
- `infer_only_images_per_s`: the raw `runtime(batch)` call on already-normalised input, without NMS,
  so the cost of the network and of the post-processing can be told apart.

Images/s are N over the median batch time: on a shared machine the odd slow spell skews a mean (seen
here: means 30 % above medians in one run, not in the next).

Nothing else runs: no decoding, no Kafka, no batching delay. The pipeline benchmark imports
`bare_engine_throughput` to put its end-to-end figure next to this ceiling at the same batch size.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.runtime import RUNTIMES, runtime_for
from models.runtime.base import usable_cores
from models.shipped import DEFAULT_WEIGHTS, require_weights
from services.commands.args import positive_int, positive_ints
from services.tools.bench.output import write_json

__all__ = [
    "RUNTIMES", "bare_engine_throughput", "machine_info", "open_runtime", "register", "run",
    "runtime_for", "simulator_canvases",
]

# ---------------------------------------------------------------------------------------------- runtime


def open_runtime(weights: str | Path, *, runtime: str | None = None, threads: int | None = None,
                 device: str | None = None, img_size: int | None = None) -> Any:
    """Load `weights` on `runtime` (default: by suffix); ValueError or OSError with a clear reason when it cannot run here.

    `img_size` re-sizes a `.pt` model's input (it is fully convolutional); compiled engines have theirs fixed.
    `device` ("cpu", "cuda[:N]") goes to `load_runtime`, which checks the pairing and the machine.
    """
    from models.runtime import load_runtime

    weights = Path(weights)
    name = runtime or runtime_for(weights)
    if name not in RUNTIMES:
        raise ValueError(f"unknown runtime {name!r}: choose one of {', '.join(RUNTIMES)}")
    require_weights(weights)
    if name == "torch" and threads:
        import torch

        torch.set_num_threads(threads)  # process-wide; TorchDetector leaves it alone
    if img_size is not None:
        if name != "torch":
            raise ValueError(f"--img-size applies to .pt weights on the torch runtime; a {name} engine's input size "
                             "is fixed when it is exported (`lanewatch export --img-size`)")
        return _torch_at_size(weights, img_size, device=device)
    kwargs: dict[str, Any] = {"threads": threads, "runtime": name}
    if device is not None:
        kwargs["device"] = device
    try:
        return load_runtime(weights, **kwargs)
    except ImportError as err:
        raise ValueError(f"the {name} runtime is not available here: {err}") from err


def _torch_at_size(weights: Path, img_size: int, *, device: str | None) -> Any:
    from dataclasses import replace

    from models.checkpoint import load_detector
    from models.metadata import detector_metadata
    from models.runtime.torch import TorchDetector

    model, config, extra = load_detector(weights, map_location=device or "cpu")
    config = replace(config, img_size=img_size)  # anchors stay in input pixels
    meta = detector_metadata(config, input_format=extra.get("input_format", "rgb"))
    return TorchDetector(model, meta, **({"device": device} if device else {}))


# ---------------------------------------------------------------------------------------------- inputs


def simulator_canvases(img_size: int, input_format: str, *, count: int = 8, seed: int = 0) -> np.ndarray:
    """(count, S, S, 3) uint8: simulator frames (every other one threat-free) letterboxed as the detect stage does."""
    from pipeline.dual_energy import to_three_channel
    from pipeline.preprocess import background_for, letterbox
    from training.synth.scene import SceneConfig, generate_frame

    rng = np.random.default_rng(seed)
    # the general size mix, capped a little so rendering stays a second or two
    cfg = SceneConfig(max_size=(1600, 1200))
    fill = background_for(input_format)
    out = np.empty((count, img_size, img_size, 3), np.uint8)
    for i in range(count):
        frame = generate_frame(rng, negative=i % 2 == 1, cfg=cfg)
        image = frame.rgb if input_format == "rgb" else to_three_channel(frame.high, frame.low)
        out[i] = letterbox(image, img_size, fill=fill)[0]
    return out


def _tile(canvases: np.ndarray, n: int) -> np.ndarray:
    """(n, S, S, C): the canvases cycled to fill a batch of n, contiguous."""
    return np.ascontiguousarray(canvases[np.arange(n) % len(canvases)])


# ---------------------------------------------------------------------------------------------- measuring


def _timings(runs_s: Sequence[float], batch: int) -> tuple[float, dict[str, float]]:
    """(images/s at the median batch time, ms per batch stats): a shared machine's slow spells skew a mean."""
    ms = 1000 * np.asarray(runs_s)
    stats = {"mean": float(ms.mean()), "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}
    return 1000 * batch / stats["p50"], {k: round(v, 3) for k, v in stats.items()}


def bare_engine_throughput(runtime: Any, batch: int, *, iters: int = 30, warmup: int = 3,
                           canvases: np.ndarray | None = None, conf_threshold: float | None = None,
                           iou_threshold: float | None = None, step: Callable[[], None] | None = None) -> dict:
    """Images/s and ms per batch of `runtime` at batch size `batch`, with NMS (`detect_canvases`) and without.

    `canvases` (N, S, S, 3) uint8 are cycled to fill the batch (default: 8 simulator frames, seed 0);
    thresholds default to the detect service's. `step` is called after every timed or warm-up call (progress).
    Returns {"batch", "images_per_s", "ms_per_batch": {"mean", "p50", "p99"}, "infer_only_images_per_s",
    "infer_only_ms_per_batch", "iters"}.
    """
    from models.runtime.base import to_network_batch

    if conf_threshold is None or iou_threshold is None:
        from services.detect import DetectSettings

        fields = DetectSettings.model_fields
        conf_threshold = fields["conf_threshold"].default if conf_threshold is None else conf_threshold
        iou_threshold = fields["iou_threshold"].default if iou_threshold is None else iou_threshold
    if canvases is None:
        canvases = simulator_canvases(runtime.img_size, runtime.input_format)
    x = _tile(canvases, batch)
    x_net = to_network_batch(x)
    tick = step or (lambda: None)

    def timed(call: Callable[[], Any]) -> list[float]:
        for _ in range(warmup):
            call()
            tick()
        runs = []
        for _ in range(iters):
            t0 = time.perf_counter()
            call()
            runs.append(time.perf_counter() - t0)
            tick()
        return runs

    full = timed(lambda: runtime.detect_canvases(x, conf_threshold=conf_threshold, iou_threshold=iou_threshold))
    bare = timed(lambda: runtime(x_net))
    ips, ms = _timings(full, batch)
    bare_ips, bare_ms = _timings(bare, batch)
    return {"batch": batch, "images_per_s": round(ips, 2), "ms_per_batch": ms,
            "infer_only_images_per_s": round(bare_ips, 2), "infer_only_ms_per_batch": bare_ms, "iters": iters}


def machine_info() -> dict[str, Any]:
    """CPU model, cores, GPU (when torch sees one) and the 1-minute load average (a busy machine reads slower)."""
    cpu = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        pass
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu or platform.processor() or platform.machine(), "cores": usable_cores(), "gpu": gpu,
            "load_avg_1m": None if load is None else round(load, 2)}


# ---------------------------------------------------------------------------------------------- command


def _img_size(text: str) -> int:
    value = positive_int(text)
    if value % 32:
        raise argparse.ArgumentTypeError(f"must be a multiple of 32 (the network's stride), got {value}")
    return value


def _table(results: list[dict]) -> str:
    head = f"{'batch':>5}  {'images/s':>9}  {'ms mean':>8}  {'ms p50':>8}  {'ms p99':>8}  {'infer-only images/s':>19}"
    rows = [f"{r['batch']:>5}  {r['images_per_s']:>9.1f}  {r['ms_per_batch']['mean']:>8.2f}  "
            f"{r['ms_per_batch']['p50']:>8.2f}  {r['ms_per_batch']['p99']:>8.2f}  {r['infer_only_images_per_s']:>19.1f}"
            for r in results]
    return "\n".join([head, *rows])


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; returns the exit code."""
    from tqdm import tqdm

    name = args.runtime or runtime_for(args.weights)
    runtime = open_runtime(args.weights, runtime=name, threads=args.threads, device=args.device, img_size=args.img_size)
    canvases = simulator_canvases(runtime.img_size, runtime.input_format, count=args.frames, seed=args.seed)
    per_batch = 2 * (args.warmup + args.iters)
    results = []
    with tqdm(total=per_batch * len(args.batch), desc="bench model", unit="call", file=sys.stderr,
              disable=args.quiet) as bar:
        for b in args.batch:
            bar.set_postfix(batch=b)
            results.append(bare_engine_throughput(runtime, b, iters=args.iters, warmup=args.warmup,
                                                  canvases=canvases, step=bar.update))
    report = {"runtime": name, "weights": str(args.weights), "img_size": runtime.img_size, "threads": args.threads,
              "device": args.device, "input_format": runtime.input_format, "iters": args.iters, "warmup": args.warmup,
              "frames": args.frames, "machine": machine_info(), "results": results}
    print(f"{name} {args.weights} @ {runtime.img_size}px, threads {args.threads or 'all'}: "
          "detect_canvases (normalise + infer + NMS) per batch")
    print(_table(results))
    if args.json:
        write_json(args.json, report)
        print(f"wrote {args.json}")
    return 0


def register(kinds: argparse._SubParsersAction) -> None:
    """Add `bench model`."""
    p = kinds.add_parser(
        "model",
        help="bare engine: images/s and ms per batch for each batch size",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Time the detector alone on letterboxed simulator frames, for each batch size: the full call the "
            "detect service makes (uint8 canvases -> normalise -> infer -> NMS; mean, p50, p99 ms per batch) "
            "and the raw network call without NMS. This is the ceiling: the pipeline can only be slower.", 100),
        epilog="examples:\n"
               "  lanewatch bench model --batch 1,2,4,8,16 --json runs/bench/model.json\n"
               "  lanewatch bench model --weights models/weights/aspp_yolo_nano.pt --runtime torch --img-size 320\n"
               "  lanewatch bench model --runtime tensorrt --batch 1,8,32   (GPU machines: builds the engine from the .onnx)",
    )
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help=f"detector weights (default {DEFAULT_WEIGHTS})")
    p.add_argument("--runtime", choices=RUNTIMES, default=None,
                   help="inference runtime (default: from the weights suffix: .onnx onnxruntime, .pt torch, .engine tensorrt)")
    p.add_argument("--batch", type=positive_ints, default=(1, 2, 4, 8, 16), help="batch sizes to time (default 1,2,4,8,16)")
    p.add_argument("--threads", type=positive_int, default=None, help="inference threads (default: all cores)")
    p.add_argument("--device", default=None,
                   help="cpu or cuda[:N] (default: cpu for onnxruntime and torch, cuda for tensorrt)")
    p.add_argument("--iters", type=positive_int, default=30, help="timed calls per batch size and per kind (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    p.add_argument("--img-size", type=_img_size, default=None,
                   help="input side for .pt weights on torch, a multiple of 32 (default: the checkpoint's)")
    p.add_argument("--frames", type=positive_int, default=8, help="distinct simulator frames cycled into the batches (default 8)")
    p.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    p.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
