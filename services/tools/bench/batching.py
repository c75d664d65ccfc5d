"""`lanewatch bench batching`: choose the detect service's (max_batch, max_delay_ms) by measurement.

Each pair runs the detect service itself in this process: its runner (`services.runner.Runner`, with
the dynamic batcher) turning over its stage (`services.detect.DetectStage`) and the real runtime, with
the consumer and producer in memory. The records come from an open-loop Poisson arrival process: a
thread queues the canvas records the crop service would send (letterboxed simulator frames) at
exponentially spaced times, whatever the service is doing (closed-loop load, where the next request waits
for the last answer, hides queueing and flatters p99). Two phases per pair:

1. saturation: arrivals well above what any pair can serve (3x the bare engine's best images/s); the
   completions per second are the pair's throughput ceiling under batching;
2. latency at load: arrivals at `--load` x the best saturation throughput of all pairs, the same offered
   rate for every pair, so their p50/p99 (arrival to result) compare like for like. Arrivals of the first
   `--warmup-s` are not counted; the queue then drains (results of items still queued when the drain
   time is up count at their age then, as lower bounds, and are reported as `unfinished`).

The recommendation is the pair with the highest saturation throughput whose p99 at the offered load is
within `--latency-budget-ms`, lower p99 breaking ties; throughputs within `--tie-tolerance` of the best
count as tied, because saturation hardly depends on max_delay (batches are always full there) and the
difference between such pairs is noise. Latency here is batching plus inference: Kafka, decoding and the
other stages add to it (`lanewatch bench pipeline` measures those).
"""

from __future__ import annotations

import argparse
import queue
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.shipped import DEFAULT_WEIGHTS
from pipeline.kafka import Inbound
from services.commands.args import fraction, non_negative_floats, positive_float, positive_int, positive_ints
from services.tools.bench.model import (
    RUNTIMES,
    bare_engine_throughput,
    machine_info,
    open_runtime,
    runtime_for,
    simulator_canvases,
)
from services.tools.bench.output import pyplot, save_figure, write_json

__all__ = ["measure_stream", "plot_points", "recommend", "register", "run"]

SATURATION_FACTOR = 3.0  # saturation arrivals: this many times the bare engine's best images/s
POLL_S = 0.2  # the service runner's default poll_ms
MIN_BATCHES = 6  # a saturation phase lasts long enough for this many full batches, however slow they are
# seconds of arrivals per pair: saturation converges fast; a p99 needs a few hundred arrivals
QUICK = {"max_batch": (1, 4, 16), "max_delay_ms": (0.0, 10.0, 40.0), "seconds": 1.0, "load_seconds": 2.0, "warmup_s": 0.3}
FULL = {"max_batch": (1, 2, 4, 8, 16), "max_delay_ms": (0.0, 5.0, 10.0, 20.0, 40.0), "seconds": 2.0, "load_seconds": 5.0,
        "warmup_s": 0.5}
_END = object()


# ---------------------------------------------------------------------------------------------- one stream


def _produce(inbox: queue.Queue, records: Callable[[int], Inbound], arrivals: dict[int, float], *, rate: float,
             start: float, stop_at: float, seed: int, stop: threading.Event) -> None:
    """Put records on `inbox` at Poisson times from `start` to `stop_at`, open loop, then the end mark;
    each record's arrival time goes in `arrivals` under its offset."""
    rng = np.random.default_rng(seed)
    t, i = start, 0
    while True:
        t += rng.exponential(1.0 / rate)
        if t >= stop_at:
            break
        delay = t - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        # scheduled times are absolute: a producer that overslept catches up with a burst, as a lane would
        record = records(i)
        arrivals[i] = time.monotonic()
        inbox.put(record)
        i += 1
    inbox.put(_END)


