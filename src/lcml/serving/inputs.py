"""Inputs to score: a release Parquet, one mission FITS file, or a folder of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from lcml.errors import InputError, first_line
from lcml.surveys import FITS_SUFFIXES

REQUIRED = ("object_id", "time", "flux")
#: ``on_error(source, object_id, reason)``: where a reporting read (:func:`iter_input`) sends each curve
#: or file it could not use (``object_id`` None for a whole file)
OnError = Callable[[Path, "str | None", str], None]
#: a Parquet file of magnitudes instead (the Catalina/CRTS layout); ``mag_err`` is optional
MAGNITUDE_COLUMNS = ("id", "mjd", "mag")


def _is_fits(path: Path) -> bool:
    return path.name.lower().endswith(FITS_SUFFIXES)


def _parquet_batches(path: Path, batch_size: int, on_error: OnError | None = None) -> Iterator[pd.DataFrame]:
    """A Parquet file's curves, ``batch_size`` rows at a time (only one batch is ever in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pre_buffer=False: pyarrow's read-ahead cache otherwise keeps every row group read until the file is
        # done, so memory grew with the input (6.6 GB for 100,000 Kepler quarters; bench/results/predict_stream.json)
        handle = pq.ParquetFile(path, pre_buffer=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
    check_columns(handle.schema_arrow.names, path)
    batches = handle.iter_batches(batch_size=batch_size)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as exc:  # a damaged row group, found when it is read
            error = InputError(f"{path}: not a readable Parquet file ({first_line(exc)})")
            if on_error is None:
                raise error from None
            on_error(path, None, str(error))  # the curves before it are kept
            return
        if batch is None:
            return
        curves, problems = to_curves(batch.to_pandas())
        yield _checked(curves, problems, path, on_error)


def _checked(curves: pd.DataFrame, problems: list[str | None], source: Path,
             on_error: OnError | None) -> pd.DataFrame:
    """Strict (``on_error`` None): raise on the first bad curve. Reporting: every curve keeps its row,
    the reason in ``error`` (None: scorable), and each bad one is reported."""
    if on_error is None:
        _raise_first(curves, problems, source)
        return curves
    curves["error"] = pd.Series(problems, index=curves.index, dtype=object)
    for oid, problem in zip(curves["object_id"], problems):
        if problem:
            on_error(source, oid, problem)
    return curves


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
        frame["flux_err"] = [np.ones(np.size(f)) if f is not None else None for f in frame["flux"]]
    problems = [id_problem(oid) or curve_problem(t, f, e)
                for oid, t, f, e in zip(frame["object_id"], frame["time"], frame["flux"], frame["flux_err"])]
    return frame, problems


#: a flux beyond this is no brightness (an overflow, a sentinel): its squares overflow the period search
MAX_ABS_FLUX = 1e100


def curve_problem(time, flux, err) -> str | None:
    """What makes one curve unscorable, in words; None when it can be scored."""
    if time is None or flux is None:
        return "is empty"
    if np.ndim(time) != 1 or np.ndim(flux) != 1 or (err is not None and np.ndim(err) != 1):
        return "has time/flux/flux_err that are not lists of numbers"
    if len(time) == 0 or len(flux) == 0:
        return "is empty"
    if len(time) != len(flux) or (err is not None and len(err) != len(flux)):
        return "has time/flux/flux_err of different lengths"
    try:
        time, flux = np.asarray(time, float), np.asarray(flux, float)
        err = None if err is None else np.asarray(err, float)
    except (TypeError, ValueError):
        return "has time/flux/flux_err values that are not numbers"
    finite = np.isfinite(time) & np.isfinite(flux)
    if finite.sum() < 3:
        return "has all-NaN flux" if not np.isfinite(flux).any() else "has fewer than 3 finite points"
    if not np.ptp(time[finite]) > 0:
        return "spans no time (every finite point at one time)"
    if np.abs(flux[finite]).max() >= MAX_ABS_FLUX:
        return f"has flux values beyond +-{MAX_ABS_FLUX:g}"
    if err is not None and (finite & np.isfinite(err) & (err > 0)).sum() < 3:
        return "has fewer than 3 points with a positive, finite flux_err"
    return None


def id_problem(oid) -> str | None:
    """"has no object_id" for a missing or empty id; None otherwise."""
    return "has no object_id" if oid is None or (isinstance(oid, float) and np.isnan(oid)) or str(oid) == "" else None


def _raise_first(curves: pd.DataFrame, problems: list[str | None], source: Path) -> None:
    for oid, problem in zip(curves["object_id"], problems):
        if problem:
            raise InputError(f"{source}: {'a light curve' if id_problem(oid) else f'light curve {oid!r}'} {problem}")


def _from_magnitudes(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str | None]]:
    """Catalina-style rows (``id``, list columns ``mjd``, ``mag``, optional ``mag_err``) as relative flux.

    The conversion is the one releases use (:data:`lcml.data.sources.MAG_CONVERSION`); points with a
    non-finite value or a non-positive MJD (a sentinel in the Catalina files) are dropped, as at ingest.
    """
    from lcml.data.sources import mags_to_flux

    rows, problems = [], []
    empty = np.zeros(0)
    for i, (oid, mjd, mag) in enumerate(zip(frame["id"], frame["mjd"], frame["mag"])):
        raw_err = frame["mag_err"].iloc[i] if "mag_err" in frame else None
        row = {"object_id": None if id_problem(oid) else str(oid), "time": empty, "flux": empty, "flux_err": empty}
        problem = id_problem(oid)
        try:
            mjd = np.asarray(mjd if mjd is not None else [], float)
            mag = np.asarray(mag if mag is not None else [], float)
            err = np.asarray(raw_err, float) if raw_err is not None else np.full(mag.size, np.nan)
        except (TypeError, ValueError):
            problem = problem or "has mjd/mag/mag_err values that are not numbers"
        if problem is None and not mjd.ndim == mag.ndim == err.ndim == 1:
            problem = "has mjd/mag/mag_err that are not lists of numbers"
        if problem is None and mjd.size == mag.size == err.size:
            ok = np.isfinite(mjd) & (mjd > 0) & np.isfinite(mag)
            if raw_err is not None:
                ok &= np.isfinite(err) & (err > 0)
            else:
                err = np.full(mag.size, 0.01)  # unknown errors: equal weights in the period search
            problem = None if ok.any() else "has no finite (mjd, mag) point"
        elif problem is None:
            problem = "has mjd/mag/mag_err of different lengths"
        if problem is None:
            flux, flux_err = mags_to_flux(mag[ok], err[ok], np.median(mag[ok]))
            row.update(time=mjd[ok], flux=flux, flux_err=flux_err)
            problem = curve_problem(mjd[ok], flux, flux_err)
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


