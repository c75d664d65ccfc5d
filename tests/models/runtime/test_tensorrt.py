"""TensorRT runtime on a real GPU: engine build and cache, parity with PyTorch per precision, streams, uint8 upload.

The shipped (trained) weights on simulator frames, so detections are real and
confident and the comparisons after NMS are not decided by near-ties. Skipped
where tensorrt, pycuda or a CUDA device is missing; nothing is faked.

Tolerances against the PyTorch reference (CPU, float32):
- FP32 (TF32 off): decoded boxes within 0.5 px at 416 (1.2e-3 of the side),
  probabilities within 2e-3, over every row of the decoded output;
- FP16: after NMS, every reference detection scoring 0.35 or more (a margin
  over the 0.25 threshold) has a TensorRT one of its class with IoU > 0.9 and a
  score within 0.02, and the other way round;
- INT8: after NMS, at least half of the reference detections scoring 0.5 or
  more are found (same class, IoU > 0.5).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gpu
pytest.importorskip("tensorrt")
pytest.importorskip("pycuda.driver")

from models.checkpoint import load_detector  # noqa: E402
from models.export import export_onnx  # noqa: E402
from models.runtime import RuntimeUnavailable, load_runtime, to_network_batch  # noqa: E402
from models.runtime.tensorrt import (  # noqa: E402
    TensorRTDetector,
    build_engine,
    cuda_device_count,
    metadata_path,
    require_tensorrt,
)
from models.runtime.torch import TorchDetector  # noqa: E402
from services.commands.export import calibration_canvases  # noqa: E402

try:
    require_tensorrt()
except RuntimeUnavailable as err:
    pytest.skip(str(err), allow_module_level=True)
if cuda_device_count() == 0:
    pytest.skip("no CUDA device", allow_module_level=True)

SHIPPED = Path(__file__).parents[3] / "models" / "weights" / "aspp_yolo_nano.pt"
BATCH = {"opt_batch": 2, "max_batch": 4}


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory) -> Path:
    model, config, extra = load_detector(SHIPPED)
    meta = {"class_names": list(config.class_names), "input_format": extra.get("input_format", "rgb")}
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "nano.onnx", img_size=config.img_size, metadata=meta)


@pytest.fixture(scope="module")
def reference() -> TorchDetector:
    return TorchDetector.load(SHIPPED)


@pytest.fixture(scope="module")
def frames(reference) -> np.ndarray:
    """Four letterboxed simulator canvases on which the reference finds something at 0.35 or more."""
    canvases = calibration_canvases(count=16, img_size=reference.img_size, input_format=reference.input_format, seed=7)
    found = reference.detect_canvases(canvases, conf_threshold=0.35)
    picked = canvases[[i for i, d in enumerate(found) if len(d)][:4]]
    assert len(picked) == 4, "the shipped model should find threats in most simulator frames"
    return picked


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="module")
def fp32(onnx_path, cache):
    return build_engine(onnx_path, cache_dir=cache, **BATCH)


@pytest.fixture(scope="module")
def fp16(onnx_path, cache):
    return build_engine(onnx_path, fp16=True, cache_dir=cache, **BATCH)


def matched(found: np.ndarray, wanted: np.ndarray, *, iou: float, score_diff: float | None) -> np.ndarray:
    """For each row of ``wanted`` (K, 6), whether ``found`` has one of its class overlapping it by more than ``iou``."""
    out = np.zeros(len(wanted), bool)
    for k, (x1, y1, x2, y2, score, cls) in enumerate(wanted):
        same = found[found[:, 5] == cls]
        iw = np.clip(np.minimum(same[:, 2], x2) - np.maximum(same[:, 0], x1), 0, None)
        ih = np.clip(np.minimum(same[:, 3], y2) - np.maximum(same[:, 1], y1), 0, None)
        inter = iw * ih
        union = (x2 - x1) * (y2 - y1) + (same[:, 2] - same[:, 0]) * (same[:, 3] - same[:, 1]) - inter
        ok = inter / union > iou
        if score_diff is not None:
            ok &= np.abs(same[:, 4] - score) < score_diff
        out[k] = ok.any()
    return out


def test_engine_is_built_once_then_found_in_the_cache(onnx_path, cache, fp32):
    assert not fp32.cached and fp32.path.parent == cache
    info = json.loads(metadata_path(fp32.path).read_text())
    assert info["metadata"]["img_size"] == 416 and info["metadata"]["class_names"][0] == "gun"
    assert info["build"]["precision"] == "fp32" and info["build"]["batch"] == [1, 2, 4] and info["build"]["gpu"]
    built_at = fp32.path.stat().st_mtime_ns

    again = build_engine(onnx_path, cache_dir=cache, **BATCH)
    assert again.cached and again.path == fp32.path and again.path.stat().st_mtime_ns == built_at
    # the key holds the batch profile: another max batch is another engine
    other = build_engine(onnx_path, cache_dir=cache, opt_batch=2, max_batch=8)
    assert not other.cached and other.path != fp32.path

    runtime = load_runtime(onnx_path, runtime="tensorrt", cache_dir=cache, **BATCH)
    assert isinstance(runtime, TensorRTDetector) and runtime.path == fp32.path and runtime.max_batch == 4


@pytest.mark.parametrize("batch", [1, 4])
def test_fp32_matches_pytorch(fp32, reference, frames, batch):
    x = to_network_batch(frames[:batch])
    got, expected = TensorRTDetector(fp32.path)(x), reference(x)
    assert got.shape == expected.shape == (batch, 3 * sum((416 // s) ** 2 for s in (8, 16, 32)), 10)
    assert np.abs(got[..., :4] - expected[..., :4]).max() < 0.5
    assert np.abs(got[..., 4:] - expected[..., 4:]).max() < 2e-3


@pytest.mark.parametrize("batch", [1, 4])
def test_fp16_matches_pytorch_after_nms(fp16, reference, frames, batch):
    x = to_network_batch(frames[:batch])
    got, expected = TensorRTDetector(fp16.path).detect(x), reference.detect(x)
    confident = 0
    for g, e in zip(got, expected, strict=True):
        g_sure, e_sure = g[g[:, 4] >= 0.35], e[e[:, 4] >= 0.35]
        confident += len(e_sure)
        assert matched(g, e_sure, iou=0.9, score_diff=0.02).all()
        assert matched(e, g_sure, iou=0.9, score_diff=0.02).all()
    assert confident >= batch


def test_int8_keeps_most_detections_and_reuses_its_calibration(onnx_path, reference, frames, tmp_path, caplog):
    calib = calibration_canvases(count=16, img_size=416, input_format=reference.input_format, seed=1)
    built = build_engine(onnx_path, int8=True, calib_frames=calib, cache_dir=tmp_path, opt_batch=4, max_batch=4)
    assert len(list(tmp_path.glob("*.calib"))) == 1
    x = to_network_batch(frames)
    got, expected = TensorRTDetector(built.path).detect(x), reference.detect(x)
    wanted = [e[e[:, 4] >= 0.5] for e in expected]
    hits = np.concatenate([matched(g, w, iou=0.5, score_diff=None) for g, w in zip(got, wanted, strict=True)])
    assert len(hits) and hits.mean() >= 0.5

    # another batch profile from the same frames: a new engine, the same calibration table
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="models.runtime.tensorrt"):
        build_engine(onnx_path, int8=True, calib_frames=calib, cache_dir=tmp_path, opt_batch=4, max_batch=8)
    assert "INT8 calibration table from" in caplog.text
    assert "INT8 calibration batch" not in caplog.text


def test_detect_canvases_is_detect_on_the_normalised_batch(fp32, frames):
    runtime = TensorRTDetector(fp32.path, streams=1)  # one context: the same kernels for both paths
    on_gpu, on_host = runtime.submit_canvases(frames).result(), runtime(to_network_batch(frames))
    np.testing.assert_allclose(on_gpu, on_host, rtol=1e-5, atol=1e-4)
    for a, b in zip(runtime.detect_canvases(frames), runtime.detect(to_network_batch(frames)), strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-3)
    runtime.close()


def test_batches_in_flight_on_two_streams_and_split_above_max(fp32, frames):
    # the two streams run on two optimisation profiles, which may have different kernels: hence atol 1e-2 px
    runtime = TensorRTDetector(fp32.path)
    x = to_network_batch(frames)
    single = [runtime(x[i : i + 1]) for i in range(4)]
    # three submissions on two streams: the third waits for the first's slot, whose result is kept
    pending = [runtime.submit(x[i : i + 2]) for i in (0, 2, 0)]
    for p, start in zip(reversed(pending), (0, 2, 0)[::-1], strict=True):
        np.testing.assert_allclose(p.result(), np.concatenate(single[start : start + 2]), atol=1e-2)
    ten = np.concatenate([x, x, x[:2]])  # above max batch 4: split into 4 + 4 + 2
    np.testing.assert_allclose(runtime(ten), np.concatenate(single + single + single[:2]), atol=1e-2)
    assert runtime(x[:0]).shape == (0, *single[0].shape[1:])
    with pytest.raises(ValueError, match="1 to 4 images"):
        runtime.submit(ten)
    with pytest.raises(ValueError, match="uint8"):
        runtime.submit_canvases(x)


def test_engine_metadata_and_portability_are_checked(fp32, tmp_path):
    engine = tmp_path / "nano.engine"
    shutil.copyfile(fp32.path, engine)
    with pytest.raises(FileNotFoundError, match=r"nano\.engine\.json"):
        TensorRTDetector(engine)
    info = json.loads(metadata_path(fp32.path).read_text())
    metadata_path(engine).write_text(json.dumps(info))
    runtime = load_runtime(engine)
    assert isinstance(runtime, TensorRTDetector) and runtime.img_size == 416 and runtime.class_names[0] == "gun"
    with pytest.raises(ValueError, match="precision was fixed"):
        load_runtime(engine, fp16=True)
    info["build"]["tensorrt"] = "9.0.0"
    metadata_path(engine).write_text(json.dumps(info))
    with pytest.raises(ValueError, match="not portable"):
        TensorRTDetector(engine)
