"""`lanewatch eval ablation`: several detectors on the same test sets, with bootstrap intervals and CPU speed."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from services.commands.args import positive_int

__all__ = ["register", "run"]


def _named(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, Path(path)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from models.runtime import load_runtime
    from models.shipped import require_weights
    from training.datasets.loader import load_dataset
    from training.evaluation import evaluate
    from training.evaluation.bootstrap import bootstrap_maps
    from training.inference import detect_samples

    models = dict(args.model)
    sets = dict(args.data)
    if len(models) != len(args.model) or len(sets) != len(args.data):
        print("error: each --model and --data name must be unique", file=sys.stderr)
        return 2
    missing = [f"{name}={path}" for name, path in sets.items() if not path.is_dir()]
    if missing:
        print(f"note: skipping data sets that are not here: {', '.join(missing)}", file=sys.stderr)
        sets = {name: path for name, path in sets.items() if path.is_dir()}
    runtimes = {name: load_runtime(require_weights(path), threads=args.threads) for name, path in models.items()}
    classes = next(iter(runtimes.values())).class_names
    if any(r.class_names != classes for r in runtimes.values()):
        print("error: the models detect different classes; an ablation compares models of one class list", file=sys.stderr)
        return 2
    result: dict = {"models": {n: str(p) for n, p in models.items()}, "data": {}, "speed": {}}
    for set_name, path in sets.items():
        samples = load_dataset(path)
        samples = [s.model_copy(update={"boxes": [b for b in s.boxes if b.label in classes]}) for s in samples]
        dets = {}
        for name, runtime in runtimes.items():
            with tqdm(total=len(samples), unit="scan", desc=f"{set_name}: {name}", file=sys.stderr,
                      disable=args.quiet) as bar:
                dets[name] = detect_samples(runtime, samples, batch=args.batch, progress=bar.update)
        entry: dict = {"path": str(path), "images": len(samples), "models": {}}
        for name in runtimes:
            full = evaluate(samples, dets[name], classes)
            entry["models"][name] = {k: full[k] for k in ("map50", "map50_agnostic", "per_class", "per_occlusion")}
        if args.bootstrap:
            for name, row in bootstrap_maps(samples, dets, classes, resamples=args.bootstrap, seed=args.seed).items():
                entry["models"][name] |= {k: v for k, v in row.items() if k != "map50"}
        result["data"][set_name] = entry
    # speed: the same letterboxed canvases through each runtime, median of three timed runs after a warm-up
    rng = np.random.default_rng(0)
    for name, runtime in runtimes.items():
        canvases = rng.integers(0, 256, (args.batch, runtime.img_size, runtime.img_size, 3), np.uint8)
        runtime.detect_canvases(canvases)
        rates = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(args.speed_batches):
                runtime.detect_canvases(canvases)
            rates.append(args.batch * args.speed_batches / (time.perf_counter() - start))
        result["speed"][name] = {"images_per_s": statistics.median(rates), "runs": rates, "threads": args.threads,
                                 "img_size": runtime.img_size, "batch": args.batch}
    text = format_ablation(result)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n")
    return 0


def _cell(value, ci=None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _delta(row: dict) -> str:
    if "delta" not in row or row["delta"] is None:
        return ""
    lo, hi = row["delta_ci"]
    mark = " *" if lo > 0 or hi < 0 else ""
    return f" ({row['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}]{mark})"


def format_ablation(result: dict) -> str:
    """Markdown tables: mAP@0.5 per set (95 % bootstrap interval; difference to the first model, paired, * where
    its interval excludes 0) with CPU images/s, then per occlusion level and per class for each set."""
    names = list(result["models"])
    sets = list(result["data"])
    lines = ["| model | " + " | ".join(f"{s} mAP@0.5" for s in sets) + " | CPU img/s |",
             "|---|" + "---|" * (len(sets) + 1)]
    for name in names:
        cells = []
        for s in sets:
            row = result["data"][s]["models"][name]
            cells.append(_cell(row["map50"], row.get("ci")) + _delta(row))
        speed = result["speed"].get(name)
        spread = f" ({min(speed['runs']):.1f}-{max(speed['runs']):.1f})" if speed else ""
        cells.append(f"{speed['images_per_s']:.1f}{spread}" if speed else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for s in sets:
        rows = result["data"][s]["models"]
        levels = sorted({lvl for name in names for lvl in rows[name]["per_occlusion"]})
        classes = list(dict.fromkeys(c for name in names for c in rows[name]["per_class"]))
        cols = levels + classes + ["class-agnostic"]
        per = "per occlusion level and class" if levels else "per class"
        lines += ["", f"{s} ({result['data'][s]['images']} scans): AP@0.5 {per}", "",
                  "| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for name in names:
            r = rows[name]
            values = [r["per_occlusion"].get(lvl) for lvl in levels] + [r["per_class"].get(c) for c in classes]
            lines.append(f"| {name} | " + " | ".join(_cell(v) for v in [*values, r["map50_agnostic"]]) + " |")
    return "\n".join(lines)


def register(targets: argparse._SubParsersAction) -> None:
    a = targets.add_parser(
        "ablation",
        help="several detectors on the same test sets: mAP with bootstrap intervals, per level and class, CPU speed",
        description=(
            "eval ablation: run every --model over every --data set and report VOC mAP@0.5 with a 95 %% bootstrap "
            "interval over the set's images, each model's difference to the first (paired: the same resampled "
            "images for every model; * where the interval excludes 0), AP per occlusion level and per class, "
            "and CPU images/s (median of three timed runs, with the spread). The intervals cover the luck of the "
            "test images, not the spread between training seeds."
        ),
        epilog=("example: lanewatch eval ablation --model baseline=runs/abl/baseline/model.onnx "
                "--model doam=runs/abl/doam/model.onnx --data sim=data/test --data teal=data/test_teal "
                "--data real=../shared/realxray-dev --json runs/abl/ablation.json"),
    )
    a.add_argument("--model", type=_named, action="append", required=True, metavar="NAME=WEIGHTS",
                   help="a detector to compare (repeat; the first is the reference for differences)")
    a.add_argument("--data", type=_named, action="append", required=True, metavar="NAME=DIR",
                   help="a labelled test set (repeat); sets that are not there are skipped with a note")
    a.add_argument("--bootstrap", type=int, default=200, metavar="N",
                   help="resamples for the intervals (default 200; 0: none)")
    a.add_argument("--seed", type=int, default=0, help="seed of the resamples (default 0)")
    a.add_argument("--threads", type=positive_int, default=2, help="CPU threads of each runtime (default 2)")
    a.add_argument("--batch", type=positive_int, default=8, help="scans per inference batch (default 8)")
    a.add_argument("--speed-batches", type=positive_int, default=4,
                   help="batches in each timed speed run (default 4)")
    a.add_argument("--json", type=Path, default=None, help="write every figure here")
    a.add_argument("--markdown", type=Path, default=None, help="write the tables here (as printed)")
    a.add_argument("--quiet", action="store_true", help="no progress bars")
    a.set_defaults(func=run)
