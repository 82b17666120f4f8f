"""Where the simulated AstroM3 stars are: Galactic positions by class, ICRS coordinates, ASAS-SN names
(see :mod:`lcml.data.simulate.multimodal`)."""

from __future__ import annotations

import numpy as np

from lcml.data.simulate.stars import _ClassModel


# Gaia EDR3 (ICRS -> Galactic) rotation; its transpose takes Galactic unit vectors to ICRS.
_ICRS_TO_GAL = np.array([
    [-0.0548755604162154, -0.8734370902348850, -0.4838350155487132],
    [+0.4941094278755837, -0.4448296299600112, +0.7469822444972189],
    [-0.8676661490190047, -0.1980763734312015, +0.4559837761750669],
])


def _position(rng: np.random.Generator, model: _ClassModel) -> tuple[float, float]:
    """Galactic l, b (degrees). LAMOST looks mostly north and towards the anticentre."""
    l_deg = rng.uniform(90.0, 230.0) if rng.random() < 0.6 else rng.uniform(0.0, 360.0)
    if model.scale_height_pc is None:  # halo: isotropic, but the plane is avoided
        sin_b = rng.uniform(-1.0, 1.0)
        while abs(sin_b) < 0.1:
            sin_b = rng.uniform(-1.0, 1.0)
    else:  # disc: thinner populations crowd lower latitudes (LAMOST avoids |b| < ~3 deg)
        sin_b = min(0.05 + rng.exponential(0.15 + model.scale_height_pc / 1000.0), 0.99) * rng.choice([-1.0, 1.0])
    return float(l_deg), float(np.degrees(np.arcsin(sin_b)))


def galactic_to_icrs(l_deg: np.ndarray, b_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ICRS right ascension and declination (degrees) of Galactic coordinates (degrees)."""
    l_rad, b_rad = np.radians(l_deg), np.radians(b_deg)
    gal = np.stack([np.cos(b_rad) * np.cos(l_rad), np.cos(b_rad) * np.sin(l_rad), np.sin(b_rad)])
    x, y, z = _ICRS_TO_GAL.T @ gal
    return np.degrees(np.arctan2(y, x)) % 360.0, np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))


def asassn_name(ra_deg: float, dec_deg: float) -> str:
    """ASAS-SN variable name, e.g. ``ASASSN-V J063412.44+380104.6``."""
    ra_cs = int(round(ra_deg / 15.0 * 360000.0)) % (24 * 360000)  # centiseconds of time
    hh, rem = divmod(ra_cs, 360000)
    mm, cs = divmod(rem, 6000)
    dec_ds = int(round(abs(dec_deg) * 36000.0))  # deciseconds of arc
    dd, rem = divmod(dec_ds, 36000)
    dm, ds = divmod(rem, 600)
    sign = "-" if dec_deg < 0 else "+"
    return f"ASASSN-V J{hh:02d}{mm:02d}{cs // 100:02d}.{cs % 100:02d}{sign}{dd:02d}{dm:02d}{ds // 10:02d}.{ds % 10}"
