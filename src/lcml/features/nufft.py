"""Lomb–Scargle powers on a uniform grid by FINUFFT, with the NUFFT plans kept from curve to curve.

nifty-ls builds two new FINUFFT plans for every periodogram: for a Catalina curve (~230 points,
~100,000 coarse frequencies) that is a third of the periodogram's time, spent on work that depends
only on the number of frequencies. This module does what ``nifty_ls.finufft.lombscargle`` does
(its C++ pre-processing, the same transforms, the floating-mean "standard" power) but keeps the
plans per thread, keyed by the number of modes rounded up to 1/8 of its power of two
(the few extra frequencies are computed and dropped), so consecutive curves of similar baselines
share one plan and pay only ``setpts`` and ``execute``. Powers equal nifty-ls's to the NUFFT's
precision (``tests/features/test_nufft.py``).

``single=True`` runs the transforms in single precision (half the FFT's memory traffic: ~1.6x
faster for a Catalina curve's ~110,000 frequencies) and keeps the pre- and post-processing in
float64. The result is good to ~2e-3 in power: enough to pick peaks that are then refined exactly,
not to report (the float32 pre/post-processing nifty-ls also offers is off by up to 0.2, because the
power is a difference of sums that cancels).

The power itself is formed by :func:`lcml.features.kernels.standard_power`, one compiled pass
over the transforms that reads them in their own precision: nifty-ls's C++ post-processing
(``tan 2 omega tau`` and its trigonometry at every frequency) took ~1.2 ms of a Catalina periodogram,
plus 0.3 ms to widen the single-precision transforms for it; this takes ~0.3 ms and agrees with it
to 2e-15.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from lcml.features.kernels import standard_power

#: plans kept per thread, least recently used dropped first (each holds one fine grid of 1.25 x modes
#: complex values, ~1-2 MB for a Catalina curve). A Catalina sample needs ~110: two per size bucket,
#: 5 buckets for the whole-range search and ~50 for the residual bands of the second-period search,
#: whose width follows the period; with 24 kept, 70% of curves built a plan (1.5 ms of ~20).
PLANS_KEPT = 128
_FFTW_ESTIMATE = 64
_local = threading.local()


def modes_bucket(n: int) -> int:
    """``n`` rounded up to a multiple of 1/8 of its power of two (at most 12.5% more modes, 6% on
    average), so curves of similar baselines share a plan (Catalina's span ~10 buckets)."""
    step = max(1 << max(n.bit_length() - 4, 0), 16)
    return -(-n // step) * step


def _plan(n_modes: int, n_trans: int, eps: float, nthreads: int, dtype: type):
    import finufft

    plans: OrderedDict = getattr(_local, "plans", None) or OrderedDict()
    _local.plans = plans
    key = (n_modes, n_trans, eps, nthreads, dtype)
    if key in plans:
        plans.move_to_end(key)
        return plans[key]
    plan = finufft.Plan(1, (n_modes,), n_trans=n_trans, eps=eps, upsampfac=1.25, fftw=_FFTW_ESTIMATE,
                        nthreads=nthreads, dtype=dtype)
    plans[key] = plan
    while len(plans) > PLANS_KEPT:
        plans.popitem(last=False)
    return plan


def nufft_powers(t: np.ndarray, y: np.ndarray, dy: np.ndarray | None, fmin: float, df: float, nf: int, *,
                 eps: float = 1e-9, nthreads: int = 1, single: bool = False) -> np.ndarray:
    """Standard-normalised floating-mean Lomb–Scargle power at ``fmin + k df``, ``k < nf``.

    ``y`` (and ``dy``) may be ``(n,)`` or ``(batch, n)`` sharing ``t`` (float64, finite, sorted).
    ``eps``: the NUFFT's tolerance (at least 1e-6 with ``single``, the transforms in complex64).
    Returns ``(nf,)`` or ``(batch, nf)``; undefined powers (a constant curve) are nan or inf, as
    nifty-ls gives them.
    """
    from nifty_ls import cpu_helpers

    # Pre- and post-processing stay in float64 whatever the transforms' precision (module docstring).
    cplx = np.complex64 if single else np.complex128
    t = np.ascontiguousarray(t, dtype=np.float64)
    squeeze = np.ndim(y) == 1
    y = np.ascontiguousarray(np.atleast_2d(y), dtype=np.float64)
    dy = np.ones((1, 1)) if dy is None else np.ascontiguousarray(np.atleast_2d(dy), dtype=np.float64)
    n_batch, n = y.shape
    n_modes = modes_bucket(int(nf))
    yw_w = np.empty((2 * n_batch, n), dtype=np.complex128)
    t1, t2 = np.empty_like(t), np.empty_like(t)
    w2 = np.empty(y.shape, dtype=np.complex128)
    norm = np.empty(n_batch, dtype=np.float64)
    cpu_helpers.process_finufft_inputs(t1, t2, yw_w[:n_batch], yw_w[n_batch:], w2, norm, t, y, dy,
                                       float(fmin), float(df), n_modes, True, True, False, nthreads)
    real = np.float32 if single else np.float64
    pair = _plan(n_modes, 2 * n_batch, eps, nthreads, cplx)
    pair.setpts(t1.astype(real, copy=False))
    f1_fw = pair.execute(yw_w.astype(cplx, copy=False))
    solo = _plan(n_modes, n_batch, eps, nthreads, cplx)
    solo.setpts(t2.astype(real, copy=False))
    f2 = solo.execute((w2 if n_batch > 1 else w2[0]).astype(cplx, copy=False))
    power = np.empty((n_batch, nf), dtype=np.float64)  # the bucket's extra modes are not computed
    standard_power(f1_fw.reshape(2 * n_batch, n_modes), f2.reshape(n_batch, n_modes), norm, int(nf), power)
    return power[0] if squeeze else power
