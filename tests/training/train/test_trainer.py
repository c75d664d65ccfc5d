"""A few training steps on simulated frames: the loss falls, checkpoints load, resume continues."""

import json

import numpy as np
import pytest
import torch

from models.checkpoint import load_detector
from training.data import DetectionDataset, box_sizes, collate, load_samples
from training.loss import DetectionLoss
from training.trainer import ModelEMA, TrainConfig, _build_model, make_optimizer, train


def test_loss_falls_on_a_repeated_batch(frames, tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(data=frames, out=tmp_path, img_size=128, batch=8, lr=0.03)
    samples = load_samples(frames)
    model = _build_model(cfg, samples)
    wh = box_sizes(samples, cfg.classes, 128)
    assert len(wh) >= 9 and wh.max() <= 128
    # k-means anchors on the letterboxed boxes, smallest (stride 8) first
    areas = model.anchors.prod(-1).flatten()
    assert (areas.diff() >= 0).all()
    assert wh.prod(1).min() <= areas[0] + 1e-3 and areas[-1] <= wh.prod(1).max() + 1e-3  # float32 anchors
    images, targets = collate([DetectionDataset(samples, img_size=128)[i] for i in range(8)])
    loss_fn = DetectionLoss(anchors=model.anchors, strides=model.strides, num_classes=5, img_size=128)
    opt = make_optimizer(model, cfg)
    model.train()
    losses = []
    for _ in range(20):
        loss, _ = loss_fn(model(images), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.85 * np.mean(losses[:3])


def test_optimizer_groups_and_ema():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    opt = make_optimizer(model, TrainConfig(data=".", out=".", batch=16))
    no_decay, decay = opt.param_groups
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0  # conv bias, BN weight and bias
    assert len(decay["params"]) == 1 and decay["weight_decay"] == pytest.approx(5e-4 * 16 / 64)
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.937
    ema = ModelEMA(model, tau=1.0)
    before = ema.ema[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update(model)
    d = 0.9999 * (1 - np.exp(-1.0))
    torch.testing.assert_close(ema.ema[0].weight, d * before + (1 - d) * model[0].weight)


def test_train_writes_checkpoints_log_and_resumes(frames, tmp_path):
    base = dict(data=frames, val=frames, out=tmp_path / "run", img_size=128, batch=6, warmup_epochs=0.5, progress=False, threads=1)
    weights = train(TrainConfig(**base, epochs=2))
    assert weights == tmp_path / "run" / "best.pt"
    model, config, extra = load_detector(tmp_path / "run" / "last.pt")
    assert config.size == "nano" and config.img_size == 128 and config.class_names[0] == "gun"
    assert extra["epoch"] == 2 and extra["schedule"]["last_step"] == 4 and extra["input_format"] == "rgb"
    outputs = model(torch.zeros(1, 3, 128, 128))
    assert [tuple(o.shape) for o in outputs] == [(1, 3, 16, 16, 10), (1, 3, 8, 8, 10), (1, 3, 4, 4, 10)]
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and all(0 <= r["map50"] <= 1 and r["loss"] > 0 for r in log)

    train(TrainConfig(**base, epochs=3, resume=tmp_path / "run" / "last.pt"))
    resumed, _, extra3 = load_detector(tmp_path / "run" / "last.pt")
    assert extra3["epoch"] == 3 and extra3["schedule"]["last_step"] == 6 and extra3["ema_updates"] == 6
    assert not torch.equal(resumed.head.convs[0].weight, model.head.convs[0].weight)
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]
    with pytest.raises(ValueError, match="img_size"):
        train(TrainConfig(**base | {"img_size": 160}, epochs=4, resume=tmp_path / "run" / "last.pt"))


def _sample(i: int, boxes: list[tuple[str, str]]):
    from training.datasets.records import Box, Sample

    return Sample(image_id=f"f{i}", width=100, height=100, image=f"f{i}.png",
                  boxes=[Box(x1=10, y1=10, x2=40, y2=40, label=label, occlusion=level) for label, level in boxes])


def test_hard_samples_are_over_sampled_as_doam_o_does():
    from training.trainer import epoch_order, hard_frames

    # frames 0-19 easy (OL1 guns, or empty), 20-24 hard: an OL3 threat, or a knife when knives count as hard
    samples = [_sample(i, [("gun", "OL1")] if i % 2 else []) for i in range(20)]
    samples += [_sample(20 + i, [("gun", "OL3")]) for i in range(3)] + [_sample(23 + i, [("knife", "OL2")]) for i in range(2)]
    assert hard_frames(samples).tolist() == [False] * 20 + [True] * 3 + [False] * 2
    assert hard_frames(samples, ("knife",)).tolist() == [False] * 20 + [True] * 5

    class _DS:  # epoch_order reads only the frames
        def __init__(self, s):
            self.samples = s

        def __len__(self):
            return len(self.samples)

    ds = _DS(samples)
    plain = TrainConfig(data=".", out=".", seed=3)
    order = epoch_order(ds, plain, 0)
    assert sorted(order) == list(range(25))  # factor 1: every frame once
    assert order == epoch_order(ds, plain, 0) and order != epoch_order(ds, plain, 1)
    hard = TrainConfig(data=".", out=".", seed=3, oversample_hard=4.0, hard_classes=("knife",))
    draws = np.concatenate([epoch_order(ds, hard, e) for e in range(400)])
    assert len(draws) == 400 * 25
    share = np.isin(draws, range(20, 25)).mean()
    assert share == pytest.approx(5 * 4 / (20 + 5 * 4), abs=0.02)  # weight 4 each against 1: half of the draws
    assert epoch_order(ds, hard, 7) == epoch_order(ds, hard, 7)
    with pytest.raises(ValueError):
        TrainConfig(data=".", out=".", oversample_hard=0.5)


def test_over_sampling_needs_hard_frames(frames, tmp_path):
    import re
    import shutil

    base = dict(out=tmp_path / "run", img_size=128, batch=6, epochs=1, progress=False, threads=1, max_batches=1)
    with pytest.raises(ValueError, match="not among the trained classes"):
        train(TrainConfig(**base, data=frames, oversample_hard=2.0, hard_classes=("axe",)))
    assert any(b.occlusion == "OL3" for s in load_samples(frames) for b in s.boxes)
    train(TrainConfig(**base, data=frames, oversample_hard=2.0))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["oversample_hard"] == 2.0
    # the same frames labelled without occlusion levels (as real datasets are): nothing is hard
    plain = tmp_path / "plain"
    shutil.copytree(frames, plain)
    (plain / "annotations.json").unlink()
    for xml in (plain / "annotations").glob("*.xml"):
        xml.write_text(re.sub(r"\s*<occlusion>OL\d</occlusion>", "", xml.read_text()))
    with pytest.raises(ValueError, match="nothing to over-sample"):
        train(TrainConfig(**base, data=plain, oversample_hard=2.0))
    train(TrainConfig(**base, data=plain, oversample_hard=2.0, hard_classes=("knife", "scissors")))
