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
