"""Service metrics: own registry, standard names, /metrics and /healthz over HTTP."""

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client import REGISTRY, generate_latest

from pipeline.metrics import serve_metrics, service_metrics


def test_standard_metrics_in_an_own_registry():
    m = service_metrics("detect")
    m.count_in("lanewatch.scans.cropped", 3)
    m.count_out("lanewatch.detections")
    m.observe_batch(8)
    m.count_deadletter("detect", "BadPayload")
    with m.timed("infer"):
        pass
    m.set_lag({("lanewatch.scans.cropped", 0): 5, ("lanewatch.scans.cropped", 1): 0})
    text = generate_latest(m.registry).decode()
    for line in (
        'lanewatch_records_in_total{service="detect",topic="lanewatch.scans.cropped"} 3.0',
        'lanewatch_records_out_total{service="detect",topic="lanewatch.detections"} 1.0',
        'lanewatch_batch_size_count{service="detect"} 1.0',
        'lanewatch_deadletters_total{kind="BadPayload",service="detect",stage="detect"} 1.0',
        'lanewatch_stage_latency_seconds_count{service="detect",stage="infer"} 1.0',
        'lanewatch_consumer_lag{partition="0",service="detect",topic="lanewatch.scans.cropped"} 5.0',
    ):
        assert line in text
    m.set_lag({("lanewatch.scans.cropped", 1): 2})  # partition 0 revoked: its gauge goes
    assert 'partition="0"' not in generate_latest(m.registry).decode()
    assert "lanewatch_records_in" not in generate_latest(REGISTRY).decode()
    service_metrics("crop")  # a second service in the same process does not collide


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.mark.parametrize("healthy", [True, False])
def test_http_endpoint(healthy):
    m = service_metrics("alert")
    m.count_in("lanewatch.detections")
    server = serve_metrics(m.registry, port=0, addr="127.0.0.1", health=lambda: (healthy, {"redis": healthy}))
    try:
        base = f"http://127.0.0.1:{server.port}"
        status, body = _get(base + "/metrics")
        assert status == 200 and "lanewatch_records_in_total" in body
        status, body = _get(base + "/healthz")
        assert status == (200 if healthy else 503)
        assert json.loads(body) == {"status": "ok" if healthy else "unhealthy", "redis": healthy}
    finally:
        server.close()
