"""`lanewatch bench fuzz`: every decoder and schema at the door, fuzzed with Hypothesis; crashes must be 0.

The contract at every door: an input either decodes (to what its header announced) or is rejected with a
reason (`pipeline.messages.Rejected`: `BadPayload`, `BadMessage`), and a rejected input is dead-lettered with
that reason by the project's own path (`Producer.dead_letter`, `services.ingest.rejection`). Anything else is
a crash: another exception, a decoded frame of another size than its header says, a dead letter that cannot
be built.

Targets:

- `png`, `jpeg`, `dual-energy`: `decode_scan`, then what the crop stage makes of the scan (`network_image`);
- `canvas`: `decode_canvas`, the detect stage's read of a `canvas-u8` record;
- `lw-meta:<topic>`: a record's headers, key and value opened as a stage opens them (`Inbound.meta`, then
  `Inbound.payload` with the claim-check store); an accepted header must also survive being written again
  (`encode_meta`), else it is counted as `lossy` (not a crash: the next stage dead-letters it);
- `ingest`: the whole door (`Gate.admit`): any payload and identity fields in, a raw record or a dead letter out.

Inputs are mostly mutations of valid seeds written by the project's own encoders: bytes flipped, cut,
spliced, chunk and segment lengths and declared sizes changed (PNG checksums recomputed, so a mutation gets
past them), PNGs built from drawn headers and rows; then random bytes; for headers, mutated and random JSON
and lane ids drawn from the lane pattern. Hypothesis shrinks a crash to a minimal input, kept as hex.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import re
import struct
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from pipeline.codec import CANVAS_MAGIC, DUAL_MAGIC, JPEG_MAGIC, PNG_MAGIC, decode_canvas, decode_scan, encode_canvas, encode_dual, encode_rgb, image_size
from pipeline.frames import network_image
from pipeline.kafka import Inbound, Producer
from pipeline.messages import (
    LANE_PATTERN,
    TOPICS,
    Ack,
    Alert,
    Box,
    CroppedRegion,
    DeadLetter,
    Detection,
    Detections,
    Message,
    Placed,
    RawScan,
    Rejected,
    alert_id_for,
    decode_meta,
    encode_meta,
    make_scan_id,
)
from pipeline.state import MemoryLaneStateStore
from services.commands.args import positive_float, positive_int
from services.ingest import Gate
from services.runner import DEADLETTER_VALUE_BYTES, Out
from services.tools.bench.output import write_json

__all__ = ["Target", "fuzz_target", "register", "run", "targets"]

U32 = (0, 1, 2, 15, 16, 17, 255, 256, 4096, 8192, 8193, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1)
U16 = (0, 1, 2, 3, 15, 16, 17, 255, 256, 4096, 8192, 8193, 65535)
PNG_TYPES = (b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"iCCP", b"zTXt", b"acTL", b"fcTL", b"fdAT")
AT = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


class DoorViolation(AssertionError):
    """A door broke its contract without raising: what it accepted is not what the header announced."""


class Lossy(Exception):
    """An accepted `lw-meta` header that `encode_meta` does not write back as it was read (counted, not a crash)."""


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise DoorViolation(what)


# ---- seeds: valid inputs written by the project's own encoders ------------------------------------------------


def _rgb(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """uint8 (h, w, 3): a gradient with noise, so PNG filters and JPEG blocks both have work."""
    ramp = np.linspace(0, 255, w * h, dtype=np.float32).reshape(h, w, 1)
    return np.clip(ramp + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _exif(orientation: int) -> bytes:
    """A TIFF block with one tag, the EXIF orientation, as cameras write it (6: turn 90 degrees to show)."""
    return b"MM\x00\x2a" + struct.pack(">IHHHIHHI", 8, 1, 0x0112, 3, 1, orientation, 0, 0)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def _seeds() -> dict[str, list[bytes]]:
    rng = np.random.default_rng(7)
    img, tall = _rgb(rng, 40, 24), _rgb(rng, 17, 33)
    cv = lambda ext, a, *p: cv2.imencode(ext, a, list(p))[1].tobytes()  # noqa: E731 - formats the project does not write
    wide = (rng.integers(0, 65536, (20, 32)).astype(np.uint16), rng.integers(1, 65536, (20, 32)).astype(np.uint16))
    jpeg, grey = encode_rgb(img, fmt="rgb-jpeg"), cv(".png", img[..., 0])
    app1 = b"Exif\x00\x00" + _exif(6)
    animation = cv2.Animation()
    animation.frames, animation.durations = [img, tall[:24, :17].repeat(3, 1)[:, :40]], [100, 100]
    return {
        "png": [encode_rgb(img), encode_rgb(tall), grey, cv(".png", np.dstack([img, img[..., :1]])),
                cv(".png", img.astype(np.uint16) * 257), cv(".png", wide[0]),
                grey[:33] + _png_chunk(b"eXIf", _exif(8)) + grey[33:], cv2.imencodeanimation(".png", animation)[1].tobytes()],
        "jpeg": [jpeg, encode_rgb(tall, fmt="rgb-jpeg", jpeg_quality=50),
                 cv(".jpg", img, cv2.IMWRITE_JPEG_PROGRESSIVE, 1), cv(".jpg", img[..., 0]),
                 cv(".jpg", img, cv2.IMWRITE_JPEG_RST_INTERVAL, 2),
                 jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]],
        "dual": [encode_dual(*wide), encode_dual(*(a[:16, :17].copy() for a in wide))],
        "canvas": [encode_canvas(img[:16, :32]), encode_canvas(_rgb(rng, 20, 18))],
    }


def _messages() -> dict[str, list[Message]]:
    """Valid `lw-meta` models per topic: what the mutations start from."""
    ident = dict(scan_id=make_scan_id("lane-1", 7, AT), lane_id="lane-1", scanner_id="scanner-1", captured_at=AT, seq=7)
    box = Box(x1=10, y1=20, x2=110, y2=90)
    region = dict(ident, frame_width=640, frame_height=480, region_index=0, region_count=1, box=box, confidence=0.8,
                  method="tdc")
    found = Detection(label="knife", score=0.9, box=box, view="top")
    out = {
        RawScan: [RawScan(**ident, format="rgb-png", width=640, height=480),
                  RawScan(**ident, format="dual-png16", width=640, height=480, blob_key="b1")],
        CroppedRegion: [CroppedRegion(**region, format="rgb-png", width=100, height=70),
                        CroppedRegion(**region, format="canvas-u8", width=128, height=96, input_format="rgb",
                                      placements=(Placed(box=box, scale=1.2, dx=2, dy=3),))],
        Detections: [Detections(**ident, region_index=0, region_count=1, region=box, detections=(found,),
                                engine="onnxruntime:nano", timings_ms={"infer": 12.5})],
        Alert: [Alert(alert_id=alert_id_for(ident["scan_id"]), **ident, classes=("knife",), detections=(found,),
                      severity="high", created_at=AT, views=("top",))],
        Ack: [Ack(alert_id=alert_id_for(ident["scan_id"]), lane_id="lane-1", decision="clear", operator="op1", at=AT,
                  note="searched")],
        DeadLetter: [DeadLetter(stage="crop", reason="truncated PNG", topic="lanewatch.scans.raw", partition=0, offset=12,
                                key="lane-1", lane_id="lane-1", headers=(("lw-meta", "{}"),), at=AT)],
    }
    return {topic: out[model] for topic, model in TOPICS.items()}


# ---- byte mutations: each takes `draw`, the bytes so far and the seeds, and returns new bytes -------------------


def _at(draw, d: bytes, *, end: bool = False) -> int:
    return draw(st.integers(0, max(len(d) - (0 if end else 1), 0)))


def _int(draw, interesting: tuple[int, ...], bits: int) -> int:
    return draw(st.sampled_from(interesting) | st.integers(0, 2**bits - 1))


def flip(draw, d, seeds):
    if not d:
        return d
    i = _at(draw, d)
    return d[:i] + bytes([d[i] ^ draw(st.integers(1, 255))]) + d[i + 1 :]


def cut(draw, d, seeds):
    return d[: _at(draw, d, end=True)]


def erase(draw, d, seeds):
    i = _at(draw, d)
    return d[:i] + d[i + draw(st.integers(1, 64)) :]


def insert(draw, d, seeds):
    i = _at(draw, d, end=True)
    return d[:i] + draw(st.binary(min_size=1, max_size=32)) + d[i:]


def put_int(draw, d, seeds):
    size = draw(st.sampled_from((4, 2, 1)))
    i = draw(st.integers(0, max(len(d) - size, 0)))
    return d[:i] + _int(draw, U32, 8 * size).to_bytes(4, "big")[-size:] + d[i + size :]


def splice(draw, d, seeds):
    other = draw(st.sampled_from(seeds))
    j, i = _at(draw, other), _at(draw, d, end=True)
    return d[:i] + other[j : j + draw(st.integers(1, 512))] + d[i + draw(st.integers(0, 64)) :]


def cut_keep_end(draw, d, seeds):
    """Truncated, with the last bytes kept: gets past the "ends with IEND / EOI" check."""
    return d[: _at(draw, d, end=True)] + d[-12:]


def _png_chunks(d: bytes) -> list[tuple[int, int]]:
    """(offset, declared length) of each chunk header that fits in `d`."""
    out, at = [], len(PNG_MAGIC)
    while at + 12 <= len(d) and len(out) < 64:
        out.append((at, int.from_bytes(d[at : at + 4], "big")))
        at += 12 + out[-1][1]
    return out


def fix_crcs(d: bytes) -> bytes:
    """Every whole chunk's CRC recomputed, so a mutation reaches the decoder instead of the checksum check."""
    d = bytearray(d)
    for at, n in _png_chunks(d):
        if at + 12 + n <= len(d):
            d[at + 8 + n : at + 12 + n] = zlib.crc32(d[at + 4 : at + 8 + n]).to_bytes(4, "big")
    return bytes(d)


