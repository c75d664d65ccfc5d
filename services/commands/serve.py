"""`lanewatch serve ingest|crop|detect|alert`: run one service against the configured Kafka and Redis."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from services.commands.args import positive_int

__all__ = ["SERVICES", "register", "run"]

SERVICES = {"ingest": "IngestSettings", "crop": "CropSettings", "detect": "DetectSettings", "alert": "AlertSettings"}


def _overrides(args: argparse.Namespace) -> dict:
    """Command-line options that were given, as settings fields (they win over LANEWATCH_* variables)."""
    fields = {
        "group_id": args.group, "topic_prefix": args.topic_prefix, "metrics_port": args.metrics_port,
        "weights": args.weights, "max_batch": args.max_batch, "max_delay_ms": args.max_delay_ms,
        "simulate_lanes": args.lanes, "simulate_rate": args.rate, "simulate_duration_s": args.duration,
        "simulate_seed": args.seed, "simulate_size": args.size, "watch_dir": args.watch, "ingest_lane": args.lane,
    }
    return {k: v for k, v in fields.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from pydantic import SecretStr

    from services.runner import configure_logging, serve
    from services.tools.stack import resolve_endpoints

    module = importlib.import_module(f"services.{args.service}")
    settings_cls = getattr(module, SERVICES[args.service])
    settings = settings_cls(**{k: v for k, v in _overrides(args).items() if k in settings_cls.model_fields})
    configure_logging(args.service, settings.log_level)
    # services that load weights (crop, detect) load them before a stack starts: bad weights are one line, not a
    # stack started and stopped; ingest's sources are still built after it (its renderer thread needs a close)
    loaded = module.make_stage(settings) if "weights" in settings_cls.model_fields else None
    stack = None
    try:
        settings = resolve_endpoints(settings)
    except ValueError:
        # nothing configured and no `lanewatch stack up` running: bring an embedded stack for this process
        from services.tools.stack import Stack

        stack = Stack()
        info = stack.start()
        print(f"# {args.service}: started an embedded broker and Redis; other services join with:", file=sys.stderr)
        for name, value in info.env().items():
            print(f"export {name}={value}", file=sys.stderr)
        settings = settings.model_copy(update={"kafka_bootstrap": info.kafka_bootstrap, "redis_url": SecretStr(info.redis_url)})
    try:
        return serve(loaded or module.make_stage(settings), settings)
    finally:
        if stack is not None:
            stack.stop()


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `serve` subcommand."""
    c = sub.add_parser(
        "serve",
        help="run one pipeline service (ingest, crop, detect, alert)",
        description=(
            "Runs one service in the foreground until SIGTERM or Ctrl-C (it then finishes and commits what it holds). "
            "Each service is its own Kafka consumer group: start more processes of one service to scale it. "
            "Configuration comes from LANEWATCH_* variables (LANEWATCH_KAFKA_BOOTSTRAP, LANEWATCH_REDIS_URL, "
            "LANEWATCH_WEIGHTS, LANEWATCH_MAX_BATCH, LANEWATCH_ALERT_POLICY, ...); the options below override them. "
            "With neither configured, a running `lanewatch stack up` is used, else an embedded one is started. "
            "Logs are JSON lines on stderr; Prometheus metrics and /healthz on --metrics-port."
        ),
        epilog=(
            "examples: lanewatch serve detect --weights models/weights/aspp_yolo_nano.onnx --max-batch 8 --max-delay-ms 10\n"
            "          lanewatch serve ingest --lanes 4 --rate 1.5          (simulated lanes)\n"
            "          lanewatch serve ingest --watch /srv/scanner-export   (files; subfolders name lanes)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("service", choices=tuple(SERVICES), help="which service")
    c.add_argument("--group", help="consumer group (default lanewatch-<service>)")
    c.add_argument("--topic-prefix", help="prefix of every topic name")
    c.add_argument("--metrics-port", type=int, help="port of /metrics and /healthz (default: a free one, logged)")
    c.add_argument("--weights", type=Path, help="crop, detect: detector weights (.onnx, with its .pt beside for TDC)")
    c.add_argument("--max-batch", type=positive_int, help="detect: regions per inference batch")
    c.add_argument("--max-delay-ms", type=float, help="detect: longest a region waits for its batch to fill")
    c.add_argument("--lanes", type=int, help="ingest: simulated lanes")
    c.add_argument("--rate", type=float, help="ingest: mean scans per second per simulated lane")
    c.add_argument("--duration", type=float, help="ingest: stop simulating after this many seconds")
    c.add_argument("--seed", type=int, help="ingest: simulator seed")
    c.add_argument("--size", help="ingest: simulated frame size WxH (default 640x480)")
    c.add_argument("--watch", type=Path, help="ingest: folder a scanner exports into")
    c.add_argument("--lane", help="ingest: lane of files at the top of --watch")
    c.set_defaults(func=run)
