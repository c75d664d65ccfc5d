"""Dataset records, readers and writers: simulator output, SIXray(-D), OPIXray, CLCXray."""

from training.datasets.classes import (
    CLCXRAY,
    KNOWN_CLASSES,
    OPIXRAY,
    SIXRAY,
    SIXRAY_D,
    SIXRAY_POWER_BANK,
    TO_SIXRAY_D,
    LabelMap,
)
from training.datasets.coco import read_coco, write_coco
from training.datasets.loader import detect_layout, load_dataset, load_image
from training.datasets.records import Box, DatasetFormatError, OcclusionLevel, Sample
from training.datasets.sixray import (
    read_opixray,
    read_sixray,
    read_sixray_labels,
    read_txt_annotation,
    read_txt_dir,
)
from training.datasets.voc import read_voc_dir, read_voc_xml, write_voc_xml

__all__ = [
    "CLCXRAY",
    "KNOWN_CLASSES",
    "OPIXRAY",
    "SIXRAY",
    "SIXRAY_D",
    "SIXRAY_POWER_BANK",
    "TO_SIXRAY_D",
    "Box",
    "DatasetFormatError",
    "LabelMap",
    "OcclusionLevel",
    "Sample",
    "detect_layout",
    "load_dataset",
    "load_image",
    "read_coco",
    "read_opixray",
    "read_sixray",
    "read_sixray_labels",
    "read_txt_annotation",
    "read_txt_dir",
    "read_voc_dir",
    "read_voc_xml",
    "write_coco",
    "write_voc_xml",
]