def png_chunk(draw, d, seeds):
    """A chunk's length, type, data or presence changed, or IHDR's fields set to edge values; CRCs fixed."""
    chunks = _png_chunks(d)
    if not chunks:
        return d
    at, n = draw(st.sampled_from(chunks))
    what = draw(st.sampled_from(("ihdr", "length", "type", "data", "field", "drop", "twice")))
    if what == "ihdr" and len(d) >= 29:
        field = draw(st.sampled_from(((16, 4), (20, 4), (24, 1), (25, 1), (26, 1), (27, 1), (28, 1))))
        value = _int(draw, U32 if field[1] == 4 else (0, 1, 2, 3, 4, 6, 7, 8, 16, 255), 8 * field[1])
        d = d[: field[0]] + value.to_bytes(field[1], "big") + d[sum(field) :]
    elif what == "length":
        d = d[:at] + _int(draw, (*U32, max(n - 1, 0), n + 1), 32).to_bytes(4, "big") + d[at + 4 :]
    elif what == "type":
        d = d[: at + 4] + draw(st.sampled_from(PNG_TYPES) | st.binary(min_size=4, max_size=4)) + d[at + 8 :]
    elif what == "data" and n:
        i = at + 8 + draw(st.integers(0, n - 1))
        d = d[:i] + draw(st.binary(min_size=1, max_size=8)) + d[i + 1 :]
    elif what == "field" and n >= 4:  # an aligned u32 of the data: fcTL sizes and offsets, acTL counts, ...
        i = at + 8 + 4 * draw(st.integers(0, n // 4 - 1))
        d = d[:i] + _int(draw, U32, 32).to_bytes(4, "big") + d[i + 4 :]
    elif what in ("drop", "twice"):
        chunk = d[at : at + 12 + n]
        d = d[:at] + (chunk * 2 if what == "twice" else b"") + d[at + 12 + n :]
    return fix_crcs(d)


def _jpeg_segments(d: bytes) -> list[tuple[int, int]]:
    """(offset, marker) of each marker segment up to the start of scan."""
    out, i = [], 2
    while i + 4 <= len(d) and d[i] == 0xFF and len(out) < 32:
        out.append((i, d[i + 1]))
        if d[i + 1] == 0xDA:
            break
        i += 2 + int.from_bytes(d[i + 2 : i + 4], "big")
    return out


def jpeg_segment(draw, d, seeds):
    """A segment's length, marker or presence changed, or the frame header's precision, size or components."""
    segments = _jpeg_segments(d)
    if not segments:
        return d
    sofs = [s for s in segments if 0xC0 <= s[1] <= 0xCF and s[1] not in (0xC4, 0xC8, 0xCC)]
    what = draw(st.sampled_from(("sof", "length", "marker", "drop", "twice") if sofs else ("length", "marker", "drop")))
    at, marker = draw(st.sampled_from(sofs if what == "sof" else segments))
    n = int.from_bytes(d[at + 2 : at + 4], "big")
    if what == "sof":
        field = draw(st.sampled_from(((4, 1), (5, 2), (7, 2), (9, 1))))  # precision, height, width, components
        value = _int(draw, U16 if field[1] == 2 else (0, 1, 3, 4, 8, 12, 16, 255), 8 * field[1])
        return d[: at + field[0]] + value.to_bytes(field[1], "big") + d[at + sum(field) :]
    if what == "length":
        return d[: at + 2] + _int(draw, (*U16, max(n - 1, 0), n + 1), 16).to_bytes(2, "big") + d[at + 4 :]
    if what == "marker":
        return d[: at + 1] + bytes([draw(st.integers(0, 255))]) + d[at + 2 :]
    seg = d[at : at + 2 + n]
    return d[:at] + (seg * 2 if what == "twice" else b"") + d[at + 2 + n :]


def _halves(d: bytes) -> tuple[bytes, bytes] | None:
    try:
        (n,) = struct.unpack_from(">I", d, 4)
        (m,) = struct.unpack_from(">I", d, 8 + n)
    except struct.error:
        return None
    return d[8 : 8 + n], d[12 + n : 12 + n + m]


def dual_half(draw, d, seeds):
    """One half of the pair mutated as a PNG (lengths kept right), swapped, or taken from another pair or an 8-bit PNG."""
    halves = _halves(d)
    if halves is None or not d.startswith(DUAL_MAGIC):
        return d
    high, low = halves
    what = draw(st.sampled_from(("png", "swap", "other")))
    if what == "png":
        i = draw(st.integers(0, 1))
        op = draw(st.sampled_from((png_chunk, flip, cut_keep_end, put_int)))
        high, low = (op(draw, h, seeds) if k == i else h for k, h in enumerate(halves))
    elif what == "swap":
        high, low = low, high
    else:
        other = draw(st.sampled_from([*seeds, encode_rgb(np.zeros((20, 32, 3), np.uint8))]))
        part = (_halves(other) or (other, other))[draw(st.integers(0, 1))] if other.startswith(DUAL_MAGIC) else other
        high, low = (part, low) if draw(st.booleans()) else (high, part)
    return DUAL_MAGIC + b"".join(struct.pack(">I", len(h)) + h for h in (high, low))


def canvas_header(draw, d, seeds):
    """Height, width or channels changed; the pixels then cut or padded to match the new header, or not."""
    h, w, c = _int(draw, U16, 16), _int(draw, U16, 16), draw(st.sampled_from((3, 0, 1, 4, 255)))
    body = d[9:]
    need = h * w * c
    if draw(st.booleans()) and need <= 4 * 2**20:
        body = (body * (need // max(len(body), 1) + 1))[:need]
    return CANVAS_MAGIC + struct.pack(">HHB", h, w, c) + body


@st.composite
def built_png(draw) -> bytes:
    """A PNG assembled from drawn parts: IHDR fields (edge values included), palette, rows of the right length
    or not, IDAT split in pieces; checksums right, so libspng, libpng and OpenCV see the content itself."""
    w, h = (draw(st.integers(16, 40) | st.sampled_from(U32)) for _ in range(2))
    depth, colour = draw(st.sampled_from(((8, 2), (8, 0), (16, 2), (16, 0), (8, 6), (8, 3), (4, 3), (1, 0), (8, 4), (16, 6)))
                         | st.tuples(st.integers(0, 255), st.integers(0, 255)))
    interlace = draw(st.sampled_from((0, 1, 2)))
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 3)
    row = (min(w, 64) * channels * depth + 7) // 8 + 1
    rows = min(h, 48) + draw(st.integers(-2, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    raw = rng.integers(0, 256, row * max(rows, 0), dtype=np.uint8)
    raw[::row] = draw(st.sampled_from((0, 1, 2, 3, 4, 5, 255)))  # filter type of every row
    data = zlib.compress(raw.tobytes(), 1)
    data = data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data
    parts = draw(st.integers(1, 3))
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace))]
    if draw(st.booleans()):
        chunks.append((b"PLTE", bytes(3 * draw(st.integers(0, 257)))))
    step = len(data) // parts + 1
    chunks += [(b"IDAT", data[i : i + step]) for i in range(0, len(data), step)] + [(b"IEND", b"")]
    return PNG_MAGIC + b"".join(struct.pack(">I", len(b)) + t + b + zlib.crc32(t + b).to_bytes(4, "big") for t, b in chunks)


GENERIC = (flip, cut, erase, insert, put_int, splice, cut_keep_end)
FORMAT_OPS = {"png": (png_chunk, png_chunk, fix_crcs), "jpeg": (jpeg_segment, jpeg_segment),
              "dual": (dual_half, dual_half), "canvas": (canvas_header, canvas_header)}
MAGIC = {"png": PNG_MAGIC, "jpeg": JPEG_MAGIC, "dual": DUAL_MAGIC, "canvas": CANVAS_MAGIC}


def mutated(seeds: list[bytes], ops: tuple[Callable, ...], *, max_ops: int = 4) -> st.SearchStrategy[bytes]:
    """A seed with up to `max_ops` mutations drawn from `ops`, applied in turn."""
    @st.composite
    def draw_one(draw) -> bytes:
        d = draw(st.sampled_from(seeds))
        for _ in range(draw(st.integers(0, max_ops))):
            op = draw(st.sampled_from(ops))
            d = op(draw, d, seeds) if op is not fix_crcs else fix_crcs(d)
        return d

    return draw_one()


def scan_bytes(kind: str, seeds: dict[str, list[bytes]]) -> st.SearchStrategy[bytes]:
    """Payload bytes for one format: mutated seeds (mostly), the magic and random bytes, random bytes."""
    ops = FORMAT_OPS[kind] + GENERIC
    built = [built_png()] if kind == "png" else []
    return st.one_of(mutated(seeds[kind], ops), *built, st.binary(max_size=64).map(MAGIC[kind].__add__),
                     st.binary(max_size=256))


# ---- lw-meta: JSON mutated by path, random JSON, random bytes ------------------------------------------------

EDGE_TEXT = st.sampled_from(("", " ", "x" * 129, "x" * 2001, "2024-05-01T08:30:00", "2024-05-01T08:30:00+14:00",
                             "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "canvas-u8", "rgb-png", "dual",
                             "NaN", "\x00", "\ud800"))
JSON_LEAF = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.sampled_from((0, -1, 1, 2, 8192, 8193, float("inf"), float("nan")))
             | st.floats() | st.text(max_size=24) | st.from_regex(LANE_PATTERN) | EDGE_TEXT)
JSON = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                    max_leaves=8)


