"""The shipped weights are found from anywhere, and a missing file is named with the remedy that fits."""

import subprocess
import sys
from pathlib import Path

import pytest

from models.shipped import DEFAULT_CHECKPOINT, DEFAULT_WEIGHTS, WEIGHTS_DIR, missing_weights, require_weights

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_files_in_the_repository():
    assert WEIGHTS_DIR == ROOT / "models" / "weights"
    assert DEFAULT_WEIGHTS.is_absolute() and DEFAULT_WEIGHTS.is_file() and DEFAULT_WEIGHTS.suffix == ".onnx"
    assert DEFAULT_CHECKPOINT.is_file() and DEFAULT_CHECKPOINT.suffix == ".pt"
    assert require_weights(DEFAULT_WEIGHTS) == DEFAULT_WEIGHTS


def test_missing_weights_name_the_path_and_the_fitting_remedy(tmp_path):
    given = tmp_path / "site.onnx"
    with pytest.raises(FileNotFoundError) as e:
        require_weights(given, how="LANEWATCH_WEIGHTS")
    assert str(given) in str(e.value) and "LANEWATCH_WEIGHTS" in str(e.value) and "make weights" not in str(e.value)
    shipped = missing_weights(WEIGHTS_DIR / "gone.onnx")
    assert "shipped weights are missing" in str(shipped) and "make weights" in str(shipped)


def test_commands_find_the_shipped_weights_from_another_folder(tmp_path):
    # the default used to be relative to the working directory: from anywhere else every command said
    # "no detector weights ... run make weights" although the weights were shipped
    r = subprocess.run([sys.executable, "-m", "services.cli", "synth", "--out", str(tmp_path / "d"), "--count", "1",
                        "--seed", "4", "--size", "320x240", "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    scan = next((tmp_path / "d" / "images").iterdir())
    r = subprocess.run([sys.executable, "-m", "services.cli", "detect", str(scan)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert str(scan.name) in r.stdout
