"""Ctrl-C in `lanewatch train`: exit 130, no traceback, the last finished epoch kept and the command that resumes it."""

import argparse
import json
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.checkpoint import load_detector
from services.cli import main
from services.commands.train import interrupted_message
from training.synth.dataset import SynthJob, synthesize
from training.synth.scene import SceneConfig
from training.trainer import TrainingInterrupted

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("frames") / "data"
    synthesize(SynthJob(out=out, count=8, seed=3, scene=SceneConfig(width=320, height=240)))
    return out


def test_ctrl_c_keeps_the_last_epoch_and_prints_the_command_that_resumes_it(data, tmp_path):
    out = tmp_path / "run"
    # one batch of 64 px images per epoch: epochs end about every second, far more are asked for than run
    argv = ["train", "--data", str(data), "--size", "nano", "--img-size", "64", "--epochs", "1000", "--batch", "2",
            "--max-batches", "1", "--threads", "1", "--out", str(out), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    log, deadline = out / "train_log.jsonl", time.monotonic() + 90
    while not (log.exists() and log.read_text()):  # the log line comes after last.pt is complete
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 130
    assert "Traceback" not in stderr and stdout == ""
    said, command = stderr.strip().splitlines()
    epoch = int(re.match(r"lanewatch train: interrupted after epoch (\d+) of 1000;", said).group(1))
    assert said == (f"lanewatch train: interrupted after epoch {epoch} of 1000; {out / 'last.pt'} holds the last "
                    "finished epoch (the one in progress is lost). Resume with:")
    assert shlex.split(command) == ["lanewatch", *argv, "--resume", str(out / "last.pt")]
    assert load_detector(out / "last.pt")[2]["epoch"] == epoch
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "last.pt", "train_log.jsonl"]  # nothing half-written

    # the printed command resumes: one epoch more than were done, and it starts from the checkpoint's
    resumed = shlex.split(command)[1:]
    resumed[resumed.index("--epochs") + 1] = str(epoch + 1)
    assert main(resumed) == 0
    assert json.loads(log.read_text().splitlines()[-1])["epoch"] == epoch + 1
    assert load_detector(out / "last.pt")[2]["epoch"] == epoch + 1


def test_the_resume_command_replaces_the_resume_it_was_given():
    args = argparse.Namespace(epochs=30, argv=["train", "--data", "d", "--resume", "old/last.pt", "--out", "runs/x"])
    assert interrupted_message(TrainingInterrupted(Path("runs/x/last.pt"), 12), args).splitlines() == [
        "lanewatch train: interrupted after epoch 12 of 30; runs/x/last.pt holds the last finished epoch "
        "(the one in progress is lost). Resume with:",
        "  lanewatch train --data d --out runs/x --resume runs/x/last.pt",
    ]
    args.argv = ["train", "--data", "my data", "--resume=old.pt", "--out", "runs/x"]
    assert interrupted_message(TrainingInterrupted(Path("old.pt"), None), args).splitlines()[1] == (
        "  lanewatch train --data 'my data' --out runs/x --resume old.pt")
    assert interrupted_message(TrainingInterrupted(None, None), args) == (
        "lanewatch train: interrupted before the first epoch finished: nothing saved; run the same command to start again")
