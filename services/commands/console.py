"""`lanewatch console`: follow alerts live, decide on them, look at the lanes."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register", "run"]

ACTIONS = ("tail", "ack", "clear", "search", "escalate", "reopen", "lanes", "web", "users")


def _settings(*, kafka: bool = True, redis: bool = True):
    """The endpoints, each checked with a short timeout first: a wrong address is one clear line, not a traceback."""
    from pipeline.kafka import kafka_client_config
    from pipeline.reach import check_kafka, check_redis
    from pipeline.settings import CommonSettings
    from services.runner import ServiceSettings
    from services.tools.stack import resolve_endpoints

    settings: CommonSettings = resolve_endpoints(ServiceSettings())
    if kafka and settings.kafka_bootstrap:
        check_kafka(settings.kafka_bootstrap, config=kafka_client_config(settings))
    if redis and settings.redis_url is not None:
        check_redis(settings.redis_url.get_secret_value())
    return settings


def _tail(args: argparse.Namespace) -> int:
    from pipeline.kafka import kafka_client_config
    from services.console import tail_alerts
    from services.runner import Topics

    settings = _settings(redis=False)
    topics = Topics.prefixed(settings.topic_prefix)
    mode = f"group {args.group}" if args.group else "tail mode (no group)"
    print(f"# lanewatch console: alerts on {topics.alerts}, {mode}; Ctrl-C to stop", flush=True)
    try:
        tail_alerts(settings.kafka_bootstrap, topics, group=args.group, lane=args.lane, severity=args.severity,
                    from_beginning=args.from_beginning, limit=args.limit, out=lambda line: print(line, flush=True),
                    kafka_config=kafka_client_config(settings))
    except KeyboardInterrupt:
        pass
    return 0


def _decide(args: argparse.Namespace) -> int:
    from pipeline.kafka import Producer, kafka_client_config
    from pipeline.state import RedisLaneStateStore
    from services.console import send_decision
    from services.runner import Topics

    if not args.alert_id:
        raise ValueError(f"`console {args.action}` needs the alert id, e.g. lanewatch console {args.action} al-... --operator NAME")
    if not args.operator:
        raise ValueError("say who decides: --operator NAME")
    settings = _settings()
    store = RedisLaneStateStore.from_url(settings.redis_url.get_secret_value(), namespace=settings.redis_namespace)
    try:
        with Producer(settings.kafka_bootstrap, client_id="lanewatch-console", **kafka_client_config(settings)) as producer:
            ack = send_decision(producer, args.alert_id, args.action, args.operator, topics=Topics.prefixed(settings.topic_prefix),
                                store=store, note=args.note)
    except KeyError as err:
        raise ValueError(err.args[0]) from None
    finally:
        store.close()
    print(f"{ack.decision} sent for {ack.alert_id} (lane {ack.lane_id}) by {ack.operator}")
    return 0


def _lanes(args: argparse.Namespace) -> int:
    from pipeline.state import RedisLaneStateStore
    from services.console import lane_table

    settings = _settings(kafka=False)
    store = RedisLaneStateStore.from_url(settings.redis_url.get_secret_value(), namespace=settings.redis_namespace)
    try:
        lanes = [s for s in store.lanes() if args.lane is None or s.lane_id == args.lane]
    finally:
        store.close()
    if args.json:
        json.dump([{"lane_id": s.lane_id, "state": s.state, "last_seen": s.last_seen.isoformat() if s.last_seen else None,
                    "last_scan": s.last_scan, "counters": s.counters, "open_alerts": list(s.open_alerts)} for s in lanes],
                  sys.stdout, indent=2)
        print()
    else:
        print(lane_table(lanes))
    return 0


def _web(args: argparse.Namespace) -> int:
    import signal
    import threading

    from pipeline.kafka import kafka_client_config
    from services.runner import Topics
    from services.web.server import WebConsole, lane_deadlines

    settings = _settings()
    web = WebConsole(bootstrap=settings.kafka_bootstrap, redis_url=settings.redis_url.get_secret_value(),
                     topics=Topics.prefixed(settings.topic_prefix), host=args.host, port=args.port,
                     deadline_s=lane_deadlines(args.lane_deadlines, args.deadline_s), lock_s=args.lock_s,
                     from_beginning=args.from_beginning, namespace=settings.redis_namespace,
                     kafka_config=kafka_client_config(settings))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with web:
        users = web.desk.users()
        print(f"lanewatch web console at {web.url} ({len(users)} users; add one with "
              "`lanewatch console users add NAME --role screener`); Ctrl-C to stop", flush=True)
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
    return 0


def _users(args: argparse.Namespace) -> int:
    import getpass
    import os

    from services.web.desk import Desk

    what, name = args.alert_id or "list", args.name
    settings = _settings(kafka=False)
    desk = Desk.from_url(settings.redis_url.get_secret_value(), namespace=settings.redis_namespace)
    try:
        if what == "list":
            for user, role in desk.users():
                print(f"{user:24} {role}")
            return 0
        if not name:
            raise ValueError(f"`console users {what}` needs a user name")
        if what == "add":
            password = os.environ.get("LANEWATCH_CONSOLE_PASSWORD") or getpass.getpass(f"password for {name}: ")
            desk.add_user(name, password, args.role)
            print(f"user {name} ({args.role}) saved")
            return 0
        if what == "remove":
            print(f"user {name} removed" if desk.remove_user(name) else f"no user {name}")
            return 0
        raise ValueError(f"`console users` takes list, add NAME or remove NAME, not {what!r}")
    finally:
        desk.r.close()


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    if args.action == "web":
        return _web(args)
    if args.action == "users":
        return _users(args)
    if args.action == "tail":
        return _tail(args)
    if args.action == "lanes":
        return _lanes(args)
    return _decide(args)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `console` subcommand."""
    c = sub.add_parser(
        "console",
        help="follow alerts live, acknowledge or clear them, show lane status",
        description=(
            "With no action (or `tail`), prints alerts from lanewatch.alerts as they come, each with the command that "
            "answers it. `ack`, `clear` or `escalate ALERT_ID --operator NAME` sends an operator decision to "
            "lanewatch.alerts.acks; the alert service records it in Redis. A settled alert (acked, cleared, searched) "
            "refuses another decision, saying who settled it and when; `reopen ALERT_ID --operator NAME` (a "
            "supervisor's act) opens it again. `lanes` prints every lane's status. "
            "`web` serves the operators' web console (shared queue, review screen with boxes, decisions against a "
            "deadline, live updates, supervisor page); `users add NAME --role ROLE`, `users list`, `users remove NAME` "
            "manage its accounts (the password from LANEWATCH_CONSOLE_PASSWORD, else asked for). "
            "Kafka and Redis come from LANEWATCH_KAFKA_BOOTSTRAP and LANEWATCH_REDIS_URL, or from `lanewatch stack up`."
        ),
        epilog=(
            "examples: lanewatch console --severity high --lane lane-3\n"
            "          lanewatch console ack al-1795270000000-lane-3-17 --operator j.doe --note 'toy gun'\n"
            "          lanewatch console lanes\n"
            "          lanewatch console users add j.doe --role screener\n"
            "          lanewatch console web --port 8088 --deadline-s 45 --lane-deadlines '{\"lane-1\": 20}'"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("action", nargs="?", default="tail", choices=ACTIONS, help="what to do (default: tail)")
    c.add_argument("alert_id", nargs="?", help="the alert to decide on (ack, clear, escalate); for users: list, add, remove")
    c.add_argument("name", nargs="?", help="users add/remove: the user name")
    c.add_argument("--lane", help="only this lane's alerts (tail) or status (lanes)")
    c.add_argument("--severity", choices=("low", "medium", "high", "critical"), help="only alerts at least this severe")
    c.add_argument("--group", help="consume in this consumer group (consoles in one group share alerts); default: tail mode")
    c.add_argument("--from-beginning", action="store_true", help="start with the oldest alert kept, not the next one")
    c.add_argument("--limit", type=int, help="stop after printing this many alerts")
    c.add_argument("--operator", help="who decides (ack, clear, search, escalate)")
    c.add_argument("--note", default="", help="a note kept with the decision")
    c.add_argument("--json", action="store_true", help="lanes as JSON")
    c.add_argument("--role", default="screener", choices=("screener", "supervisor", "admin"), help="users add: the role")
    c.add_argument("--host", default="127.0.0.1", help="web: the address to serve on (default 127.0.0.1)")
    c.add_argument("--port", type=int, default=8088, help="web: the port (default 8088)")
    c.add_argument("--deadline-s", type=float, default=60.0, help="web: seconds an operator has to decide a scan (default 60)")
    c.add_argument("--lane-deadlines", help='web: per-lane deadlines as JSON, e.g. \'{"lane-1": 20, "*": 45}\'')
    c.add_argument("--lock-s", type=float, default=120.0, help="web: a claim lapses after this many idle seconds (default 120)")
    c.set_defaults(func=run)
