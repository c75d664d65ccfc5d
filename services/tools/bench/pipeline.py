"""`lanewatch bench pipeline`: the whole embedded stack end to end, against the naive baseline, in one run.

What runs: the embedded Kafka-protocol broker and Redis (or the configured ones), then the crop, detect
and alert services as their own processes (as `lanewatch demo` starts them), fed by `serve ingest` with
simulated lanes. Three phases, each a fresh ingest run over the same services:

1. **saturation**: `--scans` scans published as fast as ingest can; the pipeline drains the backlog at its
   own pace. Sustained scans/s = completions per second between the 10th and the 95th percentile of
   completion times (the ramp-up and the tail left out).
2. **latency**: Poisson lanes offering `--load` (default 50 %) of the sustained rate; capture-to-outcome
   latency p50/p95/p99 from the alert service's `outcome` events (capture = when ingest stamped the scan).
3. **baseline**: crop and detect restarted as the naive detector service would run: whole frames (no
   cropping) letterboxed onto the full square canvas, one frame per inference (`max_batch` 1, no
   delay), same broker, same detector, same transport; its saturation scans/s.

Each phase also reports time per stage (the services' own `lanewatch_stage_latency_seconds` histograms,
scraped from their /metrics before and after, as ms per scan), the detect batch-size histogram, and CPU
use per process (utime + stime from /proc, the broker and Redis included) as CPU-ms per scan: on a
machine where everything shares the cores, that is where the overhead is.

`bare_engine_images_per_s` is the same runtime, input size and batch size as the detect service used,
on full square canvases with all cores, measured in-process before the stack starts and after it
stopped (`services.tools.bench.model`), the better of the two: the ceiling the pipeline's efficiency
(`scans_per_s / bare_engine_images_per_s`) is measured against. lanewatch's canvases are cut to
their bags (`LANEWATCH_TRIM_CANVAS`), so its detector runs fewer pixels per scan than that square.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.runtime.base import usable_cores
from models.shipped import DEFAULT_WEIGHTS, require_weights
from services.commands.args import fraction, frame_size, positive_int, positive_ints
from services.tools.bench.model import machine_info
from services.tools.bench.output import pyplot, save_figure, write_json

__all__ = ["PipelineBench", "register", "run", "run_pipeline_bench"]

CORES = usable_cores()


@dataclass(frozen=True)
class PipelineBench:
    lanes: int = 4
    scans: int = 400
    size: tuple[int, int] = (640, 480)
    weights: Path = DEFAULT_WEIGHTS
    load: float = 0.5
    max_batch: int = 4  # the detect service's defaults (from `lanewatch bench batching`)
    max_delay_ms: float = 20.0
    # one single-threaded detect process per core beat one process with a thread per core (51 against 42
    # scans/s, 4 lanes of 640x480): two ONNX Runtime threads on two shared cores wait for each other
    detect_procs: int = CORES
    threads: int = 1
    formats: str = "mixed"
    crop_method: str = "tdc"
    seed: int = 0
    workdir: Path = Path(".bench")
    latency_scans: int | None = None  # default: half of `scans`
    baseline: bool = True
    lanes_sweep: tuple[int, ...] = ()  # lane counts for the throughput-vs-lanes curve, each at `lane_rate`
    lane_rate: float = 2.0  # scans/s per lane in the sweep
    sweep_seconds: float = 20.0
    start_timeout_s: float = 120.0
    drain_timeout_s: float = 300.0
    show: Callable[[str], object] = print
    extra_env: dict[str, str] = field(default_factory=dict)


# ---- measuring the processes ------------------------------------------------------------------------------------

def _cpu_s(pid: int) -> float:
    """utime + stime of `pid` in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a service's /metrics as {(name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _stage_ms(before: dict, after: dict, scans: int) -> dict[str, float]:
    """ms per scan of every (service, stage) latency histogram, from the difference of two scrapes."""
    out = {}
    for (name, labels), value in after.items():
        if name != "lanewatch_stage_latency_seconds_sum":
            continue
        d = dict(labels)
        if d.get("stage") in ("poll", "capture_to_outcome"):
            continue  # waiting, not work; the latency is reported on its own
        spent = value - before.get((name, labels), 0.0)
        if spent > 0:
            out[f"{d['service']}.{d['stage']}"] = round(1000 * spent / max(scans, 1), 3)
    return dict(sorted(out.items()))


