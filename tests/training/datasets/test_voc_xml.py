
import pytest

from training.datasets import TO_SIXRAY_D, Box, DatasetFormatError, read_voc_dir, read_voc_xml, write_voc_xml


def test_reads_foreign_voc_shifting_to_zero_based(make_voc) -> None:
    xml = make_voc()
    sample = read_voc_xml(xml)
    assert sample.image_id == "P00042"
    assert sample.image == xml.parent.parent / "JPEGImages" / "P00042.jpg"
    assert (sample.width, sample.height, sample.high, sample.low, sample.bags) == (100, 80, None, None, [])
    assert sample.boxes == [
        Box(x1=40, y1=10, x2=60, y2=30, label="gun"),
        Box(x1=0, y1=0, x2=100, y2=80, label="Knife", difficult=True),
    ]


def test_label_map_renames_and_drops(make_voc) -> None:
    xml = make_voc(name="Hammer")
    sample = read_voc_xml(xml, label_map=TO_SIXRAY_D)
    assert [b.label for b in sample.boxes] == ["gun"]  # Hammer has no SIXray-D class


def test_clips_off_by_one_border_boxes(make_voc) -> None:
    # 0-based xmin and xmax = width + 1 are common slips in public conversions.
    xml = make_voc(xmin="0", xmax="101")
    assert read_voc_xml(xml).boxes[1].as_xyxy() == (0, 0, 100, 80)


def test_rejects_boxes_far_outside_the_image(make_voc) -> None:
    xml = make_voc(xmax="130")
    with pytest.raises(DatasetFormatError, match=r"P00042.xml: box 2 \(Knife\) has x2 \(130\) beyond image width 100"):
        read_voc_xml(xml)


def test_round_trip_keeps_occlusion_bags_raw_and_float_corners(simulator_dir) -> None:
    root, samples = simulator_dir
    for sample in samples:
        write_voc_xml(sample, root / "annotations" / f"{sample.image_id}.xml")
    assert read_voc_dir(root / "annotations") == samples

    text = (root / "annotations" / "scan_0001.xml").read_text(encoding="utf-8")
    assert "<folder>images</folder>" in text and "<filename>scan_0001.png</filename>" in text
    assert "<high>raw/scan_0001_high.png</high>" in text and "<low>raw/scan_0001_low.png</low>" in text
    # 1-based inclusive in the file: x1 = 12.25 -> xmin 13.25, x2 = 30.75 -> xmax 30.75.
    assert "<xmin>13.25</xmin>" in text and "<xmax>30.75</xmax>" in text
    assert "<occlusion>OL3</occlusion>" in text and text.count("<bag>") == 2
    assert text.count("<occlusion>") == 2  # the third box has none, so none is written


def test_round_trip_without_pseudo_colour_image(simulator_dir) -> None:
    root, samples = simulator_dir
    raw_only = samples[0].model_copy(update={"image": None})
    write_voc_xml(raw_only, root / "annotations" / "scan_0001.xml")
    (root / "images" / "scan_0001.png").unlink()
    assert read_voc_xml(root / "annotations" / "scan_0001.xml") == raw_only


@pytest.mark.parametrize(
    ("bad", "replacement", "problem"),
    [
        ("<xmin>41</xmin>", "<xmin>abc</xmin>", "<bndbox> of object 1 has <xmin> 'abc', not a number"),
        ("<xmax>60</xmax>", "<xmax>10</xmax>", "<bndbox> of object 1 has xmax (10) < xmin (41)"),
        ("<ymin>11</ymin>", "", "<bndbox> of object 1 has no <ymin>"),
        ("<width>100</width>", "", "<size><width> is '', expected a positive integer"),
        ("<name>gun</name>", "<name>laptop</name>", "object 1 has unknown class 'laptop'"),
        ("<name>gun</name>", "", "object 1 has no <name>"),
        ("<difficult>0</difficult>", "<occlusion>OL9</occlusion>", "object 1: occlusion: Input should be 'OL1', 'OL2' or 'OL3'"),
        ("</annotation>", "", "not well-formed XML"),
        ("<filename>P00042.jpg</filename>", "<filename>nothere.jpg</filename>", "image 'nothere.jpg' not found"),
    ],
    ids=["nan", "xmax<xmin", "no-ymin", "no-width", "unknown-class", "no-name", "bad-occlusion", "xml", "no-image"],
)
def test_malformed_files_name_the_file_and_the_problem(make_voc, bad: str, replacement: str, problem: str) -> None:
    xml = make_voc()
    xml.write_text(xml.read_text(encoding="utf-8").replace(bad, replacement, 1), encoding="utf-8")
    with pytest.raises(DatasetFormatError) as err:
        read_voc_xml(xml)
    assert str(xml) in str(err.value)
    assert problem in str(err.value)
