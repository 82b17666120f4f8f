"""The light-curve shapes of the simulated Kepler and K2 classes, before the instrument
(see :mod:`lcml.data.simulate.lightcurves`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lcml.data.simulate.priors import period_cdf, sample_amplitude, sample_period


#: Approximate peak-to-peak amplitude ratios between the broad Kepler band (~420-900 nm) and the
#: catalogs' bands: the Kepler band sits between V and I, and pulsation amplitudes fall to the red.
#: (Eclipse depths change less with band; for them KP_PER_V slightly understates the depth.)
KP_PER_I = 1.25


KP_PER_V = 0.85


_TWO_PI = 2.0 * np.pi


def _loguniform(rng: np.random.Generator, lo: float, hi: float, size: int | None = None):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _fold(freq, nyquist: float):
    """Frequency as seen below the Nyquist frequency of a regular grid."""
    return np.abs(freq - 2.0 * nyquist * np.round(freq / (2.0 * nyquist)))


def _sines(t: np.ndarray, freqs: np.ndarray, amps: np.ndarray, rng: np.random.Generator):
    phases = rng.uniform(0.0, _TWO_PI, len(freqs))
    return amps @ np.sin(_TWO_PI * freqs[:, None] * t[None, :] + phases[:, None])


def _fourier_mag(phase: np.ndarray, ratios: np.ndarray, phik1: np.ndarray, rng, ptp_mag: float):
    """Magnitude curve from Fourier ratios R_k1 and phase differences phi_k1 (sine series)."""
    k = np.arange(1, len(ratios) + 1)
    phis = phik1 + k * rng.uniform(0.0, _TWO_PI)
    grid = np.linspace(0.0, 1.0, 512, endpoint=False)
    shape = ratios @ np.sin(_TWO_PI * k[:, None] * grid[None, :] + phis[:, None])
    scale = ptp_mag / np.ptp(shape)  # so the drawn amplitude is the true peak-to-peak
    return (scale * ratios) @ np.sin(_TWO_PI * k[:, None] * phase[None, :] + phis[:, None])


def _rr(rng: np.random.Generator, t: np.ndarray, nyquist: float,
        branch: str | None = None) -> tuple[np.ndarray, float]:
    # OGLE-III has 31,382 RRab to 10,122 RRc: three in four RR Lyrae pulsate in the fundamental mode.
    if branch == "RRab" or (branch is None and rng.random() < 0.75):
        # RRab: geometric R_k1 and phi_k1 ~ 2.45 (k-1) in the sine convention reproduce the Kepler
        # RRab locus (phi21 ~ 2.4, phi31 ~ 5.0): a rise taking about a quarter of the cycle or less.
        period = sample_period(rng, "ogle3/RRab", lo=0.4, hi=0.8)
        k = np.arange(8)
        ratios = rng.uniform(0.45, 0.6) ** k
        phik1 = 2.45 * k + np.r_[0.0, rng.normal(0.0, 0.1, 7)]
        # Low-amplitude tail cut: those stars are mostly blends in crowded OGLE fields.
        ptp_mag = KP_PER_I * sample_amplitude(rng, "ogle3/RRab", lo=0.3, hi=0.9)
        blazhko = rng.random() < 0.4
    else:
        period = sample_period(rng, "ogle3/RRc", lo=0.25, hi=0.42)
        ratios = np.array([1.0, rng.uniform(0.05, 0.2), rng.uniform(0.02, 0.08)])
        phik1 = np.array([0.0, 4.8, 3.3]) + np.r_[0.0, rng.normal(0.0, 0.2, 2)]
        ptp_mag = KP_PER_I * sample_amplitude(rng, "ogle3/RRc", lo=0.18, hi=0.4)
        blazhko = rng.random() < 0.1
    phase = t / period
    gain = 1.0
    if blazhko:
        p_b = _loguniform(rng, 20.0, 200.0)
        psi = rng.uniform(0.0, _TWO_PI, 2)
        phase = phase + rng.uniform(0.0, 0.03) * np.sin(_TWO_PI * t / p_b + psi[0])
        gain = 1.0 + rng.uniform(0.05, 0.3) * np.sin(_TWO_PI * t / p_b + psi[1])
    mag = gain * _fourier_mag(phase, ratios, phik1, rng, ptp_mag)
    return 10.0 ** (-0.4 * mag), period


def _rrab(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    return _rr(rng, t, nyquist, branch="RRab")


def _t2cep(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    # BL Her (1-4 d) and W Vir (4-20 d) in their OGLE-III proportion (about one to one).
    period = sample_period(rng, "ogle3/T2CEP", lo=1.0, hi=20.0)
    # Strong 3rd-5th harmonics at random phase differences give the asymmetric, bumped shapes of
    # BL Her / W Vir stars.
    ratios = np.array([1.0, *rng.uniform([0.2, 0.1, 0.05, 0.02], [0.5, 0.3, 0.15, 0.08])])
    phik1 = np.r_[0.0, rng.normal(3.0, 0.5), rng.uniform(0.0, _TWO_PI, 3)]
    ptp_mag = KP_PER_I * sample_amplitude(rng, "ogle3/T2CEP", lo=0.2, hi=0.85)
    mag = _fourier_mag(t / period, ratios, phik1, rng, ptp_mag)
    return 10.0 ** (-0.4 * mag), period


def _p_modes(rng, n: int, f_top: float, a_top: float, avoid: np.ndarray, nyquist: float):
    """``n`` p modes in 5-50 c/d led by ``f_top``; the others weaker and, once folded below
    Nyquist, clear of ``avoid`` (so the leading peak stays unblended)."""
    cand = rng.uniform(5.0, 50.0, 8 * n)
    clear = np.all(np.abs(_fold(cand, nyquist)[:, None] - _fold(avoid, nyquist)[None, :]) > 0.15, 1)
    freqs = np.r_[f_top, cand[clear][: n - 1]]
    return freqs, a_top * np.r_[1.0, rng.uniform(0.1, 0.7, len(freqs) - 1)]


def _g_modes(rng, n: int, f_top: float, a_top: float):
    """``n`` g modes around ``f_top`` on a period-spacing ladder (closely spaced, so they beat)."""
    dpi = rng.uniform(0.02, 0.05)  # asymptotic l=1 period spacing, ~3000 s
    orders = rng.choice(np.r_[-4:0, 1:5], n - 1, replace=False)
    freqs = 1.0 / (1.0 / f_top + orders * dpi * rng.normal(1.0, 0.05, n - 1))
    # Neighbours stay resolvable in a quarter (> 1.35 / 90 d) and at most half as strong, so that
    # ``period`` is still what a quarter's periodogram peaks at.
    freqs = np.r_[f_top, freqs[(freqs > 0.3) & (freqs < 3.0) & (np.abs(freqs - f_top) > 0.015)]]
    return freqs, a_top * np.r_[1.0, rng.uniform(0.1, 0.5, len(freqs) - 1)]


# Windows of the dominant mode: p modes 8-30 c/d, g modes 0.3-3 c/d (v1's; the priors' shape inside).
_P_WINDOW = (1.0 / 30.0, 1.0 / 8.0)


_G_WINDOW = (1.0 / 3.0, 1.0 / 0.3)


def _dsct(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    f_top = 1.0 / sample_period(rng, "starwhisper/DSCT", lo=_P_WINDOW[0], hi=_P_WINDOW[1])
    freqs, amps = _p_modes(rng, rng.integers(2, 7), f_top, _loguniform(rng, 0.002, 0.05),
                           np.array([f_top]), nyquist)
    return 1.0 + _sines(t, freqs, amps, rng), 1.0 / f_top


def _gdor(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    f_top = 1.0 / sample_period(rng, "starwhisper/GDOR", lo=_G_WINDOW[0], hi=_G_WINDOW[1])
    freqs, amps = _g_modes(rng, rng.integers(2, 7), f_top, _loguniform(rng, 0.5e-3, 20e-3))
    return 1.0 + _sines(t, freqs, amps, rng), 1.0 / f_top


#: Share of StarWhisper's hybrids whose strongest peak is a p mode (period < 0.25 d in its table, ~0.64).
_HYB_P_DOMINANT = period_cdf("starwhisper/HYB", 0.25)


def _hyb(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    a_top = _loguniform(rng, 1e-3, 20e-3)
    p_dominant = rng.random() < _HYB_P_DOMINANT
    a_g, a_p = (a_top * rng.uniform(0.3, 0.7), a_top) if p_dominant else (a_top, a_top * rng.uniform(0.3, 0.7))
    # The hybrids' own (bimodal) period table, cut to each band: each band keeps its catalog shape.
    f_g = 1.0 / sample_period(rng, "starwhisper/HYB", lo=_G_WINDOW[0], hi=_G_WINDOW[1])
    f_p = 1.0 / sample_period(rng, "starwhisper/HYB", lo=_P_WINDOW[0], hi=_P_WINDOW[1])
    fg, ag = _g_modes(rng, rng.integers(2, 5), f_g, a_g)
    fp, ap = _p_modes(rng, rng.integers(2, 5), f_p, a_p, np.r_[f_p, fg], nyquist)
    freqs, amps = np.r_[fg, fp], np.r_[ag, ap]
    return 1.0 + _sines(t, freqs, amps, rng), 1.0 / (f_p if p_dominant else f_g)


def _contact(rng: np.random.Generator, t: np.ndarray, period: float, amp: float) -> np.ndarray:
    """Contact / ellipsoidal binary: two unequal minima per orbit plus a small O'Connell asymmetry."""
    phase = t / period + rng.random()
    return (1.0 - amp * 0.5 * (1.0 + np.cos(2.0 * _TWO_PI * phase))
            - amp * rng.uniform(0.02, 0.15) * 0.5 * (1.0 + np.cos(_TWO_PI * phase))
            + amp * rng.uniform(-0.03, 0.03) * np.sin(_TWO_PI * phase))


