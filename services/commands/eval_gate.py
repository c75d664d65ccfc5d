"""`lanewatch eval gate`: what the scan-level gate (`LANEWATCH_GATE`) buys in scans/s and costs in missed threats."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from models.shipped import DEFAULT_WEIGHTS
from services.commands.args import positive_int

__all__ = ["gate_table", "register", "run"]


def _thresholds(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err
    if not values or any(not 0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"thresholds must lie in [0, 1], got {text!r}")
    return sorted(values)


def gate_table(gate_scores, alarmed, threat, thresholds, *, gate_s: float, detect_s: float) -> list[dict]:
    """Per gate threshold: scans gated, threat scans it passes as clean that the detector alarmed on, and the
    scans/s of gate-then-detector (``gate_s``, ``detect_s``: seconds per scan of each) vs the detector alone.

    ``gate_scores`` (N,) the classifier's highest class probability per scan; ``alarmed`` (N,) bool the detector's
    alarm at the alert policy; ``threat`` (N,) bool whether the scan holds a threat.
    """
    import numpy as np

    gate_scores, alarmed, threat = (np.asarray(a) for a in (gate_scores, alarmed, threat))
    rows = [{"threshold": None, "gated": 0.0, "threat_scans_missed": 0, "missed_of_caught": 0.0,
             "detection_rate": float(alarmed[threat].mean()) if threat.any() else None,
             "false_alarm_rate": float(alarmed[~threat].mean()) if (~threat).any() else None,
             "scans_per_s": 1.0 / detect_s}]
    for t in thresholds:
        passed = gate_scores >= t
        final = alarmed & passed
        caught = alarmed & threat
        rows.append({
            "threshold": t,
            "gated": float((~passed).mean()),
            "threat_scans_missed": int((caught & ~passed).sum()),
            "missed_of_caught": float((caught & ~passed).sum() / caught.sum()) if caught.any() else 0.0,
            "detection_rate": float(final[threat].mean()) if threat.any() else None,
            "false_alarm_rate": float(final[~threat].mean()) if (~threat).any() else None,
            "scans_per_s": 1.0 / (gate_s + float(passed.mean()) * detect_s),
        })
    return rows


def _per_scan_seconds(fn, frames, repeats: int = 3) -> tuple[float, list[float]]:
    fn(frames[: min(len(frames), 2)])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(frames)
        times.append((time.perf_counter() - start) / len(frames))
    return statistics.median(times), times


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from models.runtime import load_runtime
    from models.runtime.classifier import ScanClassifier
    from models.shipped import require_weights
    from services.commands.evaluate import _policy
    from training.datasets.loader import load_dataset, load_image
    from training.evaluation.scan_level import alarms
    from training.inference import detect_frames, detect_samples

    detector = load_runtime(require_weights(args.weights), threads=args.threads)
    gate = ScanClassifier(require_weights(args.gate, how="--gate"), threads=args.threads)
    classes = detector.class_names
    if tuple(gate.class_names) != tuple(classes):
        print(f"error: the gate scores {list(gate.class_names)}, the detector finds {list(classes)}", file=sys.stderr)
        return 2
    samples = load_dataset(args.data)
    samples = [s.model_copy(update={"boxes": [b for b in s.boxes if b.label in classes]}) for s in samples]
    threat = np.array([bool(s.boxes) for s in samples])
    with tqdm(total=len(samples), unit="scan", desc="detect", file=sys.stderr, disable=args.quiet) as bar:
        dets = detect_samples(detector, samples, batch=args.batch, progress=bar.update)
    policy = _policy(args)
    thresholds = {name: rule.threshold for name in classes if (rule := policy.rule(name)) is not None}
    alarmed = alarms(samples, dets, classes, thresholds)
    scores = []
    with tqdm(total=len(samples), unit="scan", desc="gate", file=sys.stderr, disable=args.quiet) as bar:
        for start in range(0, len(samples), args.batch):
            chunk = samples[start: start + args.batch]
            scores.append(gate.scores([load_image(s, detector.input_format) for s in chunk]).max(axis=1))
            bar.update(len(chunk))
    gate_scores = np.concatenate(scores)
    # speed: the same frames through each, per scan, median of three runs (batches of --batch)
    frames = [load_image(s, detector.input_format) for s in samples[: args.speed_scans]]

    def batched(fn):
        return lambda fs: [fn(fs[i: i + args.batch]) for i in range(0, len(fs), args.batch)]

    gate_s, gate_runs = _per_scan_seconds(batched(gate.scores), frames)
    detect_s, detect_runs = _per_scan_seconds(batched(lambda fs: detect_frames(detector, fs)), frames)
    rows = gate_table(gate_scores, alarmed, threat, args.thresholds, gate_s=gate_s, detect_s=detect_s)
    result = {"weights": str(args.weights), "gate": str(args.gate), "data": str(args.data), "scans": len(samples),
              "threat_scans": int(threat.sum()), "gate_ms_per_scan": 1000 * gate_s,
              "gate_ms_runs": [1000 * t for t in gate_runs], "detect_ms_per_scan": 1000 * detect_s,
              "detect_ms_runs": [1000 * t for t in detect_runs], "threads": args.threads, "rows": rows}
    print(format_gate(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def format_gate(result: dict) -> str:
    pct = lambda v: "-" if v is None else f"{100 * v:.1f} %"  # noqa: E731
    lines = [f"{result['scans']} scans ({result['threat_scans']} with threats); per scan: gate "
             f"{result['gate_ms_per_scan']:.1f} ms, detector {result['detect_ms_per_scan']:.1f} ms "
             f"({result['threads']} threads, median of 3)", "",
             "| gate threshold | scans gated | caught threat scans the gate drops | detection rate | false-alarm rate "
             "| scans/s |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        name = "off" if r["threshold"] is None else f"{r['threshold']:g}"
        lines.append(f"| {name} | {pct(r['gated'])} | {r['threat_scans_missed']} ({pct(r['missed_of_caught'])}) | "
                     f"{pct(r['detection_rate'])} | {pct(r['false_alarm_rate'])} | {r['scans_per_s']:.1f} |")
    return "\n".join(lines)


def register(targets: argparse._SubParsersAction) -> None:
    g = targets.add_parser(
        "gate",
        help="the scan-level gate's trade-off: scans/s bought against threat scans missed, per threshold",
        description=(
            "eval gate: run the detector and the gate classifier (LANEWATCH_GATE) over DIR and, for each gate "
            "threshold, report the scans the gate would pass as clean, the threat scans among them the detector "
            "alone would have alarmed on (the gate's cost), the detection and false-alarm rates of gate-then-"
            "detector at the alert policy, and scans/s of gate-then-detector on this machine (the gate's time "
            "on every scan plus the detector's on those passed; median of three timed runs)."
        ),
        epilog=("example: lanewatch eval gate --gate runs/chr/classifier.onnx --data data/test_scan "
                "--thresholds 0.01,0.02,0.05,0.1 --json runs/eval/gate.json"),
    )
    g.add_argument("--gate", type=Path, required=True, help="the gate classifier (.onnx or .pt from `train --task classify`)")
    g.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="detector weights (default: the shipped ONNX)")
    g.add_argument("--data", type=Path, required=True, help="labelled scans, threats and clean ones")
    g.add_argument("--thresholds", type=_thresholds, default=[0.01, 0.02, 0.05, 0.1, 0.2],
                   help="gate thresholds to try, comma-separated (default 0.01,0.02,0.05,0.1,0.2)")
    g.add_argument("--policy", default=None, metavar="JSON|PATH",
                   help="alert policy for the detector's alarms (default: LANEWATCH_ALERT_POLICY, else the shipped one)")
    g.add_argument("--threads", type=positive_int, default=2, help="threads of each runtime (default 2)")
    g.add_argument("--batch", type=positive_int, default=8, help="scans per batch (default 8)")
    g.add_argument("--speed-scans", type=positive_int, default=32, help="scans in each timed speed run (default 32)")
    g.add_argument("--json", type=Path, default=None, help="write the figures here")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.set_defaults(func=run)
