"""Backbone feature maps of a detector at reduced resolution: what task-driven cropping reads.

`FeatureExtractor` resizes a frame so that its long side is ``long_side``
pixels (each side a multiple of the stage's stride, so that feature cells tile
the frame exactly), and runs the detector's backbone only up to ``layer``.
With ``runtime="onnx"`` the truncated backbone is exported once at load (in
memory, height and width dynamic) and run by ONNX Runtime, which is several
times faster than PyTorch eager on such small inputs.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from torch import nn

from models.backbone import STAGE_NAMES, STAGE_STRIDES
from models.checkpoint import load_detector
from pipeline.crop.tdc import TaskDrivenCropper, TDCConfig
from pipeline.preprocess import background_for

__all__ = ["FeatureExtractor", "downscale", "load_tdc"]

Runner = Callable[[np.ndarray], np.ndarray]


class FeatureExtractor:
    """Frame (H, W, 3) uint8 -> (C, h, w) float32 map of backbone stage ``layer``.

    Cell (i, j) covers frame pixels x in [j W / w, (j + 1) W / w), y likewise.
    ``run`` maps a (1, 3, h_in, w_in) float32 batch in [0, 1] to (1, C, h_in / s, w_in / s).
    """

    def __init__(self, run: Runner, *, layer: str, long_side: int, input_format: str = "rgb") -> None:
        self.stride = _stride(layer)
        if long_side < 2 * self.stride:
            raise ValueError(f"long_side {long_side} is too small for stage {layer} (stride {self.stride})")
        self.run = run
        self.layer = layer
        self.long_side = long_side
        self.input_format = input_format

    @property
    def shift(self) -> float:
        """Where cell j's receptive field is centred, in cells, relative to the centre of tile j.

        Each stage opens with a 3x3 stride-2 convolution padded by 1, whose
        output j is centred on input pixel 2j: over log2(s) stages the centre is
        pixel s j, i.e. (s - 1) / 2 pixels left of the tile's centre.
        """
        return -(self.stride - 1) / (2 * self.stride)

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """(w_in, h_in) the backbone sees for a width x height frame: aspect kept, multiples of the stride."""
        r = self.long_side / max(width, height)
        s = self.stride
        return max(s, round(width * r / s) * s), max(s, round(height * r / s) * s)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected a uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
        small = downscale(frame, self.input_size(frame.shape[1], frame.shape[0]))
        x = np.ascontiguousarray(small.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)
        return self.run(x)[0]

    @classmethod
    def load(
        cls,
        weights: str | Path,
        *,
        layer: str,
        long_side: int,
        runtime: Literal["onnx", "torch"] = "onnx",
        threads: int = 1,
    ) -> FeatureExtractor:
        """The backbone of the detector checkpoint ``weights`` (a ``.pt``; for a ``.onnx``, the ``.pt`` beside it).

        TDC's choice of ``layer`` and ``long_side`` lives in `pipeline.crop.TDCConfig`.
        """
        _stride(layer)
        model, _, extra = load_detector(_checkpoint_for(Path(weights)))
        backbone = _Truncated(model, layer).eval()
        if runtime == "torch":
            run = _torch_runner(backbone, threads)
        elif runtime == "onnx":
            run = _onnx_runner(backbone, threads)
        else:
            raise ValueError(f"runtime must be 'onnx' or 'torch', got {runtime!r}")
        return cls(run, layer=layer, long_side=long_side, input_format=str(extra.get("input_format", "rgb")))


def downscale(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` (w, h), averaging pixels like INTER_AREA at a tenth of its cost.

    INTER_AREA on a full frame takes about 2.4 ms here (crop500 frames, 256
    long side); sampling twice the target's pixels and averaging them 2:1
    takes 0.23 ms and still averages the belt's noise down (what TDC's
    thresholds are measured against).
    """
    w, h = size
    if image.shape[1] > 2 * w and image.shape[0] > 2 * h:
        image = cv2.resize(image, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def _stride(layer: str) -> int:
    if layer not in STAGE_STRIDES:
        raise ValueError(f"layer must be one of {STAGE_NAMES}, got {layer!r}")
    return STAGE_STRIDES[layer]


def _checkpoint_for(weights: Path) -> Path:
    if weights.suffix.lower() == ".pt":
        return weights
    pt = weights.with_suffix(".pt")
    if weights.suffix.lower() == ".onnx" and pt.is_file():
        return pt
    raise ValueError(f"cropping reads the backbone from a .pt checkpoint; found none for {weights}")


class _Truncated(nn.Module):
    """The detector's backbone stages up to ``layer`` (after DOAM where it has one): (N, 3, H, W) -> (N, C, H / s, W / s)."""

    def __init__(self, detector: nn.Module, layer: str) -> None:
        super().__init__()
        self.detector = detector
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.detector.features(x, self.layer)


def _torch_runner(backbone: nn.Module, threads: int) -> Runner:
    def run(x: np.ndarray) -> np.ndarray:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                return backbone(torch.from_numpy(x)).numpy()
        finally:
            torch.set_num_threads(previous)

    return run


def _onnx_runner(backbone: nn.Module, threads: int) -> Runner:
    import onnxruntime as ort

    buffer = io.BytesIO()
    example = torch.rand(1, 3, 64, 96)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the TorchScript exporter: fast, and dynamic height and width need no shape constraints
        torch.onnx.export(
            backbone, (example,), buffer, dynamo=False, opset_version=17, input_names=["images"],
            output_names=["features"], dynamic_axes={"images": {2: "h", 3: "w"}, "features": {2: "fh", 3: "fw"}},
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(buffer.getvalue(), sess_options=options, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        (out,) = session.run(["features"], {"images": x})
        return out

    return run


def load_tdc(
    weights: str | Path,
    *,
    config: TDCConfig = TDCConfig(),
    runtime: str = "onnx",
    threads: int = 1,
) -> TaskDrivenCropper:
    """TDC reading ``config.layer`` of the detector checkpoint ``weights``, belt-referenced for its input mode.

    The one loader the crop service, `eval crop` and the benchmarks share.
    """
    extractor = FeatureExtractor.load(
        weights, layer=config.layer, long_side=config.long_side, runtime=runtime, threads=threads
    )
    return TaskDrivenCropper(
        extractor, config, belt_colour=background_for(extractor.input_format), reference_size=config.long_side
    )