class _Inbox:
    """The detect service's consumer, in memory: what the arrival thread queued, polled as Kafka would be."""

    def __init__(self, inbox: queue.Queue) -> None:
        self.queue, self.ended = inbox, False

    def poll_batch(self, timeout_ms: int = 500, max_records: int | None = None) -> list[Inbound]:
        room = max_records or 1 << 30
        items: list[Inbound] = []
        try:
            item = self.queue.get(timeout=timeout_ms / 1000) if not self.ended else self.queue.get_nowait()
            while True:
                if item is _END:
                    self.ended = True
                    return items
                items.append(item)
                if len(items) >= room:
                    return items
                item = self.queue.get_nowait()
        except queue.Empty:
            if self.ended and not items:
                time.sleep(timeout_ms / 1000)  # nothing more will arrive: the service would wait out its poll
            return items

    def left(self) -> list[Inbound]:
        out = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return out
            if item is not _END:
                out.append(item)

    def commit_offsets(self, ends: Mapping, **_: Any) -> bool:
        return True

    def lag(self) -> dict:
        return {}

    def close(self) -> None:
        pass


class _Outbox:
    """The detect service's producer, in memory: what it publishes is counted and dropped."""

    def __init__(self) -> None:
        self.published = 0

    def publish(self, topic: str, message: Any, payload: bytes = b"", **_: Any) -> None:
        self.published += 1

    def dead_letter(self, record: Inbound, *, stage: str, reason: str, **_: Any) -> None:
        raise RuntimeError(f"the bench's own canvas was dead-lettered by {stage}: {reason}")

    def flush(self, timeout_s: float | None = None) -> None:
        pass

    def close(self, timeout_s: float | None = None) -> None:
        pass


def canvas_records(canvases: np.ndarray, input_format: str, topic: str) -> Callable[[int], Inbound]:
    """``records(i)``: the i-th record the crop service would send, a canvas of `canvases` (cycled) with its meta."""
    from pipeline.codec import encode_canvas
    from pipeline.messages import Box, CroppedRegion, Placed, encode_meta, make_scan_id

    payloads = [encode_canvas(c) for c in canvases]
    n, h, w = canvases.shape[:3]
    now = datetime.now(UTC)

    def record(i: int) -> Inbound:
        frame = Box(x1=0, y1=0, x2=w, y2=h)
        meta = CroppedRegion(
            scan_id=make_scan_id("lane-1", i, now), lane_id="lane-1", scanner_id="bench", captured_at=now, seq=i,
            format="canvas-u8", width=w, height=h, frame_width=w, frame_height=h, region_index=0, region_count=1,
            box=frame, confidence=1.0, method="tdc", input_format=input_format,
            placements=(Placed(box=frame, scale=1.0, dx=0, dy=0),),
        )
        return Inbound(topic=topic, partition=0, offset=i, key=meta.lane_id, headers=tuple(encode_meta(meta)),
                       value=payloads[i % n], timestamp_ms=0)

    return record


