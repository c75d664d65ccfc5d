"""The catalogue of benign clutter: every kind, how often it turns up, which kinds are dense.

Each factory takes a numpy Generator and returns an ObjectModel with
``label=None``, its ``kind``, and the sampled parameters in ``meta``; sizes
and path lengths are those of the real thing (see the ``clutter_*`` modules).
Frequencies are relative, guessed from what cabin bags hold: clothes and
cables in most bags, a laptop in many, lead almost never. The benign metal
look-alikes of `clutter_tools` (screwdrivers, cutlery, hinges...) are part of
the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.synth.clutter_electronics import (
    make_batteries,
    make_cable,
    make_charger,
    make_earphones,
    make_laptop,
    make_phone,
    make_power_bank,
    make_tablet,
)
from training.synth.clutter_liquids import (
    make_bottle,
    make_can,
    make_empty_bottle,
    make_food,
    make_spray_can,
    make_thermos,
    make_toiletries,
)
from training.synth.clutter_personal import make_books, make_clothes, make_shoes, make_umbrella, make_zip_pouch
from training.synth.clutter_pocket import make_coins, make_glasses_case, make_keys, make_lead, make_pens
from training.synth.clutter_tools import DENSE_LOOKALIKES, LOOKALIKES
from training.synth.parts import ObjectModel

__all__ = ["CLUTTER", "DENSE_KINDS", "make_clutter"]

Factory = Callable[[np.random.Generator], ObjectModel]

CLUTTER: dict[str, tuple[Factory, float]] = {
    "clothes": (make_clothes, 3.0),
    "cable": (make_cable, 2.0),
    "phone": (make_phone, 1.2),
    "charger": (make_charger, 1.0),
    "toiletries": (make_toiletries, 1.0),
    "bottle": (make_bottle, 1.0),
    "books": (make_books, 0.8),
    "food": (make_food, 0.8),
    "zip_pouch": (make_zip_pouch, 0.8),
    "laptop": (make_laptop, 0.7),
    "earphones": (make_earphones, 0.6),
    "keys": (make_keys, 0.6),
    "coins": (make_coins, 0.6),
    "shoes": (make_shoes, 0.6),
    "pens": (make_pens, 0.6),
    "empty_bottle": (make_empty_bottle, 0.5),
    "can": (make_can, 0.5),
    "tablet": (make_tablet, 0.4),
    "power_bank": (make_power_bank, 0.4),
    "umbrella": (make_umbrella, 0.4),
    "thermos": (make_thermos, 0.4),
    "glasses_case": (make_glasses_case, 0.4),
    "batteries": (make_batteries, 0.4),
    "spray_can": (make_spray_can, 0.3),
    "lead": (make_lead, 0.05),
    # metal things that are not threats but look like them or their parts: they teach specificity.
    # At their own weights one draw in six would be one; scaled so it is about one in ten.
    **{kind: (factory, 0.55 * weight) for kind, (factory, weight) in LOOKALIKES.items()},
}

# Kinds that absorb at least as much of the high-energy beam as about 1 mm of
# steel or 2.5 cm of water over an area large enough to hide part of a threat.
DENSE_KINDS: frozenset[str] = frozenset({
    "laptop", "tablet", "phone", "charger", "power_bank", "batteries",
    "bottle", "can", "spray_can", "thermos", "toiletries", "food",
    "shoes", "books", "lead",
}) | DENSE_LOOKALIKES

_POOLS: dict[bool | None, tuple[list[str], np.ndarray]] = {}
for _dense in (None, True, False):
    _kinds = [k for k in CLUTTER if _dense is None or (k in DENSE_KINDS) == _dense]
    _w = np.array([CLUTTER[k][1] for k in _kinds])
    _POOLS[_dense] = (_kinds, _w / _w.sum())


def make_clutter(rng: np.random.Generator, *, dense: bool | None = None) -> ObjectModel:
    """One clutter item drawn by frequency: from all kinds, only dense ones, or only non-dense ones."""
    kinds, p = _POOLS[dense]
    return CLUTTER[kinds[int(rng.choice(len(kinds), p=p))]][0](rng)
