"""Continuous wavelet transform (CWT) images of light curves, computed fast.

StarWhisper LightCurve feeds a Swin Transformer with the modulus of a Morlet CWT of each (phase-folded,
resampled) light curve, resized to a square image. This module reproduces ``pywt.cwt(x, scales, 'morl')``
exactly -- same wavelet table, same rectangle-rule integration, same differencing and cropping -- but
computes all rows and all scales with batched real FFTs instead of one ``np.convolve`` per row and scale.

How the PyWavelets scheme maps onto one FFT product per scale
-------------------------------------------------------------
PyWavelets tabulates ``psi`` on ``2**precision`` points of [-8, 8], integrates it with a cumulative sum
(``int_psi``), samples ``int_psi`` at integer steps of the stretched wavelet (``h_s``, length ``M_s``),
convolves, differences and crops the centre::

    coef_s = -sqrt(s) * diff(x * h_s)[floor(d) : floor(d) + L],   d = (M_s - 2) / 2

Differencing a convolution equals convolving with the differenced kernel ``g_s = -sqrt(s) * diff([0, h_s,
0])`` (length ``M_s + 1``) and reading one sample later, so ``coef_s = (x * g_s)[a_s : a_s + L]`` with
``a_s = floor(M_s / 2)``. The shift ``a_s`` is folded into the kernel by storing each tap circularly
at its offset from the read-out position; every scale then reads output samples ``0 .. L-1`` of one
circular convolution. Taps more than ``L - 1`` samples from the read-out never meet the data inside
the window and are dropped (exactly: they only ever multiply zero padding), so with ``w_s`` the largest
remaining offset a circular length ``P >= L + w_s`` keeps the read samples free of wrap-around, and no
scale needs more than ``2 L - 1``. Small scales need much shorter FFTs than large ones, so scales are
grouped onto a short ladder of fast FFT lengths; each group's kernel spectra are computed once per
(length, scales, precision, dtype) and cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F

#: PyWavelets' support of the 'morl' wavelet and its default table size exponent in ``pywt.cwt``.
MORLET_BOUNDS = (-8.0, 8.0)
DEFAULT_PRECISION = 12

# Bounds the complex product (rows x scales x spectrum) per batch chunk. Measured: chunks that stay in
# cache (~0.5 MiB) beat 1-16 MiB ones by 10-40%; the FFTs are long enough to amortise call overhead.
_CHUNK_BYTES = 2**19
# Successive FFT lengths on the ladder differ by at least this factor: fewer groups cost extra padding,
# more groups cost extra calls and forward FFTs of the data; 1.1-1.4 measured within noise of each other.
_LADDER_GROWTH = 1.3


def morlet(t: np.ndarray) -> np.ndarray:
    """Real Morlet wavelet as PyWavelets' ``'morl'``: ``psi(t) = exp(-t**2 / 2) * cos(5 t)``.

    Parameters
    ----------
    t : np.ndarray
        Abscissae.

    Returns
    -------
    np.ndarray
        ``psi(t)``, same shape as ``t``.
    """
    t = np.asarray(t, dtype=np.float64)
    return np.exp(-(t**2) / 2.0) * np.cos(5.0 * t)


@lru_cache(maxsize=4)
def _integrated_morlet(precision: int) -> tuple[np.ndarray, np.ndarray]:
    # Same table and rectangle rule as pywt.integrate_wavelet('morl', precision); read-only because
    # the arrays are shared through the cache.
    x = np.linspace(*MORLET_BOUNDS, 2**precision)
    int_psi = np.cumsum(morlet(x)) * (x[1] - x[0])
    x.flags.writeable = False
    int_psi.flags.writeable = False
    return int_psi, x


def _scale_kernel(scale: float, precision: int) -> tuple[np.ndarray, int]:
    """Differenced, sqrt(scale)-weighted kernel ``g_s`` and its read-out shift ``a_s``."""
    int_psi, x = _integrated_morlet(precision)
    # Sample indices computed with pywt's exact expressions, so float rounding picks the same samples.
    step = x[1] - x[0]
    j = (np.arange(scale * (x[-1] - x[0]) + 1) / (scale * step)).astype(int)
    if j[-1] >= int_psi.size:
        j = j[j < int_psi.size]
    h = int_psi[j][::-1]
    m = h.size
    if m < 2:
        # pywt raises here too: the stretched wavelet is shorter than the differencing needs
        raise ValueError(f"Selected scale of {scale} too small.")
    g = -np.sqrt(scale) * np.diff(np.concatenate(([0.0], h, [0.0])))
    return g, m // 2


def _fft_ladder(required: np.ndarray) -> np.ndarray:
    """Assign each required circular length to a rung of a short ladder of fast FFT lengths."""
    # Built from the top so the longest (and costliest) rung is as tight as possible.
    rungs: list[int] = []
    needs = np.sort(np.unique(required))[::-1]
    while needs.size:
        rungs.append(scipy.fft.next_fast_len(int(needs[0]), real=True))
        needs = needs[(needs < needs[0]) & (needs * _LADDER_GROWTH <= rungs[-1])]
    rungs_arr = np.asarray(rungs[::-1])
    return rungs_arr[np.searchsorted(rungs_arr, required)]


@lru_cache(maxsize=16)
def _plan(
    length: int, scales: tuple[float, ...], precision: int, dtype: str
) -> tuple[tuple[np.ndarray, int, np.ndarray], ...]:
    """Groups of (scale indices, FFT length P, kernel spectra (n_group, P // 2 + 1)), cached."""
    taps = []
    for s in scales:
        g, a = _scale_kernel(s, precision)
        # offset of each tap from the read-out position; output sample i uses data sample i - offset
        offsets = np.arange(g.size) - a
        # taps further than length - 1 from the read-out never meet a data sample of the window
        keep = np.abs(offsets) < length
        taps.append((offsets[keep], g[keep]))
    required = np.array([length + int(np.abs(o).max()) for o, _ in taps])
    sizes = _fft_ladder(required)
    cdtype = np.complex64 if dtype == "float32" else np.complex128
    groups = []
    for p in np.unique(sizes):
        idx = np.flatnonzero(sizes == p)
        table = np.zeros((idx.size, int(p)))
        for row, i in enumerate(idx):
            offsets, g = taps[i]
            # stored circularly at their offsets, so every scale reads samples 0 .. L-1
            table[row, offsets % p] = g
        # spectra in float64, then rounded once, so float32 output only loses precision in the data path
        spectra = scipy.fft.rfft(table, axis=-1).astype(cdtype)
        idx.flags.writeable = False
        spectra.flags.writeable = False
        groups.append((idx, int(p), spectra))
    return tuple(groups)


def _as_batch(batch: np.ndarray) -> np.ndarray:
    arr = np.asarray(batch)
    if arr.ndim != 2:
        raise ValueError(f"expected a batch of series with shape (n, length), got shape {arr.shape}")
    if arr.shape[1] < 1:
        raise ValueError("series must have at least one sample")
    if not np.isfinite(arr).all():
        rows = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise ValueError(f"non-finite values in rows {rows[:10].tolist()}{' ...' if rows.size > 10 else ''}")
    return arr


def _as_scales(scales: Sequence[float] | np.ndarray) -> np.ndarray:
    s = np.atleast_1d(np.asarray(scales, dtype=np.float64))
    if s.ndim != 1 or s.size == 0:
        raise ValueError("`scales` must be a non-empty 1-D sequence")
    if not np.isfinite(s).all() or np.any(s <= 0):
        raise ValueError("`scales` must only include positive values")
    return s


def normalise_rows(batch: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """Scale each row to zero mean and unit standard deviation.

    Parameters
    ----------
    batch : np.ndarray
        Series, shape ``(n, length)``; must be finite.
    rtol : float
        A row whose standard deviation is at most ``rtol * |mean|`` is treated as constant and
        becomes all zeros; dividing its rounding noise by its tiny spread would invent a signal.

    Returns
    -------
    np.ndarray
        float64 array of shape ``(n, length)``.
    """
    x = _as_batch(batch).astype(np.float64)
    mean = x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, keepdims=True)
    flat = std <= rtol * np.abs(mean)  # also catches std == 0 for an all-zero row
    out = (x - mean) / np.where(flat, 1.0, std)
    out[flat[:, 0]] = 0.0
    return out


def cwt_abs(
    batch: np.ndarray,
    scales: Sequence[float] | np.ndarray = tuple(range(1, 128)),
    *,
    precision: int = DEFAULT_PRECISION,
    dtype: type[np.floating] | str = np.float32,
    workers: int | None = None,
) -> np.ndarray:
    """Modulus of the Morlet CWT of every row, equal to ``np.abs(pywt.cwt(row, scales, 'morl')[0])``.

    The rows are transformed as given (no normalisation; see :func:`cwt_images`), sampled once per unit
    step, so a scale is in samples.

    Parameters
    ----------
    batch : np.ndarray
        Series on a regular grid, shape ``(n, length)``.
    scales : sequence of float
        Positive wavelet scales, in the order of the output's second axis. Default 1 .. 127.
    precision : int
        The wavelet table has ``2**precision`` points, as ``pywt.cwt``'s ``precision``.
    dtype : numpy float dtype
        ``float32`` (default; about 1e-6 relative to the largest coefficient) or ``float64``.
    workers : int, optional
        Threads for ``scipy.fft``; ``None`` uses one.

    Returns
    -------
    np.ndarray
        ``(n, n_scales, length)`` array of ``dtype``.
    """
    x = _as_batch(batch)
    s = _as_scales(scales)
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    n, length = x.shape
    x = x.astype(dt, copy=False)
    groups = _plan(length, tuple(s.tolist()), int(precision), dt.name)
    out = np.empty((n, s.size, length), dtype=dt)
    for idx, p, spectra in groups:
        # scales sorted by size give contiguous groups, which np.abs can then write in place
        block = slice(idx[0], idx[-1] + 1) if idx[-1] - idx[0] + 1 == idx.size else idx
        chunk = max(1, _CHUNK_BYTES // (spectra.size * spectra.itemsize))
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            xf = scipy.fft.rfft(x[start:stop], n=p, axis=-1, workers=workers)
            prod = xf[:, None, :] * spectra[None, :, :]
            conv = scipy.fft.irfft(prod, n=p, axis=-1, overwrite_x=True, workers=workers)
            if isinstance(block, slice):
                np.abs(conv[..., :length], out=out[start:stop, block, :])
            else:
                out[start:stop, block, :] = np.abs(conv[..., :length])
    return out


def _resize_unit(coef: np.ndarray, size: int, antialias: bool) -> np.ndarray:
    """Bilinear resize of (n, scales, time) to (n, size, size), then each image min-max to [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(coef, dtype=np.float32)).unsqueeze(1)
    img = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=antialias)
    img = img.squeeze(1)
    lo = img.amin(dim=(1, 2), keepdim=True)
    span = img.amax(dim=(1, 2), keepdim=True) - lo
    # a flat image (constant input) stays all zeros rather than 0/0
    img = torch.where(span > 0, (img - lo) / span.clamp_min(torch.finfo(img.dtype).tiny), 0.0)
    return img.numpy()


def cwt_images(
    batch: np.ndarray,
    scales: Sequence[float] | np.ndarray = tuple(range(1, 128)),
    size: int = 64,
    *,
    antialias: bool = True,
    precision: int = DEFAULT_PRECISION,
    chunk: int = 256,
    workers: int | None = None,
) -> np.ndarray:
    """CWT images: normalise each row, take ``|CWT|`` (scales x time), resize, scale to [0, 1].

    Parameters
    ----------
    batch : np.ndarray
        Series on a regular grid (e.g. phase-folded, resampled light curves), shape ``(n, length)``.
    scales : sequence of float
        Positive Morlet scales in samples; image row ``i`` comes from the ``i``-th scale (first scale
        at the top). Default 1 .. 127.
    size : int
        Output images are ``size x size``.
    antialias : bool
        Low-pass before bilinear downsampling. A real Morlet's modulus oscillates at twice the signal
        frequency along time; plain bilinear sampling of e.g. 512 -> 64 columns would alias it.
    precision : int
        Wavelet table size exponent, as ``pywt.cwt``.
    chunk : int
        Rows transformed at once; bounds memory at about ``chunk * n_scales * length * 4`` bytes.
    workers : int, optional
        Threads for ``scipy.fft``.

    Returns
    -------
    np.ndarray
        ``(n, size, size)`` float32 in [0, 1]; an all-zero image for a constant row.
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    x = normalise_rows(batch)
    s = _as_scales(scales)
    out = np.empty((x.shape[0], size, size), dtype=np.float32)
    for start in range(0, x.shape[0], max(1, chunk)):
        stop = min(x.shape[0], start + max(1, chunk))
        coef = cwt_abs(x[start:stop], s, precision=precision, dtype=np.float32, workers=workers)
        out[start:stop] = _resize_unit(coef, size, antialias)
    return out


@dataclass(frozen=True)
class CWTConfig:
    """CWT image settings: integer scales ``scales_min .. scales_max`` (inclusive), ``size x size`` images."""

    scales_min: int = 1
    scales_max: int = 127
    size: int = 64

    def __post_init__(self) -> None:
        if not 0 < self.scales_min <= self.scales_max:
            raise ValueError(f"need 0 < scales_min <= scales_max, got {self.scales_min}, {self.scales_max}")
        if self.size < 1:
            raise ValueError(f"size must be positive, got {self.size}")

    def scales(self) -> np.ndarray:
        """The scales as a float64 array."""
        return np.arange(self.scales_min, self.scales_max + 1, dtype=np.float64)

    def images(self, batch: np.ndarray, **kwargs) -> np.ndarray:
        """:func:`cwt_images` with these settings."""
        return cwt_images(batch, self.scales(), self.size, **kwargs)

    def as_dict(self) -> dict:
        return asdict(self)