def measure_stream(runtime: Any, canvases: np.ndarray, *, max_batch: int, max_delay_s: float, rate: float,
                   seconds: float, warmup_s: float, drain_s: float, seed: int = 0, conf_threshold: float = 0.05,
                   iou_threshold: float = 0.45) -> dict[str, Any]:
    """Poisson arrivals of canvas records at `rate`/s for `seconds` through the detect service's own runner and
    stage (`services.runner.Runner` turning over `services.detect.DetectStage`, consumer and producer in memory).

    Counted: arrivals after `warmup_s` (latency, ms from arrival to result), and completions and batches
    after `warmup_s` up to the end of arrivals (throughput, mean batch). `drain_s` > 0 keeps serving that
    long after arrivals end so counted items finish; 0 stops at once (saturation, where the backlog is moot).
    """
    from pipeline.metrics import service_metrics
    from services.detect import DetectStage
    from services.runner import Runner, ServiceSettings, Topics

    topics = Topics()
    arrivals: dict[int, float] = {}
    latencies: list[float] = []  # seconds, counted arrivals only
    finished: list[tuple[float, int]] = []  # (done, size) of batches done within the counting window
    start = time.monotonic()
    t_count, t_end = start + warmup_s, start + seconds

    class Timed(DetectStage):  # the service's stage, with the bench's clock on each batch
        def process(self, batch):
            results = super().process(batch)
            done = time.monotonic()
            latencies.extend(done - a for a in (arrivals[env.record.offset] for env in batch) if t_count <= a)
            if t_count <= done <= t_end:
                finished.append((done, len(batch)))
            return results

    stage = Timed(None, topics, runtime=runtime, engine="bench", max_payload_bytes=1 << 30,
                  conf_threshold=conf_threshold, iou_threshold=iou_threshold)
    inbox = _Inbox(queue.Queue())
    settings = ServiceSettings(max_batch=max_batch, max_delay_ms=max_delay_s * 1000, poll_ms=int(POLL_S * 1000),
                               lag_interval_s=3600.0)
    runner = Runner(stage, consumer_factory=lambda **_: inbox, producer=_Outbox(), metrics=service_metrics("detect"),
                    settings=settings, topics=topics)
    stop = threading.Event()
    producer = threading.Thread(target=_produce, args=(inbox.queue, canvas_records(canvases, runtime.input_format,
                                                                                    topics.cropped), arrivals),
                                daemon=True, kwargs={"rate": rate, "start": start, "stop_at": t_end, "seed": seed,
                                                     "stop": stop})
    producer.start()
    hard_stop = t_end + drain_s
    try:
        while time.monotonic() < hard_stop and not (inbox.ended and not len(runner.batcher)):
            runner.turn()
    finally:
        stop.set()
        producer.join()
    ended_at = time.monotonic()
    # what never finished: its age now is a lower bound on its latency
    left = [arrivals[rec.offset] for batch in runner.batcher.flush() for rec in batch]
    left += [arrivals[rec.offset] for rec in inbox.left()]
    unfinished = [ended_at - a for a in left if t_count <= a < t_end]
    lat_ms = 1000 * np.asarray(latencies + unfinished) if latencies or unfinished else np.zeros(1)
    sizes = [n for _, n in finished]
    if len(finished) >= 3:
        # images after the first counted batch over the time from it to the last: no error of a part batch
        # at either end of the window, which at large batches and short phases would be a tenth or more
        rate_done = sum(sizes[1:]) / max(finished[-1][0] - finished[0][0], 1e-9)
    else:
        rate_done = sum(sizes) / max(t_end - t_count, 1e-9)
    return {
        "images_per_s": round(rate_done, 2),
        "mean_batch": round(float(np.mean(sizes)), 2) if sizes else 0.0,
        "p50_ms": round(float(np.percentile(lat_ms, 50)), 2),
        "p99_ms": round(float(np.percentile(lat_ms, 99)), 2),
        "counted": len(latencies) + len(unfinished),
        "unfinished": len(unfinished) if drain_s > 0 else None,
    }


# ---------------------------------------------------------------------------------------------- choosing


def recommend(points: Sequence[Mapping[str, Any]], *, budget_ms: float, tie_tolerance: float = 0.05) -> dict[str, Any]:
    """The pair to ship: highest `saturation_images_per_s` among points with `p99_ms` <= `budget_ms`; lower p99 breaks ties.

    Throughputs within `tie_tolerance` (a fraction) of the best within budget count as tied (0: exact ties
    only). When no point is within budget, the lowest p99 is returned with `within_budget` false.
    """
    if not points:
        raise ValueError("no points to choose from")
    within = [p for p in points if p["p99_ms"] <= budget_ms]
    if within:
        best = max(p["saturation_images_per_s"] for p in within)
        tied = [p for p in within if p["saturation_images_per_s"] >= (1.0 - tie_tolerance) * best]
        choice = min(tied, key=lambda p: (p["p99_ms"], -p["saturation_images_per_s"]))
    else:
        choice = min(points, key=lambda p: (p["p99_ms"], -p["saturation_images_per_s"]))
    return {"max_batch": choice["max_batch"], "max_delay_ms": choice["max_delay_ms"],
            "saturation_images_per_s": choice["saturation_images_per_s"], "p99_ms": choice["p99_ms"],
            "within_budget": bool(within)}


