"""Catalina Sky Survey (Siding Spring, ``catalina-sss``) and CRTS (``crts``) periodic variables.

Two inputs:

- :func:`read_catalina_parquet` reads the converted training splits in the shared data folder
  (one row per star; list columns ``mjd``, ``mag``, ``mag_err``; catalog columns ``id``, ``label``,
  ``ra``, ``dec`` and, for Catalina SSS, ``type_code``, ``period``, ``amplitude``, ``vmag``).
- :func:`read_catalina_text` reads the surveys' own text layouts: one ``<id>.dat`` file per star with
  whitespace columns ``MJD mag err`` (``#`` comment lines allowed), or CRTS CSV files with a header
  ``ID,MJD,Mag,Magerr,RA,Dec`` (any order and case; ``MasterID`` is accepted for ``ID``; ``RA``/``Dec``
  optional) and many rows per star.

Magnitudes become relative flux per star, with the star's median magnitude as reference
(:data:`lcml.data.sources.MAG_CONVERSION`); ``time`` is the MJD. Points with a non-finite MJD,
magnitude or error, or a non-positive MJD (the Catalina files carry a sentinel ``-2409998.5`` on a few
stars), are dropped and counted in ``objects.n_dropped_points``. Duplicate and unsorted times are kept
as they are: validation decides about them (``objects.n_duplicate_times`` counts exact repeats).

Magnitudes are checked before they become relative flux, because afterwards a unit error can no longer
be seen: a star with a magnitude outside :data:`lcml.data.suites.MAGNITUDE_RANGE` (a flux of 1e30, a
sentinel) or whose magnitudes span more than :data:`MAX_MAG_SPAN` (fluxes mixed in with magnitudes) is
rejected with a reason naming the values. A text file whose columns do not fit its layout is rejected
alone; :func:`read_catalina_text` raises only when no file at all could be read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lcml.data.schema import LIGHTCURVE_SCHEMA
from lcml.data.suites import MAGNITUDE_RANGE
from lcml.data.sources import (
    MAG_CONVERSION,
    Ingested,
    check_accounted,
    lightcurve_table,
    list_array,
    mags_to_flux,
    rejected_frame,
    segment_medians,
)
from lcml.errors import InputError

SURVEYS = ("catalina-sss", "crts")
CONVERSION = f"{MAG_CONVERSION}; time = MJD (days)"
LIST_COLUMNS = ("mjd", "mag", "mag_err")
#: Catalog columns copied to ``objects`` when the file has them (never model inputs).
CATALOG_COLUMNS = ("type_code", "period", "amplitude", "vmag", "ra", "dec")
DAT_COLUMNS = ("MJD", "mag", "err")
CSV_REQUIRED = ("ID", "MJD", "Mag", "Magerr")
CSV_ALIASES = {"masterid": "id"}
TEXT_SUFFIXES = (".dat", ".csv", ".txt")
#: Largest spread (max - min, in magnitudes) of one star's magnitudes. The real Catalina SSS and CRTS
#: training sets reach 8.2 mag (Miras); a wider spread means values that are not magnitudes of one star,
#: typically fluxes (~1) mixed with magnitudes (~15).
MAX_MAG_SPAN = 10.0


def _point_ok(mjd: np.ndarray, mag: np.ndarray, err: np.ndarray) -> np.ndarray:
    return np.isfinite(mjd) & (mjd > 0) & np.isfinite(mag) & np.isfinite(err)


def _no_point_reason(mjd: np.ndarray, mag: np.ndarray, err: np.ndarray, unit: str = "rows") -> str:
    """Why none of a star's points is usable, with the count of each defect.

    One line without ``": "`` (the release manifest groups reasons by what follows a ``"path: "``).
    """
    n = len(mjd)
    if n == 0:
        return "no parseable point (no data rows; empty file or comment lines only)"
    defects = [
        (~np.isfinite(mjd), "missing or non-numeric MJD"),
        (np.isfinite(mjd) & (mjd <= 0), "MJD <= 0 (sentinel)"),
        (~np.isfinite(mag), "missing or non-finite mag"),
        (~np.isfinite(err), "missing or non-finite error"),
    ]
    found = ", ".join(f"{int(bad.sum())} with {what}" for bad, what in defects if bad.any())
    return f"no parseable point ({n} {unit}; {found})"


def _magnitude_problem(mag: np.ndarray) -> str | None:
    """Why a star's (finite) magnitudes cannot all be magnitudes of one star, or ``None``."""
    if mag.size == 0:
        return None
    lo, hi = MAGNITUDE_RANGE
    outside = (mag < lo) | (mag > hi)
    if outside.any():
        worst = mag[outside][np.argmax(np.abs(mag[outside]))]
        return (f"{int(outside.sum())} of {mag.size} magnitude(s) outside {lo:g}..{hi:g}, e.g. {worst:.6g} "
                "(not magnitudes; fluxes or sentinel values?)")
    span = float(mag.max() - mag.min())
    if span > MAX_MAG_SPAN:
        return (f"magnitudes span {mag.min():.4g}..{mag.max():.4g} = {span:.1f} mag > {MAX_MAG_SPAN:g} allowed "
                "(fluxes mixed with magnitudes?)")
    return None


