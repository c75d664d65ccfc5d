"""TensorRT runtime: engines built from the exported ONNX, cached per machine, run with pycuda.

Why it is built this way:

- An engine is compiled for one GPU model and one TensorRT version, so it is
  built where it runs, once: `build_engine` caches the serialized engine under
  a key of the ONNX bytes, the GPU, the TensorRT version, the precision and the
  batch profile, and the next load of the same ONNX reads the cache (seconds,
  not minutes).
- The batch axis is dynamic (min/opt/max); kernels are tuned for ``opt_batch``,
  the batch the dynamic batcher usually fills.
- Each batch in flight has its own CUDA stream, execution context and
  optimisation profile (TensorRT requires a separate profile for each context
  that runs concurrently with dynamic shapes), so the upload of batch n+1
  overlaps the compute of batch n: `submit` returns at once, `InFlight.result`
  waits.
- Canvases travel to the GPU as uint8, a quarter of the bytes of float32, and a
  small CUDA kernel normalises and transposes them there.
- INT8 uses entropy calibration (IInt8EntropyCalibrator2) on letterboxed
  canvases of the deployment's own kind of frames; the calibration table is
  cached beside the engines.
- The ONNX metadata (classes, input size and format, anchors) is written beside
  the engine as JSON and checked at load, as every runtime does.

This is the only module that imports tensorrt and pycuda, and only when called,
so the rest of lanewatch runs where neither is installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from models.metadata import INPUT_NAME, OUTPUT_NAME, DetectorInfo, decode_metadata, validate_metadata
from models.nms import postprocess
from models.runtime.base import RuntimeBase, RuntimeUnavailable, to_network_batch
from models.shipped import WeightsError, first_line

__all__ = [
    "BuiltEngine",
    "InFlight",
    "TensorRTDetector",
    "build_engine",
    "cuda_device_count",
    "default_cache_dir",
    "metadata_path",
    "require_tensorrt",
]

_log = logging.getLogger(__name__)

INSTALL_HINT = "install it with `pip install lanewatch[gpu]` (tensorrt, pycuda) on a machine with an NVIDIA GPU"

# (N, S, S, C) uint8 -> (N, C, S, S) float32, one thread per output element. The same float32
# multiply by 1/255 as models.runtime.base.to_network_batch, so both paths give identical input.
_NORMALISE_SOURCE = r"""
__global__ void canvases_to_network(const unsigned char* __restrict__ src, float* __restrict__ dst,
                                    int pixels, int channels, int total)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int p = i % pixels;
    int c = (i / pixels) % channels;
    int n = i / (pixels * channels);
    dst[i] = src[(n * pixels + p) * channels + c] * (1.0f / 255.0f);
}
"""
_THREADS_PER_BLOCK = 256


class BuiltEngine(NamedTuple):
    """A serialized engine in the cache; ``cached``: found there rather than built now."""

    path: Path
    cached: bool


def require_tensorrt() -> tuple[ModuleType, ModuleType]:
    """tensorrt and an initialised pycuda.driver; RuntimeUnavailable saying what to install when either is missing."""
    try:
        import tensorrt as trt
    except ImportError as err:
        raise RuntimeUnavailable(f"TensorRT is not installed ({err}): {INSTALL_HINT}") from err
    try:
        import pycuda.driver as cuda
    except ImportError as err:  # also what a machine without the NVIDIA driver (libcuda) gives
        raise RuntimeUnavailable(f"pycuda cannot be loaded ({err}): {INSTALL_HINT}") from err
    if trt.__version__.split(".")[0] != "10":
        # 11 removed the FP16/INT8 builder flags and INT8 calibration that the builds here use
        raise RuntimeUnavailable(f"lanewatch needs TensorRT 10, not {trt.__version__}: pip install 'tensorrt>=10,<11'")
    try:
        cuda.init()
    except cuda.Error as err:
        raise RuntimeUnavailable(f"the CUDA driver did not start: {err}") from err
    return trt, cuda


def cuda_device_count() -> int:
    """CUDA devices this machine offers TensorRT; 0 where tensorrt, pycuda or the driver is missing."""
    try:
        _, cuda = require_tensorrt()
    except RuntimeUnavailable:
        return 0
    return cuda.Device.count()


def default_cache_dir() -> Path:
    """$LANEWATCH_ENGINE_CACHE, else ``lanewatch/engines`` in the user's cache folder ($XDG_CACHE_HOME or ~/.cache)."""
    if configured := os.environ.get("LANEWATCH_ENGINE_CACHE"):
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lanewatch" / "engines"


