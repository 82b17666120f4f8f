"""Multi-harmonic least-squares fits at trial frequencies (re-scoring periodogram peaks, minimum shapes)."""

from __future__ import annotations

import numpy as np


# Upper bound on (frequencies x points x parameters) held at once by the harmonic fits, so a
# long space-mission curve does not allocate gigabytes while refining a handful of peaks.
_FIT_CHUNK_ELEMENTS = 2_000_000

def _weights(flux_err: np.ndarray | None, n: int) -> np.ndarray:
    if flux_err is None:
        return np.full(n, 1.0 / n)
    w = 1.0 / flux_err**2
    return w / w.sum()


def harmonic_chi2(
    time: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray | None,
    frequencies: np.ndarray,
    nterms: int,
) -> np.ndarray:
    """Weighted residual sum of squares of a mean + ``nterms``-harmonic Fourier fit at each frequency.

    Weights are ``1/err**2`` normalised to sum 1, so values are comparable across frequencies of
    one curve (a weighted residual variance), not across curves.
    """
    t = np.asarray(time, float) - float(time[0])
    y = np.asarray(flux, float)
    w = _weights(flux_err, t.size)
    y = y - np.sum(w * y)  # centring keeps the normal equations well conditioned
    freqs = np.atleast_1d(np.asarray(frequencies, float))
    p = 2 * nterms + 1
    out = np.empty(freqs.size)
    chunk = max(1, _FIT_CHUNK_ELEMENTS // (t.size * p))
    wy = w * y
    yy = float(np.sum(wy * y))
    k = np.arange(1, nterms + 1)
    for start in range(0, freqs.size, chunk):
        f = freqs[start:start + chunk]
        angle = 2 * np.pi * f[:, None, None] * t[None, :, None] * k[None, None, :]  # (F, n, m)
        x = np.concatenate([np.ones(angle.shape[:2] + (1,)), np.cos(angle), np.sin(angle)], axis=2)
        xw = x * w[None, :, None]
        a = np.matmul(xw.transpose(0, 2, 1), x)  # matmul beats einsum here by ~5x (BLAS batches)
        b = xw.transpose(0, 2, 1) @ y
        # A tiny ridge keeps the solve finite when a frequency makes columns degenerate
        # (e.g. harmonics that hit the Nyquist of regularly sampled data).
        a += 1e-12 * np.eye(p)[None]
        beta = np.linalg.solve(a, b[..., None])[..., 0]
        out[start:start + chunk] = np.maximum(yy - np.sum(beta * b, axis=1), 0.0)
    return out


def harmonic_fit(
    time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None, frequency: float, nterms: int,
    *, covariance: bool = False,
) -> tuple[np.ndarray, float] | tuple[np.ndarray, float, np.ndarray]:
    """Weighted least-squares Fourier series of one light curve at one frequency.

    Returns the coefficients ``[c0, a1..am, b1..bm]`` of
    ``flux = c0 + sum_k a_k cos(2 pi k f (t - t0)) + b_k sin(2 pi k f (t - t0))`` with
    ``t0 = time[0]``, the weighted residual sum of squares (weights ``1/err**2`` normalised to sum
    1) and, with ``covariance``, the coefficients' covariance (errors taken as relative weights,
    scaled by the residual variance). Inputs must be finite (see the public search functions).
    """
    t = np.asarray(time, float) - float(time[0])
    w = _weights(flux_err, t.size)
    k = np.arange(1, nterms + 1)
    angle = 2 * np.pi * frequency * t[:, None] * k[None, :]
    x = np.concatenate([np.ones((t.size, 1)), np.cos(angle), np.sin(angle)], axis=1)
    sw = np.sqrt(w)
    xs = x * sw[:, None]
    beta, *_ = np.linalg.lstsq(xs, np.asarray(flux, float) * sw, rcond=None)
    resid = (np.asarray(flux, float) - x @ beta) * sw
    rss = float(resid @ resid)
    if not covariance:
        return beta, rss
    dof = max(t.size - x.shape[1], 1)
    cov = np.linalg.pinv(xs.T @ xs) * (rss / dof)
    return beta, rss, cov


def minimum_narrowness(beta: np.ndarray, cov: np.ndarray, nterms: int) -> tuple[float, float]:
    """How much narrower than its maxima a curve's minima are, from its Fourier fit.

    The second harmonic's component in phase with the fundamental's minimum, ``c2``, deepens the
    minimum and flattens the maximum when negative (in flux units): the V-shaped minima and round
    maxima of a contact binary seen at half its orbit. Returns ``(-c2 / A1, z)``, ``z`` being
    ``-c2`` over its standard error, so the noise of a sparse survey does not fake the shape.
    Both are 0 with fewer than 2 harmonics or no fundamental.
    """
    if nterms < 2:
        return 0.0, 0.0
    a1, b1 = beta[1], beta[nterms + 1]
    amp1 = float(np.hypot(a1, b1))
    if not amp1 > 0:
        return 0.0, 0.0
    # Fundamental A1 cos(phi - theta) has its minimum at phi = theta + pi.
    phi_min = float(np.arctan2(b1, a1)) + np.pi
    g = np.zeros(beta.size)
    g[2], g[nterms + 2] = np.cos(2 * phi_min), np.sin(2 * phi_min)
    c2 = float(g @ beta)
    se = float(np.sqrt(max(g @ cov @ g, 0.0)))
    return -c2 / amp1, (-c2 / se if se > 0 else 0.0)
