"""Simulated frames shared by the training tests."""

import pytest
import torch

from training.synth.dataset import SynthJob, synthesize
from training.synth.scene import SceneConfig


@pytest.fixture(scope="session")
def frames(tmp_path_factory):
    """12 simulated 320x240 frames (seed 1) with VOC and COCO annotations: enough boxes for 9 anchors."""
    out = tmp_path_factory.mktemp("sim") / "data"
    synthesize(SynthJob(out=out, count=12, seed=1, scene=SceneConfig(width=320, height=240)))
    return out


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine two threads wait on each other when another job runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
