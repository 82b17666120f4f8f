"""Light-curve shape statistics of the feature baseline: Stetson K, Fourier parameters of a harmonic fit, the
secondary minimum (see :mod:`lcml.features.baseline`)."""

from __future__ import annotations

import numpy as np


def _stetson_k(flux: np.ndarray, err: np.ndarray, mean: float) -> float:
    n = flux.size
    delta = np.sqrt(n / (n - 1)) * (flux - mean) / err
    rms = float(np.sqrt(np.mean(delta**2)))
    return float(np.mean(np.abs(delta)) / rms) if rms > 0 else 0.0


def _fourier_params(beta: np.ndarray, nterms: int) -> tuple[float, float, float, float]:
    """R21, R31, phi21, phi31 in the sine convention ``A_k sin(k w t + phi_k)``."""
    a, b = beta[1:nterms + 1], beta[nterms + 1:2 * nterms + 1]
    amp = np.hypot(a, b)
    phase = np.arctan2(a, b)  # a cos + b sin = A sin(x + phi) with A sin phi = a, A cos phi = b
    if not amp[0] > 0:
        return 0.0, 0.0, 0.0, 0.0
    r = [float(amp[k] / amp[0]) if nterms > k else 0.0 for k in (1, 2)]
    phi = [float(np.mod(phase[k] - (k + 1) * phase[0], 2 * np.pi)) if nterms > k else 0.0 for k in (1, 2)]
    return r[0], r[1], phi[0], phi[1]


def _series(beta: np.ndarray, nterms: int, n_phase: int) -> np.ndarray:
    phase = np.arange(n_phase) / n_phase
    angle = 2 * np.pi * phase[:, None] * np.arange(1, nterms + 1)[None, :]
    return np.cos(angle) @ beta[1:nterms + 1] + np.sin(angle) @ beta[nterms + 1:2 * nterms + 1]


def _secondary_minimum(beta: np.ndarray, nterms: int, n_phase: int = 400) -> tuple[float, float]:
    """``(secondary_depth_ratio, maxima_difference)`` of a Fourier series over one cycle.

    The secondary minimum is the deepest *local* minimum within a quarter cycle of the phase
    opposite the primary (deepest) one; its depth below the maximum over the primary's is ~1 for
    a contact binary, 0.1-0.9 for a detached one, and 0 when there is none (a pulsator, or a
    binary folded at half its orbit). ``maxima_difference`` is the difference of the two maxima
    between the minima over the range (the O'Connell effect), 0 without a secondary minimum.
    """
    curve = _series(beta, nterms, n_phase)
    top, bottom = float(curve.max()), float(curve.min())
    if not top > bottom:
        return 0.0, 0.0
    # Put the primary minimum at index 0; the secondary is sought around index n/2.
    curve = np.roll(curve, -int(np.argmin(curve)))
    quarter = n_phase // 4
    window = np.arange(quarter, 3 * quarter + 1)
    local = (curve[window] < curve[window - 1]) & (curve[window] <= curve[window + 1])
    if not local.any():
        return 0.0, 0.0
    second = int(window[local][np.argmin(curve[window][local])])
    ratio = (top - float(curve[second])) / (top - bottom)
    max_diff = abs(float(curve[1:second].max()) - float(curve[second:].max())) / (top - bottom)
    return ratio, max_diff
