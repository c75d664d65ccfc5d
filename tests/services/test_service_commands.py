"""serve, console and demo on the command line: help that teaches, clear errors, the console's and summary's text."""

from datetime import UTC, datetime

import pytest

from pipeline.messages import Alert, Box, Detection
from pipeline.state import LaneStatus
from services.cli import main
from services.commands.demo import format_summary
from services.console import format_alert, lane_of, lane_table, severity_at_least

NOW = datetime(2026, 11, 21, 12, 0, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_cluster(monkeypatch, tmp_path):
    for name in ("LANEWATCH_KAFKA_BOOTSTRAP", "LANEWATCH_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .lanewatch/stack.json here


@pytest.mark.parametrize("cmd", ["serve", "console", "demo"])
def test_help_teaches(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0 and "example" in capsys.readouterr().out


def test_console_without_a_cluster_says_how_to_get_one(capsys):
    assert main(["console", "lanes"]) == 2
    assert "lanewatch stack up" in capsys.readouterr().err


def test_console_decisions_need_an_alert_and_an_operator(capsys, monkeypatch):
    monkeypatch.setenv("LANEWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("LANEWATCH_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["console", "ack"]) == 2
    assert "needs the alert id" in capsys.readouterr().err
    assert main(["console", "ack", "al-1795270000000-lane-1-3"]) == 2
    assert "--operator" in capsys.readouterr().err


def test_demo_with_missing_weights_names_the_path_and_the_flag(capsys):
    # a mistyped --weights is not cured by an hour of `make weights`: the message says what was tried
    assert main(["demo", "--weights", "nowhere.onnx"]) == 2
    err = capsys.readouterr().err
    assert "no detector weights at nowhere.onnx" in err and "check --weights" in err and "make weights" not in err


def test_serve_detect_without_weights_fails_loudly(capsys, monkeypatch):
    monkeypatch.setenv("LANEWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("LANEWATCH_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["serve", "detect", "--weights", "nowhere.onnx"]) == 2
    assert "no detector weights at nowhere.onnx" in capsys.readouterr().err


def _alert(severity="critical"):
    dets = (Detection(label="gun", score=0.91, box=Box(x1=1, y1=2, x2=30, y2=40), view="top"),
            Detection(label="knife", score=0.5, box=Box(x1=50, y1=2, x2=80, y2=40), view="side"))
    return Alert(alert_id="al-1795270000000-lane-3-17", scan_id="1795270000000-lane-3-17", lane_id="lane-3",
                 scanner_id="s", captured_at=NOW, seq=17, classes=("gun", "knife"), detections=dets,
                 severity=severity, created_at=NOW)


def test_console_lines_say_what_where_and_how_to_answer():
    text = format_alert(_alert())
    assert "[12:00:05] CRITICAL" in text and "lane-3" in text and "gun 0.91, knife 0.50 (side)" in text
    assert "lanewatch console ack al-1795270000000-lane-3-17 --operator NAME" in text
    assert severity_at_least(_alert("high"), "medium") and not severity_at_least(_alert("low"), "medium")
    assert lane_of("al-1795270000000-lane-3-17") == "lane-3"
    with pytest.raises(KeyError):
        lane_of("not-an-alert")
    table = lane_table([LaneStatus("lane-3", "active", NOW, "x", dict.fromkeys(
        ("scans", "threats", "clears", "acked", "cleared", "escalated"), 2), ("al-x",))])
    assert "lane-3" in table and "al-x" in table


def test_demo_summary_reads_well():
    s = {"scans_in": 10, "scans_done": 10, "threat_scans_in": 4, "alerts": {"total": 3, "by_class": {"gun": 2, "knife": 1}},
         "deadletters": 0, "latency_ms": {"p50": 120.0, "p99": 400.0, "count": 10}, "logs": ".demo/logs",
         "lanes": {"lane-1": {"state": "active", "counters": {"scans": 10, "threats": 3, "clears": 7}, "open_alerts": 3}}}
    text = format_summary(s)
    assert "scans in 10, done 10" in text and "alerts 3: gun 2, knife 1" in text and "p50 120.0 ms, p99 400.0 ms" in text
