"""`lanewatch bench console`: how long an alert takes from the alert service to the operators' screens.

An embedded stack, the alert service as its own process, the web console, and `--consoles` browser pages
(Debian's headless Chromium, each logged in as its own operator, all watching the shared queue). Detection
records for `--lanes` lanes arrive as the detect service would send them (Poisson, `--rate` scans per second
per lane, `--threat-share` of them with a threat above the alert policy's threshold). For every alert and
every page: the time from the alert's `created_at` (the alert service stamps it as it builds the alert,
just before publishing) to the moment that page has the alert in its queue list (the event handled and
the list redrawn, `Date.now()` in the page; one machine, one clock). Runs `--repeat` times; reports each
run's p50/p99/max and, across runs, the median and spread.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import textwrap
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from services.commands.args import positive_float, positive_int
from services.tools.bench.model import machine_info
from services.tools.bench.output import write_json

__all__ = ["measure_once", "register", "run"]

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _detections(lane: str, seq: int, label: str | None):
    from pipeline.messages import Box, Detection, Detections, make_scan_id

    at = datetime.now(UTC)
    found = () if label is None else (Detection(label=label, score=0.9, box=Box(x1=40, y1=60, x2=160, y2=150)),)
    return Detections(scan_id=make_scan_id(lane, seq, at), lane_id=lane, scanner_id="bench", captured_at=at, seq=seq,
                      region_index=0, region_count=1, region=Box(x1=0, y1=0, x2=640, y2=480), detections=found,
                      engine="bench")


def measure_once(*, consoles: int, lanes: int, seconds: float, rate: float, threat_share: float, seed: int,
                 chromium: str, show=print) -> dict[str, Any]:
    """One run on a fresh stack: per (alert, page) latencies in ms, and what was missed."""
    from playwright.sync_api import sync_playwright

    from pipeline.kafka import Producer
    from services.runner import Topics
    from services.tools.demo import DemoConfig, service_env, spawn_service, wait_ready
    from services.tools.stack import Stack
    from services.web.server import WebConsole

    labels = ("gun", "knife", "wrench", "pliers", "scissors")
    prefix = f"bench-console-{uuid.uuid4().hex[:6]}"
    topics = Topics.prefixed(prefix)
    logs = Path(tempfile.mkdtemp(prefix="lanewatch-bench-console-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Stack() as stack:
        env = service_env(stack.kafka_bootstrap, stack.redis_url, prefix, Path("."), {})
        alert = spawn_service("alert", env, logs, prefix)
        try:
            wait_ready({"alert": alert}, DemoConfig(show=lambda line: None))
            with WebConsole(bootstrap=stack.kafka_bootstrap, redis_url=stack.redis_url, topics=topics, port=port,
                            deadline_s=lambda lane: 600.0) as web, sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
                pages = []
                for i in range(consoles):
                    name = f"op{i + 1}"
                    web.desk.add_user(name, "bench-password", "screener")
                    page = browser.new_page(viewport={"width": 1280, "height": 800})
                    page.goto(f"{web.url}/login")
                    page.fill("#user", name)
                    page.fill("#password", "bench-password")
                    page.click("#submit")
                    page.wait_for_selector("#live:text('live')")
                    page.evaluate("window.lw.arrived = {}; const on = window.lw; "
                                  "new MutationObserver(() => { for (const li of document.querySelectorAll('#queue li')) "
                                  "if (!(li.dataset.alertId in on.arrived)) on.arrived[li.dataset.alertId] = Date.now(); })"
                                  ".observe(document.getElementById('queue'), {childList: true});")
                    pages.append(page)
                show(f"# {consoles} consoles open, {lanes} lanes at {rate:g} scans/s each for {seconds:g} s")
                stop = threading.Event()
                sent = {"alerts": 0, "scans": 0}

                def feed() -> None:
                    with Producer(stack.kafka_bootstrap, client_id="bench-console") as producer:
                        gen = np.random.default_rng(seed + 1)
                        seqs = dict.fromkeys(range(lanes), 0)
                        nxt = {lane: time.monotonic() + gen.exponential(1 / rate) for lane in range(lanes)}
                        end = time.monotonic() + seconds
                        while not stop.is_set() and time.monotonic() < end:
                            lane = min(nxt, key=nxt.get)
                            wait = nxt[lane] - time.monotonic()
                            if wait > 0:
                                time.sleep(wait)
                            threat = gen.random() < threat_share
                            label = str(labels[int(gen.integers(len(labels)))]) if threat else None
                            producer.publish(topics.detections, _detections(f"lane-{lane + 1}", seqs[lane], label))
                            producer.flush()
                            seqs[lane] += 1
                            sent["scans"] += 1
                            sent["alerts"] += threat
                            nxt[lane] += gen.exponential(1 / rate)

                feeder = threading.Thread(target=feed, daemon=True)
                feeder.start()
                feeder.join()
                settle = time.monotonic() + 30.0  # every alert reaches the desk (a loaded machine takes longer)
                while len(web.desk.queue()) < sent["alerts"] and time.monotonic() < settle:
                    time.sleep(0.2)
                time.sleep(3.0)  # and then the screens
                created = {item["alert_id"]: datetime.fromisoformat(item["alert"]["created_at"]).timestamp() * 1000
                           for item in web.desk.queue()}
                arrived = [page.evaluate("window.lw.arrived") for page in pages]
                browser.close()
        finally:
            alert.stop()
    latencies = [seen[a] - t for seen in arrived for a, t in created.items() if a in seen]
    missed = sum(a not in seen for seen in arrived for a in created)
    lat = np.array(latencies) if latencies else np.array([np.nan])
    return {"alerts": len(created), "sent_threats": sent["alerts"], "scans": sent["scans"], "samples": len(latencies),
            "missed": missed, "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(np.max(lat))}


def run(args: argparse.Namespace) -> int:
    import shutil

    chromium = shutil.which(args.chromium) or args.chromium
    runs = []
    for i in range(args.repeat):
        r = measure_once(consoles=args.consoles, lanes=args.lanes, seconds=args.seconds, rate=args.rate,
                         threat_share=args.threat_share, seed=args.seed + i, chromium=chromium)
        runs.append(r)
        print(f"run {i + 1}: {r['alerts']} alerts x {args.consoles} consoles = {r['samples']} arrivals "
              f"(missed {r['missed']}): p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, max {r['max_ms']:.0f} ms",
              flush=True)
    summary = {}
    for key in ("p50_ms", "p99_ms", "max_ms"):
        values = [r[key] for r in runs]
        summary[key] = {"median": float(np.median(values)), "min": float(np.min(values)), "max": float(np.max(values))}
    print(f"alert published -> visible in the browser, {args.consoles} consoles, {args.lanes} lanes, median of "
          f"{args.repeat} runs (range): p50 {summary['p50_ms']['median']:.0f} ms "
          f"({summary['p50_ms']['min']:.0f}-{summary['p50_ms']['max']:.0f}), p99 {summary['p99_ms']['median']:.0f} ms "
          f"({summary['p99_ms']['min']:.0f}-{summary['p99_ms']['max']:.0f})")
    if args.json:
        write_json(args.json, {"runs": runs, "summary": summary, "config": {k: v for k, v in vars(args).items()
                                                                               if k not in ("func", "json")},
                               "machine": machine_info()})
    return 0 if all(r["missed"] == 0 for r in runs) else 1


def register(kinds: argparse._SubParsersAction) -> None:
    """Add `bench console`."""
    p = kinds.add_parser(
        "console",
        help="alert published -> visible in the operators' browsers, p50/p99, with many consoles and lanes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(__doc__.split("\n\n", 1)[1].replace("\n", " "), 100),
        epilog="example: lanewatch bench console --consoles 8 --lanes 24 --seconds 45 --repeat 3 --json runs/bench/console.json",
    )
    p.add_argument("--consoles", type=positive_int, default=8, help="browser pages watching the queue (default 8)")
    p.add_argument("--lanes", type=positive_int, default=24, help="lanes sending scans (default 24)")
    p.add_argument("--rate", type=positive_float, default=0.33, help="scans per second per lane (default 0.33)")
    p.add_argument("--threat-share", type=float, default=0.4, help="share of scans raising an alert (default 0.4)")
    p.add_argument("--seconds", type=positive_float, default=45.0, help="seconds of load per run (default 45)")
    p.add_argument("--repeat", type=positive_int, default=3, help="runs, each on a fresh stack (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chromium", default="/usr/bin/chromium", help="the browser (default /usr/bin/chromium)")
    p.add_argument("--json", type=Path, help="write the runs and the summary here")
    p.set_defaults(func=run)

