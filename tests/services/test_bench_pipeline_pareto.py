"""`lanewatch bench pareto` runs and gives well-formed figures (never how fast); the speed-up rule on hand-made curves."""

import json
from pathlib import Path

import pytest

from services.cli import main
from services.tools.bench.pareto import speedup_at_equal_map
from tests.plots import assert_plotted

WEIGHTS = Path("models/weights/aspp_yolo_nano.pt")


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory):
    from training.synth.dataset import SynthJob, synthesize
    from training.synth.scene import SceneConfig

    root = tmp_path_factory.mktemp("pareto") / "data"
    synthesize(SynthJob(out=root, count=6, seed=5, scene=SceneConfig(width=320, height=240)))
    return root


def _p(size, m, sps):
    return {"img_size": size, "map50": m, "scans_per_s": sps}


def test_speedup_interpolates_lanewatchs_curve_at_the_baselines_best_map():
    baseline = [_p(320, 0.40, 30.0), _p(416, 0.50, 12.0), _p(640, 0.60, 5.0)]
    lanewatch = [_p(256, 0.50, 40.0), _p(320, 0.58, 30.0), _p(416, 0.62, 15.0)]
    r = speedup_at_equal_map(lanewatch, baseline)
    # target 0.60 lies a half of the way from 320 (0.58, 30/s) to 416 (0.62, 15/s): 22.5/s, over 5/s
    assert r["baseline_best"] == {"img_size": 640, "map50": 0.60, "scans_per_s": 5.0}
    assert r["lanewatch_scans_per_s_at_that_map"] == pytest.approx(22.5)
    assert r["speedup_at_equal_map"] == pytest.approx(4.5)
    # reached at the smallest size already: that size's throughput, no extrapolation
    assert speedup_at_equal_map([_p(256, 0.7, 50.0)], baseline)["speedup_at_equal_map"] == pytest.approx(10.0)
    # never reached: no figure rather than a made-up one
    assert speedup_at_equal_map([_p(256, 0.3, 50.0), _p(640, 0.55, 9.0)], baseline)["speedup_at_equal_map"] is None


def test_bench_pareto_writes_both_curves(tmp_path, tiny_synth):
    out = tmp_path / "pareto.json"
    assert main(["bench", "pareto", "--data", str(tiny_synth), "--weights", str(WEIGHTS), "--sizes", "128,192",
                 "--batch", "2", "--json", str(out), "--plot", str(tmp_path / "p.png")]) == 0
    r = json.loads(out.read_text())
    for name in ("lanewatch", "baseline"):
        assert [p["img_size"] for p in r["points"][name]] == [128, 192]
        assert all(0.0 <= p["map50"] <= 1.0 and p["scans_per_s"] > 0 for p in r["points"][name])
    assert r["baseline_best"]["img_size"] in (128, 192)
    assert "speedup_at_equal_map" in r
    assert_plotted(tmp_path / "p.png")


def test_bench_pareto_needs_a_checkpoint(tmp_path, capsys):
    assert main(["bench", "pareto", "--data", str(tmp_path), "--weights", "models/weights/aspp_yolo_nano.onnx"]) == 2
    assert "give the .pt checkpoint" in capsys.readouterr().err