def _batch_histogram(before: dict, after: dict) -> dict[str, int]:
    """Detect batches per size bucket ("<=N": count), from the difference of two scrapes (summed over processes)."""
    cumulative: dict[float, float] = {}
    for (name, labels), value in after.items():
        d = dict(labels)
        if name == "lanewatch_batch_size_bucket" and d.get("service") == "detect":
            le = float(d["le"])
            cumulative[le] = cumulative.get(le, 0.0) + value - before.get((name, labels), 0.0)
    out, prev = {}, 0.0
    for le in sorted(cumulative):
        n = cumulative[le] - prev
        prev = cumulative[le]
        if n > 0:
            out["inf" if le == float("inf") else f"<={int(le)}"] = int(round(n))
    return out


def _merge_scrapes(scrapes: list[dict]) -> dict:
    merged: dict = {}
    for s in scrapes:
        for k, v in s.items():
            merged[k] = merged.get(k, 0.0) + v
    return merged


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "count": 0}
    a = np.asarray(values, np.float64)
    return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1),
            "p99": round(float(np.percentile(a, 99)), 1), "mean": round(float(a.mean()), 1), "count": len(values)}


def _sustained(done_at: list[float]) -> float:
    """Completions per second between the 10th and 95th percentile of completion times."""
    t = np.sort(np.asarray(done_at, np.float64))
    if len(t) < 10:
        return len(t) / max(t[-1] - t[0], 1e-3) if len(t) > 1 else 0.0
    i, j = int(0.10 * len(t)), int(0.95 * len(t)) - 1
    return (j - i) / max(t[j] - t[i], 1e-6)


# ---- one configuration of the services ----------------------------------------------------------------------------