def _slots(doc: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every value inside a JSON document."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield doc, key
        yield from _slots(value)


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def mutated_json(draw, docs: list[dict]) -> bytes:
    """A valid document with up to 4 values set to drawn JSON, dropped, or added to."""
    doc = copy.deepcopy(draw(st.sampled_from(docs)))
    for _ in range(draw(st.integers(1, 4))):
        slots = list(_slots(doc))
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        what = draw(st.sampled_from(("set", "drop", "add")))
        if what == "set":
            container[key] = draw(JSON)
        elif what == "drop":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.text(max_size=10))] = draw(JSON)
        else:
            container.append(draw(JSON))
    return _dumps(doc)


def meta_headers(messages: list[Message]) -> st.SearchStrategy[dict]:
    """A record as a consumer sees it: key, headers (none, one or two `lw-meta`, others) and value."""
    valid = [encode_meta(m)[0][1] for m in messages]
    docs = [json.loads(v) for v in valid]
    value = st.one_of(mutated_json(docs), mutated(valid, GENERIC), JSON.map(_dumps), st.binary(max_size=64), st.none())
    header = st.tuples(st.just("lw-meta"), value) | st.tuples(st.text(max_size=12), st.binary(max_size=16) | st.none())
    return st.fixed_dictionaries({
        "headers": st.lists(header, min_size=0, max_size=3) | header.map(lambda h: [h]),
        "key": st.none() | st.from_regex(LANE_PATTERN) | st.text(max_size=70),
        "value": st.sampled_from((b"", b"\x89PNG")) | st.binary(max_size=32),
    })


