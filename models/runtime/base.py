"""The interface every detector runtime offers, and what the runtimes share."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from models.metadata import DetectorInfo
from models.nms import postprocess
from pipeline.preprocess import DUAL_BACKGROUND, RGB_BACKGROUND


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity where the OS reports one, else all cores."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


class RuntimeUnavailable(OSError):
    """A runtime's libraries or device are missing on this machine (TensorRT without a GPU, CUDA without a driver).

    An ``OSError``: the machine, not the input, is at fault, and the CLI reports it as such (exit code 2).
    """


@runtime_checkable
class DetectorRuntime(Protocol):
    """A loaded detector: preprocessed frames in, decoded or NMS'd detections out."""

    info: DetectorInfo  # the metadata, typed: what callers read
    metadata: dict[str, Any]  # every key the weights carry, as stored
    dynamic_size: bool = False  # runs inputs smaller than img_size (multiples of its largest stride) as they are

    @property
    def class_names(self) -> tuple[str, ...]: ...

    @property
    def img_size(self) -> int: ...

    @property
    def input_format(self) -> str: ...

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, C_in, S, S) float32 in [0, 1] -> decoded (N, M, 5 + C), before NMS."""
        ...

    def detect(
        self,
        batch: np.ndarray,
        *,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        max_det: int = 300,
    ) -> list[np.ndarray]:
        """(N, C_in, S, S) -> per image (K, 6) rows (x1, y1, x2, y2, score, class_id) in input pixels."""
        return postprocess(
            self(batch), conf_threshold=conf_threshold, iou_threshold=iou_threshold, max_det=max_det
        )

    def detect_canvases(
        self,
        canvases: np.ndarray,
        *,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        max_det: int = 300,
    ) -> list[np.ndarray]:
        """(N, H, W, C_in) uint8 canvases, H and W at most S -> as `detect`.

        The pipeline's entry point: normalisation (to float in [0, 1], channels
        first) is the runtime's business, so a GPU runtime can upload the
        uint8 pixels (4x fewer bytes) and normalise on the device. Canvases
        smaller than S (trimmed to their bags) run at their own size where the
        model allows it (`dynamic_size`), else padded below and to the right.
        """
        return self.detect(
            self.network_batch(canvases), conf_threshold=conf_threshold, iou_threshold=iou_threshold, max_det=max_det
        )

    def network_batch(self, canvases: np.ndarray) -> np.ndarray:
        """(N, H, W, C) uint8 canvases -> the float (N, C, H, W) batch `__call__` takes."""
        return to_network_batch(canvases)


PAD_VALUES = {"rgb": RGB_BACKGROUND, "dual": DUAL_BACKGROUND}  # the empty belt, as the canvases have it


def to_network_batch(canvases: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(N, H, W, C) uint8 -> (N, C, H, W) float32 in [0, 1], in one pass, into `out` when given (reused buffers)."""
    canvases = np.asarray(canvases)
    if canvases.ndim != 4 or canvases.dtype != np.uint8:
        raise ValueError(f"expected uint8 canvases (N, H, W, C), got {canvases.dtype} {canvases.shape}")
    n, h, w, c = canvases.shape
    if out is None:
        out = np.empty((n, c, h, w), np.float32)
    elif out.shape != (n, c, h, w) or out.dtype != np.float32:
        raise ValueError(f"out must be float32 {(n, c, h, w)}, got {out.dtype} {out.shape}")
    np.multiply(canvases.transpose(0, 3, 1, 2), np.float32(1 / 255), out=out, casting="unsafe")
    return out


class RuntimeBase(DetectorRuntime):
    """Metadata checked at load and input checks; ``detect`` (call plus NMS) comes from the Protocol.

    ``dynamic_size``: the model runs inputs smaller than S (any multiple of its largest stride), as a
    fully convolutional network exported with free spatial axes does; else every input is S x S.
    """

    dynamic_size: bool = False

    def __init__(self, metadata: Mapping[str, Any]) -> None:
        self.info = DetectorInfo.from_metadata(metadata)

    @property
    def metadata(self) -> dict[str, Any]:
        """Every key the weights carry, as stored (validated with ``info``)."""
        return self.info.metadata

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.info.class_names

    @property
    def img_size(self) -> int:
        return self.info.img_size

    @property
    def input_format(self) -> str:
        return self.info.input_format

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C_in, S, S) of one preprocessed frame at the full input size."""
        return self.info.in_channels, self.img_size, self.img_size

    @property
    def stride(self) -> int:
        """The largest stride: input sides must be multiples of it."""
        return self.info.stride

    def run_size(self, height: int, width: int) -> tuple[int, int]:
        """The (H, W) an input of ``height`` x ``width`` (at most S) runs at: itself up to the stride, or S x S."""
        if not self.dynamic_size:
            return self.img_size, self.img_size
        k = self.stride
        return -(-height // k) * k, -(-width // k) * k

    def check_batch(self, batch: np.ndarray) -> np.ndarray:
        """``batch`` as C-contiguous float32 (N, C_in, H, W), or ValueError; (H, W) must be what `run_size` gives."""
        c = self.input_shape[0]
        if batch.ndim != 4 or batch.shape[1] != c or batch.shape[2:] != self.run_size(*batch.shape[2:]) \
                or max(batch.shape[2:]) > self.img_size:
            expected = f"(N, {c}, H, W), H and W multiples of {self.stride} up to {self.img_size}" if self.dynamic_size \
                else f"(N, {', '.join(map(str, self.input_shape))})"
            raise ValueError(f"expected a batch {expected}, got {batch.shape}")
        return np.ascontiguousarray(batch, dtype=np.float32)

    def check_canvases(self, canvases: np.ndarray) -> np.ndarray:
        """``canvases`` as C-contiguous uint8 (N, H, W, C_in) at `run_size`, padded with the empty belt; or ValueError."""
        canvases = np.asarray(canvases)
        c, s, _ = self.input_shape
        if canvases.dtype != np.uint8 or canvases.ndim != 4 or canvases.shape[3] != c or max(canvases.shape[1:3]) > s:
            raise ValueError(f"expected uint8 canvases (N, H, W, {c}), H and W at most {s}, got {canvases.dtype} {canvases.shape}")
        n, h, w, _ = canvases.shape
        rh, rw = self.run_size(h, w)
        if (rh, rw) == (h, w):
            return np.ascontiguousarray(canvases)
        padded = np.empty((n, rh, rw, c), np.uint8)
        padded[:] = np.asarray(PAD_VALUES.get(self.input_format, (255,) * c)[:c], np.uint8)
        padded[:, :h, :w] = canvases
        return padded

    def network_batch(self, canvases: np.ndarray) -> np.ndarray:
        """Checked canvases normalised into a float buffer kept per batch size (no allocation per batch).

        The buffer is only read by the runtime call that follows, so reusing it is safe for one caller
        at a time (each service runs one batch at a time).
        """
        canvases = self.check_canvases(canvases)
        buffers = self.__dict__.setdefault("_net_buffers", {})
        n, h, w, c = canvases.shape
        if (buf := buffers.get((n, h, w))) is None:
            if len(buffers) > 64:  # trimmed canvases: a few dozen shapes at most; bound it anyway
                buffers.clear()
            buf = buffers[(n, h, w)] = np.empty((n, c, h, w), np.float32)
        return to_network_batch(canvases, out=buf)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError
