"""The physics of the simulated AstroM3 stars: one model per class, colours and absolute magnitudes by
temperature, extinction, LAMOST-like spectra and Gaia/2MASS/WISE-like metadata
(see :mod:`lcml.data.simulate.multimodal`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lcml.data.sources.astrom3 import ASTROM3_METADATA_COLUMNS


_TWO_PI = 2.0 * np.pi


_C_KMS = 299_792.458


@dataclass(frozen=True)
class _ClassModel:
    """How one class is drawn: period/amplitude priors (V-band amplitude = factor x catalog amplitude),
    effective temperature (K), absolute V magnitude, population and light-curve shape."""

    period_table: str
    period_window: tuple[float, float]
    amplitude_table: str
    amplitude_window: tuple[float, float]  # in the table's band
    to_v: float  # V amplitude per table amplitude (I-band OGLE amplitudes are smaller than V)
    teff: tuple[float, float]
    scale_height_pc: float | None  # None: halo (isotropic)
    velocity_dispersion: float  # km/s, per component


# Periods/amplitudes: Catalina for the classes it has (V band already), OGLE-III for the rest.
# A_V / A_I ~ 1.6 for delta Scuti stars and ~2 for red giants (their amplitude grows steeply to the blue).
_MODELS: dict[str, _ClassModel] = {
    "EW": _ClassModel("catalina/EW", (0.22, 1.0), "catalina/EW", (0.1, 1.0), 1.0, (4800, 7200), 400, 35),
    "SR": _ClassModel("ogle3/SRV", (20, 1000), "ogle3/SRV", (0.05, 1.2), 2.0, (3100, 3900), 500, 40),
    "EA": _ClassModel("catalina/EA", (0.3, 30), "catalina/EA", (0.1, 1.5), 1.0, (5500, 10000), 250, 25),
    "RRAB": _ClassModel("catalina/RRab", (0.4, 0.9), "catalina/RRab", (0.3, 1.4), 1.0, (6100, 6900), None, 150),
    "EB": _ClassModel("catalina/EA", (0.4, 5.0), "catalina/EW", (0.2, 1.0), 1.0, (6000, 10000), 250, 25),
    "ROT": _ClassModel("catalina/Rot", (0.5, 60), "catalina/Rot", (0.05, 0.5), 1.0, (3900, 6000), 300, 30),
    "RRC": _ClassModel("catalina/RRc", (0.22, 0.45), "catalina/RRc", (0.15, 0.6), 1.0, (7000, 7600), None, 150),
    # ASAS-SN splits delta Scuti stars at 0.15 mag (V): high-amplitude HADS above, DSCT below.
    "HADS": _ClassModel("ogle3/DSCT", (0.04, 0.25), "ogle3/DSCT", (0.095, 0.56), 1.6, (6800, 8000), 200, 25),
    "M": _ClassModel("ogle3/Mira", (100, 700), "ogle3/Mira", (1.15, 3.6), 2.2, (2500, 3300), 500, 40),
    "DSCT": _ClassModel("ogle3/DSCT", (0.02, 0.25), "ogle3/DSCT", (0.013, 0.094), 1.6, (6900, 8500), 200, 25),
}


# Smooth colour-temperature relations (dwarfs for F-K, giants for M), intrinsic, in magnitudes.
_T_GRID = np.array([2500, 2800, 3000, 3200, 3400, 3600, 3800, 4000, 4500, 5000, 5500, 6000, 6500, 7000,
                    7500, 8000, 9000, 10000], dtype=float)


_BP_RP = np.array([4.8, 4.0, 3.4, 2.9, 2.5, 2.2, 1.95, 1.75, 1.35, 1.05, 0.87, 0.72, 0.58, 0.47, 0.37, 0.29,
                   0.12, 0.02])


_V_K = np.array([10.5, 8.5, 7.2, 6.2, 5.4, 4.8, 4.3, 3.8, 2.9, 2.2, 1.7, 1.35, 1.1, 0.85, 0.65, 0.45, 0.2, 0.05])


_J_K = np.array([1.35, 1.25, 1.20, 1.15, 1.08, 1.02, 0.95, 0.88, 0.70, 0.55, 0.45, 0.36, 0.28, 0.21, 0.15,
                 0.10, 0.03, -0.01])


_H_K = np.array([0.40, 0.35, 0.30, 0.27, 0.24, 0.22, 0.20, 0.17, 0.12, 0.09, 0.07, 0.05, 0.04, 0.03, 0.02,
                 0.02, 0.01, 0.0])


_K_W1 = np.array([0.35, 0.30, 0.25, 0.20, 0.17, 0.15, 0.13, 0.11, 0.08, 0.06, 0.05, 0.04, 0.03, 0.03, 0.02,
                  0.02, 0.01, 0.0])


# CO absorption in W2 makes cool giants slightly blue in W1-W2.
_W1_W2 = np.array([-0.05, -0.08, -0.10, -0.10, -0.10, -0.09, -0.08, -0.06, -0.04, -0.03, -0.02, -0.01, 0.0,
                   0.0, 0.0, 0.0, 0.0, 0.0])


# Main-sequence absolute V magnitude (dwarfs), for the binaries and spotted dwarfs.
_MS_MV = np.array([13.0, 12.0, 11.0, 10.2, 9.5, 9.0, 8.5, 8.0, 7.0, 6.0, 5.0, 4.3, 3.6, 3.0, 2.6, 2.3,
                   1.5, 0.9])


# Extinction per unit A_V (Cardelli-like, at the bands' effective wavelengths).
_EXT = {"G": 0.83, "BP": 1.08, "RP": 0.63, "J": 0.28, "H": 0.18, "K": 0.12, "W1": 0.07, "W2": 0.05,
        "W3": 0.03, "W4": 0.02}


_BALMER = {6562.8: 0.9, 4861.3: 1.0, 4340.5: 0.9, 4101.7: 0.85, 3970.1: 0.7, 3889.0: 0.6}


# (centre, equivalent width in cool stars, in hot stars) in Angstrom.
_METALS = [(3933.7, 16.0, 1.5), (3968.5, 12.0, 1.0), (4300.0, 6.0, 0.2), (5175.0, 6.0, 0.5),
           (5270.0, 2.5, 0.2), (5892.9, 4.0, 0.3), (8498.0, 1.5, 0.4), (8542.0, 3.5, 0.8), (8662.0, 3.0, 0.6)]


_TIO_HEADS = (4584.0, 4761.0, 4954.0, 5167.0, 5448.0, 5847.0, 6159.0, 6651.0, 7054.0, 7666.0, 8432.0)


_SKY_LINES = (5577.3, 5889.9, 6300.3, 6363.8)


def _interp_t(teff: float, table: np.ndarray) -> float:
    return float(np.interp(np.log10(teff), np.log10(_T_GRID), table))


def _absolute_v(rng: np.random.Generator, cls: str, teff: float, period: float) -> float:
    if cls == "EW":  # Rucinski & Duerbeck (1997) period-luminosity-colour, colour term folded in
        return -4.44 * np.log10(period) + 3.02 + rng.normal(0.0, 0.25)
    if cls in ("RRAB", "RRC"):
        return rng.normal(0.6, 0.15)
    if cls in ("HADS", "DSCT"):  # McNamara (2011) delta Scuti period-luminosity relation
        return -2.89 * np.log10(period) - 1.31 + rng.normal(0.0, 0.2)
    if cls == "M":  # Mira P-L in K (Whitelock et al. 2008) and the star's V-K
        return -3.51 * (np.log10(period) - 2.38) - 7.25 + _interp_t(teff, _V_K) + rng.normal(0.0, 0.3)
    if cls == "SR":
        return rng.uniform(-1.5, 0.5)
    if cls == "ROT" and rng.random() < 0.4:  # RS CVn-type subgiants and giants among the spotted stars
        return rng.uniform(1.0, 3.5)
    # Binaries: two stars are brighter than one, and many have evolved off the main sequence.
    brighter = 0.5 + abs(rng.normal(0.0, 0.5)) if cls in ("EA", "EB") else 0.0
    return _interp_t(teff, _MS_MV) - brighter + rng.normal(0.0, 0.3)


def _extinction(distance_pc: float, sin_b: float) -> float:
    """A_V (mag) to a star: 1 mag/kpc in the plane, in a dust layer of 120 pc scale height."""
    s = max(abs(sin_b), 0.02)
    return 1.0e-3 * (120.0 / s) * (1.0 - np.exp(-distance_pc * s / 120.0))


def _distance_for(v_mag: float, abs_v: float, sin_b: float) -> float:
    """The distance (pc) at which a star of absolute magnitude ``abs_v`` appears at ``v_mag``."""
    lo, hi = np.log10(5.0), np.log10(2.0e5)
    for _ in range(40):  # bisection: apparent magnitude grows monotonically with distance
        mid = 0.5 * (lo + hi)
        d = 10.0 ** mid
        if abs_v + 5.0 * mid - 5.0 + _extinction(d, sin_b) < v_mag:
            lo = mid
        else:
            hi = mid
    return float(10.0 ** (0.5 * (lo + hi)))


def _planck(wavelength: np.ndarray, teff: float) -> np.ndarray:
    x = 1.438777e8 / (wavelength * teff)  # hc / (lambda k T), lambda in Angstrom
    return wavelength ** -5.0 / np.expm1(x)


def _spectrum(rng: np.random.Generator, cls: str, wavelength: np.ndarray, teff: float, a_v: float,
              v_mag: float, rv: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise-free model, noisy flux and inverse variance of one LAMOST-like spectrum."""
    shift = 1.0 + rv / _C_KMS
    cont = _planck(wavelength, teff) / _planck(np.array([5500.0]), teff)[0]
    cont *= 10.0 ** (-0.4 * a_v * ((wavelength / 5500.0) ** -1.3 - 1.0))  # reddening relative to V
    profile = np.ones_like(wavelength)

    def absorb(centre: float, ew: float, sigma: float) -> None:
        depth = ew / (sigma * np.sqrt(_TWO_PI))
        if depth > 0.9:  # saturated: the line broadens instead of deepening
            sigma, depth = ew / (0.9 * np.sqrt(_TWO_PI)), 0.9
        profile[:] *= 1.0 - depth * np.exp(-0.5 * ((wavelength - centre * shift) / sigma) ** 2)

    # Balmer lines peak in A stars (~9500 K) and fade both hotter and cooler.
    balmer = 14.0 * np.exp(-0.5 * ((np.log10(teff) - np.log10(9500.0)) / 0.11) ** 2)
    for centre, weight in _BALMER.items():
        ew = balmer * weight * rng.uniform(0.85, 1.15)
        absorb(centre, ew, 3.0 + 0.6 * ew)
    cool = 1.0 / (1.0 + np.exp((teff - 5600.0) / 600.0))  # metal lines strengthen in cool atmospheres
    for centre, ew_cool, ew_hot in _METALS:
        absorb(centre, (ew_hot + (ew_cool - ew_hot) * cool) * rng.uniform(0.8, 1.2), 3.0)
    tio = float(np.clip((4000.0 - teff) / 900.0, 0.0, 0.85))  # TiO bands from late K, deep in M giants
    if tio > 0:
        for head in _TIO_HEADS:
            red = wavelength - head * shift
            # A sharp head on the blue side, then absorption fading slowly to the red.
            profile *= 1.0 - tio * np.where(red >= 0, np.exp(-np.clip(red, 0.0, None) / 180.0),
                                            np.exp(np.clip(red, None, 0.0) / 4.0))
    model = cont * profile
    if cls == "M":  # shocks in Mira atmospheres: Balmer emission, strongest in H-delta and H-gamma
        for centre, strength in ((4101.7, 1.5), (4340.5, 1.0), (4861.3, 0.5)):
            peak = strength * rng.uniform(0.3, 1.5) * np.interp(centre, wavelength, cont)
            model = model + peak * np.exp(-0.5 * ((wavelength - centre * shift) / 3.0) ** 2)

    # Relative flux calibration leaves a smooth residual of a few percent.
    x = (wavelength - 6400.0) / 2600.0
    model = model * (1.0 + rng.normal(0.0, 0.03) * x + rng.normal(0.0, 0.02) * x**2)
    model = model * 300.0 * 10.0 ** (-0.4 * (v_mag - 14.0))  # LAMOST-like flux units

    # Throughput: low at the blue end and the far red, a dip where the blue and red arms meet.
    response = (np.clip((wavelength - 3700.0) / 800.0, 0.05, 1.0) * np.clip((9300.0 - wavelength) / 1500.0, 0.1, 1.0)
                * (1.0 - 0.6 * np.exp(-0.5 * ((wavelength - 5800.0) / 80.0) ** 2)))
    snr_v = float(np.clip(250.0 * 10.0 ** (-0.2 * (v_mag - 12.0)), 8.0, 400.0))
    counts_per_flux = snr_v**2 / max(float(np.interp(5500.0, wavelength, model)), 1e-12)
    counts = np.clip(model, 0.0, None) * counts_per_flux * response
    sky = 0.1 * snr_v**2 * response * (1.0 + 5.0 * (wavelength > 7200.0))  # OH bands in the red
    for line in _SKY_LINES:
        sky = sky + 3.0 * snr_v**2 * np.exp(-0.5 * ((wavelength - line) / 2.5) ** 2)
    sigma = np.sqrt(counts + sky) / (counts_per_flux * response)
    flux = model + rng.normal(0.0, 1.0, wavelength.size) * sigma
    return model, flux, 1.0 / sigma**2


