"""Inputs to score: a release Parquet, one mission FITS file, or a folder of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lcml.errors import InputError
from lcml.surveys import FITS_SUFFIXES

REQUIRED = ("object_id", "time", "flux")
#: a Parquet file of magnitudes instead (the Catalina/CRTS layout); ``mag_err`` is optional
MAGNITUDE_COLUMNS = ("id", "mjd", "mag")


def _is_fits(path: Path) -> bool:
    return path.name.lower().endswith(FITS_SUFFIXES)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing and set(MAGNITUDE_COLUMNS) <= set(table.column_names):
        return _from_magnitudes(table.to_pandas(), path)
    if missing:
        raise InputError(f"{path}: Parquet file lacks light-curve column(s) {', '.join(missing)} (or "
                         f"magnitude columns {', '.join(MAGNITUDE_COLUMNS)}[, mag_err])")
    frame = table.to_pandas()
    if "flux_err" not in frame:
        frame["flux_err"] = [np.ones(len(f)) for f in frame["flux"]]
    return frame


def _from_magnitudes(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Catalina-style rows (``id``, list columns ``mjd``, ``mag``, optional ``mag_err``) as relative flux.

    The conversion is the one releases use (:data:`lcml.data.sources.MAG_CONVERSION`); points with a
    non-finite value or a non-positive MJD (a sentinel in the Catalina files) are dropped, as at ingest.
    """
    from lcml.data.sources import mags_to_flux

    rows = []
    for i, (oid, mjd, mag) in enumerate(zip(frame["id"], frame["mjd"], frame["mag"])):
        mjd = np.asarray(mjd if mjd is not None else [], float)
        mag = np.asarray(mag if mag is not None else [], float)
        raw_err = frame["mag_err"].iloc[i] if "mag_err" in frame else None
        err = np.asarray(raw_err, float) if raw_err is not None else np.full(mag.size, np.nan)
        if not (mjd.size == mag.size == err.size):
            raise InputError(f"{path}: light curve {str(oid)!r} has mjd/mag/mag_err of different lengths")
        ok = np.isfinite(mjd) & (mjd > 0) & np.isfinite(mag)
        if raw_err is not None:
            ok &= np.isfinite(err) & (err > 0)
        else:
            err = np.full(mag.size, 0.01)  # unknown errors: equal weights in the period search
        if ok.sum() == 0:
            raise InputError(f"{path}: light curve {str(oid)!r} has no finite (mjd, mag) point")
        flux, flux_err = mags_to_flux(mag[ok], err[ok], np.median(mag[ok]))
        rows.append({"object_id": str(oid), "time": mjd[ok], "flux": flux, "flux_err": flux_err})
    out = pd.DataFrame(rows, columns=["object_id", "time", "flux", "flux_err"])
    if "label" in frame:
        out["label"] = frame["label"].to_numpy()
    return out


def _check_curves(frame: pd.DataFrame, source: Path) -> pd.DataFrame:
    for oid, time, flux, err in zip(frame["object_id"], frame["time"], frame["flux"], frame["flux_err"]):
        if time is None or flux is None or len(time) == 0 or len(flux) == 0:
            raise InputError(f"{source}: light curve {oid!r} is empty")
        if len(time) != len(flux) or (err is not None and len(err) != len(flux)):
            raise InputError(f"{source}: light curve {oid!r} has time/flux/flux_err of different lengths")
        finite = np.isfinite(np.asarray(time, float)) & np.isfinite(np.asarray(flux, float))
        if finite.sum() < 3:
            what = "all-NaN flux" if not np.isfinite(np.asarray(flux, float)).any() else "fewer than 3 finite points"
            raise InputError(f"{source}: light curve {oid!r} has {what}")
    return frame


def read_input(path: str | Path) -> pd.DataFrame:
    """Light curves to score as a DataFrame with ``object_id, time, flux, flux_err`` (+ ``label`` if known).

    Raises
    ------
    InputError
        Missing path, unsupported file type, an empty folder, an empty or all-NaN light curve.
    """
    from lcml.data.sources.kepler import read_fits

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and (_is_fits(p) or p.suffix == ".parquet"))
        if not files:
            raise InputError(f"{path}: folder holds no .fits or .parquet files")
        frames = [read_input(p) for p in files]
        frame = pd.concat(frames, ignore_index=True)
        dupes = frame["object_id"][frame["object_id"].duplicated()].unique()
        if len(dupes):
            raise InputError(f"{path}: object_id {dupes[0]!r} appears in more than one input")
        return frame
    if _is_fits(path):
        return _check_curves(pd.DataFrame([read_fits(path)]), path)
    if path.suffix == ".parquet":
        return _check_curves(_read_parquet(path), path)
    raise InputError(f"{path}: unsupported input (expected a .parquet release file, a .fits file, or a folder)")