def _n_duplicate_times(times: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per segment: points whose time equals the previous point's (unsorted repeats not counted)."""
    if times.size == 0:
        return np.zeros(len(lengths), dtype=np.int64)
    same = np.zeros(times.size, dtype=bool)
    same[1:] = times[1:] == times[:-1]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    same[starts[lengths > 0]] = False  # a segment's first point has no predecessor in its own segment
    seg = np.repeat(np.arange(len(lengths)), lengths)
    return np.bincount(seg, weights=same, minlength=len(lengths)).astype(np.int64)


def read_catalina_parquet(
    path: str | Path,
    survey: str = "catalina-sss",
    limit: int | None = None,
    sample_seed: int | None = None,
) -> Ingested:
    """Read a Catalina SSS or CRTS training Parquet file as it is shipped.

    Parameters
    ----------
    path
        ``catalina_sss/train.parquet`` or ``crts/train.parquet`` (columns ``id``, ``label``, list
        columns ``mjd``, ``mag``, ``mag_err``, and catalog columns).
    survey
        ``"catalina-sss"`` or ``"crts"``; names the source only (labels are taken from the file).
    limit
        Read at most this many stars: the first ``limit`` rows, or a random sample of that size when
        ``sample_seed`` is given. Only the selected stars count as input.
    sample_seed
        Seed of the random sample (NumPy ``default_rng``); sampled rows keep file order.

    Returns
    -------
    Ingested
        ``objects`` holds ``object_id``, ``n_points``, ``n_dropped_points``, ``n_duplicate_times``,
        ``ref_mag`` (the median magnitude used as flux reference) and the catalog columns present.

    Raises
    ------
    InputError
        Unknown survey, unreadable file, or a file without the expected columns.
    """
    path = Path(path)
    if survey not in SURVEYS:
        raise InputError(f"unknown Catalina survey {survey!r}; expected one of {', '.join(SURVEYS)}")
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = [c for c in ("id", "label", *LIST_COLUMNS) if c not in table.column_names]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; expected id, label, mjd, mag, mag_err (+ catalog columns)"
        )
    file_rows = np.arange(table.num_rows)
    if limit is not None and limit < table.num_rows:
        if sample_seed is None:
            file_rows = file_rows[:limit]
        else:
            file_rows = np.sort(np.random.default_rng(sample_seed).choice(table.num_rows, size=limit, replace=False))
        table = table.take(pa.array(file_rows))
    table = table.set_column(table.schema.get_field_index("id"), "id", table["id"].cast(pa.string()))
    n_input = table.num_rows
    source = f"{survey}: {path}" + (f" (limit={limit}, sample_seed={sample_seed})" if limit is not None else "")

    lengths = [pc.list_value_length(table[c]).fill_null(0).to_numpy() for c in LIST_COLUMNS]
    flat = [pc.list_flatten(table[c]).to_numpy(zero_copy_only=False).astype(np.float64) for c in LIST_COLUMNS]
    n_raw = lengths[0]
    ids = table["id"].to_pylist()
    mismatch = (lengths[1] != n_raw) | (lengths[2] != n_raw)

    rejected, keep = [], np.ones(n_input, dtype=bool)
    for i in np.flatnonzero(mismatch):
        rejected.append({"object_id": ids[i], "source": f"{path} row {file_rows[i]}",
                         "reason": f"mjd/mag/mag_err lengths differ ({lengths[0][i]}/{lengths[1][i]}/{lengths[2][i]})"})
        keep[i] = False
    if mismatch.any():
        # Drop the mismatched rows before flattening so the three flattened columns line up again.
        table = table.filter(pa.array(keep))
        lengths = [pc.list_value_length(table[c]).fill_null(0).to_numpy() for c in LIST_COLUMNS]
        flat = [pc.list_flatten(table[c]).to_numpy(zero_copy_only=False).astype(np.float64) for c in LIST_COLUMNS]
        n_raw = lengths[0]
    file_rows = file_rows[keep]
    ids = table["id"].to_pylist()
    raw = flat
    mjd, mag, err = flat

    ok = _point_ok(mjd, mag, err)
    seg = np.repeat(np.arange(len(n_raw)), n_raw)
    n_kept = np.bincount(seg[ok], minlength=len(n_raw)).astype(np.int64)
    mjd, mag, err = mjd[ok], mag[ok], err[ok]
    # magnitudes that cannot be magnitudes of one star (see _magnitude_problem), per star
    lo, hi = MAGNITUDE_RANGE
    kept_seg = seg[ok]
    n_outside = np.bincount(kept_seg, weights=(mag < lo) | (mag > hi), minlength=len(n_raw))
    mag_min = np.full(len(n_raw), np.inf)
    mag_max = np.full(len(n_raw), -np.inf)
    np.minimum.at(mag_min, kept_seg, mag)
    np.maximum.at(mag_max, kept_seg, mag)
    implausible = (n_kept > 0) & ((n_outside > 0) | (mag_max - mag_min > MAX_MAG_SPAN))
    ref = segment_medians(mag, n_kept)
    with np.errstate(over="ignore"):  # implausible stars are rejected below; their flux is never used
        flux, flux_err = mags_to_flux(mag, err, np.repeat(ref, n_kept))

    good = (n_kept > 0) & ~implausible & np.array([i is not None for i in ids])
    starts = np.concatenate([[0], np.cumsum(n_raw)[:-1]]).astype(np.int64)
    kept_starts = np.concatenate([[0], np.cumsum(n_kept)[:-1]]).astype(np.int64)
    for j in np.flatnonzero(~good):
        if ids[j] is None:
            reason = "no id"
        elif n_kept[j] == 0:
            part = slice(starts[j], starts[j] + n_raw[j])
            reason = _no_point_reason(raw[0][part], raw[1][part], raw[2][part], unit="points")
        else:
            reason = _magnitude_problem(mag[kept_starts[j]:kept_starts[j] + n_kept[j]])
        rejected.append({"object_id": ids[j], "source": f"{path} row {file_rows[j]}", "reason": reason})

    labels = table["label"].cast(pa.string())
    lightcurves = pa.table(
        {
            "object_id": table["id"],
            "label": labels,
            "time": list_array(mjd, n_kept, pa.float64()),
            "flux": list_array(flux.astype(np.float32), n_kept, pa.float32()),
            "flux_err": list_array(flux_err.astype(np.float32), n_kept, pa.float32()),
        }
    ).filter(pa.array(good))

    objects = pd.DataFrame(
        {
            "object_id": ids,
            "n_points": n_kept,
            "n_dropped_points": n_raw - n_kept,
            "n_duplicate_times": _n_duplicate_times(mjd, n_kept),
            "ref_mag": ref,
        }
    )
    for column in CATALOG_COLUMNS:
        if column in table.column_names:
            objects[column] = table[column].to_numpy(zero_copy_only=False)
    objects = objects[good].reset_index(drop=True)
    result = Ingested(lightcurves.cast(LIGHTCURVE_SCHEMA), objects, rejected_frame(rejected), CONVERSION,
                      source=source)
    return check_accounted(n_input, result)


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

    for file in files:
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
