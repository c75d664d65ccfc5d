"""`lanewatch demo`: the whole pipeline on this machine, fed by simulated lanes, with a console and a summary."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from models.shipped import DEFAULT_WEIGHTS
from services.commands.args import frame_size, positive_int

__all__ = ["format_summary", "register", "run"]


def format_summary(s: dict) -> str:
    """The summary as operators read it."""
    lat = s["latency_ms"]
    by_class = ", ".join(f"{k} {v}" for k, v in sorted(s["alerts"]["by_class"].items(), key=lambda kv: -kv[1])) or "none"
    lines = [
        "",
        f"scans in {s['scans_in']}, done {s['scans_done']} (threat scans simulated: {s['threat_scans_in']})",
        f"alerts {s['alerts']['total']}: {by_class}",
        f"dead letters {s['deadletters']}",
        f"latency capture -> outcome: p50 {lat['p50']} ms, p99 {lat['p99']} ms over {lat['count']} scans",
        "",
        f"{'lane':10} {'state':8} {'scans':>6} {'threats':>7} {'clears':>6} {'open alerts':>11}",
    ]
    for lane, st in sorted(s["lanes"].items()):
        c = st["counters"]
        lines.append(f"{lane:10} {st['state']:8} {c['scans']:>6} {c['threats']:>7} {c['clears']:>6} {st['open_alerts']:>11}")
    lines += format_truth(s.get("ground_truth"), s.get("reused_frames", 0))
    if s.get("console"):
        lines.append(f"\nweb console (while the demo ran): {s['console']}")
    lines.append(f"\nservice logs: {s['logs']}")
    return "\n".join(lines)


def format_truth(t: dict | None, reused: int = 0) -> list[str]:
    """The ground-truth table: the system scored against what the simulator put in each bag."""
    if not t:
        return []
    pct = lambda v: "-" if v is None else f"{100 * v:.0f} %"  # noqa: E731
    lines = ["", f"against the simulator's ground truth ({t['threat_bags'] + t['clean_bags']} bags"
             + (f", {reused} of them a frame shown before" if reused else ", every one rendered fresh") + "):",
             f"threat bags {t['threat_bags']}: alarmed {t['alarmed']}, missed {t['missed']} ({pct(t['detection_rate'])} detected); "
             f"clean bags {t['clean_bags']}: alarmed {t['clean_alarmed']} ({pct(t['false_alarm_rate'])} false alarms)",
             f"{'class':10} {'bags':>5} {'alarmed':>8} {'named':>6}"]
    lines += [f"{c:10} {v['bags']:>5} {v['alarmed']:>8} {v['named']:>6}" for c, v in t["per_class"].items()]
    lines.append(f"{'lane':10} {'threat':>6} {'alarmed':>8} {'missed':>7} {'clean':>6} {'false al.':>9}")
    lines += [f"{lane:10} {v['threat_bags']:>6} {v['alarmed']:>8} {v['missed']:>7} {v['clean_bags']:>6} {v['clean_alarmed']:>9}"
              for lane, v in t["per_lane"].items()]
    return lines


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from services.tools.demo import DemoConfig, run_demo

    config = DemoConfig(lanes=args.lanes, duration_s=args.duration, rate=args.rate, size=args.size, seed=args.seed,
                        weights=args.weights, workdir=args.workdir, show=lambda line: print(line, flush=True),
                        console_port=args.console_port, keep=args.keep)
    try:
        summary = run_demo(config)
    except KeyboardInterrupt:
        print("\nlanewatch demo: interrupted; services and stack stopped")
        return 130
    print(format_summary(summary))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"summary: {args.json}")
    return 0 if summary["scans_done"] == summary["scans_in"] else 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    c = sub.add_parser(
        "demo",
        help="run the whole pipeline on simulated lanes and watch the alerts",
        description=(
            "Starts a local Kafka-protocol broker and Redis (unless LANEWATCH_KAFKA_BOOTSTRAP and LANEWATCH_REDIS_URL "
            "are set), the four services as separate processes, and simulated conveyor lanes (each at its own rate, "
            "with bursts and idle gaps). Alerts print as the operator console shows them; at the end a summary gives "
            "scans in and done, alerts by class, dead letters, capture-to-outcome latency p50/p99 and every lane's "
            "status from Redis. Everything it started is stopped when it ends. Exit code 1 when a scan got no outcome."
        ),
        epilog="example: lanewatch demo --lanes 4 --duration 30 --json .demo/summary.json",
    )
    c.add_argument("--lanes", type=positive_int, default=4, help="simulated lanes (default 4)")
    c.add_argument("--duration", type=float, default=30.0, help="seconds of simulated traffic (default 30)")
    c.add_argument("--rate", type=float, default=0.33, help="mean scans per second per lane (default 0.33: a bag every 3 s)")
    c.add_argument("--size", type=frame_size, default=(640, 480), help="simulated frame size WxH (default 640x480)")
    c.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    c.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS,
                   help="detector weights, .onnx with its .pt beside for TDC (default: the shipped ones)")
    c.add_argument("--workdir", type=Path, default=Path(".demo"), help="where service logs go (default .demo)")
    c.add_argument("--json", type=Path, help="also write the summary as JSON here")
    c.add_argument("--console-port", type=int, default=8088,
                   help="serve the operators' web console here during the demo (default 8088; 0: none)")
    c.add_argument("--keep", action="store_true", help="keep the web console and the stack up after the summary, until Ctrl-C")
    c.set_defaults(func=run)
