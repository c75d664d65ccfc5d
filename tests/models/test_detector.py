import json
import math

import pytest
import torch

from models.detector import SIZES, DetectorConfig, build_detector
from models.flops import profile
from tests.models.conftest import ANCHORS, CLASS_NAMES, make_detector


@pytest.mark.parametrize("size", ["nano", "small"])
@pytest.mark.parametrize(("height", "width"), [(128, 128), (96, 160)])
def test_forward_gives_three_raw_maps_in_train_and_eval(size, height, width):
    model = make_detector(size)
    x = torch.rand(2, 3, height, width)
    with torch.no_grad():
        for training in (True, False):
            model.train(training)
            outs = model(x)
            assert [tuple(o.shape) for o in outs] == [
                (2, 3, height // s, width // s, 5 + len(CLASS_NAMES)) for s in (8, 16, 32)
            ]


def test_features_stop_at_the_requested_stage(nano):
    called = []
    hooks = [
        getattr(nano.backbone, name).register_forward_hook(lambda *_, n=name: called.append(n))
        for name in nano.feature_names
    ] + [nano.aspp.register_forward_hook(lambda *_: called.append("aspp"))]
    try:
        with torch.no_grad():
            f3 = nano.features(torch.rand(1, 3, 128, 192), "dark3")
    finally:
        for h in hooks:
            h.remove()
    assert called == ["stem", "dark2", "dark3"]
    assert tuple(f3.shape) == (1, nano.feature_channels("dark3"), 16, 24)
    with torch.no_grad():
        assert nano.features(torch.rand(1, 3, 128, 192), "dark4").shape[2:] == (8, 12)
    with pytest.raises(KeyError):
        nano.features(torch.rand(1, 3, 64, 64), "dark6")
    with pytest.raises(ValueError, match="multiples of 32"):
        nano(torch.rand(1, 3, 100, 128))


def test_deep_stages_use_atrous_convolutions(nano):
    def dilations(module):
        return {m.dilation[0] for m in module.modules() if isinstance(m, torch.nn.Conv2d)}

    assert dilations(nano.backbone.dark3) == {1}
    assert dilations(nano.backbone.dark4) == {1, 2}
    assert dilations(nano.backbone.dark5) == {1, 2}
    assert dilations(nano.aspp) == {1, 2, 4, 6}


def test_sizes_params_and_flops():
    nano = profile(make_detector("nano"), img_size=416)
    small = profile(make_detector("small"), img_size=416)
    assert 0.5e6 <= nano.params <= 1.5e6
    assert nano.gflops < 1.5
    assert small.params > 3 * nano.params and small.gflops > 3 * nano.gflops


def test_head_bias_priors():
    model = build_detector(size="nano", num_classes=5, anchors=ANCHORS, img_size=320)
    for conv, stride in zip(model.head.convs, model.strides, strict=True):
        bias = conv.bias.detach().view(3, 10)
        # Conv init adds a small uniform term (|b| <= 1/sqrt(fan_in)) to each prior.
        bound = 1 / math.sqrt(conv.in_channels)
        assert torch.allclose(bias[:, 4], torch.tensor(math.log(8 / (320 / stride) ** 2)), atol=bound)
        assert torch.allclose(bias[:, 5:], torch.tensor(math.log(0.6 / (5 - 0.99))), atol=bound)


def test_config_round_trip_and_validation():
    model = build_detector(size="small", num_classes=2, anchors=ANCHORS, class_names=["gun", "knife"], img_size=320)
    config = model.config
    assert config == DetectorConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert config.anchors[2][2] == (373.0, 326.0) and config.class_names == ("gun", "knife")
    assert torch.equal(model.anchors, torch.tensor(ANCHORS, dtype=torch.float32))
    with pytest.raises(ValueError, match="class names"):
        DetectorConfig(size="nano", num_classes=3, class_names=("a",), anchors=ANCHORS)
    with pytest.raises(ValueError, match="multiple of 32"):
        DetectorConfig(size="nano", num_classes=1, class_names=("a",), anchors=ANCHORS, img_size=400)
    with pytest.raises(ValueError, match="size"):
        DetectorConfig(size="huge", num_classes=1, class_names=("a",), anchors=ANCHORS)
    assert set(SIZES) >= {"nano", "small"}
