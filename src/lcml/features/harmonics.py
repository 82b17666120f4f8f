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
    freqs = np.atleast_1d(np.asarray(frequencies, float))
    fit = _Centred(t, flux, flux_err)
    chunk = max(1, _FIT_CHUNK_ELEMENTS // t.size)
    out = np.empty(freqs.size)
    for start in range(0, freqs.size, chunk):
        f = freqs[start:start + chunk]
        out[start:start + chunk] = fit.chi2(np.exp(2j * np.pi * f[:, None] * t[None, :]), nterms)
    return out


def harmonic_chi2_around(
    time: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray | None,
    centres: np.ndarray,
    offsets: np.ndarray,
    nterms: int,
) -> np.ndarray:
    """:func:`harmonic_chi2` at every ``centres[i] + offsets[j]``, shape ``(len(centres), len(offsets))``.

    The same sums, much cheaper when many frequencies are refined around a few peaks:
    ``exp(2 pi i (c + o) t) = exp(2 pi i c t) exp(2 pi i o t)`` needs one complex exponential per
    centre and per offset instead of one per pair, and each weighted sum of a power of it is a
    ``(centres x points) @ (points x offsets)`` matrix product, so no ``(pairs x points)`` array is built.
    """
    t = np.asarray(time, float) - float(time[0])
    centres, offsets = np.atleast_1d(np.asarray(centres, float)), np.atleast_1d(np.asarray(offsets, float))
    fit = _Centred(t, flux, flux_err)
    if nterms == 0:
        return np.full((centres.size, offsets.size), max(fit.yy, 0.0))
    shift = np.exp(2j * np.pi * offsets[:, None] * t[None, :])  # (J, n)
    shifts = [shift]
    for _ in range(2 * nterms - 1):
        shifts.append(shifts[-1] * shift)  # shift^m, m = 1..2K
    rows = max(1, _FIT_CHUNK_ELEMENTS // (t.size * 2 * nterms))
    out = np.empty((centres.size, offsets.size))
    for start in range(0, centres.size, rows):
        base = np.exp(2j * np.pi * centres[start:start + rows, None] * t[None, :])  # (C, n)
        s = np.empty((base.shape[0], offsets.size, 2 * nterms + 1), complex)
        yk = np.empty((base.shape[0], offsets.size, nterms), complex)
        s[..., 0], bm = fit.sw, base
        for m in range(1, 2 * nterms + 1):
            bm = bm if m == 1 else bm * base
            # sum_t w (b s)^m = (b^m w) @ (s^m)^T: a (C x n) by (n x J) product per power, no (C J x n) array
            s[..., m] = (bm * fit.w) @ shifts[m - 1].T
            if m <= nterms:
                yk[..., m - 1] = (bm * fit.wy) @ shifts[m - 1].T
        out[start:start + rows] = fit.chi2_of(s.reshape(-1, 2 * nterms + 1), yk.reshape(-1, nterms),
                                              nterms).reshape(-1, offsets.size)
    return out


class _Centred:
    """A light curve's weights and weighted-mean-centred flux, for least-squares fits at many frequencies.

    A fit's normal equations need only the weighted sums ``S_m = sum w z^m`` (m = 0..2K) and
    ``Y_k = sum w y z^k`` (k = 1..K) of ``z = exp(2 pi i f t)``: products of harmonics are harmonics
    (``cos a cos b = (cos(a-b) + cos(a+b)) / 2``), so no ``(frequencies x points x parameters)`` design
    matrix is built.
    """

    def __init__(self, t: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None) -> None:
        y = np.asarray(flux, float)
        self.w = _weights(flux_err, t.size)
        self.y = y - np.sum(self.w * y)  # centring keeps the normal equations well conditioned
        self.wy = self.w * self.y
        self.yy = float(np.sum(self.wy * self.y))
        self.sw = float(self.w.sum())

    def chi2(self, z: np.ndarray, nterms: int) -> np.ndarray:
        """Weighted residual sum of squares at each row of ``z`` (``exp(2 pi i f t)``, one row per frequency)."""
        if nterms == 0:
            return np.full(z.shape[0], max(self.yy, 0.0))
        k = nterms
        s = np.empty((z.shape[0], 2 * k + 1), complex)
        yk = np.empty((z.shape[0], k), complex)
        s[:, 0], zm = self.sw, z
        for m in range(1, 2 * k + 1):
            zm = zm if m == 1 else zm * z
            s[:, m] = zm @ self.w
            if m <= k:
                yk[:, m - 1] = zm @ self.wy
        return self.chi2_of(s, yk, nterms)

    def chi2_of(self, s: np.ndarray, yk: np.ndarray, nterms: int) -> np.ndarray:
        """:meth:`chi2` from the sums ``s[:, m] = sum w z^m`` (m = 0..2K) and ``yk[:, k-1] = sum w y z^k``."""
        k, p = nterms, 2 * nterms + 1
        kk, ll = np.meshgrid(np.arange(1, k + 1), np.arange(1, k + 1), indexing="ij")
        diff, total = s[:, np.abs(kk - ll)], s[:, kk + ll]
        a = np.empty((s.shape[0], p, p))
        a[:, 0, 0] = self.sw
        a[:, 0, 1:k + 1] = a[:, 1:k + 1, 0] = s[:, 1:k + 1].real
        a[:, 0, k + 1:] = a[:, k + 1:, 0] = s[:, 1:k + 1].imag
        a[:, 1:k + 1, 1:k + 1] = 0.5 * (diff.real + total.real)   # sum w cos(k.) cos(l.)
        a[:, k + 1:, k + 1:] = 0.5 * (diff.real - total.real)     # sum w sin(k.) sin(l.)
        cos_sin = 0.5 * (total.imag - np.sign(kk - ll) * diff.imag)  # sum w cos(k.) sin(l.)
        a[:, 1:k + 1, k + 1:] = cos_sin
        a[:, k + 1:, 1:k + 1] = cos_sin.transpose(0, 2, 1)
        b = np.concatenate([np.zeros((s.shape[0], 1)), yk.real, yk.imag], axis=1)
        # A tiny ridge keeps the solve finite when a frequency makes columns degenerate
        # (e.g. harmonics that hit the Nyquist of regularly sampled data).
        a += 1e-12 * np.eye(p)[None]
        beta = np.linalg.solve(a, b[..., None])[..., 0]
        return np.maximum(self.yy - np.sum(beta * b, axis=1), 0.0)


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
