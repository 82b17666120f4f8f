"""Classical light-curve features: a fixed-length vector for tree models, from the curve alone.

The classic hand-crafted set (Richards et al. 2011; Debosscher et al. 2007): period and its
Lomb–Scargle power, amplitude and flux-percentile ratios, moments, variability indices (Stetson K,
von Neumann eta), a Fourier decomposition at the period (R21, R31, phi21, phi31), sampling and
noise descriptors — plus a few cheap shape statistics that separate contact binaries from spotted
rotators and pulsators: the odd/even test of :func:`lcml.features.period.resolve_double_period`,
the fold's mirror asymmetry, how much narrower minima are than maxima, the depth of a secondary
minimum and the difference of the maxima around it, and how coherent the fold is over the whole
baseline (spots evolve; eclipses do not); and the strongest signal left once the period is
prewhitened (:func:`lcml.features.period.secondary_frequency`): the second mode of double-mode
RR Lyrae and multi-mode delta Scuti stars, the side peaks of Blazhko stars.

Inputs are in flux units (bright = high): convert magnitudes upstream
(``flux = 10 ** (-0.4 * (mag - median(mag)))``, ``flux_err = flux * mag_err * ln(10) / 2.5``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

import numpy as np

from lcml.features.parallel import in_processes
from lcml.features.period import (
    DEFAULT_BACKEND,
    Backend,
    SecondaryFrequency,
    find_period,
    fourier_shape,
    harmonic_chi2,
    harmonic_fit,
    is_flat,
    minimum_narrowness,
    resolve_double_period,
    secondary_frequency,
)
from lcml.features.shape import (  # noqa: F401 - moved there; read here too
    _fourier_params, _secondary_minimum, _series, _stetson_k,
)

FEATURE_NAMES: tuple[str, ...] = (
    # period search
    "log10_period",          # days, after the double-period resolution
    "ls_power",              # one-term LS power of the chosen peak (0..1)
    "period_doubled",        # 1 when the period is twice the LS peak (binary at half its orbit)
    "double_significance",   # -log10 p: halves of the fold at 2x the LS period differ
    "double_excess",         # that significance minus the same test at 3x (noise control)
    # amplitude and distribution of the flux
    "amplitude",             # 95th - 5th percentile of flux / median flux
    "log10_amplitude",
    "std",
    "mad",                   # median absolute deviation from the median
    "skew",
    "kurtosis",              # excess kurtosis
    "beyond1std",            # fraction of points more than 1 std from the weighted mean
    "median_position",       # (median - p5) / (p95 - p5): low for dips (EA), high for bursts
    "fpr_mid20",             # flux percentile ratios (p60-p40)/(p95-p5) ...
    "fpr_mid35",
    "fpr_mid50",
    "fpr_mid65",
    "fpr_mid80",             # ... (p90-p10)/(p95-p5)
    # variability indices
    "stetson_k",
    "von_neumann_eta",       # mean squared successive difference / variance
    # Fourier decomposition at the period
    "fourier_amplitude",     # peak-to-peak of the fitted series / median flux
    "fold_r2",               # variance fraction the fit explains (coherence over the baseline)
    "r21",
    "r31",
    "phi21",                 # sine convention, flux units, in [0, 2 pi)
    "phi31",
    # shape at the LS period (before doubling): binaries vs rotators vs pulsators
    "asymmetry",             # mirror asymmetry about the minimum / amplitude
    "faint_fraction",        # fraction of the cycle below mid-amplitude
    "minimum_narrowness",    # -c2 / A1: minima narrower than maxima when > 0
    # eclipses in the fold at the final period
    "secondary_depth_ratio", # secondary / primary minimum depth (0: no secondary minimum)
    "maxima_difference",     # difference of the two maxima between them / range (O'Connell effect)
    # sampling and noise
    "n_points",
    "baseline_days",
    "median_err_over_amplitude",
    # the strongest signal left after prewhitening the LS period (appended last: models trained
    # before they existed read the first columns only, see lcml.families.baseline)
    "second_period_ratio",   # log10(P2 / P1); 0.128 for double-mode RR Lyrae
    "second_power",          # LS power of the residuals at P2
    "second_amplitude_ratio",
    "second_distance",       # |f2 / f1 - 1|: Blazhko side peaks sit close to f1
    "residual_scatter",      # std of the residuals / peak-to-peak of the fit at P1
)

_N = len(FEATURE_NAMES)
_MIN_AMPLITUDE = 1e-6  # floor for log10_amplitude (a flat curve)
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def clean_light_curve(
    time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None = None, *, time_outlier_iqr: float = 100.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Finite, time-sorted points in median-normalised flux.

    Drops non-finite values, non-positive errors, and timestamps further than ``time_outlier_iqr``
    times the interquartile range of the times (at least 1 day) from their median: survey exports
    carry the odd corrupt epoch (Catalina SSS has an MJD of -2,409,998.5), which would otherwise
    stretch the baseline and the period grid a thousandfold. Flux and errors are divided by the
    median flux when it is positive, so amplitudes are relative. ``flux_err=None`` gives unit
    errors (equal weights).
    """
    t = np.asarray(time, float).ravel()
    f = np.asarray(flux, float).ravel()
    if t.shape != f.shape:
        raise ValueError(f"time and flux differ in length ({t.size} vs {f.size})")
    e = np.ones_like(f) if flux_err is None else np.asarray(flux_err, float).ravel()
    if e.shape != f.shape:
        raise ValueError(f"time and flux_err differ in length ({t.size} vs {e.size})")
    ok = np.isfinite(t) & np.isfinite(f) & np.isfinite(e) & (e > 0)
    t, f, e = t[ok], f[ok], e[ok]
    if t.size >= 4:
        q25, q50, q75 = np.percentile(t, [25, 50, 75])
        keep = np.abs(t - q50) <= time_outlier_iqr * max(q75 - q25, 1.0)
        t, f, e = t[keep], f[keep], e[keep]
    order = np.argsort(t, kind="stable")
    t, f, e = t[order], f[order], e[order]
    med = float(np.median(f)) if f.size else 1.0
    if med > 0:
        f, e = f / med, e / med
    return t, f, e


