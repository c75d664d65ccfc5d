"""The label-aware head (LAcls, LAreg): identity at start, the channel weights by hand, assigned labels,
the loss's bins, export with the pseudo-label pass in the graph, checkpoints and a training run."""

import argparse
import json

import numpy as np
import pytest
import torch

from models.checkpoint import export_metadata, load_detector, save_checkpoint
from models.decode import DetectorWithDecode, decode_boxes_xywh
from models.detector import DetectorConfig, build_detector
from models.export import export_onnx
from models.label_aware import LabelAwareHead
from models.metadata import DetectorInfo
from models.runtime import weights_info, weights_metadata
from models.runtime.onnx import OnnxDetector
from tests.models.conftest import ANCHORS, CLASS_NAMES
from training.loss import DetectionLoss, box_sigmoids
from training.trainer import TrainConfig, _init_model

SIZE = 128


def _detector(label_aware: str, *, gamma: float = 0.7, seed: int = 0):
    torch.manual_seed(seed)
    model = build_detector(size="nano", num_classes=len(CLASS_NAMES), anchors=ANCHORS, class_names=CLASS_NAMES,
                           img_size=SIZE, label_aware=label_aware)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    if label_aware != "none":
        model.head.gamma.data.fill_(gamma)  # at init LA is the identity, which would prove little below
    return model.eval()


