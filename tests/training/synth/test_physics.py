"""The simulator's physics: Beer-Lambert over materials, two channels, a real detector."""

import numpy as np
import pytest

from pipeline.xray.materials import MATERIALS, basis_coefficients, effective_energy, transmission, transmission_table, zeff
from pipeline.xray.screen import pseudo_colour, zeff_map
from training.synth.parts import ObjectModel, Part, rect
from training.synth.render import LineIntegrals, Pose, ScannerReadout, rasterise


@pytest.mark.parametrize("name", sorted(MATERIALS))
def test_more_material_less_transmission(name):
    t = [transmission(name, x) for x in (0.05, 0.2, 1.0, 4.0)]
    low, high = np.array(t).T
    assert (np.diff(low) < 0).all() and (np.diff(high) < 0).all()
    assert (low < high).all()  # low-energy photons are absorbed more, for every material


def test_low_channel_sees_softer_photons():
    e_low, e_high = effective_energy()
    assert 35 < e_low < 60 < e_high < 110


def test_zeff_orders_materials():
    assert zeff("plastic") < zeff("water") < 8 < zeff("aluminium") < 14 < zeff("steel") < zeff("copper") < zeff("lead")


@pytest.mark.parametrize("name,thick", [("water", 3.0), ("steel", 0.3), ("aluminium", 1.0), ("plastic", 2.0), ("copper", 0.1)])
def test_table_matches_exact_polychromatic_sum(name, thick):
    a_p, a_c = basis_coefficients(name)
    t_low, t_high = transmission_table()(np.float32([a_p * thick]), np.float32([a_c * thick]))
    e_low, e_high = transmission(name, thick)
    # basis fit + table quantisation: a few percent of the transmission or 0.01 absolute
    assert abs(t_low[0] - e_low) < max(0.05 * e_low, 0.01)
    assert abs(t_high[0] - e_high) < max(0.05 * e_high, 0.01)


def test_beam_hardening_lowers_the_ratio_for_thick_steel():
    def ratio(t):
        lo, hi = transmission("steel", t)
        return np.log(lo) / np.log(hi)

    assert ratio(0.05) > ratio(0.5) > ratio(2.0)


def _plate(material, thickness, w=10.0, h=6.0):
    return ObjectModel("plate", [Part(material, thickness, outline=rect(w, h))])


def _render(*objects_and_poses, shape=(100, 160), noise=False):
    maps = LineIntegrals(*shape)
    fps = []
    for obj, pose in objects_and_poses:
        fp = rasterise(obj, pose, shape)
        maps.add(fp)
        fps.append(fp)
    det = ScannerReadout()
    high, low = det.read_out(maps, np.random.default_rng(1), noise=noise)
    return maps, fps, high, low, det


def test_overlap_adds_attenuation_not_occludes():
    a = (_plate("steel", 0.2), Pose(60, 50, 5.0))
    b = (_plate("water", 4.0), Pose(90, 50, 5.0))
    maps, (fa, fb), high, _, _ = _render(a, b)
    only_a, _, high_a, _, _ = _render(a)
    only_b, _, high_b, _, _ = _render(b)
    # line integrals add exactly
    np.testing.assert_allclose(maps.a_p, only_a.a_p + only_b.a_p, rtol=1e-6)
    np.testing.assert_allclose(maps.a_c, only_a.a_c + only_b.a_c, rtol=1e-6)
    # x = 75 lies in both plates: darker than either alone; the steel is still "seen"
    assert high[50, 75] < high_a[50, 75] and high[50, 75] < high_b[50, 75]
    # and the order of adding does not matter
    maps2, *_ = _render(b, a)
    np.testing.assert_array_equal(maps.a_p, maps2.a_p)


