"""Bootstrap intervals of mAP: the full-set figure, paired differences, and intervals that shrink with more images."""

from pathlib import Path

import numpy as np
import pytest

from services.commands.eval_ablation import format_ablation
from training.datasets.records import Box, Sample
from training.evaluation.bootstrap import bootstrap_maps, resample

CLASSES = ("gun", "knife")


def _set(n: int, seed: int = 0):
    """n images with one gun each; 'perfect' finds every gun, 'half' only those of even images (plus a false box
    on odd ones), 'noisy' finds each with probability 0.7 at a random score."""
    rng = np.random.default_rng(seed)
    samples, perfect, half, noisy = [], {}, {}, {}
    for i in range(n):
        sid = f"img{i}"
        samples.append(Sample(image_id=sid, width=100, height=100, image=Path(f"{sid}.png"),
                              boxes=[Box(x1=10, y1=10, x2=50, y2=50, label="gun", occlusion="OL2")]))
        hit = np.array([[10, 10, 50, 50, 0.9, 0]], float)
        miss = np.array([[60, 60, 90, 90, 0.8, 0]], float)
        perfect[sid] = hit
        half[sid] = hit if i % 2 == 0 else miss
        noisy[sid] = np.array([[10, 10, 50, 50, rng.random(), 0]]) if rng.random() < 0.7 else miss
    return samples, {"perfect": perfect, "half": half, "noisy": noisy}


def test_full_set_figures_and_paired_differences():
    samples, dets = _set(40)
    out = bootstrap_maps(samples, dets, CLASSES, resamples=100, seed=1)
    assert out["perfect"]["map50"] == pytest.approx(1.0)
    assert out["perfect"]["ci"] == pytest.approx([1.0, 1.0])  # every resample is perfect
    assert "delta" not in out["perfect"]  # the first model is the reference
    # half the guns found, ranked above the false boxes: AP 0.5
    assert out["half"]["map50"] == pytest.approx(0.5)
    assert out["half"]["delta"] == pytest.approx(-0.5)
    lo, hi = out["half"]["delta_ci"]
    assert lo <= -0.5 <= hi and hi < 0  # clearly worse
    lo, hi = out["noisy"]["ci"]
    assert 0 < lo < out["noisy"]["map50"] < hi < 1


def test_intervals_shrink_with_more_images():
    widths = []
    for n in (20, 320):
        samples, dets = _set(n, seed=2)
        ci = bootstrap_maps(samples, {"noisy": dets["noisy"]}, CLASSES, resamples=60, seed=0)["noisy"]["ci"]
        widths.append(ci[1] - ci[0])
    assert widths[1] < widths[0] / 2  # about 1/sqrt(16) as wide


def test_resample_keeps_repeats_apart_and_checks_the_reference():
    samples, dets = _set(3)
    drawn, found = resample(samples, dets["perfect"], np.array([2, 2, 0]))
    assert [s.image_id for s in drawn] == ["0:img2", "1:img2", "2:img0"] and set(found) == {s.image_id for s in drawn}
    with pytest.raises(ValueError, match="reference"):
        bootstrap_maps(samples, dets, CLASSES, resamples=2, reference="other")


def test_the_table_marks_differences_whose_interval_excludes_zero():
    samples, dets = _set(40)
    rows = bootstrap_maps(samples, dets, CLASSES, resamples=50, seed=0)
    for r in rows.values():
        r |= {"map50_agnostic": r["map50"], "per_class": {"gun": r["map50"]}, "per_occlusion": {"OL2": r["map50"]}}
    result = {"models": dict.fromkeys(rows, "x.onnx"), "data": {"sim": {"images": 40, "models": rows}},
              "speed": {name: {"images_per_s": 10.0, "runs": [9.0, 10.0, 11.0]} for name in rows}}
    table = format_ablation(result)
    assert "| perfect | 1.000 [1.000, 1.000] | 10.0 (9.0-11.0) |" in table
    assert "| half | 0.500 [" in table and "(-0.500 [" in table and "] *)" in table
    assert "| model | OL2 | gun | class-agnostic |" in table
