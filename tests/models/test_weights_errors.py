"""Weights that are there but cannot be loaded: every loader says which file and what is wrong, as a `WeightsError`."""

import cv2
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from models.checkpoint import load_detector, save_checkpoint
from models.export import load_onnx_metadata
from models.runtime import load_runtime
from models.runtime.onnx import OnnxDetector
from models.shipped import DEFAULT_CHECKPOINT, WeightsError, what_file_is
from tests.models.conftest import make_detector


def _png(path):
    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    path.write_bytes(png.tobytes())
    return path


def test_what_a_file_is_by_its_first_bytes(tmp_path):
    (tmp_path / "e").write_bytes(b"")
    (tmp_path / "t").write_text("weights: see the wiki\n")
    (tmp_path / "b").write_bytes(bytes([0x80, 0x02, 0xff, 0x00, 1, 2, 3, 4, 5]))
    assert what_file_is(_png(tmp_path / "p")) == "the file is a PNG image"
    assert what_file_is(tmp_path / "e") == "the file is empty"
    assert what_file_is(tmp_path / "t") == "the file is text"
    assert what_file_is(tmp_path / "b") == "the file starts with bytes 80 02 ff 00 01 02 03 04"


def test_checkpoint_loader_names_the_file_and_the_problem(tmp_path):
    with pytest.raises(WeightsError) as e:
        load_detector(_png(tmp_path / "scan.pt"))
    assert str(e.value) == f"cannot load detector weights {tmp_path / 'scan.pt'}: not a PyTorch checkpoint (the file is a PNG image)"
    (tmp_path / "cut.pt").write_bytes(DEFAULT_CHECKPOINT.read_bytes()[:20000])
    with pytest.raises(WeightsError, match=r"cut\.pt: a damaged or truncated PyTorch checkpoint \("):
        load_detector(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match=r"other\.pt: a PyTorch file, but not a lanewatch detector checkpoint$"):
        load_detector(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):  # a missing file stays a missing file
        load_detector(tmp_path / "gone.pt")


def test_onnx_loaders_name_the_file_and_the_problem(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(np.random.default_rng(15).integers(0, 256, 4096, np.uint8).tobytes())
    head = garbage.read_bytes()[:8].hex(" ")
    with pytest.raises(WeightsError) as e:
        OnnxDetector(garbage, threads=1)
    assert str(e.value) == (f"cannot load detector weights {garbage}: not a readable ONNX model "
                            f"(the file starts with bytes {head}; Protobuf parsing failed)")
    with pytest.raises(WeightsError, match=rf"garbage\.onnx: not a readable ONNX model \(the file starts with bytes {head}; "):
        load_onnx_metadata(garbage)
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"empty\.onnx: not a readable ONNX model \(the file is empty; no graph in it\)"):
        load_onnx_metadata(tmp_path / "empty.onnx")
    # a real ONNX model, but not one lanewatch exported: no class names, input size or anchors to check
    io = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 3, 32, 32]) for name in ("images", "detections")]
    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["detections"])], "other", io[:1], io[1:])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "other.onnx"))
    with pytest.raises(WeightsError, match=r"other\.onnx: an ONNX model without lanewatch's detector metadata \(detector metadata lacks"):
        load_runtime(tmp_path / "other.onnx", threads=1)


def test_a_checkpoint_is_written_whole(tmp_path):
    model = make_detector(img_size=128)
    path = save_checkpoint(tmp_path / "last.pt", model, model.config, extra={"input_format": "rgb"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # nothing half-written left beside it
    loaded, config, extra = load_detector(path)
    assert config == model.config and extra == {"input_format": "rgb"}
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
