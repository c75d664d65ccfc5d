import math

import numpy as np
import pytest

from pipeline.dual_energy import ratio_channel, to_three_channel


def test_channels_follow_the_clcxray_formula():
    high = np.array([[60000, 30000, 0, 65535]], np.uint16)
    low = np.array([[50000, 3000, 0, 1]], np.uint16)
    out = to_three_channel(high, low)
    assert out.dtype == np.uint8 and out.shape == (1, 4, 3)
    assert out[0, :, 0].tolist() == [60000 // 256, 30000 // 256, 0, 255]
    assert out[0, :, 1].tolist() == [50000 // 256, 3000 // 256, 0, 0]
    for i in range(4):
        r = high[0, i] / max(low[0, i], 1)
        expected = 510 / (1 + math.exp(-r)) - 255
        assert abs(int(out[0, i, 2]) - expected) <= 1


def test_ratio_channel_grows_with_ratio():
    low = np.full((1, 50), 20000, np.uint16)
    high = np.linspace(1000, 60000, 50).astype(np.uint16)[None]
    ch3 = ratio_channel(high, low)[0].astype(int)
    assert (np.diff(ch3) >= 0).all() and ch3[-1] > ch3[0]


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint16)])
def test_rejects_wrong_dtype_or_shape(bad):
    with pytest.raises(ValueError):
        to_three_channel(np.zeros((4, 4), np.uint16), bad)
