"""Parametric models of the five SIXray-D threat classes: gun, knife, wrench, pliers, scissors.

A factory draws every parameter from the generator it is given, so one seed
gives one object. Sizes are real sizes in cm, and a part's thickness is the
path length a ray crossing the object as it lies on the belt sees in that
material: a pistol slide is a steel box as wide as the gun, a blade is a 0.2 cm plate
with a thinner bevel along its edge, a magazine sits inside the grip and both
attenuate. Each object is built with its long axis along x and then centred
on its extent. ``subtype`` and ``opened`` force a sub-type or a state (for
tests and previews); the generator is drawn from the same way either way.

One module per class (`threat_gun.py`, `threat_knife.py`, ...; shared geometry in `threat_parts.py`);
this one is the registry the scene draws from.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.synth.parts import ObjectModel
from training.synth.threat_gun import make_gun
from training.synth.threat_knife import make_knife
from training.synth.threat_pliers import make_pliers
from training.synth.threat_scissors import make_scissors
from training.synth.threat_wrench import make_wrench

__all__ = ["THREATS", "make_gun", "make_knife", "make_pliers", "make_scissors", "make_threat", "make_wrench"]

THREATS: dict[str, Callable[[np.random.Generator], ObjectModel]] = {
    "gun": make_gun,
    "knife": make_knife,
    "wrench": make_wrench,
    "pliers": make_pliers,
    "scissors": make_scissors,
}


def make_threat(label: str, rng: np.random.Generator) -> ObjectModel:
    """A random threat of the given class (one of THREATS)."""
    try:
        factory = THREATS[label]
    except KeyError:
        raise ValueError(f"unknown threat class {label!r}; known: {list(THREATS)}") from None
    return factory(rng)
