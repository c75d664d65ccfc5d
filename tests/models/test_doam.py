"""DOAM: identity at start, gradients, edge response, and a DOAM detector through export, checkpoints and training."""

import argparse
import json

import numpy as np
import onnx
import pytest
import torch

from models.checkpoint import export_metadata, load_detector, save_checkpoint
from models.decode import DetectorWithDecode
from models.detector import DetectorConfig, build_detector
from models.doam import DOAM
from models.export import export_onnx
from models.features import FeatureExtractor, downscale
from models.metadata import DetectorInfo
from models.runtime import weights_info, weights_metadata
from models.runtime.onnx import OnnxDetector
from tests.models.conftest import ANCHORS, CLASS_NAMES
from training.trainer import TrainConfig, _check_resumable, _init_model

SIZE = 128


def _detector(*, doam: bool, seed: int = 0):
    """A nano detector at 128 px with random BatchNorm statistics; its DOAM (if any) switched on (gamma 0.6)."""
    torch.manual_seed(seed)
    model = build_detector(size="nano", num_classes=len(CLASS_NAMES), anchors=ANCHORS, class_names=CLASS_NAMES,
                           img_size=SIZE, doam=doam)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    if doam:
        model.doam.gamma.data.fill_(0.6)  # at init DOAM is the identity, which would prove little below
    return model.eval()


def test_shape_dtype_and_identity_at_init():
    torch.manual_seed(0)
    doam = DOAM().eval()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        y = doam(x)
        assert y.shape == x.shape and y.dtype == x.dtype
        assert (y - x).abs().max().item() == 0.0  # gamma starts at 0: exactly the identity
        a = doam.attention(x)
        assert a.shape == (2, 1, 64, 96) and 0 < a.min() and a.max() < 1
        # any size, not only multiples of the regions (task-driven cropping reads at multiples of 2)
        assert doam(torch.rand(1, 3, 38, 50)).shape == (1, 3, 38, 50)
        doam.gamma.fill_(1.0)
        torch.testing.assert_close(doam(x), x * a)  # gamma 1: the image times the attention map
    # in a detector: a fresh DOAM leaves a trained detector's outputs as they were
    plain, with_doam = _detector(doam=False), _detector(doam=True)
    with_doam.doam.gamma.data.zero_()
    missing, unexpected = with_doam.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("doam.") for k in missing)
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        for a, b in zip(plain(x), with_doam(x), strict=True):
            assert torch.equal(a, b)
        assert torch.equal(plain.features(x, "stem"), with_doam.features(x, "stem"))
        with_doam.doam.gamma.fill_(0.6)  # and once it has learned, it changes what the backbone sees
        assert (plain.features(x, "stem") - with_doam.features(x, "stem")).abs().max() > 1e-2


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    doam = DOAM().train()
    x, target = torch.rand(4, 3, 48, 48), torch.rand(4, 3, 48, 48)
    params = dict(doam.named_parameters())

    def step() -> dict[str, float]:
        doam.zero_grad()
        ((doam(x) - target) ** 2).mean().backward()
        return {name: p.grad.abs().sum().item() for name, p in params.items()}

    grads = step()
    # gamma = 0 at start: it gets the gradient, and what it multiplies gets none yet
    assert grads["gamma"] > 0 and all(g == 0 for name, g in grads.items() if name != "gamma")
    torch.optim.SGD(doam.parameters(), lr=0.1).step()
    assert doam.gamma.item() != 0
    grads = step()
    assert all(g > 0 for g in grads.values()), [name for name, g in grads.items() if g == 0]
    assert len(grads) == 35  # 16 convolutions' weights and biases, the gated conv's BatchNorm, gamma
    assert sum(p.numel() for p in params.values()) < 30_000


def test_edges_respond_at_a_step_and_not_in_flat_areas():
    torch.manual_seed(2)
    doam = DOAM().eval()
    x = torch.full((1, 3, 32, 64), 0.2)
    x[..., 32:] = 0.8  # a vertical step of 0.6 between columns 31 and 32
    with torch.no_grad():
        e = doam.edges(x)[0, 0]  # (32, 64)
        eg = doam.edge_guidance(doam.edges(x))[0, 0]  # the EG branch's feature map
    at_step, flat = e[:, 31:33], torch.cat((e[:, :29], e[:, 35:]), dim=1)
    assert at_step.min() > 0.55 and at_step.max() < 0.65  # 0.6: a 0 -> 1 step reads 1
    assert flat.max() < 1e-3  # the image border included: it is padded with itself, not zeros
    # the five 3x3 convolutions see 5 px: further from the step (and from the zero-padded border)
    # the branch gives its flat-area value
    inner = eg[5:-5]
    flat_value = inner[:, 12]
    near = (inner[:, 26:38] - flat_value[:, None]).abs().max()
    far = (torch.cat((inner[:, 5:24], inner[:, 40:59]), dim=1) - flat_value[:, None]).abs().max()
    assert near > 0.02 and far < 1e-6
    # a material edge (one colour channel only) is an edge too
    colour = torch.full((1, 3, 32, 64), 0.5)
    colour[:, 2, :, 32:] = 0.9
    assert doam.edges(colour)[0, 0, :, 31:33].min() > 0.35