def baseline_features(
    time: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray | None = None,
    *,
    min_period: float,
    max_period: float,
    oversample: float = 5.0,
    backend: Backend = DEFAULT_BACKEND,
    fourier_terms: int = 4,
    search_terms: int = 3,
    n_candidates: int = 5,
    period: float | None = None,
    prewhiten: bool = True,
    coarse: float | None = None,
) -> np.ndarray:
    """Feature vector of one light curve, ordered as :data:`FEATURE_NAMES`.

    Parameters
    ----------
    time, flux, flux_err
        One light curve in flux units (see the module docstring); cleaned with
        :func:`clean_light_curve` (non-finite points and corrupt timestamps dropped, flux
        normalised to its median).
    min_period, max_period, oversample
        Period-search grid (:func:`lcml.features.period.frequency_grid`).
    backend
        Periodogram backend (:data:`~lcml.features.periodogram.BACKENDS`; ``"auto"``: the GPU when present).
    fourier_terms
        Harmonics of the Fourier decomposition at the period (R31/phi31 are 0 below 3).
    search_terms, n_candidates
        Harmonics and candidate peaks of :func:`lcml.features.period.find_period`.
    period
        Use this period (days) instead of searching, e.g. a catalog period for a reference
        experiment. ``ls_power`` is then the one-term power at it; the double-period statistics
        test twice this period and ``period_doubled`` is 0.
    prewhiten
        Search the residuals for a second period (the ``second_*`` and ``residual_scatter``
        features). Off for curves that are already phase-folded, which hold one period by
        construction; those features are then 0.

    Returns
    -------
    numpy.ndarray
        ``float64`` vector of ``len(FEATURE_NAMES)`` values, all finite. A constant curve gives
        zero amplitude, moments, indices and Fourier terms (and whatever period the empty
        periodogram starts at); 3 to ~20 points give finite but noisy values.

    Raises
    ------
    ValueError
        Fewer than 3 finite points, a curve spanning no time, mismatched lengths, a non-positive
        ``period``, or an invalid period range or backend.
    """
    if fourier_terms < 1:
        raise ValueError(f"fourier_terms must be >= 1, got {fourier_terms}")
    if period is not None and not period > 0:
        raise ValueError(f"period must be positive, got {period}")
    t, f, e = clean_light_curve(time, flux, flux_err)
    n = t.size
    if n < 3:
        raise ValueError(f"light curve has {n} finite points; at least 3 are needed")
    if not t[-1] > t[0]:
        raise ValueError("light curve spans no time")
    out = np.zeros(_N)

    # Weighted mean and variance: the variability indices compare scatter with the errors.
    w = 1.0 / e**2
    w /= w.sum()
    mean = float(np.sum(w * f))
    std = float(np.std(f))
    p5, p10, p17, p25, p32, p40, p50, p60, p67, p75, p82, p90, p95 = np.percentile(
        f, [5, 10, 17.5, 25, 32.5, 40, 50, 60, 67.5, 75, 82.5, 90, 95])
    amplitude = float(p95 - p5)

    if is_flat(f):
        # Nothing varies: every shape statistic would describe round-off. Report the period the
        # empty periodogram gives (deterministic) and neutral values for the rest.
        out[_INDEX["log10_period"]] = np.log10(period if period is not None else find_period(
            t, f, e, min_period=min_period, max_period=max_period, oversample=oversample, backend=backend,
            resolve_double=False, coarse=coarse).period)
        out[_INDEX["log10_amplitude"]] = np.log10(_MIN_AMPLITUDE)
        for name in ("median_position", "faint_fraction"):
            out[_INDEX[name]] = 0.5
        out[_INDEX["n_points"]], out[_INDEX["baseline_days"]] = n, t[-1] - t[0]
        return out

    if period is None:
        found = find_period(t, f, e, min_period=min_period, max_period=max_period, oversample=oversample,
                            backend=backend, n_candidates=n_candidates, nterms=search_terms,
                            resolve_double=False, coarse=coarse)
        base_period, ls_power = found.period, found.power
        verdict = resolve_double_period(t, f, base_period, e, nterms=search_terms)
        final_period, doubled = verdict.period, verdict.doubled
    else:
        base_period = final_period = float(period)
        chi0 = float(harmonic_chi2(t, f, e, np.array([1.0 / base_period]), 0)[0])
        chi1 = float(harmonic_chi2(t, f, e, np.array([1.0 / base_period]), 1)[0])
        ls_power = 1.0 - chi1 / chi0 if chi0 > 0 else 0.0
        verdict = resolve_double_period(t, f, base_period, e, nterms=search_terms)
        doubled = False

    # Fourier decomposition at the final period, and the fit's share of the variance.
    beta, rss = harmonic_fit(t, f, e, 1.0 / final_period, fourier_terms)
    rss0 = float(np.sum(w * (f - mean) ** 2))
    r21, r31, phi21, phi31 = _fourier_params(beta, fourier_terms)
    fitted = _series(beta, fourier_terms, 400)
    fourier_amplitude = float(fitted.max() - fitted.min())

    secondary, max_diff = _secondary_minimum(beta, fourier_terms)

    # Shape at the searched period before doubling: an EW found at half its orbit shows one
    # symmetric, narrow minimum there, which is what tells it from a rotator or pulsator.
    beta_base, _, cov_base = harmonic_fit(t, f, e, 1.0 / base_period, search_terms, covariance=True)
    asymmetry, faint = fourier_shape(beta_base, search_terms)
    narrowness, _ = minimum_narrowness(beta_base, cov_base, search_terms)
    second = (secondary_frequency(t, f, base_period, e, nterms=fourier_terms, oversample=oversample,
                                  backend=backend, coarse=coarse) if prewhiten else SecondaryFrequency(0.0, 0.0, 0.0, 0.0, 0.0))

    values = {
        "log10_period": np.log10(final_period),
        "ls_power": ls_power,
        "period_doubled": float(doubled),
        "double_significance": verdict.significance,
        "double_excess": verdict.significance - verdict.control,
        "amplitude": amplitude,
        "log10_amplitude": np.log10(max(amplitude, _MIN_AMPLITUDE)),
        "std": std,
        "mad": float(np.median(np.abs(f - p50))),
        "skew": float(np.mean((f - f.mean()) ** 3) / std**3) if std > 0 else 0.0,
        "kurtosis": float(np.mean((f - f.mean()) ** 4) / std**4 - 3.0) if std > 0 else 0.0,
        "beyond1std": float(np.mean(np.abs(f - mean) > std)) if std > 0 else 0.0,
        "median_position": (p50 - p5) / amplitude if amplitude > 0 else 0.5,
        "fpr_mid20": (p60 - p40) / amplitude if amplitude > 0 else 0.0,
        "fpr_mid35": (p67 - p32) / amplitude if amplitude > 0 else 0.0,
        "fpr_mid50": (p75 - p25) / amplitude if amplitude > 0 else 0.0,
        "fpr_mid65": (p82 - p17) / amplitude if amplitude > 0 else 0.0,
        "fpr_mid80": (p90 - p10) / amplitude if amplitude > 0 else 0.0,
        "stetson_k": _stetson_k(f, e, mean),
        "von_neumann_eta": float(np.mean(np.diff(f) ** 2) / std**2) if std > 0 else 0.0,
        "fourier_amplitude": fourier_amplitude,
        "fold_r2": 1.0 - rss / rss0 if rss0 > 0 else 0.0,
        "r21": r21,
        "r31": r31,
        "phi21": phi21,
        "phi31": phi31,
        "asymmetry": asymmetry,
        "faint_fraction": faint,
        "minimum_narrowness": narrowness,
        "secondary_depth_ratio": secondary,
        "maxima_difference": max_diff,
        "n_points": float(n),
        "baseline_days": float(t[-1] - t[0]),
        "median_err_over_amplitude": float(np.median(e) / amplitude) if amplitude > 0 else 0.0,
        "second_period_ratio": second.log10_period_ratio,
        "second_power": second.power,
        "second_amplitude_ratio": second.amplitude_ratio,
        "second_distance": second.distance,
        "residual_scatter": second.residual_scatter,
    }
    for name, value in values.items():
        out[_INDEX[name]] = value
    # Near-singular fits on a handful of points can overflow a ratio; the contract is finiteness.
    return np.nan_to_num(out, nan=0.0, posinf=1e6, neginf=-1e6)


