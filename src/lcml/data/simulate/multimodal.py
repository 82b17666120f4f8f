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
from lcml.data.simulate.stars import (  # noqa: F401 - moved there; read here too
    _BALMER, _BP_RP, _C_KMS, _ClassModel, _EXT, _H_K, _J_K, _K_W1, _METALS, _MODELS, _MS_MV, _SKY_LINES, _TIO_HEADS, _TWO_PI, _T_GRID, _V_K, _W1_W2, _absolute_v, _distance_for, _extinction, _gaia_g_minus_v, _interp_t, _metadata, _planck, _spectrum,
)
from lcml.data.simulate.sky import (  # noqa: F401 - moved there; read here too
    _ICRS_TO_GAL, _position, asassn_name, galactic_to_icrs,
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

_HJD_START, _HJD_END = 2455950.0, 2458450.0  # ASAS-SN V-band light curves: early 2012 to late 2018


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


# ------------------------------------------------------------------------------------ metadata


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