class _Pipeline:
    """crop, detect (x procs) and alert running against one broker and Redis; phases are ingest runs."""

    def __init__(self, name: str, cfg: PipelineBench, env: dict[str, str], detect_env: dict[str, str], logs: Path,
                 prefix: str, stack_pids: list[int]) -> None:
        from services.tools.demo import spawn_service, wait_ready

        self.name, self.cfg, self.env, self.prefix, self.stack_pids = name, cfg, env, prefix, stack_pids
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.services = {}
        for svc in ("alert", *[f"detect-{i}" for i in range(cfg.detect_procs)], "crop"):
            kind = svc.split("-")[0]
            self.services[svc] = spawn_service(kind, {**env, **detect_env} if kind == "detect" else env, logs, prefix,
                                               log_name=svc)
        wait_ready(self.services, cfg)

    def pids(self) -> dict[str, int]:
        return {name: s.proc.pid for name, s in self.services.items()} | {"broker": self.stack_pids[0], "redis": self.stack_pids[1]}

    def phase(self, label: str, *, scans: int, rate_per_lane: float, poisson: bool, lanes: int | None = None) -> dict[str, Any]:
        """Publish `scans` scans from `lanes` lanes at `rate_per_lane` each, wait for their outcomes, and measure."""
        from services.tools.demo import spawn_service

        cfg = self.cfg
        lanes = lanes or cfg.lanes
        alert = self.services["alert"]
        first_event = len(alert.events)
        pids = self.pids()
        cpu0 = {name: _cpu_s(pid) for name, pid in pids.items()}
        scrape0 = {name: _scrape(s.metrics_port) for name, s in self.services.items()}
        w, h = cfg.size
        ingest_env = {**self.env, "LANEWATCH_SIMULATE_LANES": str(lanes), "LANEWATCH_SIMULATE_RATE": f"{rate_per_lane:.6f}",
                      "LANEWATCH_SIMULATE_COUNT": str(scans), "LANEWATCH_SIMULATE_SIZE": f"{w}x{h}",
                      "LANEWATCH_SIMULATE_SEED": str(cfg.seed), "LANEWATCH_SIMULATE_TRAFFIC": "poisson" if poisson else "bursty",
                      "LANEWATCH_SIMULATE_FORMATS": cfg.formats,
                      "LANEWATCH_SIMULATE_DURATION_S": str(scans / max(rate_per_lane * lanes, 1e-6) * 3 + 60)}
        cfg.show(f"# {self.name}/{label}: {scans} scans, {lanes} lanes at {rate_per_lane * lanes:.1f} scans/s offered")
        ingest = spawn_service("ingest", ingest_env, self.logs, self.prefix, log_name=f"ingest-{label}")
        ingest_cpu, ingest_cpu0 = 0.0, None  # counted from its "started" event: making the frame pool is not ingest's work
        try:
            while ingest.proc.poll() is None:
                now_cpu = _cpu_s(ingest.proc.pid)
                if ingest_cpu0 is None and any(e.get("msg") == "started" for e in ingest.events):
                    ingest_cpu0 = now_cpu
                ingest_cpu = max(ingest_cpu, now_cpu - (ingest_cpu0 or 0.0))
                time.sleep(0.05)
        finally:
            ingest.stop()
        done = next((e for e in ingest.events if e.get("msg") == "ingest done"), {})
        published = int(done.get("published", 0))
        ids = {e["scan_id"] for e in ingest.events if e.get("msg") == "scan"}
        deadline = time.monotonic() + cfg.drain_timeout_s
        outcomes: list[dict] = []
        while time.monotonic() < deadline:
            outcomes = [e for e in alert.events[first_event:] if e.get("msg") == "outcome" and e.get("scan_id") in ids]
            if len(outcomes) >= published:
                break
            time.sleep(0.2)
        time.sleep(0.3)  # the last batch's counters reach /metrics
        cpu1 = {name: _cpu_s(pid) for name, pid in pids.items()}
        scrape1 = {name: _scrape(s.metrics_port) for name, s in self.services.items()}
        done_at = [datetime.fromisoformat(e["ts"]).timestamp() for e in outcomes]
        published_at = [datetime.fromisoformat(e["ts"]).timestamp() for e in ingest.events if e.get("msg") == "scan"]
        n = len(outcomes)
        wall = (max(done_at) - min(published_at)) if done_at and published_at else 0.0
        cpu = {name: round(cpu1[name] - cpu0[name], 2) for name in pids} | {"ingest": round(ingest_cpu, 2)}
        cpu_total = sum(cpu.values())
        before, after = _merge_scrapes(list(scrape0.values())), _merge_scrapes(list(scrape1.values()))
        result = {
            "published": published, "completed": n, "incomplete": published - n,
            "lanes": lanes,
            "offered_scans_per_s": round(rate_per_lane * lanes, 2),
            "scans_per_s": round(_sustained(done_at), 2),
            "wall_s": round(wall, 2),
            "latency_ms": _percentiles([float(e["latency_ms"]) for e in outcomes]),
            "latencies_ms": [float(e["latency_ms"]) for e in outcomes],
            "stages": _stage_ms(before, after, n),
            "batch_sizes": _batch_histogram(before, after),
            "cpu_s": cpu,
            "cpu_ms_per_scan": {k: round(1000 * v / max(n, 1), 2) for k, v in cpu.items()},
            "cpu_utilisation": round(cpu_total / max(wall * CORES, 1e-6), 3),
        }
        cfg.show(f"#   {n}/{published} done, {result['scans_per_s']} scans/s sustained, latency p50 "
                 f"{result['latency_ms']['p50']} ms p99 {result['latency_ms']['p99']} ms, CPU {cpu_total:.1f} s")
        return result

    def stop(self) -> dict[str, int | None]:
        return {name: svc.stop() for name, svc in self.services.items()}


# ---- the benchmark ------------------------------------------------------------------------------------------------------

