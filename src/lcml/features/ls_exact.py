"""The exact one-term Lomb–Scargle power at chosen frequencies: what refines the coarse search's peaks
(:func:`lcml.features.periodogram.coarse_peaks`) and checks the NUFFT's powers in the tests."""

from __future__ import annotations

import numpy as np

from lcml.features.harmonics import _Centred


def ls_power_at(time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None,
                frequencies: np.ndarray) -> np.ndarray:
    """Exact one-term Lomb–Scargle power (floating mean, standard normalisation) at any frequencies.

    The generalised periodogram of Zechmeister & Kürster (2009), evaluated directly: what both
    backends approximate on a uniform grid (they agree to ~1e-9), for a few hundred frequencies.
    """
    t = np.asarray(time, float) - float(time[0])
    freqs = np.atleast_1d(np.asarray(frequencies, float))
    sums = _LsSums(t, flux, flux_err)
    out = np.zeros(freqs.size)
    if not sums.yy > 0:
        return out
    chunk = max(1, 2_000_000 // max(t.size, 1))
    for start in range(0, freqs.size, chunk):
        out[start:start + chunk] = sums.power(np.exp(2j * np.pi * freqs[start:start + chunk, None] * t[None, :]))
    return out


def ls_power_around(time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray | None,
                    centres: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """:func:`ls_power_at` at every ``centres[i] + offsets[j]``, shape ``(len(centres), len(offsets))``.

    ``exp(2 pi i (c + o) t) = exp(2 pi i c t) exp(2 pi i o t)``, so each weighted sum over the points is
    a matrix product of the centres' exponentials (weighted) with the offsets': one complex
    exponential per centre and per offset, and no ``(pairs x points)`` array at all
    (:func:`lcml.features.harmonics.harmonic_chi2_around` does the same)."""
    t = np.asarray(time, float) - float(time[0])
    centres, offsets = np.atleast_1d(np.asarray(centres, float)), np.atleast_1d(np.asarray(offsets, float))
    sums = _LsSums(t, flux, flux_err)
    if not sums.yy > 0:
        return np.zeros((centres.size, offsets.size))
    shift = np.exp(2j * np.pi * offsets[:, None] * t[None, :])  # (J, n)
    shift2 = (shift * shift).T
    out = np.empty((centres.size, offsets.size))
    rows = max(1, 2_000_000 // t.size)  # (rows x points) exponentials at once, as ls_power_at
    for start in range(0, centres.size, rows):
        base = np.exp(2j * np.pi * centres[start:start + rows, None] * t[None, :])  # (C, n)
        out[start:start + rows] = sums.power_of((base * sums.w) @ shift.T, (base * base * sums.w) @ shift2,
                                                (base * sums.wy) @ shift.T)
    return out


class _LsSums(_Centred):
    """Weights and centred flux of one curve (as the harmonic fits take them); :meth:`power` from
    ``z = exp(2 pi i f t)`` (one row per frequency) through the weighted sums of ``z``, ``z**2`` and ``y z``
    (``cos**2 = (1 + cos 2x) / 2``...)."""

    def power(self, z: np.ndarray) -> np.ndarray:
        return self.power_of(z @ self.w, (z * z) @ self.w, z @ self.wy)

    def power_of(self, s1: np.ndarray, s2: np.ndarray, yz: np.ndarray) -> np.ndarray:
        """The power from the sums ``sum w z``, ``sum w z**2`` and ``sum w y z`` (any shape)."""
        c, s_, yc, ys = s1.real, s1.imag, yz.real, yz.imag
        cc = 0.5 * (self.sw + s2.real) - c * c
        ss = 0.5 * (self.sw - s2.real) - s_ * s_
        cs = 0.5 * s2.imag - c * s_
        d = cc * ss - cs * cs
        with np.errstate(divide="ignore", invalid="ignore"):
            power = (ss * yc * yc + cc * ys * ys - 2 * cs * yc * ys) / (self.yy * d)
        return np.where(np.isfinite(power) & (d > 0), np.clip(power, 0.0, 1.0), 0.0)
