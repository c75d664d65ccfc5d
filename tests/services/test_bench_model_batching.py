"""`lanewatch bench model` and `bench batching` on the shipped ONNX detector, with tiny settings.

These check that the figures are well formed and the recommendation follows its rule; they never assert
on speed (the machine running the tests may be busy with anything).
"""

import importlib.util
import json
from pathlib import Path

import pytest

from services.cli import main
from services.tools.bench.batching import recommend
from services.tools.bench.model import bare_engine_throughput, open_runtime, simulator_canvases
from tests.plots import assert_plotted

WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "weights" / "aspp_yolo_nano.onnx"

pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason="shipped ONNX weights missing (make weights)")


def _ms_stats(stats: dict) -> None:
    assert set(stats) == {"mean", "p50", "p99"}
    assert all(v > 0 for v in stats.values()) and stats["p50"] <= stats["p99"]


def test_bench_model_json(tmp_path, capsys):
    out = tmp_path / "model.json"
    argv = ["bench", "model", "--weights", str(WEIGHTS), "--batch", "1,2", "--iters", "2", "--warmup", "1",
            "--frames", "2", "--threads", "1", "--json", str(out), "--quiet"]
    assert main(argv) == 0
    assert "images/s" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["runtime"] == "onnxruntime" and report["weights"] == str(WEIGHTS)
    assert report["img_size"] == 416 and report["threads"] == 1
    assert {"cpu", "cores", "gpu"} <= set(report["machine"]) and report["machine"]["cores"] >= 1
    assert [r["batch"] for r in report["results"]] == [1, 2]
    for r in report["results"]:
        assert r["images_per_s"] > 0 and r["infer_only_images_per_s"] > 0
        _ms_stats(r["ms_per_batch"])


def test_bare_engine_throughput_for_the_pipeline_bench():
    runtime = open_runtime(WEIGHTS, threads=1)
    canvases = simulator_canvases(runtime.img_size, runtime.input_format, count=1)
    assert canvases.shape == (1, 416, 416, 3) and canvases.dtype.name == "uint8"
    r = bare_engine_throughput(runtime, 3, iters=1, warmup=0, canvases=canvases)  # a batch larger than the frames
    assert r["batch"] == 3 and r["images_per_s"] > 0 and r["infer_only_images_per_s"] > 0


def test_unknown_runtime_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "model", "--weights", str(WEIGHTS), "--runtime", "openvino"])
    assert exit_.value.code == 2
    assert "invalid choice: 'openvino'" in capsys.readouterr().err


