"""Period search: Lomb–Scargle periodogram on an explicit frequency grid.

Two layers:

* :func:`lomb_scargle_period` — the plain highest peak of a one-term Lomb–Scargle periodogram
  (what the folded-curve features have always used).
* :func:`find_period` / :func:`best_periods` — the same periodogram, then the few highest peaks
  re-scored with a multi-harmonic least-squares fit (which picks the true peak over its 1-day and
  yearly aliases for non-sinusoidal shapes), then :func:`resolve_double_period` (which recovers the
  orbital period of eclipsing binaries that Lomb–Scargle finds at half of it).

Three periodogram backends give the same powers on the same grid: ``"nifty"`` (nifty-ls, a
non-uniform FFT; the CPU default, several times faster than astropy), ``"astropy"`` (astropy's
``fast`` method with the ``fasper`` algorithm, a lower-precision extirpolation kept as the reference)
and ``"torch"`` (the exact sums in PyTorch, :mod:`lcml.features.periodogram_torch`: the GPU backend).
The default, ``"auto"``, is torch where a CUDA GPU is present and nifty elsewhere.
Everything is deterministic: no random restarts, no sampling.
"""


from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

# the period search's whole public face, for its readers (features, studies, bench, tests)
from lcml.features.double_period import (  # noqa: F401
    SecondaryFrequency, _f_significance, fourier_shape, is_flat, resolve_double_period, secondary_frequency,
)
from lcml.features.harmonics import (  # noqa: F401
    _weights, harmonic_chi2, harmonic_chi2_around, harmonic_fit, minimum_narrowness,
)
from lcml.features.periodogram import (  # noqa: F401
    BACKENDS, BAND_SPLIT_CPD, Backend, DEFAULT_BACKEND, DoublePeriodVerdict, MAX_GRID_SIZE, PeriodResult,
    _MAX_SIGNIFICANCE, _NIFTY_BATCH, _as_arrays, _band_powers, _check_backend, _peak_candidates, _powers,
    _search_grid, _validated, coarse_pays, coarse_peaks, frequency_grid, lomb_scargle_period, ls_power_at,
    periodogram, resolve_backend,
)


def _select(
    t: np.ndarray,
    y: np.ndarray,
    e: np.ndarray | None,
    grid: np.ndarray,
    power: np.ndarray,
    *,
    n_candidates: int,
    nterms: int,
    resolve_double: bool,
    refine_steps: int = 10,
) -> PeriodResult:
    """Re-score the periodogram's highest peaks with an ``nterms``-harmonic fit, refine the best
    one below the grid spacing, then test its double."""
    low, high = _band_powers(grid, power)
    cands = _peak_candidates(power, n_candidates)
    return _choose(t, y, e, grid[cands], power[cands], float(grid[1] - grid[0]), (float(grid[0]), float(grid[-1])),
                   (low, high), nterms=nterms, resolve_double=resolve_double, refine_steps=refine_steps)


def _choose(
    t: np.ndarray,
    y: np.ndarray,
    e: np.ndarray | None,
    freqs: np.ndarray,
    powers: np.ndarray,
    df: float,
    limits: tuple[float, float],
    bands: tuple[float, float],
    *,
    nterms: int,
    resolve_double: bool,
    refine_steps: int = 10,
) -> PeriodResult:
    """The period among candidate peaks ``freqs`` (highest one-term power first, ``df`` apart on their
    grid, within ``limits``): re-scored by an ``nterms``-harmonic fit, refined, then its double tested."""
    low, high = bands
    if not powers[0] > 0:
        # No signal at all (constant curve): keep the plain answer rather than fit noise.
        return PeriodResult(float(1.0 / freqs[0]), 0.0, low, high)
    offsets = np.linspace(-1.0, 1.0, 2 * refine_steps + 1) * df
    # Each candidate is refined over +-1 grid step: the 1-term peak and the multi-harmonic optimum
    # differ by a fraction of a step, and a 1% period tolerance on long periods is below one step.
    raw = freqs[:, None] + offsets[None, :]
    trial = np.clip(raw, *limits)
    chi2 = harmonic_chi2_around(t, y, e, freqs, offsets, nterms)
    if (edge := np.flatnonzero((trial != raw).any(axis=1))).size:  # a candidate at the grid's edge
        chi2[edge] = harmonic_chi2(t, y, e, trial[edge].ravel(), nterms).reshape(edge.size, -1)
    # Compare candidates by their best refined fit; same number of parameters, so plain chi2.
    best_c = int(np.argmin(chi2.min(axis=1)))
    freq = float(trial[best_c, int(np.argmin(chi2[best_c]))])
    period = 1.0 / freq
    doubled, significance = False, 0.0
    if resolve_double:
        verdict = resolve_double_period(t, y, period, e, nterms=nterms)
        period, doubled, significance = verdict.period, verdict.doubled, verdict.significance
    return PeriodResult(period=float(period), power=float(powers[best_c]), low_band_power=low,
                        high_band_power=high, doubled=doubled, double_significance=significance)