def test_doam_detector_exports_to_onnx_and_runtime_matches_pytorch(tmp_path):
    model = _detector(doam=True)
    meta = export_metadata(model.config, {"input_format": "rgb"})
    path = export_onnx(model, tmp_path / "doam.onnx", img_size=SIZE, metadata=meta)
    runtime = OnnxDetector(path, threads=1)
    assert runtime.metadata["doam"] is True and DetectorInfo.from_metadata(runtime.metadata).doam
    for shape in [(2, 3, SIZE, SIZE), (1, 3, 64, SIZE)]:  # a full square, and a canvas cut to its bags
        x = np.random.default_rng(shape[0]).random(shape, dtype=np.float32)
        with torch.no_grad():
            expected = DetectorWithDecode(model).eval()(torch.from_numpy(x)).numpy()
        got = runtime(x)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-3
        assert np.ptp(expected[..., 4:]) > 0.1
    # DOAM is in the graph, in front of the backbone (a random detector's outputs hardly depend on its
    # input, so its numbers are checked where they show: the cropping features, in the checkpoint test)
    readers = [n for n in onnx.load(str(path)).graph.node if "images" in n.input]
    assert {n.op_type for n in readers} >= {"Pad", "Concat", "Mul"}  # edges, MA's input, the refinement
    assert all(n.name.startswith("/model/doam/") for n in readers)  # nothing else reads the raw image


def test_checkpoints_keep_doam_and_old_ones_load_without(tmp_path):
    model = _detector(doam=True)
    path = save_checkpoint(tmp_path / "doam.pt", model, model.config, extra={"input_format": "rgb"})
    loaded, config, _ = load_detector(path)
    assert config.doam and loaded.doam is not None and loaded.doam.gamma.item() == pytest.approx(0.6)
    x = torch.rand(1, 3, SIZE, SIZE)
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x), strict=True):
            assert torch.equal(a, b)
    assert weights_metadata(path)["doam"] is True and weights_info(path).doam
    # task-driven cropping reads the refined image's features too, in either runtime
    frame = np.random.default_rng(0).integers(0, 256, (96, 160, 3), np.uint8)
    fast = FeatureExtractor.load(path, layer="stem", long_side=80, runtime="onnx")
    small = downscale(frame, fast.input_size(160, 96))
    x = torch.from_numpy(small.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    with torch.no_grad():
        refined, raw = loaded.features(x, "stem")[0].numpy(), loaded.backbone.features(x, "stem")[0].numpy()
    np.testing.assert_allclose(fast(frame), refined, atol=1e-3)
    assert np.abs(refined - raw).max() > 1e-2
    # a checkpoint written before DOAM existed has no "doam" key: it loads as a detector without one
    old = _detector(doam=False)
    path = save_checkpoint(tmp_path / "old.pt", old, old.config, extra={})
    ckpt = torch.load(path, weights_only=True)
    del ckpt["config"]["doam"]
    torch.save(ckpt, path)
    loaded, config, _ = load_detector(path)
    assert not config.doam and loaded.doam is None
    assert weights_metadata(path)["doam"] is False
    with pytest.raises(ValueError, match="doam"):
        DetectorConfig.from_dict({**config.to_dict(), "doam": "yes"})


def test_init_with_doam_starts_from_the_detector_and_resume_checks_it(tmp_path):
    plain = _detector(doam=False)
    path = save_checkpoint(tmp_path / "plain.pt", plain, plain.config, extra={})
    tuned = _init_model(TrainConfig(data=".", out=".", init=path, doam=True, img_size=SIZE, classes=CLASS_NAMES))
    assert tuned.config.doam and tuned.doam is not None
    x = torch.rand(1, 3, SIZE, SIZE)
    with torch.no_grad():
        for a, b in zip(plain(x), tuned.eval()(x), strict=True):
            assert torch.equal(a, b)
    # resuming a run saved before the flag existed (no "doam" in its config) with --doam is refused
    cfg = TrainConfig(data=".", out=".", resume=path, doam=True, size="nano", img_size=416)
    old = {"size": "nano", "img_size": 416, "mode": "rgb", "classes": list(cfg.classes), "freeze": None}
    with pytest.raises(ValueError, match="doam=False"):
        _check_resumable(cfg, {"train_config": old})


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    from training.synth.dataset import SynthJob, synthesize
    from training.synth.scene import SceneConfig

    out = tmp_path_factory.mktemp("sim") / "data"
    synthesize(SynthJob(out=out, count=4, seed=1, scene=SceneConfig(width=320, height=240)))
    return out


def test_train_doam_o_writes_weights_that_say_doam(frames, tmp_path):
    from services.commands import train

    parser = argparse.ArgumentParser(prog="lanewatch")
    train.register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "run"
    args = parser.parse_args([
        "train", "--data", str(frames), "--size", "nano", "--epochs", "1", "--img-size", "64", "--batch", "2",
        "--max-batches", "2", "--quiet", "--threads", "1", "--out", str(out), "--doam",
        "--anchors", "4,4 5,10 10,5 8,8 10,15 15,10 16,16 20,30 30,20",
        "--oversample-hard", "2", "--hard-classes", ",".join(CLASS_NAMES),
    ])
    assert args.func(args) == 0
    assert weights_metadata(out / "last.pt")["doam"] is True and weights_info(out / "last.pt").doam
    saved = json.loads((out / "config.json").read_text())
    assert saved["doam"] is True and saved["oversample_hard"] == 2.0
    model, config, extra = load_detector(out / "last.pt")
    assert config.doam and model.doam is not None and extra["train_config"]["doam"] is True
