"""Scan payload codec: round trips, format sniffing, and rejections with reasons."""

import struct

import cv2
import numpy as np
import pytest

from pipeline.codec import DUAL_MAGIC, BadPayload, decode_scan, encode_dual, encode_rgb, image_size, sniff_format
from pipeline.dual_energy import to_three_channel

rng = np.random.default_rng(0)
RGB = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
HIGH = rng.integers(0, 65536, (90, 140), dtype=np.uint16)
LOW = rng.integers(1, 65536, (90, 140), dtype=np.uint16)


def test_png_round_trip_is_exact_and_rgb_ordered():
    data = encode_rgb(RGB)
    scan = decode_scan(data, expect_format="rgb-png", expect_size=(200, 120))
    assert scan.format == "rgb-png" and scan.size == (200, 120)
    np.testing.assert_array_equal(scan.rgb, RGB)
    # colour order: what OpenCV writes as BGR reads back as RGB
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1], RGB)


def test_jpeg_round_trip_is_close():
    smooth = cv2.GaussianBlur(RGB, (9, 9), 3)
    scan = decode_scan(encode_rgb(smooth, fmt="rgb-jpeg", jpeg_quality=95))
    assert scan.format == "rgb-jpeg" and scan.rgb.shape == smooth.shape
    assert np.abs(scan.rgb.astype(int) - smooth).mean() < 4


def test_dual_round_trip_is_exact_and_gives_the_three_channel_form():
    data = encode_dual(HIGH, LOW)
    assert data.startswith(DUAL_MAGIC)
    (n_high,) = struct.unpack(">I", data[4:8])
    assert data[8:16] == b"\x89PNG\r\n\x1a\n" and len(data) == 4 + 4 + n_high + 4 + struct.unpack(">I", data[8 + n_high : 12 + n_high])[0]
    scan = decode_scan(data, expect_format="dual-png16", expect_size=(140, 90))
    np.testing.assert_array_equal(scan.high, HIGH)
    np.testing.assert_array_equal(scan.low, LOW)
    np.testing.assert_array_equal(scan.network_input(), to_three_channel(HIGH, LOW))
    assert image_size(data) == (140, 90)


def test_sniffing_by_magic_bytes():
    assert sniff_format(encode_rgb(RGB)) == "rgb-png"
    assert sniff_format(encode_rgb(RGB, fmt="rgb-jpeg")) == "rgb-jpeg"
    assert sniff_format(encode_dual(HIGH, LOW)) == "dual-png16"
    with pytest.raises(BadPayload, match="unknown payload format"):
        sniff_format(b"GIF89a....")
    with pytest.raises(BadPayload, match="none"):
        sniff_format(b"")


def _dual(high_png: bytes, low_png: bytes) -> bytes:
    return DUAL_MAGIC + struct.pack(">I", len(high_png)) + high_png + struct.pack(">I", len(low_png)) + low_png


PNG = encode_rgb(RGB)
JPEG = encode_rgb(RGB, fmt="rgb-jpeg")
DUAL = encode_dual(HIGH, LOW)
HIGH_PNG = cv2.imencode(".png", HIGH)[1].tobytes()


