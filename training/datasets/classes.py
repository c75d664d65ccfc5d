"""Class lists of the supported datasets, as data, and the map onto SIXray-D.

Names are spelled as in each dataset's own files:

- SIXray-D: the detector's default classes (DESIGN.md section 5).
- SIXray (Miao et al., CVPR 2019): ``Annotation/*.xml`` object names and the
  ``ImageSet`` CSV columns (MeioJane/SIXray, MeioJane/CHR ``ray.py``).
- SIXray power-bank subset: the two classes of the per-image txt files read by
  the ssd.pytorch-based loaders (duguanyue/ssd.sixray ``data/SIXray.py``).
- OPIXray (Wei et al., ACM MM 2020): OPIXray-author/OPIXray ``DOAM/data/OPIXray.py``.
- CLCXray (Zhao et al., 2022): GreysonPhoenix/CLCXray README, COCO category names.

Label policy for every reader: with ``label_map=None`` a name must belong to
one of the lists below (anything else is a typo or a foreign dataset and
raises); with a ``label_map`` the name must be a key of it, and a key mapped
to ``None`` drops the box (e.g. CLCXray's liquid containers under SIXray-D).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from training.datasets.records import DatasetFormatError

LabelMap = Mapping[str, str | None]

SIXRAY_D: tuple[str, ...] = ("gun", "knife", "wrench", "pliers", "scissors")
SIXRAY: tuple[str, ...] = ("Gun", "Knife", "Wrench", "Pliers", "Scissors", "Hammer")
SIXRAY_POWER_BANK: tuple[str, ...] = ("带电芯充电宝", "不带电芯充电宝")  # with / without battery core
OPIXRAY: tuple[str, ...] = (
    "Folding_Knife",
    "Straight_Knife",
    "Scissor",
    "Utility_Knife",
    "Multi-tool_Knife",
)
CLCXRAY: tuple[str, ...] = (
    # 5 cutters
    "blade",
    "dagger",
    "knife",
    "scissors",
    "SwissArmyKnife",
    # 7 liquid containers
    "Cans",
    "CartonDrinks",
    "GlassBottle",
    "PlasticBottle",
    "VacuumCup",
    "SprayCans",
    "Tin",
)

KNOWN_CLASSES: frozenset[str] = frozenset(SIXRAY_D + SIXRAY + SIXRAY_POWER_BANK + OPIXRAY + CLCXRAY)

# Every cutter is a knife to SIXray-D; classes it has no counterpart for
# (hammers, power banks, liquid containers) map to None and are dropped.
TO_SIXRAY_D: dict[str, str | None] = {
    **{name: name for name in SIXRAY_D},
    **{name: name.lower() for name in SIXRAY[:5]},
    "Hammer": None,
    **{name: "knife" for name in OPIXRAY if name != "Scissor"},
    "Scissor": "scissors",
    "blade": "knife",
    "dagger": "knife",
    "SwissArmyKnife": "knife",
    **{name: None for name in CLCXRAY[5:]},
    **{name: None for name in SIXRAY_POWER_BANK},
}


def resolve_label(name: str, label_map: LabelMap | None, path: Path | str, what: str) -> str | None:
    """Return the label to store for `name` (None: drop the box), or raise on an unknown name."""
    if label_map is None:
        if name not in KNOWN_CLASSES:
            raise DatasetFormatError(path, f"{what} has unknown class {name!r} (pass a label_map to rename or drop it)")
        return name
    if name not in label_map:
        raise DatasetFormatError(path, f"{what} has class {name!r} that the label_map does not mention")
    return label_map[name]