def _gaia_g_minus_v(bp_rp: float) -> float:
    """Gaia EDR3 G - V from BP - RP (Riello et al. 2021), extended linearly past its range (BP-RP > 3)."""
    c = min(bp_rp, 3.0)
    g_v = -0.02704 + 0.01424 * c - 0.2156 * c**2 + 0.01426 * c**3
    return g_v + (bp_rp - c) * (0.01424 - 0.4312 * 3.0 + 0.04278 * 9.0)


def _metadata(rng: np.random.Generator, cls: str, teff: float, v_mean: float, a_v: float,
              distance_pc: float, l_deg: float, b_deg: float, model: _ClassModel) -> dict[str, float]:
    bp_rp = _interp_t(teff, _BP_RP) + (_EXT["BP"] - _EXT["RP"]) * a_v
    g = v_mean + _gaia_g_minus_v(bp_rp)
    g_rp = -0.02 + 0.68 * min(bp_rp, 3.5) - 0.09 * min(bp_rp, 3.5) ** 2
    rp, bp = g - g_rp, g - g_rp + bp_rp
    v_k = _interp_t(teff, _V_K)
    k = v_mean - v_k - (1.0 - _EXT["K"]) * a_v
    j_k = _interp_t(teff, _J_K) + (_EXT["J"] - _EXT["K"]) * a_v
    h = k + _interp_t(teff, _H_K) + (_EXT["H"] - _EXT["K"]) * a_v
    w1 = k - _interp_t(teff, _K_W1) - (_EXT["W1"] - _EXT["K"]) * a_v
    w1_w2 = _interp_t(teff, _W1_W2)
    w2_w3, w3_w4 = 0.05 * (teff < 4000), 0.0
    if cls in ("M", "SR"):  # circumstellar dust: an infrared excess growing with wavelength
        dust = rng.uniform(0.3, 1.0) if cls == "M" else rng.uniform(0.0, 0.3)
        w1 -= 0.3 * dust
        w1_w2 += 0.5 * dust
        w2_w3 += 1.2 * dust
        w3_w4 += 0.6 * dust
    w2 = w1 - w1_w2
    w3 = w2 - w2_w3
    w4 = w3 - w3_w4

    # Astrometry: Gaia EDR3-like errors growing with G; binaries and Miras have a worse fit (RUWE).
    ruwe = float(np.exp(rng.normal(0.0, 0.06)))
    if cls in ("EW", "EA", "EB") and rng.random() < 0.25:
        ruwe *= rng.uniform(1.2, 3.0)
    if cls == "M":
        ruwe *= np.exp(abs(rng.normal(0.3, 0.3)))
    plx_err = float(np.sqrt(0.018**2 + (0.03 * 10.0 ** (0.3 * (g - 16.0))) ** 2) * max(ruwe, 1.0))
    parallax = 1000.0 / distance_pc + rng.normal(0.0, plx_err)
    d_kpc = distance_pc / 1000.0
    pmra = rng.normal(0.0, model.velocity_dispersion) / (4.74 * d_kpc)
    pmdec = rng.normal(0.0, model.velocity_dispersion) / (4.74 * d_kpc)
    pm_err = 1.1 * plx_err

    def err2mass(mag: float) -> float:
        return float(0.02 + 0.03 * 10.0 ** (0.4 * (mag - 14.5)))

    def errwise(mag: float) -> float:
        return float(0.022 + 0.02 * 10.0 ** (0.4 * (mag - 14.0)))

    e_g = float(0.0003 + 0.001 * 10.0 ** (0.4 * (g - 17.0)))
    noisy = lambda x, e: float(x + rng.normal(0.0, e))  # noqa: E731 - a measured value and its error
    e_j, e_h, e_k = err2mass(k + j_k), err2mass(h), err2mass(k)
    e_w1, e_w2 = errwise(w1), errwise(w2)
    # W3 and W4 are far shallower (5-sigma ~11.5 and ~8 mag): most optical variables are barely
    # detected there, and AllWISE's low-S/N magnitudes scatter by up to about a magnitude.
    e_w3 = min(0.02 + 0.05 * 10.0 ** (0.4 * (w3 - 11.0)), 1.0)
    e_w4 = min(0.03 + 0.08 * 10.0 ** (0.4 * (w4 - 8.0)), 1.0)
    meta = {
        "mean_vmag": v_mean,
        "phot_g_mean_mag": noisy(g, e_g), "e_phot_g_mean_mag": e_g,
        "phot_bp_mean_mag": noisy(bp, 5 * e_g), "e_phot_bp_mean_mag": 5 * e_g,
        "phot_rp_mean_mag": noisy(rp, 4 * e_g), "e_phot_rp_mean_mag": 4 * e_g,
        "bp_rp": bp - rp,
        "parallax": parallax, "parallax_error": plx_err, "parallax_over_error": parallax / plx_err,
        "pmra": noisy(pmra, pm_err), "pmra_error": pm_err, "pmdec": noisy(pmdec, pm_err), "pmdec_error": pm_err,
        "j_mag": noisy(k + j_k, e_j), "e_j_mag": e_j, "h_mag": noisy(h, e_h), "e_h_mag": e_h,
        "k_mag": noisy(k, e_k), "e_k_mag": e_k,
        "w1_mag": noisy(w1, e_w1), "e_w1_mag": e_w1, "w2_mag": noisy(w2, e_w2), "e_w2_mag": e_w2,
        "w3_mag": noisy(w3, e_w3), "w4_mag": noisy(w4, e_w4),
    }
    meta["bp_rp"] = meta["phot_bp_mean_mag"] - meta["phot_rp_mean_mag"]
    meta["j_k"] = meta["j_mag"] - meta["k_mag"]
    meta["w1_w2"] = meta["w1_mag"] - meta["w2_mag"]
    meta["w3_w4"] = meta["w3_mag"] - meta["w4_mag"]
    meta["pm"] = float(np.hypot(meta["pmra"], meta["pmdec"]))
    meta["ruwe"] = ruwe
    meta["l"], meta["b"] = l_deg, b_deg
    return {c: float(meta[c]) for c in ASTROM3_METADATA_COLUMNS}
