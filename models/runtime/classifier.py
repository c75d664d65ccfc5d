"""`ScanClassifier`: image-level threat probabilities for whole scans, from an exported or a PyTorch classifier.

The scan-level gate calls ``scores(frames)``: RGB uint8 frames of any size in,
(N, C) probabilities out. It letterboxes each frame onto the square input as
training did (`pipeline.preprocess.letterbox`, empty-belt fill) and runs them
in batches. ``.onnx`` runs on ONNX Runtime (imports no torch), ``.pt`` on
PyTorch (`models.chr.load_classifier`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.metadata import INPUT_NAME, decode_metadata
from models.runtime.base import to_network_batch, usable_cores
from pipeline.preprocess import background_for, letterbox

__all__ = ["ScanClassifier"]

_OUTPUT_NAME = "scores"  # models.export.CLASSIFIER_OUTPUT_NAME, not imported: that module needs torch and onnx
_TASK = "classify"  # models.chr.TASK, likewise


class ScanClassifier:
    """The classifier in ``path`` (.onnx or .pt) on ``threads`` CPU threads (None: every usable core);
    ``batch`` frames per network call."""

    def __init__(self, path: str | Path, *, threads: int | None = 1, batch: int = 16) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no classifier weights at {self.path}")
        self.threads, self.batch = threads or usable_cores(), batch
        suffix = self.path.suffix.lower()
        if suffix == ".onnx":
            self._run, meta = self._onnx()
        elif suffix == ".pt":
            self._run, meta = self._torch()
        else:
            raise ValueError(f"a classifier runs from a .onnx or .pt file, not {self.path.name!r}")
        self.metadata: dict[str, Any] = meta
        self.class_names: tuple[str, ...] = tuple(meta["class_names"])
        self.img_size = int(meta["img_size"])
        self.fill = background_for(meta.get("input_format", "rgb"))

    def _onnx(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shares cores with the pipeline
        session = ort.InferenceSession(str(self.path), sess_options=options, providers=["CPUExecutionProvider"])
        meta = decode_metadata(session.get_modelmeta().custom_metadata_map)
        if meta.get("task") != _TASK:
            raise ValueError(f"cannot load classifier weights {self.path}: an ONNX model without a classifier's "
                             "metadata (task classify), a detector's perhaps; export a classifier checkpoint "
                             "with `lanewatch export`")
        return (lambda x: session.run([_OUTPUT_NAME], {INPUT_NAME: x})[0]), meta

    def _torch(self):
        import torch

        from models.chr import ScoresOnly, export_metadata, load_classifier

        model, config, _ = load_classifier(self.path)
        net = ScoresOnly(model).eval()

        def run(x: np.ndarray) -> np.ndarray:
            before = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                with torch.inference_mode():
                    return net(torch.from_numpy(x)).numpy()
            finally:
                torch.set_num_threads(before)

        return run, export_metadata(config)

    def canvases(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """(N, S, S, 3) uint8: each frame letterboxed onto the network's square input."""
        s = self.img_size
        out = np.empty((len(frames), s, s, 3), np.uint8)
        for i, frame in enumerate(frames):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"frame {i}: expected uint8 (H, W, 3) RGB, got {frame.dtype} {frame.shape}")
            out[i] = letterbox(frame, s, fill=self.fill)[0]
        return out

    def scores(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """(N, C) float32 probabilities in [0, 1], classes in ``class_names`` order, for RGB uint8 (H, W, 3) frames."""
        out = np.empty((len(frames), len(self.class_names)), np.float32)
        for start in range(0, len(frames), self.batch):
            chunk = self.canvases(frames[start : start + self.batch])
            out[start : start + len(chunk)] = self._run(to_network_batch(chunk))
        return out
