"""Lane state key layout. Behaviour (and the keys actually written) is tested against a real Redis in
tests/integration/test_redis_state.py, and on the in-memory store in test_memory_state.py."""

import re
from typing import get_args

import pipeline.state as state
from pipeline.messages import LANE_PATTERN, Decision


def test_keys_are_namespaced_and_lane_ids_cannot_break_them():
    assert all(t.startswith("lw:") for t in state.KEYS.values())
    assert len(set(state.KEYS.values())) == len(state.KEYS)
    # a lane id never contains the separator, so `lw:lane:{lane}:...` parses back unambiguously
    assert not re.match(LANE_PATTERN, "a:b") and re.match(LANE_PATTERN, "T2-lane_04.b")


def test_every_decision_has_a_counter():
    assert {counter for _, counter, _ in state._DECISIONS.values()} <= set(state.COUNTERS)
    assert set(state._DECISIONS) == {"ack", "clear", "escalate", "search", "unknown", "reopen"} == set(get_args(Decision))