def _file_batches(path: Path, batch_size: int, on_error: OnError | None) -> Iterator[pd.DataFrame]:
    from lcml.data.sources.kepler import read_fits

    if _is_fits(path):
        curves, problems = to_curves(pd.DataFrame([read_fits(path)]))
        yield _checked(curves, problems, path, on_error)
    elif path.suffix == ".parquet":
        yield from _parquet_batches(path, batch_size, on_error)
    else:
        raise InputError(f"{path}: unsupported input (expected a .parquet release file, a .fits file, or a folder)")


#: what a curve whose object_id came earlier in the input is told (reporting reads)
REPEATED = "repeats an object_id that came earlier in the input: only the first is scored"


def _mark_repeats(frame: pd.DataFrame, seen: set[str], source: Path, on_error: OnError | None) -> pd.DataFrame:
    """Curves whose ``object_id`` came earlier: an error (strict) or marked and reported."""
    named = frame["object_id"].notna().to_numpy()
    ids = frame["object_id"].astype(str)
    repeat = named & (ids.duplicated() | ids.isin(seen)).to_numpy()
    if repeat.any():
        if on_error is None:
            raise InputError(f"{source}: object_id {ids[repeat].iloc[0]!r} appears more than once in the input")
        for i in np.flatnonzero(repeat & frame["error"].isna().to_numpy()):
            frame.iloc[i, frame.columns.get_loc("error")] = REPEATED
            on_error(source, ids.iloc[i], REPEATED)
    seen.update(ids[named & ~repeat])
    return frame


def iter_input(path: str | Path, batch_size: int = 256, on_error: OnError | None = None) -> Iterator[pd.DataFrame]:
    """Light curves to score, ``batch_size`` at a time, as DataFrames with ``object_id, time, flux,
    flux_err`` (+ ``label`` if known).

    A Parquet file is read a batch of rows at a time and a folder a file at a time, so memory holds
    one batch whatever the input's size.

    Parameters
    ----------
    on_error
        None (strict): a bad curve, an unreadable file of a folder or a repeated ``object_id`` stops
        the stream with an :class:`InputError` naming it. A callable (reporting): every curve keeps its
        row, with the reason it cannot be scored in an ``error`` column (None when it can); a folder's
        unreadable file is skipped; each problem goes to ``on_error(source, object_id, reason)``.

    Raises
    ------
    InputError
        Missing path, unsupported file type, an empty folder; when strict, also a bad curve or file
        and a repeated ``object_id``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    files = _folder_files(path) if path.is_dir() else [path]
    seen: set[str] = set()  # ids only: a few dozen bytes per curve
    pending: list[pd.DataFrame] = []
    size = 0
    for file in files:
        try:
            for frame in _file_batches(file, batch_size, on_error):
                pending.append(_mark_repeats(frame, seen, file, on_error))
                size += len(frame)
                while size >= batch_size:  # many one-curve FITS files become full batches
                    joined = pd.concat(pending, ignore_index=True)
                    yield joined.iloc[:batch_size].reset_index(drop=True)
                    pending, size = [joined.iloc[batch_size:]], len(joined) - batch_size
        except InputError as exc:
            if on_error is None or file is path:  # strict, or the one file given: nothing else to score
                raise
            on_error(file, None, str(exc))
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
