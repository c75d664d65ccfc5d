"""Message schemas, one pydantic model per topic (DESIGN.md section 3), and their record form.

Every record on every lanewatch topic has the same shape:

- key: the lane id (UTF-8), so one lane's records stay in order on one partition;
- header `lw-meta`: the topic's model as compact JSON (`schema_version` inside);
- value: the payload bytes, never JSON: the encoded scan or crop on the scan
  topics (formats in `pipeline.codec`), the original bytes of a rejected record
  on the dead-letter topic, empty on detections, alerts and acks.

Claim-check: a scan or crop payload larger than the producer's limit is stored
in Redis under `lw:blob:{blob_key}` with a TTL; the record then carries an empty
value and the model's `blob_key` (`pipeline.kafka` does both ends).

Boxes are always in pixel coordinates of the original frame (x1, y1 inclusive,
x2, y2 exclusive), whatever cropping or resizing happened on the way.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

__all__ = [
    "LANE_PATTERN", "META_HEADER", "SCAN_VIEWS", "SCHEMA_VERSION", "TOPICS", "TOPIC_ACKS", "TOPIC_ALERTS", "TOPIC_CROPPED", "TOPIC_DEADLETTER",
    "TOPIC_DETECTIONS", "TOPIC_RAW", "Ack", "Alert", "BadMessage", "Box", "CroppedRegion", "DeadLetter",
    "Detection", "Detections", "InputMode", "Message", "Placed", "RawScan", "RegionFormat", "Rejected", "ScanFormat", "alert_id_for", "decode_meta",
    "encode_meta", "make_scan_id", "source_scan_id",
]

SCHEMA_VERSION = 1
META_HEADER = "lw-meta"

TOPIC_RAW = "lanewatch.scans.raw"
TOPIC_CROPPED = "lanewatch.scans.cropped"
TOPIC_DETECTIONS = "lanewatch.detections"
TOPIC_ALERTS = "lanewatch.alerts"
TOPIC_ACKS = "lanewatch.alerts.acks"
TOPIC_DEADLETTER = "lanewatch.deadletter"

MAX_SIDE = 8192  # pixels; frames are 300x200 to 2000x1500 (DESIGN.md section 4), with room to spare

# Lane ids become Redis key parts (`lw:lane:{lane}:...`), hence no colons or spaces.
LANE_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
LaneId = Annotated[str, StringConstraints(pattern=LANE_PATTERN)]
ScanId = Annotated[str, StringConstraints(pattern=r"^\d{13}-[A-Za-z0-9_.-]{1,64}-\d{1,12}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
View = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,16}$")]
Side = Annotated[int, Field(ge=1, le=MAX_SIDE)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]
ScanFormat = Literal["rgb-png", "rgb-jpeg", "dual-png16"]
# what a region's payload may be: a scan format, or the detector's own input canvas (raw pixels, `pipeline.codec`)
RegionFormat = Literal["rgb-png", "rgb-jpeg", "dual-png16", "canvas-u8"]
InputMode = Literal["rgb", "dual"]
Severity = Literal["low", "medium", "high", "critical"]
Decision = Literal["ack", "clear", "escalate", "search", "unknown", "reopen"]  # reopen: a supervisor undoes a settled one
# the views a scanner gives (one or both); the order operators see them in, and the views whose images are kept
SCAN_VIEWS = ("top", "side")


class Rejected(ValueError):
    """A record a stage cannot use; `reason` goes to the dead-letter topic with the original bytes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadMessage(Rejected):
    """The `lw-meta` header is missing, is not JSON, or fails the topic's schema."""


def make_scan_id(lane_id: str, seq: int, captured_at: datetime) -> str:
    """`<ms since epoch, 13 digits>-<lane>-<seq>`: sorts by capture time, unique per lane and sequence number.

    Derived, not random, so a scan exported twice by a scanner gets the same id and dedup catches it.
    """
    return f"{round(captured_at.timestamp() * 1000):013d}-{lane_id}-{seq}"


