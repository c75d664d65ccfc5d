"""Scan payloads: the bytes in a record's value on the scan topics, checked before anything trusts them.

Formats (`RawScan.format`), told apart by their magic bytes:

- `rgb-png`: a PNG of the pseudo-colour image (8-bit RGB; palette, grey or alpha are converted);
- `rgb-jpeg`: a JPEG of it, where the scanner gave JPEG;
- `dual-png16`: a dual-energy pair in one container, all integers big-endian:

      b"LWD1" | u32 n_high | high: 16-bit greyscale PNG (n_high bytes) | u32 n_low | low: same size

and, between the crop and detect services only, the detector's input canvas as raw pixels
(`canvas-u8`): it is already cut, scaled and in the model's input form, so the detect service
stacks it without decoding (a PNG round trip costs more CPU than the detector on small frames):

      b"LWC1" | u16 height | u16 width | u8 channels | height*width*channels uint8 pixels (row-major HWC)

Checks, cheapest first, each failing as `BadPayload` with a reason fit for the
dead-letter topic: size limit, magic bytes, structure (PNG ends with IEND,
JPEG with EOI, container lengths add up), frame size read from the header
before decoding (so a decompression bomb is never decoded), decoding, bit
depth, and the size the metadata announced.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

try:
    import pyspng
except ImportError:  # a declared dependency; OpenCV decodes everything without it, only slower
    pyspng = None

from pipeline.dual_energy import to_three_channel
from pipeline.messages import MAX_SIDE, Rejected, ScanFormat

__all__ = [
    "CANVAS_MAGIC", "DUAL_MAGIC", "MAX_PAYLOAD_BYTES", "BadPayload", "Scan", "decode_canvas", "decode_scan", "encode_canvas",
    "encode_dual", "encode_rgb",
    "image_size", "sniff_format",
]

MAX_PAYLOAD_BYTES = 32 * 2**20
MIN_SIDE = 16
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
JPEG_MAGIC = b"\xff\xd8\xff"
JPEG_EOI = b"\xff\xd9"
DUAL_MAGIC = b"LWD1"
CANVAS_MAGIC = b"LWC1"
_CANVAS_HEADER = struct.Struct(">4sHHB")
# fast PNG: these are transient records, not archives; level 1 is ~5x faster than the default for ~10 % more bytes
_PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1]
_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class BadPayload(Rejected):
    """A scan payload that is too large, of an unknown format, truncated, or not decodable."""


@dataclass(frozen=True)
class Scan:
    """A decoded scan view: `rgb` (H, W, 3) uint8 in RGB order, or `high` and `low` (H, W) uint16."""

    format: ScanFormat
    rgb: np.ndarray | None = None
    high: np.ndarray | None = None
    low: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        h, w = (self.rgb if self.rgb is not None else self.high).shape[:2]
        return w, h

    def network_input(self) -> np.ndarray:
        """uint8 (H, W, 3): the pseudo-colour image, or the dual-energy 3-channel form (DESIGN.md section 4)."""
        return self.rgb if self.rgb is not None else to_three_channel(self.high, self.low)


def encode_rgb(rgb: np.ndarray, *, fmt: ScanFormat = "rgb-png", jpeg_quality: int = 92) -> bytes:
    """Encode a uint8 (H, W, 3) RGB image as PNG or JPEG."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3) RGB, got {rgb.dtype} {rgb.shape}")
    if fmt == "rgb-png":
        ext, params = ".png", _PNG_FAST
    elif fmt == "rgb-jpeg":
        ext, params = ".jpg", [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    else:
        raise ValueError(f"encode_rgb writes rgb-png or rgb-jpeg, not {fmt!r}")
    # cvtColor, not rgb[..., ::-1] copied: 0.02 against 1.1 ms for 640x480, more than the JPEG encode itself (0.8 ms)
    return _encode(ext, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), params)


def encode_dual(high: np.ndarray, low: np.ndarray) -> bytes:
    """Pack a uint16 (H, W) high/low pair into the `dual-png16` container."""
    if high.shape != low.shape or high.ndim != 2 or high.dtype != np.uint16 or low.dtype != np.uint16:
        raise ValueError(f"expected two equal uint16 (H, W) arrays, got {high.dtype} {high.shape} and {low.dtype} {low.shape}")
    parts = [_encode(".png", a, _PNG_FAST) for a in (high, low)]
    return b"".join([DUAL_MAGIC, *(struct.pack(">I", len(p)) + p for p in parts)])