def run_pipeline_bench(cfg: PipelineBench) -> dict[str, Any]:
    """All three phases and the bare engine; returns the summary (see the module docstring)."""
    from pipeline.settings import CommonSettings
    from services.tools.demo import service_env
    from services.tools.stack import Stack

    weights = require_weights(cfg.weights)
    settings = CommonSettings()
    stack = None
    if not settings.embedded:
        raise ValueError("bench pipeline measures the embedded stack: unset LANEWATCH_KAFKA_BOOTSTRAP/LANEWATCH_REDIS_URL")
    bare_before = _bare_engine(cfg)
    stack = Stack()
    info = stack.start()
    cfg.show(f"# embedded stack: broker {info.kafka_bootstrap} (pid {info.pid}), Redis {info.redis_url_for_logs} (pid {info.redis_pid})")
    run_id = uuid.uuid4().hex[:6]
    common = {"LANEWATCH_CROP_THREADS": "1", "OMP_NUM_THREADS": "1", "LANEWATCH_THREADS": str(cfg.threads), **cfg.extra_env}
    prefixes = {"lanewatch": f"bench-{run_id}-lw", "baseline": f"bench-{run_id}-base"}
    lanewatch_env = service_env(info.kafka_bootstrap, info.redis_url, prefixes["lanewatch"], weights,
                                {**common, "LANEWATCH_CROP_METHOD": cfg.crop_method})
    # naive: the whole frame letterboxed onto the full square canvas (not cut to the frame's aspect)
    baseline_env = service_env(info.kafka_bootstrap, info.redis_url, prefixes["baseline"], weights,
                               {**common, "LANEWATCH_CROP_METHOD": "none", "LANEWATCH_TRIM_CANVAS": "false"})
    lanewatch_detect = {"LANEWATCH_MAX_BATCH": str(cfg.max_batch), "LANEWATCH_MAX_DELAY_MS": str(cfg.max_delay_ms)}
    baseline_detect = {"LANEWATCH_MAX_BATCH": "1", "LANEWATCH_MAX_DELAY_MS": "0"}
    workdir = Path(cfg.workdir)
    summary: dict[str, Any] = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()
                                          if k not in ("show", "extra_env")}}
    saturating = 1000.0 / cfg.lanes  # far above what 2 cores serve: ingest publishes as fast as it can
    try:
        lw = _Pipeline("lanewatch", cfg, lanewatch_env, lanewatch_detect, workdir / "logs" / "lanewatch", prefixes["lanewatch"],
                       [info.pid, info.redis_pid])
        try:
            sat = lw.phase("saturation", scans=cfg.scans, rate_per_lane=saturating, poisson=True)
            rate = max(sat["scans_per_s"], 0.1) * cfg.load
            lat = lw.phase("latency", scans=cfg.latency_scans or max(20, cfg.scans // 2), rate_per_lane=rate / cfg.lanes,
                           poisson=True)
            sweep = [lw.phase(f"lanes-{n}", scans=max(4, round(n * cfg.lane_rate * cfg.sweep_seconds)),
                              rate_per_lane=cfg.lane_rate, poisson=True, lanes=n) for n in cfg.lanes_sweep]
        finally:
            lw.stop()
        base = None
        if cfg.baseline:
            bl = _Pipeline("baseline", cfg, baseline_env, baseline_detect, workdir / "logs" / "baseline", prefixes["baseline"],
                           [info.pid, info.redis_pid])
            try:
                base = bl.phase("saturation", scans=cfg.scans, rate_per_lane=saturating, poisson=True)
            finally:
                bl.stop()
    finally:
        stack.stop()
    # the ceiling: the better of two measurements, before and after (a slow spell of a shared machine
    # during one of them must not flatter the efficiency)
    bare_after = _bare_engine(cfg)
    bare = dict(max(bare_before, bare_after, key=lambda b: b["images_per_s"] or 0))
    bare["runs_images_per_s"] = [bare_before["images_per_s"], bare_after["images_per_s"]]
    summary |= {
        "machine": machine_info(),
        "scans_per_s": sat["scans_per_s"],
        "baseline_scans_per_s": None if base is None else base["scans_per_s"],
        "bare_engine_images_per_s": bare["images_per_s"],
        "efficiency": round(sat["scans_per_s"] / bare["images_per_s"], 3) if bare["images_per_s"] else None,
        "speedup_over_baseline": None if not base or not base["scans_per_s"] else round(sat["scans_per_s"] / base["scans_per_s"], 2),
        "latency_ms": {k: lat["latency_ms"][k] for k in ("p50", "p95", "p99", "mean", "count")},
        "latency_load": cfg.load,
        "stages": sat["stages"],
        "batch_sizes": sat["batch_sizes"],
        "cpu_ms_per_scan": sat["cpu_ms_per_scan"],
        "cpu_utilisation": sat["cpu_utilisation"],
        "bare_engine": bare,
        "phases": {"saturation": _without_samples(sat), "latency": _without_samples(lat),
                   "baseline": None if base is None else _without_samples(base)},
        "lanes_sweep": [{k: p[k] for k in ("lanes", "offered_scans_per_s", "scans_per_s", "completed", "latency_ms")}
                        for p in sweep],
    }
    summary["_latencies_ms"] = {"lanewatch": lat["latencies_ms"], "baseline_saturation": base["latencies_ms"] if base else []}
    return summary


def _without_samples(phase: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in phase.items() if k != "latencies_ms"}


def _bare_engine(cfg: PipelineBench) -> dict[str, Any]:
    """The detector alone at the pipeline's runtime, input size and batch size, nothing else running.

    With all the machine's cores (one session, `CORES` threads), whatever the detect processes were
    given: the ceiling is what the machine can do, not what one configuration of it does.
    """
    from models.runtime import load_runtime
    from services.tools.bench.model import bare_engine_throughput

    time.sleep(2.0)  # the services and the stack are gone (or not started): let the machine settle
    runtime = load_runtime(cfg.weights, threads=CORES)
    out = bare_engine_throughput(runtime, cfg.max_batch, iters=40, warmup=5)
    return {"batch": cfg.max_batch, "threads": CORES, "img_size": runtime.img_size, **out}


# ---- plots ---------------------------------------------------------------------------------------------------------------

def plot(summary: dict[str, Any], out: Path) -> Path:
    """Four panels: throughput (against lanes when swept), latency CDF, time per stage, CPU per process."""
    fig, axes = pyplot().subplots(2, 2, figsize=(14, 9.5))
    ax = axes[0][0]
    sweep = summary.get("lanes_sweep") or []
    if sweep:
        lanes = [p["lanes"] for p in sweep]
        ax.plot(lanes, [p["offered_scans_per_s"] for p in sweep], "k:", label="offered")
        ax.plot(lanes, [p["scans_per_s"] for p in sweep], "o-", label="lanewatch, served")
        ax.axhline(summary["scans_per_s"], color="tab:blue", linestyle="--", label="lanewatch, saturated")
        if summary["baseline_scans_per_s"]:
            ax.axhline(summary["baseline_scans_per_s"], color="tab:grey", linestyle="--", label="baseline, saturated")
        ax.set_xlabel("lanes")
        ax.set_ylabel("scans/s")
        ax.set_title("throughput against lanes")
        ax.legend()
    else:
        names = ["lanewatch", "baseline", "bare engine"]
        values = [summary["scans_per_s"], summary["baseline_scans_per_s"] or 0, summary["bare_engine_images_per_s"]]
        ax.bar(names, values, color=["tab:blue", "tab:grey", "tab:green"])
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.1f}", ha="center", va="bottom")
        ax.set_ylabel("scans/s (engine: images/s)")
        ax.set_title(f"sustained throughput, {summary['config']['lanes']} lanes")
    ax = axes[0][1]
    for label, values in summary["_latencies_ms"].items():
        if values:
            v = np.sort(values)
            ax.plot(v, np.arange(1, len(v) + 1) / len(v), label=label)
    ax.axvline(1000, color="red", linestyle=":", label="1 s")
    ax.set_xscale("log")
    ax.set_xlabel("capture to outcome (ms)")
    ax.set_ylabel("share of scans")
    ax.set_title(f"latency CDF at {int(100 * summary['latency_load'])} % load (baseline: saturated)")
    ax.legend()
    phases = {"lanewatch": summary["phases"]["saturation"], "baseline": summary["phases"]["baseline"]}
    for ax, key, title in ((axes[1][0], "stages", "time per stage, ms per scan (saturation)"),
                           (axes[1][1], "cpu_ms_per_scan", "CPU ms per scan by process (saturation)")):
        names = sorted({n for ph in phases.values() if ph for n in ph[key]})
        y = np.arange(len(names))
        for k, (label, ph) in enumerate(phases.items()):
            if ph:
                ax.barh(y + 0.4 * k, [ph[key].get(n, 0) for n in names], height=0.4, label=label)
        ax.set_yticks(y + 0.2, names)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.legend()
    return save_figure(fig, out, dpi=100)


