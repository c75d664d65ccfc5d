"""ONNX Runtime detector: the CPU runtime of the detect stage. Imports no torch."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from models.metadata import INPUT_NAME, OUTPUT_NAME, decode_metadata
from models.runtime.base import RuntimeBase


class OnnxDetector(RuntimeBase):
    """A model from ``models.export.export_onnx``; metadata is read and checked at load."""

    def __init__(
        self, path: str | Path, *, threads: int | None = None, providers: Sequence[str] = ("CPUExecutionProvider",)
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = Path(path)
        self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=list(providers))
        super().__init__(decode_metadata(self.session.get_modelmeta().custom_metadata_map))
        (inp,), (out,) = self.session.get_inputs(), self.session.get_outputs()
        # Dynamic axes come back as names (str), fixed ones as ints.
        if inp.name != INPUT_NAME or tuple(inp.shape[1:]) != self.input_shape:
            raise ValueError(f"{path}: input {inp.name} {inp.shape} does not match its metadata {self.input_shape}")
        width = out.shape[-1]
        if out.name != OUTPUT_NAME or (isinstance(width, int) and width != 5 + len(self.class_names)):
            raise ValueError(f"{path}: output {out.name} {out.shape} does not match {len(self.class_names)} classes")

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, C_in, S, S) float32 in [0, 1] -> decoded (N, M, 5 + C), before NMS."""
        (decoded,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: self.check_batch(batch)})
        return decoded
