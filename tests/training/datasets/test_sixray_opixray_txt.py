from pathlib import Path

import pytest

from training.datasets import (
    TO_SIXRAY_D,
    Box,
    DatasetFormatError,
    read_opixray,
    read_sixray,
    read_sixray_labels,
    read_txt_annotation,
    read_txt_dir,
)


def test_reads_opixray_split_with_occlusion_lists(tmp_path: Path, make_opixray) -> None:
    split_dir = make_opixray(
        tmp_path,
        "test",
        {
            "009000": "009000.jpg Straight_Knife 161 191 283 292\n",
            "009001": "009001.jpg Scissor 10 20 110 120\n009001.jpg Multi-tool_Knife 0 0 5 6\n",
            "009002": "",  # an image without a threat
        },
    )
    (split_dir / "test_knife.txt").write_text("009000\n009001\n009002\n")
    (split_dir / "test_knife-1.txt").write_text("009000\n")
    (split_dir / "test_knife-3.txt").write_text("009001\n")

    samples = read_opixray(split_dir)
    assert [s.image_id for s in samples] == ["009000", "009001", "009002"]
    assert (samples[0].width, samples[0].height) == (400, 300)
    assert samples[0].image == split_dir / "test_image" / "009000.jpg"
    # Coordinates are 0-based corners already: no shift.
    assert samples[0].boxes == [Box(x1=161, y1=191, x2=283, y2=292, label="Straight_Knife", occlusion="OL1")]
    assert [(b.label, b.occlusion) for b in samples[1].boxes] == [("Scissor", "OL3"), ("Multi-tool_Knife", "OL3")]
    assert samples[2].boxes == []

    mapped = read_opixray(split_dir, label_map=TO_SIXRAY_D)
    assert [b.label for s in mapped for b in s.boxes] == ["knife", "scissors", "knife"]


def test_power_bank_txt_clips_and_drops_boxes_outside_the_view(tmp_path: Path, write_rgb) -> None:
    # SIXray power-bank files are GBK on Windows and may hold boxes of a second view beyond the width.
    image = write_rgb(tmp_path / "Image" / "core_battery00000003.jpg", 200, 100)
    txt = tmp_path / "Annotation" / "core_battery00000003.txt"
    txt.parent.mkdir()
    txt.write_bytes(
        "core_battery00000003.jpg 带电芯充电宝 115 64 217 149\n"
        "core_battery00000003.jpg 不带电芯充电宝 250 10 300 50\n"
        "\n"
        "core_battery00000003.jpg 不带电芯充电宝 -3 10 30 50\n".encode("gbk")
    )
    sample = read_txt_annotation(txt, image)
    assert sample.boxes == [
        Box(x1=115, y1=64, x2=200, y2=100, label="带电芯充电宝"),
        Box(x1=0, y1=10, x2=30, y2=50, label="不带电芯充电宝"),
    ]
    assert read_txt_dir(tmp_path / "Annotation", tmp_path / "Image") == [sample]
    assert read_txt_annotation(txt, image, label_map=TO_SIXRAY_D).boxes == []


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("009000.jpg Straight_Knife 161 191 283", "line 2: expected '<image> <class> x1 y1 x2 y2'"),
        ("009000.jpg Scissor 161 191 a 292", "line 2: coordinates ['161', '191', 'a', '292'] are not all numbers"),
        ("009000.jpg Straight_Knife 161 191 100 292", "line 2: box (161, 191, 100, 292) has x2 <= x1 or y2 <= y1"),
        ("009000.jpg Laptop 1 1 10 10", "line 2 has unknown class 'Laptop'"),
    ],
)
def test_malformed_txt_names_the_file_and_line(tmp_path: Path, make_opixray, line: str, problem: str) -> None:
    split_dir = make_opixray(tmp_path, "train", {"009000": f"009000.jpg Scissor 1 1 9 9\n{line}\n"})
    with pytest.raises(DatasetFormatError) as err:
        read_opixray(split_dir)
    assert str(split_dir / "train_annotation" / "009000.txt") in str(err.value)
    assert problem in str(err.value)


def test_txt_without_its_image_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "Annotation").mkdir()
    (tmp_path / "Annotation" / "x.txt").write_text("x.jpg Scissor 1 1 9 9\n")
    with pytest.raises(DatasetFormatError, match=r"x.txt: no image named x\.\* in"):
        read_txt_dir(tmp_path / "Annotation", tmp_path / "Image")


def test_reads_original_sixray_with_image_level_labels(make_sixray) -> None:
    root = make_sixray()
    csv = root / "ImageSet" / "10" / "test.csv"
    assert read_sixray_labels(csv) == {"P00001": {"Gun", "Hammer"}, "N0000007": frozenset()}

    positives = read_sixray(root)
    assert [s.image_id for s in positives] == ["P00001"]
    assert positives[0].image == root / "JPEGImage" / "P00001.jpg"
    assert positives[0].boxes == [
        Box(x1=0, y1=1, x2=30, y2=40, label="Gun"),
        Box(x1=49, y1=4, x2=90, y2=60, label="Hammer"),
    ]

    split = read_sixray(root, labels_csv=csv, label_map=TO_SIXRAY_D)
    assert [(s.image_id, [b.label for b in s.boxes]) for s in split] == [("P00001", ["gun"]), ("N0000007", [])]
    assert (split[1].width, split[1].height, split[1].image) == (90, 60, root / "JPEGImage" / "N0000007.jpg")


def test_sixray_positive_without_annotation_is_an_error(make_sixray) -> None:
    root = make_sixray()
    (root / "Annotation" / "P00001.xml").unlink()
    with pytest.raises(DatasetFormatError, match=r"test.csv: P00001 is labelled \['Gun', 'Hammer'\] but has no"):
        read_sixray(root, labels_csv=root / "ImageSet" / "10" / "test.csv")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("P00001,1,-1\n", "first row must be the header"),
        ("name,Gun,Knife\nP00001,1\n", "line 2 has 2 fields, the header has 3"),
        ("name,Gun,Knife\nP00001,yes,-1\n", "line 2: labels must be 1, 0 or -1"),
    ],
)
def test_malformed_sixray_csv(tmp_path: Path, text: str, problem: str) -> None:
    csv = tmp_path / "train.csv"
    csv.write_text(text)
    with pytest.raises(DatasetFormatError, match=problem) as err:
        read_sixray_labels(csv)
    assert str(csv) in str(err.value)
