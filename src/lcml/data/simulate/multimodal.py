"""Simulated AstroM3-like multimodal data: ASAS-SN light curves, LAMOST spectra and catalog metadata.

:func:`simulate_multimodal` builds, for each star of the ten AstroM3 classes
(the ``astrom3`` taxonomy of :data:`lcml.surveys.SURVEYS`), the three things the AstroM3 reader
(:func:`lcml.data.sources.astrom3.read_astrom3`) returns, in the same layout, so a release writer
that stores real AstroM3 data stores these too:

- a V-band light curve sampled like ASAS-SN (2012-2018, seasonal gaps, 1-3 day cadence from several
  sites, points fainter than the night's limit lost as upper limits), turned into relative flux
  exactly as the reader turns the ``.dat`` magnitudes (:func:`lcml.data.sources.mags_to_flux` about
  the median of the kept points);
- a LAMOST-like low-resolution spectrum on a log-linear grid over 3850-9000 Angstrom: a black body at
  the class's effective temperature, reddened by interstellar dust, with Balmer lines peaking near
  A stars, metal lines (Ca II H&K, G band, Mg b, Na D, the Ca II triplet) growing in cool stars, TiO
  bands in M giants, Balmer emission in Miras, a radial-velocity shift, and photon, sky and
  dichroic-region noise with its inverse variance;
- the 34 metadata columns (Gaia EDR3, 2MASS, WISE, mean V, Galactic l, b) derived from the same
  star: a class-dependent absolute magnitude and population (disc scale height or halo) fix the
  distance, hence parallax, extinction, proper motions and all apparent magnitudes and colours.
  Measurement errors depend on brightness only, never on the variability amplitude.

Periods and amplitudes come from the catalog priors of :mod:`lcml.data.simulate.priors` (Catalina, OGLE-III).
Everything derives from ``seed``, and object ``i`` draws from child ``i`` of ``SeedSequence(seed)``,
so it does not depend on ``n_objects`` (only the shuffled class assignment and the choice of
unlabelled objects do).

The colour, absolute-magnitude and line-strength relations are smooth textbook approximations,
good to a few tenths of a magnitude: enough for the classes to separate the way real ones do, not
for astrophysical inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from lcml.data.simulate.priors import sample_amplitude, sample_period
from lcml.surveys import classes_for
from lcml.data.sources import empty_rejected, lightcurve_table, mags_to_flux
from lcml.data.sources.astrom3 import (
    ASTROM3_METADATA_COLUMNS,
    ASTROM3_PHOTO_COLUMNS,
    ASTROM3_WAVELENGTH_RANGE,
    CONVERSION,
    SPECTRA_COLUMNS,
    MultimodalIngested,
)

ASTROM3_CLASSES: tuple[str, ...] = classes_for("astrom3")
#: Default mix: AstroM3's classes in its order of frequency (EW most common, DSCT rarest), flattened
#: so that the rare classes still have enough stars to learn from.
DEFAULT_CLASS_FRACTIONS: dict[str, float] = {
    "EW": 0.20, "SR": 0.15, "EA": 0.13, "RRAB": 0.12, "EB": 0.10, "ROT": 0.09, "RRC": 0.07,
    "HADS": 0.05, "M": 0.05, "DSCT": 0.04,
}
#: LAMOST low-resolution spectra are sampled every 1e-4 in log10(wavelength) (~69 km/s per pixel).
LAMOST_LOG_STEP = 1e-4
#: Columns of the ``objects`` frame before the split-table columns, as the reader writes them.
READER_COLUMNS: tuple[str, ...] = (
    "object_id", "astrom3_split", "n_points", "n_dropped_points", "ref_mag", "has_spectrum", "spectrum_issue",
)
TRUTH_COLUMNS: tuple[str, ...] = (
    "object_id", "label", "labelled", "period", "amplitude", "teff", "abs_vmag", "distance_pc", "a_v",
    "radial_velocity",
)

_TWO_PI = 2.0 * np.pi
_C_KMS = 299_792.458
_HJD_START, _HJD_END = 2455950.0, 2458450.0  # ASAS-SN V-band light curves: early 2012 to late 2018

# Gaia EDR3 (ICRS -> Galactic) rotation; its transpose takes Galactic unit vectors to ICRS.
_ICRS_TO_GAL = np.array([
    [-0.0548755604162154, -0.8734370902348850, -0.4838350155487132],
    [+0.4941094278755837, -0.4448296299600112, +0.7469822444972189],
    [-0.8676661490190047, -0.1980763734312015, +0.4559837761750669],
])


@dataclass(frozen=True)
class _ClassModel:
    """How one class is drawn: period/amplitude priors (V-band amplitude = factor x catalog amplitude),
    effective temperature (K), absolute V magnitude, population and light-curve shape."""

    period_table: str
    period_window: tuple[float, float]
    amplitude_table: str
    amplitude_window: tuple[float, float]  # in the table's band
    to_v: float  # V amplitude per table amplitude (I-band OGLE amplitudes are smaller than V)
    teff: tuple[float, float]
    scale_height_pc: float | None  # None: halo (isotropic)
    velocity_dispersion: float  # km/s, per component


# Periods/amplitudes: Catalina for the classes it has (V band already), OGLE-III for the rest.
# A_V / A_I ~ 1.6 for delta Scuti stars and ~2 for red giants (their amplitude grows steeply to the blue).
_MODELS: dict[str, _ClassModel] = {
    "EW": _ClassModel("catalina/EW", (0.22, 1.0), "catalina/EW", (0.1, 1.0), 1.0, (4800, 7200), 400, 35),
    "SR": _ClassModel("ogle3/SRV", (20, 1000), "ogle3/SRV", (0.05, 1.2), 2.0, (3100, 3900), 500, 40),
    "EA": _ClassModel("catalina/EA", (0.3, 30), "catalina/EA", (0.1, 1.5), 1.0, (5500, 10000), 250, 25),
    "RRAB": _ClassModel("catalina/RRab", (0.4, 0.9), "catalina/RRab", (0.3, 1.4), 1.0, (6100, 6900), None, 150),
    "EB": _ClassModel("catalina/EA", (0.4, 5.0), "catalina/EW", (0.2, 1.0), 1.0, (6000, 10000), 250, 25),
    "ROT": _ClassModel("catalina/Rot", (0.5, 60), "catalina/Rot", (0.05, 0.5), 1.0, (3900, 6000), 300, 30),
    "RRC": _ClassModel("catalina/RRc", (0.22, 0.45), "catalina/RRc", (0.15, 0.6), 1.0, (7000, 7600), None, 150),
    # ASAS-SN splits delta Scuti stars at 0.15 mag (V): high-amplitude HADS above, DSCT below.
    "HADS": _ClassModel("ogle3/DSCT", (0.04, 0.25), "ogle3/DSCT", (0.095, 0.56), 1.6, (6800, 8000), 200, 25),
    "M": _ClassModel("ogle3/Mira", (100, 700), "ogle3/Mira", (1.15, 3.6), 2.2, (2500, 3300), 500, 40),
    "DSCT": _ClassModel("ogle3/DSCT", (0.02, 0.25), "ogle3/DSCT", (0.013, 0.094), 1.6, (6900, 8500), 200, 25),
}

# Smooth colour-temperature relations (dwarfs for F-K, giants for M), intrinsic, in magnitudes.
_T_GRID = np.array([2500, 2800, 3000, 3200, 3400, 3600, 3800, 4000, 4500, 5000, 5500, 6000, 6500, 7000,
                    7500, 8000, 9000, 10000], dtype=float)
_BP_RP = np.array([4.8, 4.0, 3.4, 2.9, 2.5, 2.2, 1.95, 1.75, 1.35, 1.05, 0.87, 0.72, 0.58, 0.47, 0.37, 0.29,
                   0.12, 0.02])
_V_K = np.array([10.5, 8.5, 7.2, 6.2, 5.4, 4.8, 4.3, 3.8, 2.9, 2.2, 1.7, 1.35, 1.1, 0.85, 0.65, 0.45, 0.2, 0.05])
_J_K = np.array([1.35, 1.25, 1.20, 1.15, 1.08, 1.02, 0.95, 0.88, 0.70, 0.55, 0.45, 0.36, 0.28, 0.21, 0.15,
                 0.10, 0.03, -0.01])
_H_K = np.array([0.40, 0.35, 0.30, 0.27, 0.24, 0.22, 0.20, 0.17, 0.12, 0.09, 0.07, 0.05, 0.04, 0.03, 0.02,
                 0.02, 0.01, 0.0])
_K_W1 = np.array([0.35, 0.30, 0.25, 0.20, 0.17, 0.15, 0.13, 0.11, 0.08, 0.06, 0.05, 0.04, 0.03, 0.03, 0.02,
                  0.02, 0.01, 0.0])
# CO absorption in W2 makes cool giants slightly blue in W1-W2.
_W1_W2 = np.array([-0.05, -0.08, -0.10, -0.10, -0.10, -0.09, -0.08, -0.06, -0.04, -0.03, -0.02, -0.01, 0.0,
                   0.0, 0.0, 0.0, 0.0, 0.0])
# Main-sequence absolute V magnitude (dwarfs), for the binaries and spotted dwarfs.
_MS_MV = np.array([13.0, 12.0, 11.0, 10.2, 9.5, 9.0, 8.5, 8.0, 7.0, 6.0, 5.0, 4.3, 3.6, 3.0, 2.6, 2.3,
                   1.5, 0.9])
# Extinction per unit A_V (Cardelli-like, at the bands' effective wavelengths).
_EXT = {"G": 0.83, "BP": 1.08, "RP": 0.63, "J": 0.28, "H": 0.18, "K": 0.12, "W1": 0.07, "W2": 0.05,
        "W3": 0.03, "W4": 0.02}

_BALMER = {6562.8: 0.9, 4861.3: 1.0, 4340.5: 0.9, 4101.7: 0.85, 3970.1: 0.7, 3889.0: 0.6}
# (centre, equivalent width in cool stars, in hot stars) in Angstrom.
_METALS = [(3933.7, 16.0, 1.5), (3968.5, 12.0, 1.0), (4300.0, 6.0, 0.2), (5175.0, 6.0, 0.5),
           (5270.0, 2.5, 0.2), (5892.9, 4.0, 0.3), (8498.0, 1.5, 0.4), (8542.0, 3.5, 0.8), (8662.0, 3.0, 0.6)]
_TIO_HEADS = (4584.0, 4761.0, 4954.0, 5167.0, 5448.0, 5847.0, 6159.0, 6651.0, 7054.0, 7666.0, 8432.0)
_SKY_LINES = (5577.3, 5889.9, 6300.3, 6363.8)


@dataclass(frozen=True)
class MultimodalSimulated:
    """Simulated multimodal data in the AstroM3 reader's layout, plus the truth behind it.

    Attributes
    ----------
    lightcurves : pyarrow.Table
        :data:`lcml.data.schema.LIGHTCURVE_SCHEMA`: ``object_id`` (ASAS-SN-style name from the
        coordinates), ``label`` (class, ``None`` for unlabelled objects), ``time`` (HJD),
        ``flux``/``flux_err`` (relative flux from V magnitudes, as the reader converts them).
    spectra : pandas.DataFrame
        ``object_id``, ``wavelength`` (Angstrom, float64 array), ``flux`` and ``ivar`` (float32
        arrays; ivar > 0), one row per object.
    objects : pandas.DataFrame
        The reader's columns (:data:`READER_COLUMNS`), then ``spec_filename``, the 34
        :data:`~lcml.data.sources.astrom3.ASTROM3_METADATA_COLUMNS` and the catalog light-curve
        features :data:`~lcml.data.sources.astrom3.ASTROM3_PHOTO_COLUMNS` (``rfr_score``, the
        ASAS-SN classifier's own probability, is not simulated: NaN).
    truth : pandas.DataFrame
        :data:`TRUTH_COLUMNS`: the true class (also of unlabelled objects), period, V amplitude,
        effective temperature, absolute V magnitude, distance, extinction and radial velocity.
    source : str
        The call that made it.
    """

    lightcurves: pa.Table
    spectra: pd.DataFrame
    objects: pd.DataFrame
    truth: pd.DataFrame
    source: str = ""

    def to_ingested(self) -> MultimodalIngested:
        """The same data as :func:`~lcml.data.sources.astrom3.read_astrom3` would return it."""
        return MultimodalIngested(self.lightcurves, self.objects, empty_rejected(), CONVERSION,
                                  source=self.source, spectra=self.spectra)


def lamost_grid(bins: int | None = None) -> np.ndarray:
    """Wavelengths (Angstrom) over :data:`ASTROM3_WAVELENGTH_RANGE`: LAMOST's log-linear 1e-4 dex
    pixels by default (3,688 of them), or ``bins`` log-spaced points."""
    lo, hi = ASTROM3_WAVELENGTH_RANGE
    if bins is None:
        n = int(np.floor(np.log10(hi / lo) / LAMOST_LOG_STEP)) + 1
        return lo * 10.0 ** (LAMOST_LOG_STEP * np.arange(n))
    return np.geomspace(lo, hi, bins)


# ------------------------------------------------------------------------------ stars and sky

def _interp_t(teff: float, table: np.ndarray) -> float:
    return float(np.interp(np.log10(teff), np.log10(_T_GRID), table))


def _absolute_v(rng: np.random.Generator, cls: str, teff: float, period: float) -> float:
    if cls == "EW":  # Rucinski & Duerbeck (1997) period-luminosity-colour, colour term folded in
        return -4.44 * np.log10(period) + 3.02 + rng.normal(0.0, 0.25)
    if cls in ("RRAB", "RRC"):
        return rng.normal(0.6, 0.15)
    if cls in ("HADS", "DSCT"):  # McNamara (2011) delta Scuti period-luminosity relation
        return -2.89 * np.log10(period) - 1.31 + rng.normal(0.0, 0.2)
    if cls == "M":  # Mira P-L in K (Whitelock et al. 2008) and the star's V-K
        return -3.51 * (np.log10(period) - 2.38) - 7.25 + _interp_t(teff, _V_K) + rng.normal(0.0, 0.3)
    if cls == "SR":
        return rng.uniform(-1.5, 0.5)
    if cls == "ROT" and rng.random() < 0.4:  # RS CVn-type subgiants and giants among the spotted stars
        return rng.uniform(1.0, 3.5)
    # Binaries: two stars are brighter than one, and many have evolved off the main sequence.
    brighter = 0.5 + abs(rng.normal(0.0, 0.5)) if cls in ("EA", "EB") else 0.0
    return _interp_t(teff, _MS_MV) - brighter + rng.normal(0.0, 0.3)


def _extinction(distance_pc: float, sin_b: float) -> float:
    """A_V (mag) to a star: 1 mag/kpc in the plane, in a dust layer of 120 pc scale height."""
    s = max(abs(sin_b), 0.02)
    return 1.0e-3 * (120.0 / s) * (1.0 - np.exp(-distance_pc * s / 120.0))


def _distance_for(v_mag: float, abs_v: float, sin_b: float) -> float:
    """The distance (pc) at which a star of absolute magnitude ``abs_v`` appears at ``v_mag``."""
    lo, hi = np.log10(5.0), np.log10(2.0e5)
    for _ in range(40):  # bisection: apparent magnitude grows monotonically with distance
        mid = 0.5 * (lo + hi)
        d = 10.0 ** mid
        if abs_v + 5.0 * mid - 5.0 + _extinction(d, sin_b) < v_mag:
            lo = mid
        else:
            hi = mid
    return float(10.0 ** (0.5 * (lo + hi)))


def _position(rng: np.random.Generator, model: _ClassModel) -> tuple[float, float]:
    """Galactic l, b (degrees). LAMOST looks mostly north and towards the anticentre."""
    l_deg = rng.uniform(90.0, 230.0) if rng.random() < 0.6 else rng.uniform(0.0, 360.0)
    if model.scale_height_pc is None:  # halo: isotropic, but the plane is avoided
        sin_b = rng.uniform(-1.0, 1.0)
        while abs(sin_b) < 0.1:
            sin_b = rng.uniform(-1.0, 1.0)
    else:  # disc: thinner populations crowd lower latitudes (LAMOST avoids |b| < ~3 deg)
        sin_b = min(0.05 + rng.exponential(0.15 + model.scale_height_pc / 1000.0), 0.99) * rng.choice([-1.0, 1.0])
    return float(l_deg), float(np.degrees(np.arcsin(sin_b)))


def galactic_to_icrs(l_deg: np.ndarray, b_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ICRS right ascension and declination (degrees) of Galactic coordinates (degrees)."""
    l_rad, b_rad = np.radians(l_deg), np.radians(b_deg)
    gal = np.stack([np.cos(b_rad) * np.cos(l_rad), np.cos(b_rad) * np.sin(l_rad), np.sin(b_rad)])
    x, y, z = _ICRS_TO_GAL.T @ gal
    return np.degrees(np.arctan2(y, x)) % 360.0, np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))