def test_steel_is_bluer_than_plastic():
    steel = (_plate("steel", 0.15), Pose(40, 50, 5.0))
    plastic = (_plate("plastic", 3.0), Pose(120, 50, 5.0))
    _, _, high, low, det = _render(steel, plastic)
    t_h, t_l = det.transmission(high), det.transmission(low)
    rgb = pseudo_colour(t_h, t_l).astype(int)
    z = zeff_map(t_h, t_l)
    s, p = rgb[50, 40], rgb[50, 120]
    # thin metal (1.5 mm) is cool on the SIXray-like screen: pale cyan (blue and green well above red), never orange
    assert min(s[1], s[2]) > s[0] + 25
    assert p[0] > p[2] + 60  # orange organic
    assert z[50, 40] > 18 > 10 > z[50, 120]
    # nothing in the beam: the belt's tone on the default screen
    from training.synth.profiles import default_profile

    assert (np.abs(rgb[5, 5] - default_profile().display.background) <= 2).all()


def test_aluminium_reads_as_mixed():
    _, _, high, low, det = _render((_plate("aluminium", 1.0), Pose(80, 50, 5.0)))
    z = zeff_map(det.transmission(high), det.transmission(low))
    assert 10 < z[50, 80] < 18


def test_box_tightly_covers_object_pixels():
    obj = _plate("steel", 0.2, w=13.3, h=4.1)
    fp = rasterise(obj, Pose(70.3, 48.6, 4.0, angle_deg=33.0, tilt=0.7, tilt_axis_deg=20.0), (100, 160))
    x1, y1, x2, y2 = fp.box()
    ys, xs = np.nonzero(fp.mask())
    assert (xs.min() + fp.x0, ys.min() + fp.y0, xs.max() + fp.x0 + 1, ys.max() + fp.y0 + 1) == (x1, y1, x2, y2)
    # the tilt foreshortens, so the box is smaller than the untilted one
    flat = rasterise(obj, Pose(70.3, 48.6, 4.0, angle_deg=33.0), (100, 160)).box()
    assert (x2 - x1) * (y2 - y1) < (flat[2] - flat[0]) * (flat[3] - flat[1])


def test_tilted_plate_has_longer_path():
    obj = _plate("aluminium", 0.5)
    flat = rasterise(obj, Pose(80, 50, 4.0), (100, 160))
    tilted = rasterise(obj, Pose(80, 50, 4.0, tilt=0.5), (100, 160))
    assert tilted.a_p.max() == pytest.approx(2 * flat.a_p.max(), rel=1e-5)


def test_detector_noise_and_saturation():
    det = ScannerReadout()
    maps = LineIntegrals(200, 200)
    maps.a_p[:, 100:] = basis_coefficients("lead")[0] * 2.0  # 2 cm of lead: opaque
    maps.a_c[:, 100:] = basis_coefficients("lead")[1] * 2.0
    high, low = det.read_out(maps, np.random.default_rng(3))
    assert high.dtype == np.uint16 and low.dtype == np.uint16
    air = high[:, :90].astype(float)
    assert abs(air.mean() - det.air_level) < 0.01 * det.air_level
    # photon noise: relative std ~ 1/sqrt(quanta)
    rel = air.std() / (air.mean() - det.offset)
    assert 0.5 / np.sqrt(det.quanta[1]) < rel < 2.5 / np.sqrt(det.quanta[1])
    assert low[:, :90].std() / low[:, :90].mean() > rel  # fewer quanta in the low channel: noisier
    assert np.median(high[:, 110:]) < det.offset + 200  # opaque: the dark level
    # bright enough input saturates at the top of the 16-bit range
    strong = ScannerReadout(air_level=65000.0)
    h2, _ = strong.read_out(LineIntegrals(100, 100), np.random.default_rng(0))
    assert h2.max() == 65535


def test_same_rng_same_read_out():
    maps = LineIntegrals(50, 50)
    a = ScannerReadout().read_out(maps, np.random.default_rng(5))
    b = ScannerReadout().read_out(maps, np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
