"""Kepler / K2 / TESS mission light-curve FITS files, read with lightkurve."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from lcml.errors import InputError


def _plain(column) -> np.ndarray:
    """Float array with masked entries as NaN (lightkurve columns are masked Quantities)."""
    values = getattr(column, "value", column)
    data = np.asarray(getattr(values, "unmasked", values), dtype=float)
    mask = getattr(values, "mask", None)
    return np.where(np.asarray(mask, bool), np.nan, data) if mask is not None else data


def read_fits(path: Path, quality_bitmask: str = "default") -> dict:
    """One mission light-curve file as ``{object_id, target, mission, time, flux, flux_err}``.

    Uses PDCSAP flux, falling back to SAP flux when PDCSAP has no finite value; cadences flagged by
    ``quality_bitmask`` and non-finite points are removed; flux is normalised to its median.
    The object id is the file name without extension (unique even for several quarters of one star).
    """
    import lightkurve as lk

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lc = lk.read(str(path), quality_bitmask=quality_bitmask)
    except Exception as exc:  # lightkurve raises many types for unreadable files
        raise InputError(f"{path}: not a readable mission light-curve FITS file ({exc})") from None
    time = _plain(lc.time)
    for column in ("pdcsap_flux", "sap_flux", "flux"):
        if column not in lc.columns:
            continue
        flux = _plain(lc[column])
        err_col = f"{column}_err"
        err = _plain(lc[err_col]) if err_col in lc.columns else np.ones_like(flux)
        ok = np.isfinite(time) & np.isfinite(flux) & np.isfinite(err) & (err > 0)
        if ok.sum() >= 3:
            break
    else:
        raise InputError(f"{path}: light curve has no finite flux (PDCSAP and SAP all NaN or empty)")
    time, flux, err = time[ok], flux[ok], err[ok]
    median = np.median(flux)
    if not np.isfinite(median) or median == 0:
        raise InputError(f"{path}: flux median is {median}; cannot normalise")
    return {
        "object_id": Path(path).name.removesuffix(".gz").removesuffix(".fits"),
        "target": str(lc.meta.get("OBJECT", "")),
        "mission": str(lc.meta.get("MISSION", "")),
        "time": time,
        "flux": flux / median,
        "flux_err": err / abs(median),
    }