def asassn_name(ra_deg: float, dec_deg: float) -> str:
    """ASAS-SN variable name, e.g. ``ASASSN-V J063412.44+380104.6``."""
    ra_cs = int(round(ra_deg / 15.0 * 360000.0)) % (24 * 360000)  # centiseconds of time
    hh, rem = divmod(ra_cs, 360000)
    mm, cs = divmod(rem, 6000)
    dec_ds = int(round(abs(dec_deg) * 36000.0))  # deciseconds of arc
    dd, rem = divmod(dec_ds, 36000)
    dm, ds = divmod(rem, 600)
    sign = "-" if dec_deg < 0 else "+"
    return f"ASASSN-V J{hh:02d}{mm:02d}{cs // 100:02d}.{cs % 100:02d}{sign}{dd:02d}{dm:02d}{ds // 10:02d}.{ds % 10}"


# ------------------------------------------------------------------------------- light curves

def _epochs(rng: np.random.Generator, ra_deg: float, n_target: int) -> np.ndarray:
    """ASAS-SN-like HJDs: nights in each yearly observing season, a few sites, sorted and distinct."""
    start = rng.uniform(_HJD_START, _HJD_START + 800.0)  # fields joined the survey over its first years
    nights = np.arange(np.floor(start), _HJD_END)
    # The star transits at midnight about when the Sun is 12 h of RA away from it: around
    # day-of-year 80 + 365 * (RA + 180 deg) / 360 (the Sun is at RA 0 on day ~80).
    opposition = (80.0 + 365.25 * ((ra_deg + 180.0) % 360.0) / 360.0) % 365.25
    day = (nights - 2451544.5) % 365.25  # day of the year (J2000 epoch at Jan 1.0)
    from_opposition = np.abs((day - opposition + 182.6) % 365.25 - 182.6)
    season = nights[from_opposition < rng.uniform(100.0, 140.0)]
    # Cadence tightens as cameras were added (2-3 days early, ~1 day from 2017).
    p_night = np.where(season < 2457750.0, 0.35, 0.8) * rng.uniform(0.6, 1.0)
    candidates = season[rng.random(season.size) < p_night]
    n = int(max(10, min(n_target, candidates.size * 3)))
    chosen = rng.choice(candidates, n, replace=n > candidates.size)
    sites = rng.choice(np.array([0.05, 0.3, 0.6, 0.85]), n)  # night-time fraction of a day at each site
    times = np.sort(chosen + sites + rng.uniform(0.0, 0.25, n))
    # Distinct times: a second site on the same night is minutes to hours apart, never identical.
    return times + np.arange(n) * 1e-7