def test_unavailable_or_mismatched_runtime_exits_2_with_a_reason(capsys):
    assert main(["bench", "model", "--weights", str(WEIGHTS), "--runtime", "torch", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "torch runtime" in err and ".pt" in err and "Traceback" not in err
    assert main(["bench", "model", "--weights", str(WEIGHTS), "--img-size", "320", "--quiet"]) == 2
    assert "fixed when it is exported" in capsys.readouterr().err
    if importlib.util.find_spec("tensorrt") is None:  # on GPU machines with TensorRT this one may well run
        assert main(["bench", "model", "--weights", str(WEIGHTS), "--runtime", "tensorrt", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "error:" in err and "TensorRT" in err.replace("tensorrt", "TensorRT") and "Traceback" not in err


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("batching")
    argv = ["bench", "batching", "--weights", str(WEIGHTS), "--max-batch", "1,2", "--max-delay-ms", "0,5",
            "--seconds", "0.5", "--load-seconds", "0.6", "--warmup-s", "0.1", "--frames", "2", "--threads", "1", "--quiet",
            "--json", str(root / "b.json"), "--plot", str(root / "b.png")]
    assert main(argv) == 0
    return root, json.loads((root / "b.json").read_text())


def test_bench_batching_json(sweep):
    root, report = sweep
    assert report["runtime"] == "onnxruntime" and report["img_size"] == 416
    assert report["load"] == 0.5 and report["latency_budget_ms"] == 1000
    assert {(p["max_batch"], p["max_delay_ms"]) for p in report["points"]} == {(1, 0), (1, 5), (2, 0), (2, 5)}
    best = max(p["saturation_images_per_s"] for p in report["points"])
    assert report["offered_images_per_s"] == pytest.approx(0.5 * best, rel=1e-3)
    for p in report["points"]:
        assert p["saturation_images_per_s"] > 0 and p["throughput_images_per_s"] > 0
        assert 0 < p["p50_ms"] <= p["p99_ms"]
        assert 1 <= p["mean_batch"] <= p["max_batch"] and 1 <= p["saturation_mean_batch"] <= p["max_batch"]
        assert p["offered_images_per_s"] == report["offered_images_per_s"] and p["unfinished"] >= 0
        assert p["counted"] > 0
    assert [r["batch"] for r in report["bare_engine"]] == [1, 2]
    if importlib.util.find_spec("matplotlib") is not None:
        assert report["plot"] == str(root / "b.png")
        assert_plotted(root / "b.png")


def test_recommendation_is_a_swept_pair_obeying_the_rule(sweep):
    _, report = sweep
    points, rec = report["points"], report["recommended"]
    chosen = next(p for p in points if (p["max_batch"], p["max_delay_ms"]) == (rec["max_batch"], rec["max_delay_ms"]))
    budget, tol = report["latency_budget_ms"], report["tie_tolerance"]
    within = [p for p in points if p["p99_ms"] <= budget]
    assert rec["within_budget"] == bool(within)
    if within:
        best = max(p["saturation_images_per_s"] for p in within)
        assert chosen["p99_ms"] <= budget and chosen["saturation_images_per_s"] >= (1 - tol) * best
        tied = [p for p in within if p["saturation_images_per_s"] >= (1 - tol) * best]
        assert chosen["p99_ms"] == min(p["p99_ms"] for p in tied)
    else:
        assert chosen["p99_ms"] == min(p["p99_ms"] for p in points)


def _point(mb: int, delay: float, sat: float, p99: float) -> dict:
    return {"max_batch": mb, "max_delay_ms": delay, "saturation_images_per_s": sat, "p99_ms": p99}


def test_recommend_on_hand_made_points():
    points = [_point(8, 10, 100, 500), _point(16, 10, 120, 1500), _point(8, 5, 98, 300), _point(4, 0, 60, 100)]

    def pick(**kw):
        r = recommend(points, **kw)
        return r["max_batch"], r["max_delay_ms"], r["within_budget"]

    assert pick(budget_ms=1000, tie_tolerance=0.0) == (8, 10, True)  # 16 is faster but over budget
    assert pick(budget_ms=1000, tie_tolerance=0.05) == (8, 5, True)  # 98 ties 100 within 5 %: lower p99 wins
    assert pick(budget_ms=2000, tie_tolerance=0.0) == (16, 10, True)
    assert pick(budget_ms=200, tie_tolerance=0.0) == (4, 0, True)
    assert pick(budget_ms=50, tie_tolerance=0.0) == (4, 0, False)  # none within: the lowest p99, flagged
    exact_tie = [_point(8, 10, 100, 500), _point(8, 20, 100, 400)]
    assert recommend(exact_tie, budget_ms=1000, tie_tolerance=0.0)["max_delay_ms"] == 20
    with pytest.raises(ValueError):
        recommend([], budget_ms=1000)


def test_batching_bench_serves_through_the_detect_services_runner_and_stage():
    # the bench has no batching loop of its own: records go through services.runner.Runner and DetectStage
    import time as _time

    import numpy as np

    from services.tools.bench.batching import measure_stream

    class Slow:
        img_size, input_format, class_names, dynamic_size = 64, "rgb", ("gun",), False
        shapes: list = []

        def detect_canvases(self, canvases, **_):
            self.shapes.append(canvases.shape)
            _time.sleep(0.002 * len(canvases))
            return [np.array([[1, 1, 20, 20, 0.9, 0]], np.float32) for _ in canvases]

    runtime = Slow()
    canvases = np.full((3, 64, 64, 3), 255, np.uint8)
    out = measure_stream(runtime, canvases, max_batch=4, max_delay_s=0.005, rate=400.0, seconds=0.6, warmup_s=0.1,
                         drain_s=1.0)
    assert runtime.shapes and all(s[1:] == (64, 64, 3) and 1 <= s[0] <= 4 for s in runtime.shapes)
    assert 1 < out["mean_batch"] <= 4 and out["counted"] > 50 and out["unfinished"] == 0
    assert 0 < out["p50_ms"] <= out["p99_ms"] and out["images_per_s"] > 100