def encode_canvas(canvas: np.ndarray) -> bytes:
    """A uint8 (H, W, C) canvas as `canvas-u8` bytes: the header and the pixels, one copy."""
    if canvas.dtype != np.uint8 or canvas.ndim != 3:
        raise ValueError(f"expected a uint8 (H, W, C) canvas, got {canvas.dtype} {canvas.shape}")
    h, w, c = canvas.shape
    return _CANVAS_HEADER.pack(CANVAS_MAGIC, h, w, c) + np.ascontiguousarray(canvas).data


def decode_canvas(data: bytes, *, expect_size: tuple[int, int] | None = None, channels: int = 3) -> np.ndarray:
    """A read-only (H, W, C) view of `canvas-u8` bytes (no copy); BadPayload when header and length disagree."""
    if len(data) < _CANVAS_HEADER.size or not data.startswith(CANVAS_MAGIC):
        raise BadPayload(f"not a canvas-u8 payload (first bytes {data[:8].hex() or 'none'})")
    _, h, w, c = _CANVAS_HEADER.unpack_from(data)
    if c != channels or h < MIN_SIDE or w < MIN_SIDE:
        raise BadPayload(f"canvas {w}x{h}x{c}: expected {channels} channels and sides of at least {MIN_SIDE}")
    if expect_size is not None and (w, h) != tuple(expect_size):
        raise BadPayload(f"metadata says {expect_size[0]}x{expect_size[1]} but the canvas is {w}x{h}")
    if len(data) != _CANVAS_HEADER.size + h * w * c:
        raise BadPayload(f"canvas {w}x{h}x{c} needs {h * w * c} pixel bytes, got {len(data) - _CANVAS_HEADER.size}")
    return np.frombuffer(data, np.uint8, offset=_CANVAS_HEADER.size).reshape(h, w, c)


def sniff_format(data: bytes) -> ScanFormat:
    """The payload's format by its magic bytes; BadPayload when it is none of the three."""
    if data.startswith(PNG_MAGIC):
        return "rgb-png"
    if data.startswith(JPEG_MAGIC):
        return "rgb-jpeg"
    if data.startswith(DUAL_MAGIC):
        return "dual-png16"
    raise BadPayload(f"unknown payload format (first bytes {data[:8].hex() or 'none'}): expected PNG, JPEG or LWD1")


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the PNG/JPEG header or the container's first PNG, without decoding pixels."""
    fmt = sniff_format(data)
    if fmt == "dual-png16":
        return _png_header(_split_dual(data)[0])[:2]
    return _png_header(data)[:2] if fmt == "rgb-png" else _jpeg_size(data)


def decode_scan(
    data: bytes,
    *,
    expect_format: ScanFormat | None = None,
    expect_size: tuple[int, int] | None = None,
    max_bytes: int = MAX_PAYLOAD_BYTES,
    max_side: int = MAX_SIDE,
) -> Scan:
    """Check and decode a payload; `expect_*` come from the record's metadata. Raises BadPayload."""
    if len(data) > max_bytes:
        raise BadPayload(f"payload of {len(data)} bytes exceeds the {max_bytes}-byte limit")
    fmt = sniff_format(data)
    if expect_format is not None and fmt != expect_format:
        raise BadPayload(f"metadata says {expect_format} but the bytes are {fmt}")
    w, h = image_size(data)
    if not (MIN_SIDE <= w <= max_side and MIN_SIDE <= h <= max_side):
        raise BadPayload(f"frame {w}x{h} outside {MIN_SIDE}..{max_side} pixels a side")
    if expect_size is not None and (w, h) != tuple(expect_size):
        raise BadPayload(f"metadata says {expect_size[0]}x{expect_size[1]} but the image is {w}x{h}")
    if fmt == "dual-png16":
        high, low = (_decode_png16(part, name) for part, name in zip(_split_dual(data), ("high", "low")))
        if high.shape != low.shape:
            raise BadPayload(f"dual-energy halves differ in size: high {high.shape[::-1]}, low {low.shape[::-1]}")
        return Scan(fmt, high=high, low=low)
    if fmt == "rgb-png":
        bit_depth, colour_type = _png_header(data)[2:]
        if bit_depth == 16 and colour_type == 0:
            raise BadPayload("16-bit greyscale PNG is one dual-energy half: send the pair as dual-png16")
        if (bit_depth, colour_type) == (8, 2) and (rgb := _spng_rgb8(data)) is not None:  # 8-bit RGB
            return Scan(fmt, rgb=rgb)
    elif data.rfind(JPEG_EOI, max(0, len(data) - 1024)) < 0:  # some encoders pad after EOI
        raise BadPayload("truncated JPEG: no end-of-image marker")
    # EXIF orientation ignored: OpenCV would turn the pixels, and a frame no longer the size its header (the
    # record's width and height, every box) says; `lanewatch bench fuzz` found it with a JPEG's orientation 6
    if _IMREAD_RGB is not None:  # OpenCV 4.10+: decoded straight to RGB, no second pass over the pixels
        rgb = cv2.imdecode(np.frombuffer(data, np.uint8), _IMREAD_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    else:
        rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        rgb = None if rgb is None else cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB)
    if rgb is None:
        raise BadPayload(f"{fmt} payload cannot be decoded")
    if rgb.shape[:2] != (h, w):
        raise BadPayload(f"{fmt} header says {w}x{h} but the pixels decode as {rgb.shape[1]}x{rgb.shape[0]}")
    return Scan(fmt, rgb=rgb)


