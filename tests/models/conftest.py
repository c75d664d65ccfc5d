"""Small detectors and exported files shared by the models tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.detector import ASPPYOLO, build_detector
from models.export import export_onnx

# YOLOv3's COCO anchors at 416: plausible sizes, 3 per scale, small first.
ANCHORS = (
    ((10, 13), (16, 30), (33, 23)),
    ((30, 61), (62, 45), (59, 119)),
    ((116, 90), (156, 198), (373, 326)),
)
CLASS_NAMES = ("gun", "knife", "wrench", "pliers", "scissors")
# Small enough that export and inference stay quick on a shared 2-core machine.
IMG_SIZE = 256


def make_detector(size: str = "nano", *, seed: int = 0, img_size: int = IMG_SIZE) -> ASPPYOLO:
    """A detector with random weights and random BatchNorm statistics, in eval mode.

    Random statistics make eval-mode BatchNorm do real work, so a runtime that
    folds or drops it wrongly shows in the outputs.
    """
    torch.manual_seed(seed)
    model = build_detector(size=size, num_classes=len(CLASS_NAMES), anchors=ANCHORS, class_names=CLASS_NAMES,
                           img_size=img_size)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run these tiny models on one thread: on a shared 2-core machine, a second
    OpenMP thread that has to wait for a busy core makes a 10 ms forward take seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def nano() -> ASPPYOLO:
    return make_detector("nano")


@pytest.fixture(scope="session")
def nano_onnx(nano: ASPPYOLO, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "nano.onnx"
    return export_onnx(
        nano, path, img_size=IMG_SIZE, metadata={"class_names": list(CLASS_NAMES), "input_format": "dual"}
    )