def _shape(rng: np.random.Generator, cls: str, t: np.ndarray, period: float, amp: float) -> np.ndarray:
    """Magnitude offsets (positive = fainter) of the noise-free light curve, peak-to-peak ~ ``amp``."""
    phase = t / period + rng.random()
    if cls == "EW":  # contact binary: near-equal minima, continuous variation
        s = 0.5 * (1 + np.cos(2 * _TWO_PI * phase)) + rng.uniform(0.0, 0.15) * 0.5 * (1 + np.cos(_TWO_PI * phase))
    elif cls == "EB":  # beta Lyrae: continuous variation, clearly unequal minima
        w = rng.uniform(0.5, 0.8)
        s = w * 0.5 * (1 + np.cos(2 * _TWO_PI * phase)) + (1 - w) * 0.5 * (1 + np.cos(_TWO_PI * phase))
    elif cls == "EA":  # detached: flat outside narrow eclipses
        width = min(rng.uniform(0.02, 0.05) * period ** (-1.0 / 3.0), 0.12)
        d1, d2 = (phase + 0.5) % 1.0 - 0.5, phase % 1.0 - 0.5
        s = np.exp(-np.abs(d1 / width) ** 2.5) + rng.uniform(0.1, 0.7) * np.exp(-np.abs(d2 / width) ** 2.5)
    elif cls in ("RRAB", "HADS", "RRC", "M"):  # Fourier series with each class's harmonic content
        n_harm, decay, phi = {"RRAB": (6, (0.45, 0.6), 2.45), "HADS": (4, (0.3, 0.45), 2.45),
                              "RRC": (3, (0.1, 0.2), 4.8), "M": (3, (0.1, 0.25), 2.0)}[cls]
        k = np.arange(1, n_harm + 1)
        ratios = rng.uniform(*decay) ** (k - 1)
        phis = phi * (k - 1) + rng.normal(0.0, 0.1, n_harm)
        if cls == "M":  # cycle-to-cycle wander of phase and mean brightness
            phase = phase + 0.03 * np.sin(_TWO_PI * t / rng.uniform(2000, 5000) + rng.uniform(0, _TWO_PI))
        # Magnitudes in the sine convention of lcml.data.simulate.lightcurves: a fast rise to maximum light.
        s = ratios @ np.sin(_TWO_PI * k[:, None] * phase[None, :] + phis[:, None])
    elif cls == "DSCT":  # a few low-amplitude p modes
        freqs = np.r_[1.0 / period, rng.uniform(5.0, 40.0, rng.integers(1, 4))]
        amps = np.r_[1.0, rng.uniform(0.1, 0.6, freqs.size - 1)]
        s = amps @ np.sin(_TWO_PI * freqs[:, None] * t[None, :] + rng.uniform(0, _TWO_PI, freqs.size)[:, None])
    elif cls == "ROT":  # spots: dips once per rotation whose depth and phase evolve over a season or two
        life = rng.uniform(150.0, 500.0)
        env = 0.55 + 0.45 * np.sin(_TWO_PI * t / life + rng.uniform(0, _TWO_PI))
        drift = 0.15 * np.sin(_TWO_PI * t / (1.7 * life) + rng.uniform(0, _TWO_PI))
        s = env * np.maximum(np.cos(_TWO_PI * (phase + drift)), 0.0)
    elif cls == "SR":  # semi-regular: a wandering pulsation plus a long secondary period
        grid = np.arange(t.min() - 1.0, t.max() + period, period)
        wander = np.interp(t, grid, np.cumsum(rng.normal(0.0, 0.08, grid.size)))
        gain = np.interp(t, grid, np.clip(1.0 + np.cumsum(rng.normal(0.0, 0.1, grid.size)), 0.3, 1.7))
        s = gain * np.sin(_TWO_PI * (phase + wander)) + rng.uniform(0.1, 0.4) * np.sin(
            _TWO_PI * t / (period * rng.uniform(5.0, 10.0)) + rng.uniform(0, _TWO_PI))
    else:
        raise ValueError(f"unknown AstroM3 class {cls!r}")
    s = s - 0.5 * (s.max() + s.min())
    return amp * s / max(np.ptp(s), 1e-12)


