"""Simulator v1 of Kepler long-cadence light curves for the StarWhisper Kepler classes.

This is the embedded default data source (demo and tests), so it trades astrophysical detail for
speed: every object is built with a handful of vectorised NumPy operations on its own time grid,
and everything is derived from ``seed``. Each object draws from its own child of
``SeedSequence(seed)``, so object ``i`` is the same whatever ``n_objects`` is (only the shuffled
class assignment depends on ``n_objects``).

Amplitudes are those *recorded* at long cadence: integration smearing of fast p modes is not
modelled separately, it is folded into the amplitude draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from lcml.data.schema import LIGHTCURVE_SCHEMA

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

_TWO_PI = 2.0 * np.pi
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
        period, orbital period for EB), ``amplitude`` (peak-to-peak relative flux of the
        noise-free signal over the observing window), ``kepmag``.
    """

    lightcurves: pa.Table
    objects: pd.DataFrame


def _loguniform(rng: np.random.Generator, lo: float, hi: float, size: int | None = None):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _fold(freq, nyquist: float):
    """Frequency as seen below the Nyquist frequency of a regular grid."""
    return np.abs(freq - 2.0 * nyquist * np.round(freq / (2.0 * nyquist)))


def _sines(t: np.ndarray, freqs: np.ndarray, amps: np.ndarray, rng: np.random.Generator):
    phases = rng.uniform(0.0, _TWO_PI, len(freqs))
    return amps @ np.sin(_TWO_PI * freqs[:, None] * t[None, :] + phases[:, None])


def _fourier_mag(phase: np.ndarray, ratios: np.ndarray, phik1: np.ndarray, rng, ptp_mag: float):
    """Magnitude curve from Fourier ratios R_k1 and phase differences phi_k1 (sine series)."""
    k = np.arange(1, len(ratios) + 1)
    phis = phik1 + k * rng.uniform(0.0, _TWO_PI)
    grid = np.linspace(0.0, 1.0, 512, endpoint=False)
    shape = ratios @ np.sin(_TWO_PI * k[:, None] * grid[None, :] + phis[:, None])
    scale = ptp_mag / np.ptp(shape)  # so the drawn amplitude is the true peak-to-peak
    return (scale * ratios) @ np.sin(_TWO_PI * k[:, None] * phase[None, :] + phis[:, None])


