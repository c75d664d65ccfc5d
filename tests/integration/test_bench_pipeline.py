"""`lanewatch bench pipeline` runs its three phases on the real embedded stack and reports well-formed figures."""

import pytest

from tests.integration.helpers import tiny_model
from tests.plots import assert_plotted


@pytest.mark.integration
def test_bench_pipeline_runs_all_phases_end_to_end(tmp_path, monkeypatch):
    for var in ("LANEWATCH_KAFKA_BOOTSTRAP", "LANEWATCH_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    from services.tools.bench.pipeline import PipelineBench, plot, run_pipeline_bench

    cfg = PipelineBench(lanes=2, scans=12, latency_scans=6, size=(320, 240), max_batch=4, max_delay_ms=5,
                        weights=tiny_model(), workdir=tmp_path, threads=1, lanes_sweep=(1,), lane_rate=2.0,
                        sweep_seconds=2.0, show=lambda _: None)
    s = run_pipeline_bench(cfg)
    assert s["phases"]["saturation"]["completed"] == 12 and s["phases"]["latency"]["completed"] == 6
    assert s["phases"]["baseline"]["completed"] == 12
    assert s["scans_per_s"] > 0 and s["baseline_scans_per_s"] > 0 and s["bare_engine_images_per_s"] > 0
    lat = s["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert {"crop.handle", "detect.handle", "detect.infer", "alert.handle"} <= set(s["stages"])
    assert sum(s["batch_sizes"].values()) >= 1 and max(s["phases"]["baseline"]["batch_sizes"]) == "<=1"
    assert {"crop", "detect-0", "alert", "broker", "redis", "ingest"} <= set(s["cpu_ms_per_scan"])
    assert s["bare_engine"]["batch"] == 4
    (point,) = s["lanes_sweep"]
    assert point["lanes"] == 1 and point["completed"] == 4
    assert_plotted(plot(s, tmp_path / "bench.png"))
