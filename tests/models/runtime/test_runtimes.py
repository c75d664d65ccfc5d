import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from models.checkpoint import save_checkpoint
from models.metadata import detector_metadata
from models.runtime import (
    RUNTIMES,
    DetectorRuntime,
    RuntimeUnavailable,
    available_runtimes,
    load_runtime,
    runtime_for,
    to_network_batch,
    weights_info,
)
from models.runtime.onnx import OnnxDetector, usable_cores
from models.runtime.torch import TorchDetector
from tests.models.conftest import IMG_SIZE

# A low threshold so that the untrained model yields boxes to compare.
LOW = {"conf_threshold": 0.01, "iou_threshold": 0.5, "max_det": 20}


@pytest.fixture(scope="module")
def nano_pt(nano, tmp_path_factory) -> Path:
    return save_checkpoint(tmp_path_factory.mktemp("pt") / "nano.pt", nano, nano.config, extra={"input_format": "dual"})


def canvases(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, IMG_SIZE, IMG_SIZE, 3), dtype=np.uint8)


def test_load_runtime_by_suffix_and_agreement(nano_pt, nano_onnx):
    onnx_rt, torch_rt = load_runtime(nano_onnx, threads=1), load_runtime(nano_pt)
    assert isinstance(onnx_rt, OnnxDetector) and isinstance(torch_rt, TorchDetector)
    for rt in (onnx_rt, torch_rt):
        assert isinstance(rt, DetectorRuntime)
        assert rt.input_format == "dual" and rt.img_size == IMG_SIZE
    x = np.random.default_rng(0).random((2, 3, IMG_SIZE, IMG_SIZE), dtype=np.float32)
    assert np.abs(onnx_rt(x) - torch_rt(x)).max() < 1e-3
    for a, b in zip(onnx_rt.detect(x, **LOW), torch_rt.detect(x, **LOW), strict=True):
        assert a.shape == b.shape and a.shape[1] == 6 and len(a) > 0
        np.testing.assert_allclose(a[:, 4], b[:, 4], atol=1e-4)


def test_typed_metadata_agrees_between_the_file_and_each_runtime(nano_pt, nano_onnx):
    info = weights_info(nano_onnx)
    assert info == weights_info(nano_pt)  # read without a runtime, from either file
    for rt in (load_runtime(nano_onnx, threads=1), load_runtime(nano_pt)):
        assert rt.info == info and rt.metadata["img_size"] == info.img_size  # the raw keys stay readable
    assert (info.img_size, info.input_format, info.in_channels, info.stride) == (IMG_SIZE, "dual", 3, 32)
    assert len(info.class_names) == 5
    assert (info.max_zoom, info.train_img_size) == (1.0, IMG_SIZE)  # weights that do not say: no zoom
    assert len(info.anchors) == 3 and all(len(scale) == 3 for scale in info.anchors)
    with pytest.raises(ValueError, match="input_format"):
        type(info).from_metadata({**info.metadata, "input_format": "x-ray"})


def test_runtime_chosen_by_name(nano_pt, nano_onnx):
    assert runtime_for("m.onnx") == "onnxruntime" and runtime_for("m.PT") == "torch"
    assert runtime_for("m.engine") == runtime_for("m.plan") == "tensorrt"
    assert isinstance(load_runtime(nano_onnx, runtime="onnxruntime", threads=1), OnnxDetector)
    assert isinstance(load_runtime(nano_pt, runtime="torch"), TorchDetector)