def _features_chunk(curves: list, periods: list | None, kwargs: dict) -> np.ndarray:
    if periods is None:
        periods = [None] * len(curves)
    rows = [baseline_features(*curve, period=p, **kwargs) for curve, p in zip(curves, periods)]
    return np.stack(rows) if rows else np.zeros((0, _N))


def _tasks(
    curves: Iterable, periods: Iterable[float] | None, size: int, kwargs: dict
) -> Iterator[tuple[list, list | None, dict]]:
    curve_it = iter(curves)
    period_it = None if periods is None else iter(periods)
    while True:
        chunk = list(islice(curve_it, size))
        if not chunk:
            return
        chunk_periods = None
        if period_it is not None:
            chunk_periods = [float(p) for p in islice(period_it, len(chunk))]
            if len(chunk_periods) != len(chunk):
                raise ValueError("periods is shorter than curves")
        yield chunk, chunk_periods, kwargs


def baseline_matrix(
    curves: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    *,
    min_period: float,
    max_period: float,
    oversample: float = 5.0,
    backend: Backend = DEFAULT_BACKEND,
    fourier_terms: int = 4,
    search_terms: int = 3,
    n_candidates: int = 5,
    periods: Iterable[float] | None = None,
    prewhiten: bool = True,
    coarse: float | None = None,
    n_jobs: int = 1,
    chunk_size: int = 64,
) -> np.ndarray:
    """Stack :func:`baseline_features` over many curves: ``(N, len(FEATURE_NAMES))`` float64.

    Parameters
    ----------
    curves
        ``(time, flux, flux_err)`` triples in flux units; ``flux_err`` may be None.
    min_period, max_period, oversample, backend, fourier_terms, search_terms, n_candidates, prewhiten, coarse
        As :func:`baseline_features`.
    periods
        Optional known period per curve (same order), passed as ``period=``.
    n_jobs
        Worker processes (:func:`lcml.features.parallel.in_processes`; ``-1``: all CPUs). 1 runs in
        this process. Each worker runs its NUFFTs on one thread, so ``n_jobs`` is the number of cores.
    chunk_size
        Curves per task sent to a worker.

    Raises
    ------
    ValueError
        As :func:`baseline_features`, for the first curve that fails.
    """
    kwargs = dict(min_period=min_period, max_period=max_period, oversample=oversample, backend=backend,
                  fourier_terms=fourier_terms, search_terms=search_terms, n_candidates=n_candidates,
                  prewhiten=prewhiten, coarse=coarse)
    tasks = _tasks(curves, periods, chunk_size, kwargs)
    if n_jobs == 1:  # chunk by chunk: the curves are never all in a list at once
        parts = [_features_chunk(*task) for task in tasks]
    else:
        parts = in_processes(_features_chunk, tasks, n_jobs)
    return np.concatenate(parts) if parts else np.zeros((0, _N))