def _detached(rng: np.random.Generator, t: np.ndarray, period: float, depth1: float) -> np.ndarray:
    """Detached binary: primary and secondary eclipses, flat outside them."""
    phase = t / period + rng.random()
    depth2 = depth1 * rng.uniform(0.0, 0.8)
    # Eclipse width in phase ~ (R1 + R2) / a and a ~ P^(2/3) (Kepler's third law).
    width1 = min(rng.uniform(0.015, 0.035) * period ** (-2.0 / 3.0), 0.1)
    eccentric = period > 1.5 and rng.random() < 0.3
    phase2 = 0.5 + (rng.uniform(-0.08, 0.08) if eccentric else 0.0)
    width2 = width1 * (rng.uniform(0.7, 1.3) if eccentric else rng.uniform(0.9, 1.1))
    beta = rng.uniform(2.0, 4.0)  # >2 flattens the bottom towards a trapezoid
    d1 = (phase + 0.5) % 1.0 - 0.5
    d2 = (phase - phase2 + 0.5) % 1.0 - 0.5
    flux = 1.0 - depth1 * np.exp(-np.abs(d1 / width1) ** beta) - depth2 * np.exp(
        -np.abs(d2 / width2) ** beta)
    if period < 2.0:  # close pairs are tidally distorted
        flux -= rng.uniform(0.0, 0.02) * 0.5 * (1.0 + np.cos(2.0 * _TWO_PI * phase))
    return flux


