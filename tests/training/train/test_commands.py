"""`lanewatch train` and `lanewatch anchors`: help, JSON output, argument errors."""

import argparse
import json

import pytest

from models.checkpoint import load_detector
from services.commands import anchors, train


def _main(argv):
    p = argparse.ArgumentParser(prog="lanewatch")
    sub = p.add_subparsers(dest="command", required=True)
    train.register(sub)
    anchors.register(sub)
    args = p.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize("cmd", ["train", "anchors"])
def test_help_teaches(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        _main([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and "--img-size" in out


def test_anchors_prints_nine_anchors_and_their_fit(frames, capsys):
    assert _main(["anchors", "--data", str(frames), "--img-size", "128"]) == 0
    result = json.loads(capsys.readouterr().out)
    areas = [w * h for w, h in result["anchors"]]
    assert len(areas) == 9 and areas == sorted(areas)
    assert 0.5 < result["mean_best_iou"] <= 1 and result["recall_4x"] == 1.0
    assert train.parse_anchors(result["arg"]) == tuple((round(w, 1), round(h, 1)) for w, h in result["anchors"])


def test_train_command_writes_weights_and_summary(frames, tmp_path, capsys):
    argv = ["train", "--data", str(frames), "--size", "nano", "--epochs", "1", "--img-size", "128", "--out",
            str(tmp_path / "run"), "--batch", "4", "--max-batches", "1", "--quiet", "--anchors", "8,8 10,20 20,10 16,16 20,30 30,20 32,32 40,60 60,40",
            "--restarts", "1", "--mode", "dual", "--threads", "1"]
    assert _main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epoch"] == 1 and summary["weights"].endswith("last.pt") and "map50" not in summary
    model, config, extra = load_detector(summary["weights"])
    assert config.anchors[2][2] == (60.0, 40.0) and extra["input_format"] == "dual"


@pytest.mark.parametrize("args,needle", [
    (["--anchors", "1,2 3,4"], "9 positive"),
    (["--classes", "gun,gun"], "distinct"),
    (["--epochs", "0"], "positive"),
])
def test_bad_arguments_are_explained(args, needle, capsys):
    base = {"--data": "d", "--size": "nano", "--epochs": "1", "--img-size": "128", "--out": "o"}
    base.update(dict(zip(args[::2], args[1::2])))
    with pytest.raises(SystemExit) as e:
        _main(["train", *[x for kv in base.items() for x in kv]])
    assert e.value.code == 2 and needle in capsys.readouterr().err


def test_pretrained_backbone_frozen_stages_and_fine_tuning(frames, tmp_path):
    import torch

    from models.efficientnet_lite import weights_path

    common = ["--data", str(frames), "--size", "nano", "--epochs", "1", "--batch", "4", "--max-batches", "2", "--quiet",
              "--threads", "1", "--optimizer", "adamw"]
    anchors = ["--anchors", "8,8 10,20 20,10 16,16 20,30 30,20 32,32 40,60 60,40"]
    lite_dir = tmp_path / "lite"
    assert _main(["train", *common, *anchors, "--img-size", "128", "--lr", "0.01", "--out", str(lite_dir),
                  "--backbone", "efficientnet-lite0", "--freeze", "dark2"]) == 0
    lite, config, _ = load_detector(lite_dir / "last.pt")
    assert config.backbone == "efficientnet-lite0"
    imagenet = torch.load(weights_path(), map_location="cpu", weights_only=True)
    # frozen: the stem and the stride-4 blocks kept their ImageNet weights; the stages after them trained
    assert torch.equal(lite.backbone.stem[0].weight, imagenet["_conv_stem.weight"])
    assert torch.equal(lite.backbone.blocks[2].project[0].weight, imagenet["_blocks.2._project_conv.weight"])
    assert not torch.equal(lite.backbone.blocks[3].project[0].weight, imagenet["_blocks.3._project_conv.weight"])

    # the frozen stages' BatchNorm statistics follow the training images, unless --freeze-bn fixes them too
    stats = imagenet["_blocks.2._bn2.running_mean"]
    assert not torch.allclose(lite.backbone.blocks[2].project[1].running_mean, stats, atol=1e-4)
    assert _main(["train", *common, *anchors, "--img-size", "128", "--lr", "0.01", "--out", str(tmp_path / "bn"),
                  "--backbone", "efficientnet-lite0", "--freeze", "dark2", "--freeze-bn"]) == 0
    fixed, _, _ = load_detector(tmp_path / "bn" / "last.pt")
    assert torch.allclose(fixed.backbone.blocks[2].project[1].running_mean, stats, atol=1e-6)
    assert not torch.allclose(fixed.backbone.blocks[3].project[1].running_mean,
                              imagenet["_blocks.3._bn2.running_mean"], atol=1e-4)  # trained stages still adapt
    with pytest.raises(ValueError, match="freeze"):
        _main(["train", *common, "--img-size", "128", "--out", str(tmp_path / "x"), "--freeze-bn"])

    # --init: a new run starts from those weights (a tiny lr barely moves them), architecture and anchors kept
    argv = ["train", *common, "--img-size", "160", "--lr", "1e-6", "--out", str(tmp_path / "tuned"),
            "--init", str(lite_dir / "last.pt")]
    assert _main(argv) == 0
    tuned, tuned_config, _ = load_detector(tmp_path / "tuned" / "last.pt")
    assert tuned_config.backbone == "efficientnet-lite0" and tuned_config.img_size == 160
    assert tuned_config.anchors == config.anchors
    # a fresh head would differ from the trained one by its random initialisation (~1e-1)
    assert (tuned.head.convs[0].weight - lite.head.convs[0].weight).abs().max() < 1e-3
    with pytest.raises(ValueError, match="detects"):
        _main(argv + ["--classes", "gun,knife"])
