"""The feature path's compiled inner loops (numba, cached on disk after the first call in a checkout):
single passes over arrays of ~100,000 frequencies that NumPy would make several passes over."""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np


def _compiled(**options) -> Callable[[Callable], Callable]:
    """``numba.njit`` with its on-disk cache where numba finds a folder it can write (beside this file,
    ``NUMBA_CACHE_DIR`` or the user's cache). Where it finds none (a read-only install run by a user
    without a writable home, as in some containers) numba refuses the function at import; it is then
    compiled in each process instead (~0.4 s a kernel)."""
    def wrap(fn: Callable) -> Callable:
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(**options)(fn)
    return wrap


@_compiled(error_model="numpy")
def standard_power(f1_fw, f2, yy, nf, out):  # pragma: no cover - compiled; tested through nufft_powers
    """``out[b, k]``: the standard-normalised floating-mean power from the transforms of the centred
    weighted flux (``f1_fw[b]``), the weights (``f1_fw[n_batch + b]``) and the weights at ``2t`` (``f2[b]``),
    all in float64: ``(SS YC^2 + CC YS^2 - 2 CS YC YS) / (YY (CC SS - CS^2))`` (Zechmeister & Kürster 2009,
    without tau). A constant curve (``yy == 0``) gives nan or inf, as nifty-ls."""
    n_batch = f2.shape[0]
    for b in range(n_batch):
        for k in range(nf):
            yc, ys = np.float64(f1_fw[b, k].real), np.float64(f1_fw[b, k].imag)
            c, s = np.float64(f1_fw[n_batch + b, k].real), np.float64(f1_fw[n_batch + b, k].imag)
            c2, s2 = np.float64(f2[b, k].real), np.float64(f2[b, k].imag)
            cc = 0.5 * (1.0 + c2) - c * c
            ss = 0.5 * (1.0 - c2) - s * s
            cs = 0.5 * s2 - c * s
            out[b, k] = (ss * yc * yc + cc * ys * ys - 2.0 * cs * yc * ys) / (yy[b] * (cc * ss - cs * cs))


@_compiled()
def local_maxima(power):  # pragma: no cover - compiled; tested through _peak_candidates
    """Indices ``i`` (ascending) with ``power[i - 1] < power[i] >= power[i + 1]``, interior points only."""
    out = np.empty(max(power.size - 2, 0), np.int64)
    m = 0
    for i in range(1, power.size - 1):
        if power[i] > power[i - 1] and power[i] >= power[i + 1]:
            out[m] = i
            m += 1
    return out[:m]