# ---- the targets ---------------------------------------------------------------------------------------------


class _Sink(Producer):
    """The project's dead-letter path (`Producer.dead_letter`) with the broker left out: records are kept."""

    def __init__(self) -> None:  # no KafkaProducer: nothing here talks to a broker
        self.sent: list[Out] = []

    def publish(self, topic: str, message: Message, payload: bytes = b"", *, key: str | None = None) -> None:
        self.sent.append(Out(topic, message, payload, key))


def _dead_lettered(record: Inbound, reason: str) -> str:
    """Dead-letter `record` as the runner does and check the letter; returns its reason."""
    _expect(bool(reason.strip()), "rejected without a reason")  # `dead_letter` would write "unspecified"
    sink = _Sink()
    sink.dead_letter(record, stage="fuzz", reason=reason)
    (out,) = sink.sent
    _expect(isinstance(out.message, DeadLetter) and bool(out.message.reason) and out.payload == record.value,
            "the dead letter lost the reason or the bytes")
    return out.message.reason


def _record(topic: str, value: bytes, headers=(), key: str | None = "lane-1") -> Inbound:
    return Inbound(topic=topic, partition=0, offset=0, key=key, headers=tuple(headers), value=value, timestamp_ms=0)


@dataclass(frozen=True)
class Target:
    """One door: how its inputs are drawn, and `check`, which returns None (accepted) or the dead letter's reason
    (rejected), and raises on a crash."""

    name: str
    inputs: st.SearchStrategy
    check: Callable[[Any], str | None]


