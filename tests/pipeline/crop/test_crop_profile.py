"""The paper's profile maths on hand-made arrays."""

import numpy as np
import pytest

from pipeline.crop.profile import energy_map, first_above, level_bounds, median_filter, minmax, paper_bounds, profile_edges


def block_profile(n=64, start=20, stop=40, value=10.0):
    p = np.zeros(n)
    p[start:stop] = value
    return p


def test_energy_is_the_channel_mean_of_absolute_values():
    f = np.zeros((2, 3, 4), np.float32)
    f[0, 1, 2], f[1, 1, 2] = -4.0, 2.0
    e = energy_map(f)
    assert e.shape == (3, 4) and e[1, 2] == 3.0 and e.sum() == 3.0
    with pytest.raises(ValueError, match="C, h, w"):
        energy_map(np.zeros((3, 4)))


def test_median_filter_kills_a_one_cell_spike_and_keeps_a_step():
    spike = np.zeros(30)
    spike[12] = 100.0
    assert median_filter(spike, 9).max() == 0.0
    step = np.r_[np.zeros(15), np.ones(15)]
    np.testing.assert_array_equal(median_filter(step, 9), step)
    # a spike at the rim goes too (reflected ends, not repeated ones)
    rim = np.zeros(30)
    rim[0] = 50.0
    assert median_filter(rim, 5).max() == 0.0
    with pytest.raises(ValueError, match="odd"):
        median_filter(spike, 4)


def test_minmax_and_first_above():
    np.testing.assert_allclose(minmax(np.array([2.0, 4.0, 6.0])), [0.0, 0.5, 1.0])
    assert not minmax(np.full(5, 3.0)).any()
    values = np.array([0.0, 0.1, 0.2, 0.5, 0.2, 0.1])
    assert first_above(values, 0.15) == (2, 4)
    assert first_above(values, 0.3) == (3, 3)
    assert first_above(values, 0.6) is None


def test_edges_of_a_block_are_its_two_steps():
    # a block 20 cells wide is a plateau: the differences are two one-cell steps,
    # which a 9-wide median removes; with kernel 1 (no filter) they stay
    edges = profile_edges(block_profile(), kernel=1)
    assert edges.shape == (63,) and edges.max() == 1.0
    assert list(np.flatnonzero(edges > 0.5)) == [19, 39]
    assert paper_bounds(block_profile(), k=0.15, kernel=1) == (20, 40)


def test_paper_bounds_on_a_textured_block():
    # inside a bag the column sums vary from column to column: the median keeps that texture
    rng = np.random.default_rng(0)
    p = block_profile()
    p[20:40] += rng.uniform(0, 8, 20)
    start, stop = paper_bounds(p, k=0.15, kernel=9)
    assert 18 <= start <= 24 and 36 <= stop <= 42
    assert paper_bounds(np.zeros(64)) is None


def test_k_threshold_moves_the_level_bounds_inwards_on_a_ramp():
    ramp = np.r_[np.zeros(10), np.linspace(0, 1, 11), np.ones(20), np.linspace(1, 0, 11), np.zeros(10)]
    low = level_bounds(ramp, k=0.05, kernel=1)
    high = level_bounds(ramp, k=0.5, kernel=1)
    assert low[0] < high[0] and low[1] > high[1]
    assert low == (11, 51) and high == (16, 46)