def metadata_path(engine_path: Path) -> Path:
    """The JSON beside an engine: the ONNX metadata, and how and where the engine was built."""
    return engine_path.with_name(engine_path.name + ".json")


def build_engine(
    onnx_path: str | Path,
    *,
    fp16: bool = False,
    int8: bool = False,
    calib_frames: np.ndarray | None = None,
    min_batch: int = 1,
    opt_batch: int = 8,
    max_batch: int = 32,
    streams: int = 2,
    cache_dir: str | Path | None = None,
    workspace_gb: float = 4.0,
    device: int = 0,
    log: logging.Logger = _log,
) -> BuiltEngine:
    """The engine for the ONNX file ``onnx_path`` from the cache in ``cache_dir``, built there first if missing.

    Precision: FP32 (TF32 off, to match the reference), ``fp16``, or ``int8``
    (FP16 where INT8 has no kernel), calibrated on ``calib_frames``: uint8
    (N, S, S, C_in) letterboxed canvases, N >= ``opt_batch`` (calibration runs
    at the opt batch). ``streams`` optimisation profiles are built, one per
    batch in flight. Progress goes to ``log`` at INFO: a build takes minutes.
    """
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise ValueError(f"need 1 <= min_batch <= opt_batch <= max_batch, got {min_batch}, {opt_batch}, {max_batch}")
    if streams < 1:
        raise ValueError(f"streams must be at least 1, got {streams}")
    trt, cuda = require_tensorrt()
    onnx_path = Path(onnx_path)
    onnx_bytes = onnx_path.read_bytes()
    info = DetectorInfo.from_metadata(_onnx_metadata(onnx_bytes, onnx_path))
    frame_shape = (info.img_size, info.img_size, info.in_channels)
    precision = "int8" if int8 else "fp16" if fp16 else "fp32"
    if int8:
        calib_frames = _checked_calibration(calib_frames, frame_shape, opt_batch)
    build = {
        "onnx_sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        **_gpu(cuda, device),
        "tensorrt": trt.__version__,
        "precision": precision,
        "batch": [min_batch, opt_batch, max_batch],
        "profiles": streams,
        "calibration": hashlib.sha256(calib_frames.tobytes()).hexdigest()[:16] if int8 else None,
    }
    key = hashlib.sha256(json.dumps(build, sort_keys=True).encode()).hexdigest()[:16]
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    engine_path = cache_dir / f"{onnx_path.stem}-{precision}-b{min_batch}-{opt_batch}-{max_batch}-{key}.engine"
    if engine_path.is_file() and metadata_path(engine_path).is_file():
        log.info("TensorRT engine cache hit: %s", engine_path)
        return BuiltEngine(engine_path, cached=True)

    log.info("building a %s TensorRT %s engine of %s for %s, batch %d/%d/%d: minutes, once per machine",
             precision, trt.__version__, onnx_path.name, build["gpu"], min_batch, opt_batch, max_batch)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # the table depends on the ONNX, the frames and TensorRT's calibrator, not on the GPU or batch profile
    calibration_table = cache_dir / f"{build['onnx_sha256'][:16]}-{build['calibration']}-trt{trt.__version__}.calib"
    started = time.perf_counter()
    with _primary_context(cuda, device):
        calibrator = _calibrator(trt, cuda, calib_frames, opt_batch, calibration_table, log) if int8 else None
        serialized = _build(trt, onnx_bytes, onnx_path, frame_shape, precision=precision,
                            batch=(min_batch, opt_batch, max_batch), streams=streams,
                            workspace_gb=workspace_gb, calibrator=calibrator, log=log)
        del calibrator  # frees its device buffer while the context is current
    seconds = time.perf_counter() - started
    # the engine first, its JSON last: the JSON's presence marks a complete cache entry
    _write_atomic(engine_path, serialized)
    sidecar = {"metadata": info.metadata, "build": {**build, "seconds": round(seconds, 1)}}
    _write_atomic(metadata_path(engine_path), json.dumps(sidecar, indent=1).encode())
    log.info("TensorRT engine built in %.0f s: %s", seconds, engine_path)
    return BuiltEngine(engine_path, cached=False)


