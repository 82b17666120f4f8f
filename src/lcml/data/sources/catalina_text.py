"""Catalina and CRTS light curves from the surveys' own text layouts (see :mod:`lcml.data.sources.catalina`):
one ``<id>.dat`` file per star (whitespace columns ``MJD mag err``) or CRTS CSV files, many rows per star."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from lcml.data.sources import Ingested, check_accounted, counted, lightcurve_table, mags_to_flux, rejected_frame
from lcml.errors import InputError
from lcml.data.sources.catalina import CONVERSION, _magnitude_problem, _no_point_reason, _point_ok

DAT_COLUMNS = ("MJD", "mag", "err")
CSV_REQUIRED = ("ID", "MJD", "Mag", "Magerr")
CSV_ALIASES = {"masterid": "id"}
TEXT_SUFFIXES = (".dat", ".csv", ".txt")


def _text_files(folder_or_files: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(folder_or_files, (str, Path)):
        root = Path(folder_or_files)
        if not root.exists():
            raise InputError(f"{root}: no such file or folder")
        if root.is_file():
            return [root]
        files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise InputError(f"{root}: folder holds no {'/'.join(TEXT_SUFFIXES)} light-curve files")
        return files
    files = [Path(p) for p in folder_or_files]
    for p in files:
        if not p.is_file():
            raise InputError(f"{p}: no such file")
    return files


def _first_data_line(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip() and not line.lstrip().startswith("#"):
                return line
    return ""


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _read_dat(path: Path) -> pd.DataFrame:
    """``MJD mag err`` columns of one star; an optional header line of names is skipped."""
    first = _first_data_line(path)
    skip = _header_skip(path) if first and not any(_is_number(t) for t in first.split()) else 0
    try:
        frame = pd.read_csv(path, sep=r"\s+", comment="#", header=None, skiprows=skip, dtype=str)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=list(DAT_COLUMNS))
    except Exception as exc:
        raise InputError(
            f"{path}: unreadable text light curve ({exc}); expected whitespace columns {' '.join(DAT_COLUMNS)}"
        ) from None
    if frame.shape[1] != len(DAT_COLUMNS):
        raise InputError(
            f"{path}: {frame.shape[1]} whitespace-separated columns; expected {len(DAT_COLUMNS)}: "
            f"{' '.join(DAT_COLUMNS)} (comment lines start with #)"
        )
    frame.columns = list(DAT_COLUMNS)
    return frame


def _header_skip(path: Path) -> int:
    """Number of physical lines up to and including the first non-comment line (the header)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                return n
    return 0


