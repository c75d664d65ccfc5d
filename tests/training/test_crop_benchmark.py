"""The cropping benchmark: retention maths on hand cases, detection on regions, and `lanewatch eval crop` end to end."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.checkpoint import save_checkpoint
from models.detector import build_detector
from models.metadata import DetectorInfo
from models.runtime import DetectorRuntime
from pipeline.crop import CropRegion
from pipeline.preprocess import pack
from services.cli import main
from training.cropping.detection import detect_regions
from training.cropping.metrics import retention
from training.datasets.classes import SIXRAY_D
from training.datasets.records import Box, Sample
from training.synth.dataset import SynthJob, synthesize
from training.synth.scene import SceneConfig

ANCHORS = [[(10, 13), (16, 30), (33, 23)], [(30, 61), (62, 45), (59, 119)], [(116, 90), (156, 198), (373, 326)]]


def region(x1, y1, x2, y2, reason="bag"):
    return CropRegion(x1=x1, y1=y1, x2=x2, y2=y2, confidence=1.0, reason=reason)


def test_retention_on_hand_cases():
    a = Sample(image_id="a", width=100, height=50, image=Path("a.png"), bags=[(10, 10, 40, 40), (60, 5, 90, 45)],
               boxes=[Box(x1=15, y1=15, x2=25, y2=25, label="gun"), Box(x1=62, y1=10, x2=95, y2=20, label="knife")])
    b = Sample(image_id="b", width=100, height=50, image=Path("b.png"))
    result = retention([a, b], {"a": [region(10, 10, 40, 40), region(60, 5, 90, 45)], "b": [region(0, 0, 100, 50, "flat")]})
    assert result["box_retention"] == 0.5  # the knife overruns the second region by 5 px
    assert result["bag_retention"] == 1.0
    assert result["area_kept"] == pytest.approx(((900 + 1200) / 5000 + 1.0) / 2)
    assert result["frames_losing_a_threat"] == ["a"]
    assert result["regions_per_frame"] == 1.5 and result["fallback_rate"] == 0.5
    assert retention([b], {"b": [region(0, 0, 100, 50)]})["box_retention"] is None


class _DarkSquareFinder(DetectorRuntime):
    """A runtime stand-in that 'detects' the bounding box of dark pixels on each canvas, class 1."""

    class_names = ("gun", "knife")
    img_size = 64
    input_format = "rgb"
    info = DetectorInfo.from_metadata({  # what the canvas layout reads
        "class_names": ["gun", "knife"], "num_classes": 2, "img_size": 64, "in_channels": 3, "strides": [8, 16, 32],
        "anchors": [[[8, 8]] * 3] * 3, "input_format": "rgb"})

    def detect(self, batch, **_):
        out = []
        for canvas in batch:
            ys, xs = np.nonzero(canvas.mean(axis=0) < 0.5)
            out.append(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, 0.9, 1.0]], np.float32))
        return out


def test_detections_on_regions_come_back_in_frame_pixels_once():
    image = np.full((100, 200, 3), 255, np.uint8)
    image[40:60, 120:140] = 0
    (box,), _ = detect_regions(_DarkSquareFinder(), image, [region(100, 20, 164, 84)])
    np.testing.assert_allclose(box, [120, 40, 140, 60, 0.9, 1.0], atol=1.0)
    # two overlapping regions both see the square: NMS in frame pixels keeps one box
    dets, seconds = detect_regions(_DarkSquareFinder(), image, [region(90, 0, 170, 80), region(110, 30, 190, 100)])
    assert len(dets) == 1 and seconds > 0
    np.testing.assert_allclose(dets[0, :4], [120, 40, 140, 60], atol=2.0)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Six simulated frames and two untrained nano checkpoints (pseudo-colour and dual-energy input)."""
    root = tmp_path_factory.mktemp("crop")
    synthesize(SynthJob(out=root / "data", count=6, seed=5, fmt="coco", scene=SceneConfig(width=320, height=240)))
    for mode in ("rgb", "dual"):
        model = build_detector(size="nano", num_classes=5, anchors=ANCHORS, class_names=SIXRAY_D, img_size=128)
        save_checkpoint(root / f"{mode}.pt", model, model.config, extra={"input_format": mode})
    return root


