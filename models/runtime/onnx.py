"""ONNX Runtime detector: the CPU runtime of the detect stage. Imports no torch.

Threads default to the cores this process may run on (``os.sched_getaffinity``,
which honours container CPU sets and ``taskset``, where ``os.cpu_count`` does
not). ``spin=False`` stops the intra-op threads busy-waiting for work between
operators: on a small machine shared with the other pipeline processes those
spinning threads take cores the crop and alert stages need, for a latency gain
of well under a millisecond per batch.

Output I/O binding (into a preallocated buffer) was measured and is not used:
on the CPU provider it was no faster than ``session.run`` (medians 31.4 against
30.1 ms at batch 1, 204 against 199 ms at batch 8, nano at 416 on 2 cores).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument, InvalidGraph, InvalidProtobuf

from models.metadata import INPUT_NAME, OUTPUT_NAME, decode_metadata
from models.runtime.base import RuntimeBase, RuntimeUnavailable, usable_cores
from models.shipped import WeightsError, first_line, what_file_is

CPU_PROVIDERS = ("CPUExecutionProvider",)
# CPU stays as the fallback for the odd operator the CUDA provider lacks.
CUDA_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


def providers_for(device: str) -> tuple[str, ...]:
    """The execution providers for ``device`` ("cpu" or "cuda"); RuntimeUnavailable where CUDA is missing."""
    if device == "cpu":
        return CPU_PROVIDERS
    if device.split(":")[0] != "cuda":
        raise ValueError(f"ONNX Runtime runs on 'cpu' or 'cuda', not {device!r}")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise RuntimeUnavailable(
            "this ONNX Runtime has no CUDA execution provider: install onnxruntime-gpu on a machine with an NVIDIA GPU"
        )
    return CUDA_PROVIDERS


class OnnxDetector(RuntimeBase):
    """A model from ``models.export.export_onnx``; metadata is read and checked at load.

    ``threads``: intra-op threads (default: the usable cores). ``spin``: let idle
    intra-op threads busy-wait (ONNX Runtime's default); turn off on shared
    machines. ``providers``: ONNX Runtime execution providers in order of
    preference (default CPU; see ``providers_for``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int | None = None,
        spin: bool = True,
        providers: Sequence[str] = CPU_PROVIDERS,
    ) -> None:
        missing = [p for p in providers if p not in ort.get_available_providers()]
        if missing:
            available = ort.get_available_providers()
            raise ValueError(f"execution providers {missing} are not in this ONNX Runtime, which has {available}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or usable_cores()
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=list(providers))
        except (InvalidProtobuf, InvalidArgument, InvalidGraph, Fail) as err:
            if not self.path.is_file():
                raise FileNotFoundError(f"no weights file at {self.path}") from err
            # ONNX Runtime's message repeats the path: keep what follows it ("Protobuf parsing failed")
            reason = first_line(str(err).rpartition("failed:")[2]).rstrip(".")
            raise WeightsError(self.path, f"not a readable ONNX model ({what_file_is(self.path)}; {reason})") from err
        try:
            super().__init__(decode_metadata(self.session.get_modelmeta().custom_metadata_map))
        except ValueError as err:
            raise WeightsError(self.path, f"an ONNX model without lanewatch's detector metadata ({err}); "
                                          "export one with `lanewatch export`") from err
        (inp,), (out,) = self.session.get_inputs(), self.session.get_outputs()
        # Dynamic axes come back as names (str), fixed ones as ints: free height and width (`export_onnx`'s
        # default) run trimmed canvases at their own size.
        spatial = tuple(inp.shape[2:])
        self.dynamic_size = len(spatial) == 2 and all(isinstance(d, str) for d in spatial)
        if inp.name != INPUT_NAME or len(inp.shape) != 4 or inp.shape[1] != self.input_shape[0] \
                or not (self.dynamic_size or spatial == self.input_shape[1:]):
            raise ValueError(f"{path}: input {inp.name} {inp.shape} does not match its metadata {self.input_shape}")
        width = out.shape[-1]
        if out.name != OUTPUT_NAME or (isinstance(width, int) and width != 5 + len(self.class_names)):
            raise ValueError(f"{path}: output {out.name} {out.shape} does not match {len(self.class_names)} classes")

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, C_in, H, W) float32 in [0, 1] -> decoded (N, M, 5 + C), before NMS."""
        (decoded,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: self.check_batch(batch)})
        return decoded