def find_period(
    time: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray | None = None,
    *,
    min_period: float,
    max_period: float,
    oversample: float = 5.0,
    backend: Backend = DEFAULT_BACKEND,
    n_candidates: int = 5,
    nterms: int = 3,
    resolve_double: bool = True,
    nthreads: int = 1,
    coarse: float | None = None,
) -> PeriodResult:
    """Period of one light curve: LS peaks re-scored by a harmonic fit, then the double-period test.

    Parameters
    ----------
    time, flux, flux_err
        One light curve in flux units (bright = high; the binary-shape test of
        :func:`resolve_double_period` reads minima as faint); non-finite points are dropped.
    min_period, max_period, oversample
        Frequency grid, as :func:`frequency_grid`.
    backend
        Periodogram backend (:data:`~lcml.features.periodogram.BACKENDS`; ``"auto"``: the GPU when present).
    n_candidates
        Highest periodogram peaks re-scored: the true peak of a non-sinusoidal curve from a
        ground survey is often second to its 1-day (sidereal) or 1-year alias in one-term power.
    nterms
        Harmonics in the re-scoring fit and the double-period test.
    resolve_double
        Apply :func:`resolve_double_period` to the chosen peak.
    nthreads
        Threads for nifty-ls.
    coarse
        ``None``: the periodogram on the whole grid. A number below ``oversample``: on a grid of
        ``coarse`` points per peak width, its highest peaks refined on the full grid
        (:func:`lcml.features.periodogram.coarse_peaks`); ~``oversample / coarse`` times less work,
        used only where the grid is long for the number of points (:func:`~lcml.features.periodogram.coarse_pays`).

    Returns
    -------
    PeriodResult
        ``power`` is the one-term LS power of the chosen peak (before any doubling).

    Raises
    ------
    ValueError
        Fewer than 3 finite points, zero time span, bad period range or unknown backend.
    """
    _check_backend(backend)
    t, y, e = _validated(time, flux, flux_err, min_period, max_period)
    coarse = coarse if coarse_pays(coarse, oversample, float(t[-1] - t[0]) * oversample / min_period, t.size) else None
    grid = _search_grid(t, min_period, max_period, oversample, coarse)
    if coarse is not None:
        peaks = coarse_peaks(t, y, e, float(grid[0]), float(grid[-1]), oversample=oversample, coarse=coarse,
                             n_peaks=n_candidates, backend=backend, nthreads=nthreads)
        return _choose(t, y, e, peaks.frequencies, peaks.powers, peaks.df, (float(grid[0]), float(grid[-1])),
                       peaks.bands, nterms=nterms, resolve_double=resolve_double)
    power = _powers(t, y, e, grid, backend, nthreads)
    return _select(t, y, e, grid, power, n_candidates=n_candidates, nterms=nterms,
                   resolve_double=resolve_double)


def best_periods(
    curves: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    min_period: float,
    max_period: float,
    oversample: float = 5.0,
    backend: Backend = DEFAULT_BACKEND,
    *,
    n_candidates: int = 5,
    nterms: int = 3,
    resolve_double: bool = True,
    nthreads: int = 1,
) -> list[PeriodResult]:
    """:func:`find_period` for many curves, in input order.

    Curves that share one time array (same cadence after cleaning, e.g. simulated or space-mission
    curves) get their periodograms from one batched nifty-ls call per group of up to 8, which
    amortises the NUFFT plan; curves with their own times (ground surveys) are done one by one.
    Results match :func:`find_period` curve by curve (batched powers agree to ~1e-12). Raises
    ``ValueError`` as :func:`find_period` does, naming the index of the offending curve.
    """
    _check_backend(backend)
    prepared: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    for i, (t, f, e) in enumerate(curves):
        try:
            prepared.append(_validated(t, f, e, min_period, max_period))
            _search_grid(prepared[-1][0], min_period, max_period, oversample)
        except ValueError as exc:
            raise ValueError(f"curve {i}: {exc}") from None
    groups: dict[tuple, list[int]] = {}
    for i, (t, _, e) in enumerate(prepared):
        # Error arrays ride along in the batch, so only curves that agree on having them group.
        groups.setdefault((t.size, t.tobytes(), e is None), []).append(i)
    results: list[PeriodResult | None] = [None] * len(prepared)
    for members in groups.values():
        t = prepared[members[0]][0]
        grid = _search_grid(t, min_period, max_period, oversample)
        step = _NIFTY_BATCH if resolve_backend(backend) in ("nifty", "torch") else 1
        for start in range(0, len(members), step):
            chunk = members[start:start + step]
            if len(chunk) == 1:
                i = chunk[0]
                powers = _powers(*prepared[i], grid, backend, nthreads)[None]
            else:
                ys = np.stack([prepared[i][1] for i in chunk])
                es = None if prepared[chunk[0]][2] is None else np.stack([prepared[i][2] for i in chunk])
                powers = _powers(t, ys, es, grid, backend, nthreads)
            for i, power in zip(chunk, powers):
                ti, yi, ei = prepared[i]
                results[i] = _select(ti, yi, ei, grid, power, n_candidates=n_candidates, nterms=nterms,
                                     resolve_double=resolve_double)
    return results  # type: ignore[return-value]


def period_matches(found: float | Sequence[float] | np.ndarray, true: float | Sequence[float] | np.ndarray,
                   rel: float = 0.01) -> np.ndarray:
    """Whether each found period is within ``rel`` (relative) of the true one."""
    found, true = np.asarray(found, float), np.asarray(true, float)
    return np.abs(found - true) <= rel * np.abs(true)
