"""`lanewatch eval crop` and `lanewatch eval crop-ablation`: measure task-driven cropping and its baselines."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields
from functools import partial
from pathlib import Path

from models.shipped import DEFAULT_CHECKPOINT
from pipeline.crop.tdc import TDCConfig
from services.commands.args import positive_int, ratio

__all__ = ["register"]

_METHODS = ("tdc", "canny", "none")


def _backbone(args: argparse.Namespace) -> Path:
    path = args.backbone or getattr(args, "weights", None) or DEFAULT_CHECKPOINT
    if not Path(path).exists():
        raise ValueError(f"TDC reads the detector's backbone: {path} does not exist (give --backbone or --weights)")
    return Path(path)


def _tdc_config(args: argparse.Namespace) -> TDCConfig:
    given = {f.name: getattr(args, f.name) for f in fields(TDCConfig) if getattr(args, f.name, None) is not None}
    return TDCConfig(**given)


def _samples(args: argparse.Namespace) -> list:
    from training.datasets.loader import load_dataset

    samples = load_dataset(args.data)
    return samples[: args.count] if args.count else samples


def _write_json(path: Path | None, payload: object) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2))


def run_crop(args: argparse.Namespace) -> int:
    """`eval crop`: the methods side by side; returns the exit code."""
    from tqdm import tqdm

    from models.runtime import load_runtime
    from training.cropping.benchmark import benchmark, format_table, load_tdc, method_croppers
    from training.cropping.sheet import crop_sheet

    methods = _METHODS if args.method == "all" else (args.method,)
    detector = load_runtime(args.weights, threads=args.detector_threads) if args.weights else None
    config = _tdc_config(args)
    tdc = partial(load_tdc, _backbone(args), config=config, threads=args.threads) if "tdc" in methods else None
    croppers = method_croppers(methods, tdc)
    extractor = getattr(croppers.get("tdc"), "extractor", None)
    mode = extractor.input_format if extractor else detector.input_format if detector else args.mode
    if detector and detector.input_format != mode:
        raise ValueError(f"the detector reads {detector.input_format!r} frames but TDC's backbone {mode!r} ones")
    samples = _samples(args)
    with tqdm(total=len(samples), unit="scan", desc="crop", file=sys.stderr, disable=args.quiet) as bar:
        max_zoom = args.max_zoom if args.max_zoom is not None else detector.info.max_zoom if detector else None
        results, regions = benchmark(samples, croppers, mode=mode, detector=detector, packed=args.packed,
                                     max_zoom=max_zoom or None, trim=args.trim, progress=bar.update)
    print(format_table(results))
    payload = {m: dict(r) for m, r in results.items()}
    if "tdc" in results:
        payload["tdc"]["settings"] = asdict(config)
    if args.png:
        crop_sheet(samples[: args.png_count], regions, args.png, mode=mode)
        print(f"regions drawn: {args.png}", file=sys.stderr)
    _write_json(args.json, payload)
    return 0


def run_ablation(args: argparse.Namespace) -> int:
    """`eval crop-ablation`: sweep layer and k; returns the exit code."""
    from tqdm import tqdm

    from models.backbone import STAGE_NAMES
    from training.cropping.ablation import ablation, best_setting, format_ablation

    samples = _samples(args)
    with tqdm(total=len(samples), unit="scan", desc="ablation", file=sys.stderr, disable=args.quiet) as bar:
        rows = ablation(
            samples, _backbone(args), layers=args.layers or STAGE_NAMES, ks=args.ks, signals=args.signals,
            margins=args.margins, variants=args.variants, base=_tdc_config(args), threads=args.threads, progress=bar.update,
        )
    print(format_ablation(rows))
    _write_json(args.json, {"rows": rows, "best": best_setting(rows)})
    return 0


def _tdc_options(p: argparse.ArgumentParser, *, sweep: bool) -> None:
    d = TDCConfig()
    p.add_argument("--data", type=Path, required=True, help="dataset folder with threat boxes and bag boxes (simulator output)")
    fallback = f"{DEFAULT_CHECKPOINT}" if sweep else f"--weights, else {DEFAULT_CHECKPOINT}"
    p.add_argument("--backbone", type=Path, default=None,
                   help=f"detector checkpoint (.pt) whose backbone TDC reads (default: {fallback})")
    p.add_argument("--long-side", type=positive_int, default=None,
                   help=f"long side in pixels of the downscaled frame the backbone sees (default {d.long_side})")
    if not sweep:
        p.add_argument("--layer", default=None, help=f"backbone stage TDC reads: stem, dark2, dark3, dark4, dark5 (default {d.layer})")
        p.add_argument("--k", type=ratio, default=None, help=f"threshold on the normalised profile (default {d.k:g})")
        p.add_argument("--signal", choices=("diff", "level"), default=None,
                       help=f"what k thresholds: the paper's |profile difference| or the profile level (default {d.signal})")
        p.add_argument("--margin", type=float, default=None, help=f"safety margin in feature cells per side (default {d.margin:g})")
    p.add_argument("--threads", type=positive_int, default=1, help="threads of the backbone's ONNX Runtime session (default 1)")
    p.add_argument("--count", type=positive_int, default=None, help="use only the first N frames")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(targets: argparse._SubParsersAction) -> None:
    """Add the `crop` and `crop-ablation` targets to `lanewatch eval`."""
    c = targets.add_parser(
        "crop",
        help="task-driven cropping against Canny and no crop",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Crop every frame of DIR with each method and report, per method: threat-box retention (share of\n"
            "ground-truth threat boxes fully inside a returned region), bag retention, area kept (union of the\n"
            "regions over the frame area, lower is better), regions per frame, whole-frame fall-backs and\n"
            "milliseconds per frame. With --weights, the detector also runs on each method's regions (boxes\n"
            "mapped back to frame pixels, merged by NMS): VOC mAP@0.5 and detector ms per frame; 'none' is\n"
            "the detector on full frames. --packed lays a frame's regions side by side on one canvas\n"
            "instead, so several bags cost one detector pass.\n\n"
            "Methods: tdc (task-driven cropping on the detector's backbone features), canny (bounding box of\n"
            "Canny edges, the conventional baseline), none (the whole frame); all runs the three."
        ),
        epilog=(
            "examples:\n"
            "  lanewatch synth --out data/crop500 --count 500 --seed 123 --format coco --quiet\n"
            "  lanewatch eval crop --method all --data data/crop500 --weights models/weights/aspp_yolo_nano.onnx \\\n"
            "      --json runs/crop.json --png runs/crop.png\n"
            "  lanewatch eval crop --method tdc --data data/crop500 --backbone runs/nano416/best.pt --layer dark3"
        ),
    )
    c.add_argument("--method", choices=(*_METHODS, "all"), default="all", help="cropping method (default all)")
    c.add_argument("--weights", type=Path, default=None,
                   help="detector (.pt or .onnx; an .onnx needs its .pt beside it for TDC) to measure mAP on the regions")
    _tdc_options(c, sweep=False)
    c.add_argument("--mode", choices=("rgb", "dual"), default="rgb",
                   help="input form when no model decides it (canny/none alone); default rgb")
    c.add_argument("--packed", action="store_true",
                   help="detect on all regions of a frame packed into one canvas (one pass) instead of one canvas each")
    c.add_argument("--trim", action="store_true",
                   help="cut each canvas to its regions (sides in multiples of the detector's stride, tall ones turned "
                        "landscape), as the crop service sends them")
    c.add_argument("--max-zoom", type=float, default=None,
                   help="draw a region at most this many times larger than on the letterboxed full frame; 0: no cap "
                        "(default: the zoom the detector was trained with, from its metadata; 1 for a detector trained "
                        "on full frames, which lost 1.4 mAP points at 1.5 and 5.5 uncapped)")
    c.add_argument("--detector-threads", type=positive_int, default=None, help="threads of the detector (default: all cores)")
    c.add_argument("--json", type=Path, default=None, help="write the metrics here, keyed by method")
    c.add_argument("--png", type=Path, default=None, help="draw the first frames with each method's regions into this PNG")
    c.add_argument("--png-count", type=positive_int, default=8, help="frames in the PNG (default 8)")
    c.set_defaults(func=run_crop)

    a = targets.add_parser(
        "crop-ablation",
        help="sweep TDC's backbone layer and threshold k",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run TDC with every combination of --variants, --layers, --signals, --ks and --margins on the frames of DIR\n"
            "and report retention, area kept and cost per setting, as the paper's Figure 10 does. The row\n"
            "marked * keeps the least area while keeping >= 99.5% of threat boxes and >= 99% of bags whole;\n"
            "TDCConfig's defaults were chosen from such a run (README: lanewatch eval crop)."
        ),
        epilog=(
            "example:\n"
            "  lanewatch eval crop-ablation --data data/crop500 --backbone models/weights/aspp_yolo_nano.pt \\\n"
            "      --layers stem dark2 dark3 --ks 0.05 0.1 0.15 0.3 --json runs/crop_ablation.json"
        ),
    )
    _tdc_options(a, sweep=True)
    a.add_argument("--layers", nargs="+", default=None, help="backbone stages to try (default all: stem dark2 dark3 dark4 dark5)")
    a.add_argument("--ks", nargs="+", type=ratio, default=[0.05, 0.15, 0.3], help="thresholds k to try (default 0.05 0.15 0.3)")
    a.add_argument("--signals", nargs="+", choices=("diff", "level"), default=["diff", "level"], help="signals k thresholds (default both)")
    a.add_argument("--variants", nargs="+", choices=("paper", "tdc"), default=["paper", "tdc"],
                   help="paper: one crop, no splitting, growing or energy cap; tdc: lanewatch's (default both)")
    a.add_argument("--margins", nargs="+", type=float, default=[1.0], help="margins in feature cells to try (default 1)")
    a.add_argument("--json", type=Path, default=None, help="write every row and the recommended one here")
    a.set_defaults(func=run_ablation)
