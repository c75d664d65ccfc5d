"""The ingest service: scanner output in, `lanewatch.scans.raw` records keyed by lane out.

Three ways in, all through `publish_scan`, which checks every payload at the door (size limit, format
by magic bytes, complete structure, frame size from the header, identity fields) and sends rejects to
the dead-letter topic with the reason before telling the caller (`Rejected`):

- `publish_scan(producer, payload, lane_id=..., seq=...)`: the Python API for integrators;
- a watched directory (`LANEWATCH_WATCH_DIR`) where scanners export files: pseudo-colour PNG/JPEG, or
  16-bit raw pairs `<stem>_high.png` + `<stem>_low.png`. A file in a subfolder belongs to the lane the
  subfolder names, one at the top to `LANEWATCH_INGEST_LANE`. Files are taken once they have not
  changed for `settle_s`, then moved to `done/` (or `rejected/`);
- simulated lanes (`LANEWATCH_SIMULATE_LANES=N`): each lane runs at its own rate with bursts and idle
  gaps like a checkpoint (`lane_arrivals`), over a pool of simulator frames (`training.synth`), even
  lanes sending pseudo-colour PNG and odd lanes dual-energy raw, so both forms go end to end.

Ingest also marks each lane seen in Redis (`touch`), so a lane is active from its first scan.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, ValidationError

from pipeline.codec import MAX_PAYLOAD_BYTES, MIN_SIDE, BadPayload, encode_dual, encode_rgb, image_size, sniff_format
from pipeline.kafka import Producer, input_letter
from pipeline.messages import MAX_SIDE, RawScan, Rejected, make_scan_id, source_scan_id
from pipeline.state import LaneStateStore
from services.runner import DEADLETTER_VALUE_BYTES, Out, ServiceSettings, Stage, Topics, event, serve

__all__ = [
    "Gate", "Ingest", "IngestSettings", "IngestStage", "LaneProfile", "SimulatedLanes", "WatchedDirectory", "check_payload",
    "lane_arrivals", "make_stage", "publish_scan", "rejection", "run", "scan_record",
]

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class IngestSettings(ServiceSettings):
    """Sources of the ingest service; any combination runs at once."""

    simulate_lanes: int = Field(0, ge=0, le=256, description="simulated lanes (0: none)")
    simulate_rate: float = Field(1.0, gt=0, description="mean scans per second per simulated lane, bursts included")
    simulate_duration_s: float | None = Field(None, gt=0, description="stop after this long (default: run until stopped)")
    simulate_size: str = Field("640x480", pattern=r"^\d+x\d+$", description="simulated frame size WxH")
    simulate_seed: int = 0
    simulate_threat_share: float = Field(0.4, ge=0, le=1, description="share of simulated scans carrying a threat")
    simulate_pool: int = Field(16, ge=1, description="distinct simulated frames rendered first, reused with new scan ids")
    simulate_fresh: bool = Field(False, description="keep rendering new bags while running (a pool frame again only "
                                                    "when the renderer is behind the lanes)")
    simulate_traffic: Literal["bursty", "poisson"] = Field(
        "bursty", description="bursty: steady spells, bursts and idle gaps like a checkpoint; poisson: a steady "
                              "Poisson process per lane (benchmarks: the offered load is the rate)")
    simulate_count: int | None = Field(None, ge=1, description="stop after publishing this many simulated scans")
    simulate_formats: Literal["mixed", "rgb-png", "dual-png16"] = Field(
        "mixed", description="mixed: even lanes pseudo-colour PNG, odd lanes dual-energy raw; or one form for all")
    watch_dir: Path | None = Field(None, description="folder a scanner exports into")
    ingest_lane: str = Field("lane-1", description="lane of files at the top of the watched folder")
    scanner_id: str = "scanner-1"
    settle_s: float = Field(0.5, ge=0, description="a watched file is taken once unchanged this long")


# ---- the door -----------------------------------------------------------------------------------------------


def check_payload(payload: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> tuple[str, int, int]:
    """(format, width, height) of a scan payload from its headers, without decoding pixels; BadPayload."""
    if len(payload) > max_bytes:
        raise BadPayload(f"payload of {len(payload)} bytes exceeds the {max_bytes}-byte limit")
    fmt = sniff_format(payload)
    w, h = image_size(payload)  # checks the structure: PNG IEND, JPEG frame header, both halves' lengths
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise BadPayload(f"frame {w}x{h} outside {MIN_SIDE}..{MAX_SIDE} pixels a side")
    return fmt, w, h


def scan_record(
    payload: bytes,
    *,
    lane_id: str,
    seq: int,
    scanner_id: str = "scanner-1",
    captured_at: datetime | None = None,
    view: str = "top",
    view_count: int = 1,
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    scan_id: str | None = None,
) -> RawScan:
    """The raw-topic message for one scan view, after the checks at the door; `Rejected` with the reason.

    `scan_id`: the source's identity of the scan (`pipeline.messages.source_scan_id`); by default one derived
    from the lane, sequence number and capture time."""
    captured_at = captured_at or datetime.now(UTC)
    try:
        fmt, w, h = check_payload(payload, max_bytes=max_payload_bytes)
        if captured_at.utcoffset() is None:  # RawScan refuses it anyway; a naive year-1 time's timestamp() raises first
            raise Rejected("RawScan schema: captured_at: Input should have timezone info")
        return RawScan(
            scan_id=scan_id or make_scan_id(lane_id, seq, captured_at), lane_id=lane_id, scanner_id=scanner_id, view=view,
            view_count=view_count, captured_at=captured_at, seq=seq, format=fmt, width=w, height=h,
        )
    except ValidationError as err:
        raise Rejected("RawScan schema: " + "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in err.errors()[:5])) from None


def rejection(payload: bytes, reason: str, *, lane_id: str, source: str, topics: Topics = Topics()) -> Out:
    """The dead letter of input that failed at the door: the scan itself, cut to what a record can carry."""
    kept = payload[:DEADLETTER_VALUE_BYTES]
    if len(kept) < len(payload):
        reason += f" (dead letter keeps the first {len(kept)} of {len(payload)} bytes)"
    return Out(topics.deadletter, input_letter(stage="ingest", reason=reason, source=source, key=lane_id), kept,
               key=lane_id)


def publish_scan(
    producer: Producer,
    payload: bytes,
    *,
    lane_id: str,
    seq: int,
    store: LaneStateStore | None = None,
    topics: Topics = Topics(),
    source: str = "api",
    **fields: Any,
) -> RawScan:
    """Check one scan view and queue it on the raw topic (call `producer.flush()` to wait for the broker).

    A payload or identity that fails the checks (`scan_record`, which takes the other fields) is sent to
    the dead-letter topic (stage "ingest", origin `source`) and raised as `Rejected` with the reason.
    """
    try:
        meta = scan_record(payload, lane_id=lane_id, seq=seq, **fields)
    except Rejected as err:
        letter = rejection(payload, err.reason, lane_id=lane_id, source=source, topics=topics)
        producer.publish(letter.topic, letter.message, letter.payload, key=letter.key)
        raise
    if store is not None:
        store.touch(lane_id=lane_id, scan_id=meta.scan_id, at=meta.captured_at)
    producer.publish(topics.raw, meta, payload)
    return meta


@dataclass
class Gate:
    """The door every source goes through: per-lane sequence numbers, lanes marked seen, counts.

    `admit` turns a payload into the record to publish: the scan on the raw topic, or its dead letter.
    """

    store: LaneStateStore | None
    topics: Topics = field(default_factory=Topics)
    scanner_id: str = "scanner-1"
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    published: Counter = field(default_factory=Counter)  # per lane
    rejected: Counter = field(default_factory=Counter)  # per lane
    _seq: Counter = field(default_factory=Counter)

    def admit(self, payload: bytes, *, lane_id: str, source: str, captured_at: datetime | None = None, **fields) -> Out:
        """The scan's raw record with the lane's next sequence number, or (rejected) its dead letter."""
        try:
            meta = scan_record(payload, lane_id=lane_id, seq=self._seq[lane_id], scanner_id=self.scanner_id,
                               captured_at=captured_at, max_payload_bytes=self.max_payload_bytes, **fields)
        except Rejected as err:
            return self.reject(payload, err.reason, lane_id=lane_id, source=source)
        if self.store is not None:
            self.store.touch(lane_id=lane_id, scan_id=meta.scan_id, at=meta.captured_at)
        self._seq[lane_id] += 1
        self.published[lane_id] += 1
        return Out(self.topics.raw, meta, payload)

    def reject(self, payload: bytes, reason: str, *, lane_id: str, source: str) -> Out:
        """The dead letter of input that cannot become a scan."""
        self.rejected[lane_id] += 1
        return rejection(payload, reason, lane_id=lane_id, source=source, topics=self.topics)


@dataclass
class Ingest:
    """The Python API for integrators: `Gate` around a producer; `publish` returns the scan, or None when rejected."""

    producer: Producer
    store: LaneStateStore | None
    topics: Topics = field(default_factory=Topics)
    gate: Gate = field(init=False)

    def __post_init__(self) -> None:
        self.gate = Gate(self.store, self.topics)

    def publish(self, payload: bytes, *, lane_id: str, source: str, **fields) -> RawScan | None:
        out = self.gate.admit(payload, lane_id=lane_id, source=source, **fields)
        self.producer.publish(out.topic, out.message, out.payload, key=out.key)
        return out.message if isinstance(out.message, RawScan) else None


# ---- simulated lanes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaneProfile:
    """How a lane's traffic comes: steady spells at `rate`, bursts at `burst` x rate, idle gaps with none.

    Spell lengths are exponential with the given means (seconds); spells follow each other at random.
    """

    rate: float  # scans per second in a steady spell
    burst: float = 3.0
    steady_s: float = 8.0
    burst_s: float = 3.0
    idle_s: float = 4.0
    poisson: bool = False  # no spells: one Poisson process at `rate`


def lane_arrivals(rng: np.random.Generator, profile: LaneProfile, duration_s: float) -> list[float]:
    """Arrival times in [0, duration_s) of one lane: a Poisson process whose rate switches between spells."""
    t, out = 0.0, []
    if profile.poisson:
        t = rng.exponential(1 / profile.rate)
        while t < duration_s:
            out.append(float(t))
            t += rng.exponential(1 / profile.rate)
        return out
    state = rng.choice(["steady", "burst", "idle"], p=[0.6, 0.2, 0.2])
    while t < duration_s:
        mean = {"steady": profile.steady_s, "burst": profile.burst_s, "idle": profile.idle_s}[state]
        end = min(duration_s, t + rng.exponential(mean))
        rate = {"steady": profile.rate, "burst": profile.rate * profile.burst, "idle": 0.0}[state]
        if rate > 0:
            s = t + rng.exponential(1 / rate)
            while s < end:
                out.append(float(s))
                s += rng.exponential(1 / rate)
        t = end
        state = rng.choice([x for x in ("steady", "burst", "idle") if x != state])
    return out


@dataclass(frozen=True)
class SimFrame:
    payload: bytes
    threats: tuple[str, ...]  # ground truth labels


class SimulatedLanes:
    """N lanes of simulator frames on their own schedules; iterate `due(now)` for what to send."""

    def __init__(self, lanes: int, *, rate: float, size: tuple[int, int], seed: int = 0, threat_share: float = 0.4,
                 pool: int = 16, traffic: str = "bursty", formats: str = "mixed", fresh: bool = False) -> None:
        from training.synth.scene import SceneConfig, generate_frame

        rng = np.random.default_rng(seed)
        cfg = SceneConfig(width=size[0], height=size[1])
        self.lane_ids = [f"lane-{i + 1}" for i in range(lanes)]

        def render(r: np.random.Generator) -> dict[str, SimFrame]:
            f = generate_frame(r, negative=bool(r.random() >= threat_share), cfg=cfg)
            truth = tuple(b.label for b in f.boxes)
            return {"rgb-png": SimFrame(encode_rgb(f.rgb), truth), "dual-png16": SimFrame(encode_dual(f.high, f.low), truth)}

        frames = [render(rng) for _ in range(pool)]
        self.pools = {form: [f[form] for f in frames] for form in ("rgb-png", "dual-png16")}
        self.rng = rng
        # fresh: a renderer thread keeps new bags coming; a scan takes a new one when there is one, else
        # (the renderer behind the lanes) a pool frame again, counted in `reused`
        self.fresh: deque[dict[str, SimFrame]] = deque(maxlen=64)
        self.reused, self._stop, self._renderer = 0, threading.Event(), None
        if fresh:
            def renderer(r: np.random.Generator) -> None:
                while not self._stop.is_set():
                    if len(self.fresh) < 32:
                        self.fresh.append(render(r))
                    else:
                        self._stop.wait(0.05)

            self._renderer = threading.Thread(target=renderer, args=(np.random.default_rng(seed + 1),), name="sim-render",
                                              daemon=True)
            self._renderer.start()
        # rates differ per lane (a busy airport lane next to a quiet one) around the mean `rate`;
        # the duty cycle of steady/burst/idle spells (8:3:4 s) averages about 1.2x the steady rate
        poisson = traffic == "poisson"
        self.profiles = {lane: LaneProfile(rate=rate * rng.uniform(0.6, 1.4) / (1.0 if poisson else 1.2), poisson=poisson)
                         for lane in self.lane_ids}
        self.formats = formats
        self.t0 = time.monotonic()
        self._heap: list[tuple[float, str]] = []
        self._horizon = 0.0

    def format_of(self, lane_id: str) -> str:
        if self.formats != "mixed":
            return self.formats
        return "rgb-png" if self.lane_ids.index(lane_id) % 2 == 0 else "dual-png16"

    def _extend(self, until: float) -> None:
        # schedules are drawn a minute at a time, so a lane simulated for hours costs nothing up front
        while self._horizon < until:
            for lane, profile in self.profiles.items():
                for t in lane_arrivals(self.rng, profile, 60.0):
                    heapq.heappush(self._heap, (self._horizon + t, lane))
            self._horizon += 60.0

    def next_at(self) -> float:
        """Monotonic time of the next scan."""
        self._extend(time.monotonic() - self.t0 + 1.0)
        return self.t0 + self._heap[0][0]

    def due(self, now: float) -> Iterator[tuple[str, SimFrame]]:
        """(lane, frame) for every scan due by `now`."""
        self._extend(now - self.t0 + 1.0)
        while self._heap and self.t0 + self._heap[0][0] <= now:
            _, lane = heapq.heappop(self._heap)
            form = self.format_of(lane)
            if self.fresh:
                yield lane, self.fresh.popleft()[form]
            else:
                pool = self.pools[form]
                self.reused += 1
                yield lane, pool[int(self.rng.integers(len(pool)))]

    def close(self) -> None:
        # joined, not left to die with the interpreter: a daemon thread still inside the renderer's native
        # code while Python finalises can abort the process (SIGABRT seen in CI)
        self._stop.set()
        if self._renderer is not None:
            self._renderer.join(30)


# ---- watched directory ----------------------------------------------------------------------------------------


class WatchedDirectory:
    """Files a scanner exports into `root` (or `root/<lane>/`); `poll()` yields what is ready to send."""

    def __init__(self, root: Path, *, default_lane: str, settle_s: float = 0.5, pair_timeout_s: float = 30.0) -> None:
        self.root, self.default_lane, self.settle_s, self.pair_timeout_s = Path(root), default_lane, settle_s, pair_timeout_s
        self.root.mkdir(parents=True, exist_ok=True)

    def poll(self, now: float | None = None) -> Iterator[tuple[str, list[Path], bytes | None, str]]:
        """(lane, files, payload or None, reason when None) for each scan ready; move the files with `done`."""
        now = time.time() if now is None else now
        for folder in [self.root, *sorted(p for p in self.root.iterdir() if p.is_dir() and p.name not in ("done", "rejected"))]:
            lane = self.default_lane if folder == self.root else folder.name
            files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            seen: set[Path] = set()
            for path in files:
                try:
                    if path in seen or now - path.stat().st_mtime < self.settle_s:
                        continue
                except FileNotFoundError:  # taken away between the listing and now (another reader, an operator)
                    continue
                stem = path.stem
                if stem.endswith(("_high", "_low")):
                    base = stem.rsplit("_", 1)[0]
                    high, low = (folder / f"{base}_{half}{path.suffix}" for half in ("high", "low"))
                    seen |= {high, low}
                    if not (high.exists() and low.exists()):
                        if now - path.stat().st_mtime > self.pair_timeout_s:
                            missing = low if path == high else high
                            yield lane, [path], None, f"raw pair incomplete: {missing.name} is missing"
                        continue
                    payload, reason = _read_pair(high, low)
                    yield lane, [high, low], payload, reason
                else:
                    yield lane, [path], path.read_bytes(), ""

    def done(self, files: list[Path], *, rejected: bool = False) -> None:
        """Move handled files out of the way (`done/` or `rejected/` beside them), so they are sent once."""
        for f in files:
            target = f.parent / ("rejected" if rejected else "done")
            target.mkdir(exist_ok=True)
            f.replace(target / f.name)


def file_scan_id(scanner_id: str, lane_id: str, files: list[Path], payload: bytes) -> str:
    """A watched file's scan id, from what it is (scanner, lane, file names, the payload read from them) and when it
    was written, never from when it was read: read again after a crash (it moves to done/ only once the broker has
    it), it is the same scan, and the alert service's dedup keeps one outcome and one alert."""
    identity = hashlib.sha256(f"{scanner_id}\0{lane_id}".encode())
    for f in files:
        identity.update(b"\0" + f.name.encode())
    identity.update(b"\0" + payload)  # already read by `poll` (a raw pair: its deterministic encoding)
    written = datetime.fromtimestamp(max(f.stat().st_mtime for f in files), UTC)
    return source_scan_id(lane_id, written, identity.digest())


