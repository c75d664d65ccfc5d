"""Detector runtimes behind one interface, chosen from the weights file.

``.pt`` -> PyTorch (``TorchDetector``), ``.onnx`` -> ONNX Runtime
(``OnnxDetector``). Runtimes are imported on demand so that loading one never
needs another's libraries.
"""

from __future__ import annotations

from pathlib import Path

from models.runtime.base import DetectorRuntime, RuntimeBase

__all__ = ["DetectorRuntime", "RuntimeBase", "load_runtime"]


def load_runtime(path: str | Path, *, threads: int | None = None) -> DetectorRuntime:
    """The runtime for the weights file ``path``, by suffix; ``threads`` for ONNX Runtime's intra-op pool."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pt":
        from models.runtime.torch import TorchDetector

        return TorchDetector.load(path)
    if suffix == ".onnx":
        from models.runtime.onnx import OnnxDetector

        return OnnxDetector(path, threads=threads)
    raise ValueError(f"no runtime for {path.name!r}: expected a .pt or .onnx file")
