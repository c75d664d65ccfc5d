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
