import pytest
import torch

from models.checkpoint import load_detector, save_checkpoint
from tests.models.conftest import CLASS_NAMES, make_detector


def test_round_trip_gives_identical_outputs(tmp_path):
    model = make_detector("nano", seed=5)
    path = save_checkpoint(tmp_path / "w" / "nano.pt", model, model.config, extra={"input_format": "dual", "epoch": 3})
    loaded, config, extra = load_detector(path)
    assert config == model.config and config.class_names == CLASS_NAMES
    assert extra == {"input_format": "dual", "epoch": 3}
    assert not loaded.training
    x = torch.rand(2, 3, 128, 160)
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x), strict=True):
            assert torch.equal(a, b)
    # Plain content: loads without unpickling arbitrary objects.
    assert torch.load(path, weights_only=True)["config"]["size"] == "nano"


def test_half_storage_halves_the_file_and_keeps_the_outputs(tmp_path):
    model = make_detector("nano", seed=5)
    full = save_checkpoint(tmp_path / "full.pt", model, model.config, extra={})
    half = save_checkpoint(tmp_path / "half.pt", model, model.config, extra={}, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    stored = torch.load(half, weights_only=True)["state_dict"]
    assert stored["anchors"].dtype == torch.float32  # anchors stay exact
    assert all(v.dtype == torch.float16 for k, v in stored.items() if v.is_floating_point() and k != "anchors")
    loaded, _, _ = load_detector(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x), strict=True):
            assert not torch.equal(a, b)  # rounded...
            torch.testing.assert_close(a, b, rtol=0.02, atol=0.05)  # ...but the same detector


def test_rejects_foreign_files(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a lanewatch detector"):
        load_detector(tmp_path / "other.pt")


def test_export_metadata_carries_the_scales_training_showed():
    from models.checkpoint import export_metadata, trained_size, trained_zoom
    from models.detector import DetectorConfig

    anchors = [[(10, 10)] * 3] * 3
    config = DetectorConfig(size="nano", num_classes=1, class_names=("gun",), anchors=anchors, img_size=416)
    extra = {"input_format": "rgb", "train_config": {"img_size": 320, "augment": {"zoom": [1.0, 2.0], "scale": [0.6, 1.4]}}}
    assert trained_zoom(extra) == 2.0 and trained_size(config, extra) == 320
    meta = export_metadata(config, extra)
    assert meta["max_zoom"] == 2.0 and meta["train_img_size"] == 320
    assert meta["class_names"] == ["gun"] and meta["input_format"] == "rgb"
    # a checkpoint without its training config: full frames at its own size
    assert trained_zoom({}) == 1.0 and trained_size(config, {}) == 416


def test_canvases_cap_the_zoom_at_the_training_reference():
    import numpy as np

    from pipeline.crop import CropRegion
    from pipeline.preprocess import canvases_for

    frame = np.zeros((500, 1000, 3), np.uint8)
    bag = [CropRegion(x1=0, y1=0, x2=100, y2=100, confidence=1.0)]
    ((_, (p,)),) = canvases_for(frame, bag, 416, fill=(255, 255, 255), max_zoom=2.0, zoom_reference=320)
    assert p.scale == pytest.approx(2.0 * 320 / 1000)  # not 416 / 100: the bag is shown at most 2x its 320 size
    ((_, (q,)),) = canvases_for(frame, bag, 416, fill=(255, 255, 255), max_zoom=2.0)
    assert q.scale == pytest.approx(2.0 * 416 / 1000)