def source_scan_id(lane_id: str, written_at: datetime, identity: bytes) -> str:
    """A scan id from what the source says the scan is, not from when it was read: `identity` is the scanner,
    lane, file name(s) or the scanner's bag id, and the content's hash; `written_at` when the scanner wrote it.
    A file read again after a crash gets the same id, so the alert service's dedup keeps its one outcome."""
    digest = int.from_bytes(hashlib.sha256(identity).digest()[:5], "big") >> 4  # 36 bits: at most 11 digits
    return f"{round(written_at.timestamp() * 1000):013d}-{lane_id}-{digest}"


def alert_id_for(scan_id: str) -> str:
    """One alert per scan at most, so the alert id is the scan id's: a redelivered scan maps to the same alert."""
    return f"al-{scan_id}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)  # NaN/inf would come back as null


class Message(_Frozen):
    """Base of the per-topic models."""

    schema_version: Literal[1] = SCHEMA_VERSION


class Box(_Frozen):
    """Axis-aligned box in pixels of the original frame."""

    x1: float = Field(ge=0)
    y1: float = Field(ge=0)
    x2: float = Field(ge=0)
    y2: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if not (self.x2 > self.x1 and self.y2 > self.y1):
            raise ValueError(f"box must have x2 > x1 and y2 > y1, got ({self.x1}, {self.y1}, {self.x2}, {self.y2})")
        return self


class Detection(_Frozen):
    """One detected object: class name, score and box in frame coordinates; `view` once views are merged."""

    label: Name
    score: Score
    box: Box
    view: View | None = None


class _ScanIdentity(Message):
    scan_id: ScanId
    lane_id: LaneId
    scanner_id: Name
    view: View = "top"
    view_count: int = Field(1, ge=1, le=2)  # views of this scan, so a merging stage knows when it has all
    captured_at: AwareDatetime
    seq: int = Field(ge=0)


class _Payload(_Frozen):
    format: ScanFormat
    width: Side
    height: Side
    blob_key: str | None = None  # claim-check: the payload is in Redis at lw:blob:{blob_key}, the value is empty


class RawScan(_ScanIdentity, _Payload):
    """`lanewatch.scans.raw`: one view of one scan as the scanner gave it; value = encoded scan."""


class Placed(_Frozen):
    """A region laid on a detector canvas: canvas = (frame - (box.x1, box.y1)) * scale + (dx, dy).

    `transposed`: the canvas was then transposed (x and y swapped) to lie landscape; swap a box's
    coordinates back before applying the formula.
    """

    box: Box  # the region, in frame pixels
    scale: float = Field(gt=0)
    dx: float = Field(ge=0)
    dy: float = Field(ge=0)
    transposed: bool = False


class CroppedRegion(_ScanIdentity, _Payload):
    """`lanewatch.scans.cropped`: what the detector reads of a scan view.

    Either an encoded crop (`format` a scan format, `width` x `height` its size, `box` where it lies in
    the frame), or the detector's input canvas itself (`format` "canvas-u8", raw pixels of a
    `width` x `height` canvas in `input_format`, at most the detector's square): the crop service has already cut, scaled and laid
    the regions (`placements`, one or several bags packed side by side) so the detector stacks canvases
    without decoding anything. `box` is then the union of the placed regions.
    """

    format: RegionFormat  # type: ignore[assignment]
    frame_width: Side
    frame_height: Side
    region_index: int = Field(ge=0)
    region_count: int = Field(ge=1)
    box: Box  # where the crop lies in the frame
    confidence: Score
    method: Name  # e.g. "tdc", or "full-frame" when cropping found nothing to cut
    input_format: InputMode | None = None  # canvas-u8: the input mode its pixels are in
    placements: tuple[Placed, ...] = ()  # canvas-u8: the regions on the canvas

    @model_validator(mode="after")
    def _inside(self) -> CroppedRegion:
        if self.region_index >= self.region_count:
            raise ValueError(f"region_index {self.region_index} must be below region_count {self.region_count}")
        for b in (self.box, *(p.box for p in self.placements)):
            if b.x2 > self.frame_width or b.y2 > self.frame_height:
                raise ValueError(f"region box runs outside the {self.frame_width}x{self.frame_height} frame")
        if (self.format == "canvas-u8") != bool(self.placements) or (self.format == "canvas-u8") != (self.input_format is not None):
            raise ValueError("a canvas-u8 region needs placements and input_format, and only a canvas has them")
        return self


