"""Materials and the two-channel attenuation physics of the simulator.

Mass attenuation coefficients (cm^2/g, total with coherent scattering) of a few
elements are tabulated from NIST XCOM at 20-150 keV; a material is a mixture
of elements by mass fraction (the mixture rule), with a bulk density.

A dual-energy line scanner has a front (low-energy) and a rear (high-energy)
detector layer. Each layer integrates energy over the tube spectrum filtered by
what lies in front of it. We model a tungsten-anode tube with a Kramers
spectrum, inherent aluminium filtration, a thin front scintillator (approximated
by its copper-equivalent absorption) and a copper filter between the layers.
Each channel c then sees an effective coefficient

    mu_c(material) = sum_E w_c(E) * mu(material, E) * density

(the thin-absorber approximation: exact for thin objects, it ignores beam
hardening in thick ones), and Beer-Lambert over everything a ray crosses gives
T_c = exp(-sum_objects mu_c * path_length). Overlap adds attenuation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

__all__ = [
    "DEFAULT_SPECTRUM",
    "MATERIALS",
    "Material",
    "Spectrum",
    "TransmissionTable",
    "basis_coefficients",
    "channel_weights",
    "effective_energy",
    "transmission",
    "transmission_table",
    "zeff",
]

# NIST XCOM total attenuation with coherent scattering, cm^2/g. The lead K edge
# (88.0 keV) is kept as two points so interpolation does not smear across it.
_XCOM: dict[str, tuple[int, float, tuple[tuple[float, float], ...]]] = {
    # symbol: (Z, A, ((keV, mu/rho), ...))
    "H": (1, 1.008, ((20, 0.3695), (30, 0.3570), (40, 0.3458), (50, 0.3355), (60, 0.3260), (80, 0.3091), (100, 0.2944), (150, 0.2651))),
    "C": (6, 12.011, ((20, 0.4420), (30, 0.2562), (40, 0.2076), (50, 0.1871), (60, 0.1753), (80, 0.1610), (100, 0.1514), (150, 0.1347))),
    "N": (7, 14.007, ((20, 0.6179), (30, 0.3066), (40, 0.2288), (50, 0.1980), (60, 0.1817), (80, 0.1639), (100, 0.1529), (150, 0.1353))),
    "O": (8, 15.999, ((20, 0.8651), (30, 0.3779), (40, 0.2585), (50, 0.2132), (60, 0.1907), (80, 0.1678), (100, 0.1551), (150, 0.1361))),
    "Al": (13, 26.982, ((20, 3.441), (30, 1.128), (40, 0.5685), (50, 0.3681), (60, 0.2778), (80, 0.2018), (100, 0.1704), (150, 0.1378))),
    "Si": (14, 28.086, ((20, 4.464), (30, 1.436), (40, 0.7012), (50, 0.4385), (60, 0.3207), (80, 0.2228), (100, 0.1835), (150, 0.1448))),
    "Fe": (26, 55.845, ((20, 25.68), (30, 8.176), (40, 3.629), (50, 1.958), (60, 1.205), (80, 0.5952), (100, 0.3717), (150, 0.1964))),
    "Cu": (29, 63.546, ((20, 33.79), (30, 10.92), (40, 4.862), (50, 2.613), (60, 1.593), (80, 0.7630), (100, 0.4584), (150, 0.2217))),
    "Pb": (82, 207.2, ((20, 86.36), (30, 30.32), (40, 14.36), (50, 8.041), (60, 5.021), (80, 2.419), (88.0, 1.910),
                       (88.001, 7.683), (100, 5.549), (150, 2.014))),
}


@dataclass(frozen=True)
class Material:
    """A homogeneous material: mass fractions of elements and a bulk density (g/cm^3)."""

    name: str
    composition: tuple[tuple[str, float], ...]
    density: float

    def mass_attenuation(self, energies_kev: np.ndarray) -> np.ndarray:
        """mu/rho (cm^2/g) at the given energies, by the mixture rule."""
        out = np.zeros_like(energies_kev, dtype=np.float64)
        for symbol, fraction in self.composition:
            _, _, table = _XCOM[symbol]
            e, mu = np.array(table).T
            out += fraction * np.exp(np.interp(np.log(energies_kev), np.log(e), np.log(mu)))
        return out


def _m(name: str, density: float, **fractions: float) -> Material:
    total = sum(fractions.values())
    return Material(name, tuple((k, v / total) for k, v in fractions.items()), density)


# Bulk densities are of the object as packed (folded cloth is mostly air).
MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        _m("cloth", 0.35, H=0.062, C=0.444, O=0.494),  # cellulose, loosely packed
        _m("paper", 0.8, H=0.062, C=0.444, O=0.494),
        _m("wood", 0.65, H=0.06, C=0.50, O=0.44),
        _m("leather", 0.9, H=0.07, C=0.55, N=0.10, O=0.28),
        _m("plastic", 1.05, H=0.08, C=0.85, N=0.07),  # ABS-like
        _m("rubber", 1.15, H=0.10, C=0.88, O=0.02),
        _m("foam", 0.08, H=0.08, C=0.85, N=0.07),
        _m("water", 1.0, H=0.112, O=0.888),  # liquids, gels, food
        _m("glass", 2.5, Si=0.467, O=0.533),
        _m("pcb", 1.85, Si=0.25, O=0.36, C=0.33, H=0.03, Cu=0.03),  # FR4 with inner copper
        _m("battery", 2.6, C=0.22, O=0.25, Fe=0.20, Cu=0.13, Al=0.15, H=0.05),  # Li-ion cell; Co as Fe
        _m("aluminium", 2.7, Al=1.0),
        _m("steel", 7.85, Fe=0.98, C=0.02),
        _m("copper", 8.96, Cu=1.0),
        _m("brass", 8.5, Cu=1.0),  # Zn (Z=30) treated as Cu (Z=29)
        _m("lead", 11.35, Pb=1.0),  # the dense high-Z item
    )
}

# Spectrum model: energies 20..139 keV in 1 keV bins; the tube and filters are a scanner's (`Spectrum`).
ENERGIES = np.arange(20.0, 140.0, 1.0)
_E_REF = 60.0


@dataclass(frozen=True)
class Spectrum:
    """A dual-energy scanner's beam: tube voltage, filtration, and the two detector layers."""

    kvp: float = 140.0
    al_filter_cm: float = 0.25  # inherent plus added aluminium filtration
    front_cu_eq_cm: float = 0.012  # front (low-energy) scintillator's absorption, as copper
    inter_cu_cm: float = 0.05  # copper filter between the layers

    def __post_init__(self) -> None:
        if not 60.0 <= self.kvp <= 140.0:  # the attenuation tables stop at 150 keV, the energy grid at 139
            raise ValueError(f"tube voltage must be 60-140 kVp, got {self.kvp}")
        if min(self.al_filter_cm, self.front_cu_eq_cm, self.inter_cu_cm) < 0:
            raise ValueError("filter thicknesses must be >= 0")


