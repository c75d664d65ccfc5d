"""`lanewatch eval detector`: VOC and COCO metrics of a detector on a dataset (`eval crop` lives in `eval_crop`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models.shipped import DEFAULT_WEIGHTS, require_weights
from services.commands.args import positive_int, ratio

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from tqdm import tqdm

    from models.runtime import load_runtime
    from training.datasets.loader import load_dataset
    from training.evaluation import evaluate, format_table, plot_pr_curves, pr_curves
    from training.evaluation.scan_level import plot_roc, scan_level
    from training.inference import detect_samples

    runtime = load_runtime(require_weights(args.weights))
    classes = runtime.class_names
    samples = load_dataset(args.data)
    # boxes of classes the model does not know cannot be found: leave them out, say so
    unknown = sorted({b.label for s in samples for b in s.boxes} - set(classes))
    if unknown:
        print(f"note: ignoring ground-truth classes the model does not have: {', '.join(unknown)}", file=sys.stderr)
        samples = [s.model_copy(update={"boxes": [b for b in s.boxes if b.label in classes]}) for s in samples]
    with tqdm(total=len(samples), unit="scan", desc="detect", file=sys.stderr, disable=args.quiet) as bar:
        detections = detect_samples(runtime, samples, batch=args.batch, progress=bar.update)
    result = evaluate(samples, detections, classes, score_threshold=args.threshold, iou=0.5)
    result["weights"] = str(args.weights)
    result["data"] = str(args.data)
    policy = _policy(args)
    thresholds = {name: rule.threshold for name in classes if (rule := policy.rule(name)) is not None}
    result["scan_level"] = scan_level(samples, detections, classes, thresholds=thresholds, target_recall=args.target_recall)
    print(format_table(result))
    print(format_scan_level(result["scan_level"]))
    curves_png = args.pr_curves or (args.json.with_suffix(".pr.png") if args.json else None)
    if curves_png:
        plot_pr_curves(pr_curves(samples, detections, classes), curves_png)
        result["pr_curves_png"] = str(curves_png)
    roc_png = args.roc or (args.json.with_suffix(".roc.png") if args.json else None)
    sl = result["scan_level"]
    if roc_png and sl["threat_scans"] and sl["clean_scans"]:
        plot_roc(samples, detections, roc_png, policy_point=(sl["false_alarm_rate"], sl["detection_rate"]),
                 title=f"scan-level ROC, {args.data.name}")
        result["roc_png"] = str(roc_png)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def _policy(args: argparse.Namespace):
    """The alert policy whose thresholds decide a scan's alarm: --policy, else LANEWATCH_ALERT_POLICY, else the shipped one."""
    import os

    from pipeline.alerting import AlertPolicy

    source = args.policy or os.environ.get("LANEWATCH_ALERT_POLICY")
    return AlertPolicy.load(source) if source else AlertPolicy()


def format_scan_level(sl: dict) -> str:
    """Scan-level figures as text lines."""
    pct = lambda v: "-" if v is None else f"{100 * v:.1f} %"  # noqa: E731
    lines = [f"scan level ({sl['threat_scans']} threat scans, {sl['clean_scans']} clean): at the alert policy's "
             f"thresholds detection rate {pct(sl['detection_rate'])}, false-alarm rate {pct(sl['false_alarm_rate'])}"
             + ("" if sl["roc_auc"] is None else f"; ROC area {sl['roc_auc']:.3f}")]
    if "target_recall" in sl:
        t = sl["target"]
        if t is None:
            lines.append(f"no threshold reaches a detection rate of {pct(sl['target_recall'])}")
        else:
            rules = {name: {"threshold": round(t["threshold"], 4), "severity": "high"} for name in sl["policy_thresholds"]}
            lines.append(f"detection rate {pct(sl['target_recall'])}: threshold {t['threshold']:.4f} on every class gives "
                         f"{pct(t['detection_rate'])} detected at {pct(t['false_alarm_rate'])} false alarms; as a policy "
                         f"(keep your severities): LANEWATCH_ALERT_POLICY='{json.dumps({'rules': rules})}'")
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `eval` subcommand with its targets: `detector` here, `crop` and `crop-ablation` from `eval_crop`."""
    from services.commands import eval_ablation, eval_classifier, eval_crop, eval_gate, eval_realism

    e = sub.add_parser(
        "eval",
        help="measure a model or the simulator (eval detector | ablation | gate | crop | crop-ablation | realism)",
        description=("Measure on a labelled dataset: the detector (eval detector), several detectors side by side "
                     "(eval ablation), the scan-level gate's trade-off (eval gate), cropping (eval crop), TDC settings (eval crop-ablation); or how real the "
                     "simulator's scans look (eval realism)."),
        epilog="Run `lanewatch eval TARGET --help` for the options of one target.",
    )
    targets = e.add_subparsers(dest="target", required=True, metavar="TARGET")
    d = targets.add_parser(
        "detector",
        help="VOC and COCO mAP of a detector",
        description=(
            "eval detector: run the detector over every scan of DIR (any format the readers know) and report "
            "VOC07 mAP@0.5 (all-point and 11-point, as SIXray-D and OPIXray report it), COCO mAP@[.5:.95], "
            "mAP@.75 and small/medium/large (pycocotools, as CLCXray reports it), AP per class and per "
            "occlusion level OL1/OL2/OL3, and precision/recall/F1 at the operating threshold. "
            "Scan level, as operators count: the detection rate (threat scans that alarm) and false-alarm rate "
            "(clean scans that alarm) at the alert policy's per-class thresholds, the ROC over one shared "
            "threshold (PNG) and, with --target-recall, the threshold that reaches a detection rate. "
            "The JSON holds map50, map50_11pt, map50_95, per_class, per_occlusion and scan_level; PR curves and "
            "the ROC go to PNGs."
        ),
        epilog="example: lanewatch eval detector --weights models/weights/aspp_yolo_nano.onnx --data data/test --json runs/eval.json",
    )
    d.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS,
                   help="detector weights (.pt or .onnx; default: the shipped ONNX weights)")
    d.add_argument("--data", type=Path, required=True, help="dataset folder with ground truth")
    d.add_argument("--json", type=Path, default=None, help="write the metrics here (PR curves beside it as .pr.png)")
    d.add_argument("--pr-curves", type=Path, default=None, help="PR curve PNG path (default: beside --json)")
    d.add_argument("--threshold", type=ratio, default=0.25, help="operating score threshold for P/R/F1 (default 0.25)")
    d.add_argument("--policy", default=None, metavar="JSON|PATH",
                   help="alert policy (per-class thresholds) for the scan-level detection and false-alarm rates; "
                        "default: LANEWATCH_ALERT_POLICY, else the shipped policy")
    d.add_argument("--target-recall", type=ratio, default=None, metavar="R",
                   help="also find the highest threshold (shared by all classes) whose scan-level detection rate "
                        "reaches R, and print it as an alert policy")
    d.add_argument("--roc", type=Path, default=None, help="scan-level ROC PNG path (default: beside --json)")
    d.add_argument("--batch", type=positive_int, default=8, help="scans per inference batch (default 8)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=run)
    eval_crop.register(targets)
    eval_realism.register(targets)
    eval_ablation.register(targets)
    eval_gate.register(targets)
    eval_classifier.register(targets)