class Detections(_ScanIdentity):
    """`lanewatch.detections`: the detector's output for one region, boxes mapped back to frame coordinates."""

    region_index: int = Field(ge=0)
    region_count: int = Field(ge=1)
    region: Box
    detections: tuple[Detection, ...] = ()
    engine: Name  # runtime and weights, e.g. "onnxruntime:aspp_yolo_nano"
    batch_size: int = Field(1, ge=1)
    timings_ms: dict[str, float] = {}  # per step, e.g. {"preprocess": 2.1, "infer": 38.0, "postprocess": 0.4}


class Alert(Message):
    """`lanewatch.alerts`: a threat found in a scan (all its views and regions merged)."""

    alert_id: Name
    scan_id: ScanId
    lane_id: LaneId
    scanner_id: Name
    captured_at: AwareDatetime
    seq: int = Field(ge=0)
    classes: tuple[Name, ...] = Field(min_length=1)
    detections: tuple[Detection, ...] = Field(min_length=1)  # each with score, box and view
    severity: Severity
    created_at: AwareDatetime
    views: tuple[View, ...] = ()  # the views whose images are kept (`lw:scan:{scan_id}:{view}`), "top" first


class Ack(Message):
    """`lanewatch.alerts.acks`: an operator's decision on an alert."""

    alert_id: Name
    lane_id: LaneId
    decision: Decision
    operator: Name
    at: AwareDatetime
    note: str = Field("", max_length=1000)


class DeadLetter(Message):
    """`lanewatch.deadletter`: a record a stage rejected; value = the original record's value, byte for byte."""

    stage: Name
    reason: str = Field(min_length=1, max_length=2000)
    topic: str
    partition: int
    offset: int
    key: str | None = None
    lane_id: LaneId | None = None
    # header values as UTF-8 text (lanewatch's own headers are JSON; foreign binary ones get U+FFFD)
    headers: tuple[tuple[str, str], ...] = ()
    at: AwareDatetime


TOPICS: dict[str, type[Message]] = {
    TOPIC_RAW: RawScan,
    TOPIC_CROPPED: CroppedRegion,
    TOPIC_DETECTIONS: Detections,
    TOPIC_ALERTS: Alert,
    TOPIC_ACKS: Ack,
    TOPIC_DEADLETTER: DeadLetter,
}


def encode_meta(message: Message) -> list[tuple[str, bytes]]:
    """Record headers carrying `message`: [("lw-meta", compact JSON)]."""
    return [(META_HEADER, message.model_dump_json(exclude_none=True).encode())]


def decode_meta(topic: str, headers: list[tuple[str, bytes]] | None, model: type[Message] | None = None) -> Message:
    """Validate a record's `lw-meta` header against its topic's model (or `model`); raises BadMessage with the reason."""
    model = model or TOPICS.get(topic)
    if model is None:
        raise BadMessage(f"no schema for topic {topic!r}")
    metas = [v for k, v in headers or () if k == META_HEADER]
    if len(metas) != 1:
        raise BadMessage(f"expected one {META_HEADER} header, found {len(metas)}")
    try:
        return model.model_validate_json(metas[0])
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in err.errors()[:5])
        raise BadMessage(f"{model.__name__} schema: {problems}") from None