@pytest.mark.parametrize("data,needle", [
    (PNG[: len(PNG) // 2], "truncated PNG"),
    (PNG[:30], "truncated PNG"),
    (PNG[:8] + b"\x00" * 40, "IHDR"),
    (PNG[:40] + bytes(len(PNG) - 52) + PNG[-12:], "cannot be decoded"),  # structure intact, pixels garbage
    (JPEG[: len(JPEG) - 200], "truncated JPEG"),
    (JPEG[:3] + b"\x00" * 64, "corrupt JPEG"),
    (DUAL[:-10], "truncated"),
    (DUAL + b"xx", "trailing"),
    (DUAL[:6], "no length"),
    (_dual(PNG, PNG), "16-bit greyscale"),
    (_dual(HIGH_PNG, cv2.imencode(".png", HIGH[:50])[1].tobytes()), "differ in size"),
    (HIGH_PNG, "dual-energy half"),
], ids=lambda v: v if isinstance(v, str) else "-")
def test_corrupt_payloads_are_rejected_with_a_reason(data, needle):
    with pytest.raises(BadPayload) as e:
        decode_scan(data)
    assert needle in e.value.reason


def test_oversized_payload_is_rejected_before_decoding():
    with pytest.raises(BadPayload, match="exceeds the 1000-byte limit"):
        decode_scan(PNG, max_bytes=1000)


def test_huge_frame_header_is_rejected_without_decoding():
    # a tiny PNG claiming 60000x60000 pixels (a decompression bomb) must not reach the decoder
    bomb = bytearray(PNG)
    bomb[16:24] = struct.pack(">II", 60000, 60000)
    with pytest.raises(BadPayload, match="outside"):
        decode_scan(bytes(bomb))
    with pytest.raises(BadPayload, match="outside"):
        decode_scan(encode_rgb(RGB[:10, :10]))


def test_metadata_mismatch_is_rejected():
    with pytest.raises(BadPayload, match="metadata says rgb-jpeg"):
        decode_scan(PNG, expect_format="rgb-jpeg")
    with pytest.raises(BadPayload, match="metadata says 201x120"):
        decode_scan(PNG, expect_size=(201, 120))


def test_encoders_refuse_wrong_arrays():
    with pytest.raises(ValueError):
        encode_rgb(RGB[..., 0])
    with pytest.raises(ValueError):
        encode_rgb(RGB, fmt="dual-png16")
    with pytest.raises(ValueError):
        encode_dual(HIGH, LOW[:10])


def test_canvas_round_trips_without_a_copy_and_checks_its_header():
    from pipeline.codec import decode_canvas, encode_canvas

    canvas = np.random.default_rng(0).integers(0, 255, (32, 48, 3), np.uint8)
    data = encode_canvas(canvas)
    assert len(data) == 9 + canvas.size  # b"LWC1", u16 height, u16 width, u8 channels
    view = decode_canvas(data, expect_size=(48, 32))
    np.testing.assert_array_equal(view, canvas)
    assert not view.flags.writeable and not view.flags.owndata  # a view of the record's bytes
    with pytest.raises(BadPayload, match="metadata says 32x32"):
        decode_canvas(data, expect_size=(32, 32))
    with pytest.raises(BadPayload, match="pixel bytes"):
        decode_canvas(data[:-1])
    with pytest.raises(BadPayload, match="not a canvas"):
        decode_canvas(encode_rgb(canvas))
    with pytest.raises(BadPayload, match="unknown payload format"):
        sniff_format(data)  # a canvas is never a scan: ingest refuses it


def test_rgb_png_decodes_the_same_through_libspng_and_opencv(monkeypatch):
    import pipeline.codec as codec

    rng = np.random.default_rng(4)
    rgb = np.clip(rng.normal(180, 40, (48, 64, 3)), 0, 255).astype(np.uint8)
    data = encode_rgb(rgb)
    assert codec.pyspng is not None and codec._spng_rgb8(data) is not None  # the fast path is taken
    fast = decode_scan(data).rgb
    monkeypatch.setattr(codec, "pyspng", None)
    slow = decode_scan(data).rgb
    np.testing.assert_array_equal(fast, rgb)
    np.testing.assert_array_equal(slow, rgb)
    # what libspng does not take (alpha, 16 bits) OpenCV converts; damage is reported either way
    monkeypatch.undo()
    rgba = cv2.imencode(".png", np.dstack([rgb[..., ::-1], np.full((48, 64), 255, np.uint8)]))[1].tobytes()
    assert codec._spng_rgb8(rgba) is None
    np.testing.assert_array_equal(decode_scan(rgba).rgb, rgb)
    corrupt = data[:60] + bytes(len(data) - 72) + data[-12:]
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1  # one bit inside the pixel data: libspng alone would decode garbage
    for damaged in (corrupt, bytes(flipped)):
        assert codec._spng_rgb8(damaged) is None
        with pytest.raises(BadPayload):
            decode_scan(damaged)