def test_eval_crop_all_methods(bench, capsys):
    out = bench / "out"
    argv = ["eval", "crop", "--method", "all", "--data", str(bench / "data"), "--weights", str(bench / "rgb.pt"),
            "--json", str(out / "crop.json"), "--png", str(out / "crop.png"), "--png-count", "4", "--quiet"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:4] == ["method", "box", "ret.", "bag"] and "tdc" in table and "canny" in table
    result = json.loads((out / "crop.json").read_text())
    assert set(result) == {"tdc", "canny", "none"}
    for r in result.values():
        for key in ("box_retention", "bag_retention", "area_kept", "ms_per_frame", "map50", "detector_ms_per_frame"):
            assert r[key] is not None and r[key] >= 0, key
        assert 0 < r["area_kept"] <= 1 and 0 <= r["map50"] <= 1 and r["frames"] == 6
    assert result["none"]["area_kept"] == 1.0 and result["none"]["box_retention"] == 1.0
    assert result["tdc"]["settings"]["layer"] and "k" in result["tdc"]["settings"]
    sheet = cv2.imread(str(out / "crop.png"))
    assert sheet is not None and sheet.shape[1] == 4 * 324 + 4


def test_eval_crop_reads_dual_energy_through_a_dual_model(bench):
    out = bench / "dual.json"
    argv = ["eval", "crop", "--method", "tdc", "--data", str(bench / "data"), "--backbone", str(bench / "dual.pt"),
            "--json", str(out), "--quiet"]
    assert main(argv) == 0
    r = json.loads(out.read_text())["tdc"]
    assert r["frames"] == 6 and 0 < r["area_kept"] <= 1 and "map50" not in r


def test_crop_ablation_sweeps_layers_and_k(bench, capsys):
    out = bench / "ablation.json"
    argv = ["eval", "crop-ablation", "--data", str(bench / "data"), "--backbone", str(bench / "rgb.pt"), "--layers", "stem", "dark2",
            "--ks", "0.1", "0.3", "--signals", "level", "--json", str(out), "--quiet"]
    assert main(argv) == 0
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 2 * 2 * 2  # variants x layers x k
    assert {(r["variant"], r["layer"], r["k"]) for r in rows} == {(v, layer, k) for v in ("paper", "tdc") for layer in ("stem", "dark2") for k in (0.1, 0.3)}
    for r in rows:
        assert 0 < r["area_kept"] <= 1 and r["ms_per_frame"] > 0
    assert "layer" in capsys.readouterr().out


def test_eval_crop_needs_a_backbone_for_tdc(bench, capsys):
    argv = ["eval", "crop", "--method", "tdc", "--data", str(bench / "data"), "--backbone", str(bench / "missing.pt"), "--quiet"]
    assert main(argv) == 2
    assert "missing.pt does not exist" in capsys.readouterr().err


def test_packed_regions_share_one_canvas_and_come_back_in_frame_pixels():
    image = np.full((100, 300, 3), 255, np.uint8)
    image[40:60, 30:50] = 0
    image[20:40, 230:260] = 0
    canvas, placements = pack(image, [region(0, 0, 100, 100), region(200, 0, 300, 100)], 64, fill=(255, 255, 255))
    assert canvas.shape == (64, 64, 3) and len(placements) == 2
    assert placements[0].scale == placements[1].scale and placements[1].dx > placements[0].dx

    class TwoSquares(_DarkSquareFinder):
        calls = 0

        def detect(self, batch, **_):
            TwoSquares.calls += len(batch)
            dark = batch[0].mean(axis=0) < 0.5
            _, labels = cv2.connectedComponents(dark.astype(np.uint8))
            rows = []
            for i in range(1, labels.max() + 1):
                ys, xs = np.nonzero(labels == i)
                rows.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, 0.9, 0.0])
            return [np.array(rows, np.float32)]

    dets, _ = detect_regions(TwoSquares(), image, [region(0, 0, 100, 100), region(200, 0, 300, 100)], packed=True)
    assert TwoSquares.calls == 1
    dets = dets[np.argsort(dets[:, 0])]
    np.testing.assert_allclose(dets[:, :4], [[30, 40, 50, 60], [230, 20, 260, 40]], atol=2.5)


def test_zoom_cap_keeps_regions_at_most_that_much_larger_than_on_the_full_frame():
    image = np.full((100, 400, 3), 255, np.uint8)
    small = [region(0, 0, 50, 50)]
    _, (free,) = pack(image, small, 64, fill=(255, 255, 255))
    _, (capped,) = pack(image, small, 64, fill=(255, 255, 255), max_scale=1.5 * 64 / 400)
    assert free.scale == pytest.approx(64 / 50) and capped.scale == pytest.approx(1.5 * 64 / 400)
    assert capped.dx == capped.dy == (64 - 12) // 2  # centred, like a letterbox
