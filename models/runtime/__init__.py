"""Detector runtimes behind one interface, chosen from the weights file or by name.

``.pt`` -> PyTorch (``TorchDetector``), ``.onnx`` -> ONNX Runtime
(``OnnxDetector``), ``.engine`` / ``.plan`` / ``.trt`` -> TensorRT (``TensorRTDetector``).
An ``.onnx`` also runs on TensorRT with ``runtime="tensorrt"``: the engine is
built on first use and cached per machine (``models.runtime.tensorrt``).
Runtimes are imported on demand so that loading one never needs another's
libraries.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np

from models.metadata import DetectorInfo
from models.runtime.base import DetectorRuntime, RuntimeBase, RuntimeUnavailable, to_network_batch, usable_cores

__all__ = [
    "RUNTIMES",
    "DetectorRuntime",
    "RuntimeBase",
    "RuntimeUnavailable",
    "available_runtimes",
    "load_runtime",
    "runtime_for",
    "to_network_batch",
    "usable_cores",
    "weights_info",
    "weights_metadata",
]

RUNTIMES = ("onnxruntime", "tensorrt", "torch")
_BY_SUFFIX = {".onnx": "onnxruntime", ".pt": "torch", ".engine": "tensorrt", ".plan": "tensorrt", ".trt": "tensorrt"}
# the weights files each runtime reads
_READS = {"onnxruntime": (".onnx",), "torch": (".pt",), "tensorrt": (".onnx", ".engine", ".plan", ".trt")}


def runtime_for(path: str | Path) -> str:
    """The runtime that reads ``path`` by default, from its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in _BY_SUFFIX:
        raise ValueError(f"no runtime for {Path(path).name!r}: expected a .pt, .onnx, .engine, .plan or .trt file")
    return _BY_SUFFIX[suffix]


def weights_metadata(path: str | Path) -> dict:
    """The metadata a runtime would carry for the weights at ``path``, read without building the network.

    ``.onnx``: the properties the export stored; ``.pt``: the checkpoint's config and training record;
    an engine: its runtime's (loads it).
    """
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        from models.export import load_onnx_metadata

        return load_onnx_metadata(path)
    if path.suffix.lower() == ".pt":
        from models.checkpoint import export_metadata, load_detector
        from models.metadata import detector_metadata

        _, config, extra = load_detector(path)
        more = export_metadata(config, extra)
        return detector_metadata(config, input_format=more.pop("input_format"), **more)
    return dict(load_runtime(path).metadata)


def weights_info(path: str | Path) -> DetectorInfo:
    """`weights_metadata`, typed."""
    return DetectorInfo.from_metadata(weights_metadata(path))


@cache
def available_runtimes() -> tuple[str, ...]:
    """The runtimes this machine can run: their libraries installed and, for TensorRT, a CUDA device present."""
    from models.runtime.tensorrt import cuda_device_count

    found = [name for name in ("onnxruntime", "torch") if importlib.util.find_spec(name) is not None]
    if cuda_device_count() > 0:
        found.append("tensorrt")
    return tuple(sorted(found, key=RUNTIMES.index))


def load_runtime(
    path: str | Path,
    *,
    runtime: str | None = None,
    threads: int | None = None,
    spin: bool = True,
    device: str | None = None,
    fp16: bool = False,
    int8: bool = False,
    calib_frames: np.ndarray | None = None,
    opt_batch: int = 8,
    max_batch: int = 32,
    cache_dir: str | Path | None = None,
    compile: bool = False,
) -> DetectorRuntime:
    """The detector in the weights file ``path`` on ``runtime`` (one of `RUNTIMES`; default from the suffix).

    - ``threads``, ``spin``: ONNX Runtime's intra-op pool (default all usable
      cores, spinning); tuning for CPU runtimes, ignored by the others.
    - ``device``: "cpu" (default for ONNX Runtime and PyTorch) or "cuda[:N]"
      (default for TensorRT).
    - ``fp16``: half precision (TensorRT, or PyTorch on CUDA); ``int8``: TensorRT
      INT8, calibrated on ``calib_frames`` (uint8 letterboxed canvases).
    - ``opt_batch``, ``max_batch``, ``cache_dir``: the TensorRT engine built
      from an ``.onnx`` (a built engine has its own).
    - ``compile``: ``torch.compile`` the PyTorch model.

    Options that change the numbers (precision, compilation) are errors where
    the runtime cannot honour them, never silently dropped.
    """
    path = Path(path)
    runtime = runtime or runtime_for(path)
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    if path.suffix.lower() not in _READS[runtime]:
        raise ValueError(f"the {runtime} runtime reads {' or '.join(_READS[runtime])} files, not {path.name!r}"
                         + ("; export one with `lanewatch export`" if path.suffix.lower() == ".pt" else ""))
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    if int8 and runtime != "tensorrt":
        raise ValueError(f"int8 is a TensorRT precision, not one of the {runtime} runtime")
    if fp16 and runtime == "onnxruntime":
        raise ValueError("ONNX Runtime runs the exported float32 graph: fp16 is for the tensorrt and torch runtimes")
    if compile and runtime != "torch":
        raise ValueError(f"compile is torch.compile, an option of the torch runtime, not of {runtime}")
    if calib_frames is not None and not int8:
        raise ValueError("calib_frames calibrate INT8: pass int8=True with them")

    if runtime == "onnxruntime":
        from models.runtime.onnx import OnnxDetector, providers_for

        return OnnxDetector(path, threads=threads, spin=spin, providers=providers_for(device or "cpu"))
    if runtime == "torch":
        from models.runtime.torch import TorchDetector

        return TorchDetector.load(path, device=device or "cpu", half=fp16, compile=compile)

    from models.runtime.tensorrt import TensorRTDetector, build_engine

    index = _cuda_index(device or "cuda")
    if path.suffix.lower() == ".onnx":
        path = build_engine(path, fp16=fp16, int8=int8, calib_frames=calib_frames, opt_batch=opt_batch,
                            max_batch=max_batch, cache_dir=cache_dir, device=index).path
    elif fp16 or int8:
        raise ValueError(f"{path.name} is a built engine: its precision was fixed when it was built "
                         "(load the .onnx to build another)")
    return TensorRTDetector(path, device=index)


def _cuda_index(device: str) -> int:
    """The CUDA device index in "cuda" or "cuda:N"."""
    kind, _, index = device.partition(":")
    if kind != "cuda" or not (index or "0").isdigit():
        raise ValueError(f"TensorRT runs on 'cuda' or 'cuda:N', not {device!r}")
    return int(index or 0)
