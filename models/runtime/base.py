"""The interface every detector runtime offers, and what the runtimes share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from models.metadata import validate_metadata
from models.nms import postprocess


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

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError
