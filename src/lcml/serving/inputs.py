"""Inputs to score: a release Parquet, one mission FITS file, or a folder of them."""

from __future__ import annotations

from collections.abc import Iterator
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


def _parquet_batches(path: Path, batch_size: int) -> Iterator[pd.DataFrame]:
    """A Parquet file's curves, ``batch_size`` rows at a time (only one batch is ever in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    check_columns(handle.schema_arrow.names, path)
    batches = handle.iter_batches(batch_size=batch_size)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as exc:  # a damaged row group, found when it is read
            raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
        if batch is None:
            return
        curves, problems = to_curves(batch.to_pandas())
        _raise_first(curves, problems, path)
        yield curves


def check_columns(names: list[str], source: str | Path) -> None:
    """Raise :class:`InputError` unless ``names`` hold lcml's light-curve columns or the magnitude ones."""
    missing = [c for c in REQUIRED if c not in names]
    if missing and not set(MAGNITUDE_COLUMNS) <= set(names):
        raise InputError(f"{source}: Parquet file lacks light-curve column(s) {', '.join(missing)} (or "
                         f"magnitude columns {', '.join(MAGNITUDE_COLUMNS)}[, mag_err])")


def to_curves(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str | None]]:
    """Rows of either input layout as ``object_id, time, flux, flux_err`` (+ ``label``), and each row's problem.

    ``frame`` holds lcml's columns (``object_id``, ``time``, ``flux``, optional ``flux_err``) or the
    Catalina/CRTS ones (``id``, ``mjd``, ``mag``, optional ``mag_err``). A row's problem is None when it
    can be scored, else what is wrong with it ("is empty", "has all-NaN flux", ...); a bad row keeps its
    place, so a caller can raise on it (``lcml predict``) or report it (Spark scoring).
    """
    if not set(REQUIRED) <= set(frame.columns) and set(MAGNITUDE_COLUMNS) <= set(frame.columns):
        return _from_magnitudes(frame)
    frame = frame.copy()
    if "flux_err" not in frame:
        frame["flux_err"] = [np.ones(len(f)) if f is not None else None for f in frame["flux"]]
    return frame, [_problem(t, f, e) for t, f, e in zip(frame["time"], frame["flux"], frame["flux_err"])]


def _problem(time, flux, err) -> str | None:
    if time is None or flux is None or len(time) == 0 or len(flux) == 0:
        return "is empty"
    if len(time) != len(flux) or (err is not None and len(err) != len(flux)):
        return "has time/flux/flux_err of different lengths"
    flux = np.asarray(flux, float)
    finite = np.isfinite(np.asarray(time, float)) & np.isfinite(flux)
    if finite.sum() < 3:
        return "has all-NaN flux" if not np.isfinite(flux).any() else "has fewer than 3 finite points"
    return None


def _raise_first(curves: pd.DataFrame, problems: list[str | None], source: Path) -> None:
    for oid, problem in zip(curves["object_id"], problems):
        if problem:
            raise InputError(f"{source}: light curve {oid!r} {problem}")


def _from_magnitudes(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str | None]]:
    """Catalina-style rows (``id``, list columns ``mjd``, ``mag``, optional ``mag_err``) as relative flux.

    The conversion is the one releases use (:data:`lcml.data.sources.MAG_CONVERSION`); points with a
    non-finite value or a non-positive MJD (a sentinel in the Catalina files) are dropped, as at ingest.
    """
    from lcml.data.sources import mags_to_flux

    rows, problems = [], []
    empty = np.zeros(0)
    for i, (oid, mjd, mag) in enumerate(zip(frame["id"], frame["mjd"], frame["mag"])):
        mjd = np.asarray(mjd if mjd is not None else [], float)
        mag = np.asarray(mag if mag is not None else [], float)
        raw_err = frame["mag_err"].iloc[i] if "mag_err" in frame else None
        err = np.asarray(raw_err, float) if raw_err is not None else np.full(mag.size, np.nan)
        row = {"object_id": str(oid), "time": empty, "flux": empty, "flux_err": empty}
        if mjd.size == mag.size == err.size:
            ok = np.isfinite(mjd) & (mjd > 0) & np.isfinite(mag)
            if raw_err is not None:
                ok &= np.isfinite(err) & (err > 0)
            else:
                err = np.full(mag.size, 0.01)  # unknown errors: equal weights in the period search
            problem = None if ok.any() else "has no finite (mjd, mag) point"
        else:
            problem = "has mjd/mag/mag_err of different lengths"
        if problem is None:
            flux, flux_err = mags_to_flux(mag[ok], err[ok], np.median(mag[ok]))
            row.update(time=mjd[ok], flux=flux, flux_err=flux_err)
            problem = _problem(mjd[ok], flux, flux_err)
        rows.append(row)
        problems.append(problem)
    out = pd.DataFrame(rows, columns=["object_id", "time", "flux", "flux_err"])
    if "label" in frame:
        out["label"] = frame["label"].to_numpy()
    return out, problems