def _v_error(v: np.ndarray) -> np.ndarray:
    """ASAS-SN V-band error: ~0.012 mag when bright, ~0.05 at V=16, ~0.13 at 17; saturation below 10.5."""
    return np.sqrt(0.012**2 + (0.02 * 10.0 ** (0.4 * (v - 15.0))) ** 2) + 0.02 * np.clip(10.5 - v, 0.0, None)


def _lksl(t: np.ndarray, mag: np.ndarray, period: float) -> float:
    """Lafler-Kinman string-length statistic at ``period`` (~1 for noise, small for a clean curve)."""
    order = np.argsort((t / period) % 1.0)
    m = mag[order]
    n = m.size
    return float(np.sum(np.diff(m) ** 2) / np.sum((m - m.mean()) ** 2) * (n - 1) / (2 * n))


# ------------------------------------------------------------------------------------ spectra

def _planck(wavelength: np.ndarray, teff: float) -> np.ndarray:
    x = 1.438777e8 / (wavelength * teff)  # hc / (lambda k T), lambda in Angstrom
    return wavelength ** -5.0 / np.expm1(x)


def _spectrum(rng: np.random.Generator, cls: str, wavelength: np.ndarray, teff: float, a_v: float,
              v_mag: float, rv: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise-free model, noisy flux and inverse variance of one LAMOST-like spectrum."""
    shift = 1.0 + rv / _C_KMS
    cont = _planck(wavelength, teff) / _planck(np.array([5500.0]), teff)[0]
    cont *= 10.0 ** (-0.4 * a_v * ((wavelength / 5500.0) ** -1.3 - 1.0))  # reddening relative to V
    profile = np.ones_like(wavelength)

    def absorb(centre: float, ew: float, sigma: float) -> None:
        depth = ew / (sigma * np.sqrt(_TWO_PI))
        if depth > 0.9:  # saturated: the line broadens instead of deepening
            sigma, depth = ew / (0.9 * np.sqrt(_TWO_PI)), 0.9
        profile[:] *= 1.0 - depth * np.exp(-0.5 * ((wavelength - centre * shift) / sigma) ** 2)

    # Balmer lines peak in A stars (~9500 K) and fade both hotter and cooler.
    balmer = 14.0 * np.exp(-0.5 * ((np.log10(teff) - np.log10(9500.0)) / 0.11) ** 2)
    for centre, weight in _BALMER.items():
        ew = balmer * weight * rng.uniform(0.85, 1.15)
        absorb(centre, ew, 3.0 + 0.6 * ew)
    cool = 1.0 / (1.0 + np.exp((teff - 5600.0) / 600.0))  # metal lines strengthen in cool atmospheres
    for centre, ew_cool, ew_hot in _METALS:
        absorb(centre, (ew_hot + (ew_cool - ew_hot) * cool) * rng.uniform(0.8, 1.2), 3.0)
    tio = float(np.clip((4000.0 - teff) / 900.0, 0.0, 0.85))  # TiO bands from late K, deep in M giants
    if tio > 0:
        for head in _TIO_HEADS:
            red = wavelength - head * shift
            # A sharp head on the blue side, then absorption fading slowly to the red.
            profile *= 1.0 - tio * np.where(red >= 0, np.exp(-np.clip(red, 0.0, None) / 180.0),
                                            np.exp(np.clip(red, None, 0.0) / 4.0))
    model = cont * profile
    if cls == "M":  # shocks in Mira atmospheres: Balmer emission, strongest in H-delta and H-gamma
        for centre, strength in ((4101.7, 1.5), (4340.5, 1.0), (4861.3, 0.5)):
            peak = strength * rng.uniform(0.3, 1.5) * np.interp(centre, wavelength, cont)
            model = model + peak * np.exp(-0.5 * ((wavelength - centre * shift) / 3.0) ** 2)

    # Relative flux calibration leaves a smooth residual of a few percent.
    x = (wavelength - 6400.0) / 2600.0
    model = model * (1.0 + rng.normal(0.0, 0.03) * x + rng.normal(0.0, 0.02) * x**2)
    model = model * 300.0 * 10.0 ** (-0.4 * (v_mag - 14.0))  # LAMOST-like flux units

    # Throughput: low at the blue end and the far red, a dip where the blue and red arms meet.
    response = (np.clip((wavelength - 3700.0) / 800.0, 0.05, 1.0) * np.clip((9300.0 - wavelength) / 1500.0, 0.1, 1.0)
                * (1.0 - 0.6 * np.exp(-0.5 * ((wavelength - 5800.0) / 80.0) ** 2)))
    snr_v = float(np.clip(250.0 * 10.0 ** (-0.2 * (v_mag - 12.0)), 8.0, 400.0))
    counts_per_flux = snr_v**2 / max(float(np.interp(5500.0, wavelength, model)), 1e-12)
    counts = np.clip(model, 0.0, None) * counts_per_flux * response
    sky = 0.1 * snr_v**2 * response * (1.0 + 5.0 * (wavelength > 7200.0))  # OH bands in the red
    for line in _SKY_LINES:
        sky = sky + 3.0 * snr_v**2 * np.exp(-0.5 * ((wavelength - line) / 2.5) ** 2)
    sigma = np.sqrt(counts + sky) / (counts_per_flux * response)
    flux = model + rng.normal(0.0, 1.0, wavelength.size) * sigma
    return model, flux, 1.0 / sigma**2


# ------------------------------------------------------------------------------------ metadata

def _gaia_g_minus_v(bp_rp: float) -> float:
    """Gaia EDR3 G - V from BP - RP (Riello et al. 2021), extended linearly past its range (BP-RP > 3)."""
    c = min(bp_rp, 3.0)
    g_v = -0.02704 + 0.01424 * c - 0.2156 * c**2 + 0.01426 * c**3
    return g_v + (bp_rp - c) * (0.01424 - 0.4312 * 3.0 + 0.04278 * 9.0)


def _metadata(rng: np.random.Generator, cls: str, teff: float, v_mean: float, a_v: float,
              distance_pc: float, l_deg: float, b_deg: float, model: _ClassModel) -> dict[str, float]:
    bp_rp = _interp_t(teff, _BP_RP) + (_EXT["BP"] - _EXT["RP"]) * a_v
    g = v_mean + _gaia_g_minus_v(bp_rp)
    g_rp = -0.02 + 0.68 * min(bp_rp, 3.5) - 0.09 * min(bp_rp, 3.5) ** 2
    rp, bp = g - g_rp, g - g_rp + bp_rp
    v_k = _interp_t(teff, _V_K)
    k = v_mean - v_k - (1.0 - _EXT["K"]) * a_v
    j_k = _interp_t(teff, _J_K) + (_EXT["J"] - _EXT["K"]) * a_v
    h = k + _interp_t(teff, _H_K) + (_EXT["H"] - _EXT["K"]) * a_v
    w1 = k - _interp_t(teff, _K_W1) - (_EXT["W1"] - _EXT["K"]) * a_v
    w1_w2 = _interp_t(teff, _W1_W2)
    w2_w3, w3_w4 = 0.05 * (teff < 4000), 0.0
    if cls in ("M", "SR"):  # circumstellar dust: an infrared excess growing with wavelength
        dust = rng.uniform(0.3, 1.0) if cls == "M" else rng.uniform(0.0, 0.3)
        w1 -= 0.3 * dust
        w1_w2 += 0.5 * dust
        w2_w3 += 1.2 * dust
        w3_w4 += 0.6 * dust
    w2 = w1 - w1_w2
    w3 = w2 - w2_w3
    w4 = w3 - w3_w4

    # Astrometry: Gaia EDR3-like errors growing with G; binaries and Miras have a worse fit (RUWE).
    ruwe = float(np.exp(rng.normal(0.0, 0.06)))
    if cls in ("EW", "EA", "EB") and rng.random() < 0.25:
        ruwe *= rng.uniform(1.2, 3.0)
    if cls == "M":
        ruwe *= np.exp(abs(rng.normal(0.3, 0.3)))
    plx_err = float(np.sqrt(0.018**2 + (0.03 * 10.0 ** (0.3 * (g - 16.0))) ** 2) * max(ruwe, 1.0))
    parallax = 1000.0 / distance_pc + rng.normal(0.0, plx_err)
    d_kpc = distance_pc / 1000.0
    pmra = rng.normal(0.0, model.velocity_dispersion) / (4.74 * d_kpc)
    pmdec = rng.normal(0.0, model.velocity_dispersion) / (4.74 * d_kpc)
    pm_err = 1.1 * plx_err

    def err2mass(mag: float) -> float:
        return float(0.02 + 0.03 * 10.0 ** (0.4 * (mag - 14.5)))

    def errwise(mag: float) -> float:
        return float(0.022 + 0.02 * 10.0 ** (0.4 * (mag - 14.0)))

    e_g = float(0.0003 + 0.001 * 10.0 ** (0.4 * (g - 17.0)))
    noisy = lambda x, e: float(x + rng.normal(0.0, e))  # noqa: E731 - a measured value and its error
    e_j, e_h, e_k = err2mass(k + j_k), err2mass(h), err2mass(k)
    e_w1, e_w2 = errwise(w1), errwise(w2)
    # W3 and W4 are far shallower (5-sigma ~11.5 and ~8 mag): most optical variables are barely
    # detected there, and AllWISE's low-S/N magnitudes scatter by up to about a magnitude.
    e_w3 = min(0.02 + 0.05 * 10.0 ** (0.4 * (w3 - 11.0)), 1.0)
    e_w4 = min(0.03 + 0.08 * 10.0 ** (0.4 * (w4 - 8.0)), 1.0)
    meta = {
        "mean_vmag": v_mean,
        "phot_g_mean_mag": noisy(g, e_g), "e_phot_g_mean_mag": e_g,
        "phot_bp_mean_mag": noisy(bp, 5 * e_g), "e_phot_bp_mean_mag": 5 * e_g,
        "phot_rp_mean_mag": noisy(rp, 4 * e_g), "e_phot_rp_mean_mag": 4 * e_g,
        "bp_rp": bp - rp,
        "parallax": parallax, "parallax_error": plx_err, "parallax_over_error": parallax / plx_err,
        "pmra": noisy(pmra, pm_err), "pmra_error": pm_err, "pmdec": noisy(pmdec, pm_err), "pmdec_error": pm_err,
        "j_mag": noisy(k + j_k, e_j), "e_j_mag": e_j, "h_mag": noisy(h, e_h), "e_h_mag": e_h,
        "k_mag": noisy(k, e_k), "e_k_mag": e_k,
        "w1_mag": noisy(w1, e_w1), "e_w1_mag": e_w1, "w2_mag": noisy(w2, e_w2), "e_w2_mag": e_w2,
        "w3_mag": noisy(w3, e_w3), "w4_mag": noisy(w4, e_w4),
    }
    meta["bp_rp"] = meta["phot_bp_mean_mag"] - meta["phot_rp_mean_mag"]
    meta["j_k"] = meta["j_mag"] - meta["k_mag"]
    meta["w1_w2"] = meta["w1_mag"] - meta["w2_mag"]
    meta["w3_w4"] = meta["w3_mag"] - meta["w4_mag"]
    meta["pm"] = float(np.hypot(meta["pmra"], meta["pmdec"]))
    meta["ruwe"] = ruwe
    meta["l"], meta["b"] = l_deg, b_deg
    return {c: float(meta[c]) for c in ASTROM3_METADATA_COLUMNS}


# ------------------------------------------------------------------------------------- one star

def _simulate_star(rng: np.random.Generator, cls: str, n_points: int, wavelength: np.ndarray) -> dict:
    model = _MODELS[cls]
    period = sample_period(rng, model.period_table, lo=model.period_window[0], hi=model.period_window[1])
    amp_v = model.to_v * sample_amplitude(rng, model.amplitude_table, lo=model.amplitude_window[0],
                                          hi=model.amplitude_window[1])
    teff = float(np.exp(rng.uniform(*np.log(model.teff))))
    if cls == "EW":  # shorter-period contact binaries are cooler (a period-colour relation)
        teff = float(np.clip(5800.0 + 4000.0 * (period - 0.35) + rng.normal(0.0, 300.0), *model.teff))
    abs_v = _absolute_v(rng, cls, teff, period)
    l_deg, b_deg = _position(rng, model)
    sin_b = np.sin(np.radians(b_deg))
    # ASAS-SN + LAMOST: stars of V ~ 10-16.5, more faint than bright (luminous red giants are
    # catalogued brighter); the faint half of a large-amplitude star's cycle must still reach the
    # survey limit often enough for it to be catalogued.
    bright, span = (9.0, 5.5) if cls in ("SR", "M") else (10.0, 6.5)
    v_mean = float(min(bright + span * np.sqrt(rng.random()), 16.8 - 0.5 * amp_v))
    distance = _distance_for(v_mean, abs_v, sin_b)
    a_v = _extinction(distance, sin_b)
    ra, dec = galactic_to_icrs(np.array([l_deg]), np.array([b_deg]))
    ra, dec = float(ra[0]), float(dec[0])

    t = _epochs(rng, ra, int(round(n_points * rng.uniform(0.7, 1.3))))
    truth_mag = v_mean + _shape(rng, cls, t, period, amp_v)
    err = _v_error(truth_mag) * np.exp(rng.normal(0.0, 0.2, t.size))
    mag = np.round(truth_mag + rng.normal(0.0, 1.0, t.size) * err, 3)
    err = np.maximum(np.round(err, 3), 0.001)  # the .dat files give 3 decimals
    limit = rng.normal(17.0, 0.4, t.size)  # the night's 5-sigma limit: fainter points are upper limits
    kept = mag < limit
    if kept.sum() < 10:  # a star the survey could not catalogue; keep its brightest points
        kept[np.argsort(mag)[:10]] = True
    ref = float(np.median(mag[kept]))
    flux, flux_err = mags_to_flux(mag[kept], err[kept], ref)

    rv = rng.normal(0.0, model.velocity_dispersion * (1.5 if model.scale_height_pc is None else 1.0))
    _, spec_flux, ivar = _spectrum(rng, cls, wavelength, teff, a_v, v_mean, rv)
    meta = _metadata(rng, cls, teff, float(np.mean(mag[kept])), a_v, distance, l_deg, b_deg, model)
    plan = f"spec-{int(rng.integers(55850, 58800))}-{'FGHKP'[int(rng.integers(5))]}{int(rng.integers(1000, 9999))}"
    spec_file = f"{plan}_sp{int(rng.integers(1, 17)):02d}-{int(rng.integers(1, 251)):03d}.fits.gz"
    return {
        "ra": ra, "dec": dec, "time": t[kept], "flux": flux, "flux_err": flux_err,
        "n_points": int(kept.sum()), "n_dropped": int((~kept).sum()), "ref_mag": ref,
        "wavelength": wavelength, "spec_flux": spec_flux.astype(np.float32), "ivar": ivar.astype(np.float32),
        "spec_filename": spec_file, "meta": meta,
        "photo": {"amplitude": float(np.ptp(truth_mag[kept])), "period": period,
                  "lksl_statistic": _lksl(t[kept], mag[kept], period), "rfr_score": float("nan")},
        "truth": {"period": period, "amplitude": amp_v, "teff": teff, "abs_vmag": abs_v, "distance_pc": distance,
                  "a_v": a_v, "radial_velocity": rv},
        "split": str(rng.choice(["train", "val", "test"], p=[0.8, 0.1, 0.1])),
    }


def _class_counts(n_objects: int, class_fractions: Mapping[str, float] | None) -> dict[str, int]:
    fractions = DEFAULT_CLASS_FRACTIONS if class_fractions is None else class_fractions
    unknown = sorted(set(fractions) - set(ASTROM3_CLASSES))
    if unknown:
        raise ValueError(f"class_fractions: unknown class(es) {unknown}; expected a subset of {ASTROM3_CLASSES}")
    names = [c for c in ASTROM3_CLASSES if c in fractions]
    weights = np.array([float(fractions[c]) for c in names])
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError("class_fractions: weights must be finite, non-negative and not all zero, "
                         f"got {dict(fractions)}")
    quota = n_objects * weights / weights.sum()
    counts = np.floor(quota).astype(int)
    counts[np.argsort(-(quota - counts), kind="stable")[: n_objects - counts.sum()]] += 1  # largest remainder
    return dict(zip(names, counts.tolist()))


def simulate_multimodal(
    n_objects: int,
    *,
    seed: int = 0,
    unlabeled_fraction: float = 0.0,
    n_points: int = 250,
    spectrum_bins: int | None = None,
    class_fractions: Mapping[str, float] | None = None,
) -> MultimodalSimulated:
    """Simulate AstroM3-like stars: light curve, spectrum and metadata for every object.

    Parameters
    ----------
    n_objects : int
        Number of stars, >= 1.
    seed : int, default 0
        Non-negative seed; the same arguments give identical output.
    unlabeled_fraction : float, default 0.0
        Share of stars, in [0, 1], whose label is withheld (``None``, as the reader gives an
        unlabelled row) for self-supervised pretraining; exactly ``round(n_objects * fraction)``
        stars, picked at random. Their true class stays in ``truth``.
    n_points : int, default 250
        Typical number of light-curve epochs (each star gets 0.7-1.3 times this, minus the points
        lost below the survey limit), >= 10.
    spectrum_bins : int, optional
        Number of log-spaced spectrum pixels over 3850-9000 Angstrom; default ``None`` is LAMOST's
        own 1e-4 dex grid (3,688 pixels). At least 50.
    class_fractions : Mapping[str, float], optional
        Non-negative weights over any subset of the ten classes; default
        :data:`DEFAULT_CLASS_FRACTIONS`. Counts use largest-remainder rounding.

    Returns
    -------
    MultimodalSimulated
        Light curves, spectra and objects in the AstroM3 reader's layout, and the truth table;
        rows in the same (shuffled-class) order in all four.

    Raises
    ------
    ValueError
        If an argument is out of range or ``class_fractions`` names an unknown class.
    """
    if isinstance(n_objects, bool) or not isinstance(n_objects, (int, np.integer)) or n_objects < 1:
        raise ValueError(f"n_objects must be an integer >= 1, got {n_objects!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(unlabeled_fraction, (int, float)) and 0.0 <= unlabeled_fraction <= 1.0):
        raise ValueError(f"unlabeled_fraction must be in [0, 1], got {unlabeled_fraction!r}")
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 10:
        raise ValueError(f"n_points must be an integer >= 10, got {n_points!r}")
    if spectrum_bins is not None and (isinstance(spectrum_bins, bool)
                                      or not isinstance(spectrum_bins, (int, np.integer)) or spectrum_bins < 50):
        raise ValueError(f"spectrum_bins must be an integer >= 50 or None, got {spectrum_bins!r}")
    counts = _class_counts(int(n_objects), class_fractions)
    wavelength = lamost_grid(None if spectrum_bins is None else int(spectrum_bins))

    root = np.random.SeedSequence(int(seed))
    assign = np.random.default_rng(root)
    labels = assign.permutation(np.repeat(list(counts), list(counts.values())))
    hidden = np.zeros(n_objects, dtype=bool)
    hidden[assign.permutation(n_objects)[: int(round(n_objects * unlabeled_fraction))]] = True
    stars = [_simulate_star(np.random.default_rng(child), str(cls), int(n_points), wavelength)
             for child, cls in zip(root.spawn(int(n_objects)), labels)]

    ids, seen = [], set()
    for i, star in enumerate(stars):
        name = asassn_name(star["ra"], star["dec"])
        if name in seen:  # two stars within 0.01 s of RA and 0.1" of Dec: keep ids unique
            name = f"{name}-{i}"
        seen.add(name)
        ids.append(name)
    shown = [None if h else str(c) for c, h in zip(labels, hidden)]
    table = lightcurve_table(ids, shown, [s["time"] for s in stars], [s["flux"] for s in stars],
                             [s["flux_err"] for s in stars])
    spectra = pd.DataFrame({"object_id": ids, "wavelength": [s["wavelength"].copy() for s in stars],
                            "flux": [s["spec_flux"] for s in stars], "ivar": [s["ivar"] for s in stars]},
                           columns=list(SPECTRA_COLUMNS))
    objects = pd.DataFrame([
        {"object_id": oid, "astrom3_split": s["split"], "n_points": s["n_points"], "n_dropped_points": s["n_dropped"],
         "ref_mag": s["ref_mag"], "has_spectrum": True, "spectrum_issue": None, "spec_filename": s["spec_filename"],
         **s["meta"], **s["photo"]}
        for oid, s in zip(ids, stars)
    ], columns=[*READER_COLUMNS, "spec_filename", *ASTROM3_METADATA_COLUMNS, *ASTROM3_PHOTO_COLUMNS])
    truth = pd.DataFrame([{"object_id": oid, "label": str(c), "labelled": not h, **s["truth"]}
                          for oid, c, h, s in zip(ids, labels, hidden, stars)], columns=list(TRUTH_COLUMNS))
    source = (f"lcml.data.simulate.multimodal.simulate_multimodal(n_objects={n_objects}, seed={seed}, "
              f"unlabeled_fraction={unlabeled_fraction}, n_points={n_points}, spectrum_bins={spectrum_bins})")
    return MultimodalSimulated(lightcurves=table, spectra=spectra, objects=objects, truth=truth, source=source)