def _spng_rgb8(data: bytes) -> np.ndarray | None:
    """An 8-bit RGB PNG (the caller read IHDR) decoded by libspng (pyspng), a third faster than OpenCV's
    libpng (3.9 against 5.8 ms for a 640x480 scan, the crop service's largest cost); None when it is not
    what it claims or is damaged: OpenCV then converts, or reports the damage. pyspng's libspng ignores chunk checksums and
    turns a damaged scan into garbage pixels, so they are checked here first (zlib.crc32, ~0.1 ms)."""
    if pyspng is None or not _chunk_crcs_ok(data):
        return None
    try:
        rgb = pyspng.load(data)
    except Exception:  # noqa: BLE001 - libspng's errors vary by damage; OpenCV's path reports it as BadPayload
        return None
    return rgb if rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 else None


def _chunk_crcs_ok(data: bytes) -> bool:
    """Every chunk of a PNG is whole and its CRC matches (the signature and IHDR are checked by the caller)."""
    view, at, end = memoryview(data), len(PNG_MAGIC), len(data)
    while at + 12 <= end:
        (length,) = struct.unpack_from(">I", data, at)
        stop = at + 8 + length
        if stop + 4 > end or zlib.crc32(view[at + 4 : stop]) != struct.unpack_from(">I", data, stop)[0]:
            return False
        if data[at + 4 : at + 8] == b"IEND":
            return True
        at = stop + 4
    return False


def _encode(ext: str, image: np.ndarray, params: list[int]) -> bytes:
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode {ext}")
    return buf.tobytes()


def _png_header(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from IHDR, after checking the PNG is complete."""
    if not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR":
        raise BadPayload("not a PNG: missing signature or IHDR chunk")
    if len(data) < 45 or not data.endswith(PNG_IEND):
        raise BadPayload("truncated PNG: no IEND chunk at the end")
    w, h, depth, colour = struct.unpack(">IIBB", data[16:26])
    return w, h, depth, colour


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i, n = 2, len(data)
    while i + 9 <= n:
        if data[i] != 0xFF:
            raise BadPayload(f"corrupt JPEG: expected a marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_SOF:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    raise BadPayload("corrupt JPEG: no frame header (SOF) found")


def _split_dual(data: bytes) -> tuple[bytes, bytes]:
    parts, i = [], len(DUAL_MAGIC)
    for name in ("high", "low"):
        if i + 4 > len(data):
            raise BadPayload(f"truncated dual-png16 container: no length for the {name} image")
        (n,) = struct.unpack(">I", data[i : i + 4])
        if i + 4 + n > len(data):
            raise BadPayload(f"truncated dual-png16 container: {name} image announces {n} bytes, {len(data) - i - 4} left")
        parts.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    if i != len(data):
        raise BadPayload(f"dual-png16 container has {len(data) - i} trailing bytes")
    return parts[0], parts[1]


def _decode_png16(data: bytes, name: str) -> np.ndarray:
    depth, colour = _png_header(data)[2:]
    if depth != 16 or colour != 0:
        raise BadPayload(f"dual-energy {name} image must be 16-bit greyscale PNG, got bit depth {depth}, colour type {colour}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint16 or image.ndim != 2:
        raise BadPayload(f"dual-energy {name} image cannot be decoded as 16-bit greyscale")
    return image