def test_load_runtime_errors(nano_pt, nano_onnx, tmp_path):
    with pytest.raises(ValueError, match="unknown runtime 'tflite'"):
        load_runtime(nano_onnx, runtime="tflite")
    with pytest.raises(ValueError, match=r"no runtime for 'nano\.bin'"):
        load_runtime(tmp_path / "nano.bin")
    with pytest.raises(FileNotFoundError, match="no weights file"):
        load_runtime(tmp_path / "nano.engine")
    with pytest.raises(FileNotFoundError):
        load_runtime(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match=r"reads \.pt files, not 'nano\.onnx'"):
        load_runtime(nano_onnx, runtime="torch")
    with pytest.raises(ValueError, match="lanewatch export"):
        load_runtime(nano_pt, runtime="onnxruntime")
    # options that would change the numbers are refused, never dropped
    with pytest.raises(ValueError, match="fp16"):
        load_runtime(nano_onnx, fp16=True)
    with pytest.raises(ValueError, match="int8"):
        load_runtime(nano_pt, int8=True)
    with pytest.raises(ValueError, match="compile"):
        load_runtime(nano_onnx, compile=True)
    with pytest.raises(ValueError, match="int8=True"):
        load_runtime(nano_onnx, calib_frames=canvases(1))


def test_available_runtimes():
    found = available_runtimes()
    assert {"onnxruntime", "torch"} <= set(found) <= set(RUNTIMES)
    assert list(found) == sorted(found, key=RUNTIMES.index)
    if importlib.util.find_spec("tensorrt") is None:
        assert "tensorrt" not in found


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_tensorrt_runtime_without_tensorrt_says_what_to_install(nano_onnx, tmp_path):
    with pytest.raises(RuntimeUnavailable, match=r"TensorRT is not installed.*lanewatch\[gpu\]"):
        load_runtime(nano_onnx, runtime="tensorrt", cache_dir=tmp_path)
    assert isinstance(RuntimeUnavailable("x"), OSError)  # what the CLI reports as exit code 2


def test_onnx_session_options_take_effect(nano_onnx):
    default = OnnxDetector(nano_onnx).session.get_session_options()
    assert default.intra_op_num_threads == usable_cores()
    assert default.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert default.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL

    quiet = load_runtime(nano_onnx, threads=1, spin=False)
    options = quiet.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert quiet.session.get_providers() == ["CPUExecutionProvider"]


def test_onnx_providers(nano_onnx):
    with pytest.raises(ValueError, match="NoSuchExecutionProvider"):
        OnnxDetector(nano_onnx, providers=["NoSuchExecutionProvider"])
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(RuntimeUnavailable, match="onnxruntime-gpu"):
            load_runtime(nano_onnx, device="cuda")
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        load_runtime(nano_onnx, device="tpu")


def test_torch_device_and_precision_checks(nano):
    meta = detector_metadata(nano.config)
    with pytest.raises(ValueError, match="half precision needs a CUDA device"):
        TorchDetector(nano, meta, half=True)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeUnavailable, match="no CUDA device"):
            TorchDetector(nano, meta, device="cuda")


@pytest.mark.parametrize("kind", ["onnxruntime", "torch"])
def test_detect_canvases_is_detect_on_the_normalised_batch(kind, nano_pt, nano_onnx):
    runtime = load_runtime(nano_onnx if kind == "onnxruntime" else nano_pt, threads=1)
    c = canvases(3)
    got, expected = runtime.detect_canvases(c, **LOW), runtime.detect(to_network_batch(c), **LOW)
    assert len(got) == 3 and sum(map(len, got)) > 0
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="uint8"):
        runtime.detect_canvases(c.astype(np.float32))


def test_torch_runtime_from_an_in_memory_model(nano):
    runtime = TorchDetector(nano, detector_metadata(nano.config))
    out = runtime(np.zeros((3, 3, IMG_SIZE, IMG_SIZE), np.float32))
    assert out.shape[0] == 3 and out.shape[2] == 10
    assert runtime.class_names == nano.config.class_names and runtime.input_format == "rgb"


@pytest.mark.slow
def test_compiled_torch_runtime_matches_eager(nano):
    meta = detector_metadata(nano.config)
    x = np.random.default_rng(1).random((2, 3, IMG_SIZE, IMG_SIZE), dtype=np.float32)
    eager, compiled = TorchDetector(nano, meta), TorchDetector(nano, meta, compile=True)
    assert np.abs(compiled(x) - eager(x)).max() < 1e-3


def test_onnx_runtime_imports_no_torch():
    code = "import sys, models.runtime.onnx; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])
