"""Scanner profiles: shipped as data, validated, held out, and actually different on screen."""

import json

import numpy as np
import pytest

from pipeline.xray.materials import Spectrum, effective_energy, transmission
from pipeline.xray.screen import display_value, pseudo_colour
from training.synth.profiles import (
    DEFAULT_PROFILE,
    default_profile,
    held_out_profiles,
    load_profile,
    profile_names,
    training_profiles,
)


def test_at_least_three_profiles_one_held_out():
    names = profile_names()
    assert len(names) >= 3 and DEFAULT_PROFILE in names
    held = [p.name for p in held_out_profiles()]
    assert len(held) == 1 and held[0] not in {p.name for p in training_profiles()}
    assert default_profile().name == DEFAULT_PROFILE and not default_profile().held_out


def test_round_trip_through_json(tmp_path):
    p = load_profile("vivid")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({**p.to_dict(), "name": "mine"}))
    q = load_profile(path)
    assert q.name == "mine" and q.detector == p.detector and q.pixel_pitch_mm == p.pixel_pitch_mm


def test_bad_profiles_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="unknown scanner profile 'nope'.*sixray"):
        load_profile("nope")
    bad = {**load_profile("sixray").to_dict(), "name": "bad"}
    bad["display"] = {**bad["display"], "palette": [[9.0, [1, 2, 3]], [6.0, [1, 2, 3]]]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="bad.json.*increasing Z"):
        load_profile(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_profile(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="60-140 kVp"):
        Spectrum(kvp=200.0)


def test_lower_tube_voltage_gives_softer_beam():
    assert effective_energy(Spectrum(kvp=100.0))[1] < effective_energy(Spectrum(kvp=140.0))[1] - 5
    # and steel absorbs more of it
    assert transmission("steel", 0.3, Spectrum(kvp=100.0))[1] < transmission("steel", 0.3)[1]


def _render(profile, material: str, thick: float) -> np.ndarray:
    t_low, t_high = transmission(material, thick, profile.detector.spectrum)
    rgb = pseudo_colour(np.full((9, 9), t_high, np.float32), np.full((9, 9), t_low, np.float32),
                        profile.display, profile.detector.spectrum)
    return rgb[4, 4].astype(int)


@pytest.mark.parametrize("name", ["sixray", "vivid", "teal"])
def test_a_few_mm_of_steel_is_blue_not_black_and_organics_orange(name):
    p = load_profile(name)
    r, g, b = _render(p, "steel", 0.3)
    assert b > r + 40 and 50 < max(r, g, b)  # mid-to-dark blue, not black
    r, g, b = _render(p, "plastic", 4.0)
    assert r > b + 40  # orange organic
    assert (_render(p, "lead", 5.0) < 30).all()  # black only where the beam does not get through


def test_greyscale_has_no_colour_and_profiles_differ():
    assert len(set(_render(load_profile("greyscale"), "steel", 0.3))) == 1
    looks = {name: tuple(_render(load_profile(name), "aluminium", 1.0)) for name in profile_names()}
    assert len(set(looks.values())) == len(looks)


def test_display_curve_is_compressive_and_monotone():
    d = default_profile().display
    a = np.linspace(0.0, d.black_at, 200)
    v = display_value(d, a)
    assert v[0] == 1.0 and v[-1] == 0.0 and (np.diff(v) < 0).all()
    # compressive: high absorbance is squeezed into the dark end instead of clipping to black, so
    # near-black (V < 0.25) starts past half the range, where a centimetre or more of steel lies
    assert display_value(d, 0.55 * d.black_at) > 0.25


def test_jitter_moves_the_screen_not_the_beam():
    base = load_profile("sixray")
    a = base.jittered(np.random.default_rng(1), 0.8)
    b = base.jittered(np.random.default_rng(1), 0.8)
    assert a == b  # seeded
    assert a.detector.spectrum == base.detector.spectrum and a.detector.quanta == base.detector.quanta
    assert a.display != base.display and a.display.palette != base.display.palette
    assert base.jittered(np.random.default_rng(1), 0.0) is base
    with pytest.raises(ValueError, match="jitter amount"):
        base.jittered(np.random.default_rng(1), 1.5)
    # the same steel still reads as metal on every perturbed screen
    for seed in range(5):
        r, g, b_ = _render(base.jittered(np.random.default_rng(seed), 1.0), "steel", 0.5)
        assert b_ > r


def test_steel_the_soft_beam_cannot_cross_shows_as_metal_not_organic():
    p = load_profile("sixray")
    r, g, b = _render(p, "steel", 2.5)  # the low channel reads its floor here
    assert b >= r and b >= g
