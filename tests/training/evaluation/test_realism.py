"""Realism statistics: pixel classes, bag regions, per-crop figures, and `eval realism` end to end."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.cli import main
from training.evaluation.realism import PIXEL_CLASSES, bag_crops, bag_regions, crop_stats, pixel_classes, summarise

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "realxray-dev"
COLOURS = {  # RGB -> expected class (-1 background)
    (232, 140, 40): "organic", (240, 60, 110): "organic", (80, 170, 60): "mixed", (40, 160, 110): "mixed",
    (30, 70, 210): "metal", (90, 40, 200): "metal", (10, 10, 30): "near_black", (128, 128, 124): "grey",
    (250, 250, 248): None, (226, 226, 224): None,
}


def test_pixel_classes_follow_the_palette_bands():
    rgb = np.array([list(COLOURS)], np.uint8)
    cls, sat, val = pixel_classes(rgb)
    got = [None if c < 0 else PIXEL_CLASSES[c] for c in cls[0]]
    assert got == list(COLOURS.values())
    assert val[0, -1] == pytest.approx(226 / 255) and sat[0, -2] < 0.12


def _scan() -> np.ndarray:
    img = np.full((300, 500, 3), 226, np.uint8)
    cv2.rectangle(img, (30, 40), (200, 250), (232, 170, 90), -1)  # an orange bag
    cv2.rectangle(img, (80, 100), (120, 140), (30, 70, 210), -1)  # with a blue thing in it
    cv2.ellipse(img, (370, 150), (100, 80), 0, 0, 360, (80, 170, 60), -1)  # a green bag
    img[5:7, :] = 60  # a scanner line: thin, not a bag
    cv2.circle(img, (480, 280), 3, (30, 70, 210), -1)  # a speck
    return img


def test_bag_regions_find_the_bags_not_lines_or_specks():
    boxes = sorted(bag_regions(_scan()))
    assert len(boxes) == 2
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = boxes
    assert abs(ax1 - 30) < 6 and abs(ay1 - 40) < 6 and abs(ax2 - 201) < 6 and abs(ay2 - 251) < 6
    assert abs(bx1 - 270) < 6 and abs(bx2 - 471) < 6


def test_crop_stats_measure_the_crop():
    crops = bag_crops(_scan(), [(30, 40, 201, 251)])
    assert len(crops) == 1
    crop, box = crops[0]
    assert max(crop.shape[:2]) == 128 and box == (30.0, 40.0, 201.0, 251.0)
    s = crop_stats(crop)
    blue = (40 * 40) / (171 * 211)
    assert s.shares["metal"] == pytest.approx(blue, abs=0.02)
    assert s.shares["organic"] == pytest.approx(1 - blue, abs=0.02)
    assert s.background < 0.01 and s.metal_structures > 0
    flat = crop_stats(np.full((64, 128, 3), (232, 140, 40), np.uint8))
    assert flat.edge_density == 0.0 and flat.laplacian == 0.0 and flat.metal_structures == 0.0
    summary = summarise([s, flat], [0.2, 0.4])
    assert summary["bags"] == 2 and summary["threat_size_rel_bag"] == pytest.approx(0.3)
    assert len(summary["val_hist"]) == 16 and sum(summary["val_hist"]) == pytest.approx(1.0, abs=0.01)


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("realism")
    for name, scanner, seed in (("a", "sixray", "3"), ("b", "greyscale", "3"), ("c", "sixray", "4")):
        assert main(["synth", "--out", str(root / name), "--count", "8", "--seed", seed, "--size", "480x360",
                     "--scanner", scanner, "--quiet", "--format", "coco"]) == 0
    return root


def test_eval_realism_tells_a_grey_scanner_from_a_colour_one(two_sets, capsys):
    out = two_sets / "r.json"
    assert main(["eval", "realism", "--sim", str(two_sets / "b"), "--real", str(two_sets / "a"), "--json", str(out),
                 "--kid-subsets", "5", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "share mixed" in text and "KID" in text
    r = json.loads(out.read_text())
    assert r["sim"]["shares"]["grey"] > 0.5 > r["real"]["shares"]["grey"]
    assert r["difference"]["share_grey"] == pytest.approx(r["sim"]["shares"]["grey"] - r["real"]["shares"]["grey"], abs=1e-3)
    assert r["kid"]["subset_size"] <= r["real"]["bags"] and r["kid"]["mean"] > 0.01
    # other frames of the same scanner are much closer than the same frames on a grey screen
    same = two_sets / "same.json"
    assert main(["eval", "realism", "--sim", str(two_sets / "c"), "--real", str(two_sets / "a"), "--json", str(same),
                 "--kid-subsets", "5", "--quiet"]) == 0
    assert json.loads(same.read_text())["kid"]["mean"] < r["kid"]["mean"] / 2
    assert Path(r["png"]).is_file() and cv2.imread(r["png"]).shape[0] > 400


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realxray-dev is not here")
def test_real_scans_read_as_pale_mostly_organic_and_mixed():
    from training.datasets.loader import load_dataset
    from training.evaluation.realism import dataset_stats

    summary, crops, _ = dataset_stats(load_dataset(REAL)[:12])
    assert summary["bags"] >= 12 and len(crops) == summary["bags"]
    assert summary["shares"]["organic"] + summary["shares"]["mixed"] > 0.6 and summary["shares"]["near_black"] < 0.05