def _read_pair(high: Path, low: Path) -> tuple[bytes | None, str]:
    arrays = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in (high, low)]
    for p, a in zip((high, low), arrays):
        if a is None:
            return None, f"{p.name} is not a readable image"
        if a.dtype != np.uint16 or a.ndim != 2:
            return None, f"{p.name} must be a 16-bit greyscale image, got {a.dtype} with shape {a.shape}"
    if arrays[0].shape != arrays[1].shape:
        return None, f"{high.name} and {low.name} differ in size"
    return encode_dual(arrays[0], arrays[1]), ""


# ---- the service ------------------------------------------------------------------------------------------------


class IngestStage(Stage):
    """A source on the shared runner: each turn, the simulated scans due and the watched files ready.

    Watched files move to `done/` (or `rejected/`) only once the broker has their records (`flushed`),
    so a crash between sending and moving sends a file again, never loses it.
    """

    name = "ingest"

    def __init__(self, store: LaneStateStore, topics: Topics, *, sim: SimulatedLanes | None = None,
                 watch: WatchedDirectory | None = None, count: int | None = None, duration_s: float | None = None,
                 scanner_id: str = "scanner-1", max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        self.store, self.names, self.sim, self.watch = store, topics, sim, watch
        self.gate = Gate(store, topics, scanner_id, max_payload_bytes)
        self.left = count if count is not None else -1  # simulated scans still to send; -1: no limit
        self.start = time.monotonic()
        self.end = self.start + duration_s if duration_s else float("inf")
        self.threats: Counter = Counter()
        self._sent: list[tuple[list[Path], bool]] = []  # watched files published, not yet on the broker

    def tick(self, now: float) -> list[Out]:
        outs = []
        if self.sim is not None:
            for lane, frame in self.sim.due(now):
                if self.left == 0:
                    break
                self.left -= 1
                outs.append(self._count(self.gate.admit(frame.payload, lane_id=lane, source="simulator")))
                if isinstance(outs[-1].message, RawScan):
                    self.threats[lane] += bool(frame.threats)
                    event(log, "scan", lane_id=lane, scan_id=outs[-1].message.scan_id, format=outs[-1].message.format,
                          truth=list(frame.threats))
        if self.watch is not None:
            for lane, files, payload, reason in self.watch.poll():
                source = f"file:{files[0].name}"
                if payload is None:  # unreadable at all: dead-letter the first file's bytes with the reason
                    data = files[0].read_bytes() if files[0].exists() else b""
                    out = self.gate.reject(data, reason, lane_id=lane, source=source)
                else:
                    out = self.gate.admit(payload, lane_id=lane, source=source, scan_id=file_scan_id(self.gate.scanner_id, lane, files, payload))
                outs.append(self._count(out))
                self._sent.append((files, out.topic != self.names.raw))
        return outs

    def _count(self, out: Out) -> Out:
        if self.metrics is not None and out.topic == self.names.deadletter:
            self.metrics.count_deadletter(self.name, "Rejected")
        return out

    def flushed(self) -> None:
        for files, rejected in self._sent:
            self.watch.done(files, rejected=rejected)
        self._sent.clear()

    def wait_s(self, now: float) -> float:
        return min(self.end, self.sim.next_at() if self.sim else float("inf")) - now

    def finished(self) -> bool:
        return self.left == 0 or time.monotonic() >= self.end

    def health(self) -> tuple[bool, dict[str, Any]]:
        return True, {"lanes": self.sim.lane_ids if self.sim else [],
                      "watch_dir": str(self.watch.root) if self.watch else None}

    def close(self) -> None:
        gate = self.gate
        if self.sim is not None:
            self.sim.close()
        event(log, "ingest done", published=sum(gate.published.values()), rejected=sum(gate.rejected.values()),
              per_lane=dict(gate.published), threat_scans=sum(self.threats.values()),
              reused_frames=self.sim.reused if self.sim else 0, seconds=round(time.monotonic() - self.start, 2))


def make_stage(settings: IngestSettings) -> Callable[[LaneStateStore, Topics], IngestStage]:
    """Build the configured sources (simulated frames are rendered now), then the stage factory."""
    if not settings.simulate_lanes and settings.watch_dir is None:
        raise ValueError("nothing to ingest: set LANEWATCH_SIMULATE_LANES or LANEWATCH_WATCH_DIR")
    sim = None
    if settings.simulate_lanes:
        w, h = (int(v) for v in settings.simulate_size.split("x"))
        sim = SimulatedLanes(settings.simulate_lanes, rate=settings.simulate_rate, size=(w, h), seed=settings.simulate_seed,
                             threat_share=settings.simulate_threat_share, pool=settings.simulate_pool,
                             traffic=settings.simulate_traffic, formats=settings.simulate_formats,
                             fresh=settings.simulate_fresh)
    watch = WatchedDirectory(settings.watch_dir, default_lane=settings.ingest_lane, settle_s=settings.settle_s) if settings.watch_dir else None
    return lambda store, topics: IngestStage(
        store, topics, sim=sim, watch=watch, count=settings.simulate_count, duration_s=settings.simulate_duration_s,
        scanner_id=settings.scanner_id, max_payload_bytes=settings.max_payload_bytes)


def run(settings: IngestSettings, *, stop: threading.Event | None = None, ready=None) -> int:
    """Run the configured sources until stopped (or the simulated scans run out); logs an `ingest done` summary."""
    return serve(make_stage(settings), settings, stop=stop, ready=ready)