def _rr(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    if rng.random() < 0.75:
        # RRab: geometric R_k1 and phi_k1 ~ 2.45 (k-1) in the sine convention reproduce the Kepler
        # RRab locus (phi21 ~ 2.4, phi31 ~ 5.0): a rise taking about a quarter of the cycle or less.
        period = rng.uniform(0.45, 0.8)
        k = np.arange(8)
        ratios = rng.uniform(0.45, 0.6) ** k
        phik1 = 2.45 * k + np.r_[0.0, rng.normal(0.0, 0.1, 7)]
        ptp_mag = rng.uniform(0.5, 1.0)
        blazhko = rng.random() < 0.4
    else:
        period = rng.uniform(0.25, 0.42)
        ratios = np.array([1.0, rng.uniform(0.05, 0.2), rng.uniform(0.02, 0.08)])
        phik1 = np.array([0.0, 4.8, 3.3]) + np.r_[0.0, rng.normal(0.0, 0.2, 2)]
        ptp_mag = rng.uniform(0.3, 0.55)
        blazhko = rng.random() < 0.1
    phase = t / period
    gain = 1.0
    if blazhko:
        p_b = _loguniform(rng, 20.0, 200.0)
        psi = rng.uniform(0.0, _TWO_PI, 2)
        phase = phase + rng.uniform(0.0, 0.03) * np.sin(_TWO_PI * t / p_b + psi[0])
        gain = 1.0 + rng.uniform(0.05, 0.3) * np.sin(_TWO_PI * t / p_b + psi[1])
    mag = gain * _fourier_mag(phase, ratios, phik1, rng, ptp_mag)
    return 10.0 ** (-0.4 * mag), period


def _t2cep(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    period = _loguniform(rng, 1.0, 4.0) if rng.random() < 0.5 else _loguniform(rng, 4.0, 20.0)
    # Strong 3rd-5th harmonics at random phase differences give the asymmetric, bumped shapes of
    # BL Her / W Vir stars.
    ratios = np.array([1.0, *rng.uniform([0.2, 0.1, 0.05, 0.02], [0.5, 0.3, 0.15, 0.08])])
    phik1 = np.r_[0.0, rng.normal(3.0, 0.5), rng.uniform(0.0, _TWO_PI, 3)]
    mag = _fourier_mag(t / period, ratios, phik1, rng, rng.uniform(0.3, 1.0))
    return 10.0 ** (-0.4 * mag), period


def _p_modes(rng, n: int, f_top: float, a_top: float, avoid: np.ndarray, nyquist: float):
    """``n`` p modes in 5-50 c/d led by ``f_top``; the others weaker and, once folded below
    Nyquist, clear of ``avoid`` (so the leading peak stays unblended)."""
    cand = rng.uniform(5.0, 50.0, 8 * n)
    clear = np.all(np.abs(_fold(cand, nyquist)[:, None] - _fold(avoid, nyquist)[None, :]) > 0.15, 1)
    freqs = np.r_[f_top, cand[clear][: n - 1]]
    return freqs, a_top * np.r_[1.0, rng.uniform(0.1, 0.7, len(freqs) - 1)]


def _g_modes(rng, n: int, f_top: float, a_top: float):
    """``n`` g modes around ``f_top`` on a period-spacing ladder (closely spaced, so they beat)."""
    dpi = rng.uniform(0.02, 0.05)  # asymptotic l=1 period spacing, ~3000 s
    orders = rng.choice(np.r_[-4:0, 1:5], n - 1, replace=False)
    freqs = 1.0 / (1.0 / f_top + orders * dpi * rng.normal(1.0, 0.05, n - 1))
    # Neighbours stay resolvable in a quarter (> 1.35 / 90 d) and at most half as strong, so that
    # ``period`` is still what a quarter's periodogram peaks at.
    freqs = np.r_[f_top, freqs[(freqs > 0.3) & (freqs < 3.0) & (np.abs(freqs - f_top) > 0.015)]]
    return freqs, a_top * np.r_[1.0, rng.uniform(0.1, 0.5, len(freqs) - 1)]


def _dsct(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    f_top = _loguniform(rng, 8.0, 30.0)
    freqs, amps = _p_modes(rng, rng.integers(2, 7), f_top, _loguniform(rng, 0.002, 0.05),
                           np.array([f_top]), nyquist)
    return 1.0 + _sines(t, freqs, amps, rng), 1.0 / f_top


def _gdor(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    f_top = _loguniform(rng, 0.3, 3.0)
    freqs, amps = _g_modes(rng, rng.integers(2, 7), f_top, _loguniform(rng, 0.5e-3, 20e-3))
    return 1.0 + _sines(t, freqs, amps, rng), 1.0 / f_top


def _hyb(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    a_top = _loguniform(rng, 1e-3, 20e-3)
    a_g, a_p = (a_top, a_top * rng.uniform(0.3, 0.7))
    if rng.random() < 0.5:
        a_g, a_p = a_p, a_top
    f_g, f_p = _loguniform(rng, 0.3, 3.0), _loguniform(rng, 8.0, 30.0)
    fg, ag = _g_modes(rng, rng.integers(2, 5), f_g, a_g)
    fp, ap = _p_modes(rng, rng.integers(2, 5), f_p, a_p, np.r_[f_p, fg], nyquist)
    freqs, amps = np.r_[fg, fp], np.r_[ag, ap]
    return 1.0 + _sines(t, freqs, amps, rng), 1.0 / (f_g if a_g >= a_p else f_p)


def _eb(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    if rng.random() < 0.3:
        # Contact / ellipsoidal: two unequal minima per orbit plus a small O'Connell asymmetry.
        period = _loguniform(rng, 0.25, 1.0)
        phase = t / period + rng.random()
        amp = rng.uniform(0.05, 0.4)
        flux = (1.0 - amp * 0.5 * (1.0 + np.cos(2.0 * _TWO_PI * phase))
                - amp * rng.uniform(0.02, 0.15) * 0.5 * (1.0 + np.cos(_TWO_PI * phase))
                + amp * rng.uniform(-0.03, 0.03) * np.sin(_TWO_PI * phase))
        return flux, period
    period = _loguniform(rng, 0.25, 20.0)
    phase = t / period + rng.random()
    depth1 = rng.uniform(0.02, 0.5)
    depth2 = depth1 * rng.uniform(0.0, 0.8)
    # Eclipse width in phase ~ (R1 + R2) / a and a ~ P^(2/3) (Kepler's third law).
    width1 = min(rng.uniform(0.015, 0.035) * period ** (-2.0 / 3.0), 0.1)
    eccentric = period > 1.5 and rng.random() < 0.3
    phase2 = 0.5 + (rng.uniform(-0.08, 0.08) if eccentric else 0.0)
    width2 = width1 * (rng.uniform(0.7, 1.3) if eccentric else rng.uniform(0.9, 1.1))
    beta = rng.uniform(2.0, 4.0)  # >2 flattens the bottom towards a trapezoid
    d1 = (phase + 0.5) % 1.0 - 0.5
    d2 = (phase - phase2 + 0.5) % 1.0 - 0.5
    flux = 1.0 - depth1 * np.exp(-np.abs(d1 / width1) ** beta) - depth2 * np.exp(
        -np.abs(d2 / width2) ** beta)
    if period < 2.0:  # close pairs are tidally distorted
        flux -= rng.uniform(0.0, 0.02) * 0.5 * (1.0 + np.cos(2.0 * _TWO_PI * phase))
    return flux, period


_CLASS_MODELS: dict[str, Callable[..., tuple[np.ndarray, float]]] = {
    "T2CEP": _t2cep, "RR": _rr, "HYB": _hyb, "GDOR": _gdor, "EB": _eb, "DSCT": _dsct,
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
    if rng.random() < 0.3:  # cosmic rays: brief positive spikes
        hits = rng.integers(0, t.size, rng.poisson(3) + 1)
        flux[hits] += sigma * rng.uniform(5.0, 50.0, hits.size)
    err = sigma * np.clip(rng.normal(1.0, 0.05, t.size), 0.8, 1.2)
    return t[keep], flux[keep], err[keep], period, amplitude, kepmag


def _class_counts(n_objects: int, class_fractions: Mapping[str, float] | None) -> dict[str, int]:
    fractions = DEFAULT_CLASS_FRACTIONS if class_fractions is None else class_fractions
    unknown = sorted(set(fractions) - set(KEPLER_CLASSES))
    if unknown:
        raise ValueError(
            f"class_fractions: unknown class(es) {unknown}; expected a subset of {KEPLER_CLASSES}")
    names = [c for c in KEPLER_CLASSES if c in fractions]
    weights = np.array([float(fractions[c]) for c in names])
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            f"class_fractions: weights must be finite and non-negative, got {dict(fractions)}")
    if weights.sum() <= 0:
        raise ValueError(
            "class_fractions: weights sum to zero; give at least one class a positive weight")
    quota = n_objects * weights / weights.sum()
    counts = np.floor(quota).astype(int)
    # Largest remainder; the stable sort breaks ties in KEPLER_CLASSES order.
    counts[np.argsort(-(quota - counts), kind="stable")[: n_objects - counts.sum()]] += 1
    return dict(zip(names, counts.tolist()))


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
    if isinstance(n_objects, bool) or not isinstance(n_objects, (int, np.integer)) or n_objects < 1:
        raise ValueError(f"n_objects must be an integer >= 1, got {n_objects!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not np.isfinite(duration_days) or duration_days < 1:
        raise ValueError(f"duration_days must be >= 1, got {duration_days!r}")
    if not np.isfinite(cadence_days) or not 0 < cadence_days < duration_days / 2:
        raise ValueError(
            f"cadence_days must be > 0 and below duration_days / 2, got {cadence_days!r}")
    counts = _class_counts(int(n_objects), class_fractions)

    root = np.random.SeedSequence(int(seed))
    labels = np.random.default_rng(root).permutation(np.repeat(list(counts), list(counts.values())))
    ids = [f"{id_prefix}-{i:07d}" for i in range(n_objects)]
    children = root.spawn(n_objects)  # child i is the same whatever n_objects is
    rows = [
        _simulate_one(np.random.default_rng(child), str(label), float(duration_days),
                      float(cadence_days))
        for child, label in zip(children, labels)
    ]
    times, fluxes, errs, periods, amps, mags = zip(*rows)

    offsets = pa.array(np.r_[0, np.cumsum([len(x) for x in times])].astype(np.int32))

    def column(parts, dtype):
        return pa.ListArray.from_arrays(offsets, pa.array(np.concatenate(parts).astype(dtype)))

    table = pa.Table.from_arrays(
        [pa.array(ids, pa.string()), pa.array(labels.tolist(), pa.string()),
         column(times, np.float64), column(fluxes, np.float32), column(errs, np.float32)],
        schema=LIGHTCURVE_SCHEMA,
    )
    objects = pd.DataFrame({"object_id": ids, "label": labels.tolist(), "period": np.array(periods),
                            "amplitude": np.array(amps), "kepmag": np.array(mags)})
    return SimulatedSet(lightcurves=table, objects=objects)
