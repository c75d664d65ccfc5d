"""`lanewatch detect`: run the detector on scan files and print or draw the boxes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from models.shipped import DEFAULT_WEIGHTS, first_line, require_weights
from services.commands.args import ratio

__all__ = ["register", "run", "scan_samples"]


_SCAN_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def scan_files(paths: list[Path]) -> list[Path]:
    """The scan files named, a folder standing for the image files directly in it (sorted)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in _SCAN_SUFFIXES)
            if not found:
                raise ValueError(f"{path}: a folder with no scan files ({', '.join(_SCAN_SUFFIXES)})")
            out += found
        else:
            out.append(path)
    return out


def scan_samples(paths: list[Path], *, errors: list[str] | None = None) -> list:
    """Samples for loose scan files: pseudo-colour images, or 16-bit `<stem>_high`/`<stem>_low` pairs.

    With ``errors``, a file that cannot be used is described there and skipped; without, it raises.
    """
    from training.datasets.records import Sample

    samples, seen = [], set()
    for path in paths:
        if path in seen:
            continue
        try:
            if not path.is_file():
                raise ValueError(f"{path}: no such file")
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
                    raise ValueError(f"{path}: a 16-bit single-channel scan must be named <stem>_high or <stem>_low, "
                                     "with its partner beside it")
                if not partner.exists():
                    raise ValueError(f"{path}: its dual-energy partner {partner.name} is missing")
                other = cv2.imread(str(partner), cv2.IMREAD_UNCHANGED)
                if other is None or other.dtype != np.uint16 or other.shape != img.shape:
                    raise ValueError(f"{path}: its dual-energy partner {partner.name} is not a readable 16-bit "
                                     f"single-channel image of {w}x{h}")
                high, low = (path, partner) if stem.endswith("_high") else (partner, path)
                seen |= {high, low}
                samples.append(Sample(image_id=high.stem[: -len("_high")], width=w, height=h, high=high, low=low))
            else:
                seen.add(path)
                samples.append(Sample(image_id=path.stem, width=w, height=h, image=path))
        except ValueError as err:
            if errors is None:
                raise
            errors.append(str(err))
    return samples


def pipeline_detector(weights: Path, runtime, *, threads: int = 1):
    """``detect(sample, conf, iou) -> (K, 6)`` frame rows the way the pipeline finds them.

    The crop service's cropper (TDC on the detector's own backbone, whole frames where it is not
    available) and canvas layout (from the detector's metadata), then the detect service's canvas
    path (`pipeline.canvas.detect_frame`), whose merge of a scan's regions the alert stage repeats.
    """
    from pipeline.canvas import CanvasLayout, detect_frame
    from pipeline.crop import frame_regions
    from services.crop import load_cropper
    from training.datasets.loader import load_image

    cropper, crop_mode, method = load_cropper("tdc", weights, threads=threads)
    layout = CanvasLayout.for_detector(runtime.info)  # the loaded runtime carries it: no second read of the file

    def detect(sample, conf_threshold: float, iou_threshold: float) -> np.ndarray:
        regions = frame_regions(cropper, load_image(sample, crop_mode))
        image = load_image(sample, layout.input_format)
        return detect_frame(runtime, image, regions, layout, conf_threshold=conf_threshold, iou_threshold=iou_threshold)

    return detect, method


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code (1 when some scans could not be read)."""
    from models.runtime import load_runtime
    from training.contact_sheet import CLASS_COLOURS
    from training.datasets.loader import load_image
    from training.inference import detect_samples

    files = scan_files(args.images)  # an empty folder is an error before the weights load
    runtime = load_runtime(require_weights(args.weights))
    errors: list[str] = []
    samples = scan_samples(files, errors=errors)
    for e in errors:
        print(f"lanewatch detect: {e}: skipped", file=sys.stderr)
    if args.whole_frame:
        def detect(sample, conf: float, iou: float) -> np.ndarray:
            return detect_samples(runtime, [sample], conf_threshold=conf, iou_threshold=iou)[sample.image_id]
    else:
        detect, method = pipeline_detector(args.weights, runtime)
        if method != "tdc":
            print(f"lanewatch detect: TDC is not available for {args.weights} (its .pt checkpoint is needed): "
                  "whole frames on the pipeline's canvas", file=sys.stderr)
    detections = {}
    for s in samples:  # one scan at a time: a file that fails now (changed since it was read) costs only itself
        try:
            detections[s.image_id] = detect(s, args.conf, args.iou)
        except (ValueError, OSError, cv2.error) as err:
            source = str(s.image or s.high)
            errors.append(first_line(err) if source in str(err) else f"{source}: {first_line(err)}")
            print(f"lanewatch detect: {errors[-1]}: skipped", file=sys.stderr)
    samples = [s for s in samples if s.image_id in detections]
    names = runtime.class_names
    report = []
    for s in samples:
        dets = [
            {"class": names[int(c)], "score": round(float(p), 4), "box": [round(float(v), 1) for v in (x1, y1, x2, y2)]}
            for x1, y1, x2, y2, p, c in sorted(detections[s.image_id].tolist(), key=lambda r: -r[4])
        ]
        report.append({"scan": str(s.image or s.high), "width": s.width, "height": s.height, "detections": dets})
        if args.draw:
            args.draw.mkdir(parents=True, exist_ok=True)
            img = load_image(s, "rgb")[..., ::-1].copy()
            for d in dets:
                x1, y1, x2, y2 = (int(round(v)) for v in d["box"])
                colour = CLASS_COLOURS.get(d["class"], (40, 40, 40))
                cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), colour, 2)
                cv2.putText(img, f"{d['class']} {d['score']:.2f}", (x1, max(y1 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                            colour, 1, cv2.LINE_AA)
            cv2.imwrite(str(args.draw / f"{s.image_id}.png"), img)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    for r in report:
        found = ", ".join(f"{d['class']} {d['score']:.2f} at {d['box']}" for d in r["detections"]) or "clear"
        print(f"{r['scan']}: {found}", file=sys.stdout)
    if errors:
        print(f"lanewatch detect: {len(errors)} of {len(files)} scan files could not be read (see above)", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `detect` subcommand."""
    d = sub.add_parser(
        "detect",
        help="find threats in scan files with a trained detector",
        description=(
            "Run the detector on scan files: pseudo-colour PNG/JPEG, or a dual-energy raw pair given as "
            "16-bit <stem>_high.png and <stem>_low.png (name either; the partner is found beside it). "
            "Prints one line per scan with class, score and box in the scan's own pixel coordinates. "
            "The scan takes the pipeline's path: the crop service's cropping (TDC) and canvas, the detect "
            "service's inference and the merge of a scan's regions, so the boxes are the ones the pipeline "
            "gives that scan (--whole-frame: the scan letterboxed whole). A folder stands for the scans in it; "
            "a file that cannot be read is reported and skipped (exit code 1)."
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
    d.add_argument("--whole-frame", action="store_true",
                   help="letterbox each whole scan onto the detector's input instead of the pipeline's path (TDC's bag "
                        "regions on the detector's canvas): the behaviour before the two were one")
    d.set_defaults(func=run)
