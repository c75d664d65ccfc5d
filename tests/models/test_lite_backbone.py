"""ASPP-YOLO on the ImageNet-pretrained EfficientNet-Lite0 backbone: shapes, weights, checkpoints, export, cropping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.checkpoint import load_detector, save_checkpoint
from models.detector import DetectorConfig, build_detector
from models.efficientnet_lite import weights_path
from tests.models.conftest import ANCHORS, CLASS_NAMES


@pytest.fixture(scope="module")
def lite():
    torch.manual_seed(0)
    return build_detector(size="nano", num_classes=5, anchors=ANCHORS, class_names=CLASS_NAMES, img_size=256,
                          backbone="efficientnet-lite0").eval()


def test_shapes_and_stage_names_match_the_csp_backbone(lite):
    x = torch.rand(1, 3, 256, 192)
    with torch.no_grad():
        outputs = lite(x)
        assert [tuple(o.shape) for o in outputs] == [(1, 3, 32, 24, 10), (1, 3, 16, 12, 10), (1, 3, 8, 6, 10)]
        for name, stride, channels in (("stem", 2, 16), ("dark2", 4, 24), ("dark3", 8, 40), ("dark4", 16, 112), ("dark5", 32, 320)):
            f = lite.features(x, name)
            assert f.shape == (1, channels, 256 // stride, 192 // stride) and lite.feature_channels(name) == channels
    assert lite.backbone.out_channels == (40, 112, 192)  # dark5 projected to nano's 192 for ASPP
    assert lite.config.backbone == "efficientnet-lite0" and lite.in_channels == 3


def test_training_starts_from_the_imagenet_weights(lite):
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(lite.backbone.stem[0].weight, state["_conv_stem.weight"])
    assert torch.equal(lite.backbone.blocks[15].project[0].weight, state["_blocks.15._project_conv.weight"])
    plain = build_detector(size="nano", num_classes=5, anchors=ANCHORS, class_names=CLASS_NAMES,
                           backbone="efficientnet-lite0", pretrained_backbone=False)
    assert not torch.equal(plain.backbone.stem[0].weight, state["_conv_stem.weight"])


def test_checkpoint_keeps_the_backbone(lite, tmp_path):
    path = save_checkpoint(tmp_path / "lite.pt", lite, lite.config, extra={"input_format": "rgb"})
    model, config, _ = load_detector(path)
    assert config.backbone == "efficientnet-lite0"
    x = torch.rand(2, 3, 128, 160)
    with torch.no_grad():
        for a, b in zip(model(x), lite(x)):
            torch.testing.assert_close(a, b)
    # checkpoints written before backbones were selectable read as CSP-Darknet
    old = {k: v for k, v in config.to_dict().items() if k != "backbone"}
    assert DetectorConfig.from_dict(old).backbone == "cspdarknet"
    with pytest.raises(ValueError, match="backbone must be one of"):
        DetectorConfig.from_dict({**old, "backbone": "resnet50"})


def test_onnx_export_runs_the_same_and_says_its_backbone(lite, tmp_path):
    from models.export import export_onnx
    from models.runtime import load_runtime
    from models.runtime.torch import TorchDetector

    path = export_onnx(lite, tmp_path / "lite.onnx", img_size=256,
                       metadata={"class_names": list(CLASS_NAMES), "input_format": "rgb", "backbone": "efficientnet-lite0"})
    runtime = load_runtime(path, threads=1)
    assert runtime.metadata["backbone"] == "efficientnet-lite0"
    reference = TorchDetector(lite, runtime.metadata)
    canvases = np.random.default_rng(0).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    got = runtime.detect_canvases(canvases, conf_threshold=0.01, iou_threshold=0.6)
    want = reference.detect_canvases(canvases, conf_threshold=0.01, iou_threshold=0.6)
    for g, w in zip(got, want):
        assert g.shape == w.shape and len(g) > 0
        # boxes whose scores tie to float precision may come out in either order: compare as sets
        key = lambda a: a[np.lexsort(np.round(a[:, :4], 1).T[::-1])]  # noqa: E731
        np.testing.assert_allclose(key(g)[:, :5], key(w)[:, :5], atol=2e-3)


def test_task_driven_cropping_reads_the_lite_backbone(lite, tmp_path):
    from models.features import FeatureExtractor

    path = save_checkpoint(tmp_path / "lite.pt", lite, lite.config, extra={"input_format": "rgb"})
    frame = np.full((240, 320, 3), 226, np.uint8)
    frame[60:180, 80:240] = (200, 150, 90)
    for runtime in ("torch", "onnx"):
        extractor = FeatureExtractor.load(path, layer="stem", long_side=192, runtime=runtime)
        f = extractor(frame)
        assert f.shape == (16, 144 // 2, 192 // 2)
        energy = np.abs(f).mean(0)
        inside, outside = energy[25:60, 45:75].mean(), energy[:10, :].mean()
        assert abs(inside - outside) > 0.05  # the bag stands out from the belt
