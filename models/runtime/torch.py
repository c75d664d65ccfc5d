"""PyTorch detector runtime: the reference the compiled runtimes are checked against."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoint import load_detector
from models.decode import DetectorWithDecode
from models.metadata import detector_metadata
from models.runtime.base import RuntimeBase


class TorchDetector(RuntimeBase):
    """An in-memory detector (an ``ASPPYOLO``) run in eval mode; ``load`` reads a ``.pt`` checkpoint.

    Torch's thread count is process-wide (``torch.set_num_threads``), so this
    runtime leaves it alone.
    """

    def __init__(
        self, model: torch.nn.Module, metadata: Mapping[str, Any], *, device: str | torch.device = "cpu"
    ) -> None:
        super().__init__(metadata)
        self.device = torch.device(device)
        self.net = DetectorWithDecode(model).to(self.device).eval()

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> TorchDetector:
        """The checkpoint ``path`` from ``models.checkpoint.save_checkpoint``."""
        model, config, extra = load_detector(path, map_location=device)
        return cls(model, detector_metadata(config, input_format=extra.get("input_format", "rgb")), device=device)

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, C_in, S, S) float32 in [0, 1] -> decoded (N, M, 5 + C), before NMS."""
        x = torch.from_numpy(self.check_batch(batch)).to(self.device)
        return self.net(x).float().cpu().numpy()