@pytest.mark.parametrize("mode", ["cls", "reg"])
def test_a_fresh_label_aware_head_is_the_plain_head(mode):
    plain, la = _detector("none"), _detector(mode, gamma=0.0, seed=1)
    missing, unexpected = la.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith(("head.gamma", "head.dist.")) for k in missing)
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        for a, b in zip(plain(x), la(x), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
        la.head.gamma.fill_(0.7)  # once it has learned, it changes the prediction
        changed = [(a - b).abs().max().item() for a, b in zip(plain(x), la(x), strict=True)]
    assert min(changed) > 1e-3
    # LAcls re-predicts objectness and class, LAreg the box; the other columns stay the first prediction's
    with torch.no_grad():
        for a, b in zip(plain(x), la(x), strict=True):
            same = slice(0, 4) if mode == "cls" else slice(4, None)
            torch.testing.assert_close(a[..., same], b[..., same], rtol=0, atol=1e-5)


def test_lacls_weights_the_channels_by_the_label_rows_minus_the_strongest_wrong_one():
    torch.manual_seed(3)
    head = LabelAwareHead([8], num_classes=4, strides=[8], prior_image_size=64, mode="cls").eval()
    head.gamma.data.fill_(0.5)
    x = torch.randn(1, 8, 2, 3)
    with torch.no_grad():
        refined, first, dists = head.forward_train([x])
    assert dists is None and refined[0].shape == first[0].shape == (1, 3, 2, 3, 9)
    w, b = head.convs[0].weight.view(3, 9, 8), head.convs[0].bias.view(3, 9)
    for a, gy, gx in [(0, 0, 0), (2, 1, 2), (1, 1, 0)]:
        f = x[0, :, gy, gx]
        z = w[a] @ f + b[a]
        torch.testing.assert_close(first[0][0, a, gy, gx], z)
        order = z[5:].argsort(descending=True)
        g = w[a, 5 + order[0]] - w[a, 5 + order[1]]  # d z_k / dF - d z_j / dF for a 1x1 convolution
        g = g / (g.pow(2).mean().sqrt() + 1e-6)
        again = w[a] @ (f * (1 + 0.5 * g)) + b[a]
        torch.testing.assert_close(refined[0][0, a, gy, gx], torch.cat((z[:4], again[4:])))
    # an assigned label replaces the pseudo-label at its cell only
    labels = torch.full((1, 3, 2, 3), -1)
    z = first[0][0, 1, 0, 1, 5:]
    labels[0, 1, 0, 1] = int(z.argmin())
    with torch.no_grad():
        given, _, _ = head.forward_train([x], [(labels, None)])
    differs = (given[0] - refined[0]).abs().amax(-1)[0]  # (A, H, W)
    assert differs[1, 0, 1] > 1e-4 and (differs.flatten() > 0).sum() == 1


def test_the_loss_assigns_class_labels_and_box_bins_that_decode_back():
    anchors = torch.tensor(ANCHORS, dtype=torch.float32) * SIZE / 416
    loss = DetectionLoss(anchors=anchors, strides=(8, 16, 32), num_classes=5, img_size=SIZE)
    maps = [torch.zeros(2, 3, SIZE // s, SIZE // s, 10) for s in (8, 16, 32)]
    targets = torch.tensor([[0, 3, 40.0, 50.0, 20.0, 30.0], [1, 1, 100.0, 60.0, 60.0, 40.0]])
    labels = loss.assigned(maps, targets, bins=8)
    assert len(labels) == 3
    for level, (cls_map, bin_map) in enumerate(labels):
        assert cls_map.shape == (2, 3, SIZE // loss.strides[level], SIZE // loss.strides[level])
        assert bin_map.shape == (*cls_map.shape, 4)
        assert set(cls_map.unique().tolist()) <= {-1, 1, 3}
        assert ((cls_map >= 0) == (bin_map >= 0).all(-1)).all() and bin_map.max() < 8
    assert any((cls_map[0] == 3).any() for cls_map, _ in labels) and any((cls_map[1] == 1).any() for cls_map, _ in labels)
    # the bins are those of the sigmoids that decode to the target box
    checked = 0
    for level, (b, a, gj, gi, tbox, _) in enumerate(loss.build_targets(maps, targets)):
        s = box_sigmoids(tbox, loss.anchors[level][a])
        raw = torch.logit(s.clamp(1e-6, 1 - 1e-6))
        decoded = decode_boxes_xywh(raw, loss.anchors[level][a], 1.0, torch.zeros(2))
        torch.testing.assert_close(decoded, tbox, atol=1e-3, rtol=0)
        torch.testing.assert_close(labels[level][1][b, a, gj, gi], (s * 8).long().clamp(0, 7))
        checked += len(b)
    assert checked >= 6  # each target at three cells at least


@pytest.mark.parametrize("mode", ["cls", "reg"])
def test_label_aware_detector_exports_with_the_pseudo_label_pass_and_matches_pytorch(mode, tmp_path):
    model = _detector(mode)
    meta = export_metadata(model.config, {"input_format": "rgb"})
    path = export_onnx(model, tmp_path / f"la_{mode}.onnx", img_size=SIZE, metadata=meta)
    runtime = OnnxDetector(path, threads=1)
    assert runtime.metadata["label_aware"] == mode and DetectorInfo.from_metadata(runtime.metadata).label_aware == mode
    for shape in [(2, 3, SIZE, SIZE), (1, 3, 64, SIZE)]:
        x = np.random.default_rng(shape[0]).random(shape, dtype=np.float32)
        with torch.no_grad():
            expected = DetectorWithDecode(model).eval()(torch.from_numpy(x)).numpy()
        got = runtime(x)
        assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-3
    import onnx

    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"ArgMax", "Gather"} <= ops  # the pseudo-labels and the weight rows they pick


def test_checkpoints_keep_the_option_and_init_adds_it(tmp_path):
    model = _detector("reg")
    path = save_checkpoint(tmp_path / "la.pt", model, model.config, extra={"input_format": "rgb"})
    loaded, config, _ = load_detector(path)
    assert config.label_aware == "reg" and isinstance(loaded.head, LabelAwareHead) and loaded.head.dist is not None
    x = torch.rand(1, 3, SIZE, SIZE)
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x), strict=True):
            assert torch.equal(a, b)
    assert weights_metadata(path)["label_aware"] == "reg" and weights_info(path).label_aware == "reg"
    # a checkpoint from before the option existed loads as the plain head
    plain = _detector("none")
    old = save_checkpoint(tmp_path / "old.pt", plain, plain.config, extra={})
    ckpt = torch.load(old, weights_only=True)
    del ckpt["config"]["label_aware"]
    torch.save(ckpt, old)
    assert load_detector(old)[1].label_aware == "none"
    # --init with --label-aware starts from the plain detector's predictions
    tuned = _init_model(TrainConfig(data=".", out=".", init=old, label_aware="cls", img_size=SIZE, classes=CLASS_NAMES))
    assert tuned.config.label_aware == "cls"
    with torch.no_grad():
        for a, b in zip(plain(x), tuned.eval()(x), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="label-aware 'reg'"):
        _init_model(TrainConfig(data=".", out=".", init=path, label_aware="cls", img_size=SIZE, classes=CLASS_NAMES))
    with pytest.raises(ValueError, match="label_aware"):
        DetectorConfig.from_dict({**config.to_dict(), "label_aware": "both"})


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    from training.synth.dataset import SynthJob, synthesize
    from training.synth.scene import SceneConfig

    out = tmp_path_factory.mktemp("sim") / "data"
    synthesize(SynthJob(out=out, count=4, seed=1, scene=SceneConfig(width=320, height=240)))
    return out


@pytest.mark.parametrize("mode", ["cls", "reg"])
def test_train_label_aware_learns_gamma_and_writes_weights_that_say_so(mode, frames, tmp_path):
    from services.commands import train

    parser = argparse.ArgumentParser(prog="lanewatch")
    train.register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "run"
    args = parser.parse_args([
        "train", "--data", str(frames), "--size", "nano", "--epochs", "1", "--img-size", "64", "--batch", "2",
        "--max-batches", "2", "--quiet", "--threads", "1", "--out", str(out), "--label-aware", mode,
        "--anchors", "4,4 5,10 10,5 8,8 10,15 15,10 16,16 20,30 30,20", "--warmup-epochs", "0",
    ])
    assert args.func(args) == 0
    assert weights_metadata(out / "last.pt")["label_aware"] == mode
    assert json.loads((out / "config.json").read_text())["label_aware"] == mode
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["la"] > 0  # the first prediction (and LAreg's bins) are trained
    model, config, extra = load_detector(out / "last.pt")
    assert config.label_aware == mode and extra["train_config"]["label_aware"] == mode
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["extra"]["model"]["head.gamma"].abs().sum() > 0  # the raw weights took steps on gamma
