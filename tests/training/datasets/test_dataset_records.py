from pathlib import Path

import pydantic
import pytest

from training.datasets import TO_SIXRAY_D, Box, DatasetFormatError, Sample
from training.datasets.classes import resolve_label
from training.datasets.records import round_px, sample_from


def test_box_geometry() -> None:
    box = Box(x1=10, y1=20, x2=40, y2=30, label="gun")
    assert (box.width, box.height, box.area) == (30, 10, 300)
    assert box.as_xyxy() == (10.0, 20.0, 40.0, 30.0)
    assert box.occlusion is None and box.difficult is False


def test_box_is_frozen() -> None:
    box = Box(x1=0, y1=0, x2=1, y2=1, label="gun")
    with pytest.raises(pydantic.ValidationError):
        box.x1 = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("corners", "problem"),
    [
        ((40, 0, 10, 5), "x2 (10) must be > x1 (40)"),
        ((0, 5, 10, 5), "y2 (5) must be > y1 (5)"),
        ((-1, 0, 10, 5), "must be >= 0"),
    ],
)
def test_box_rejects_bad_corners(corners: tuple[float, ...], problem: str) -> None:
    x1, y1, x2, y2 = corners
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        Box(x1=x1, y1=y1, x2=x2, y2=y2, label="gun")


def test_box_rejects_unknown_occlusion_level() -> None:
    with pytest.raises(pydantic.ValidationError):
        Box(x1=0, y1=0, x2=1, y2=1, label="gun", occlusion="OL4")  # type: ignore[arg-type]


def test_sample_needs_an_image_or_a_full_raw_pair() -> None:
    with pytest.raises(ValueError, match="needs a pseudo-colour image or both high and low"):
        Sample(image_id="a", width=10, height=10, high=Path("a_high.png"))
    sample = Sample(image_id="a", width=10, height=10, high=Path("h.png"), low=Path("l.png"))
    assert sample.image is None and sample.boxes == [] and sample.bags == []


def test_sample_rejects_boxes_and_bags_outside_the_image() -> None:
    with pytest.raises(ValueError, match=r"box 2 \(knife\) has x2 \(11\) beyond image width 10"):
        Sample(
            image_id="a",
            width=10,
            height=8,
            image=Path("a.png"),
            boxes=[Box(x1=0, y1=0, x2=10, y2=8, label="gun"), Box(x1=1, y1=1, x2=11, y2=2, label="knife")],
        )
    with pytest.raises(ValueError, match=r"bag 1 has y2 \(9\) beyond image height 8"):
        Sample(image_id="a", width=10, height=8, image=Path("a.png"), bags=[(0, 0, 5, 9)])
    with pytest.raises(ValueError, match=r"bag 1: x2 \(1\) must be > x1 \(5\)"):
        Sample(image_id="a", width=10, height=8, image=Path("a.png"), bags=[(5, 0, 1, 2)])


def test_sample_allows_float_slack_at_the_border() -> None:
    box = Box(x1=0, y1=0, x2=10.0000001, y2=8, label="gun")
    assert Sample(image_id="a", width=10, height=8, image=Path("a.png"), boxes=[box]).boxes == [box]


def test_sample_from_names_the_file_and_the_problem() -> None:
    with pytest.raises(DatasetFormatError) as err:
        sample_from(Path("annotations/x.xml"), image_id="x", width=0, height=4, image=Path("x.png"))
    assert str(err.value) == "annotations/x.xml: image size 0x4 is not positive"
    assert err.value.path == Path("annotations/x.xml")


def test_round_px_removes_shift_residues() -> None:
    assert (0.1 + 1) - 1 != 0.1
    assert round_px((0.1 + 1) - 1) == 0.1
    assert str(round_px(-0.0)) == "0.0"


def test_resolve_label_policy() -> None:
    assert resolve_label("Straight_Knife", None, "a.txt", "line 1") == "Straight_Knife"
    with pytest.raises(DatasetFormatError, match=r"a.txt: line 3 has unknown class 'laptop'"):
        resolve_label("laptop", None, "a.txt", "line 3")
    assert resolve_label("Straight_Knife", TO_SIXRAY_D, "a.txt", "line 1") == "knife"
    assert resolve_label("Cans", TO_SIXRAY_D, "a.txt", "line 1") is None
    with pytest.raises(DatasetFormatError, match="label_map does not mention"):
        resolve_label("gun", {"Gun": "gun"}, "a.txt", "line 1")


def test_to_sixray_d_maps_onto_sixray_d_only() -> None:
    assert {v for v in TO_SIXRAY_D.values() if v is not None} == {"gun", "knife", "wrench", "pliers", "scissors"}
    assert TO_SIXRAY_D["Scissor"] == "scissors" and TO_SIXRAY_D["Multi-tool_Knife"] == "knife"
    assert TO_SIXRAY_D["Hammer"] is None and TO_SIXRAY_D["SwissArmyKnife"] == "knife"
