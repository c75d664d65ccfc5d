"""Helpers for the service tests: a service in a thread, fast group settings, draining topics."""

from __future__ import annotations

import atexit
import io
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from pipeline.kafka import Consumer
from pipeline.messages import Box, Detection, Detections, make_scan_id

# a rebalance on librdkafka's mock waits session_timeout - 1 s (a first join 3 s): keep them short here
FAST = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 300, "poll_ms": 100, "lag_interval_s": 1.0}


def until(predicate: Callable[[], object], timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


def drain(consumer: Consumer, n: int | Callable[[list], bool], timeout_s: float = 20.0, *, settle_s: float = 0.0) -> list:
    """Records until `n` of them came (or `n(records)` holds, or `timeout_s` ran out), then what else arrives
    within `settle_s`."""
    enough = n if callable(n) else (lambda got: len(got) >= n)
    got, deadline = [], time.monotonic() + timeout_s
    while not enough(got) and time.monotonic() < deadline:
        got += consumer.poll_batch(timeout_ms=100)
    end = time.monotonic() + settle_s
    while time.monotonic() < end:
        got += consumer.poll_batch(timeout_ms=100)
    return got


def end_offsets(bootstrap: str, topic: str) -> dict[tuple[str, int], int]:
    """The log end offset of every partition of `topic`."""
    with Consumer(bootstrap, [topic], group_id=None) as c:
        ends = c._consumer.end_offsets(list(c._consumer.assignment()))
    return {(tp.topic, tp.partition): end for tp, end in ends.items()}


@contextmanager
def running(serve_fn: Callable[..., int], *args, **kwargs):
    """Run `serve_fn(*args, stop=..., ready=...)` in a thread; yields (runner, metrics server) once it is up."""
    stop, up, box = threading.Event(), threading.Event(), {}

    def ready(runner, server):
        box["runner"], box["server"] = runner, server
        up.set()

    def target():
        try:
            serve_fn(*args, stop=stop, ready=ready, **kwargs)
        except BaseException as err:  # surfaced by the waiting test
            box["error"] = err
            up.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    up.wait(60)
    if "error" in box:
        raise box["error"]
    try:
        yield box["runner"], box["server"]
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "service did not stop"
        if "error" in box:
            raise box["error"]


NOW = datetime.now(UTC)


def detections(lane: str, seq: int, *, labels=(), score=0.9, index=0, count=1, view="top", view_count=1, at=NOW) -> Detections:
    """A detections record for region `index` of scan (lane, seq), with one box per label."""
    dets = tuple(
        Detection(label=label, score=score, box=Box(x1=10 + 40 * i, y1=20, x2=40 + 40 * i, y2=60))
        for i, label in enumerate(labels)
    )
    return Detections(
        scan_id=make_scan_id(lane, seq, at), lane_id=lane, scanner_id="scanner-1", view=view, view_count=view_count,
        captured_at=at, seq=seq, region_index=index, region_count=count, region=Box(x1=0, y1=0, x2=320, y2=240),
        detections=dets, engine="test",
    )


@lru_cache(maxsize=1)
def tiny_model() -> Path:
    """A real detector, trained for two steps by our own trainer and exported: `<dir>/tiny.onnx` with `tiny.pt` beside
    (TDC reads the backbone from the .pt). It detects nothing reliably; the services only need it real."""
    from services.cli import main
    from training.synth.dataset import SynthJob, synthesize
    from training.synth.scene import SceneConfig
    from training.trainer import TrainConfig, train

    root = Path(tempfile.mkdtemp(prefix="lanewatch-tiny-"))
    atexit.register(shutil.rmtree, root, True)
    synthesize(SynthJob(out=root / "data", count=8, seed=3, scene=SceneConfig(width=320, height=240)))
    weights = train(TrainConfig(data=root / "data", size="nano", epochs=1, img_size=128, out=root / "run", batch=4,
                                max_batches=2, threads=1, progress=False))
    shutil.copy(weights, root / "tiny.pt")
    with redirect_stdout(io.StringIO()):
        assert main(["export", "--weights", str(root / "tiny.pt"), "--out", str(root / "tiny.onnx")]) == 0
    return root / "tiny.onnx"