def _build(
    trt: ModuleType,
    onnx_bytes: bytes,
    onnx_path: Path,
    frame_shape: tuple[int, int, int],
    *,
    precision: str,
    batch: tuple[int, int, int],
    streams: int,
    workspace_gb: float,
    calibrator: Any,
    log: logging.Logger,
) -> Any:
    """The serialized engine (an IHostMemory) of ``onnx_bytes``."""
    logger = _trt_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10 networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    log.info("TensorRT build: parsing %s", onnx_path.name)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ValueError(f"TensorRT cannot parse {onnx_path}: {errors}")
    s, _, c = frame_shape
    inp = network.get_input(0)
    if network.num_inputs != 1 or inp.name != INPUT_NAME or tuple(inp.shape)[1:] != (c, s, s):
        raise ValueError(f"{onnx_path}: expected one input {INPUT_NAME!r} (N, {c}, {s}, {s}), "
                         f"got {inp.name} {inp.shape}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if precision == "fp32":
        # TF32 convolutions keep 10 mantissa bits: neither FP32 nor the reference's numbers
        config.clear_flag(trt.BuilderFlag.TF32)
    else:
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator  # calibration runs on the opt shape of profile 0
    min_batch, opt_batch, max_batch = batch
    for _ in range(streams):
        profile = builder.create_optimization_profile()
        profile.set_shape(INPUT_NAME, (min_batch, c, s, s), (opt_batch, c, s, s), (max_batch, c, s, s))
        config.add_optimization_profile(profile)
    monitor = _progress_monitor(trt, log)  # referenced here until the build returns
    config.progress_monitor = monitor
    log.info("TensorRT build: choosing kernels for each layer (%s)", precision)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ValueError(f"TensorRT could not build an engine from {onnx_path}: see its messages above")
    return serialized


def _progress_monitor(trt: ModuleType, log: logging.Logger) -> Any:
    """An IProgressMonitor logging the builder's phases."""

    class BuildProgress(trt.IProgressMonitor):
        """The outer two levels of phases at INFO, deeper ones at DEBUG; never cancels."""

        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.depth: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            depth = self.depth.get(parent_phase, -1) + 1 if parent_phase else 0
            self.depth[phase_name] = depth
            level = logging.INFO if depth < 2 else logging.DEBUG
            log.log(level, "TensorRT build: %s%s (%d steps)", "  " * depth, phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True

        def phase_finish(self, phase_name: str) -> None:
            self.depth.pop(phase_name, None)

    return BuildProgress()


def _calibrator(
    trt: ModuleType, cuda: ModuleType, frames: np.ndarray, batch: int, table: Path, log: logging.Logger
) -> Any:
    """An IInt8EntropyCalibrator2 over uint8 canvases ``frames``, ``batch`` at a time; its table cached in ``table``."""
    s, _, c = frames.shape[1:]

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = len(frames) // batch
            self.next = 0
            self.host = np.empty((batch, c, s, s), np.float32)
            self.device = cuda.mem_alloc(self.host.nbytes)

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self.next == self.batches:
                return None
            chunk = frames[self.next * batch : (self.next + 1) * batch]
            cuda.memcpy_htod(self.device, to_network_batch(chunk, out=self.host))
            self.next += 1
            log.info("TensorRT build: INT8 calibration batch %d/%d", self.next, self.batches)
            return [int(self.device)]

        def read_calibration_cache(self) -> bytes | None:
            if not table.is_file():
                return None
            log.info("TensorRT build: INT8 calibration table from %s", table)
            return table.read_bytes()

        def write_calibration_cache(self, cache: Any) -> None:
            _write_atomic(table, cache)

    return EntropyCalibrator()


class InFlight:
    """A batch enqueued on one of a `TensorRTDetector`'s streams; ``result`` waits for it."""

    def __init__(self, detector: TensorRTDetector, slot: _Slot, size: int) -> None:
        self._detector, self._slot, self._size = detector, slot, size
        self._decoded: np.ndarray | None = None

    def result(self) -> np.ndarray:
        """Decoded (n, M, 5 + C), before NMS."""
        if self._decoded is None:
            with self._detector.current_context():
                self._slot.done.synchronize()
            # copied out: the pinned buffer takes the slot's next batch
            self._decoded = self._slot.decoded_host[: self._size].copy()
            self._slot.pending = None
        return self._decoded


@dataclass(eq=False)
class _Slot:
    """What one batch in flight owns: a stream, an execution context on its own profile, buffers for max_batch."""

    stream: Any
    context: Any
    done: Any  # an event recorded after the output copy
    canvases_host: np.ndarray  # pinned (B, S, S, C) uint8
    canvases_device: Any  # (B, S, S, C) uint8
    images_device: Any  # (B, C, S, S) float32: the engine's input
    decoded_device: Any  # (B, M, 5 + C) float32: the engine's output
    decoded_host: np.ndarray  # pinned (B, M, 5 + C) float32
    images_host: np.ndarray | None = None  # pinned (B, C, S, S) float32, made on the first float batch
    pending: InFlight | None = None


class TensorRTDetector(RuntimeBase):
    """An engine from `build_engine` (and the JSON beside it), run on CUDA device ``device``.

    ``streams`` batches may be in flight at once, round-robin (default: one per
    optimisation profile of the engine). Batches larger than the engine's max
    batch are split. Meant for one calling thread at a time; any thread may be it.
    """

    def __init__(self, engine_path: str | Path, *, device: int = 0, streams: int | None = None) -> None:
        self.path = Path(engine_path)
        sidecar = metadata_path(self.path)
        if not self.path.is_file() or not sidecar.is_file():
            raise FileNotFoundError(f"{self.path} and {sidecar.name} beside it are needed: build them with "
                                    "`lanewatch export --format tensorrt`")
        try:
            info = json.loads(sidecar.read_text())
            super().__init__(info["metadata"])
        except (ValueError, KeyError, TypeError) as err:
            raise WeightsError(self.path, f"{sidecar.name} beside it is not an engine's metadata ({first_line(err)}): "
                                          "rebuild both with `lanewatch export --format tensorrt`") from err
        self.build: dict[str, Any] = info["build"]
        trt, self._cuda = require_tensorrt()
        _check_portable(self.build, trt, _gpu(self._cuda, device), self.path)
        self._context = self._cuda.Device(device).retain_primary_context()
        with self.current_context():
            self._runtime = trt.Runtime(_trt_logger(trt))
            self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self._engine is None:
                raise WeightsError(self.path, "TensorRT could not deserialize it (damaged, or built elsewhere): "
                                              "rebuild it on this machine")
            self._check_io(trt)
            profiles = self._engine.num_optimization_profiles
            if not 1 <= (streams or profiles) <= profiles:
                raise ValueError(f"{self.path} has {profiles} optimisation profiles: "
                                 f"1 to {profiles} streams, not {streams}")
            self.max_batch = int(self._engine.get_tensor_profile_shape(INPUT_NAME, 0)[2][0])
            c, s, _ = self.input_shape
            if self.max_batch * c * s * s >= 2**31:
                raise ValueError(f"max batch {self.max_batch} at {s} px overflows the normalising kernel's indices")
            self._slots = [self._make_slot(i) for i in range(streams or profiles)]
            self._normalise = self._normalise_kernel()
        self._next = 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, C_in, S, S) float32 in [0, 1] -> decoded (N, M, 5 + C), before NMS."""
        return self._run(self.check_batch(batch), self.submit)

    def detect_canvases(
        self,
        canvases: np.ndarray,
        *,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        max_det: int = 300,
    ) -> list[np.ndarray]:
        """(N, S, S, C_in) uint8 canvases -> as `detect`; uploaded as uint8 and normalised on the GPU."""
        decoded = self._run(self.check_canvases(canvases), self.submit_canvases)
        return postprocess(decoded, conf_threshold=conf_threshold, iou_threshold=iou_threshold, max_det=max_det)

    def submit(self, batch: np.ndarray) -> InFlight:
        """Enqueue (n, C_in, S, S) float32 in [0, 1], n <= max_batch, on the next stream; returns at once."""
        batch = self.check_batch(batch)
        size = self._checked_size(len(batch))
        with self.current_context():
            slot = self._take_slot()
            np.copyto(self._pinned_images(slot)[:size], batch)
            self._cuda.memcpy_htod_async(slot.images_device, slot.images_host[:size], slot.stream)
            return self._enqueue(slot, size)

    def submit_canvases(self, canvases: np.ndarray) -> InFlight:
        """Enqueue (n, S, S, C_in) uint8 canvases, n <= max_batch, on the next stream; returns at once."""
        canvases = self.check_canvases(canvases)
        size = self._checked_size(len(canvases))
        with self.current_context():
            slot = self._take_slot()
            if self._normalise is None:  # no nvcc here: normalise on the host, upload float32
                to_network_batch(canvases, out=self._pinned_images(slot)[:size])
                self._cuda.memcpy_htod_async(slot.images_device, slot.images_host[:size], slot.stream)
                return self._enqueue(slot, size)
            np.copyto(slot.canvases_host[:size], canvases)
            self._cuda.memcpy_htod_async(slot.canvases_device, slot.canvases_host[:size], slot.stream)
            c, s, _ = self.input_shape
            total = size * c * s * s
            grid = ((total + _THREADS_PER_BLOCK - 1) // _THREADS_PER_BLOCK, 1)
            self._normalise.prepared_async_call(grid, (_THREADS_PER_BLOCK, 1, 1), slot.stream,
                                                int(slot.canvases_device), int(slot.images_device), s * s, c, total)
            return self._enqueue(slot, size)

    @contextlib.contextmanager
    def current_context(self) -> Iterator[None]:
        """This detector's CUDA context (the device's primary one, which TensorRT uses) current on this thread."""
        self._context.push()
        try:
            yield
        finally:
            self._cuda.Context.pop()

    def close(self) -> None:
        """Free the GPU memory, contexts and engine now rather than at garbage collection."""
        with self.current_context():
            for slot in self._slots:
                slot.stream.synchronize()
                for buffer in (slot.canvases_device, slot.images_device, slot.decoded_device):
                    buffer.free()
            self._slots.clear()
            self._engine = self._runtime = None
        self._context.detach()

    def _run(self, items: np.ndarray, submit: Callable[[np.ndarray], InFlight]) -> np.ndarray:
        if len(items) == 0:
            return np.empty((0, *self._slots[0].decoded_host.shape[1:]), np.float32)
        pending = [submit(items[i : i + self.max_batch]) for i in range(0, len(items), self.max_batch)]
        return np.concatenate([p.result() for p in pending])

    def _checked_size(self, size: int) -> int:
        if not 1 <= size <= self.max_batch:
            raise ValueError(f"a submitted batch holds 1 to {self.max_batch} images (the engine's max), not {size}")
        return size

    def _pinned_images(self, slot: _Slot) -> np.ndarray:
        """The slot's pinned float32 input buffer, made on first use: canvases (the pipeline's input) need none."""
        if slot.images_host is None:
            slot.images_host = self._cuda.pagelocked_empty((self.max_batch, *self.input_shape), np.float32)
        return slot.images_host

    def _take_slot(self) -> _Slot:
        slot = self._slots[self._next]
        self._next = (self._next + 1) % len(self._slots)
        if slot.pending is not None:
            slot.pending.result()  # its output must leave the pinned buffer before the slot is reused
        return slot

    def _enqueue(self, slot: _Slot, size: int) -> InFlight:
        c, s, _ = self.input_shape
        if not slot.context.set_input_shape(INPUT_NAME, (size, c, s, s)):
            raise ValueError(f"{self.path} rejects a batch of {size}")
        if not slot.context.execute_async_v3(slot.stream.handle):
            raise RuntimeError(f"TensorRT failed to enqueue a batch of {size} on {self.path}")
        self._cuda.memcpy_dtoh_async(slot.decoded_host[:size], slot.decoded_device, slot.stream)
        slot.done.record(slot.stream)
        slot.pending = InFlight(self, slot, size)
        return slot.pending

    def _make_slot(self, profile: int) -> _Slot:
        cuda = self._cuda
        stream = cuda.Stream()
        context = self._engine.create_execution_context()
        if not context.set_optimization_profile_async(profile, stream.handle):
            raise ValueError(f"{self.path}: cannot select optimisation profile {profile}")
        c, s, _ = self.input_shape
        context.set_input_shape(INPUT_NAME, (self.max_batch, c, s, s))
        decoded_shape = tuple(context.get_tensor_shape(OUTPUT_NAME))
        if len(decoded_shape) != 3 or decoded_shape[2] != 5 + len(self.class_names):
            raise ValueError(f"{self.path}: output {decoded_shape} does not match {len(self.class_names)} classes")
        images_device = cuda.mem_alloc(self.max_batch * c * s * s * 4)
        decoded_device = cuda.mem_alloc(int(np.prod(decoded_shape)) * 4)
        context.set_tensor_address(INPUT_NAME, int(images_device))
        context.set_tensor_address(OUTPUT_NAME, int(decoded_device))
        return _Slot(
            stream=stream,
            context=context,
            done=cuda.Event(),
            canvases_host=cuda.pagelocked_empty((self.max_batch, s, s, c), np.uint8),
            canvases_device=cuda.mem_alloc(self.max_batch * s * s * c),
            images_device=images_device,
            decoded_device=decoded_device,
            decoded_host=cuda.pagelocked_empty(decoded_shape, np.float32),
        )

    def _check_io(self, trt: ModuleType) -> None:
        engine = self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if inputs != [INPUT_NAME] or [n for n in names if n not in inputs] != [OUTPUT_NAME]:
            raise ValueError(f"{self.path}: expected tensors {INPUT_NAME!r} in and {OUTPUT_NAME!r} out, got {names}")
        for name in names:
            if np.dtype(trt.nptype(engine.get_tensor_dtype(name))) != np.float32:
                raise ValueError(f"{self.path}: tensor {name} is {engine.get_tensor_dtype(name)}, not float32")
        shape = tuple(engine.get_tensor_shape(INPUT_NAME))
        # -1: a dynamic axis of the ONNX (batch; height and width too), fixed by the profile at S x S
        if len(shape) != 4 or any(d not in (-1, want) for d, want in zip(shape[1:], self.input_shape, strict=True)):
            raise ValueError(f"{self.path}: input {shape} does not match its metadata {self.input_shape}")

    def _normalise_kernel(self) -> Any:
        """The uint8-to-float kernel, or None (with a warning) where nvcc is not installed to compile it."""
        from pycuda.compiler import SourceModule

        try:
            kernel = SourceModule(_NORMALISE_SOURCE).get_function("canvases_to_network")
        except (OSError, self._cuda.CompileError) as err:
            _log.warning("canvases will be normalised on the CPU: the CUDA kernel did not compile (%s)", err)
            return None
        kernel.prepare("PPiii")
        return kernel


def _checked_calibration(frames: np.ndarray | None, frame_shape: tuple[int, int, int], batch: int) -> np.ndarray:
    if frames is None:
        raise ValueError("INT8 needs calibration frames: uint8 letterboxed canvases (N, S, S, C)")
    frames = np.ascontiguousarray(frames)
    if frames.dtype != np.uint8 or frames.shape[1:] != frame_shape:
        raise ValueError(f"calibration frames must be uint8 (N, {', '.join(map(str, frame_shape))}), "
                         f"got {frames.dtype} {frames.shape}")
    if len(frames) < batch:
        raise ValueError(f"INT8 calibration runs at the opt batch: give at least {batch} frames, not {len(frames)}")
    return frames


def _check_portable(build: dict[str, Any], trt: ModuleType, gpu: dict[str, Any], path: Path) -> None:
    """ValueError for an engine built for another TensorRT or GPU architecture; a warning for another GPU model."""
    if build["tensorrt"] != trt.__version__ or build["compute_capability"] != gpu["compute_capability"]:
        raise ValueError(
            f"{path} was built with TensorRT {build['tensorrt']} for a {build['gpu']}; this machine has TensorRT "
            f"{trt.__version__} and a {gpu['gpu']}. Engines are not portable: rebuild with `lanewatch export "
            "--format tensorrt`, or load the .onnx with runtime='tensorrt'"
        )
    if build["gpu"] != gpu["gpu"]:
        _log.warning("%s was built on a %s and runs on a %s: rebuild it here for the best kernels",
                     path, build["gpu"], gpu["gpu"])


def _gpu(cuda: ModuleType, index: int) -> dict[str, Any]:
    count = cuda.Device.count()
    if not 0 <= index < count:
        raise RuntimeUnavailable(f"no CUDA device {index}: this machine has {count}")
    device = cuda.Device(index)
    return {"gpu": device.name(), "compute_capability": list(device.compute_capability())}


@contextlib.contextmanager
def _primary_context(cuda: ModuleType, index: int) -> Iterator[None]:
    """The device's primary context, the one TensorRT uses, current on this thread for the block."""
    context = cuda.Device(index).retain_primary_context()
    context.push()
    try:
        yield
    finally:
        cuda.Context.pop()
        context.detach()


@cache
def _trt_logger(trt: ModuleType) -> Any:
    # one logger per process: TensorRT keeps the first it is given
    return trt.Logger(trt.Logger.WARNING)


def _onnx_metadata(onnx_bytes: bytes, path: Path) -> dict[str, Any]:
    """The metadata ``models.export.export_onnx`` stored, read with onnx alone (no torch on a TensorRT host)."""
    import onnx

    proto = onnx.load_model_from_string(onnx_bytes)
    try:
        return validate_metadata(decode_metadata({p.key: p.value for p in proto.metadata_props}))
    except ValueError as err:
        raise ValueError(f"{path} was not written by `lanewatch export`: {err}") from err


def _write_atomic(path: Path, data: Any) -> None:
    """Write bytes-like ``data`` to ``path`` so that a reader (another process here) never sees half of it."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with partial.open("wb") as f:
        f.write(data)
    partial.replace(path)