def _eb(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    period = sample_period(rng, "starwhisper/EB", lo=0.25, hi=20.0)
    # Below a day most Kepler binaries are contact or ellipsoidal (morphology > 0.7 in the Kepler EB
    # catalog); above it they are detached.
    if period < 1.0 and rng.random() < 0.7:
        return _contact(rng, t, period, rng.uniform(0.05, 0.4)), period
    return _detached(rng, t, period, rng.uniform(0.02, 0.5)), period


_CLASS_MODELS: dict[str, Callable[..., tuple[np.ndarray, float]]] = {
    "T2CEP": _t2cep, "RR": _rr, "HYB": _hyb, "GDOR": _gdor, "EB": _eb, "DSCT": _dsct,
}


def _mag_to_depth(mag: float) -> float:
    return 1.0 - 10.0 ** (-0.4 * mag)


def _k2_ea(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    # Detached (Algol-type) binaries with Catalina's EA periods, kept to >= 2 orbits per campaign.
    period = sample_period(rng, "catalina/EA", lo=0.3, hi=30.0)
    depth = _mag_to_depth(KP_PER_V * sample_amplitude(rng, "catalina/EA", lo=0.05, hi=1.2))
    return _detached(rng, t, period, depth), period


def _k2_eb(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    # K2VARCAT's EB: continuously varying (contact, beta Lyr, ellipsoidal), Catalina EW periods.
    period = sample_period(rng, "catalina/EW", lo=0.2, hi=1.0)
    amp = _mag_to_depth(KP_PER_V * sample_amplitude(rng, "catalina/EW", lo=0.05, hi=0.8))
    return _contact(rng, t, period, amp), period


def _k2_othper(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    """Other periodic: spotted rotators. Two spot groups at slightly different latitudes (differential
    rotation) whose amplitudes grow and decay over tens of days, so the signal is quasi-periodic."""
    # Catalina's Rot table above 1 d: K2 rotators are mostly days to weeks; shorter Catalina "Rot"
    # periods are largely unresolved binaries.
    period = sample_period(rng, "catalina/Rot", lo=1.0, hi=25.0)
    a_top = _loguniform(rng, 1e-3, 3e-2)
    flux = np.ones_like(t)
    for shear in (1.0, 1.0 + rng.uniform(0.01, 0.05)):
        life = rng.uniform(10.0, 60.0)  # spot-group lifetime, days
        envelope = 0.6 + 0.4 * np.sin(_TWO_PI * t / (2.0 * life) + rng.uniform(0.0, _TWO_PI))
        phase = _TWO_PI * t / (period * shear) + rng.uniform(0.0, _TWO_PI)
        group = a_top * rng.uniform(0.4, 1.0) * envelope
        # Spots only darken: a clipped, harmonic-rich dip once per rotation.
        flux -= group * (np.maximum(np.cos(phase), 0.0) + 0.2 * np.cos(2.0 * phase) ** 2)
    return flux, period


def _k2_noise(rng: np.random.Generator, t: np.ndarray, nyquist: float) -> tuple[np.ndarray, float]:
    """No stellar variability above the noise: only the instrument's (added later) remains."""
    return np.ones_like(t), float("nan")
