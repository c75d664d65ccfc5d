"""ONNX export goes straight to the exporter that makes the graph: no failed attempt, no fallback notice."""

import json
import logging
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

from models.checkpoint import save_checkpoint
from models.export import export_onnx
from models.runtime.onnx import OnnxDetector
from tests.models.conftest import CLASS_NAMES, make_detector

ROOT = Path(__file__).resolve().parents[2]
FALLBACK = ("torch.export-based ONNX export failed", "using the legacy exporter")


def test_export_emits_no_fallback_warning(tmp_path, caplog, capfd):
    model = make_detector(img_size=128)
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_onnx(model, tmp_path / "m.onnx", img_size=128,
                           metadata={"class_names": list(CLASS_NAMES), "input_format": "rgb"})
    out, err = capfd.readouterr()
    said = [caplog.text, out, err, *(str(w.message) for w in caught)]
    assert not [text for text in said if any(f in text for f in FALLBACK)]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    decoded = OnnxDetector(path, threads=1)(np.full((2, 3, 128, 128), 0.5, np.float32))
    assert decoded.shape == (2, 3 * (16 * 16 + 8 * 8 + 4 * 4), 10)  # the dynamic batch axis still there


def test_export_command_prints_only_its_result(tmp_path):
    model = make_detector(img_size=128)
    weights = save_checkpoint(tmp_path / "m.pt", model, model.config, extra={"input_format": "rgb"})
    r = subprocess.run([sys.executable, "-m", "services.cli", "export", "--weights", str(weights), "--out", str(tmp_path / "m.onnx")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    (line,) = r.stdout.strip().splitlines()
    assert json.loads(line)["onnx"] == str(tmp_path / "m.onnx")
