"""The dynamic batcher: full batches go at once, partial ones when their oldest item's delay is up."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.batcher import DynamicBatcher


def test_a_full_batch_goes_at_once():
    b = DynamicBatcher(max_batch=3, max_delay_s=1.0)
    for i in range(7):
        b.add(i, now=0.0)
    assert b.wait_s(0.0) == 0.0
    assert list(b.ready(0.0)) == [[0, 1, 2], [3, 4, 5]]  # the seventh waits for company
    assert len(b) == 1 and b.take(0.5) == []
    assert b.wait_s(0.5) == pytest.approx(0.5)


def test_a_partial_batch_goes_when_its_oldest_item_has_waited_long_enough():
    b = DynamicBatcher(max_batch=8, max_delay_s=0.010)
    assert b.wait_s(0.0) is None and b.take(0.0) == []
    b.add("a", 0.000)
    b.add("b", 0.004)
    assert b.take(0.009) == [] and b.wait_s(0.009) == pytest.approx(0.001)
    assert b.take(0.010) == ["a", "b"]  # the delay runs from the oldest item, not the newest
    assert len(b) == 0 and b.room() == 8


def test_zero_delay_hands_out_whatever_is_queued():
    b = DynamicBatcher(max_batch=2, max_delay_s=0.0)
    for i in range(5):
        b.add(i, 1.0)
    assert list(b.ready(1.0)) == [[0, 1], [2, 3], [4]]


def test_room_flush_and_drop():
    b = DynamicBatcher(max_batch=4, max_delay_s=5.0)
    for i in range(6):
        b.add(i, 0.0)
    assert b.room() == 0
    assert b.drop(lambda i: i % 2 == 1) == [1, 3, 5]
    assert b.room() == 1
    assert list(b.flush()) == [[0, 2, 4]] and len(b) == 0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        DynamicBatcher(max_batch=0, max_delay_s=0.1)
    with pytest.raises(ValueError):
        DynamicBatcher(max_batch=1, max_delay_s=-1)


@given(
    max_batch=st.integers(1, 6),
    delay=st.floats(0.0, 0.05),
    arrivals=st.lists(st.floats(0.0, 0.02), max_size=40),
)
def test_order_size_and_waiting_bounds(max_batch, delay, arrivals):
    """Whatever the arrivals: FIFO, never more than max_batch, nothing waits past its deadline when polled."""
    b = DynamicBatcher(max_batch=max_batch, max_delay_s=delay)
    now, out = 0.0, []
    for i, gap in enumerate(arrivals):
        now += gap
        b.add(i, now)
        for batch in b.ready(now):
            assert 1 <= len(batch) <= max_batch
            out += batch
        assert len(b) < max_batch and not b.due(now)  # what stays is neither full nor overdue
    out += [i for batch in b.flush() for i in batch]
    assert out == list(range(len(arrivals)))
