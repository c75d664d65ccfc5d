"""`lanewatch detect`: run the detector on scan files and print or draw the boxes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from models.shipped import DEFAULT_WEIGHTS, require_weights
from services.commands.args import ratio

__all__ = ["register", "run", "scan_samples"]


def scan_samples(paths: list[Path]) -> list:
    """Samples for loose scan files: pseudo-colour images, or 16-bit `<stem>_high`/`<stem>_low` pairs."""
    from training.datasets.records import Sample

    samples, seen = [], set()
    for path in paths:
        if path in seen:
            continue
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f"{path}: not a readable image")
        h, w = img.shape[:2]
        if img.dtype == np.uint16 and img.ndim == 2:
            stem = path.stem
            for mine, other in (("_high", "_low"), ("_low", "_high")):
                if stem.endswith(mine):
                    partner = path.with_name(stem[: -len(mine)] + other + path.suffix)
                    break
            else:
                raise ValueError(f"{path}: a 16-bit single-channel scan must be named <stem>_high or <stem>_low, with its partner beside it")
            if not partner.exists():
                raise ValueError(f"{path}: its dual-energy partner {partner.name} is missing")
            high, low = (path, partner) if stem.endswith("_high") else (partner, path)
            seen |= {high, low}
            samples.append(Sample(image_id=high.stem[: -len("_high")], width=w, height=h, high=high, low=low))
        else:
            seen.add(path)
            samples.append(Sample(image_id=path.stem, width=w, height=h, image=path))
    return samples


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from models.runtime import load_runtime
    from training.contact_sheet import CLASS_COLOURS
    from training.datasets.loader import load_image
    from training.inference import detect_samples

    runtime = load_runtime(require_weights(args.weights))
    samples = scan_samples(args.images)
    detections = detect_samples(runtime, samples, conf_threshold=args.conf, iou_threshold=args.iou)
    names = runtime.class_names
    report = []
    for s in samples:
        dets = [
            {"class": names[int(c)], "score": round(float(p), 4), "box": [round(float(v), 1) for v in (x1, y1, x2, y2)]}
            for x1, y1, x2, y2, p, c in detections[s.image_id]
        ]
        report.append({"scan": str(s.image or s.high), "width": s.width, "height": s.height, "detections": dets})
        if args.draw:
            args.draw.mkdir(parents=True, exist_ok=True)
            img = load_image(s, "rgb")[..., ::-1].copy()
            for d in dets:
                x1, y1, x2, y2 = (int(round(v)) for v in d["box"])
                colour = CLASS_COLOURS.get(d["class"], (40, 40, 40))
                cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), colour, 2)
                cv2.putText(img, f"{d['class']} {d['score']:.2f}", (x1, max(y1 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
            cv2.imwrite(str(args.draw / f"{s.image_id}.png"), img)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    for r in report:
        found = ", ".join(f"{d['class']} {d['score']:.2f} at {d['box']}" for d in r["detections"]) or "clear"
        print(f"{r['scan']}: {found}", file=sys.stdout)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `detect` subcommand."""
    d = sub.add_parser(
        "detect",
        help="find threats in scan files with a trained detector",
        description=(
            "Run the detector on scan files: pseudo-colour PNG/JPEG, or a dual-energy raw pair given as "
            "16-bit <stem>_high.png and <stem>_low.png (name either; the partner is found beside it). "
            "Prints one line per scan with class, score and box in the scan's own pixel coordinates."
        ),
        epilog="example: lanewatch detect --weights models/weights/aspp_yolo_nano.onnx scans/*.png --draw out/",
    )
    d.add_argument("images", type=Path, nargs="+", help="scan files")
    d.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS,
                   help="detector weights (.pt or .onnx; default: the shipped ONNX weights)")
    d.add_argument("--json", type=Path, default=None, help="write all detections as JSON here")
    d.add_argument("--draw", type=Path, default=None, help="write each scan with its boxes drawn into this folder")
    d.add_argument("--conf", type=ratio, default=0.25, help="score threshold (default 0.25)")
    d.add_argument("--iou", type=ratio, default=0.45, help="NMS IoU threshold (default 0.45)")
    d.set_defaults(func=run)