def plot_points(points: Sequence[Mapping[str, Any]], recommended: Mapping[str, Any], *, budget_ms: float,
                offered: float, out: Path) -> Path:
    """Saturation throughput against p99 at the offered load, one line per max_batch."""
    fig, ax = pyplot().subplots(figsize=(8, 5.5))
    for mb in sorted({p["max_batch"] for p in points}):
        line = sorted((p for p in points if p["max_batch"] == mb), key=lambda p: p["max_delay_ms"])
        xs, ys = [p["p99_ms"] for p in line], [p["saturation_images_per_s"] for p in line]
        ax.plot(xs, ys, "o-", label=f"max_batch {mb}")
        for p, x, y in zip(line, xs, ys):
            ax.annotate(f"{p['max_delay_ms']:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    rec = next(p for p in points if (p["max_batch"], p["max_delay_ms"]) == (recommended["max_batch"], recommended["max_delay_ms"]))
    ax.plot([rec["p99_ms"]], [rec["saturation_images_per_s"]], "*", color="black", markersize=16,
            label=f"recommended {rec['max_batch']} / {rec['max_delay_ms']:g} ms")
    ax.axvline(budget_ms, color="red", linestyle="--", linewidth=1, label=f"budget {budget_ms:g} ms")
    p99s = [p["p99_ms"] for p in points]
    if max(p99s) > 20 * max(min(p99s), 1e-3):
        ax.set_xscale("log")
    ax.set_xlabel(f"p99 latency at {offered:.1f} images/s offered, ms (labels: max_delay_ms)")
    ax.set_ylabel("saturation throughput, images/s")
    ax.set_title("dynamic batching: throughput against tail latency")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out)


# ---------------------------------------------------------------------------------------------- command


def _table(points: Sequence[Mapping[str, Any]], recommended: Mapping[str, Any]) -> str:
    head = (f"  {'max_batch':>9}  {'delay ms':>8}  {'sat img/s':>9}  {'sat batch':>9}  {'load img/s':>10}  "
            f"{'p50 ms':>8}  {'p99 ms':>8}  {'batch':>5}  {'counted':>7}  {'unfinished':>10}")
    rows = []
    for p in points:
        mark = "*" if (p["max_batch"], p["max_delay_ms"]) == (recommended["max_batch"], recommended["max_delay_ms"]) else " "
        rows.append(f"{mark} {p['max_batch']:>9}  {p['max_delay_ms']:>8g}  {p['saturation_images_per_s']:>9.1f}  "
                    f"{p['saturation_mean_batch']:>9.2f}  {p['throughput_images_per_s']:>10.1f}  {p['p50_ms']:>8.1f}  "
                    f"{p['p99_ms']:>8.1f}  {p['mean_batch']:>5.2f}  {p['counted']:>7}  {p['unfinished']:>10}")
    return "\n".join([head, *rows])


