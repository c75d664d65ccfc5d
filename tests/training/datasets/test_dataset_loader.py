from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.dual_energy import to_three_channel
from training.datasets import (
    SIXRAY_D,
    TO_SIXRAY_D,
    DatasetFormatError,
    Sample,
    detect_layout,
    load_dataset,
    load_image,
    write_coco,
    write_voc_xml,
)

KNOWN_PIXEL_RGB = (200, 120, 30)  # what conftest's write_rgb puts at (row 1, col 2)


def _write_voc(root: Path, samples: list[Sample]) -> None:
    for sample in samples:
        write_voc_xml(sample, root / "annotations" / f"{sample.image_id}.xml")


def test_simulator_output_in_either_format_loads_back_equal(simulator_dir) -> None:
    root, samples = simulator_dir
    _write_voc(root, samples)
    assert detect_layout(root) == "simulator-voc"
    assert load_dataset(root) == samples

    write_coco(samples, SIXRAY_D, root / "annotations.json", root=root)  # --format both
    assert detect_layout(root) == "simulator-coco"
    assert load_dataset(root) == samples


def test_voc_layout(make_voc) -> None:
    root = make_voc().parent.parent
    assert detect_layout(root) == "voc"
    (sample,) = load_dataset(root)
    assert [b.label for b in sample.boxes] == ["gun", "Knife"]
    assert [b.label for b in load_dataset(root, label_map=TO_SIXRAY_D)[0].boxes] == ["gun", "knife"]


def test_original_sixray_layout(make_sixray) -> None:
    root = make_sixray()
    assert detect_layout(root) == "sixray"
    (sample,) = load_dataset(root)
    assert (sample.image_id, sample.image) == ("P00001", root / "JPEGImage" / "P00001.jpg")


def test_sixray_power_bank_folders_load_from_their_parent(tmp_path: Path, write_rgb) -> None:
    subsets = (("core", "带电芯充电宝"), ("coreless", "不带电芯充电宝"))
    for subset, name in subsets:
        stem = f"{subset}_battery00000001"
        write_rgb(tmp_path / f"{subset}_3000" / "Image" / f"{stem}.jpg", 40, 30)
        txt = tmp_path / f"{subset}_3000" / "Annotation" / f"{stem}.txt"
        txt.parent.mkdir()
        txt.write_text(f"{stem}.jpg {name} 1 2 11 12\n", encoding="utf-8")
    assert detect_layout(tmp_path / "core_3000") == "sixray-txt"
    assert detect_layout(tmp_path) is None
    samples = load_dataset(tmp_path)
    assert [(s.image_id, s.boxes[0].label, s.boxes[0].as_xyxy()) for s in samples] == [
        ("core_battery00000001", "带电芯充电宝", (1, 2, 11, 12)),
        ("coreless_battery00000001", "不带电芯充电宝", (1, 2, 11, 12)),
    ]


def test_opixray_splits_load_from_the_dataset_root(tmp_path: Path, make_opixray) -> None:
    root = tmp_path / "OPIXray_Dataset"
    make_opixray(root, "train", {"000001": "000001.jpg Folding_Knife 1 2 30 40\n"})
    make_opixray(root, "test", {"009000": "009000.jpg Scissor 5 6 50 60\n"})
    (root / "test" / "test_knife-2.txt").write_text("009000\n")
    assert detect_layout(root / "test") == "opixray"
    samples = load_dataset(root, label_map=TO_SIXRAY_D)
    assert [(s.image_id, b.label, b.occlusion) for s in samples for b in s.boxes] == [
        ("009000", "scissors", "OL2"),  # folders are read in name order: test, train
        ("000001", "knife", None),
    ]


def test_clcxray_coco_layout_finds_the_split_image_folder(make_clcxray) -> None:
    root = make_clcxray().parent.parent
    assert detect_layout(root) == "coco"
    samples = load_dataset(root)
    assert [s.image for s in samples] == [root / "train2017" / "000001.jpg", root / "train2017" / "000002.jpg"]


def test_unknown_layout_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetFormatError, match="no known dataset layout"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetFormatError, match="is not a folder"):
        load_dataset(tmp_path / "missing")


def test_load_image_rgb_is_rgb_ordered(simulator_dir) -> None:
    _, samples = simulator_dir
    image = load_image(samples[0], "rgb")
    assert (image.shape, image.dtype) == ((48, 64, 3), np.uint8)
    assert tuple(image[1, 2]) == KNOWN_PIXEL_RGB
    assert tuple(image[0, 0]) == (255, 255, 255)


def test_load_image_dual_reads_the_16_bit_pair(simulator_dir, raw_pair) -> None:
    _, samples = simulator_dir
    image = load_image(samples[0], "dual")
    high, low = raw_pair(64, 48)
    assert (image.shape, image.dtype) == ((48, 64, 3), np.uint8)
    np.testing.assert_array_equal(image, to_three_channel(high, low))
    assert tuple(image[0, 0, :2]) == (65535 >> 8, 256 >> 8)  # ch1 = high/256, ch2 = low/256
    assert tuple(image[5, 5, :2]) == (40000 >> 8, 20000 >> 8)
    assert abs(int(image[5, 5, 2]) - round(510 / (1 + np.exp(-2.0)) - 255)) <= 1  # R = 2


def test_load_image_rgb_of_a_raw_only_sample_renders_pseudo_colour(simulator_dir) -> None:
    from pipeline.xray.screen import pseudo_colour_absorbance
    from training.synth.render import ScannerReadout

    _, samples = simulator_dir
    raw_only = samples[0].model_copy(update={"image": None})
    image = load_image(raw_only, "rgb")
    high = cv2.imread(str(samples[0].high), cv2.IMREAD_UNCHANGED)
    low = cv2.imread(str(samples[0].low), cv2.IMREAD_UNCHANGED)
    det = ScannerReadout()
    np.testing.assert_array_equal(image, pseudo_colour_absorbance(det.absorbance(high), det.absorbance(low)))
    assert (image.shape, image.dtype) == ((48, 64, 3), np.uint8)
    assert not np.array_equal(image, load_image(samples[0], "dual"))


def test_load_image_errors_name_the_problem(simulator_dir, write_raw) -> None:
    _, samples = simulator_dir
    image_only = samples[0].model_copy(update={"high": None, "low": None})
    with pytest.raises(ValueError, match="sample scan_0001 has no dual-energy raw pair"):
        load_image(image_only, "dual")
    with pytest.raises(ValueError, match="mode must be 'rgb' or 'dual'"):
        load_image(samples[0], "bgr")  # type: ignore[arg-type]

    wrong_size = samples[0].model_copy(update={"width": 65})
    with pytest.raises(DatasetFormatError, match=r"scan_0001.png: is 64x48 but its annotation says 65x48"):
        load_image(wrong_size, "rgb")

    write_raw(samples[0].high, np.zeros((48, 64), np.uint8))
    with pytest.raises(DatasetFormatError, match=r"scan_0001_high.png: expected a 16-bit single-channel image"):
        load_image(samples[0], "dual")

    samples[0].image.unlink()
    with pytest.raises(DatasetFormatError, match=r"scan_0001.png: missing or cannot be decoded"):
        load_image(samples[0], "rgb")
