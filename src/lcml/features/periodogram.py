"""The Lomb–Scargle periodogram on an explicit frequency grid, two backends, and its plain highest peak
(see :mod:`lcml.features.period`)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from astropy.timeseries import LombScargle

from lcml.features.ls_exact import ls_power_around, ls_power_at  # noqa: F401 - read here by the search's callers


#: Split between g-mode (gamma Dor) and p-mode (delta Scuti) frequencies, cycles/day.
BAND_SPLIT_CPD = 4.0

#: Periodogram backends: nifty-ls (NUFFT on the CPU), astropy's ``fast``/``fasper`` reference, the exact
#: sums in PyTorch (``"torch"``: on CUDA when present, else the CPU), and ``"auto"``: torch where a CUDA
#: GPU is present, nifty elsewhere (the default: code picks the GPU when there is one).
BACKENDS = ("nifty", "astropy", "torch", "auto")
Backend = Literal["nifty", "astropy", "torch", "auto"]
DEFAULT_BACKEND: Backend = "auto"

#: the coarse periodogram's NUFFT (its powers only pick peaks, refined exactly): single-precision
#: transforms at 1e-5, pre- and post-processing in float64. Powers within ~2e-3 of the exact ones on
#: Catalina curves, ~1.5x faster (9.3 -> 6.0 ms for a Catalina search's periodogram); the same
#: periods for 1,999 of the period bench's 2,000 curves.
ROUGH_NUFFT = {"eps": 1e-5, "single": True}

# nifty-ls amortises its NUFFT plans over curves that share one time array; beyond ~8 per call the
# (batch x grid) power array stops fitting in cache and the gain flattens out (measured: 23 ms per
# curve alone, 14 ms in batches of 8, 13 ms in batches of 16 for a 276k-frequency grid).
_NIFTY_BATCH = 8

#: Largest frequency grid a search will allocate (80 MB of float64 power).
MAX_GRID_SIZE = 10_000_000

# -log10 p beyond which an F-test is simply "certain" (keeps noise-free fits finite).
_MAX_SIGNIFICANCE = 300.0



@dataclass(frozen=True)
class PeriodResult:
    period: float           # days
    power: float            # normalised LS power of the peak, 0..1
    low_band_power: float   # highest peak below BAND_SPLIT_CPD
    high_band_power: float  # highest peak above BAND_SPLIT_CPD (0 when the grid stops below it)
    doubled: bool = False   # period is twice the Lomb-Scargle peak (eclipsing-binary resolution)
    double_significance: float = 0.0  # -log10 p of the odd-harmonic F-test at 2x the peak period


class DoublePeriodVerdict(NamedTuple):
    """Outcome of :func:`resolve_double_period`."""

    period: float           #: the better period, days: the input or twice it
    doubled: bool           #: True when twice the input period was chosen
    significance: float     #: -log10 p of the F-test for the odd harmonics at 2P (halves differ)
    control: float          #: the same F-test at 3P, what an unrelated subharmonic gains from noise
    asymmetry: float        #: RMS asymmetry of the fit at P about its minimum, / amplitude (0 = mirror)
    faint_fraction: float   #: fraction of the phase the fit at P spends below mid-amplitude
    narrowness_z: float     #: significance of minima narrower than maxima at P (see minimum_narrowness)
    harmonic_ratio: float   #: second-harmonic over first-harmonic amplitude of the fit at P


def frequency_grid(baseline: float, min_period: float, max_period: float, oversample: float) -> np.ndarray:
    """Uniform frequency grid (cycles/day) resolving peaks of width ~1/baseline ``oversample`` times."""
    f_min = 1.0 / min(max_period, baseline)
    f_max = 1.0 / min_period
    n = int(np.ceil((f_max - f_min) * baseline * oversample)) + 1
    return np.linspace(f_min, f_max, max(n, 16))


#: fine-grid frequencies per light-curve point above which the coarse search is the cheaper one: the
#: exact refinement costs ~700 frequencies x points, the NUFFT it saves ~0.6 x the fine grid (Catalina:
#: ~1,200 per point, coarse; a 90-day Kepler quarter at 30-min cadence: ~5, whole grid)
COARSE_MIN_GRID_PER_POINT = 200


def coarse_pays(coarse: float | None, oversample: float, n_fine: float, n_points: int) -> bool:
    """Whether to search coarsely: asked for (``coarse < oversample``) and cheaper for a fine grid of
    ``n_fine`` frequencies over ``n_points`` points (:data:`COARSE_MIN_GRID_PER_POINT`)."""
    return coarse is not None and coarse < oversample and n_fine >= COARSE_MIN_GRID_PER_POINT * n_points


def _search_grid(time: np.ndarray, min_period: float, max_period: float, oversample: float,
                 coarse: float | None = None) -> np.ndarray:
    """The search's frequency grid, at ``coarse`` points per peak width when given (the caller has
    decided with :func:`coarse_pays` that refining its peaks costs less than the whole grid)."""
    if coarse is not None:
        oversample = coarse
    grid_size = (1.0 / min_period) * float(time[-1] - time[0]) * oversample
    if grid_size > MAX_GRID_SIZE:
        # A corrupt timestamp (Catalina has a -2.4e6 MJD) would otherwise ask for 10^8+ frequencies.
        raise ValueError(
            f"frequency grid of ~{grid_size:.3g} points exceeds {MAX_GRID_SIZE:,} (baseline "
            f"{time[-1] - time[0]:.4g} d, min_period {min_period} d): check the timestamps"
        )
    return frequency_grid(float(time[-1] - time[0]), min_period, max_period, oversample)


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown period-search backend {backend!r}; choose one of {BACKENDS}")


@functools.lru_cache(maxsize=1)
def cuda_present() -> bool:
    """Whether PyTorch sees a CUDA GPU (checked once per process)."""
    # importing torch costs ~1 s in every feature worker: look for NVIDIA's device node first
    if not os.path.exists("/dev/nvidiactl"):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_backend(backend: str) -> str:
    """The backend that runs: ``"auto"`` is ``"torch"`` where :func:`cuda_present`, else ``"nifty"``."""
    _check_backend(backend)
    if backend != "auto":
        return backend
    return "torch" if cuda_present() else "nifty"


def _as_arrays(
    time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Float64 copies, time-sorted, non-finite points (and non-positive errors) dropped."""
    t = np.asarray(time, dtype=np.float64).ravel()
    y = np.asarray(flux, dtype=np.float64).ravel()
    if t.shape != y.shape:
        raise ValueError(f"time and flux differ in length ({t.size} vs {y.size})")
    ok = np.isfinite(t) & np.isfinite(y)
    e = None
    if flux_err is not None:
        e = np.asarray(flux_err, dtype=np.float64).ravel()
        if e.shape != t.shape:
            raise ValueError(f"time and flux_err differ in length ({t.size} vs {e.size})")
        ok &= np.isfinite(e) & (e > 0)
    order = np.argsort(t[ok], kind="stable")
    t, y = t[ok][order], y[ok][order]
    if e is not None:
        e = e[ok][order]
    return t, y, e


