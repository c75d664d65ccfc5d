"""The interface every detector runtime offers, and what the runtimes share."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from models.metadata import validate_metadata
from models.nms import postprocess


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

    metadata: dict[str, Any]

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
        """(N, S, S, C_in) uint8 letterboxed canvases -> as `detect`.

        The pipeline's entry point: normalisation (to float in [0, 1], channels
        first) is the runtime's business, so a GPU runtime can upload the
        uint8 pixels (4x fewer bytes) and normalise on the device.
        """
        return self.detect(
            self.network_batch(canvases), conf_threshold=conf_threshold, iou_threshold=iou_threshold, max_det=max_det
        )

    def network_batch(self, canvases: np.ndarray) -> np.ndarray:
        """(N, S, S, C) uint8 canvases -> the float (N, C, S, S) batch `__call__` takes."""
        return to_network_batch(canvases)


def to_network_batch(canvases: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(N, S, S, C) uint8 -> (N, C, S, S) float32 in [0, 1], in one pass, into `out` when given (reused buffers)."""
    canvases = np.asarray(canvases)
    if canvases.ndim != 4 or canvases.dtype != np.uint8:
        raise ValueError(f"expected uint8 canvases (N, S, S, C), got {canvases.dtype} {canvases.shape}")
    n, h, w, c = canvases.shape
    if out is None:
        out = np.empty((n, c, h, w), np.float32)
    elif out.shape != (n, c, h, w) or out.dtype != np.float32:
        raise ValueError(f"out must be float32 {(n, c, h, w)}, got {out.dtype} {out.shape}")
    np.multiply(canvases.transpose(0, 3, 1, 2), np.float32(1 / 255), out=out, casting="unsafe")
    return out


class RuntimeBase(DetectorRuntime):
    """Metadata checked at load and input checks; ``detect`` (call plus NMS) comes from the Protocol."""

    def __init__(self, metadata: Mapping[str, Any]) -> None:
        self.metadata = validate_metadata(metadata)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.metadata["class_names"])

    @property
    def img_size(self) -> int:
        return int(self.metadata["img_size"])

    @property
    def input_format(self) -> str:
        return str(self.metadata["input_format"])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C_in, S, S) of one preprocessed frame."""
        return int(self.metadata["in_channels"]), self.img_size, self.img_size

    def check_batch(self, batch: np.ndarray) -> np.ndarray:
        """``batch`` as C-contiguous float32 (N, C_in, S, S), or ValueError."""
        if batch.ndim != 4 or batch.shape[1:] != self.input_shape:
            raise ValueError(f"expected a batch (N, {', '.join(map(str, self.input_shape))}), got {batch.shape}")
        return np.ascontiguousarray(batch, dtype=np.float32)

    def check_canvases(self, canvases: np.ndarray) -> np.ndarray:
        """``canvases`` as C-contiguous uint8 (N, S, S, C_in), or ValueError."""
        canvases = np.asarray(canvases)
        c, s, _ = self.input_shape
        if canvases.dtype != np.uint8 or canvases.ndim != 4 or canvases.shape[1:] != (s, s, c):
            raise ValueError(f"expected uint8 canvases (N, {s}, {s}, {c}), got {canvases.dtype} {canvases.shape}")
        return np.ascontiguousarray(canvases)

    def network_batch(self, canvases: np.ndarray) -> np.ndarray:
        """Checked canvases normalised into a float buffer kept per batch size (no allocation per batch).

        The buffer is only read by the runtime call that follows, so reusing it is safe for one caller
        at a time (each service runs one batch at a time).
        """
        canvases = self.check_canvases(canvases)
        buffers = self.__dict__.setdefault("_net_buffers", {})
        n, s, _, c = canvases.shape
        if (buf := buffers.get(n)) is None:
            buf = buffers[n] = np.empty((n, c, s, s), np.float32)
        return to_network_batch(canvases, out=buf)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError
