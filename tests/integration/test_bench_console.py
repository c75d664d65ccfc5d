"""`lanewatch bench console` measures what it says: every alert on every console (its own module: the web
console tests' browser, a sync Playwright session, must have closed first)."""

import os
import shutil

import pytest

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("LANEWATCH_CHROMIUM", "/usr/bin/chromium")
def test_the_console_latency_bench_sees_every_alert_on_every_console():
    from services.tools.bench.console import measure_once

    if not shutil.which(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}") if os.environ.get("CI") else pytest.skip("no Chromium")
    r = measure_once(consoles=2, lanes=3, seconds=4, rate=1.0, threat_share=0.6, seed=3, chromium=shutil.which(CHROMIUM),
                     show=lambda line: None)
    assert r["alerts"] == r["sent_threats"] > 0
    assert r["samples"] == 2 * r["alerts"] and r["missed"] == 0
    assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] < 10_000