def _read_csv(path: Path) -> pd.DataFrame:
    """CRTS CSV rows with columns renamed to ``id, mjd, mag, magerr`` (+ ``ra, dec`` when present)."""
    try:
        frame = pd.read_csv(path, dtype=str, comment="#", skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty CSV; expected header {','.join(CSV_REQUIRED)},RA,Dec") from None
    except Exception as exc:
        raise InputError(f"{path}: unreadable CSV ({exc}); expected header {','.join(CSV_REQUIRED)},RA,Dec") from None
    rename = {}
    for column in frame.columns:
        key = re.sub(r"\s+", "", str(column)).lower()
        rename[column] = CSV_ALIASES.get(key, key)
    frame = frame.rename(columns=rename)
    missing = [c for c in CSV_REQUIRED if c.lower() not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: CSV lacks column(s) {', '.join(missing)}; expected header {','.join(CSV_REQUIRED)},RA,Dec "
            f"(any order and case), found {','.join(map(str, rename))}"
        )
    return frame


def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def read_catalina_text(
    folder_or_files: str | Path | Iterable[str | Path],
    labels: Mapping[str, str] | None = None,
) -> Ingested:
    """Read Catalina ``<id>.dat`` files and/or CRTS CSV files.

    Parameters
    ----------
    folder_or_files
        A folder (its ``.dat``, ``.csv`` and ``.txt`` files are read, sorted by name), one file, or a
        list of files. A file is CSV when its name ends in ``.csv`` or its first non-comment line holds
        a comma; otherwise it is one star's whitespace ``MJD mag err`` table whose id is the file stem.
    labels
        Class of each object id; ids not in it are unlabelled (``None``). Labels are not checked here.

    Returns
    -------
    Ingested
        ``objects`` holds ``object_id``, ``file``, ``n_points``, ``n_dropped_points``,
        ``n_duplicate_times``, ``ref_mag`` and, for CSV input with RA/Dec, the mean ``ra``/``dec``.
        Stars without one parseable point, and stars whose magnitudes cannot be magnitudes (see the
        module docstring), are rejected; CSV rows without an ID are rejected as one entry per file; a
        file whose columns do not match its layout is rejected as one entry (``object_id`` its stem for
        ``.dat`` files, ``None`` for CSV) and the other files are still read.

    Raises
    ------
    InputError
        A missing path, an empty folder, or no file readable at all because every file's columns do
        not match its layout (the message names the file and the expected columns).
    """
    files = _text_files(folder_or_files)
    labels = labels or {}
    ids: list[str] = []
    times, fluxes, errors, rows, rejected = [], [], [], [], []
    n_input = 0

    layout_errors: list[str] = []

    def add(oid: str, file: Path, mjd: np.ndarray, mag: np.ndarray, err: np.ndarray, extra: dict) -> None:
        ok = _point_ok(mjd, mag, err)
        problem = _no_point_reason(mjd, mag, err) if not ok.any() else _magnitude_problem(mag[ok])
        if problem:
            rejected.append({"object_id": oid, "source": str(file), "reason": problem})
            return
        ref = float(np.median(mag[ok]))
        flux, flux_err = mags_to_flux(mag[ok], err[ok], ref)
        ids.append(oid)
        times.append(mjd[ok])
        fluxes.append(flux)
        errors.append(flux_err)
        n = int(ok.sum())
        rows.append({"object_id": oid, "file": str(file), "n_points": n, "n_dropped_points": len(mjd) - n,
                     "n_duplicate_times": int(np.sum(mjd[ok][1:] == mjd[ok][:-1])), "ref_mag": ref, **extra})

    for file in counted(files, len(files), "light-curve files"):
        first = _first_data_line(file)
        is_csv = file.suffix.lower() == ".csv" or "," in first
        try:
            frame = _read_csv(file) if is_csv else _read_dat(file)
        except InputError as exc:  # this file only: the others are still read
            n_input += 1
            layout_errors.append(str(exc))
            rejected.append({"object_id": None if is_csv else file.stem, "source": str(file), "reason": str(exc)})
            continue
        if is_csv:
            n_input += _csv_stars(frame, file, add, rejected)
        else:
            n_input += 1
            add(file.stem, file, _numbers(frame["MJD"]), _numbers(frame["mag"]), _numbers(frame["err"]), {})

    if layout_errors and not ids:  # nothing could be read at all: that is an error of the whole input
        more = len(layout_errors) - 1
        raise InputError(layout_errors[0] + (f" (and {more} more file(s) with wrong columns)" if more else ""))

    table = lightcurve_table(ids, [labels.get(i) for i in ids], times, fluxes, errors)
    base = ["object_id", "file", "n_points", "n_dropped_points", "n_duplicate_times", "ref_mag"]
    objects = pd.DataFrame(rows)
    objects = objects if rows else pd.DataFrame(columns=base)
    objects = objects[base + [c for c in objects.columns if c not in base]]
    source = f"catalina text: {files[0]}" + (f" (+{len(files) - 1} more files)" if len(files) > 1 else "")
    result = Ingested(table, objects, rejected_frame(rejected), CONVERSION, source=source)
    return check_accounted(n_input, result)


def _csv_stars(frame: pd.DataFrame, file: Path, add, rejected: list[dict]) -> int:
    """Each star of a CRTS CSV through ``add``; rows without an ID are one rejected input. The inputs counted."""
    n_input = 0
    no_id = frame["id"].isna() | (frame["id"].astype(str).str.strip() == "")
    if no_id.any():
        n_input += 1
        lines = (np.flatnonzero(no_id.to_numpy()) + 2).tolist()  # +2: header line, 1-based
        shown = ", ".join(map(str, lines[:10])) + (", ..." if len(lines) > 10 else "")
        rejected.append({"object_id": None, "source": f"{file} line(s) {shown}",
                         "reason": f"{len(lines)} row(s) without an ID"})
    frame = frame[~no_id]
    frame = frame.assign(id=frame["id"].astype(str).str.strip())
    for oid, group in frame.groupby("id", sort=False):
        n_input += 1
        extra = {c: _finite_mean(_numbers(group[c])) for c in ("ra", "dec") if c in group}
        add(str(oid), file, _numbers(group["mjd"]), _numbers(group["mag"]), _numbers(group["magerr"]), extra)
    return n_input
