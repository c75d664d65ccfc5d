"""`lanewatch demo` end to end, short: embedded stack, four service processes, simulated lanes, a summary,
and nothing left running afterwards."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.tools.stack import alive
from tests.integration.helpers import tiny_model

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end_and_leaves_no_process_behind(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANEWATCH_")}  # nothing configured: embedded stack
    out = tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "--lanes", "2", "--duration", "5", "--rate", "1", "--size", "320x240",
         "--weights", str(tiny_model()), "--workdir", str(tmp_path), "--json", str(out)],
        env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "embedded stack" in done.stdout and "crop ready" in done.stdout and "latency capture -> outcome" in done.stdout
    summary = json.loads(out.read_text())
    assert {"scans_in", "scans_done", "alerts", "deadletters", "latency_ms", "lanes"} <= set(summary)
    assert summary["scans_in"] > 0 and summary["scans_done"] == summary["scans_in"]
    assert summary["deadletters"] == 0 and summary["latency_ms"]["p50"] is not None
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
    assert set(summary["lanes"]) == {"lane-1", "lane-2"}
    # scored against the simulator's truth: every bag counted once, as a threat bag or a clean one
    truth = summary["ground_truth"]
    assert truth["threat_bags"] + truth["clean_bags"] == summary["scans_in"]
    assert truth["alarmed"] + truth["missed"] == truth["threat_bags"]
    assert truth["alarmed"] + truth["clean_alarmed"] == summary["alerts"]["total"]
    assert sum(v["threat_bags"] + v["clean_bags"] for v in truth["per_lane"].values()) == summary["scans_in"]
    assert summary["console"].startswith("http://127.0.0.1:") and f"web console: {summary['console']}" in done.stdout
    assert sum(lane["counters"]["scans"] for lane in summary["lanes"].values()) == summary["scans_in"]
    assert {name: s["exit_code"] for name, s in summary["services"].items()} == dict.fromkeys(("alert", "detect", "crop", "ingest"), 0)
    pids = [s["pid"] for s in summary["services"].values()] + list(summary["stack"].values())
    assert not [pid for pid in pids if alive(pid)], "processes outlived the demo"
    assert (tmp_path / "logs" / "detect.log").read_text().count('"msg": "stopped"') == 1


def test_demo_on_a_configured_cluster_keeps_its_redis_keys_and_users_apart(tmp_path, stack):
    """Issue 15: against a site's Kafka and Redis the demo prefixed its topics but wrote its lanes, counters, open
    alerts (and its web console's demo supervisor) into the site's own keys."""
    import redis

    site = redis.Redis.from_url(stack.redis_url)
    site.sadd("lw:lanes", "site-lane")  # the site's own lane table (other tests' lanes too), which the demo must leave as it was
    before = site.smembers("lw:lanes")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANEWATCH_")}
    env.update(LANEWATCH_KAFKA_BOOTSTRAP=stack.kafka_bootstrap, LANEWATCH_REDIS_URL=stack.redis_url, PYTHONPATH=str(ROOT))
    out = tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "--lanes", "2", "--duration", "4", "--rate", "1", "--size", "320x240",
         "--weights", str(tiny_model()), "--workdir", str(tmp_path), "--json", str(out), "--console-port", "0"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert summary["scans_in"] > 0 and summary["scans_done"] == summary["scans_in"]
    assert site.smembers("lw:lanes") == before  # nothing of the demo in the site's keys
    assert not site.exists("lw:lane:lane-1:counters") and not site.exists("lw:lane:lane-2:counters")
    (namespace,) = {k.decode().split(":")[0] for k in site.keys("lw-demo-*:lanes")}
    assert f"Redis keys under {namespace}:" in done.stdout
    assert site.smembers(f"{namespace}:lanes") == {b"lane-1", b"lane-2"}
