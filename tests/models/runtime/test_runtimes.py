import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.checkpoint import save_checkpoint
from models.metadata import detector_metadata
from models.runtime import DetectorRuntime, load_runtime
from models.runtime.onnx import OnnxDetector
from models.runtime.torch import TorchDetector
from tests.models.conftest import IMG_SIZE


def test_load_runtime_by_suffix_and_agreement(nano, nano_onnx, tmp_path):
    pt = save_checkpoint(tmp_path / "nano.pt", nano, nano.config, extra={"input_format": "dual"})
    onnx_rt, torch_rt = load_runtime(nano_onnx, threads=1), load_runtime(pt)
    assert isinstance(onnx_rt, OnnxDetector) and isinstance(torch_rt, TorchDetector)
    for rt in (onnx_rt, torch_rt):
        assert isinstance(rt, DetectorRuntime)
        assert rt.input_format == "dual" and rt.img_size == IMG_SIZE
    x = np.random.default_rng(0).random((2, 3, IMG_SIZE, IMG_SIZE), dtype=np.float32)
    assert np.abs(onnx_rt(x) - torch_rt(x)).max() < 1e-3
    # A low threshold so that the untrained model yields boxes to compare.
    kw = {"conf_threshold": 0.01, "iou_threshold": 0.5, "max_det": 20}
    for a, b in zip(onnx_rt.detect(x, **kw), torch_rt.detect(x, **kw), strict=True):
        assert a.shape == b.shape and a.shape[1] == 6 and len(a) > 0
        np.testing.assert_allclose(a[:, 4], b[:, 4], atol=1e-4)
    with pytest.raises(ValueError, match="no runtime"):
        load_runtime(tmp_path / "nano.engine")


def test_torch_runtime_from_an_in_memory_model(nano):
    runtime = TorchDetector(nano, detector_metadata(nano.config))
    out = runtime(np.zeros((3, 3, IMG_SIZE, IMG_SIZE), np.float32))
    assert out.shape[0] == 3 and out.shape[2] == 10
    assert runtime.class_names == nano.config.class_names and runtime.input_format == "rgb"


def test_onnx_runtime_imports_no_torch():
    code = "import sys, models.runtime.onnx; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])