def _scan_target(name: str, kind: str, seeds: dict[str, list[bytes]], raw_meta: RawScan) -> Target:
    headers = encode_meta(raw_meta)

    def check(data: bytes) -> str | None:
        try:
            scan = decode_scan(data)
            modes = {"rgb": network_image(scan, "rgb")}
            if scan.high is not None:
                modes["dual"] = network_image(scan, "dual")
        except Rejected as err:
            return _dead_lettered(_record("lanewatch.scans.raw", data, headers), err.reason)
        w, h = image_size(data)
        _expect(scan.size == (w, h), f"header says {w}x{h}, decoded {scan.size[0]}x{scan.size[1]}")
        for mode, image in modes.items():
            _expect(image.dtype == np.uint8 and image.shape == (h, w, 3), f"{mode} input {image.dtype} {image.shape}")
        return None

    return Target(name, scan_bytes(kind, seeds), check)


def _canvas_target(seeds: dict[str, list[bytes]]) -> Target:
    def check(case: tuple[bytes, tuple[int, int] | None]) -> str | None:
        data, size = case
        try:
            canvas = decode_canvas(data, expect_size=size)
        except Rejected as err:
            return _dead_lettered(_record("lanewatch.scans.cropped", data), err.reason)
        _, h, w, c = struct.unpack_from(">4sHHB", data)
        _expect(canvas.shape == (h, w, 3) and canvas.dtype == np.uint8, f"header {w}x{h}x{c}, canvas {canvas.shape}")
        return None

    sizes = st.none() | st.sampled_from(((32, 16), (20, 18))) | st.tuples(st.integers(0, 70000), st.integers(0, 70000))
    return Target("canvas", st.tuples(scan_bytes("canvas", seeds), sizes), check)


