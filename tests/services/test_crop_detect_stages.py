"""The crop and detect stages on in-memory records: regions and their boxes, batching, boxes back in frame pixels."""

from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.canvas import to_detections
from pipeline.codec import BadPayload, decode_scan, encode_dual, encode_rgb
from pipeline.crop import CropRegion, no_crop
from pipeline.kafka import Inbound
from pipeline.messages import Box, CroppedRegion, Detections, RawScan, Rejected, encode_meta, make_scan_id
from pipeline.state import MemoryLaneStateStore
from services.crop import CropStage
from services.detect import DetectStage
from services.runner import Topics

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
T = Topics()


def _record(topic, meta, value, offset=0):
    return Inbound(topic=topic, partition=0, offset=offset, key=meta.lane_id, headers=tuple(encode_meta(meta)),
                   value=value, timestamp_ms=0)


def _raw(fmt, w, h, seq=0):
    return RawScan(scan_id=make_scan_id("lane-1", seq, NOW), lane_id="lane-1", scanner_id="s", captured_at=NOW, seq=seq,
                   format=fmt, width=w, height=h)


def _two_bags(frame):
    h, w = frame.shape[:2]
    return [CropRegion(x1=0, y1=0, x2=w // 2, y2=h, confidence=0.9),
            CropRegion(x1=w // 2, y1=10, x2=w, y2=h - 10, confidence=0.8)]


def test_crop_publishes_one_record_per_region_in_the_scan_form():
    rgb = np.random.default_rng(0).integers(0, 255, (100, 160, 3), np.uint8)
    stage = CropStage(MemoryLaneStateStore(), T, cropper=_two_bags, mode="rgb", method="tdc", max_payload_bytes=2**20)
    (outs,) = stage.handle([_record(T.raw, _raw("rgb-png", 160, 100), encode_rgb(rgb))])
    assert [o.topic for o in outs] == [T.cropped, T.cropped]
    second = outs[1].message
    assert isinstance(second, CroppedRegion)
    assert (second.region_index, second.region_count, second.method) == (1, 2, "tdc")
    assert second.box == Box(x1=80, y1=10, x2=160, y2=90) and (second.width, second.height) == (80, 80)
    assert (second.frame_width, second.frame_height, second.confidence) == (160, 100, 0.8)
    np.testing.assert_array_equal(decode_scan(outs[1].payload).rgb, rgb[10:90, 80:160])


def test_crop_keeps_dual_energy_scans_dual_and_marks_whole_frames():
    high = np.random.default_rng(1).integers(1000, 60000, (50, 70), np.uint16)
    low = np.random.default_rng(2).integers(1000, 60000, (50, 70), np.uint16)
    stage = CropStage(MemoryLaneStateStore(), T, cropper=no_crop, mode="rgb", method="none", max_payload_bytes=2**20)
    (outs,) = stage.handle([_record(T.raw, _raw("dual-png16", 70, 50), encode_dual(high, low))])
    (only,) = outs
    assert only.message.format == "dual-png16" and only.message.method == "full-frame"
    np.testing.assert_array_equal(decode_scan(only.payload).low, low)


def test_crop_rejects_corrupt_oversized_and_mislabelled_scans():
    good = encode_rgb(np.zeros((40, 40, 3), np.uint8))
    stage = CropStage(MemoryLaneStateStore(), T, cropper=no_crop, mode="rgb", method="none", max_payload_bytes=len(good) + 10)
    big = encode_rgb(np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8))
    corrupt = good[:60] + bytes(len(good) - 72) + good[-12:]  # header and IEND intact, pixels garbage
    results = stage.handle([
        _record(T.raw, _raw("rgb-png", 40, 40), corrupt),
        _record(T.raw, _raw("rgb-png", 40, 40), big),
        _record(T.raw, _raw("rgb-png", 41, 40), good),
        _record(T.raw, _raw("rgb-png", 40, 40), good),
    ])
    assert isinstance(results[0], BadPayload) and "cannot be decoded" in results[0].reason
    assert isinstance(results[1], BadPayload) and "exceeds" in results[1].reason
    assert isinstance(results[2], BadPayload) and "metadata says 41x40" in results[2].reason
    assert len(results[3]) == 1


class _FixedBox:
    """A runtime that finds one box at a known place of its canvas, and records its batches."""

    class_names = ("gun", "knife")
    img_size = 100
    input_format = "rgb"
    dynamic_size = False

    def __init__(self):
        self.batches = []

    def detect_canvases(self, canvases, **_):
        assert canvases.dtype == np.uint8
        self.batches.append(canvases.shape)
        return [np.array([[10.0, 30.0, 50.0, 40.0, 0.9, 1.0], [0, 0, 100, 20, 0.5, 0.0]], np.float32) for _ in canvases]


def _region(index, count, box, w, h, seq=0):
    return CroppedRegion(
        scan_id=make_scan_id("lane-1", seq, NOW), lane_id="lane-1", scanner_id="s", captured_at=NOW, seq=seq,
        format="rgb-png", width=w, height=h, frame_width=1000, frame_height=800, region_index=index,
        region_count=count, box=box, confidence=0.9, method="tdc",
    )


def test_detect_batches_and_maps_boxes_back_to_frame_pixels():
    runtime = _FixedBox()
    stage = DetectStage(None, T, runtime=runtime, engine="fake", max_payload_bytes=2**20)
    crop = encode_rgb(np.full((200, 400, 3), 255, np.uint8))
    records = [_record(T.cropped, _region(i, 2, Box(x1=100 + 500 * i, y1=300, x2=500 + 500 * i, y2=500), 400, 200), crop, i)
               for i in range(2)]
    records.insert(1, _record(T.cropped, _region(0, 1, Box(x1=0, y1=0, x2=400, y2=200), 400, 200, seq=1), b"junk", 9))
    results = stage.handle(records)
    assert runtime.batches == [(2, 100, 100, 3)]  # one runtime call for the batch, the junk record left out
    assert isinstance(results[1], Rejected)
    first = results[0][0].message
    assert isinstance(first, Detections) and first.batch_size == 2 and first.engine == "fake"
    # 400x200 crop letterboxed to 100: scale 0.25, 25 px padding above and below; crop at (100, 300) in the frame
    knife = next(d for d in first.detections if d.label == "knife")
    assert (knife.box.x1, knife.box.y1, knife.box.x2, knife.box.y2) == pytest.approx((140, 320, 300, 360))
    assert [d.label for d in first.detections] == ["knife"]  # the gun box lies in the letterbox padding: dropped
    assert first.region == Box(x1=100, y1=300, x2=500, y2=500) and (first.region_index, first.region_count) == (0, 2)
    assert set(first.timings_ms) == {"preprocess", "infer"}


def test_to_detections_clips_to_the_frame_and_drops_unknown_classes():
    rows = np.array([[-50, -50, -10, -10, 0.9, 0], [0, 0, 50, 25, 0.8, 7], [90, 40, 150, 90, 0.7, 0]], float)
    (d,) = to_detections(rows, (110, 60), ("gun",))
    assert (d.box.x1, d.box.y1, d.box.x2, d.box.y2) == (90, 40, 110, 60)


def test_crop_canvas_output_packs_a_scans_bags_on_the_detectors_input():
    from pipeline.canvas import CanvasLayout
    from pipeline.codec import decode_canvas

    rgb = np.full((100, 160, 3), 255, np.uint8)
    rgb[:, :80], rgb[10:90, 80:] = (200, 100, 0), (0, 0, 200)  # the two bags _two_bags finds
    spec = CanvasLayout(size=64, input_format="rgb", max_zoom=4.0, packed=True)
    stage = CropStage(MemoryLaneStateStore(), T, cropper=_two_bags, mode="rgb", method="tdc", max_payload_bytes=2**20, canvas=spec)
    ((out,),) = stage.handle([_record(T.raw, _raw("rgb-png", 160, 100), encode_rgb(rgb))])
    m = out.message
    assert (m.format, m.width, m.height, m.input_format, m.region_count) == ("canvas-u8", 64, 64, "rgb", 1)
    assert m.box == Box(x1=0, y1=0, x2=160, y2=100) and m.confidence == 0.8 and len(m.placements) == 2
    canvas = decode_canvas(out.payload, expect_size=(64, 64))
    # each bag lies where its placement says, belt (white) around
    assert m.placements[1].box == Box(x1=80, y1=10, x2=160, y2=90)
    for p, colour in zip(m.placements, [(200, 100, 0), (0, 0, 200)], strict=True):
        w, h = (p.box.x2 - p.box.x1) * p.scale, (p.box.y2 - p.box.y1) * p.scale
        assert tuple(canvas[int(p.dy + h / 2), int(p.dx + w / 2)]) == colour
    first = m.placements[0]
    gap_x = int(first.dx + (first.box.x2 - first.box.x1) * first.scale) + 2  # the belt left between packed bags
    assert tuple(canvas[32, gap_x]) == (255, 255, 255)
    separate = CropStage(MemoryLaneStateStore(), T, cropper=_two_bags, mode="rgb", method="tdc", max_payload_bytes=2**20,
                         canvas=spec.replace(packed=False))
    (outs,) = separate.handle([_record(T.raw, _raw("rgb-png", 160, 100), encode_rgb(rgb))])
    assert [o.message.region_count for o in outs] == [2, 2] and [len(o.message.placements) for o in outs] == [1, 1]


def test_a_dual_energy_models_crop_stage_still_keeps_the_pseudo_colour_image():
    import cv2

    from pipeline.canvas import CanvasLayout
    from pipeline.codec import decode_canvas
    from pipeline.dual_energy import to_three_channel
    from pipeline.xray.screen import render_raw

    high = np.tile(np.linspace(50_000, 8_000, 90), (60, 1)).astype(np.uint16)
    low = (high * 0.6).astype(np.uint16)
    store = MemoryLaneStateStore()
    spec = CanvasLayout(size=96, input_format="dual", max_zoom=1.0, trim=None)
    stage = CropStage(store, T, cropper=no_crop, mode="dual", method="none", max_payload_bytes=2**20, canvas=spec)
    meta = _raw("dual-png16", 90, 60)
    ((out,),) = stage.handle([_record(T.raw, meta, encode_dual(high, low))])
    # the detector gets the dual-energy form, the operators the scanner's screen
    canvas, (p,) = decode_canvas(out.payload), out.message.placements
    x, y = 30, 20  # a frame pixel, and where its placement puts it on the canvas
    on_canvas = canvas[int((y - p.box.y1) * p.scale + p.dy), int((x - p.box.x1) * p.scale + p.dx)]
    assert out.message.input_format == "dual"
    assert np.abs(on_canvas.astype(int) - to_three_channel(high, low)[y, x]).max() <= 2
    shown = cv2.cvtColor(cv2.imdecode(np.frombuffer(store.scan_image(meta.scan_id), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert shown.shape == (60, 90, 3) and np.abs(shown.astype(int) - render_raw(high, low).astype(int)).mean() < 2.0
    # a pseudo-colour scan cannot feed a dual-energy model: dead-lettered, and no image kept for an alert that cannot come
    rgb_meta = _raw("rgb-png", 90, 60, seq=1)
    (rejected,) = stage.handle([_record(T.raw, rgb_meta, encode_rgb(np.zeros((60, 90, 3), np.uint8)))])
    assert isinstance(rejected, Rejected) and store.scan_image(rgb_meta.scan_id) is None


def test_detect_reads_canvases_in_place_and_maps_boxes_through_their_placements():
    from pipeline.codec import encode_canvas
    from pipeline.messages import Placed

    runtime = _FixedBox()
    stage = DetectStage(None, T, runtime=runtime, engine="fake", max_payload_bytes=2**20)
    # two bags on one 100 px canvas at scale 0.5: (0, 0)-(80, 100) at (0, 25), (100, 0)-(200, 100) at (48, 25)
    placed = (Placed(box=Box(x1=0, y1=0, x2=80, y2=100), scale=0.5, dx=0, dy=25),
              Placed(box=Box(x1=100, y1=0, x2=200, y2=100), scale=0.5, dx=48, dy=25))
    meta = _region(0, 1, Box(x1=0, y1=0, x2=200, y2=100), 100, 100).model_copy(
        update={"format": "canvas-u8", "input_format": "rgb", "placements": placed})
    meta = CroppedRegion.model_validate(meta.model_dump())
    (result,) = stage.handle([_record(T.cropped, meta, encode_canvas(np.full((100, 100, 3), 255, np.uint8)))])
    (knife,) = result[0].message.detections  # canvas box (10, 30, 50, 40): centre (30, 35) in the first bag
    assert (knife.box.x1, knife.box.y1, knife.box.x2, knife.box.y2) == pytest.approx((20, 10, 80, 30))
    wrong = meta.model_copy(update={"width": 128, "height": 128})
    (rejected,) = stage.handle([_record(T.cropped, wrong, encode_canvas(np.zeros((128, 128, 3), np.uint8)))])
    assert isinstance(rejected, Rejected) and "same weights" in rejected.reason


def test_detect_batches_trimmed_and_transposed_canvases():
    from pipeline.codec import encode_canvas
    from pipeline.messages import Placed

    runtime = _FixedBox()
    stage = DetectStage(None, T, runtime=runtime, engine="fake", max_payload_bytes=2**20)
    # a 100x60 canvas as laid out, and the same bags on a canvas laid as a column then transposed to 100x60
    flat = (Placed(box=Box(x1=0, y1=0, x2=80, y2=100), scale=0.5, dx=0, dy=5),)
    turned = (Placed(box=Box(x1=0, y1=0, x2=80, y2=100), scale=0.5, dx=5, dy=0, transposed=True),)
    metas = [CroppedRegion.model_validate(_region(0, 1, Box(x1=0, y1=0, x2=80, y2=100), w, h, seq=k).model_copy(
        update={"format": "canvas-u8", "input_format": "rgb", "placements": placed}).model_dump())
        for k, (placed, w, h) in enumerate([(flat, 100, 60), (turned, 100, 64)])]
    canvases = [np.full((m.height, m.width, 3), 255, np.uint8) for m in metas]
    results = stage.handle([_record(T.cropped, m, encode_canvas(c), k) for k, (m, c) in enumerate(zip(metas, canvases))])
    assert runtime.batches == [(2, 64, 100, 3)]  # a fixed-size model: one batch, padded below to its taller canvas
    free = _FixedBox()
    free.dynamic_size = True  # a model that runs any size: one call per shape, nothing padded
    DetectStage(None, T, runtime=free, engine="fake", max_payload_bytes=2**20).handle(
        [_record(T.cropped, m, encode_canvas(c), k) for k, (m, c) in enumerate(zip(metas, canvases))])
    assert free.batches == [(1, 60, 100, 3), (1, 64, 100, 3)]
    (knife,) = results[0][0].message.detections  # canvas box (10, 30, 50, 40): centre (30, 35), in the bag
    assert (knife.box.x1, knife.box.y1, knife.box.x2, knife.box.y2) == pytest.approx((20, 50, 80, 70))
    # transposed: the box is (30, 10, 40, 50) as laid out, centre (35, 30) in the bag placed at (5, 0)
    (knife,) = results[1][0].message.detections
    assert (knife.box.x1, knife.box.y1, knife.box.x2, knife.box.y2) == pytest.approx((50, 20, 70, 100))


def test_models_see_their_own_input_mode():
    from pipeline.codec import Scan
    from pipeline.frames import network_image

    high = np.full((20, 30), 20000, np.uint16)
    dual = Scan("dual-png16", high=high, low=high // 2)
    assert network_image(dual, "dual").shape == (20, 30, 3)
    rendered = network_image(dual, "rgb")  # raw shown to a pseudo-colour model: rendered as a scanner would
    assert rendered.shape == (20, 30, 3) and rendered.dtype == np.uint8
    with pytest.raises(Rejected, match="dual-energy model cannot read"):
        network_image(Scan("rgb-png", rgb=np.zeros((20, 30, 3), np.uint8)), "dual")


def test_detect_keeps_every_score_the_alert_policy_can_alert_on():
    from pipeline.alerting import DEFAULT_RULES
    from services.detect import DetectSettings

    floor = DetectSettings.model_fields["conf_threshold"].default
    assert 0 < floor <= min(rule.threshold for rule in DEFAULT_RULES.values())