def _validated(
    time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None, min_period: float, max_period: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if not (min_period > 0 and max_period > min_period):
        raise ValueError(f"need 0 < min_period < max_period, got {min_period}, {max_period}")
    t, y, e = _as_arrays(time, flux, flux_err)
    if t.size < 3:
        raise ValueError(f"light curve has {t.size} finite points; at least 3 are needed")
    if t[-1] - t[0] <= 0:
        raise ValueError("light curve spans no time")
    return t, y, e


def _powers(
    time: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray | None,
    grid: np.ndarray,
    backend: str,
    nthreads: int = 1,
    rough: bool = False,
) -> np.ndarray:
    """One-term LS power on the uniform ``grid``; ``flux`` may be ``(n,)`` or ``(batch, n)``
    (a batch shares ``time``; astropy has no batch mode, so it loops). ``rough``: powers that only
    pick candidates for an exact refinement (nifty: :data:`ROUGH_NUFFT`, to ~2e-3 and ~1.5x faster;
    other backends: no change)."""
    # Shifting time to start at 0 changes no power but keeps the NUFFT phases small for MJDs ~5e4.
    t = time - time[0]
    backend = resolve_backend(backend)
    if backend == "torch":
        from lcml.features.periodogram_torch import torch_powers

        power = torch_powers(t, flux, flux_err, grid)
    elif backend == "nifty":
        from lcml.features.nufft import nufft_powers

        # nifty-ls's transforms, with the NUFFT plans kept across curves (lcml.features.nufft)
        power = nufft_powers(t, flux, flux_err, float(grid[0]), float(grid[1] - grid[0]), grid.size,
                             nthreads=nthreads, **(ROUGH_NUFFT if rough else {}))
    elif backend == "astropy":
        if flux.ndim == 2:
            errs = [None] * len(flux) if flux_err is None else np.broadcast_to(flux_err, flux.shape)
            return np.stack([_powers(time, f, e, grid, backend) for f, e in zip(flux, errs)])
        power = LombScargle(t, flux, flux_err).power(
            grid, method="fast", method_kwds={"algorithm": "fasper"}
        )
    # A constant curve has zero variance: the backends then return nan/inf, which means "no signal".
    return np.where(np.isfinite(power), power, 0.0)


def periodogram(
    time: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray | None = None,
    *,
    min_period: float,
    max_period: float,
    oversample: float = 5.0,
    backend: Backend = DEFAULT_BACKEND,
    nthreads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """One-term Lomb–Scargle periodogram on :func:`frequency_grid`.

    Parameters
    ----------
    time, flux, flux_err
        One light curve; non-finite points are dropped.
    min_period, max_period
        Search range, days (the longest period searched is also capped at the baseline).
    oversample
        Grid points per peak width ``1 / baseline``.
    backend
        One of :data:`BACKENDS`; ``"auto"``: the GPU when present.
    nthreads
        Threads for the nifty backend; 1 by default because callers parallelise over curves.

    Returns
    -------
    frequency, power
        Frequencies in cycles/day and standard-normalised power (0..1; 0 where undefined).
    """
    _check_backend(backend)
    t, y, e = _validated(time, flux, flux_err, min_period, max_period)
    grid = _search_grid(t, min_period, max_period, oversample)
    return grid, _powers(t, y, e, grid, backend, nthreads)


def _peak_candidates(power: np.ndarray, n_candidates: int) -> np.ndarray:
    """Indices of the ``n_candidates`` highest local maxima, highest first."""
    if power.size < 3:
        return np.array([int(np.argmax(power))])
    from lcml.features.kernels import local_maxima  # numba: imported when a search first runs

    peaks = local_maxima(power)
    # The grid edges count as peaks when the power rises towards them (a period at the search limit).
    if power[0] > power[1]:
        peaks = np.append(peaks, 0)
    if power[-1] > power[-2]:
        peaks = np.append(peaks, power.size - 1)
    if peaks.size == 0:
        return np.array([int(np.argmax(power))])
    if peaks.size > n_candidates:
        # Partial selection first: a noisy periodogram has ~10^5 local maxima.
        peaks = peaks[np.argpartition(-power[peaks], n_candidates - 1)[:n_candidates]]
    # Sort on -power, then index, so ties are broken the same way on every run.
    order = np.lexsort((peaks, -power[peaks]))
    return peaks[order]


@dataclass(frozen=True)
class Peaks:
    """The highest periodogram peaks found by :func:`coarse_peaks`, highest first."""

    frequencies: np.ndarray  #: cycles/day, each where the fine grid's power peaks
    powers: np.ndarray       #: exact one-term power there
    df: float                #: the fine grid's step
    bands: tuple[float, float]  #: highest power below and above BAND_SPLIT_CPD (0 where the range stops short)


#: coarse-grid maxima refined per peak wanted (see :func:`coarse_peaks`)
REFINED_PER_PEAK = 4


def coarse_peaks(t: np.ndarray, y: np.ndarray, e: np.ndarray | None, f_lo: float, f_hi: float, *,
                 oversample: float, coarse: float, n_peaks: int, backend: str = DEFAULT_BACKEND,
                 nthreads: int = 1, mask: list[tuple[float, float]] | None = None) -> Peaks:
    """The ``n_peaks`` highest peaks of the periodogram on the fine grid (step ``1 / (span x oversample)``)
    over ``[f_lo, f_hi]``, without computing the whole fine grid.

    The periodogram runs on a grid ``oversample / coarse`` times sparser (NUFFT time is linear in the
    grid size); its ``4 x n_peaks`` highest local maxima, and the three highest of each band, are then
    each refined on the fine grid over +-1 coarse step with :func:`ls_power_at`, then to a tenth of a
    fine step around the best point. A peak is at least 81% of its height somewhere on a grid of half
    its width (``coarse = 2``), so the true peaks are among the refined ones unless more than
    ``4 x n_peaks`` noise peaks outrank them there (``bench/bench_scoring.py`` measures the periods
    found both ways on real curves). ``mask``: frequency intervals whose power counts as 0 (what a
    prewhitened fit leaves behind).
    """
    span = float(t[-1] - t[0])
    grid = np.linspace(f_lo, f_hi, max(int(np.ceil((f_hi - f_lo) * span * coarse)) + 1, 16))
    # the coarse powers only pick candidates (refined exactly below): a rougher NUFFT will do
    power = _masked(grid, _powers(t, y, e, grid, backend, nthreads, rough=True), mask)
    picks = [_peak_candidates(power, REFINED_PER_PEAK * n_peaks)]
    split = int(np.searchsorted(grid, BAND_SPLIT_CPD))  # the grid is sorted: each band is a slice
    for lo, hi in ((0, split), (split, grid.size)):
        if hi - lo >= 3:
            picks.append(lo + _peak_candidates(power[lo:hi], 3))
    centres = grid[np.unique(np.concatenate(picks))]
    df = 1.0 / (span * oversample)
    steps = int(np.ceil((grid[1] - grid[0]) / df))
    centres, _ = _refine(t, y, e, centres, np.arange(-steps, steps + 1) * df, (f_lo, f_hi), mask)
    # then to a tenth of a fine step: peaks of near-equal height (a mode and its 1-day alias) are
    # compared at their tops, not wherever the fine grid happens to sample them (up to ~4% lower)
    freqs, powers = _refine(t, y, e, centres, np.linspace(-1.0, 1.0, 21) * df, (f_lo, f_hi), mask)
    bands = tuple(float(powers[sel].max()) if sel.any() else 0.0
                  for sel in (freqs < BAND_SPLIT_CPD, freqs >= BAND_SPLIT_CPD))
    order = np.lexsort((freqs, -powers))[:n_peaks]
    return Peaks(freqs[order], powers[order], df, bands)  # type: ignore[arg-type]


def _masked(freqs: np.ndarray, power: np.ndarray, mask: list[tuple[float, float]] | None) -> np.ndarray:
    for lo, hi in mask or ():
        power[(freqs > lo) & (freqs < hi)] = 0.0
    return power


def _refine(t, y, e, centres: np.ndarray, offsets: np.ndarray, limits: tuple[float, float],
            mask: list[tuple[float, float]] | None) -> tuple[np.ndarray, np.ndarray]:
    """Each centre moved to the highest exact power among ``centre + offsets``; the new centres and powers."""
    raw = centres[:, None] + offsets[None, :]
    trial = np.clip(raw, *limits)
    power = ls_power_around(t, y, e, centres, offsets)
    if (edge := np.flatnonzero((trial != raw).any(axis=1))).size:  # a peak at the range's edge
        power[edge] = ls_power_at(t, y, e, trial[edge].ravel()).reshape(edge.size, -1)
    power = _masked(trial, power, mask)
    best = power.argmax(axis=1)
    rows = np.arange(len(centres))
    return trial[rows, best], power[rows, best]


def _band_powers(grid: np.ndarray, power: np.ndarray) -> tuple[float, float]:
    low, high = power[grid < BAND_SPLIT_CPD], power[grid >= BAND_SPLIT_CPD]
    return (float(low.max()) if low.size else 0.0), (float(high.max()) if high.size else 0.0)


def lomb_scargle_period(
    time: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray | None = None,
    *,
    min_period: float,
    max_period: float,
    oversample: float = 5.0,
    backend: Backend = DEFAULT_BACKEND,
) -> PeriodResult:
    """Best Lomb–Scargle period of one light curve: the highest peak of the one-term periodogram.

    No alias or double-period handling (see :func:`find_period` for that). The default nifty-ls
    backend gives the same peak as astropy's fast/``fasper`` method about 9x faster (see
    ``bench/results/period.json``). Raises ``ValueError`` for fewer than 3 finite points or a
    curve that spans no time.
    """
    _check_backend(backend)
    t, y, e = _validated(time, flux, flux_err, min_period, max_period)
    grid = _search_grid(t, min_period, max_period, oversample)
    power = _powers(t, y, e, grid, backend)
    best = int(np.argmax(power))
    low, high = _band_powers(grid, power)
    return PeriodResult(period=float(1.0 / grid[best]), power=float(power[best]),
                        low_band_power=low, high_band_power=high)
