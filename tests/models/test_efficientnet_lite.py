"""EfficientNet-Lite0: the ImageNet weights really classify, land on the right modules, and export."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from models.efficientnet_lite import (
    EfficientNetLite,
    convert_state_dict,
    efficientnet_lite0,
    load_imagenet_weights,
    normalize,
    weights_path,
)

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
CUP_CLASSES = {504, 967, 968}  # coffee mug, espresso, cup
# Stride of each of Lite0's 16 blocks, written out rather than derived from the module's own table.
BLOCK_STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1)


@pytest.fixture(scope="module")
def model() -> EfficientNetLite:
    return efficientnet_lite0().eval()


@pytest.fixture(scope="module")
def checkpoint() -> dict[str, torch.Tensor]:
    return torch.load(weights_path(), map_location="cpu", weights_only=True)


def imagenet_crop(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, 224, 224) normalised: short side to 256, centre 224 crop (the usual eval)."""
    h, w = rgb.shape[:2]
    r = 256 / min(h, w)
    rgb = cv2.resize(rgb, (round(w * r), round(h * r)), interpolation=cv2.INTER_AREA)
    h, w = rgb.shape[:2]
    y, x = (h - 224) // 2, (w - 224) // 2
    return normalize(torch.from_numpy(rgb[y : y + 224, x : x + 224]).permute(2, 0, 1)[None])


def reference_logits(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Lite0 written with functional ops straight over the checkpoint's own key names: (N, 3, H, W) -> (N, 1000)."""

    def bn(y: torch.Tensor, name: str) -> torch.Tensor:
        return F.batch_norm(y, state[f"{name}.running_mean"], state[f"{name}.running_var"], state[f"{name}.weight"],
                            state[f"{name}.bias"], training=False, eps=1e-3)

    def conv(y: torch.Tensor, name: str, stride: int = 1) -> torch.Tensor:
        w = state[f"{name}.weight"]
        groups = y.shape[1] if w.shape[1] == 1 else 1
        return F.conv2d(y, w, stride=stride, padding=w.shape[-1] // 2, groups=groups)

    y = F.relu6(bn(conv(x, "_conv_stem", 2), "_bn0"))
    for i, stride in enumerate(BLOCK_STRIDES):
        p = f"_blocks.{i}."
        h = F.relu6(bn(conv(y, p + "_expand_conv"), p + "_bn0")) if p + "_expand_conv.weight" in state else y
        h = F.relu6(bn(conv(h, p + "_depthwise_conv", stride), p + "_bn1"))
        h = bn(conv(h, p + "_project_conv"), p + "_bn2")
        y = y + h if h.shape == y.shape else h
    y = F.relu6(bn(conv(y, "_conv_head"), "_bn1")).mean(dim=(2, 3))
    return F.linear(y, state["_fc.weight"], state["_fc.bias"])


@pytest.mark.parametrize(("photo", "classes"), [("chelsea", CAT_CLASSES), ("coffee", CUP_CLASSES)])
def test_sample_photos_come_out_top1_in_their_imagenet_classes(model, photo, classes):
    with torch.inference_mode():
        probs = model(imagenet_crop(getattr(data, photo)())).softmax(dim=1)[0]
    assert int(probs.argmax()) in classes
    # Measured 0.92 (cat) and 0.96 (coffee); any BN statistics on the wrong layer drops this near 0.
    assert float(probs[sorted(classes)].sum()) > 0.8


def test_mapped_weights_compute_what_the_checkpoint_keys_do(model, checkpoint):
    # Blocks of one stage have the same shapes, and swapping two of them barely moves the
    # photo predictions above; an exact comparison with the checkpoint's own names catches it.
    x = torch.randn(2, 3, 128, 96, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ours, ref = model(x), reference_logits(checkpoint, x)
    assert torch.allclose(ours, ref, atol=1e-4, rtol=0)


def test_features_are_at_strides_8_16_32(model):
    with torch.inference_mode():
        c3, c4, c5 = model.features(torch.zeros(1, 3, 256, 320))
    assert model.out_channels == (40, 112, 320)
    assert c3.shape == (1, 40, 32, 40)
    assert c4.shape == (1, 112, 16, 20)
    assert c5.shape == (1, 320, 8, 10)


def test_embed_is_the_classifier_input(model):
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        emb, logits = model.embed(x), model(x)
        from_emb = model.classifier(emb)
    assert emb.shape == (2, 1280)
    assert torch.allclose(from_emb, logits, atol=1e-5)


def test_dilations_apply_to_stride_1_blocks_at_16_and_32_only():
    dilated = efficientnet_lite0(dilations=(2, 4)).eval()
    got = {i: b.depthwise[0].dilation[0] for i, b in enumerate(dilated.blocks) if b.depthwise[0].dilation[0] != 1}
    assert got == {6: 2, 7: 2, 8: 2, 9: 2, 10: 2, 12: 4, 13: 4, 14: 4, 15: 4}
    with torch.inference_mode():
        shapes = [f.shape for f in dilated.features(torch.zeros(1, 3, 256, 320))]
    assert shapes == [(1, 40, 32, 40), (1, 112, 16, 20), (1, 320, 8, 10)]


def test_onnx_export_matches_torch(model, tmp_path):
    import onnxruntime as ort

    x = imagenet_crop(data.chelsea())
    path = tmp_path / "lite0.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, input_names=["images"],
                          output_names=["logits"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(["logits"], {"images": x.numpy()})
    with torch.inference_mode():
        torch_logits = model(x).numpy()
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-4, rtol=0)


def test_mapping_raises_on_missing_unknown_or_misshapen_keys(checkpoint):
    model = efficientnet_lite0(pretrained=False)
    missing = {k: v for k, v in checkpoint.items() if k != "_blocks.7._bn1.running_var"}
    with pytest.raises(KeyError, match=r"blocks\.7\.depthwise\.1\.running_var"):
        load_imagenet_weights(model, missing)
    extra = dict(checkpoint) | {"_blocks.16._bn1.weight": torch.zeros(3)}
    with pytest.raises(KeyError, match=r"_blocks\.16\._bn1\.weight"):
        convert_state_dict(extra, model)
    misshapen = dict(checkpoint) | {"_fc.bias": torch.zeros(10)}
    with pytest.raises(ValueError, match="_fc.bias"):
        convert_state_dict(misshapen, model)
