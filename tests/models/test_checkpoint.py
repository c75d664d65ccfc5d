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


def test_rejects_foreign_files(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a lanewatch detector"):
        load_detector(tmp_path / "other.pt")