def run(args: argparse.Namespace) -> int:
    """Run the sweep; returns the exit code."""
    from tqdm import tqdm

    preset = QUICK if args.quick else FULL
    max_batches = args.max_batch or preset["max_batch"]
    delays = args.max_delay_ms or preset["max_delay_ms"]
    seconds = args.seconds or preset["seconds"]
    load_seconds = args.load_seconds or preset["load_seconds"]
    warmup_s = preset["warmup_s"] if args.warmup_s is None else args.warmup_s
    if not 0 <= warmup_s < min(seconds, load_seconds):
        raise ValueError(f"--warmup-s ({warmup_s}) must be shorter than --seconds and --load-seconds")
    name = args.runtime or runtime_for(args.weights)
    runtime = open_runtime(args.weights, runtime=name, threads=args.threads, device=args.device)
    canvases = simulator_canvases(runtime.img_size, runtime.input_format, count=args.frames, seed=args.seed)
    from services.detect import DetectSettings

    conf = DetectSettings.model_fields["conf_threshold"].default
    iou = DetectSettings.model_fields["iou_threshold"].default

    def infer(batch: np.ndarray) -> Any:
        return runtime.detect_canvases(batch, conf_threshold=conf, iou_threshold=iou)

    # every batch shape once, so first-call allocations land in no measurement
    for n in range(1, max(max_batches) + 1):
        infer(canvases[np.arange(n) % len(canvases)])
    bare = [bare_engine_throughput(runtime, b, iters=3 if args.quick else 5, warmup=1, canvases=canvases,
                                   conf_threshold=conf, iou_threshold=iou) for b in max_batches]
    sat_rate = SATURATION_FACTOR * max(r["images_per_s"] for r in bare)
    pairs = [(b, d) for b in max_batches for d in delays]
    points: list[dict[str, Any]] = []
    with tqdm(total=2 * len(pairs), desc="bench batching", unit="phase", file=sys.stderr, disable=args.quiet) as bar:
        for b, d in pairs:
            bar.set_postfix(max_batch=b, delay_ms=d, phase="saturation")
            batch_s = b / max(next(r["images_per_s"] for r in bare if r["batch"] == b), 1e-3)
            sat_s = max(seconds, warmup_s + MIN_BATCHES * batch_s)
            sat = measure_stream(runtime, canvases, max_batch=b, max_delay_s=d / 1000, rate=sat_rate, seconds=sat_s,
                                 warmup_s=warmup_s, drain_s=0.0, seed=args.seed, conf_threshold=conf, iou_threshold=iou)
            points.append({"max_batch": b, "max_delay_ms": d, "saturation_images_per_s": sat["images_per_s"],
                           "saturation_mean_batch": sat["mean_batch"], "saturation_seconds": round(sat_s, 2)})
            bar.update()
        offered = args.load * max(p["saturation_images_per_s"] for p in points)
        if offered <= 0:
            raise ValueError("no pair completed an image at saturation: lengthen --seconds")
        for p in points:
            bar.set_postfix(max_batch=p["max_batch"], delay_ms=p["max_delay_ms"], phase="load")
            at = measure_stream(runtime, canvases, max_batch=p["max_batch"], max_delay_s=p["max_delay_ms"] / 1000,
                                rate=offered, seconds=load_seconds, warmup_s=warmup_s, drain_s=max(load_seconds, 2.0),
                                seed=args.seed + 1, conf_threshold=conf, iou_threshold=iou)
            p.update({"offered_images_per_s": round(offered, 2), "throughput_images_per_s": at["images_per_s"],
                      "p50_ms": at["p50_ms"], "p99_ms": at["p99_ms"], "mean_batch": at["mean_batch"],
                      "counted": at["counted"], "unfinished": at["unfinished"]})
            bar.update()
    chosen = recommend(points, budget_ms=args.latency_budget_ms, tie_tolerance=args.tie_tolerance)
    plot = None
    if args.plot:
        plot = str(plot_points(points, chosen, budget_ms=args.latency_budget_ms, offered=offered, out=args.plot))
    report = {
        "runtime": name, "weights": str(args.weights), "img_size": runtime.img_size, "threads": args.threads,
        "device": args.device, "input_format": runtime.input_format, "machine": machine_info(),
        "seconds": seconds, "load_seconds": load_seconds, "warmup_s": warmup_s, "load": args.load,
        "latency_budget_ms": args.latency_budget_ms, "tie_tolerance": args.tie_tolerance,
        "saturation_offered_images_per_s": round(sat_rate, 2), "offered_images_per_s": round(offered, 2),
        "bare_engine": bare, "points": points, "recommended": chosen, "plot": plot,
    }
    print(f"{name} {args.weights} @ {runtime.img_size}px, threads {args.threads or 'all'}; saturation offered "
          f"{sat_rate:.0f} images/s, latency at {offered:.1f} images/s ({args.load:g} x best saturation)")
    print(_table(points, chosen))
    verdict = "" if chosen["within_budget"] else f" (no pair within the {args.latency_budget_ms:g} ms budget: lowest p99)"
    print(f"recommended{verdict}: LANEWATCH_MAX_BATCH={chosen['max_batch']} LANEWATCH_MAX_DELAY_MS={chosen['max_delay_ms']:g}")
    if args.json:
        write_json(args.json, report)
        print(f"wrote {args.json}")
    if plot:
        print(f"wrote {plot}")
    return 0


