"""`lanewatch export`: ONNX at another input size, TensorRT's clear refusal without TensorRT, option checks."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from models.export import load_onnx_metadata
from models.runtime.onnx import OnnxDetector
from pipeline.preprocess import RGB_BACKGROUND
from services.cli import main
from services.commands.export import calibration_canvases
from training.synth.dataset import SynthJob, synthesize
from training.synth.scene import SceneConfig

SHIPPED = Path(__file__).parents[2] / "models" / "weights" / "aspp_yolo_nano.pt"


def test_onnx_export_at_another_input_size_runs(tmp_path, capsys):
    out = tmp_path / "nano320.onnx"
    assert main(["export", "--weights", str(SHIPPED), "--img-size", "320", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["onnx"] == str(out) and printed["metadata"]["img_size"] == 320
    assert load_onnx_metadata(out)["img_size"] == 320
    runtime = OnnxDetector(out, threads=1)
    decoded = runtime(np.full((1, 3, 320, 320), 0.5, np.float32))
    assert runtime.img_size == 320 and decoded.shape == (1, 3 * (40 * 40 + 20 * 20 + 10 * 10), 10)


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_tensorrt_export_without_tensorrt_says_what_to_install(tmp_path, capsys):
    out = tmp_path / "m.engine"
    code = main(["export", "--weights", str(SHIPPED), "--format", "tensorrt", "--fp16", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "TensorRT is not installed" in err and "pip install lanewatch[gpu]" in err and "NVIDIA GPU" in err
    assert list(tmp_path.iterdir()) == []  # refused before any export work


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "onnx", "--fp16"], "--fp16 apply to --format tensorrt"),
        (["--format", "pt", "--max-batch", "8"], "--max-batch apply to --format tensorrt"),
        (["--format", "tensorrt", "--calib-count", "16"], "add --int8"),
    ],
)
def test_options_that_do_not_go_together(argv, message, capsys):
    assert main(["export", "--weights", str(SHIPPED), *argv]) == 2
    assert message in capsys.readouterr().err


def test_an_onnx_file_only_builds_engines(capsys):
    onnx = SHIPPED.with_suffix(".onnx")
    assert main(["export", "--weights", str(onnx), "--format", "onnx"]) == 2
    assert main(["export", "--weights", str(onnx), "--format", "tensorrt", "--img-size", "320"]) == 2
    assert "pass the .pt checkpoint" in capsys.readouterr().err


def test_calibration_canvases_from_the_simulator_and_from_a_dataset(tmp_path):
    sim = calibration_canvases(count=2, img_size=64, input_format="rgb")
    assert sim.shape == (2, 64, 64, 3) and sim.dtype == np.uint8
    np.testing.assert_array_equal(sim, calibration_canvases(count=2, img_size=64, input_format="rgb"))  # seeded

    synthesize(SynthJob(out=tmp_path / "data", count=3, seed=5, scene=SceneConfig(width=320, height=160)))
    rgb = calibration_canvases(count=2, img_size=64, input_format="rgb", data=tmp_path / "data")
    assert rgb.shape == (2, 64, 64, 3)
    # 320x160 letterboxed to 64: the top and bottom 16 rows are empty belt
    assert (rgb[:, :16] == RGB_BACKGROUND).all() and (rgb[:, -16:] == RGB_BACKGROUND).all()
    dual = calibration_canvases(count=5, img_size=64, input_format="dual", data=tmp_path / "data")
    assert len(dual) == 3  # no more than the dataset holds
    assert not np.array_equal(dual[0], rgb[0])