def _meta_target(topic: str, messages: list[Message]) -> Target:
    blobs = MemoryLaneStateStore()

    def check(case: dict) -> str | None:
        record = _record(topic, case["value"], case["headers"], case["key"])
        try:
            meta = record.meta()
            record.payload(meta, blobs)
        except Rejected as err:
            return _dead_lettered(record, err.reason)
        _expect(isinstance(meta, TOPICS[topic]), f"{topic} opened as {type(meta).__name__}")
        try:
            again = decode_meta(topic, encode_meta(meta))
        except Rejected as err:
            raise Lossy(err.reason) from None
        if again != meta:
            raise Lossy("read back differently")
        return None

    return Target(f"lw-meta:{topic.removeprefix('lanewatch.')}", meta_headers(messages), check)



def _ingest_target(seeds: dict[str, list[bytes]]) -> Target:
    payload = st.one_of(*(scan_bytes(kind, seeds) for kind in ("png", "jpeg", "dual")), scan_bytes("canvas", seeds))
    offsets = st.sampled_from((UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))))
    fields = st.fixed_dictionaries({
        "payload": payload,
        "lane_id": st.sampled_from(("lane-1", "lane-2")) | st.from_regex(LANE_PATTERN) | st.text(max_size=70),
        "view": st.sampled_from(("top", "side")) | st.from_regex(r"^[a-z0-9_-]{1,16}$") | st.text(max_size=20),
        "view_count": st.integers(-1, 3),
        "captured_at": st.none() | st.datetimes(timezones=offsets) | st.datetimes(),
    })

    def check(case: dict) -> str | None:
        gate = Gate(MemoryLaneStateStore())
        data = case["payload"]
        out = gate.admit(data, lane_id=case["lane_id"], source="fuzz", captured_at=case["captured_at"],
                         view=case["view"], view_count=case["view_count"])
        if out.topic == gate.topics.raw:
            _expect(isinstance(out.message, RawScan) and out.payload == data, "a raw record without its scan")
            _expect((out.message.width, out.message.height) == image_size(data), "a raw record of another size")
            return None
        _expect(out.topic == gate.topics.deadletter and isinstance(out.message, DeadLetter) and bool(out.message.reason)
                and out.payload == data[:DEADLETTER_VALUE_BYTES], "neither a raw record nor a dead letter with its reason")
        return out.message.reason

    return Target("ingest", fields, check)


