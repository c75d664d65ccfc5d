import numpy as np
import onnx
import pytest
import torch

from models.decode import DetectorWithDecode
from models.export import export_onnx, load_onnx_metadata
from models.runtime.onnx import OnnxDetector
from tests.models.conftest import ANCHORS, CLASS_NAMES, IMG_SIZE


def torch_decoded(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return DetectorWithDecode(model).eval()(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("batch", [1, 4])
def test_onnx_runtime_matches_pytorch(nano, nano_onnx, batch):
    x = np.random.default_rng(batch).random((batch, 3, IMG_SIZE, IMG_SIZE), dtype=np.float32)
    expected = torch_decoded(nano, x)
    got = OnnxDetector(nano_onnx, threads=1)(x)
    assert got.shape == expected.shape == (batch, 3 * sum((IMG_SIZE // s) ** 2 for s in (8, 16, 32)), 10)
    # Boxes in input pixels, then objectness and class probabilities.
    assert np.abs(got[..., :4] - expected[..., :4]).max() < 1e-3
    assert np.abs(got[..., 4:] - expected[..., 4:]).max() < 1e-3
    # Not trivially equal: the outputs vary across the batch and the grid.
    assert np.ptp(expected[..., 4:]) > 0.1


def test_graph_has_dynamic_batch_and_size(nano_onnx):
    graph = onnx.load(str(nano_onnx)).graph
    (inp,), (out,) = graph.input, graph.output
    assert (inp.name, out.name) == ("images", "detections")
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1] == 3 and all(isinstance(d, str) for d in dims[2:])


def test_smaller_inputs_run_at_their_own_size_and_match_pytorch(nano, nano_onnx):
    runtime = OnnxDetector(nano_onnx, threads=1)
    assert runtime.dynamic_size and runtime.stride == 32
    x = np.random.default_rng(7).random((2, 3, 64, IMG_SIZE), dtype=np.float32)  # a canvas cut to its bags
    got, expected = runtime(x), torch_decoded(nano, x)
    assert got.shape == expected.shape == (2, 3 * sum((64 // s) * (IMG_SIZE // s) for s in (8, 16, 32)), 10)
    assert np.abs(got - expected).max() < 1e-3
    # uint8 canvases not on the stride are padded up to it with the empty belt, larger ones refused
    assert runtime.check_canvases(np.zeros((1, 70, 90, 3), np.uint8)).shape == (1, 96, 96, 3)
    with pytest.raises(ValueError, match="at most"):
        runtime.check_canvases(np.zeros((1, IMG_SIZE + 32, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="multiples of 32"):
        runtime(np.zeros((1, 3, 70, 64), np.float32))


def test_fixed_size_export_pads_canvases_to_its_square(nano, tmp_path):
    path = export_onnx(nano, tmp_path / "fixed.onnx", img_size=IMG_SIZE, dynamic_size=False,
                       metadata={"class_names": list(CLASS_NAMES), "input_format": "dual"})
    fixed, free = OnnxDetector(path, threads=1), OnnxDetector(export_onnx(
        nano, tmp_path / "free.onnx", img_size=IMG_SIZE, metadata={"class_names": list(CLASS_NAMES), "input_format": "dual"}),
        threads=1)
    assert not fixed.dynamic_size
    canvases = np.random.default_rng(3).integers(0, 255, (2, 64, IMG_SIZE, 3), np.uint8)
    padded = fixed.check_canvases(canvases)
    assert padded.shape == (2, IMG_SIZE, IMG_SIZE, 3)
    assert (padded[:, :64] == canvases).all() and (padded[:, 64:] == (255, 255, 118)).all()  # the dual-mode belt
    # the same boxes either way, bar those the padding itself adds
    a = fixed.detect_canvases(canvases, conf_threshold=0.3)
    b = free.detect_canvases(fixed.check_canvases(canvases), conf_threshold=0.3)
    assert all(np.allclose(x, y, atol=1e-3) for x, y in zip(a, b, strict=True))


def test_metadata_round_trip(nano_onnx):
    meta = load_onnx_metadata(nano_onnx)
    assert meta["class_names"] == list(CLASS_NAMES)
    assert meta["input_format"] == "dual"
    assert meta["img_size"] == IMG_SIZE and meta["strides"] == [8, 16, 32]
    assert meta["anchors"] == [[list(map(float, a)) for a in scale] for scale in ANCHORS]
    assert isinstance(meta["lanewatch_version"], str) and meta["lanewatch_version"]
    runtime = OnnxDetector(nano_onnx, threads=1)
    assert runtime.class_names == CLASS_NAMES and runtime.input_format == "dual" and runtime.img_size == IMG_SIZE


def test_legacy_exporter_fixed_batch(nano, tmp_path):
    path = export_onnx(nano, tmp_path / "legacy.onnx", img_size=128, opset=17, dynamic_batch=False,
                       metadata={"class_names": list(CLASS_NAMES), "input_format": "rgb"})
    assert onnx.load(str(path)).opset_import[0].version == 17
    runtime = OnnxDetector(path, threads=1)
    assert runtime.dynamic_size
    for shape in ((128, 128), (64, 128)):
        x = np.random.default_rng(0).random((1, 3, *shape), dtype=np.float32)
        assert np.abs(runtime(x) - torch_decoded(nano, x)).max() < 1e-3
    with pytest.raises(ValueError, match="expected a batch"):
        runtime(np.zeros((1, 3, 256, 256), np.float32))


def test_export_rejects_incomplete_metadata(nano, tmp_path):
    with pytest.raises(ValueError, match="input_format"):
        export_onnx(nano, tmp_path / "m.onnx", img_size=IMG_SIZE, metadata={"class_names": list(CLASS_NAMES)})
    with pytest.raises(ValueError, match="class names"):
        export_onnx(nano, tmp_path / "m.onnx", img_size=IMG_SIZE, metadata={"class_names": ["gun"], "input_format": "rgb"})
