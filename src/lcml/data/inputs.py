"""Inputs to score: a release Parquet, one mission FITS file, or a folder of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lcml.errors import InputError

FITS_SUFFIXES = (".fits", ".fits.gz", ".fit")
REQUIRED = ("object_id", "time", "flux")


def _is_fits(path: Path) -> bool:
    return path.name.lower().endswith(FITS_SUFFIXES)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: Parquet file lacks light-curve column(s) {', '.join(missing)}")
    frame = table.to_pandas()
    if "flux_err" not in frame:
        frame["flux_err"] = [np.ones(len(f)) for f in frame["flux"]]
    return frame


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