DEFAULT_SPECTRUM = Spectrum()


@cache
def channel_weights(spectrum: Spectrum = DEFAULT_SPECTRUM) -> tuple[np.ndarray, np.ndarray]:
    """Normalised energy-integrating weights (low, high) over the 1 keV energy grid."""
    e = ENERGIES
    photons = np.clip(spectrum.kvp - e, 0.0, None) / e  # Kramers
    photons *= np.exp(-MATERIALS["aluminium"].mass_attenuation(e) * 2.7 * spectrum.al_filter_cm)
    cu = MATERIALS["copper"].mass_attenuation(e) * 8.96
    front_abs = 1.0 - np.exp(-cu * spectrum.front_cu_eq_cm)
    low = photons * e * front_abs
    high = photons * e * (1.0 - front_abs) * np.exp(-cu * spectrum.inter_cu_cm)
    return low / low.sum(), high / high.sum()


def effective_energy(spectrum: Spectrum = DEFAULT_SPECTRUM) -> tuple[float, float]:
    """Mean photon energy (keV) seen by the low and the high channel (no object)."""
    low, high = channel_weights(spectrum)
    return float((low * ENERGIES).sum()), float((high * ENERGIES).sum())


def _klein_nishina(e_kev: np.ndarray) -> np.ndarray:
    """Klein-Nishina total cross-section per electron (arbitrary units)."""
    k = e_kev / 511.0
    a = (1 + k) / k**2 * (2 * (1 + k) / (1 + 2 * k) - np.log(1 + 2 * k) / k)
    return a + np.log(1 + 2 * k) / (2 * k) - (1 + 3 * k) / (1 + 2 * k) ** 2


def basis_functions(e_kev: np.ndarray = ENERGIES) -> tuple[np.ndarray, np.ndarray]:
    """Photoelectric-like (E^-3) and Compton (Klein-Nishina) energy dependences, 1 at 60 keV."""
    f_p = (_E_REF / e_kev) ** 3
    f_c = _klein_nishina(e_kev) / _klein_nishina(np.array([_E_REF]))
    return f_p, f_c