def targets() -> list[Target]:
    """Every door, in the order the table lists them."""
    seeds, messages = _seeds(), _messages()
    raw = messages["lanewatch.scans.raw"][0]
    return [
        _scan_target("png", "png", seeds, raw), _scan_target("jpeg", "jpeg", seeds, raw),
        _scan_target("dual-energy", "dual", seeds, raw), _canvas_target(seeds),
        *(_meta_target(topic, ms) for topic, ms in messages.items()), _ingest_target(seeds),
    ]


# ---- running ------------------------------------------------------------------------------------------------


def _shown(case: Any) -> Any:
    """`case` as JSON: bytes as hex, datetimes as ISO text."""
    if isinstance(case, bytes):
        return {"hex": case.hex()}
    if isinstance(case, dict):
        return {k: _shown(v) for k, v in case.items()}
    if isinstance(case, list | tuple):
        return [_shown(v) for v in case]
    if isinstance(case, datetime):
        return case.isoformat()
    return case


def _origin(err: BaseException) -> tuple[str, str]:
    """(exception type, path:line of the project's innermost frame): one crash however many inputs reach it."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.name != "_expect"]  # a violation: where it was seen
    ours = [f for f in frames if Path(f.filename).is_relative_to(ROOT) and ".venv" not in Path(f.filename).parts]
    frame = (ours or frames or [None])[-1]
    where = f"{Path(frame.filename).relative_to(ROOT) if frame in ours else Path(frame.filename).name}:{frame.lineno}" if frame else "?"
    return type(err).__name__, where


def _reason_kind(reason: str) -> str:
    """A reason with its numbers and hex taken out, so reasons group by kind."""
    return re.sub(r"\b[0-9a-f]{6,}\b|\d+", "N", reason)[:90]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Dead letters are logged as warnings, one per rejected input: not thousands of them here."""
    log = logging.getLogger("pipeline.kafka")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def _native_quiet() -> Iterator[None]:
    """libpng, libjpeg and OpenCV write a line to stderr for most damaged inputs; those go to /dev/null here.
    A native crash still reports: faulthandler writes to the real stderr."""
    import faulthandler
    import os
    import sys

    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    real = os.fdopen(saved, "w")
    ours = not faulthandler.is_enabled()  # one already enabled (pytest's) keeps its own file
    if ours:
        faulthandler.enable(file=real)
    os.dup2(null, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        if ours:
            faulthandler.disable()
        real.close()
        os.close(null)


def fuzz_target(target: Target, *, examples: int, seed_: int = 0, budget_s: float = 10.0, chunk: int = 100) -> dict[str, Any]:
    """Run Hypothesis on one target: counts, rejection reasons by kind, crashes with a shrunk input each.

    Runs in chunks of `chunk` examples, each its own seed, until `examples` are drawn or `budget_s` is spent
    (checked between chunks); a crash stops the target once Hypothesis has shrunk it. `inputs` counts every
    input checked, shrinking included.
    """
    counts: Counter = Counter()
    reasons: Counter = Counter()
    crashes: dict[tuple[str, str], tuple[Any, BaseException]] = {}
    lossy: dict[str, Any] = {}

    def body(case: Any) -> None:
        counts["inputs"] += 1
        try:
            reason = target.check(case)
        except Lossy as err:
            counts["accepted"] += 1
            counts["lossy"] += 1
            lossy.setdefault(str(err)[:200], case)
            return
        except Exception as err:
            counts["crash_inputs"] += 1
            crashes[_origin(err)] = (case, err)  # shrinking replays the minimal input last
            raise
        counts["accepted" if reason is None else "rejected"] += 1
        if reason is not None:
            reasons[_reason_kind(reason)] += 1

    start, drawn, i = time.monotonic(), 0, 0
    with _quiet():
        while drawn < examples and time.monotonic() - start < budget_s and not crashes:
            n = min(chunk, examples - drawn)
            test = settings(max_examples=n, database=None, deadline=None, derandomize=False, verbosity=Verbosity.quiet,
                            suppress_health_check=list(HealthCheck), phases=[p for p in Phase if p != Phase.explain])(
                given(target.inputs)(body))
            try:
                seed(seed_ * 1_000_003 + i)(test)()
            except Exception:
                if not crashes:  # not an input's crash (`body` records those) but the harness's own: say so
                    raise
            drawn, i = drawn + n, i + 1
    return {
        "target": target.name, "inputs": counts["inputs"], "accepted": counts["accepted"], "rejected": counts["rejected"],
        "crashes": len(crashes), "crash_inputs": counts["crash_inputs"], "lossy": counts["lossy"],
        "seconds": round(time.monotonic() - start, 2),
        "reasons": dict(reasons.most_common(12)),
        "crash_list": [{"type": kind, "where": where, "message": str(err)[:500], "input": _shown(case)}
                       for (kind, where), (case, err) in crashes.items()],
        "lossy_list": [{"reason": r, "input": _shown(case)} for r, case in list(lossy.items())[:5]],
    }


def run(args: argparse.Namespace) -> int:
    """Fuzz every target; exit code 1 when anything crashed."""
    import hypothesis

    chosen = [t for t in targets() if not args.only or any(t.name.startswith(o) for o in args.only)]
    if not chosen:
        raise ValueError(f"no target matches {args.only}")
    rows = []
    print(f"{'target':<24}{'inputs':>8}{'accepted':>10}{'rejected':>10}{'crashes':>9}{'lossy':>7}{'s':>7}")
    for target in chosen:
        with _native_quiet():
            r = fuzz_target(target, examples=args.examples, seed_=args.seed, budget_s=args.budget_s)
        rows.append(r)
        print(f"{r['target']:<24}{r['inputs']:>8}{r['accepted']:>10}{r['rejected']:>10}{r['crashes']:>9}{r['lossy']:>7}"
              f"{r['seconds']:>7.1f}", flush=True)
        for c in r["crash_list"]:
            print(f"    CRASH {c['type']} at {c['where']}: {' '.join(c['message'].split())[:160]}")
    crashes = sum(r["crashes"] for r in rows)
    print(f"{sum(r['inputs'] for r in rows)} inputs, {crashes} crashes"
          + (f", {sum(r['lossy'] for r in rows)} accepted headers not written back as read" if any(r["lossy"] for r in rows) else ""))
    if args.json:
        write_json(args.json, {"examples": args.examples, "seed": args.seed, "budget_s": args.budget_s,
                               "hypothesis": hypothesis.__version__, "opencv": cv2.__version__, "targets": rows})
        print(f"wrote {args.json}")
    return 1 if crashes else 0


def register(kinds: argparse._SubParsersAction) -> None:
    """Add `bench fuzz`."""
    p = kinds.add_parser(
        "fuzz",
        help="fuzz every decoder and schema at the door (PNG, JPEG, dual-energy, canvas, lw-meta, ingest): crashes must be 0",
        description="Property-based fuzzing (Hypothesis) of every door: scan decoders, the canvas container, each "
                    "topic's lw-meta header, and ingest's Gate. Inputs are mutated valid seeds (bytes flipped, cut, "
                    "spliced; chunk, segment and container lengths and declared sizes changed), PNGs built from drawn "
                    "parts, random bytes and random JSON. Every input must decode or be dead-lettered with a reason; "
                    "anything else is a crash, shrunk to a minimal input (hex in --json). Exit code 1 on any crash. "
                    "The defaults take about a minute on 2 cores.",
        epilog="examples:\n  lanewatch bench fuzz --json runs/bench/fuzz.json\n"
               "  lanewatch bench fuzz --examples 5000 --budget-s 60 --seed 3 --only png jpeg",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--examples", type=positive_int, default=2000, help="inputs drawn per target at most (default 2000)")
    p.add_argument("--budget-s", type=positive_float, default=10.0,
                   help="seconds per target, checked between chunks of 100 inputs (default 10)")
    p.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default 0): the same seed draws the same inputs")
    p.add_argument("--only", nargs="+", default=None, metavar="TARGET",
                   help="targets whose names start with these (png, jpeg, dual-energy, canvas, lw-meta, ingest)")
    p.add_argument("--json", type=Path, default=None, help="write the counts, rejection reasons and crashes here as JSON")
    p.set_defaults(func=run)
