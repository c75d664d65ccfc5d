import json
from pathlib import Path

import pytest

from training.datasets import SIXRAY_D, TO_SIXRAY_D, Box, DatasetFormatError, read_coco, write_coco


def test_reads_clcxray_coco_and_pairs_raw_files_by_convention(tmp_path: Path, make_clcxray) -> None:
    json_path = make_clcxray()
    images = tmp_path / "train2017"
    first, second = read_coco(json_path, images)
    assert (first.image_id, first.width, first.height) == ("000001", 120, 90)
    assert first.image == images / "000001.jpg"
    assert (first.high, first.low) == (images / "000001_high.png", images / "000001_low.png")
    assert first.boxes == [
        Box(x1=10, y1=20, x2=40.5, y2=60, label="SwissArmyKnife"),
        Box(x1=0, y1=0, x2=120, y2=90, label="Cans"),
    ]
    assert (second.high, second.low) == (tmp_path / "raw" / "000002_high.tiff", tmp_path / "raw" / "000002_low.tiff")
    assert second.boxes == [Box(x1=1, y1=2, x2=4, y2=6, label="scissors", difficult=True)]  # iscrowd

    mapped = read_coco(json_path, images, label_map=TO_SIXRAY_D)
    assert [[b.label for b in s.boxes] for s in mapped] == [["knife"], ["scissors"]]


def test_round_trip_keeps_occlusion_bags_raw_and_float_corners(simulator_dir) -> None:
    root, samples = simulator_dir
    write_coco(samples, SIXRAY_D, root / "annotations.json", root=root)
    assert read_coco(root / "annotations.json") == samples

    data = json.loads((root / "annotations.json").read_text())
    assert data["categories"][0] == {"id": 1, "name": "gun", "supercategory": "none"}
    assert [c["id"] for c in data["categories"]] == [1, 2, 3, 4, 5]
    image = data["images"][0]
    assert (image["file_name"], image["high_file"], image["low_file"]) == (
        "images/scan_0001.png",
        "raw/scan_0001_high.png",
        "raw/scan_0001_low.png",
    )
    assert image["bags"] == [[1.0, 2.0, 39.5, 28.0], [0.0, 0.0, 64.0, 48.0]]
    knife = data["annotations"][1]
    assert knife["bbox"] == [12.25, 5.5, 18.5, 14.625] and knife["area"] == 18.5 * 14.625
    assert (knife["category_id"], knife["occlusion"], knife["iscrowd"], knife["difficult"]) == (2, "OL3", 0, True)
    assert "occlusion" not in data["annotations"][2]


def test_round_trip_without_pseudo_colour_image(simulator_dir) -> None:
    root, samples = simulator_dir
    raw_only = [s.model_copy(update={"image": None, "image_id": str(i)}) for i, s in enumerate(samples, 1)]
    write_coco(raw_only, SIXRAY_D, root / "annotations.json", root=root)
    assert json.loads((root / "annotations.json").read_text())["images"][0]["file_name"] is None
    assert read_coco(root / "annotations.json") == raw_only


def test_write_coco_rejects_labels_outside_the_class_list(simulator_dir) -> None:
    root, samples = simulator_dir
    with pytest.raises(ValueError, match=r"sample scan_0001: label 'scissors' is not in classes \['gun', 'knife'\]"):
        write_coco(samples, ["gun", "knife"], root / "annotations.json", root=root)


def _annotation(i: int, **update: object):
    return lambda data: data["annotations"][i].update(update)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (_annotation(2, id=17, image_id=99), "annotation 17 refers to unknown image_id 99"),
        (_annotation(0, category_id=40), "annotation 1 refers to unknown category_id 40"),
        (_annotation(0, bbox=[1, 2, 0, 4]), "annotation 1 has bbox [1, 2, 0, 4] with non-positive"),
        (_annotation(0, bbox=[1, 2, 3]), "annotation 1 has bbox [1, 2, 3], expected [x, y, w, h]"),
        (_annotation(0, occlusion="heavy"), "annotation 1: occlusion: Input should be 'OL1', 'OL2' or 'OL3'"),
        (_annotation(1, bbox=[100, 0, 30, 10]), "box 2 (Cans) has x2 (130) beyond image width 120"),
        (lambda d: d["images"][1].update(id=1), "image id 1 appears twice"),
        (lambda d: d["images"][0].pop("width"), "image 0 has no width"),
        (lambda d: d["images"][0].update(high_file="a.png"), "image 1 has no low_file"),
        (lambda d: d["categories"][0].update(name="laptop"), "category 1 has unknown class 'laptop'"),
        (lambda d: d.pop("categories"), "needs a top-level list 'categories'"),
    ],
)
def test_malformed_json_names_the_file_and_the_problem(tmp_path: Path, make_clcxray, edit, problem: str) -> None:
    json_path = make_clcxray()
    data = json.loads(json_path.read_text())
    edit(data)
    json_path.write_text(json.dumps(data))
    with pytest.raises(DatasetFormatError) as err:
        read_coco(json_path, tmp_path / "train2017")
    assert str(json_path) in str(err.value)
    assert problem in str(err.value)


def test_invalid_json_names_the_file(tmp_path: Path) -> None:
    json_path = tmp_path / "annotations.json"
    json_path.write_text('{"images": [')
    with pytest.raises(DatasetFormatError, match=r"annotations.json: not valid JSON"):
        read_coco(json_path)
