"""Catalina Sky Survey (Siding Spring, ``catalina-sss``) and CRTS (``crts``) periodic variables.

Two inputs:

- :func:`read_catalina_parquet` reads the converted training splits in the shared data folder
  (one row per star; list columns ``mjd``, ``mag``, ``mag_err``; catalog columns ``id``, ``label``,
  ``ra``, ``dec`` and, for Catalina SSS, ``type_code``, ``period``, ``amplitude``, ``vmag``).
- :func:`lcml.data.sources.catalina_text.read_catalina_text` reads the surveys' own text layouts: one ``<id>.dat`` file per star with
  whitespace columns ``MJD mag err`` (``#`` comment lines allowed), or CRTS CSV files with a header
  ``ID,MJD,Mag,Magerr,RA,Dec`` (any order and case; ``MasterID`` is accepted for ``ID``; ``RA``/``Dec``
  optional) and many rows per star.

Magnitudes become relative flux per star, with the star's median magnitude as reference
(:data:`lcml.data.sources.MAG_CONVERSION`); ``time`` is the MJD. Points with a non-finite MJD,
magnitude or error, or a non-positive MJD (the Catalina files carry a sentinel ``-2409998.5`` on a few
stars), are dropped and counted in ``objects.n_dropped_points``. Duplicate and unsorted times are kept
as they are: validation decides about them (``objects.n_duplicate_times`` counts exact repeats).

Magnitudes are checked before they become relative flux, because afterwards a unit error can no longer
be seen: a star with a magnitude outside :data:`lcml.data.validation.metadata.MAGNITUDE_RANGE` (a flux of 1e30, a
sentinel) or whose magnitudes span more than :data:`MAX_MAG_SPAN` (fluxes mixed in with magnitudes) is
rejected with a reason naming the values. A text file whose columns do not fit its layout is rejected
alone; the text reader raises only when no file at all could be read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lcml.data.schema import LIGHTCURVE_SCHEMA
from lcml.data.validation.metadata import MAGNITUDE_RANGE
from lcml.data.sources import (
    MAG_CONVERSION,
    Ingested,
    check_accounted,
    list_array,
    mags_to_flux,
    rejected_frame,
    segment_medians,
)
from lcml.errors import InputError
from lcml.surveys import SURVEYS

CONVERSION = f"{MAG_CONVERSION}; time = MJD (days)"
LIST_COLUMNS = ("mjd", "mag", "mag_err")
#: Catalog columns copied to ``objects`` when the file has them (never model inputs).
CATALOG_COLUMNS = ("type_code", "period", "amplitude", "vmag", "ra", "dec")
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
    table, file_rows = _open_parquet(path, survey, limit, sample_seed)
    n_input = table.num_rows
    source = f"{survey}: {path}" + (f" (limit={limit}, sample_seed={sample_seed})" if limit is not None else "")
    table, file_rows, rejected = _drop_mismatched(table, file_rows, path)
    lengths = [pc.list_value_length(table[c]).fill_null(0).to_numpy() for c in LIST_COLUMNS]
    raw = [pc.list_flatten(table[c]).to_numpy(zero_copy_only=False).astype(np.float64) for c in LIST_COLUMNS]
    n_raw = lengths[0]
    ids = table["id"].to_pylist()
    mjd, mag, err = raw
    ok = _point_ok(mjd, mag, err)
    seg = np.repeat(np.arange(len(n_raw)), n_raw)
    n_kept = np.bincount(seg[ok], minlength=len(n_raw)).astype(np.int64)
    mjd, mag, err = mjd[ok], mag[ok], err[ok]
    implausible = _implausible(mag, seg[ok], n_kept)
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

    lightcurves = pa.table({
        "object_id": table["id"], "label": table["label"].cast(pa.string()),
        "time": list_array(mjd, n_kept, pa.float64()),
        "flux": list_array(flux.astype(np.float32), n_kept, pa.float32()),
        "flux_err": list_array(flux_err.astype(np.float32), n_kept, pa.float32()),
    }).filter(pa.array(good))
    objects = pd.DataFrame({"object_id": ids, "n_points": n_kept, "n_dropped_points": n_raw - n_kept,
                            "n_duplicate_times": _n_duplicate_times(mjd, n_kept), "ref_mag": ref})
    for column in CATALOG_COLUMNS:
        if column in table.column_names:
            objects[column] = table[column].to_numpy(zero_copy_only=False)
    objects = objects[good].reset_index(drop=True)
    result = Ingested(lightcurves.cast(LIGHTCURVE_SCHEMA), objects, rejected_frame(rejected), CONVERSION,
                      source=source)
    return check_accounted(n_input, result)


def _open_parquet(path: Path, survey: str, limit: int | None, sample_seed: int | None) -> tuple[pa.Table, np.ndarray]:
    """The file's rows to read (all, the first ``limit`` or a seeded sample, in file order) and their row numbers."""
    catalina = [name for name, s in SURVEYS.items() if any(r.function.endswith(":read_catalina_parquet") for r in s.readers)]
    if survey not in catalina:
        raise InputError(f"unknown Catalina survey {survey!r}; expected one of {', '.join(catalina)}")
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
    return table, file_rows


def _drop_mismatched(table: pa.Table, file_rows: np.ndarray, path: Path) -> tuple[pa.Table, np.ndarray, list[dict]]:
    """Rows whose mjd/mag/mag_err lengths differ, rejected with the three lengths (so the rest line up)."""
    lengths = [pc.list_value_length(table[c]).fill_null(0).to_numpy() for c in LIST_COLUMNS]
    ids = table["id"].to_pylist()
    mismatch = (lengths[1] != lengths[0]) | (lengths[2] != lengths[0])
    rejected = [{"object_id": ids[i], "source": f"{path} row {file_rows[i]}",
                 "reason": f"mjd/mag/mag_err lengths differ ({lengths[0][i]}/{lengths[1][i]}/{lengths[2][i]})"}
                for i in np.flatnonzero(mismatch)]
    if not mismatch.any():
        return table, file_rows, rejected
    return table.filter(pa.array(~mismatch)), file_rows[~mismatch], rejected


def _implausible(mag: np.ndarray, kept_seg: np.ndarray, n_kept: np.ndarray) -> np.ndarray:
    """Stars whose magnitudes cannot be magnitudes of one star (see :func:`_magnitude_problem`)."""
    lo, hi = MAGNITUDE_RANGE
    n = len(n_kept)
    n_outside = np.bincount(kept_seg, weights=(mag < lo) | (mag > hi), minlength=n)
    mag_min, mag_max = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(mag_min, kept_seg, mag)
    np.maximum.at(mag_max, kept_seg, mag)
    return (n_kept > 0) & ((n_outside > 0) | (mag_max - mag_min > MAX_MAG_SPAN))