def count_input(path: str | Path) -> int | None:
    """Light curves in ``path`` from file metadata alone (a progress bar's total); None when unknown."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        if path.is_dir():
            counts = [count_input(p) for p in _folder_files(path)]
            return None if None in counts else sum(counts)
        if _is_fits(path):
            return 1
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # unreadable: iter_input says why
        return None


def _folder_files(path: Path) -> list[Path]:
    files = sorted(p for p in path.iterdir() if p.is_file() and (_is_fits(p) or p.suffix == ".parquet"))
    if not files:
        raise InputError(f"{path}: folder holds no .fits or .parquet files")
    return files


def _file_batches(path: Path, batch_size: int) -> Iterator[pd.DataFrame]:
    from lcml.data.sources.kepler import read_fits

    if _is_fits(path):
        curves, problems = to_curves(pd.DataFrame([read_fits(path)]))
        _raise_first(curves, problems, path)
        yield curves
    elif path.suffix == ".parquet":
        yield from _parquet_batches(path, batch_size)
    else:
        raise InputError(f"{path}: unsupported input (expected a .parquet release file, a .fits file, or a folder)")


def iter_input(path: str | Path, batch_size: int = 256) -> Iterator[pd.DataFrame]:
    """Light curves to score, ``batch_size`` at a time, as DataFrames with ``object_id, time, flux,
    flux_err`` (+ ``label`` if known).

    A Parquet file is read a batch of rows at a time and a folder a file at a time, so memory holds
    one batch whatever the input's size. A bad curve stops the stream with an error naming it.

    Raises
    ------
    InputError
        Missing path, unsupported file type, an empty folder, an empty or all-NaN light curve, an
        ``object_id`` in two files of a folder.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if not path.is_dir():
        yield from _file_batches(path, batch_size)
        return
    seen: set[str] = set()  # ids only: a few dozen bytes per curve
    pending: list[pd.DataFrame] = []
    size = 0
    for file in _folder_files(path):
        for frame in _file_batches(file, batch_size):
            ids = frame["object_id"].astype(str)
            again = ids[ids.duplicated() | ids.isin(seen)]
            if len(again):
                raise InputError(f"{path}: object_id {again.iloc[0]!r} appears in more than one input")
            seen.update(ids)
            pending.append(frame)
            size += len(frame)
            while size >= batch_size:  # many one-curve FITS files become full batches
                joined = pd.concat(pending, ignore_index=True)
                yield joined.iloc[:batch_size].reset_index(drop=True)
                pending, size = [joined.iloc[batch_size:]], len(joined) - batch_size
    if size:
        yield pd.concat(pending, ignore_index=True)


def read_input(path: str | Path) -> pd.DataFrame:
    """Every curve of :func:`iter_input` in one DataFrame (a test split, a small folder).

    Raises
    ------
    InputError
        As :func:`iter_input`, and for an input without any curve.
    """
    frames = list(iter_input(path, batch_size=65_536))
    if not frames:
        raise InputError(f"{path}: holds no light curves")
    return pd.concat(frames, ignore_index=True)