def register(kinds: argparse._SubParsersAction) -> None:
    """Add `bench batching`."""
    p = kinds.add_parser(
        "batching",
        help="sweep the dynamic batcher's max_batch x max_delay_ms: throughput and p99, and a recommendation",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "For each (max_batch, max_delay_ms) pair, serve open-loop Poisson arrivals of simulator canvases "
            "through a DynamicBatcher and the real runtime, as the detect service does: first faster than it "
            "can serve (saturation throughput), then at --load x the best saturation throughput, the same "
            "rate for every pair (p50/p99 latency, arrival to result). Recommends the highest-throughput "
            "pair whose p99 is within --latency-budget-ms; set LANEWATCH_MAX_BATCH / LANEWATCH_MAX_DELAY_MS "
            "from it. The full sweep (25 pairs, 2 s + 5 s each) takes about 3-4 minutes; --quick under one.", 100),
        epilog="examples:\n"
               "  lanewatch bench batching --json runs/bench/batching.json --plot runs/bench/batching.png\n"
               "  lanewatch bench batching --quick\n"
               "  lanewatch bench batching --max-batch 4,8 --max-delay-ms 5,10 --load 0.7 --load-seconds 30",
    )
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help=f"detector weights (default {DEFAULT_WEIGHTS})")
    p.add_argument("--runtime", choices=RUNTIMES, default=None, help="inference runtime (default: from the weights suffix)")
    p.add_argument("--max-batch", type=positive_ints, default=None, help="max_batch values (default 1,2,4,8,16; quick 1,4,16)")
    p.add_argument("--max-delay-ms", type=non_negative_floats, default=None,
                   help="max_delay_ms values (default 0,5,10,20,40; quick 0,10,40)")
    p.add_argument("--load", type=fraction, default=0.5,
                   help="offered rate for the latency phase, as a fraction of the best saturation throughput (default 0.5)")
    p.add_argument("--seconds", type=positive_float, default=None,
                   help=f"seconds of arrivals per pair in the saturation phase, at least what {MIN_BATCHES} full "
                        "batches take (default 2; quick 1)")
    p.add_argument("--load-seconds", type=positive_float, default=None,
                   help="seconds of arrivals per pair in the latency phase (default 5; quick 2): "
                        "the p99 rests on the arrivals counted, reported per point")
    p.add_argument("--warmup-s", type=float, default=None,
                   help="seconds at the start of each phase not counted (default 0.5; quick 0.3)")
    p.add_argument("--latency-budget-ms", type=positive_float, default=1000.0,
                   help="p99 the recommendation must stay within (default 1000: alerts reach consoles within a second)")
    p.add_argument("--tie-tolerance", type=float, default=0.05,
                   help="saturation throughputs within this fraction of the best count as tied, lower p99 wins (default 0.05)")
    p.add_argument("--threads", type=positive_int, default=None, help="inference threads (default: all cores)")
    p.add_argument("--device", default=None, help="cpu or cuda[:N] (default: the runtime's)")
    p.add_argument("--frames", type=positive_int, default=8, help="distinct simulator frames cycled as arrivals (default 8)")
    p.add_argument("--seed", type=int, default=0, help="simulator and arrival seed (default 0)")
    p.add_argument("--quick", action="store_true", help="fewer pairs and shorter phases: under a minute")
    p.add_argument("--json", type=Path, default=None, help="write every point and the recommendation here as JSON")
    p.add_argument("--plot", type=Path, default=None, help="write throughput against p99 per pair here (PNG)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