@cache
def basis_coefficients(name: str) -> tuple[float, float]:
    """(a_p, a_c) in 1/cm with mu(E) ~ a_p f_p(E) + a_c f_c(E) (Alvarez-Macovski).

    Fitted by non-negative weighted least squares in relative error over the
    energies the detector sees. Line integrals of a_p and a_c add over
    everything a ray crosses, and a 2-D table maps them to transmission.
    """
    m = MATERIALS[name]
    mu = m.mass_attenuation(ENERGIES) * m.density
    low, high = channel_weights()
    sw = np.sqrt(low + high) / mu
    f_p, f_c = basis_functions()
    design = np.stack([f_p, f_c], axis=1) * sw[:, None]
    coef, *_ = np.linalg.lstsq(design, mu * sw, rcond=None)
    if coef.min() < 0:  # fall back to the best single non-negative component
        fits = []
        for i in (0, 1):
            c = max(0.0, float(design[:, i] @ (mu * sw) / (design[:, i] @ design[:, i])))
            fits.append((np.linalg.norm(design[:, i] * c - mu * sw), i, c))
        _, i, c = min(fits)
        coef = np.zeros(2)
        coef[i] = c
    return float(coef[0]), float(coef[1])


def zeff(name: str, exponent: float = 2.94) -> float:
    """Effective atomic number by the power law over electron fractions."""
    comp = MATERIALS[name].composition
    electrons = np.array([f * _XCOM[s][0] / _XCOM[s][1] for s, f in comp])
    zs = np.array([_XCOM[s][0] for s, _ in comp], dtype=np.float64)
    frac = electrons / electrons.sum()
    return float((frac * zs**exponent).sum() ** (1.0 / exponent))


class TransmissionTable:
    """Polychromatic transmission of both channels as a function of (A_p, A_c).

    T_c = sum_E w_c(E) exp(-A_p f_p(E) - A_c f_c(E)) is separable in E, so the
    whole table is one matrix product. Indices are square-root spaced: fine
    steps where objects are thin and the eye sees small differences.
    """

    def __init__(self, *, a_p_max: float = 400.0, a_c_max: float = 40.0, steps: int = 1024,
                 spectrum: Spectrum = DEFAULT_SPECTRUM) -> None:
        self.a_p_max, self.a_c_max, self.steps = a_p_max, a_c_max, steps
        grid = np.linspace(0.0, 1.0, steps) ** 2
        f_p, f_c = basis_functions()
        p = np.exp(-np.outer(grid * a_p_max, f_p))  # (steps, E)
        c = np.exp(-np.outer(grid * a_c_max, f_c))
        low, high = channel_weights(spectrum)
        # interleaved (low, high) so one gather fetches both channels
        self.table = np.stack([(p * low) @ c.T, (p * high) @ c.T], axis=-1).astype(np.float32)
        self._flat = self.table.reshape(-1, 2).view(np.complex64).ravel()  # 1-D gathers are fastest
        self._kp = np.float32((steps - 1) ** 2 / a_p_max)
        self._kc = np.float32((steps - 1) ** 2 / a_c_max)

    @property
    def low(self) -> np.ndarray:
        """T_low over (A_p index, A_c index)."""
        return self.table[..., 0]

    @property
    def high(self) -> np.ndarray:
        """T_high over (A_p index, A_c index)."""
        return self.table[..., 1]

    def index(self, a_p: np.ndarray, a_c: np.ndarray) -> np.ndarray:
        """Flat table index for line-integral maps of any shape."""
        top = np.float32(self.steps - 1)
        ip = cv2.sqrt(np.maximum(a_p, 0) * self._kp) if a_p.ndim == 2 else np.sqrt(np.maximum(a_p, 0) * self._kp)
        ic = cv2.sqrt(np.maximum(a_c, 0) * self._kc) if a_c.ndim == 2 else np.sqrt(np.maximum(a_c, 0) * self._kc)
        ip = np.minimum(ip + np.float32(0.5), top, out=ip).astype(np.int32)
        ic = np.minimum(ic + np.float32(0.5), top, out=ic).astype(np.int32)
        ip *= self.steps
        ip += ic
        return ip

    def both(self, a_p: np.ndarray, a_c: np.ndarray) -> np.ndarray:
        """(..., 2) float32 of (T_low, T_high)."""
        idx = self.index(a_p, a_c)
        return np.take(self._flat, idx).view(np.float32).reshape(*idx.shape, 2)

    def __call__(self, a_p: np.ndarray, a_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T_low, T_high), float32, same shape as the inputs."""
        t = self.both(a_p, a_c)
        return t[..., 0], t[..., 1]


@cache
def transmission_table(spectrum: Spectrum = DEFAULT_SPECTRUM) -> TransmissionTable:
    """The process-wide transmission table of one spectrum (built once, about 0.1 s)."""
    return TransmissionTable(spectrum=spectrum)


def transmission(name: str, thickness_cm: float, spectrum: Spectrum = DEFAULT_SPECTRUM) -> tuple[float, float]:
    """(T_low, T_high) of a slab of one material, exact polychromatic sum (no table)."""
    m = MATERIALS[name]
    mu = m.mass_attenuation(ENERGIES) * m.density
    low, high = channel_weights(spectrum)
    att = np.exp(-mu * thickness_cm)
    return float((low * att).sum()), float((high * att).sum())
