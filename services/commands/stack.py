"""`lanewatch stack up|down|status`: the embedded broker and Redis alone, for running services by hand."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

from services.commands.args import positive_int
from services.tools.stack import STACK_STATE

__all__ = ["register", "run"]


def _up(args: argparse.Namespace) -> int:
    from services.tools.stack import Stack, StackInfo, alive

    if args.state.exists():
        info = StackInfo.load(args.state)
        if alive(info.pid):
            print(f"# already running (pid {info.pid}); `lanewatch stack down` stops it")
            _print_env(info)
            return 0
    workdir = args.state.parent / "stack"
    info = Stack(workdir=workdir, detached=True, brokers=args.brokers).start()
    info.save(args.state)
    print(f"# lanewatch stack up: broker and Redis running (pid {info.pid}, logs in {workdir}); export these:")
    print(f"# (Redis {info.redis_url_for_logs}: the export carries its password, as does {args.state}, mode 0600)")
    _print_env(info)
    return 0


def _down(args: argparse.Namespace) -> int:
    from services.tools.stack import StackInfo, stop_detached

    if not args.state.exists():
        print("lanewatch stack: not running (no state file)")
        return 0
    stopped = stop_detached(StackInfo.load(args.state))
    args.state.unlink()
    print("lanewatch stack: stopped" if stopped else "lanewatch stack: was not running; state file removed")
    return 0


def _status(args: argparse.Namespace) -> int:
    from services.tools.stack import StackInfo, alive

    if not args.state.exists():
        print(json.dumps({"running": False}))
        return 1
    info = StackInfo.load(args.state)
    host, port = info.kafka_bootstrap.split(",")[0].rsplit(":", 1)
    status = {
        "running": alive(info.pid) and alive(info.redis_pid),
        "supervisor_pid": info.pid,
        "redis_pid": info.redis_pid,
        "kafka_bootstrap": info.kafka_bootstrap,
        "kafka_reachable": _reachable(host, int(port)),
        "redis_url": info.redis_url_for_logs,
        "redis_reachable": _redis_answers(info.redis_url),
    }
    print(json.dumps(status))
    return 0 if status["running"] and status["kafka_reachable"] and status["redis_reachable"] else 1


def _print_env(info) -> None:
    for name, value in info.env().items():
        print(f"export {name}={value}")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    return {"up": _up, "down": _down, "status": _status}[args.action](args)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `stack` subcommand."""
    c = sub.add_parser(
        "stack",
        help="start or stop the embedded Kafka-protocol broker and Redis",
        description=(
            "`up` starts a local Kafka-protocol broker (librdkafka's mock cluster) and a Redis server in the "
            "background on free ports and prints the LANEWATCH_* variables that point services at them (Redis "
            "requires a password made per stack, carried in LANEWATCH_REDIS_URL; eval the output, do not log it); `down` "
            "stops them; `status` prints a JSON line and exits 1 when something is not answering. The broker keeps "
            "only about 5 MiB per partition: for local runs, not for production (see infra/)."
        ),
        epilog="example: eval \"$(lanewatch stack up)\" && lanewatch serve ingest; lanewatch stack down",
    )
    c.add_argument("action", choices=("up", "down", "status"), help="what to do")
    c.add_argument("--state", type=Path, default=STACK_STATE,
                   help=f"state file with the pids, addresses and Redis password, mode 0600 (default {STACK_STATE})")
    c.add_argument("--brokers", type=positive_int, default=1, help="mock brokers in the cluster (up only; default 1)")
    c.set_defaults(func=run)
