"""PyTorch detector runtime: the reference the compiled runtimes are checked against.

It runs on the CPU or a CUDA device. ``half=True`` (CUDA only) runs the network
in float16 but keeps the decoder in float32: box corners are hundreds of pixels,
where float16 steps are a quarter pixel. ``compile=True`` wraps the network in
``torch.compile`` (the first batch of each new size pays the compilation).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.checkpoint import load_detector, trained_size, trained_zoom
from models.decode import DetectorWithDecode
from models.metadata import detector_metadata
from models.runtime.base import RuntimeBase, RuntimeUnavailable


class _HalfNetwork(nn.Module):
    """The network of a ``DetectorWithDecode`` in float16, its decoder in float32."""

    def __init__(self, net: DetectorWithDecode) -> None:
        super().__init__()
        self.model = net.model.half()
        self.decoder = net.decoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder([raw.float() for raw in self.model(images.half())])


class TorchDetector(RuntimeBase):
    """An in-memory detector (an ``ASPPYOLO``) run in eval mode; ``load`` reads a ``.pt`` checkpoint.

    Torch's thread count is process-wide (``torch.set_num_threads``), so this
    runtime leaves it alone.
    """

    def __init__(
        self,
        model: nn.Module,
        metadata: Mapping[str, Any],
        *,
        device: str | torch.device = "cpu",
        half: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__(metadata)
        self.dynamic_size = not compile  # fully convolutional; a compiled graph would recompile for each new size
        self.device = _checked_device(device)
        if half and self.device.type != "cuda":
            raise ValueError("half precision needs a CUDA device: float16 on the CPU is slower, not faster")
        net: nn.Module = DetectorWithDecode(model).to(self.device).eval()
        if half:
            net = _HalfNetwork(net)
        self.net = torch.compile(net) if compile else net

    @classmethod
    def load(
        cls, path: str | Path, *, device: str | torch.device = "cpu", half: bool = False, compile: bool = False
    ) -> TorchDetector:
        """The checkpoint ``path`` from ``models.checkpoint.save_checkpoint``."""
        device = _checked_device(device)
        model, config, extra = load_detector(path, map_location=device)
        meta = detector_metadata(config, input_format=extra.get("input_format", "rgb"), max_zoom=trained_zoom(extra),
                                   train_img_size=trained_size(config, extra))
        return cls(model, meta, device=device, half=half, compile=compile)

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, C_in, H, W) float32 in [0, 1] -> decoded (N, M, 5 + C), before NMS."""
        x = torch.from_numpy(self.check_batch(batch)).to(self.device)
        return self.net(x).float().cpu().numpy()


def _checked_device(device: str | torch.device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeUnavailable(f"torch cannot use {device}: this torch build or machine has no CUDA device")
    return device
