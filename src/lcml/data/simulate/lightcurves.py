"""Simulator v2: Kepler and K2 long-cadence light curves of variable stars.

:func:`simulate_kepler` makes one Kepler quarter (monthly downlink gaps, slow drifts) of the six
StarWhisper Kepler classes; :func:`simulate_k2` makes one K2 campaign (80 days, the ~6-hour
thruster-firing roll sawtooth and the cadences flagged at each firing) of the seven K2VARCAT classes
(the ``k2`` taxonomy of :data:`lcml.surveys.SURVEYS`).

This is the embedded default data source (demo and tests), so it trades astrophysical detail for
speed: every object is built with a handful of vectorised NumPy operations on its own time grid,
and everything is derived from ``seed``. Each object draws from its own child of
``SeedSequence(seed)``, so object ``i`` is the same whatever ``n_objects`` is (only the shuffled
class assignment depends on ``n_objects``).

What changed from v1: periods (and, where a catalog has them, amplitudes) are drawn from the
catalog priors of :mod:`lcml.data.simulate.priors` (StarWhisper's Kepler periods for DSCT, GDOR, HYB and EB;
OGLE-III for RR and T2CEP), truncated to each class model's v1 window, so the curves keep their v1
format and class boundaries while their period distributions follow real stars. Catalog amplitudes
are in I (OGLE-III) or V (Catalina); :data:`KP_PER_I` and :data:`KP_PER_V` turn them into the
broad Kepler band.

Amplitudes are those *recorded* at long cadence: integration smearing of fast p modes is not
modelled separately, it is folded into the amplitude draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from lcml.data.simulate.priors import period_cdf, sample_amplitude, sample_period
from lcml.data.schema import LIGHTCURVE_SCHEMA
from lcml.surveys import classes_for
from lcml.data.simulate.shapes import (  # noqa: F401 - moved there; read here too
    KP_PER_I, KP_PER_V, _CLASS_MODELS, _G_WINDOW, _HYB_P_DOMINANT, _P_WINDOW, _TWO_PI, _contact, _detached, _dsct, _eb, _fold, _fourier_mag, _g_modes, _gdor, _hyb, _k2_ea, _k2_eb, _k2_noise, _k2_othper, _loguniform, _mag_to_depth, _p_modes, _rr, _rrab, _sines, _t2cep,
)

KEPLER_CLASSES: tuple[str, ...] = ("T2CEP", "RR", "HYB", "GDOR", "EB", "DSCT")
#: Default class mix; Type II Cepheids are rare in the Kepler field, so they are rare here too.
DEFAULT_CLASS_FRACTIONS: dict[str, float] = {
    "T2CEP": 0.04,
    "RR": 0.16,
    "HYB": 0.14,
    "GDOR": 0.18,
    "EB": 0.28,
    "DSCT": 0.20,
}
KEPLER_LC_CADENCE_DAYS = 29.4244 / 1440

K2_CLASSES: tuple[str, ...] = classes_for("k2")
#: Default K2 mix: that of the labelled K2SC sample in lcml's real test data (Noise 125, OTHPER 91,
#: EA 67, EB 56, DSCUT 38, RRab 37, GDOR 31), not K2VARCAT's whole catalog, which is 64% Noise and
#: would leave a classifier few pulsators to learn from.
K2_DEFAULT_CLASS_FRACTIONS: dict[str, float] = {
    "DSCUT": 0.09, "EA": 0.15, "EB": 0.13, "GDOR": 0.07, "RRab": 0.08, "OTHPER": 0.20, "Noise": 0.28,
}
#: Interval between K2 thruster firings (days): the roll drift was corrected about every 5.9 hours.
K2_THRUSTER_INTERVAL_DAYS = 5.885 / 24

_T_START = 120.0  # BKJD of the first cadence, before the per-object offset


@dataclass(frozen=True)
class SimulatedSet:
    """A simulated release: the light curves and the truth behind them.

    Attributes
    ----------
    lightcurves : pyarrow.Table
        ``object_id`` string, ``label`` string, ``time`` list<float64> (BKJD-like days),
        ``flux`` list<float32> (relative flux, median ~1), ``flux_err`` list<float32> (> 0).
    objects : pandas.DataFrame
        One row per object, same order: ``object_id``, ``label``, ``period`` (days; dominant
        period, orbital period for EB/EA, rotation period for OTHPER, NaN for K2's Noise),
        ``amplitude`` (peak-to-peak relative flux of the noise-free stellar signal over the
        observing window, without instrumental systematics), ``kepmag``.
    """

    lightcurves: pa.Table
    objects: pd.DataFrame


# ------------------------------------------------------------------------------------------- K2


_K2_CLASS_MODELS: dict[str, Callable[..., tuple[np.ndarray, float]]] = {
    "DSCUT": _dsct, "EA": _k2_ea, "EB": _k2_eb, "GDOR": _gdor, "RRab": _rrab, "OTHPER": _k2_othper,
    "Noise": _k2_noise,
}


def _time_grid(rng: np.random.Generator, duration: float, cadence: float):
    """Kepler-like sampling: the full cadence grid, the mask of kept cadences, the downlink
    segment of each cadence and the downlink start times (relative days)."""
    rel = np.arange(int(duration / cadence)) * cadence
    steps = np.r_[rng.uniform(25.0, 33.0), rng.uniform(28.0, 32.0, int(duration // 28))]
    downlinks = np.cumsum(steps)
    downlinks = downlinks[downlinks < duration]
    keep = rng.random(rel.size) >= 0.01  # isolated missing cadences (attitude tweaks, flags)
    for start, length in zip(downlinks, rng.uniform(0.7, 1.3, downlinks.size)):
        keep &= (rel < start) | (rel >= start + length)
    n_short = rng.poisson(duration / 30.0)  # safe modes / short data losses
    starts, lengths = rng.uniform(0.0, duration, n_short), _loguniform(rng, 0.05, 0.5, n_short)
    for start, length in zip(starts, lengths):
        keep &= (rel < start) | (rel >= start + length)
    keep |= keep.sum() < 3  # a 1-day window wholly lost to gaps: keep it rather than emit nothing
    segment = np.searchsorted(downlinks, rel)
    return _T_START + rng.uniform(0.0, 10.0) + rel, keep, segment, downlinks


def _systematics(rng: np.random.Generator, rel: np.ndarray, segment: np.ndarray,
                 starts: np.ndarray) -> np.ndarray:
    """Small instrumental trend: quadratic drift per segment, thermal ramp after each downlink."""
    n_seg = starts.size + 1
    coef = rng.normal(0.0, 1.0, (n_seg, 3)) * _loguniform(rng, 2e-5, 3e-4)
    seg_start = np.r_[rel[0], starts][segment]
    x = (rel - seg_start) / 30.0
    drift = coef[segment, 0] + coef[segment, 1] * x + coef[segment, 2] * x**2
    settle = rng.uniform(0.3, 2.0)  # days for the focus to settle after a pointing change
    ramp = rng.uniform(0.0, 3e-4, n_seg)[segment] * np.exp(-(rel - seg_start) / settle)
    return drift - ramp


def _noise_sigma(kepmag: float) -> float:
    """30-min white noise: floor, photon and background terms (~30 ppm at Kp 10, ~500 at 15)."""
    return float(np.sqrt(20e-6**2 + (25e-6 * 10 ** (0.2 * (kepmag - 10))) ** 2
                         + (4e-6 * 10 ** (0.4 * (kepmag - 10))) ** 2))


def _simulate_one(rng: np.random.Generator, label: str, duration: float, cadence: float):
    t, keep, segment, downlinks = _time_grid(rng, duration, cadence)
    rel = t - t[0]
    signal, period = _CLASS_MODELS[label](rng, rel, 0.5 / cadence)
    signal = signal / np.median(signal)
    amplitude = float(np.ptp(signal))
    kepmag = 10.0 + 5.0 * np.sqrt(rng.random())  # more faint stars than bright ones
    sigma = _noise_sigma(kepmag) * rng.lognormal(0.0, 0.15)
    trend = _systematics(rng, rel, segment, downlinks)
    flux = signal * (1.0 + trend) + rng.normal(0.0, sigma, t.size)
    _cosmic_rays(rng, flux, sigma)
    err = sigma * np.clip(rng.normal(1.0, 0.05, t.size), 0.8, 1.2)
    return t[keep], flux[keep], err[keep], period, amplitude, kepmag


def _cosmic_rays(rng: np.random.Generator, flux: np.ndarray, sigma: float) -> None:
    """Brief positive spikes in ~30% of curves (in place)."""
    if rng.random() < 0.3:
        hits = rng.integers(0, flux.size, rng.poisson(3) + 1)
        flux[hits] += sigma * rng.uniform(5.0, 50.0, hits.size)


# ------------------------------------------------------------------------------------------- K2

#: BKJD of the first cadence of K2 campaigns 1-4 (those K2VARCAT labels, with campaign 0).
K2_CAMPAIGN_STARTS: dict[int, float] = {1: 1975.17, 2: 2060.27, 3: 2144.07, 4: 2229.14}


def _k2_time_grid(rng: np.random.Generator, duration: float, cadence: float):
    """K2 sampling: the cadence grid, the kept-cadence mask and the thruster-firing times (relative
    days). Cadences at a firing are flagged and dropped, as a default quality mask would do."""
    rel = np.arange(int(duration / cadence)) * cadence
    # The roll is checked on a fixed ~5.9-h schedule; when the drift is still small a check is skipped
    # and the next firing comes ~12 h after the last.
    n_checks = int(duration / K2_THRUSTER_INTERVAL_DAYS) + 2
    checks = rng.uniform(0.0, K2_THRUSTER_INTERVAL_DAYS) + K2_THRUSTER_INTERVAL_DAYS * np.arange(n_checks)
    fired = rng.random(n_checks) >= 0.08
    firings = checks[fired]
    keep = rng.random(rel.size) >= 0.01  # isolated flagged cadences (reaction-wheel desaturations, ...)
    index = np.searchsorted(rel, firings)  # the cadence integrating over the firing ...
    keep[index[index < rel.size]] = False
    nxt = index + 1  # ... and, half the time, the next one as well (flag windows straddle the firing)
    second = (rng.random(index.size) < 0.5) & (nxt < rel.size)
    keep[nxt[second]] = False
    if duration > 60.0 and rng.random() < 0.7:  # mid-campaign data downlink
        start = rng.uniform(0.45, 0.55) * duration
        keep &= (rel < start) | (rel >= start + rng.uniform(0.5, 1.5))
    keep |= keep.sum() < 3  # keep something rather than emit an empty curve
    campaign = int(rng.integers(1, 5))
    return K2_CAMPAIGN_STARTS[campaign] + rel, keep, firings, campaign


def _k2_systematics(rng: np.random.Generator, rel: np.ndarray, firings: np.ndarray,
                    duration: float) -> np.ndarray:
    """Roll-drift sawtooth reset at each firing, on a slow velocity-aberration trend.

    Between firings the spacecraft rolls steadily, the star slides across pixels of uneven
    sensitivity and the aperture loses or gains flux smoothly (linear plus quadratic in the roll);
    each firing snaps it back. The sensitivity slope itself wanders over the campaign as the star
    drifts across the detector.
    """
    last = np.searchsorted(firings, rel, side="right") - 1
    since = rel - np.where(last >= 0, firings[np.maximum(last, 0)], rel[0] - 0.5 * K2_THRUSTER_INTERVAL_DAYS)
    roll = since / K2_THRUSTER_INTERVAL_DAYS  # 0 right after a firing, ~1 (or ~2 after a skip) before the next
    amp = _loguniform(rng, 3e-4, 5e-3)  # raw K2 apertures: 0.03-0.5% sawteeth
    wander = 1.0 + 0.4 * np.sin(_TWO_PI * rel / rng.uniform(20.0, 60.0) + rng.uniform(0.0, _TWO_PI))
    sawtooth = amp * wander * (roll + rng.normal(0.0, 0.4) * roll**2) * rng.choice([-1.0, 1.0])
    x = rel / max(duration, 1.0)
    trend = rng.normal(0.0, 1.0, 3) @ np.vstack([np.ones_like(x), x, x**2]) * _loguniform(rng, 2e-4, 3e-3)
    return sawtooth + trend


def _simulate_one_k2(rng: np.random.Generator, label: str, duration: float, cadence: float):
    t, keep, firings, _ = _k2_time_grid(rng, duration, cadence)
    rel = t - t[0]
    signal, period = _K2_CLASS_MODELS[label](rng, rel, 0.5 / cadence)
    signal = signal / np.median(signal)
    amplitude = float(np.ptp(signal))
    kepmag = 10.0 + 7.0 * np.sqrt(rng.random())  # K2 targets reach Kp ~17
    # Pointing jitter roughly doubles white noise over Kepler's at the same magnitude.
    sigma = 2.0 * _noise_sigma(kepmag) * rng.lognormal(0.0, 0.15)
    flux = signal * (1.0 + _k2_systematics(rng, rel, firings, duration)) + rng.normal(0.0, sigma, t.size)
    _cosmic_rays(rng, flux, sigma)
    err = sigma * np.clip(rng.normal(1.0, 0.05, t.size), 0.8, 1.2)
    return t[keep], flux[keep], err[keep], period, amplitude, kepmag


# ------------------------------------------------------------------------------- shared driver

def _class_counts(n_objects: int, class_fractions: Mapping[str, float] | None,
                  classes: tuple[str, ...] = KEPLER_CLASSES,
                  default: Mapping[str, float] = DEFAULT_CLASS_FRACTIONS) -> dict[str, int]:
    fractions = default if class_fractions is None else class_fractions
    unknown = sorted(set(fractions) - set(classes))
    if unknown:
        raise ValueError(
            f"class_fractions: unknown class(es) {unknown}; expected a subset of {classes}")
    names = [c for c in classes if c in fractions]
    weights = np.array([float(fractions[c]) for c in names])
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            f"class_fractions: weights must be finite and non-negative, got {dict(fractions)}")
    if weights.sum() <= 0:
        raise ValueError(
            "class_fractions: weights sum to zero; give at least one class a positive weight")
    quota = n_objects * weights / weights.sum()
    counts = np.floor(quota).astype(int)
    # Largest remainder; the stable sort breaks ties in class order.
    counts[np.argsort(-(quota - counts), kind="stable")[: n_objects - counts.sum()]] += 1
    return dict(zip(names, counts.tolist()))


def _check_arguments(n_objects, seed, duration_days, cadence_days) -> None:
    if isinstance(n_objects, bool) or not isinstance(n_objects, (int, np.integer)) or n_objects < 1:
        raise ValueError(f"n_objects must be an integer >= 1, got {n_objects!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not np.isfinite(duration_days) or duration_days < 1:
        raise ValueError(f"duration_days must be >= 1, got {duration_days!r}")
    if not np.isfinite(cadence_days) or not 0 < cadence_days < duration_days / 2:
        raise ValueError(
            f"cadence_days must be > 0 and below duration_days / 2, got {cadence_days!r}")


def _simulate_set(n_objects: int, seed: int, counts: dict[str, int], one: Callable, duration: float,
                  cadence: float, id_prefix: str) -> SimulatedSet:
    root = np.random.SeedSequence(int(seed))
    labels = np.random.default_rng(root).permutation(np.repeat(list(counts), list(counts.values())))
    ids = [f"{id_prefix}-{i:07d}" for i in range(n_objects)]
    children = root.spawn(n_objects)  # child i is the same whatever n_objects is
    rows = [one(np.random.default_rng(child), str(label), duration, cadence)
            for child, label in zip(children, labels)]
    times, fluxes, errs, periods, amps, mags = zip(*rows)

    offsets = pa.array(np.r_[0, np.cumsum([len(x) for x in times])].astype(np.int32))

    def column(parts, dtype):
        return pa.ListArray.from_arrays(offsets, pa.array(np.concatenate(parts).astype(dtype)))

    table = pa.Table.from_arrays(
        [pa.array(ids, pa.string()), pa.array(labels.tolist(), pa.string()),
         column(times, np.float64), column(fluxes, np.float32), column(errs, np.float32)],
        schema=LIGHTCURVE_SCHEMA,
    )
    objects = pd.DataFrame({"object_id": ids, "label": labels.tolist(), "period": np.array(periods, float),
                            "amplitude": np.array(amps), "kepmag": np.array(mags)})
    return SimulatedSet(lightcurves=table, objects=objects)


def simulate_kepler(
    n_objects: int,
    seed: int = 0,
    class_fractions: Mapping[str, float] | None = None,
    duration_days: float = 90.0,
    cadence_days: float = KEPLER_LC_CADENCE_DAYS,
    id_prefix: str = "SIM",
) -> SimulatedSet:
    """Simulate Kepler long-cadence light curves of the six StarWhisper classes.

    Parameters
    ----------
    n_objects : int
        Number of light curves, >= 1.
    seed : int, default 0
        Non-negative seed; the same seed gives bitwise identical output.
    class_fractions : Mapping[str, float], optional
        Non-negative weights over any subset of ``KEPLER_CLASSES`` (normalised here); default
        ``DEFAULT_CLASS_FRACTIONS``. Per-class counts use largest-remainder rounding, so they sum
        to ``n_objects`` exactly.
    duration_days : float, default 90.0
        Length of the observing window (one Kepler quarter), >= 1.
    cadence_days : float, default ``KEPLER_LC_CADENCE_DAYS``
        Sampling interval, > 0 and shorter than the window.
    id_prefix : str, default "SIM"
        Object ids are ``f"{id_prefix}-{i:07d}"``.

    Returns
    -------
    SimulatedSet
        The light-curve table (``LIGHTCURVE_SCHEMA``, rows in shuffled class order) and the
        per-object truth table.

    Raises
    ------
    ValueError
        If an argument is out of range or ``class_fractions`` names an unknown class.
    """
    _check_arguments(n_objects, seed, duration_days, cadence_days)
    counts = _class_counts(int(n_objects), class_fractions)
    return _simulate_set(int(n_objects), int(seed), counts, _simulate_one, float(duration_days),
                         float(cadence_days), id_prefix)


def simulate_k2(
    n_objects: int,
    *,
    seed: int = 0,
    class_fractions: Mapping[str, float] | None = None,
    duration_days: float = 80.0,
    cadence_days: float = KEPLER_LC_CADENCE_DAYS,
    id_prefix: str = "K2SIM",
) -> SimulatedSet:
    """Simulate raw K2 long-cadence light curves of the K2VARCAT classes.

    Each curve is one campaign (time in BKJD from the start of campaign 1, 2, 3 or 4) with the K2
    systematics a classifier must learn to ignore: a roll-drift sawtooth reset at every thruster
    firing (about every :data:`K2_THRUSTER_INTERVAL_DAYS`, sometimes one interval skipped), the one
    or two cadences at each firing dropped as flagged, a mid-campaign downlink gap, a slow trend,
    and twice Kepler's white noise. Classes (:data:`K2_CLASSES`): DSCUT (p modes) and GDOR (g modes)
    as in :func:`simulate_kepler`; RRab (OGLE-III periods and amplitudes); EA (detached eclipses) and
    EB (contact / ellipsoidal) with Catalina EA and EW periods and amplitudes; OTHPER (spotted
    rotators with evolving spots, Catalina Rot periods of 1-25 d); Noise (no stellar signal, period
    NaN, amplitude 0).

    Parameters
    ----------
    n_objects : int
        Number of light curves, >= 1.
    seed : int, default 0
        Non-negative seed; the same seed gives bitwise identical output.
    class_fractions : Mapping[str, float], optional
        Non-negative weights over any subset of ``K2_CLASSES``; default
        ``K2_DEFAULT_CLASS_FRACTIONS``. Counts use largest-remainder rounding, as in
        :func:`simulate_kepler`.
    duration_days : float, default 80.0
        Length of the campaign, >= 1.
    cadence_days : float, default ``KEPLER_LC_CADENCE_DAYS``
        Sampling interval (K2 long cadence is Kepler's), > 0 and shorter than the window.
    id_prefix : str, default "K2SIM"
        Object ids are ``f"{id_prefix}-{i:07d}"``.

    Returns
    -------
    SimulatedSet
        The light-curve table and the truth table (``kepmag`` is the Kepler-band magnitude, 10-17).

    Raises
    ------
    ValueError
        If an argument is out of range or ``class_fractions`` names an unknown class.
    """
    _check_arguments(n_objects, seed, duration_days, cadence_days)
    counts = _class_counts(int(n_objects), class_fractions, K2_CLASSES, K2_DEFAULT_CLASS_FRACTIONS)
    return _simulate_set(int(n_objects), int(seed), counts, _simulate_one_k2, float(duration_days),
                         float(cadence_days), id_prefix)