# ---- command ---------------------------------------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> int:
    cfg = PipelineBench(
        lanes=args.lanes, scans=args.scans, size=args.size, weights=args.weights, load=args.load,
        max_batch=args.max_batch, max_delay_ms=args.max_delay_ms, detect_procs=args.detect_procs,
        threads=args.threads, formats=args.formats, crop_method=args.crop, seed=args.seed, workdir=args.workdir,
        baseline=not args.no_baseline, lanes_sweep=args.lanes_sweep, lane_rate=args.lane_rate,
        show=lambda line: print(line, file=sys.stderr, flush=True),
    )
    if args.quick:
        cfg = replace(cfg, scans=min(cfg.scans, 120), latency_scans=40, drain_timeout_s=60.0, sweep_seconds=5.0)
    summary = run_pipeline_bench(cfg)
    if args.plot:
        plot(summary, args.plot)
    public = {k: v for k, v in summary.items() if not k.startswith("_")}
    print(_table(public))
    if args.json:
        write_json(args.json, public)
    return 0


def _table(s: dict[str, Any]) -> str:
    lat = s["latency_ms"]
    rows = [
        ("sustained scans/s (lanewatch)", s["scans_per_s"]),
        ("sustained scans/s (baseline)", s["baseline_scans_per_s"]),
        ("bare engine images/s", s["bare_engine_images_per_s"]),
        ("efficiency (lanewatch / bare)", s["efficiency"]),
        ("speed-up over baseline", s["speedup_over_baseline"]),
        (f"latency p50/p95/p99 ms at {int(100 * s['latency_load'])} % load", f"{lat['p50']} / {lat['p95']} / {lat['p99']}"),
        ("CPU utilisation at saturation", s["cpu_utilisation"]),
    ]
    lines = [f"{k:<44} {v}" for k, v in rows]
    lines += ["stage ms per scan (saturation): " + ", ".join(f"{k} {v}" for k, v in s["stages"].items())]
    lines += ["CPU ms per scan (saturation):   " + ", ".join(f"{k} {v}" for k, v in s["cpu_ms_per_scan"].items())]
    lines += ["detect batch sizes:             " + ", ".join(f"{k}: {v}" for k, v in s["batch_sizes"].items())]
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pipeline",
        help="the whole embedded stack end to end: sustained scans/s, latency, stages, CPU; and the naive baseline",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: lanewatch bench pipeline --lanes 4 --scans 400 --json bench/pipeline.json --plot bench/pipeline.png",
    )
    p.add_argument("--lanes", type=positive_int, default=4, help="simulated lanes (default 4)")
    p.add_argument("--scans", type=positive_int, default=400, help="scans in each saturation phase (default 400)")
    p.add_argument("--size", type=frame_size, default=(640, 480), help="simulated frame size WxH (default 640x480)")
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="detector weights (default: the shipped ones)")
    p.add_argument("--load", type=fraction, default=0.5, help="offered load of the latency phase, share of sustained (default 0.5)")
    p.add_argument("--max-batch", type=positive_int, default=PipelineBench.max_batch,
                   help=f"detect service max_batch (default {PipelineBench.max_batch}, the service's)")
    p.add_argument("--max-delay-ms", type=float, default=PipelineBench.max_delay_ms,
                   help=f"detect service max_delay_ms (default {PipelineBench.max_delay_ms:g}, the service's)")
    p.add_argument("--detect-procs", type=positive_int, default=CORES,
                   help=f"detect service processes in one consumer group (default {CORES}: one per core)")
    p.add_argument("--threads", type=positive_int, default=1, help="inference threads per detect process (default 1)")
    p.add_argument("--formats", choices=("mixed", "rgb-png", "dual-png16"), default="mixed",
                   help="scan forms the lanes send (default mixed: half pseudo-colour PNG, half dual-energy raw)")
    p.add_argument("--crop", choices=("tdc", "canny", "none"), default="tdc", help="lanewatch's crop method (default tdc)")
    p.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    p.add_argument("--no-baseline", action="store_true", help="skip the baseline phase")
    p.add_argument("--lanes-sweep", type=positive_ints, default=(), metavar="N,N,...",
                   help="also run these lane counts at --lane-rate each, for the throughput-against-lanes plot")
    p.add_argument("--lane-rate", type=float, default=2.0, help="scans/s per lane in the sweep (default 2)")
    p.add_argument("--workdir", type=Path, default=Path(".bench"), help="service logs go under WORKDIR/logs (default .bench)")
    p.add_argument("--quick", action="store_true", help="at most 120 scans and 40 for latency: under a minute or two, for CI and spot checks")
    p.add_argument("--json", type=Path, default=None, help="write the summary here")
    p.add_argument("--plot", type=Path, default=None, help="write throughput, latency CDF and CPU-per-scan panels here (PNG)")
    p.set_defaults(func=run)
