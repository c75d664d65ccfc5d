"""CHR classifier: shapes, reversed connections, the class-balanced loss, ONNX parity, and loaders that refuse each
other's files."""

import math

import numpy as np
import pytest
import torch

from models.checkpoint import load_detector, save_checkpoint
from models.chr import (
    ClassifierConfig,
    ClassifierWeightsError,
    ScoresOnly,
    build_classifier,
    checkpoint_task,
    chr_loss,
    export_metadata,
    load_classifier,
    loss_weights,
    save_classifier,
)
from models.export import export_classifier_onnx
from models.runtime.classifier import ScanClassifier
from models.runtime.onnx import OnnxDetector
from models.shipped import WeightsError
from tests.models.conftest import CLASS_NAMES, make_detector

SIZE = 64


def _classifier(*, chr: bool = True, seed: int = 0):
    """A Lite0 classifier at 64 px (no ImageNet weights) with random BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = build_classifier(ClassifierConfig(class_names=CLASS_NAMES, img_size=SIZE, chr=chr))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_shapes_of_levels_maps_and_scores():
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        for chr, levels in ((True, 3), (False, 1)):
            model = _classifier(chr=chr)
            maps = model.class_maps(x)
            assert [tuple(m.shape) for m in maps] == [(2, 5, SIZE // s, SIZE // s) for s in (8, 16, 32)[3 - levels:]]
            out = model(x)
            assert out.shape == (2, levels, 5)
            # the logits are the maps' global maxima
            torch.testing.assert_close(out[:, 0], maps[0].amax(dim=(2, 3)))
            scores = ScoresOnly(model)(x)
            assert scores.shape == (2, 5) and 0 < scores.min() and scores.max() < 1
            torch.testing.assert_close(scores, torch.sigmoid(out.mean(1)))
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.rand(1, 3, 48, 64))


def test_reversed_connections_carry_higher_levels_down():
    model = _classifier()
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        before = model(x)
        # cut the connection from level 2 (stride 32) to level 1: level 2 is as it was, both lower ones change
        model.reverse[1] = _Zero()
        cut = model(x)
    assert torch.equal(before[:, 2], cut[:, 2])
    assert (before[:, 1] - cut[:, 1]).abs().max() > 1e-3
    assert (before[:, 0] - cut[:, 0]).abs().max() > 1e-3


class _Zero(torch.nn.Module):
    def forward(self, x):
        return torch.zeros_like(x)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_balanced_loss_leaves_out_the_negatives_the_level_above_rejects():
    # 4 frames, 3 levels (finest first), 2 classes; frame 0 holds class 0, nothing else is present
    targets = torch.tensor([[1, 0], [0, 0], [0, 0], [0, 0]])
    p = torch.full((4, 3, 2), 0.5)
    p[1:, 2, 0] = torch.tensor([0.05, 0.05, 0.5])  # top level: two easy negatives of class 0 -> level 1 skips them
    p[:, 2, 1] = torch.tensor([0.01, 0.02, 0.03, 0.04])  # top: every class-1 negative easy -> level 1 skips all four
    p[1:, 1, 0] = torch.tensor([0.01, 0.5, 0.5])  # level 1: one easy negative of class 0 -> level 0 skips it
    levels = torch.logit(p)
    w = loss_weights(levels, targets)
    counted = (w > 0) & (targets == 0).unsqueeze(1)
    # negatives counted per (level, class): level 0 skips 1 of 3 (class 0) and 0 of 4 (class 1, level 1 at 0.5)
    assert counted.sum(0).tolist() == [[2, 4], [1, 0], [3, 4]]
    # class 0 at level 1: the positive weighs 1/2, the one counted negative 1/2; class 1 there counts nothing
    assert w[0, 1, 0].item() == 0.5 and w[3, 1, 0].item() == 0.5 and w[:, 1, 1].sum().item() == 0
    # level 2 (top) filters nothing: 1 positive (1/2) and 3 negatives (1/6 each); class 1 only negatives (1/4)
    assert w[:, 2, 0].tolist() == pytest.approx([0.5, 1 / 6, 1 / 6, 1 / 6])
    assert w[:, 2, 1].tolist() == pytest.approx([0.25] * 4)
    loss, parts = chr_loss(levels, targets)
    assert parts["counted_negatives"] == pytest.approx(14 / 21)  # 2 + 4 + 1 + 0 + 3 + 4 of 7 negatives x 3 levels
    # level 1 by hand: class 0 = (BCE(0.5, 1) + BCE(0.5, 0)) / 2 = ln 2; class 1 no terms
    assert parts["level1"] == pytest.approx(math.log(2) / 2, rel=1e-5)
    fused = torch.sigmoid(levels.mean(1))
    bce = torch.nn.functional.binary_cross_entropy(fused, targets.float(), reduction="none")
    fused_by_hand = ((bce[0, 0] / 2 + bce[1:, 0].mean() / 2) + bce[:, 1].mean()) / 2
    assert parts["fused"] == pytest.approx(fused_by_hand.item(), rel=1e-5)
    assert loss.item() == pytest.approx((parts["level0"] + parts["level1"] + parts["level2"] + parts["fused"]) / 4,
                                        rel=1e-5)
    # plain BCE: every term counts, equally: each level's loss is its mean BCE
    plain, parts = chr_loss(levels, targets, balanced=False)
    assert parts["counted_negatives"] == 1.0
    for k in range(3):
        mean_bce = torch.nn.functional.binary_cross_entropy(p[:, k], targets.float()).item()
        assert parts[f"level{k}"] == pytest.approx(mean_bce, rel=1e-5)


def test_onnx_matches_pytorch_and_the_runtime_letterboxes(tmp_path):
    model = _classifier()
    onnx_path = export_classifier_onnx(model, tmp_path / "c.onnx", img_size=SIZE, metadata=export_metadata(model.config))
    pt_path = save_classifier(tmp_path / "c.pt", model, model.config, extra={})
    onnx_runtime, torch_runtime = ScanClassifier(onnx_path, threads=1), ScanClassifier(pt_path, threads=1, batch=2)
    meta = onnx_runtime.metadata
    assert meta["task"] == "classify" and meta["class_names"] == list(CLASS_NAMES) and meta["img_size"] == SIZE
    assert meta["input_format"] == "rgb" and meta["chr"] is True and "lanewatch_version" in meta
    assert onnx_runtime.class_names == CLASS_NAMES
    x = torch.rand(3, 3, SIZE, SIZE)  # a batch of 3: the exported batch axis is dynamic
    import onnxruntime as ort

    (got,) = ort.InferenceSession(str(onnx_path)).run(["scores"], {"images": x.numpy()})
    with torch.no_grad():
        want = ScoresOnly(model)(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((120, 200), (64, 64), (300, 90))]
    a, b = onnx_runtime.scores(frames), torch_runtime.scores(frames)
    assert a.shape == (3, 5) and a.dtype == np.float32 and ((0 <= a) & (a <= 1)).all()
    np.testing.assert_allclose(a, b, atol=1e-5)
    # the runtime's letterbox is the pipeline's: the first frame's canvas through the network directly
    canvas = onnx_runtime.canvases(frames[:1])
    assert canvas.shape == (1, SIZE, SIZE, 3) and (canvas[0, :12] == 255).all()  # 200x120 -> 64x38, white bands
    with torch.no_grad():
        direct = ScoresOnly(model)(torch.from_numpy(canvas).permute(0, 3, 1, 2).float() / 255).numpy()
    np.testing.assert_allclose(a[:1], direct, atol=1e-5)
    assert onnx_runtime.scores([]).shape == (0, 5)


def test_detector_and_classifier_loaders_refuse_each_others_files(tmp_path):
    model = _classifier(chr=False)
    classifier_pt = save_classifier(tmp_path / "classifier.pt", model, model.config, extra={})
    detector = make_detector(img_size=SIZE)
    detector_pt = save_checkpoint(tmp_path / "detector.pt", detector, detector.config, extra={})
    assert checkpoint_task(classifier_pt) == "classify" and checkpoint_task(detector_pt) == "detect"
    assert torch.load(classifier_pt, weights_only=True)["task"] == "classify"
    with pytest.raises(WeightsError, match="not a lanewatch detector checkpoint"):
        load_detector(classifier_pt)
    with pytest.raises(ClassifierWeightsError, match="a detector checkpoint .task detect."):
        load_classifier(detector_pt)
    loaded, config, _ = load_classifier(classifier_pt)
    assert config == model.config and not config.chr and loaded.levels == 1
    # exported files: the detector runtime wants a detector's metadata, the classifier runtime a classifier's
    classifier_onnx = export_classifier_onnx(model, tmp_path / "c.onnx", img_size=SIZE,
                                             metadata=export_metadata(model.config))
    with pytest.raises(WeightsError, match="detector metadata"):
        OnnxDetector(classifier_onnx, threads=1)
    from models.checkpoint import export_metadata as detector_export_metadata
    from models.export import export_onnx

    detector_onnx = export_onnx(detector, tmp_path / "d.onnx", img_size=SIZE,
                                metadata=detector_export_metadata(detector.config, {}))
    with pytest.raises(ValueError, match="without a classifier's metadata"):
        ScanClassifier(detector_onnx)
    with pytest.raises(ClassifierWeightsError, match="detector checkpoint"):
        ScanClassifier(detector_pt)
