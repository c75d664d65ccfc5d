"""Backbone feature maps for cropping: geometry, and ONNX Runtime agreeing with PyTorch."""

import numpy as np
import pytest

from models.checkpoint import save_checkpoint
from models.detector import build_detector
from models.features import FeatureExtractor

ANCHORS = [[(10, 13), (16, 30), (33, 23)], [(30, 61), (62, 45), (59, 119)], [(116, 90), (156, 198), (373, 326)]]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    model = build_detector(size="nano", num_classes=2, anchors=ANCHORS, img_size=128)
    return save_checkpoint(tmp_path_factory.mktemp("fx") / "nano.pt", model, model.config, extra={"input_format": "dual"})


@pytest.mark.parametrize(("layer", "stride"), [("stem", 2), ("dark2", 4), ("dark3", 8)])
def test_map_tiles_the_frame_and_onnx_matches_torch(weights, layer, stride):
    frame = np.random.default_rng(0).integers(0, 256, (300, 500, 3), np.uint8)
    fast = FeatureExtractor.load(weights, layer=layer, long_side=160, runtime="onnx")
    ref = FeatureExtractor.load(weights, layer=layer, long_side=160, runtime="torch")
    w_in, h_in = fast.input_size(500, 300)
    assert w_in == 160 and h_in % stride == 0 and abs(h_in - 96) <= stride
    a, b = fast(frame), ref(frame)
    assert a.shape == b.shape == (a.shape[0], h_in // stride, w_in // stride)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert fast.input_format == "dual"
    assert fast.shift == pytest.approx(-(stride - 1) / (2 * stride))


def test_bad_layers_and_inputs_are_refused(weights):
    with pytest.raises(ValueError, match="layer must be one of"):
        FeatureExtractor.load(weights, layer="neck", long_side=64)
    fx = FeatureExtractor.load(weights, layer="stem", long_side=64)
    with pytest.raises(ValueError, match="uint8"):
        fx(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match=r"\.pt checkpoint"):
        FeatureExtractor.load(weights.with_name("other.onnx"), layer="stem", long_side=64)
