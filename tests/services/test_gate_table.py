"""The gate's trade-off table: scans gated, caught threats it drops, rates after the gate, and scans/s."""

import pytest

from services.commands.eval_gate import format_gate, gate_table


def test_gate_rows_count_what_the_gate_drops_and_what_it_saves():
    # 6 scans: threats 0-2 (the detector alarms on 0 and 1), clean 3-5 (it alarms on 3)
    gate_scores = [0.9, 0.03, 0.5, 0.2, 0.01, 0.04]
    alarmed = [True, True, False, True, False, False]
    threat = [True, True, True, False, False, False]
    rows = gate_table(gate_scores, alarmed, threat, [0.02, 0.05], gate_s=0.01, detect_s=0.04)
    off, low, high = rows
    assert off["threshold"] is None and off["scans_per_s"] == pytest.approx(25.0)
    assert off["detection_rate"] == pytest.approx(2 / 3) and off["false_alarm_rate"] == pytest.approx(1 / 3)
    # 0.02 gates scan 4 only: a clean scan the detector did not alarm on; nothing lost
    assert low["gated"] == pytest.approx(1 / 6) and low["threat_scans_missed"] == 0
    assert low["detection_rate"] == pytest.approx(2 / 3)
    assert low["scans_per_s"] == pytest.approx(1 / (0.01 + 5 / 6 * 0.04))
    # 0.05 also gates scans 1 (a caught threat: the cost) and 5
    assert high["gated"] == pytest.approx(3 / 6) and high["threat_scans_missed"] == 1
    assert high["missed_of_caught"] == pytest.approx(0.5) and high["detection_rate"] == pytest.approx(1 / 3)
    assert high["false_alarm_rate"] == pytest.approx(1 / 3)  # scan 3 passes the gate (0.2) and still alarms
    text = format_gate({"scans": 6, "threat_scans": 3, "gate_ms_per_scan": 10.0, "detect_ms_per_scan": 40.0,
                        "threads": 2, "rows": rows})
    assert "| off | 0.0 % | 0 (0.0 %) | 66.7 % | 33.3 % | 25.0 |" in text
    assert "| 0.05 | 50.0 % | 1 (50.0 %) | 33.3 % | 33.3 % | 33.3 |" in text
