"""`lanewatch eval classifier`: per-class AP and scan-level ROC of the image-level classifier, with CAMs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.commands.args import positive_int, positive_ints

__all__ = ["cam_sheet", "format_report", "register", "run"]


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from tqdm import tqdm

    from models.runtime.classifier import ScanClassifier
    from training.classifier import classifier_report, frame_labels
    from training.data import load_samples
    from training.datasets.loader import load_image

    if args.cam is not None and args.weights.suffix != ".pt":
        raise ValueError("--cam reads the class maps inside the network: give the .pt checkpoint as --weights")
    classifier = ScanClassifier(args.weights, threads=args.threads, batch=args.batch)
    classes = classifier.class_names
    samples = load_samples(args.data, classes)
    if not samples:
        raise ValueError(f"{args.data}: no scans")
    unknown = sorted({b.label for s in samples for b in s.boxes} - set(classes))
    if unknown:
        print(f"note: ignoring ground-truth classes the model does not have: {', '.join(unknown)}", file=sys.stderr)
    scores = np.empty((len(samples), len(classes)), np.float32)
    with tqdm(total=len(samples), unit="scan", desc="classify", file=sys.stderr, disable=args.quiet) as bar:
        for start in range(0, len(samples), args.batch):  # decoded a batch at a time: full frames are large
            chunk = samples[start : start + args.batch]
            scores[start : start + len(chunk)] = classifier.scores([load_image(s, "rgb") for s in chunk])
            bar.update(len(chunk))
    labels = frame_labels(samples, classes)
    result = {"weights": str(args.weights), "data": str(args.data), "class_names": list(classes),
              "chr": bool(classifier.metadata.get("chr", False))}
    result |= classifier_report(scores, labels, classes, ratios=args.negatives_ratios)
    print(format_report(result))
    if args.cam is not None:
        threat = [i for i in range(len(samples)) if labels[i].any()][: args.cam_count]
        if threat:
            cam_sheet(args.weights, [samples[i] for i in threat], scores[threat], args.cam)
            result["cam_png"] = str(args.cam)
        else:
            print("note: no threat scans to draw class activation maps of", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def format_report(r: dict) -> str:
    """The report as text lines."""
    num = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [f"image-level AP ({r['threat_scans']} threat scans, {r['clean_scans']} clean): mAP {num(r['map'])}",
             "  " + "  ".join(f"{name} {num(ap)}" for name, ap in r["per_class"].items()),
             f"scan level (any class; score = the highest class probability): ROC area {num(r['roc_auc'])}"]
    for far, point in r["at_false_alarm_rate"].items():
        lines.append(f"  at {100 * float(far):g} % false alarms: {100 * point['detection_rate']:.1f} % detected "
                     f"(threshold {num(point['threshold'])})")
    for ratio, point in r["scan_ap_at_negative_ratio"].items():
        how = "emulated, " if point["emulated"] else ""
        lines.append(f"  AP at {ratio} clean scans per threat scan (SIXray{ratio}-like; {how}each clean scan counts "
                     f"{point['negative_weight']:.3g} times): {num(point['ap'])}")
    return "\n".join(lines)


def cam_sheet(weights: Path, samples: Sequence, scores: np.ndarray, out: Path, *, columns: int = 4) -> Path:
    """A contact sheet of class activation maps: per scan the CAM of its highest-scoring present class over the
    letterboxed scan (levels upsampled and averaged as their logits are), its true boxes, the class and score."""
    import cv2
    import torch
    import torch.nn.functional as F

    from models.chr import load_classifier
    from pipeline.preprocess import background_for, letterbox
    from training.contact_sheet import CLASS_COLOURS
    from training.datasets.loader import load_image

    model, config, _ = load_classifier(weights)
    size, names = config.img_size, config.class_names
    tiles = []
    for sample, score in zip(samples, scores, strict=True):
        canvas, lb = letterbox(load_image(sample, "rgb"), size, fill=background_for("rgb"))
        present = [names.index(b.label) for b in sample.boxes if b.label in names]
        c = max(present, key=lambda k: score[k])
        with torch.no_grad():
            x = torch.from_numpy(canvas).permute(2, 0, 1)[None].float() / 255
            maps = [F.interpolate(m[:, c : c + 1], size=(size, size), mode="bilinear") for m in model.class_maps(x)]
        cam = torch.stack(maps).mean(0)[0, 0].numpy()
        cam = (cam - cam.min()) / max(float(cam.max() - cam.min()), 1e-6)
        heat = cv2.applyColorMap((cam * 255).astype(np.uint8), cv2.COLORMAP_JET)
        tile = cv2.addWeighted(np.ascontiguousarray(canvas[..., ::-1]), 0.55, heat, 0.45, 0.0)
        for b in sample.boxes:
            x1, y1 = int(b.x1 * lb.sx + lb.dx), int(b.y1 * lb.sy + lb.dy)
            x2, y2 = int(b.x2 * lb.sx + lb.dx), int(b.y2 * lb.sy + lb.dy)
            cv2.rectangle(tile, (x1, y1), (x2, y2), CLASS_COLOURS.get(b.label, (40, 40, 40)), 1)
        cv2.putText(tile, f"{names[c]} {score[c]:.2f}", (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
        tiles.append(tile)
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (size + 4) + 4, min(columns, len(tiles)) * (size + 4) + 4, 3), 90, np.uint8)
    for i, t in enumerate(tiles):
        r, k = divmod(i, columns)
        sheet[4 + r * (size + 4) : 4 + r * (size + 4) + size, 4 + k * (size + 4) : 4 + k * (size + 4) + size] = t
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), sheet):
        raise OSError(f"could not write {out}")
    return out


def register(targets: argparse._SubParsersAction) -> None:
    """Add `eval classifier` to the `eval` targets."""
    c = targets.add_parser(
        "classifier",
        help="per-class AP and scan-level ROC of the image-level classifier (train --task classify)",
        description=(
            "eval classifier: run the image-level classifier over every scan of DIR and report AP per class and "
            "their mean (a frame holds class c when it has a box of c), and the scan-level decision (a threat "
            "scan holds any class; its score is the highest class probability): ROC area, the detection rate "
            "at 1, 5 and 10 % false alarms, and the AP at SIXray10-, SIXray100- and SIXray1000-like ratios of "
            "clean to threat scans (--negatives-ratios). A ratio beyond what the set holds is EMULATED by "
            "weighting: each clean scan counts ratio x threat scans / clean scans times (the JSON gives the "
            "weight and says emulated); make sets with many clean scans with `lanewatch synth "
            "--negatives-ratio`. --cam draws class activation maps of the first threat scans."
        ),
        epilog=(
            "example: lanewatch synth --out data/test_neg --count 400 --negatives-ratio 0.9 --seed 96 --quiet\n"
            "         lanewatch eval classifier --weights runs/chr/best.pt --data data/test_neg "
            "--json runs/chr/eval.json --cam runs/chr/cam.png"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("--weights", type=Path, required=True, help="classifier weights (.pt or exported .onnx)")
    c.add_argument("--data", type=Path, required=True, help="dataset folder with ground truth (any layout)")
    c.add_argument("--negatives-ratios", type=positive_ints, default=(10, 100, 1000), metavar="R1,R2",
                   help="clean scans per threat scan for the scan-level AP; beyond what the set holds, emulated by "
                        "weighting the clean scans (default 10,100,1000: SIXray10/100/1000)")
    c.add_argument("--json", type=Path, default=None, help="write every figure here")
    c.add_argument("--cam", type=Path, default=None, metavar="PNG",
                   help="contact sheet of class activation maps of the first threat scans (needs the .pt)")
    c.add_argument("--cam-count", type=positive_int, default=8, help="threat scans on the --cam sheet (default 8)")
    c.add_argument("--batch", type=positive_int, default=16, help="scans per network call (default 16)")
    c.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=run)
