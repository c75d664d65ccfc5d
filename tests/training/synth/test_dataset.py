"""lanewatch synth output: files, exact negatives, exporters and readers agree."""

import json

import cv2
import numpy as np
import pytest

from training.datasets.coco import read_coco
from training.datasets.loader import load_dataset
from training.datasets.voc import read_voc_dir
from training.synth.dataset import SynthJob, negative_indices, synthesize
from training.synth.scene import SceneConfig

SMALL = SceneConfig(width=320, height=240)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    summary = synthesize(SynthJob(out=out, count=10, seed=5, negatives_ratio=0.3, scene=SMALL))
    return out, summary


def test_summary_counts(dataset):
    out, summary = dataset
    assert summary["frames"] == 10 and summary["negatives"] == 3
    assert summary["objects"] == sum(summary["per_class"].values()) >= 7
    assert summary["frames_per_s"] > 0
    json.dumps(summary)


def test_files_in_the_real_formats(dataset):
    out, _ = dataset
    # the default (SIXray-like) scanner archives its screen images as JPEG; raw pairs are 16-bit PNG
    assert len(list((out / "images").glob("*.jpg"))) == 10
    stem = sorted(p.stem for p in (out / "images").glob("*.jpg"))[0]
    rgb = cv2.imread(str(out / "images" / f"{stem}.jpg"), cv2.IMREAD_UNCHANGED)
    high = cv2.imread(str(out / "raw" / f"{stem}_high.png"), cv2.IMREAD_UNCHANGED)
    assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
    assert high.shape == (240, 320) and high.dtype == np.uint16 and high.max() > 50000


def test_lossless_scanners_write_png_and_every_frame_records_its_scanner(tmp_path):
    from training.synth.profiles import load_profile

    job = SynthJob(out=tmp_path, count=6, seed=3, scene=SMALL, fmt="coco",
                   scanners=(load_profile("vivid"), load_profile("greyscale")))
    summary = synthesize(job)
    record = json.loads((tmp_path / "scanners.json").read_text())
    assert set(record["profiles"]) == set(summary["scanners"]) <= {"vivid", "greyscale"}
    assert len(record["frames"]) == 6 and sum(summary["scanners"].values()) == 6
    assert len(list((tmp_path / "images").glob("*.png"))) == 6
    grey = [stem for stem, name in record["frames"].items() if name == "greyscale"]
    for stem in grey:  # a grey screen has no colour
        rgb = cv2.imread(str(tmp_path / "images" / f"{stem}.png"))
        assert np.abs(rgb.astype(int) - rgb[..., :1]).max() <= 1
    # the same frame index holds the same bags whatever the scanner
    again = SynthJob(out=tmp_path / "again", count=6, seed=3, scene=SMALL, fmt="coco", scanners=(load_profile("vivid"),))
    synthesize(again)
    a = {s.image_id: s.boxes for s in load_dataset(tmp_path)}
    b = {s.image_id: s.boxes for s in load_dataset(tmp_path / "again")}
    assert a == b


def test_voc_and_coco_agree(dataset):
    out, _ = dataset
    voc = {s.image_id: s for s in read_voc_dir(out / "annotations", root=out)}
    coco = {s.image_id: s for s in read_coco(out / "annotations.json")}
    assert voc.keys() == coco.keys() and len(voc) == 10
    for k, s in voc.items():
        assert s.boxes == coco[k].boxes
        assert s.bags == coco[k].bags
        assert all(b.occlusion in {"OL1", "OL2", "OL3"} for b in s.boxes)
    assert len(load_dataset(out)) == 10


def test_negative_indices_exact_and_seeded():
    a = negative_indices(1000, 0.9, seed=1)
    assert len(a) == 900 and a == negative_indices(1000, 0.9, seed=1)
    assert a != negative_indices(1000, 0.9, seed=2)
    assert negative_indices(10, 0.0, 0) == frozenset()
    with pytest.raises(ValueError):
        negative_indices(10, 1.5, 0)


def test_workers_do_not_change_the_output(tmp_path):
    one = synthesize(SynthJob(out=tmp_path / "a", count=4, seed=8, scene=SMALL, fmt="coco"))
    two = synthesize(SynthJob(out=tmp_path / "b", count=4, seed=8, scene=SMALL, fmt="coco"), workers=2)
    assert one["per_class"] == two["per_class"]
    for p in sorted((tmp_path / "a" / "raw").glob("*.png")):
        assert p.read_bytes() == (tmp_path / "b" / "raw" / p.name).read_bytes()
    a = json.loads((tmp_path / "a" / "annotations.json").read_text())
    b = json.loads((tmp_path / "b" / "annotations.json").read_text())
    assert a["annotations"] == b["annotations"]


def test_scanner_weights_set_how_often_each_screen_is_drawn(tmp_path):
    from collections import Counter

    from services.commands.synth import _scanners
    from training.synth.profiles import load_profile

    profiles, weights = _scanners("sixray:2,vivid,greyscale", load_profile)
    job = SynthJob(out=tmp_path, count=1, seed=1, scanners=profiles, scanner_weights=weights)
    counts = Counter(job.scanner_for(i).name for i in range(2000))
    assert weights == (2.0, 1.0, 1.0) and 0.45 < counts["sixray"] / 2000 < 0.55
    assert _scanners("vivid,greyscale", load_profile)[1] == ()  # equal weights: drawn uniformly
    with pytest.raises(ValueError, match="positive"):
        _scanners("sixray:0", load_profile)
